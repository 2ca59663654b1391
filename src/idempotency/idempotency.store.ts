import type Redis from 'ioredis';
import type { UpstreamReply } from '../upstream/upstream.client';
import { Holdings, LargestFirst } from './largest-first';

/** A response as the caller got it, kept to replay it byte for byte. */
export type StoredResponse = UpstreamReply;

export type Entry =
  | {
      readonly state: 'in_flight';
      readonly fingerprint: string;
      /** The request that claimed it: whom to look for upstream if its outcome is never known. */
      readonly requestId?: string;
      /**
       * Until when (ms since the epoch) its holder answers for it, in Redis: a record still in
       * flight past it lost its holder before its outcome was written. Absent in the in-process
       * store, whose holder is the process itself.
       */
      readonly leaseUntil?: number;
    }
  | { readonly state: 'done'; readonly fingerprint: string; readonly response: StoredResponse };

export type ClaimResult =
  { readonly claimed: true } | { readonly claimed: false; readonly existing: Entry };

/** Thrown when the store cannot be reached: the guarantee cannot be kept. */
export class IdempotencyStoreUnavailable extends Error {}

/** Which record: its key, and the client address it belongs to (see MemoryIdempotencyStore). */
export interface RecordRef {
  readonly key: string;
  readonly owner: string;
  readonly fingerprint: string;
  readonly requestId: string;
}

/** How long a claim holds: its lease, and the record's life (its TTL). */
export interface ClaimTimes {
  readonly lockMs: number;
  readonly ttlMs: number;
}

export interface IdempotencyStore {
  /** Atomically takes the key for this request, or tells what holds it. */
  claim(record: RecordRef, times: ClaimTimes): Promise<ClaimResult>;
  /** Extends the lease of a claim still in flight (nothing if the record is gone or done). */
  renew(record: RecordRef, lockMs: number): Promise<void>;
  complete(record: RecordRef, response: StoredResponse, ttlMs: number): Promise<void>;
  /** Gives the key back: the request never reached the upstream, so a retry must be free to. */
  release(key: string): Promise<void>;
}

export interface MemoryStoreBounds {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/**
 * Heap a record takes besides the bytes of its strings: Map and Set slots, the objects around the
 * strings, V8's string headers. Measured: ~180 bytes for a record of the 800-byte created answer.
 */
export const RECORD_OVERHEAD_BYTES = 256;

interface Held {
  readonly entry: Entry;
  readonly expiresAt: number;
  readonly owner: string;
  readonly bytes: number;
}

/** Thrown by a claim the in-process store has no room for; `retryAfterS`: when the oldest record expires. */
export class IdempotencyStoreFull extends Error {
  constructor(readonly retryAfterS: number) {
    super('the idempotency store is full');
  }
}

/**
 * Past this share of either bound, the client address holding the most bytes is refused new keys:
 * one flooding address is stopped while the others still have room.
 */
const FAIR_SHARE = 0.75;

/**
 * One replica: a Map with expiry, bounded in entries and in bytes. A record is never dropped before
 * its TTL (its retry could create twice): when a bound is reached, new keys are refused. Past
 * FAIR_SHARE of a bound, the address holding the most is refused first. The byte bound is checked
 * when a key is claimed: the answers of claims already admitted are kept even if they take it
 * past it, by at most (calls in flight) x IDEMPOTENCY_MAX_RECORD_BYTES.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  /**
   * Insertion order, which is expiry order but for in-flight claims (shorter-lived, and replaced
   * by their outcome before they expire): expired records are swept from the front.
   */
  private readonly entries = new Map<string, Held>();
  private readonly owners = new Map<string, Holdings>();
  private readonly largest = new LargestFirst();
  private heldBytes = 0;

  constructor(
    private readonly bounds: MemoryStoreBounds,
    private readonly onRefuse: () => void = () => undefined,
  ) {}

  /** What the records hold, as counted against `maxBytes`. */
  get bytes(): number {
    return this.heldBytes;
  }

  claim(record: RecordRef, { lockMs }: ClaimTimes): Promise<ClaimResult> {
    const now = Date.now();
    const current = this.entries.get(record.key);
    if (current && current.expiresAt > now)
      return Promise.resolve({ claimed: false, existing: current.entry });
    this.dropExpired(now);
    if (!this.hasRoomFor(record.owner)) {
      this.onRefuse();
      const [oldest] = this.entries.values();
      return Promise.reject(
        new IdempotencyStoreFull(Math.max(1, Math.ceil((oldest.expiresAt - now) / 1000))),
      );
    }
    const { fingerprint, requestId } = record;
    this.set(record, { state: 'in_flight', fingerprint, requestId }, now + lockMs);
    return Promise.resolve({ claimed: true });
  }

  /** This process completes or releases each claim within its lock: nothing to extend. */
  renew(): Promise<void> {
    return Promise.resolve();
  }

  complete(record: RecordRef, response: StoredResponse, ttlMs: number): Promise<void> {
    const entry = { state: 'done', fingerprint: record.fingerprint, response } as const;
    this.set(record, entry, Date.now() + ttlMs);
    return Promise.resolve();
  }

  release(key: string): Promise<void> {
    this.delete(key);
    return Promise.resolve();
  }

  /** Room for one more record of `owner`: below both bounds, and below the fair share unless another address holds more. */
  private hasRoomFor(owner: string): boolean {
    const { maxEntries, maxBytes } = this.bounds;
    const entries = this.entries.size;
    const bytes = this.heldBytes;
    if (entries >= maxEntries || bytes >= maxBytes) return false;
    if (entries < FAIR_SHARE * maxEntries && bytes < FAIR_SHARE * maxBytes) return true;
    const holdings = this.owners.get(owner);
    return holdings === undefined || holdings !== this.largest.top;
  }

  private set({ key, owner }: RecordRef, entry: Entry, expiresAt: number): void {
    this.delete(key);
    // The bytes Redis would hold for it (the same JSON), plus what the heap adds around them.
    const bytes = Buffer.byteLength(key) + Buffer.byteLength(JSON.stringify(entry));
    const held = { entry, expiresAt, owner, bytes: bytes + RECORD_OVERHEAD_BYTES };
    this.entries.set(key, held);
    let holdings = this.owners.get(owner);
    if (!holdings) {
      holdings = { keys: new Set(), bytes: 0, place: 0 };
      this.owners.set(owner, holdings);
      this.largest.add(holdings);
    }
    holdings.keys.add(key);
    holdings.bytes += held.bytes;
    this.largest.update(holdings);
    this.heldBytes += held.bytes;
    this.dropExpired(Date.now());
  }

  private dropExpired(now: number): void {
    for (const [key, { expiresAt }] of this.entries) {
      if (expiresAt > now) return;
      this.delete(key);
    }
  }

  private delete(key: string): void {
    const held = this.entries.get(key);
    if (!held) return;
    this.entries.delete(key);
    this.heldBytes -= held.bytes;
    const holdings = this.owners.get(held.owner)!;
    holdings.keys.delete(key);
    holdings.bytes -= held.bytes;
    if (holdings.keys.size > 0) return this.largest.update(holdings);
    this.owners.delete(held.owner);
    this.largest.remove(holdings);
  }
}

const inFlight = ({ fingerprint, requestId }: RecordRef, lockMs: number) =>
  JSON.stringify({
    state: 'in_flight',
    fingerprint,
    requestId,
    leaseUntil: Date.now() + lockMs,
  } satisfies Entry);

/**
 * Several replicas: SET NX claims the key atomically, for the whole TTL, with a lease inside the
 * record that its holder renews while it still has the outcome to write; the result overwrites
 * it. A claim whose lease ran out is not freed: its outcome is unknown (the replica may have died
 * after the upstream created the record). The lease is read against each replica's clock, so
 * replicas keep their clocks in sync (NTP), as any lease does.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(private readonly redis: Redis) {}

  async claim(ref: RecordRef, { lockMs, ttlMs }: ClaimTimes): Promise<ClaimResult> {
    const { key } = ref;
    const record = inFlight(ref, lockMs);
    // Two tries: the key may expire between a failed SET NX and the GET.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const taken = await this.run(() => this.redis.set(key, record, 'PX', ttlMs, 'NX'));
      if (taken === 'OK') return { claimed: true };
      const existing = await this.run(() => this.redis.get(key));
      if (existing !== null) return { claimed: false, existing: JSON.parse(existing) as Entry };
    }
    throw new IdempotencyStoreUnavailable('the idempotency key could not be claimed');
  }

  async complete(
    { key, fingerprint }: RecordRef,
    response: StoredResponse,
    ttlMs: number,
  ): Promise<void> {
    const done = JSON.stringify({ state: 'done', fingerprint, response } satisfies Entry);
    await this.run(() => this.redis.set(key, done, 'PX', ttlMs));
  }

  async renew(ref: RecordRef, lockMs: number): Promise<void> {
    // XX KEEPTTL: only a record still there, its TTL unchanged. Only the holder writes it.
    await this.run(() => this.redis.set(ref.key, inFlight(ref, lockMs), 'KEEPTTL', 'XX'));
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
