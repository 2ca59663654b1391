import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { PROBLEM_TYPE_BASE } from '../common/problem';

@ApiSchema({ description: 'A field that failed validation.' })
export class FieldErrorDto {
  @ApiProperty({ description: 'Path of the offending property.', example: 'scheduledEnd' })
  readonly field!: string;

  @ApiProperty({
    description: 'What is wrong with it.',
    example: 'scheduledEnd must be later than scheduledStart',
  })
  readonly message!: string;
}

@ApiSchema({ description: 'An error, as RFC 9457 problem details (application/problem+json).' })
export class ProblemDto {
  @ApiProperty({
    description: 'URI identifying the kind of problem.',
    example: `${PROBLEM_TYPE_BASE}validation-failed`,
  })
  readonly type!: string;

  @ApiProperty({
    description: 'Short summary of the kind of problem.',
    example: 'Validation failed',
  })
  readonly title!: string;

  @ApiProperty({ description: 'HTTP status code.', type: 'integer', example: 400 })
  readonly status!: number;

  @ApiProperty({
    description: 'What went wrong with this request.',
    example: 'The request body is invalid.',
  })
  readonly detail!: string;

  @ApiPropertyOptional({
    description: 'Identifier of the request, for support and log search.',
    example: '0f8fad5b-d9cb-469f-a165-70867728950e',
  })
  readonly requestId?: string;

  @ApiPropertyOptional({
    description:
      "W3C trace id of the request (the caller's own when it sent a `traceparent`), to find it in the tracing backend.",
    pattern: '^[0-9a-f]{32}$',
    example: '4bf92f3577b34da6a3ce929d0e0e4736',
  })
  readonly traceId?: string;

  @ApiPropertyOptional({ description: 'Validation errors, one per field.', type: [FieldErrorDto] })
  readonly errors?: FieldErrorDto[];
}
