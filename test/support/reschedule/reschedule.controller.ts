import { Body, Controller, Param } from '@nestjs/common';
import { type Forward, Upstream } from '../../../src/proxy/forward';
import { PositiveIdPipe } from '../../../src/proxy/positive-id.pipe';
import { ProxiedRoute } from '../../../src/proxy/proxied-route.decorator';
import { InterventionResponseDto } from '../../../src/interventions/dto/intervention.dto';
import { RescheduleInterventionDto } from './reschedule-intervention.dto';

/** A second proxied route, in the test tree only: the vendor documents only the create. */
@Controller()
export class RescheduleController {
  @ProxiedRoute({
    method: 'PATCH',
    path: '/interventions/v2/rs/preventive/routine/:id',
    operationId: 'reschedulePreventiveIntervention',
    // A retried move must not move twice: Idempotency-Key is for POSTs only unless a route asks.
    idempotent: true,
    summary: 'Reschedule preventive intervention',
    description: 'Moves the start, the end or both of a scheduled preventive intervention.',
    body: { type: RescheduleInterventionDto, description: 'The new start and/or end.' },
    invalidExample: [{ field: 'id', message: 'id must be a positive integer' }],
    success: { status: 200, description: 'Rescheduled.', type: InterventionResponseDto },
  })
  reschedule(
    @Param('id', PositiveIdPipe) id: number,
    @Body() { scheduledStart, scheduledEnd }: RescheduleInterventionDto,
    @Upstream() forward: Forward,
  ) {
    const body = { scheduledStart, scheduledEnd };
    return forward({
      method: 'PATCH',
      path: `/interventions/v2/rs/preventive/routine/${id}`,
      body,
    });
  }
}
