import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AxiosResponse } from 'axios';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';
import { InjectRootLogger } from '../observability/root-logger';
import { SessionTokenService } from './session-token.service';
import { validBackOff } from './back-off-headers';
import { bodyEchoes, containsEcho } from './token-echo';
import { undiciAdapter } from './undici.adapter';
import type { UpstreamCallRecord } from '../observability/access-log';
import { MetricsService } from '../observability/metrics.service';
import { ClientTrace, RequestTrace, Tracing } from '../observability/tracing';
import { UpstreamBreaker } from './upstream-breaker';
import {
  classifyTransportError,
  UpstreamError,
  UpstreamFailure,
  UpstreamOutcome,
} from './upstream-error';

/** What the caller gets back unchanged: a JSON answer of the upstream, 2xx or 4xx. */
export interface UpstreamReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** One call to the upstream: the path is the upstream's, below UPSTREAM_BASE_URL. */
export interface UpstreamRequest {
  readonly method: 'GET' | 'DELETE' | 'POST' | 'PUT' | 'PATCH';
  readonly path: string;
  /** Sent as JSON; none (and no Content-Type) when absent. */
  readonly body?: unknown;
  /** Query parameters, as the route's query DTO validated them; absent ones are left out. */
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
}

/** `?a=1&b=2` of the parameters that are set, or '' when none is. */
function queryString(query: UpstreamRequest['query']): string {
  if (query === undefined) return '';
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) search.append(name, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

export interface UpstreamCallContext {
  /** The operationId of the route: a bounded label for metrics and spans. */
  readonly operation: string;
  /** The caller's `Authorization` header, forwarded unchanged. */
  readonly authorization: string;
  readonly requestId: string;
  /** Each attempt is a client span of this trace, and sends its `traceparent`. */
  readonly trace: RequestTrace;
  /** Registers the abort of the upstream call for when the caller goes away. */
  readonly whenCallerLeaves?: (abort: () => void) => void;
  /** Told how the call ended, whatever the ending. */
  readonly report?: (record: UpstreamCallRecord) => void;
}

const JSON_CONTENT_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;
const BACK_OFF_HEADER = /^(?:retry-after|ratelimit(?:-policy)?|x-ratelimit-[\w-]+)$/i;
/** Real back-off values are a few dozen bytes; anything longer is not passed on to browsers. */
export const MAX_BACK_OFF_HEADER_BYTES = 256;

function backOffHeaders(headers: AxiosResponse['headers']): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const value = String(headers[name]);
    // undici decodes header bytes as latin1: one character per byte.
    if (BACK_OFF_HEADER.test(name) && value.length <= MAX_BACK_OFF_HEADER_BYTES) kept[name] = value;
  }
  return kept;
}

/** What every relayed JSON answer is, as the API document says, whatever JSON type the upstream named. */
const RELAYED_JSON_TYPE = 'application/json; charset=utf-8';

/** The back-off headers whose values are well formed (see validBackOff); the others are dropped. */
function validOnly(headers: Record<string, string>): Record<string, string> {
  const valid: Record<string, string> = {};
  for (const name in headers) if (validBackOff(name, headers[name])) valid[name] = headers[name];
  return valid;
}

/**
 * The body was decoded as UTF-8 (JSON's only encoding, RFC 8259): a JSON type (`+json` ones
 * included) is relayed as RELAYED_JSON_TYPE, and one declaring another charset is undefined.
 */
function relayedJsonType(contentType: string): string | undefined {
  if (!JSON_CONTENT_TYPE.test(contentType)) return undefined;
  const charset = CHARSET.exec(contentType)?.[1].toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return undefined;
  return RELAYED_JSON_TYPE;
}

const NOT_JSON = Symbol('not JSON');

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return NOT_JSON;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

// JSON.rawJSON (Node 21+) writes a number back with the exact text it was read with: a
// re-serialised body must not round an id beyond 2^53 or rewrite 1.10 as 1.1.
const { rawJSON } = JSON as unknown as { rawJSON(text: string): unknown };
const keepNumberText = (_key: string, value: unknown, context?: { source?: string }) =>
  typeof value === 'number' ? rawJSON(context?.source ?? String(value)) : value;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const isDigit = (code: number) => code >= 0x30 && code <= 0x39;
/** The characters a JSON number is made of after its first: digits, `.`, `e`, `E`, `+`, `-`. */
const inNumber = (code: number) =>
  isDigit(code) ||
  code === 0x2e ||
  code === 0x65 ||
  code === 0x45 ||
  code === 0x2b ||
  code === MINUS;

/**
 * Whether every number in the (valid) JSON text is written as JSON.stringify would write it back.
 * A scan by character code: a regex walk allocated a match for every string and number of the
 * answer (~7 KB per request, measured with the sampling heap profiler).
 */
export function numbersRoundTrip(body: string): boolean {
  const end = body.length;
  let i = 0;
  while (i < end) {
    const code = body.charCodeAt(i);
    if (code === QUOTE) {
      for (i += 1; i < end && body.charCodeAt(i) !== QUOTE; i += 1) {
        if (body.charCodeAt(i) === BACKSLASH) i += 1;
      }
      i += 1;
    } else if (code === MINUS || isDigit(code)) {
      const start = i;
      let plain = true; // digits only, after an optional minus
      for (i += 1; i < end && inNumber(body.charCodeAt(i)); i += 1) {
        if (!isDigit(body.charCodeAt(i))) plain = false;
      }
      const first = code === MINUS ? start + 1 : start;
      const digits = i - first;
      // An integer of at most 15 digits without a leading zero ("0" itself, not "-0") is always
      // written back the same; anything else is checked.
      const leadingZero = body.charCodeAt(first) === 0x30;
      if (plain && digits > 0 && digits <= 15 && (!leadingZero || (digits === 1 && code !== MINUS)))
        continue;
      const text = body.slice(start, i);
      if (String(Number(text)) !== text) return false;
    } else i += 1;
  }
  return true;
}

/**
 * The answer with its `token` set to null (the contract allows null), everything else as sent.
 * The reviver that keeps number texts costs ~25 µs on the created answer, so it only runs when
 * some number would not come back as written (measured: ~6 µs otherwise).
 */
export function withoutToken(body: string, value: Record<string, unknown>): string {
  if (value.token === undefined || value.token === null) return body;
  const exact = numbersRoundTrip(body) ? value : (JSON.parse(body, keepNumberText) as object);
  return JSON.stringify({ ...exact, token: null });
}

/**
 * The one owner of the upstream call: its headers, its total deadline, its transport
 * (an undici agent under @nestjs/axios) and the meaning of every way it can fail.
 * A call may create or change a record, so it is never retried once it may have reached the upstream.
 */
@Injectable()
export class UpstreamClient implements OnApplicationShutdown {
  private readonly server: URL;
  private readonly basePath: string;
  private readonly timeoutMs: number;
  private readonly agent: Agent;
  private readonly stripToken: boolean;
  private readonly logger: Logger;

  constructor(
    private readonly http: HttpService,
    private readonly sessionToken: SessionTokenService,
    private readonly breaker: UpstreamBreaker,
    private readonly metrics: MetricsService,
    private readonly tracing: Tracing,
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    @InjectRootLogger() rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ context: 'UpstreamClient' });
    const upstream = config.getOrThrow(APP_CONFIG, { infer: true }).upstream;
    this.stripToken = upstream.responseToken === 'strip';
    const url = new URL(upstream.baseUrl);
    this.server = url;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.timeoutMs = upstream.timeoutMs;
    // allowH2: false keeps HTTP/1.1 (undici 8 negotiates HTTP/2 over TLS by default), on which
    // `connections` bounds the calls in flight and which every test and the upstream's contract use.
    this.agent = new Agent({
      connections: upstream.maxConcurrency,
      keepAliveTimeout: 4_000,
      allowH2: false,
    });
    // Set once on the instance this client owns (see UpstreamModule), not merged per request. It
    // has no transforms: bodies pass as the strings they are, and axios skips a header pass each way.
    Object.assign(http.axiosRef.defaults, {
      baseURL: url.origin,
      adapter: undiciAdapter(this.agent),
      maxContentLength: upstream.maxResponseBytes,
      maxRedirects: 0,
      proxy: false,
    });
  }

  // After the HTTP server has closed: in-flight requests still need the agent until then.
  async onApplicationShutdown(): Promise<void> {
    await this.agent.close();
  }

  async request(call: UpstreamRequest, context: UpstreamCallContext): Promise<UpstreamReply> {
    const data = call.body === undefined ? undefined : JSON.stringify(call.body);
    const path = call.path + queryString(call.query);
    const sessionToken = this.sessionToken.current();
    const traced = {
      method: call.method,
      server: this.server,
      path: this.basePath + call.path,
      operation: context.operation,
    };
    // One client span per attempt, also for one the breaker refuses: the trace shows why.
    const attempt = async () => {
      const span = this.tracing.startClient(context.trace, traced);
      try {
        const reply = await this.breaker.run(() =>
          this.send(call.method, path, data, sessionToken, context, span),
        );
        span.end(reply.status, undefined);
        return reply;
      } catch (error) {
        const failure = error instanceof UpstreamError ? error.failure : undefined;
        span.end(failure?.upstreamStatus, failure?.outcome ?? 'internal_error');
        throw error;
      }
    };
    const started = performance.now();
    let outcome: UpstreamOutcome = 'invalid_response';
    let status: number | undefined;
    this.metrics.upstreamInFlight.inc();
    try {
      let reply: UpstreamReply;
      try {
        reply = await attempt();
      } catch (error) {
        // Refused means nothing reached the upstream: the one case where a second try is safe.
        if (!(error instanceof UpstreamError && error.failure.outcome === 'refused')) throw error;
        reply = await attempt();
      }
      ({ status } = reply);
      outcome = status < 300 ? 'ok' : 'upstream_4xx';
      return reply;
    } catch (error) {
      if (error instanceof UpstreamError) ({ outcome, upstreamStatus: status } = error.failure);
      throw error;
    } finally {
      this.metrics.upstreamInFlight.dec();
      const durationMs = performance.now() - started;
      this.metrics.observeUpstream(context.operation, outcome, durationMs / 1000);
      context.report?.({ outcome, status, durationMs });
    }
  }

  private async send(
    method: UpstreamRequest['method'],
    path: string,
    data: string | undefined,
    sessionToken: string,
    context: UpstreamCallContext,
    span: ClientTrace,
  ): Promise<UpstreamReply> {
    // A total deadline: axios' `timeout` only notices an idle socket, never a trickling body.
    // One controller and one timer, cleared when the call ends, serve the deadline and the caller
    // leaving: AbortSignal.timeout + AbortSignal.any cost ~50 µs of CPU per call and leave each
    // deadline's timer and signals alive until it expires.
    const controller = new AbortController();
    let timedOut = false;
    let callerAborted = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    context.whenCallerLeaves?.(() => {
      callerAborted = true;
      controller.abort();
    });
    let response: AxiosResponse<string>;
    try {
      response = await this.http.axiosRef.request<string>({
        method,
        url: this.basePath + path,
        data,
        // Lower-case names (HTTP's are case-insensitive): AxiosHeaders looks each name up by
        // lower-casing every name already set, which copies only the names that have capitals
        // (~3 KB per request with these seven).
        headers: {
          authorization: context.authorization,
          'x-session-token': sessionToken,
          ...(data !== undefined && { 'content-type': 'application/json' }),
          accept: 'application/json',
          'x-request-id': context.requestId,
          traceparent: span.traceparent,
          ...(span.tracestate !== undefined && { tracestate: span.tracestate }),
        },
        signal: controller.signal,
      });
    } catch (error) {
      throw new UpstreamError(
        classifyTransportError(error, { timedOut, callerAborted, timeoutMs: this.timeoutMs }),
      );
    } finally {
      clearTimeout(deadline);
    }
    return this.interpret(response, context);
  }

  /**
   * What the caller may be given of an answer. Never the session token, whatever the status: an
   * upstream that echoes request headers would hand it over (a 502 instead, and an error line).
   */
  private interpret(
    { status, headers, data }: AxiosResponse<string>,
    context: UpstreamCallContext,
  ): UpstreamReply {
    const declaredType = String(headers['content-type'] ?? '');
    // A success is relayed without the upstream's headers, so only other answers need them.
    const received = status >= 200 && status < 300 ? {} : backOffHeaders(headers);
    const contentType = relayedJsonType(declaredType);
    const value = contentType !== undefined ? parseJson(data) : NOT_JSON;
    // Looked for in every back-off header received, even one that would be dropped: the echo is
    // what the operator must hear of.
    if (this.echoes(data, value, declaredType, received)) {
      this.logger.error(
        { requestId: context.requestId, operation: context.operation, upstreamStatus: status },
        'the upstream answer contained the session token: not relayed, answered 502',
      );
      throw new UpstreamError({
        outcome: 'session_token_echoed',
        reachedUpstream: true,
        upstreamStatus: status,
        detail: 'The upstream API sent an answer that cannot be relayed.',
      });
    }
    const relayed = validOnly(received);
    if (status >= 200 && status < 300 && contentType !== undefined && isObject(value)) {
      const body = this.stripToken ? withoutToken(data, value) : data;
      return { status, contentType, body, headers: {} };
    }
    if (status >= 400 && status < 500 && contentType !== undefined && value !== NOT_JSON) {
      return { status, contentType, body: data, headers: relayed };
    }
    throw new UpstreamError(this.failureOf(status, relayed));
  }

  /**
   * Whether what would be relayed holds the session token, or the one before its last rotation,
   * in any of the encodings echoFormsOf lists: the body once its JSON escapes are undone, the
   * headers once percent-decoded.
   */
  private echoes(
    body: string,
    value: unknown,
    contentType: string,
    relayed: Readonly<Record<string, string>>,
  ): boolean {
    const forms = this.sessionToken.echoForms;
    if (bodyEchoes(body, value === NOT_JSON ? undefined : value, forms)) return true;
    if (containsEcho(contentType, forms)) return true;
    for (const name in relayed) if (containsEcho(relayed[name], forms)) return true;
    return false;
  }

  /** A status or body the caller cannot be given as is; the upstream's body is never echoed. */
  private failureOf(status: number, relayed: Record<string, string>): UpstreamFailure {
    const base = { reachedUpstream: true, upstreamStatus: status } as const;
    if (status >= 500) {
      return {
        ...base,
        outcome: 'upstream_5xx',
        detail: `The upstream API failed with status ${status}.`,
        headers: status === 503 ? relayed : undefined,
      };
    }
    if (status >= 400) {
      return {
        ...base,
        outcome: 'upstream_4xx',
        detail: `The upstream API rejected the request with status ${status}.`,
        headers: relayed,
      };
    }
    return {
      ...base,
      outcome: 'invalid_response',
      detail: `The upstream API sent an unusable answer (status ${status}).`,
    };
  }
}
