import type Redis from 'ioredis';

/**
 * Where sealed session records live, by the SHA-256 of their session id (never the id itself):
 * what the store holds lets nobody present a cookie. Each entry expires by itself.
 */
export interface SessionStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Writes only over `expected`: a write from a stale read never replaces a newer record. */
  swap(key: string, expected: string, value: string, ttlMs: number): Promise<boolean>;
  /** Writes only where a record still is: a session ended meanwhile is not brought back. */
  replace(key: string, value: string, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  close(): void;
}

const SWEEP_INTERVAL_MS = 60_000;

/** One process's sessions: a restart logs everyone out, and another replica knows none of them. */
export class MemorySessionStore implements SessionStore {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();

  get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.expiresAt <= Date.now()) this.entries.delete(key);
    return Promise.resolve(entry && entry.expiresAt > Date.now() ? entry.value : undefined);
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
    return Promise.resolve();
  }

  async swap(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    if ((await this.get(key)) !== expected) return false;
    await this.set(key, value, ttlMs);
    return true;
  }

  async replace(key: string, value: string, ttlMs: number): Promise<boolean> {
    if ((await this.get(key)) === undefined) return false;
    await this.set(key, value, ttlMs);
    return true;
  }

  delete(key: string): Promise<void> {
    this.entries.delete(key);
    return Promise.resolve();
  }

  /** Sessions not yet expired, for the `sessions_active` gauge. */
  get live(): number {
    const now = Date.now();
    let count = 0;
    for (const entry of this.entries.values()) if (entry.expiresAt > now) count += 1;
    return count;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** Sessions nobody comes back for would otherwise stay until the process ends. */
  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

/** SET only if the value is still the one read: a compare-and-set in one step. */
const SWAP = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

/** Sessions shared by every replica on one Redis; Redis expires them (PX). */
export class RedisSessionStore implements SessionStore {
  constructor(private readonly redis: Redis) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(key, value, 'PX', ttlMs);
  }

  async swap(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(SWAP, 1, key, expected, value, ttlMs)) === 1;
  }

  async replace(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(key, value, 'PX', ttlMs, 'XX')) === 'OK';
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(key);
  }

  close(): void {
    // The connection belongs to the RedisModule.
  }
}
