import { Injectable } from '@nestjs/common';
import { UpstreamCallContext, UpstreamClient, UpstreamReply } from '../upstream/upstream.client';
import { CreatePreventiveInterventionDto } from './dto/create-preventive-intervention.dto';

/** The upstream's path; the BFF exposes the same one. */
export const PREVENTIVE_ROUTINE_PATH = '/interventions/v2/rs/preventive/routine';

@Injectable()
export class InterventionsService {
  constructor(private readonly upstream: UpstreamClient) {}

  createFromRoutine(
    dto: CreatePreventiveInterventionDto,
    context: UpstreamCallContext,
  ): Promise<UpstreamReply> {
    // Named one by one so that nothing but the four validated fields can ever reach the upstream.
    const { scheduledStart, scheduledEnd, creationStatus, routineId } = dto;
    return this.upstream.postJson(
      PREVENTIVE_ROUTINE_PATH,
      { scheduledStart, scheduledEnd, creationStatus, routineId },
      context,
    );
  }
}
