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
  | 'overloaded';

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
    case 'upstream_5xx':
      return upstreamStatus === 503 ? 'upstream-unavailable' : 'bad-gateway';
    default:
      return 'bad-gateway';
  }
}

const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
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
