import { hash } from 'node:crypto';
import type Redis from 'ioredis';

/**
 * Which session records belong to one provider session (`sid`) or one user (`sub`): what a
 * back-channel logout names. Entries are store keys (SHA-256 of session ids), never ids. A key
 * may outlive its record (ended or expired): ending it again is harmless.
 */
export interface SessionIndex {
  /** Adds `key` under each of `names`, kept at least `ttlMs` (a session's absolute lifetime). */
  add(names: readonly string[], key: string, ttlMs: number): Promise<void>;
  /** The keys under `name`, which is forgotten. */
  take(name: string): Promise<string[]>;
  close(): void;
}

const SWEEP_INTERVAL_MS = 60_000;

/** One process's index, beside the in-memory session store. */
export class MemorySessionIndex implements SessionIndex {
  private readonly entries = new Map<string, { keys: Set<string>; expiresAt: number }>();
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();

  add(names: readonly string[], key: string, ttlMs: number): Promise<void> {
    const expiresAt = Date.now() + ttlMs;
    for (const name of names) {
      const entry = this.entries.get(name);
      if (entry === undefined) this.entries.set(name, { keys: new Set([key]), expiresAt });
      else {
        entry.keys.add(key);
        entry.expiresAt = Math.max(entry.expiresAt, expiresAt);
      }
    }
    return Promise.resolve();
  }

  take(name: string): Promise<string[]> {
    const entry = this.entries.get(name);
    this.entries.delete(name);
    return Promise.resolve(entry === undefined ? [] : [...entry.keys]);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** Every session under an entry past its deadline has ended by itself. */
  private sweep(): void {
    const now = Date.now();
    for (const [name, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(name);
  }
}

/**
 * The index shared by every replica: one Redis set per name. Each new session sets the set's
 * expiry to its own absolute deadline, the latest of all under one SESSION_ABSOLUTE_TIMEOUT_S, so
 * the set lives as long as its longest session.
 */
export class RedisSessionIndex implements SessionIndex {
  constructor(private readonly redis: Redis) {}

  async add(names: readonly string[], key: string, ttlMs: number): Promise<void> {
    const batch = this.redis.multi();
    for (const name of names) batch.sadd(name, key).pexpire(name, ttlMs);
    await batch.exec().then(failedIn);
  }

  async take(name: string): Promise<string[]> {
    const [members] = await this.redis.multi().smembers(name).del(name).exec().then(failedIn);
    return members as string[];
  }

  close(): void {
    // The connection belongs to the RedisModule.
  }
}

/** The replies of a MULTI, or its first error (ioredis resolves with per-command errors). */
function failedIn(replies: [Error | null, unknown][] | null): unknown[] {
  if (replies === null) throw new Error('transaction aborted');
  for (const [error] of replies) if (error !== null) throw error;
  return replies.map(([, reply]) => reply);
}

/**
 * The index names of a session: its `sid`'s first when it has one (a logout token with a `sid`
 * names that), then its `sub`'s. Hashed with the issuer: no identifier in clear in the store.
 */
export function indexNames(who: { iss: string; sid?: string; sub?: string }): string[] {
  const names: string[] = [];
  if (who.sid !== undefined) names.push(indexName('sid', who.iss, who.sid));
  if (who.sub !== undefined) names.push(indexName('sub', who.iss, who.sub));
  return names;
}

function indexName(kind: 'sid' | 'sub', iss: string, value: string): string {
  return `bff:sessions-of:${kind}:${hash('sha256', `${iss}\n${value}`, 'base64url')}`;
}
