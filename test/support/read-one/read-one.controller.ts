import { Controller, Param, Query } from '@nestjs/common';
import { type Forward, Upstream } from '../../../src/proxy/forward';
import { PositiveIdPipe } from '../../../src/proxy/positive-id.pipe';
import { ProxiedRoute } from '../../../src/proxy/proxied-route.decorator';
import { InterventionResponseDto } from '../../../src/interventions/dto/intervention.dto';
import { ReadOneQueryDto } from './read-one-query.dto';

/** A proxied GET with a path and a query parameter, in the test tree only. */
@Controller()
export class ReadOneController {
  @ProxiedRoute({
    method: 'GET',
    path: '/interventions/v2/rs/preventive/routine/:id',
    operationId: 'getPreventiveIntervention',
    summary: 'Read one preventive intervention',
    description: 'Reads one preventive intervention.',
    invalidExample: [
      { field: 'view', message: 'view must be one of the following values: summary, full' },
    ],
    success: { status: 200, description: 'The intervention.', type: InterventionResponseDto },
  })
  readOne(
    @Param('id', PositiveIdPipe) id: number,
    @Query() { view }: ReadOneQueryDto,
    @Upstream() forward: Forward,
  ) {
    return forward({
      method: 'GET',
      path: `/interventions/v2/rs/preventive/routine/${id}`,
      query: { view },
    });
  }
}
