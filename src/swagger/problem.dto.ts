import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { PROBLEM_LIMITS, PROBLEM_TYPE_BASE, PROBLEMS } from '../common/problem';
import { REQUEST_ID, REQUEST_ID_MAX_LENGTH } from '../common/request-id';

// Bounds of what the BFF produces: its own kinds and titles, and PROBLEM_LIMITS, which
// ProblemException enforces.
const longest = (texts: readonly string[]): number => Math.max(...texts.map((t) => t.length));
const KIND_MAX_LENGTH = longest(Object.keys(PROBLEMS));
const TITLE_MAX_LENGTH = longest(Object.values(PROBLEMS).map((problem) => problem.title));

@ApiSchema({ description: 'A field that failed validation.' })
export class FieldErrorDto {
  @ApiProperty({
    description: `Path of the offending property (an unknown one as sent, cut to ${PROBLEM_LIMITS.field} characters).`,
    maxLength: PROBLEM_LIMITS.field,
    example: 'scheduledEnd',
  })
  readonly field!: string;

  @ApiProperty({
    description: 'What is wrong with it.',
    maxLength: PROBLEM_LIMITS.message,
    example: 'scheduledEnd must be later than scheduledStart',
  })
  readonly message!: string;
}

@ApiSchema({ description: 'An error, as RFC 9457 problem details (application/problem+json).' })
export class ProblemDto {
  @ApiProperty({
    description: 'URI identifying the kind of problem.',
    pattern: `^${PROBLEM_TYPE_BASE}[a-z-]+$`,
    maxLength: PROBLEM_TYPE_BASE.length + KIND_MAX_LENGTH,
    example: `${PROBLEM_TYPE_BASE}validation-failed`,
  })
  readonly type!: string;

  @ApiProperty({
    description: 'Short summary of the kind of problem.',
    maxLength: TITLE_MAX_LENGTH,
    example: 'Validation failed',
  })
  readonly title!: string;

  @ApiProperty({
    description: 'HTTP status code.',
    type: 'integer',
    format: 'int32',
    minimum: 400,
    maximum: 599,
    example: 400,
  })
  readonly status!: number;

  @ApiProperty({
    description: 'What went wrong with this request.',
    maxLength: PROBLEM_LIMITS.detail,
    example: 'The request body is invalid.',
  })
  readonly detail!: string;

  @ApiPropertyOptional({
    description:
      "Identifier of the request, for support and log search: the caller's X-Request-Id when it fits, else a UUID.",
    pattern: REQUEST_ID.source,
    maxLength: REQUEST_ID_MAX_LENGTH,
    example: '0f8fad5b-d9cb-469f-a165-70867728950e',
  })
  readonly requestId?: string;

  @ApiPropertyOptional({
    description:
      "W3C trace id of the request (the caller's own when it sent a `traceparent`), to find it in the tracing backend.",
    pattern: '^[0-9a-f]{32}$',
    minLength: 32,
    maxLength: 32,
    example: '4bf92f3577b34da6a3ce929d0e0e4736',
  })
  readonly traceId?: string;

  @ApiPropertyOptional({
    description: `Validation errors, one per field; the first ${PROBLEM_LIMITS.errors} when there are more.`,
    type: [FieldErrorDto],
    maxItems: PROBLEM_LIMITS.errors,
  })
  readonly errors?: FieldErrorDto[];
}
