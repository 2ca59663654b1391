import { HttpException } from '@nestjs/common';

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** RFC 9457 problem details, the one error shape this service produces. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly requestId?: string;
  /** The W3C trace id of the request, to find it in the tracing backend. */
  readonly traceId?: string;
  readonly errors?: readonly FieldError[];
}

/** Every kind of problem the BFF answers with; the README's error table lists the same. */
export const PROBLEMS = {
  'malformed-request': { status: 400, title: 'Malformed request' },
  'validation-failed': { status: 400, title: 'Validation failed' },
  'login-failed': { status: 400, title: 'Login failed' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  // The provider refused to refresh the session's tokens: the session was ended, log in again.
  'session-ended': { status: 401, title: 'Session ended' },
  forbidden: { status: 403, title: 'Forbidden' },
  'not-found': { status: 404, title: 'Not found' },
  'request-timeout': { status: 408, title: 'Request timeout' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'idempotency-key-in-use': { status: 409, title: 'Request with this Idempotency-Key in progress' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency-Key reused with another request' },
  'outcome-unknown': { status: 409, title: 'Outcome of the first request unknown' },
  // A replay keeps the first answer's status (201 usually); only its too-large body is replaced.
  'answer-not-kept': { status: 201, title: 'Answer too large to replay' },
  'too-many-requests': { status: 429, title: 'Too many requests' },
  'header-fields-too-large': { status: 431, title: 'Request header fields too large' },
  'client-closed-request': { status: 499, title: 'Client closed request' },
  'upstream-rejected': { status: 400, title: 'Rejected by the upstream API' },
  'internal-error': { status: 500, title: 'Internal server error' },
  'bad-gateway': { status: 502, title: 'Bad gateway' },
  'upstream-unavailable': { status: 503, title: 'Upstream unavailable' },
  'idempotency-unavailable': { status: 503, title: 'Idempotency store unavailable' },
  'auth-unavailable': { status: 503, title: 'Authentication unavailable' },
  'gateway-timeout': { status: 504, title: 'Gateway timeout' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemKind = keyof typeof PROBLEMS;

export const PROBLEM_TYPE_BASE = 'urn:interventions-bff:problem:';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * The bounds the API document gives a problem, enforced here where every problem is built. A body
 * of unknown properties would otherwise get one `errors` entry per property, each echoing its name
 * twice: a 15 KiB request, an 85 KiB answer. 20 entries hold every field of a DTO and every
 * reserved key (13) the body pipe reports.
 */
export const PROBLEM_LIMITS = { detail: 512, errors: 20, field: 128, message: 256 } as const;

/** Cut to at most `max` characters, marking the cut. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export interface ProblemOptions {
  /** Overrides the kind's usual status (an upstream 4xx keeps its own status). */
  readonly status?: number;
  readonly errors?: readonly FieldError[];
  readonly headers?: Readonly<Record<string, string>>;
}

export class ProblemException extends HttpException {
  readonly problem: Problem;
  readonly headers: Readonly<Record<string, string>>;

  constructor(kind: ProblemKind, detail: string, options: ProblemOptions = {}) {
    const { title, status: usual } = PROBLEMS[kind];
    const status = options.status ?? usual;
    super(detail, status);
    this.problem = {
      type: PROBLEM_TYPE_BASE + kind,
      title,
      status,
      detail: clip(detail, PROBLEM_LIMITS.detail),
      ...(options.errors && {
        errors: options.errors.slice(0, PROBLEM_LIMITS.errors).map(({ field, message }) => ({
          field: clip(field, PROBLEM_LIMITS.field),
          message: clip(message, PROBLEM_LIMITS.message),
        })),
      }),
    };
    this.headers = options.headers ?? {};
  }
}
