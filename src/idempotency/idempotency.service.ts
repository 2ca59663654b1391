import { hash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { PROBLEM_CONTENT_TYPE, ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';
import { MetricsService } from '../observability/metrics.service';
import { InjectRootLogger } from '../observability/root-logger';
import { InjectRedis } from '../redis/redis.module';
import { callEffect, UpstreamError } from '../upstream/upstream-error';
import type { UpstreamReply } from '../upstream/upstream.client';
import {
  IdempotencyStore,
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
  /** Who is asking (a hash of their bearer token): keys of two callers never meet. */
  readonly caller: string;
  /**
   * The client's address (its budget key: an IPv6 client's /64): in the in-process store, a flood
   * from one address evicts only that address's records.
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

/**
 * At most one upstream create per (caller, Idempotency-Key): the first request runs, a repeat is
 * answered from the stored result, a concurrent one gets 409, another body under the same key 422.
 */
@Injectable()
export class IdempotencyService {
  private readonly logger: Logger;
  private readonly store: IdempotencyStore;
  private readonly ttlMs: number;
  private readonly lockMs: number;
  private readonly maxRecordBytes: number;
  readonly required: boolean;

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    @InjectRedis() redis: Redis | null,
    @InjectRootLogger() rootLogger: Logger,
    metrics: MetricsService,
  ) {
    this.logger = rootLogger.child({ context: 'Idempotency' });
    const { idempotency, upstream } = config.getOrThrow(APP_CONFIG, { infer: true });
    if (redis) {
      this.store = new RedisIdempotencyStore(redis);
    } else {
      const store = new MemoryIdempotencyStore(idempotency, () =>
        metrics.countIdempotencyEviction(),
      );
      metrics.measureIdempotencyStore(() => store.bytes);
      this.store = store;
    }
    this.ttlMs = idempotency.ttlSeconds * 1000;
    // Covers a call and its one retry; a replica that dies mid-call frees the key after this.
    this.lockMs = 2 * upstream.timeoutMs + 5_000;
    this.maxRecordBytes = idempotency.maxRecordBytes;
    this.required = idempotency.required;
  }

  async execute(
    request: IdempotentRequest,
    send: () => Promise<UpstreamReply>,
  ): Promise<IdempotentResult> {
    const record: RecordRef = {
      key: `idempotency:${request.caller}:${request.key}`,
      owner: request.client,
      fingerprint: request.fingerprint,
    };
    const claim = await this.guard(() => this.store.claim(record, this.lockMs));
    if (!claim.claimed) {
      const { existing } = claim;
      if (existing.fingerprint !== request.fingerprint) {
        throw new ProblemException(
          'idempotency-key-reused',
          'This Idempotency-Key was used with another request body.',
        );
      }
      if (existing.state === 'in_flight') {
        throw new ProblemException(
          'idempotency-key-in-use',
          'A request with this Idempotency-Key is still in progress.',
          {
            headers: { 'Retry-After': '1' },
          },
        );
      }
      return { response: existing.response, replayed: true };
    }

    let response: UpstreamReply;
    try {
      response = await send();
    } catch (error) {
      // Anything but an UpstreamError (an expired session token) stopped the call before sending.
      if (error instanceof UpstreamError && callEffect(error.failure) !== 'not_done') {
        await this.completeOrLog(record, request, this.problemAnswer(error, request));
      } else {
        await this.release(record);
      }
      throw error;
    }
    if (callEffect(response.status) === 'not_done') await this.release(record);
    else await this.completeOrLog(record, request, response);
    return { response, replayed: false };
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

  /** The upstream did not process the call: a retry must be free to send it. */
  private async release({ key }: RecordRef): Promise<void> {
    await this.store.release(key).catch(() => undefined);
  }

  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof IdempotencyStoreUnavailable)) throw error;
      throw new ProblemException(
        'idempotency-unavailable',
        'The Idempotency-Key cannot be honoured right now; retry later or send the request without one.',
        { headers: { 'Retry-After': '5' } },
      );
    }
  }

  /** The upstream already answered: the caller gets that answer even if it cannot be stored. */
  private async completeOrLog(
    record: RecordRef,
    request: IdempotentRequest,
    response: StoredResponse,
  ): Promise<void> {
    try {
      const kept = keepable(response, this.maxRecordBytes, request);
      await this.store.complete(record, kept, this.ttlMs);
    } catch {
      // With the request id: the operator must find the request a retry may repeat.
      this.logger.error(
        { requestId: request.requestId },
        'could not store an idempotent response; a retry after the lock expires may repeat it',
      );
    }
  }
}
