import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { CreationStatus } from './create-preventive-intervention.dto';

const DATE_TIME = { type: String, format: 'date-time' } as const;
const NULLABLE_DATE_TIME = { ...DATE_TIME, nullable: true } as const;

/** The upstream's intervention as it answers it; the BFF relays it unchanged. */
@ApiSchema({ description: 'The intervention the upstream created.' })
export class InterventionDto {
  @ApiProperty({ description: 'Identifier of the intervention.', type: 'integer', example: 1 })
  readonly id!: number;

  @ApiProperty({ description: 'Status of the intervention.', type: 'integer', example: 2 })
  readonly status!: number;

  @ApiProperty({ description: 'Type of the intervention.', type: 'integer', example: 1 })
  readonly type!: number;

  @ApiProperty({
    description: 'Description of the intervention.',
    example: 'Description of the intervention',
  })
  readonly description!: string;

  @ApiProperty({
    description: 'Signature image.',
    type: String,
    nullable: true,
    example: 'Signature image',
  })
  readonly imgSignature!: string | null;

  @ApiProperty({ description: 'PIN code of the intervention.', type: 'integer', example: 123456 })
  readonly codePin!: number;

  @ApiProperty({
    description: 'Whether the intervention was created automatically.',
    example: true,
  })
  readonly autoCreated!: boolean;

  @ApiProperty({
    description: 'Creation workflow status: 0 toScheduled, 1 scheduled, 2 done.',
    enum: [0, 1, 2],
    type: 'integer',
    example: CreationStatus.Scheduled,
  })
  readonly creationStatus!: CreationStatus;

  @ApiProperty({
    ...DATE_TIME,
    description: 'Scheduled start.',
    example: '2024-12-01T12:34:56.000Z',
  })
  readonly scheduledStart!: string;

  @ApiProperty({ ...DATE_TIME, description: 'Scheduled end.', example: '2024-12-05T14:56:23.000Z' })
  readonly scheduledEnd!: string;

  @ApiProperty({
    ...NULLABLE_DATE_TIME,
    description: 'Actual start.',
    example: '2024-12-01T12:34:56.000Z',
  })
  readonly actualStart!: string | null;

  @ApiProperty({
    ...NULLABLE_DATE_TIME,
    description: 'Actual end.',
    example: '2024-12-01T12:34:56.000Z',
  })
  readonly actualEnd!: string | null;

  @ApiProperty({ description: 'Name of the provider.', example: 'Provider name' })
  readonly providerName!: string;

  @ApiProperty({
    description: 'E-mail of the provider.',
    format: 'email',
    example: 'provider@example.com',
  })
  readonly providerEmail!: string;

  @ApiProperty({
    description: 'Action comment from the provider.',
    type: String,
    nullable: true,
    example: 'Action comment from the provider',
  })
  readonly providerActionComment!: string | null;

  @ApiProperty({
    description: 'General comment from the provider.',
    type: String,
    nullable: true,
    example: 'General comment from the provider',
  })
  readonly providerGeneralComment!: string | null;

  @ApiProperty({
    description: 'Assigned company contact.',
    type: 'integer',
    nullable: true,
    example: 1,
  })
  readonly assignedCompanyContactId!: number | null;

  @ApiProperty({ description: 'Assigned profile.', type: 'integer', nullable: true, example: 1 })
  readonly assignedProfileId!: number | null;

  @ApiProperty({
    description: 'Profile that verified the intervention.',
    type: 'integer',
    nullable: true,
    example: 1,
  })
  readonly verifiedById!: number | null;

  @ApiProperty({
    ...NULLABLE_DATE_TIME,
    description: 'Verification time.',
    example: '2024-12-09T14:23:00.000Z',
  })
  readonly verifiedAt!: string | null;

  @ApiProperty({
    description: 'Comment on the decision.',
    type: String,
    nullable: true,
    example: 'Provider refused the intervention due to scheduling conflicts.',
  })
  readonly decisionComment!: string | null;

  @ApiProperty({ description: 'Routine the intervention comes from.', type: 'integer', example: 1 })
  readonly routineId!: number;

  @ApiProperty({ description: 'Organization.', type: 'integer', example: 1 })
  readonly organizationId!: number;

  @ApiProperty({
    description: 'Profile that created the intervention.',
    type: 'integer',
    example: 1,
  })
  readonly createdById!: number;

  @ApiProperty({
    ...NULLABLE_DATE_TIME,
    description: 'Archival time.',
    example: '2024-12-09T14:23:00.000Z',
  })
  readonly archivedAt!: string | null;

  @ApiProperty({
    ...DATE_TIME,
    description: 'Last update time.',
    example: '2024-12-09T14:23:00.000Z',
  })
  readonly updatedAt!: string;

  @ApiProperty({ ...DATE_TIME, description: 'Creation time.', example: '2024-01-15T08:45:00.000Z' })
  readonly createdAt!: string;

  @ApiProperty({ description: 'Company.', type: 'integer', example: 1 })
  readonly companyId!: number;

  @ApiProperty({
    ...DATE_TIME,
    description: 'End of the negotiation.',
    example: '2024-12-01T12:34:56.000Z',
  })
  readonly negotiationEndDate!: string;

  @ApiProperty({ description: 'Check type.', type: 'integer', example: 1 })
  readonly checkType!: number;

  @ApiProperty({
    ...NULLABLE_DATE_TIME,
    description: 'Deletion time.',
    example: '2024-12-09T14:23:00.000Z',
  })
  readonly deletedAt!: string | null;
}

@ApiSchema({
  description: 'An intervention as the upstream returns it, with the token it sends along.',
})
export class InterventionResponseDto {
  @ApiProperty({ type: () => InterventionDto })
  readonly data!: InterventionDto;

  @ApiProperty({
    description:
      'Token returned by the upstream: `null` unless the BFF runs with `UPSTREAM_RESPONSE_TOKEN=relay`. ' +
      'By default (`strip`) no upstream credential reaches the browser; the rest of the answer is unchanged.',
    type: String,
    nullable: true,
    example: 'eyJhbGciOiJIUzI1NiJ9.e30.sig',
  })
  readonly token!: string | null;
}
