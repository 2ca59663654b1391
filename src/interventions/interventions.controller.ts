import { Body, Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { type Forward, Upstream } from '../proxy/forward';
import { ProxiedRoute } from '../proxy/proxied-route.decorator';
import type { UpstreamReply } from '../upstream/upstream.client';
import { CreatePreventiveInterventionDto } from './dto/create-preventive-intervention.dto';
import { InterventionResponseDto } from './dto/intervention.dto';

/** The upstream's path; the BFF exposes the same one. */
export const PREVENTIVE_ROUTINE_PATH = '/interventions/v2/rs/preventive/routine';

@ApiTags('Interventions')
@Controller()
export class InterventionsController {
  @ProxiedRoute({
    method: 'POST',
    path: PREVENTIVE_ROUTINE_PATH,
    operationId: 'createPreventiveInterventionScheduled',
    summary: 'Create preventive intervention scheduled',
    description:
      'Creates a preventive intervention based on a maintenance routine. The BFF validates the body, adds the ' +
      "upstream session token, forwards exactly the four fields with the caller's bearer token, and relays the " +
      "upstream's answer. It never retries a create that may have reached the upstream.",
    body: {
      type: CreatePreventiveInterventionDto,
      description:
        'Contains the data needed to create a preventive intervention based on a routine.',
    },
    invalidExample: [
      { field: 'scheduledEnd', message: 'scheduledEnd must be later than scheduledStart' },
    ],
    success: {
      status: 201,
      description: 'The preventive intervention has been created.',
      type: InterventionResponseDto,
    },
  })
  create(
    @Body() dto: CreatePreventiveInterventionDto,
    @Upstream() forward: Forward,
  ): Promise<UpstreamReply> {
    // Named one by one so that nothing but the four validated fields can ever reach the upstream.
    const { scheduledStart, scheduledEnd, creationStatus, routineId } = dto;
    return forward({
      method: 'POST',
      path: PREVENTIVE_ROUTINE_PATH,
      body: { scheduledStart, scheduledEnd, creationStatus, routineId },
    });
  }
}
