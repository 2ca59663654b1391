import {
  applyDecorators,
  HttpCode,
  RequestMapping,
  RequestMethod,
  SetMetadata,
  Type,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse } from '@nestjs/swagger';
import { CallerGuard } from '../protection/caller.guard';
import { Idempotent } from './idempotent';
import { ApiProblemResponse } from '../swagger/api-problem-response.decorator';
import type { FieldErrorDto } from '../swagger/problem.dto';
import { CORS_HEADERS, RATE_LIMIT_HEADERS, RETRY_AFTER_HEADER } from '../swagger/response-headers';
import { PROXIED_ROUTE, ProxiedRouteMetadata } from './proxied-route.metadata';

export interface ProxiedRouteOptions extends ProxiedRouteMetadata {
  readonly summary: string;
  readonly description: string;
  /** The JSON body's DTO; a route without one takes no body (no 413/415 to document). */
  readonly body?: { readonly type: Type<unknown>; readonly description: string };
  /**
   * Honour `Idempotency-Key` (see Idempotent). By default only a POST does: a GET, PUT, PATCH or
   * DELETE is idempotent by its method, and a replayed read would be a stale one.
   */
  readonly idempotent?: boolean;
  /** The route's own example of a 400: which field fails and how. */
  readonly invalidExample: readonly FieldErrorDto[];
  /** The upstream's success answer, relayed unchanged. */
  readonly success: {
    readonly status: number;
    readonly description: string;
    readonly type: Type<unknown>;
  };
}

/** On every answer once the rate limiter has run; CORS runs on every request. */
const ANSWER_HEADERS = { ...RATE_LIMIT_HEADERS, ...CORS_HEADERS };
const WITH_RETRY_AFTER = { ...ANSWER_HEADERS, ...RETRY_AFTER_HEADER };

/** Every proxied route can answer these, before the idempotency and body ones. */
const AUTH_PROBLEMS = [
  ApiProblemResponse({
    status: 401,
    kind: 'unauthorized',
    description:
      'No `Authorization: Bearer <token>` header, or not of that form; or, with JWT verification on ' +
      '(`AUTH_JWKS_URL`, `AUTH_ISSUER`, `AUTH_AUDIENCE`), a token that fails it: bad signature, another ' +
      'issuer or audience, expired or not yet valid, a disallowed algorithm, an unknown key. Nothing is ' +
      'sent upstream, and a rejected credential counts against the address (see 429). Also, while more than ' +
      '`AUTH_FAILURES_GLOBAL_PER_MINUTE` distinct credentials were refused this minute across all callers, a ' +
      'credential not seen to succeed in the last `AUTH_KNOWN_GOOD_TTL_S` (with `Retry-After`).',
    detail: 'An Authorization header with a Bearer token is required.',
    headers: {
      ...ANSWER_HEADERS,
      'WWW-Authenticate': {
        description:
          '`Bearer` without a header, `Bearer error="invalid_request"` for a malformed one, ' +
          '`Bearer error="invalid_token"` for a token that fails verification.',
        schema: {
          type: 'string',
          enum: ['Bearer', 'Bearer error="invalid_request"', 'Bearer error="invalid_token"'],
        },
      },
    },
  }),
  ApiProblemResponse({
    status: '4XX',
    kind: 'upstream-rejected',
    description:
      "The upstream rejected the request: its status and its own JSON body are relayed unchanged (the example shows the problem sent when the upstream's body is not JSON). On 429, `Retry-After` and `RateLimit*` are passed on.",
    detail: 'The upstream API rejected the request with status 403.',
    headers: ANSWER_HEADERS,
  }),
];

/** The budgets and the upstream: every proxied route can answer these. */
const UPSTREAM_PROBLEMS = [
  ApiProblemResponse({
    status: 429,
    kind: 'too-many-requests',
    description:
      'Over a budget; nothing is sent upstream. Per minute: more than `RATE_LIMIT_PER_MINUTE` requests from ' +
      'this caller (the verified subject with JWT verification on, else the bearer token however it is ' +
      'spelled), more than `RATE_LIMIT_PER_ADDRESS_PER_MINUTE` from this client address whatever the token ' +
      '(requests without `Authorization` have a budget of their own of that size), or more than ' +
      '`AUTH_FAILURES_PER_MINUTE` rejected credentials from this address (malformed or invalid tokens, and ' +
      '401/403 answers of the upstream): then every request from it until the window ends, except a ' +
      'known-good credential (one the upstream accepted in the last `AUTH_KNOWN_GOOD_TTL_S`, or a verified ' +
      'JWT). Or more than `MAX_IN_FLIGHT_PER_ADDRESS` upstream calls from this address still in flight, or as ' +
      'many as there are free upstream slots (the last ones go to addresses holding none).',
    detail: 'More than 120 requests per 60 s; retry in 42 s.',
    headers: WITH_RETRY_AFTER,
  }),
  ApiProblemResponse({
    status: 500,
    kind: 'internal-error',
    description:
      'An unexpected error in the BFF (a bug). It is logged with its stack; the answer carries neither the stack nor the error.',
    detail: 'An unexpected error occurred.',
    headers: ANSWER_HEADERS,
  }),
  ApiProblemResponse({
    status: 502,
    kind: 'bad-gateway',
    description:
      'The upstream failed (5xx), could not be reached, closed the connection, or sent an invalid answer, ' +
      'or an answer holding the session token (never relayed).',
    detail: 'The upstream API failed with status 500.',
    headers: ANSWER_HEADERS,
  }),
  ApiProblemResponse({
    status: 503,
    kind: 'upstream-unavailable',
    description:
      'The upstream cannot be used now: it answered 503 (its `Retry-After` is passed on), it is failing and ' +
      'the circuit breaker is open, too many calls are in flight (or too many new credentials are being ' +
      'tried near `AUTH_FAILURES_GLOBAL_PER_MINUTE`), the upstream session token has expired, ' +
      'or an Idempotency-Key was sent while the shared idempotency store (Redis) is unreachable; or, with ' +
      "JWT verification on, the identity provider's keys (JWKS) cannot be fetched (`auth-unavailable`).",
    detail: 'The upstream API is failing; requests are paused for a short while.',
    headers: WITH_RETRY_AFTER,
  }),
  ApiProblemResponse({
    status: 504,
    kind: 'gateway-timeout',
    description: 'The upstream did not answer within the deadline (`UPSTREAM_TIMEOUT_MS`).',
    detail: 'The upstream API did not answer within 10000 ms.',
    headers: ANSWER_HEADERS,
  }),
];

/** What only a route honouring Idempotency-Key can answer. */
const IDEMPOTENCY_PROBLEMS = [
  ApiProblemResponse({
    status: 409,
    kind: 'idempotency-key-in-use',
    description:
      'A request with the same Idempotency-Key is still in progress: retry after `Retry-After`. ' +
      'Or, as `outcome-unknown` (no `Retry-After`), the first request with this key was sent upstream ' +
      'but its outcome was never recorded (the replica handling it stopped): it may have been carried ' +
      'out, so check before creating it again under a new key; this key never sends it again.',
    detail: 'A request with this Idempotency-Key is still in progress.',
    headers: WITH_RETRY_AFTER,
  }),
  ApiProblemResponse({
    status: 422,
    kind: 'idempotency-key-reused',
    description: 'The Idempotency-Key was already used by this caller with another request body.',
    detail: 'This Idempotency-Key was used with another request body.',
    headers: ANSWER_HEADERS,
  }),
];

/** What only a route with a body can answer. */
const BODY_PROBLEMS = [
  ApiProblemResponse({
    status: 413,
    kind: 'payload-too-large',
    description: 'The body is larger than 16 KiB.',
    detail: 'Request body is too large',
    // Fastify answers it while reading the body, before the rate limiter runs.
    headers: CORS_HEADERS,
  }),
  ApiProblemResponse({
    status: 415,
    kind: 'unsupported-media-type',
    description: 'The body is not sent as `Content-Type: application/json`.',
    detail: 'Content-Type must be application/json.',
    headers: ANSWER_HEADERS,
  }),
];

/**
 * A route that forwards to the upstream with the server-held session token. The handler takes
 * `@Upstream() forward`, calls it once and returns what it resolves to; the bearer check,
 * Idempotency-Key, the relay of the answer and the shared error documentation come from here.
 * The route gives only what is its own: path, operation, body, success answer and a 400 example.
 */
export function ProxiedRoute(options: ProxiedRouteOptions): MethodDecorator {
  const { method, path, operationId, summary, description, body, success } = options;
  const idempotent = options.idempotent ?? method === 'POST';
  const metadata: ProxiedRouteMetadata = { method, path, operationId };
  return applyDecorators(
    RequestMapping({ path, method: RequestMethod[method] }),
    // Nest's default before the relay sets the upstream's own status.
    HttpCode(success.status),
    SetMetadata(PROXIED_ROUTE, metadata),
    UseGuards(CallerGuard),
    ...(idempotent ? [Idempotent()] : []),
    ApiBearerAuth(),
    ApiOperation({ operationId, summary, description }),
    ...(body ? [ApiBody({ type: body.type, description: body.description })] : []),
    ApiResponse({
      status: success.status,
      description: success.description,
      type: success.type,
      headers: idempotent ? { ...ANSWER_HEADERS, ...REPLAYED_HEADER } : ANSWER_HEADERS,
    }),
    ApiProblemResponse({
      status: 400,
      kind: 'validation-failed',
      description: invalidRequestDescription(path, body !== undefined, idempotent),
      detail: body ? 'The request body is invalid.' : 'The request is invalid.',
      errors: options.invalidExample,
      headers: ANSWER_HEADERS,
    }),
    ...AUTH_PROBLEMS,
    ...(idempotent ? IDEMPOTENCY_PROBLEMS : []),
    ...(body ? BODY_PROBLEMS : []),
    ...UPSTREAM_PROBLEMS,
  );
}

const REPLAYED_HEADER = {
  'Idempotent-Replayed': {
    description:
      '`true` when this is the stored answer to an earlier request with the same Idempotency-Key.',
    schema: { type: 'string', enum: ['true'] },
  },
};

/** The 400's description: what this route's request is made of, and so what can fail. */
function invalidRequestDescription(path: string, hasBody: boolean, idempotent: boolean): string {
  const invalid = hasBody
    ? 'The body is not a JSON object, is malformed JSON, or fails validation'
    : 'A path or query parameter fails validation';
  const key = idempotent ? '; or the Idempotency-Key is malformed, or missing while required' : '';
  const pathParameters =
    hasBody && path.includes(':')
      ? ' A path parameter that is not a positive integer in plain digits is reported the same way.'
      : '';
  return `${invalid} (one entry per field in \`errors\`)${key}.${pathParameters}`;
}
