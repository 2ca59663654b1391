import type Redis from 'ioredis';
import type { UpstreamReply } from '../upstream/upstream.client';

/** A response as the caller got it, kept to replay it byte for byte. */
export type StoredResponse = UpstreamReply;

type Entry =
  | { readonly state: 'in_flight'; readonly fingerprint: string }
  | { readonly state: 'done'; readonly fingerprint: string; readonly response: StoredResponse };

export type ClaimResult =
  { readonly claimed: true } | { readonly claimed: false; readonly existing: Entry };

/** Thrown when the store cannot be reached: the guarantee cannot be kept. */
export class IdempotencyStoreUnavailable extends Error {}

export interface IdempotencyStore {
  /** Atomically takes the key for this request, or tells what holds it. */
  claim(key: string, fingerprint: string, lockMs: number): Promise<ClaimResult>;
  complete(
    key: string,
    fingerprint: string,
    response: StoredResponse,
    ttlMs: number,
  ): Promise<void>;
  /** Gives the key back: the request never reached the upstream, so a retry must be free to. */
  release(key: string): Promise<void>;
}

/** One replica: a Map with expiry, bounded (insertion order: the oldest keys go first). */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new Map<string, { entry: Entry; expiresAt: number }>();

  constructor(private readonly maxEntries: number) {}

  claim(key: string, fingerprint: string, lockMs: number): Promise<ClaimResult> {
    const now = Date.now();
    const current = this.entries.get(key);
    if (current && current.expiresAt > now)
      return Promise.resolve({ claimed: false, existing: current.entry });
    this.set(key, { state: 'in_flight', fingerprint }, now + lockMs);
    return Promise.resolve({ claimed: true });
  }

  complete(
    key: string,
    fingerprint: string,
    response: StoredResponse,
    ttlMs: number,
  ): Promise<void> {
    this.set(key, { state: 'done', fingerprint, response }, Date.now() + ttlMs);
    return Promise.resolve();
  }

  release(key: string): Promise<void> {
    this.entries.delete(key);
    return Promise.resolve();
  }

  private set(key: string, entry: Entry, expiresAt: number): void {
    this.entries.delete(key);
    this.entries.set(key, { entry, expiresAt });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }
}

/** Several replicas: SET NX PX claims the key atomically; the result overwrites it with its TTL. */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(private readonly redis: Redis) {}

  async claim(key: string, fingerprint: string, lockMs: number): Promise<ClaimResult> {
    const inFlight = JSON.stringify({ state: 'in_flight', fingerprint } satisfies Entry);
    // Two tries: the key may expire between a failed SET NX and the GET.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const taken = await this.run(() => this.redis.set(key, inFlight, 'PX', lockMs, 'NX'));
      if (taken === 'OK') return { claimed: true };
      const existing = await this.run(() => this.redis.get(key));
      if (existing !== null) return { claimed: false, existing: JSON.parse(existing) as Entry };
    }
    throw new IdempotencyStoreUnavailable('the idempotency key could not be claimed');
  }

  async complete(
    key: string,
    fingerprint: string,
    response: StoredResponse,
    ttlMs: number,
  ): Promise<void> {
    const done = JSON.stringify({ state: 'done', fingerprint, response } satisfies Entry);
    await this.run(() => this.redis.set(key, done, 'PX', ttlMs));
  }

  async release(key: string): Promise<void> {
    await this.run(() => this.redis.del(key));
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch {
      throw new IdempotencyStoreUnavailable('the idempotency store is unreachable');
    }
  }
}
