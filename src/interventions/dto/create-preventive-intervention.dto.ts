import { ApiProperty, type ApiPropertyOptions, ApiSchema } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import {
  IsAfterProperty,
  IsPositiveSafeInteger,
  IsRfc3339DateTime,
  RFC3339_DATE_TIME_MAX_LENGTH,
} from '../../common/validators';

/** Intervention creation workflow status, as the upstream numbers it. */
export enum CreationStatus {
  ToScheduled = 0,
  Scheduled = 1,
  Done = 2,
}

const CREATION_STATUSES = [
  CreationStatus.ToScheduled,
  CreationStatus.Scheduled,
  CreationStatus.Done,
];

@ApiSchema({
  description: 'Contains the data needed to create a preventive intervention based on a routine.',
})
export class CreatePreventiveInterventionDto {
  @ApiProperty({
    description: 'Start time of the intervention (ISO 8601 date-time with a time zone).',
    format: 'date-time',
    maxLength: RFC3339_DATE_TIME_MAX_LENGTH,
    example: '2024-12-01T12:34:56.000Z',
  })
  @IsRfc3339DateTime()
  readonly scheduledStart!: string;

  @ApiProperty({
    description:
      'End time of the intervention (ISO 8601 date-time with a time zone), strictly after scheduledStart.',
    format: 'date-time',
    maxLength: RFC3339_DATE_TIME_MAX_LENGTH,
    example: '2024-12-05T14:56:23.000Z',
  })
  @IsRfc3339DateTime()
  @IsAfterProperty('scheduledStart')
  readonly scheduledEnd!: string;

  @ApiProperty({
    description:
      'Intervention creation workflow status. Available values: 0: toScheduled, 1: scheduled, 2: done.',
    enum: CREATION_STATUSES,
    enumName: 'CreationStatus',
    // Bounds belong on the named schema; @nestjs/swagger copies enumSchema there whole, though it
    // types it as a few annotations only.
    enumSchema: {
      format: 'int32',
      minimum: CreationStatus.ToScheduled,
      maximum: CreationStatus.Done,
    } as Extract<ApiPropertyOptions, { enumName: string }>['enumSchema'],
    type: 'integer',
    example: CreationStatus.Scheduled,
  })
  @IsIn(CREATION_STATUSES, { message: 'creationStatus must be one of the numbers 0, 1 or 2' })
  readonly creationStatus!: CreationStatus;

  @ApiProperty({
    description: 'Identifier of the associated routine.',
    type: 'integer',
    format: 'int64',
    minimum: 1,
    maximum: Number.MAX_SAFE_INTEGER,
    example: 1,
  })
  @IsPositiveSafeInteger()
  readonly routineId!: number;
}
