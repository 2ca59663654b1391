import { hash } from 'node:crypto';
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { PROBLEM_CONTENT_TYPE, ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';
import { MetricsService } from '../observability/metrics.service';
import { InjectRootLogger } from '../observability/root-logger';
import { InjectRedis } from '../redis/redis.module';
import { RedisDurability } from '../redis/redis-durability';
import { callEffect, UpstreamError } from '../upstream/upstream-error';
import type { UpstreamReply } from '../upstream/upstream.client';
import {
  ClaimResult,
  Entry,
  IdempotencyStore,
  IdempotencyStoreFull,
  IdempotencyStoreUnavailable,
  MemoryIdempotencyStore,
  RecordRef,
  RedisIdempotencyStore,
  StoredResponse,
} from './idempotency.store';

export const IDEMPOTENCY_KEY_PATTERN = '^[A-Za-z0-9_.:-]{1,255}$';
const IDEMPOTENCY_KEY = new RegExp(IDEMPOTENCY_KEY_PATTERN);

/** The key of an `Idempotency-Key` header, bare or as a quoted structured-field string. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  const key = /^"(.*)"$/.exec(value)?.[1] ?? value;
  if (IDEMPOTENCY_KEY.test(key)) return key;
  throw new ProblemException(
    'malformed-request',
    'Idempotency-Key must be 1 to 255 characters among A-Z, a-z, 0-9 and _ . : -',
  );
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map(
        (key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`,
      );
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Of parsed values, so key order and whitespace in the raw bytes do not matter. */
export function fingerprintOf(request: object): string {
  return hash('sha256', canonicalJson(request), 'base64url');
}

export interface IdempotentRequest {
  /** Who is asking (callerKey: the verified subject, else a hash of the bearer token): keys of two callers never meet. */
  readonly caller: string;
  /**
   * The client's address (its budget key: an IPv6 client's /64): when the in-process store fills,
   * the address holding the most is refused new keys first.
   */
  readonly client: string;
  readonly key: string;
  readonly fingerprint: string;
  readonly requestId: string;
  readonly traceId: string;
}

/** Appended to a stored answer whose outcome is unknown, for whoever gets it replayed. */
const UNKNOWN_OUTCOME_NOTE =
  "The first attempt's result is unknown: it may have been carried out. Contact support with " +
  'this requestId before sending it again under a new key.';

/**
 * An answer with a body over `maxBytes` is kept as its status and headers and a problem saying so:
 * the retry still learns how the first attempt ended, and does not send it again.
 */
export function keepable(
  response: StoredResponse,
  maxBytes: number,
  { requestId, traceId }: Pick<IdempotentRequest, 'requestId' | 'traceId'>,
): StoredResponse {
  const bytes = Buffer.byteLength(response.body);
  if (bytes <= maxBytes) return response;
  const { problem } = new ProblemException(
    'answer-not-kept',
    `The first request with this Idempotency-Key got status ${response.status}, but its ` +
      `${bytes}-byte answer was larger than the ${maxBytes} bytes kept for a replay. It was not ` +
      'sent upstream again.',
    { status: response.status },
  );
  return {
    ...response,
    contentType: PROBLEM_CONTENT_TYPE,
    body: JSON.stringify({ ...problem, requestId, traceId }),
  };
}

export interface IdempotentResult {
  readonly response: UpstreamReply;
  readonly replayed: boolean;
}

/** An answer this replica could not write to Redis yet, or a key it could not release yet. */
interface Unwritten {
  readonly record: RecordRef;
  /** Undefined: the key is to be released (the upstream did not process the call). */
  readonly response?: StoredResponse;
  readonly requestId: string;
}

/**
 * At most one upstream create per (caller, Idempotency-Key): the first request runs, a repeat is
 * answered from the stored result, a concurrent one gets 409, another body under the same key 422.
 */
@Injectable()
export class IdempotencyService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly store: IdempotencyStore;
  private readonly ttlMs: number;
  private readonly lockMs: number;
  private readonly maxRecordBytes: number;
  private readonly requireDurable: boolean;
  readonly required: boolean;
  /**
   * Outcomes Redis could not take when they came (it was down): kept here, written as soon as it
   * is back, their leases renewed meanwhile. Bounded by the keyed calls in flight when Redis went
   * away: no new key is claimed while it is down.
   */
  private readonly unwritten = new Map<string, Unwritten>();
  private retryTimer?: NodeJS.Timeout;
  private writing = false;

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    @InjectRedis() private readonly redis: Redis | null,
    @InjectRootLogger() rootLogger: Logger,
    metrics: MetricsService,
    private readonly durability: RedisDurability,
  ) {
    this.logger = rootLogger.child({ context: 'Idempotency' });
    const { idempotency, upstream } = config.getOrThrow(APP_CONFIG, { infer: true });
    if (redis) {
      this.store = new RedisIdempotencyStore(redis);
    } else {
      const store = new MemoryIdempotencyStore(idempotency, () =>
        metrics.countIdempotencyRefusal(),
      );
      metrics.measureIdempotencyStore(() => store.bytes);
      this.store = store;
    }
    this.ttlMs = idempotency.ttlSeconds * 1000;
    // Covers a call and its one retry; a replica that dies mid-call leaves its key this long in
    // flight, then `outcome-unknown`.
    this.lockMs = 2 * upstream.timeoutMs + 5_000;
    this.maxRecordBytes = idempotency.maxRecordBytes;
    this.required = idempotency.required;
    this.requireDurable = idempotency.requireDurable;
  }

  onModuleInit(): void {
    this.redis?.on('ready', () => void this.writeUnwritten());
  }

  /** A last try; what still cannot be written is lost with this replica: said once per key. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.retryTimer);
    await this.writeUnwritten();
    for (const { requestId, response } of this.unwritten.values()) {
      this.logger.error(
        { requestId },
        response === undefined
          ? 'could not release an idempotency key before shutdown: it answers outcome-unknown after its lease'
          : 'could not store an idempotent response before shutdown: its key answers outcome-unknown after its lease',
      );
    }
  }

  async execute(
    request: IdempotentRequest,
    send: () => Promise<UpstreamReply>,
  ): Promise<IdempotentResult> {
    const record: RecordRef = {
      key: `idempotency:${request.caller}:${request.key}`,
      owner: request.client,
      fingerprint: request.fingerprint,
      requestId: request.requestId,
    };
    if (this.requireDurable && this.durability.durable !== true) {
      throw unavailable(
        'The idempotency store does not persist keys right now (IDEMPOTENCY_REQUIRE_DURABLE); retry later or send the request without an Idempotency-Key.',
      );
    }
    const kept = this.unwritten.get(record.key)?.response;
    const claim: ClaimResult =
      kept === undefined
        ? await this.guard(() =>
            this.store.claim(record, { lockMs: this.lockMs, ttlMs: this.ttlMs }),
          )
        : {
            claimed: false,
            existing: { state: 'done', fingerprint: record.fingerprint, response: kept },
          };
    if (!claim.claimed)
      return { response: this.answerFor(claim.existing, request), replayed: true };

    let response: UpstreamReply;
    try {
      response = await send();
    } catch (error) {
      // Anything but an UpstreamError (an expired session token) stopped the call before sending.
      if (error instanceof UpstreamError && callEffect(error.failure) !== 'not_done') {
        await this.complete(record, request, this.problemAnswer(error, request));
      } else {
        await this.release(record, request);
      }
      throw error;
    }
    if (callEffect(response.status) === 'not_done') await this.release(record, request);
    else await this.complete(record, request, response);
    return { response, replayed: false };
  }

  /** What a repeat gets: the stored answer, or why there is none to give. */
  private answerFor(existing: Entry, request: IdempotentRequest): UpstreamReply {
    if (existing.fingerprint !== request.fingerprint) {
      throw new ProblemException(
        'idempotency-key-reused',
        'This Idempotency-Key was used with another request body.',
      );
    }
    if (existing.state === 'done') return existing.response;
    if (existing.leaseUntil !== undefined && existing.leaseUntil <= Date.now()) {
      const first = existing.requestId === undefined ? '' : ` (requestId ${existing.requestId})`;
      throw new ProblemException(
        'outcome-unknown',
        `The first request with this Idempotency-Key${first} was sent upstream, but its outcome ` +
          'was never recorded: it may have been carried out. Check whether it was before creating ' +
          'it again under a new key; this key will not send it again.',
      );
    }
    throw new ProblemException(
      'idempotency-key-in-use',
      'A request with this Idempotency-Key is still in progress.',
      { headers: { 'Retry-After': '1' } },
    );
  }

  /** The problem the caller got, as a retry gets it: with the first request's ids. */
  private problemAnswer(error: UpstreamError, { requestId, traceId }: IdempotentRequest) {
    const { detail } = error.problem;
    const unknownOutcome = callEffect(error.failure) === 'unknown';
    return {
      status: error.problem.status,
      contentType: PROBLEM_CONTENT_TYPE,
      body: JSON.stringify({
        ...error.problem,
        detail: unknownOutcome ? `${detail} ${UNKNOWN_OUTCOME_NOTE}` : detail,
        requestId,
        traceId,
      }),
      headers: error.headers,
    };
  }

  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof IdempotencyStoreFull) {
        throw unavailable(
          'This replica keeps as many Idempotency-Key records as it may until some expire; retry ' +
            'later or send the request without one.',
          error.retryAfterS,
        );
      }
      if (!(error instanceof IdempotencyStoreUnavailable)) throw error;
      throw unavailable(
        'The Idempotency-Key cannot be honoured right now; retry later or send the request without one.',
      );
    }
  }

  /** The upstream did not process the call: a retry must be free to send it. */
  private async release(record: RecordRef, request: IdempotentRequest): Promise<void> {
    await this.write({ record, requestId: request.requestId });
  }

  /** The upstream already answered: the caller gets that answer even if it cannot be stored yet. */
  private async complete(
    record: RecordRef,
    request: IdempotentRequest,
    response: StoredResponse,
  ): Promise<void> {
    const kept = keepable(response, this.maxRecordBytes, request);
    await this.write({ record, response: kept, requestId: request.requestId });
  }

  private async write(outcome: Unwritten): Promise<void> {
    if (await this.tryWrite(outcome)) return;
    this.unwritten.set(outcome.record.key, outcome);
    this.retryTimer ??= setInterval(() => void this.writeUnwritten(), this.lockMs / 5).unref();
    // With the request id: the operator can follow the request a retry must not repeat.
    this.logger.warn(
      { requestId: outcome.requestId },
      'could not write an idempotency outcome to Redis: kept by this replica, written when Redis is back',
    );
  }

  private async tryWrite({ record, response }: Unwritten): Promise<boolean> {
    try {
      if (response === undefined) await this.store.release(record.key);
      else await this.store.complete(record, response, this.ttlMs);
      return true;
    } catch {
      return false;
    }
  }

  /** Each kept outcome written, or else its lease renewed so that no other replica gives up on it. */
  private async writeUnwritten(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (const [key, outcome] of this.unwritten) {
        if (await this.tryWrite(outcome)) {
          this.unwritten.delete(key);
          this.logger.info(
            { requestId: outcome.requestId },
            'idempotency outcome written to Redis',
          );
        } else {
          await this.store.renew(outcome.record, this.lockMs).catch(() => undefined);
        }
      }
    } finally {
      this.writing = false;
      if (this.unwritten.size === 0) {
        clearInterval(this.retryTimer);
        this.retryTimer = undefined;
      }
    }
  }
}

function unavailable(detail: string, retryAfterS = 5): ProblemException {
  return new ProblemException('idempotency-unavailable', detail, {
    headers: { 'Retry-After': String(retryAfterS) },
  });
}
