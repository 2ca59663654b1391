import { ProblemException, ProblemKind } from '../common/problem';
import { ResponseTooLargeError } from './undici.adapter';

/** What became of one upstream call: the vocabulary of logs and metrics. */
export type UpstreamOutcome =
  | 'ok'
  | 'upstream_4xx'
  | 'upstream_5xx'
  | 'timeout'
  | 'refused'
  | 'reset'
  | 'invalid_response'
  | 'session_token_echoed'
  | 'aborted'
  | 'circuit_open'
  | 'overloaded'
  | 'local_error';

export type UpstreamFailureOutcome = Exclude<UpstreamOutcome, 'ok'>;

export interface UpstreamFailure {
  readonly outcome: UpstreamFailureOutcome;
  /** False only when the request certainly never reached the upstream: then a retry cannot duplicate. */
  readonly reachedUpstream: boolean;
  readonly upstreamStatus?: number;
  readonly detail: string;
  /** Upstream headers the caller needs to back off (Retry-After, RateLimit*). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A failed upstream call, already in the problem shape the caller gets. Never carries the axios error. */
export class UpstreamError extends ProblemException {
  constructor(readonly failure: UpstreamFailure) {
    const keepsStatus = failure.outcome === 'upstream_4xx' || failure.upstreamStatus === 503;
    super(problemKind(failure), failure.detail, {
      status: keepsStatus ? failure.upstreamStatus : undefined,
      headers: failure.headers,
    });
  }
}

function problemKind({ outcome, upstreamStatus }: UpstreamFailure): ProblemKind {
  switch (outcome) {
    case 'timeout':
      return 'gateway-timeout';
    case 'aborted':
      return 'client-closed-request';
    case 'upstream_4xx':
      return 'upstream-rejected';
    case 'circuit_open':
    case 'overloaded':
      return 'upstream-unavailable';
    case 'local_error':
      return 'internal-error';
    case 'upstream_5xx':
      return upstreamStatus === 503 ? 'upstream-unavailable' : 'bad-gateway';
    default:
      return 'bad-gateway';
  }
}

/**
 * What a finished call means for a retry under the same Idempotency-Key:
 * - `done`: the upstream processed it (a 2xx, a 4xx other than 408 and 429): the retry gets the
 *   same answer;
 * - `unknown`: it may have (sent, then a timeout, a reset, a 5xx other than 503, an unusable
 *   answer): the retry gets the same answer, saying so, since a second call could create twice;
 * - `not_done`: it certainly did not (never sent: refused connection, breaker open, in-flight
 *   bound, a request the BFF could not build; or turned away with a 408, 429 or 503): the key is
 *   released and the retry goes upstream, as Stripe does for a 429.
 */
export type CallEffect = 'done' | 'unknown' | 'not_done';

/** A server that answers these says it did not process the request (RFC 9110 §15.5.9, §15.6.4, RFC 6585 §4). */
const NOT_PROCESSED_STATUSES = new Set([408, 429, 503]);

/** The one place that decides a CallEffect: `answer` is the status the call resolved to, or the failure it threw. */
export function callEffect(answer: number | UpstreamFailure): CallEffect {
  const status = typeof answer === 'number' ? answer : answer.upstreamStatus;
  if (status !== undefined && NOT_PROCESSED_STATUSES.has(status)) return 'not_done';
  if (typeof answer === 'number') return 'done';
  if (!answer.reachedUpstream) return 'not_done';
  return answer.outcome === 'upstream_4xx' ? 'done' : 'unknown';
}

const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** Raised while building the request, before a byte is written: the BFF's fault, not the upstream's. */
const LOCAL_CODES = new Set(['UND_ERR_INVALID_ARG', 'ERR_INVALID_CHAR', 'ERR_INVALID_ARG_TYPE']);
const RESET_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ECONNABORTED',
]);

export interface AbortState {
  readonly timedOut: boolean;
  readonly callerAborted: boolean;
  readonly timeoutMs: number;
}

/** Classifies a transport failure: the one place that looks inside errors thrown by the call. */
export function classifyTransportError(error: unknown, abort: AbortState): UpstreamFailure {
  if (abort.timedOut) {
    return {
      outcome: 'timeout',
      reachedUpstream: true,
      detail: `The upstream API did not answer within ${abort.timeoutMs} ms.`,
    };
  }
  if (abort.callerAborted) {
    return { outcome: 'aborted', reachedUpstream: true, detail: 'The client closed the request.' };
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && LOCAL_CODES.has(code)) {
    return {
      outcome: 'local_error',
      reachedUpstream: false,
      detail: `The request to the upstream API could not be built (${code}); it was not sent.`,
    };
  }
  if (typeof code === 'string' && NOT_SENT_CODES.has(code)) {
    return {
      outcome: 'refused',
      reachedUpstream: false,
      detail: 'The upstream API could not be reached.',
    };
  }
  if (typeof code === 'string' && RESET_CODES.has(code)) {
    return {
      outcome: 'reset',
      reachedUpstream: true,
      detail: 'The upstream API closed the connection before answering.',
    };
  }
  const detail =
    error instanceof ResponseTooLargeError
      ? 'The upstream API sent a response larger than allowed.'
      : 'The upstream API sent an invalid response.';
  return { outcome: 'invalid_response', reachedUpstream: true, detail };
}
