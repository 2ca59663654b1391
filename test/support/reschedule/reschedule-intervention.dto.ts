import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsOptional, ValidateIf } from 'class-validator';
import { IsAfterProperty, IsRfc3339DateTime } from '../../../src/common/validators';

/** Moves an intervention: either end, or both (then the end is after the start). */
export class RescheduleInterventionDto {
  @ApiPropertyOptional({ format: 'date-time', example: '2024-12-02T08:00:00.000Z' })
  @IsOptional()
  @IsRfc3339DateTime()
  readonly scheduledStart?: string;

  @ApiPropertyOptional({ format: 'date-time', example: '2024-12-06T17:00:00.000Z' })
  @ValidateIf(
    (dto: RescheduleInterventionDto) => !dto.scheduledStart || dto.scheduledEnd !== undefined,
  )
  @IsDefined({ message: 'scheduledEnd is required when scheduledStart is not given' })
  @IsRfc3339DateTime()
  @IsAfterProperty('scheduledStart')
  readonly scheduledEnd?: string;
}
