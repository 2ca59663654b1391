import type Redis from 'ioredis';
import type { Caller } from '../common/caller';

/** Credentials remembered at most per replica (about 100 bytes each); the oldest go first. */
export const KNOWN_GOOD_MAX = 100_000;

/**
 * Credentials the upstream accepted in the last `ttlMs`, by their caller key (a digest, never the
 * token): they are never refused for what other callers did (budgets of an address, the global
 * failure budget). A verified JWT is known-good by itself.
 *
 * Each replica asks its own map first, so a returning caller costs a lookup. With Redis, a success
 * is also written there (at most once per half TTL per credential) and a caller unknown here is
 * looked up there only when a budget would refuse them: another replica may have seen them succeed.
 */
export class KnownGoodCredentials {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly redis: Redis | null,
    private readonly ttlMs: number,
  ) {}

  /** Without a round trip: what this replica knows. */
  knownHere(caller: Caller): boolean {
    if (caller.verified) return true;
    const until = this.until.get(caller.key);
    return until !== undefined && until > Date.now();
  }

  /** Here, else in Redis; for the few requests a budget would refuse. */
  async known(caller: Caller): Promise<boolean> {
    if (this.knownHere(caller)) return true;
    if (this.redis?.status !== 'ready') return false;
    try {
      const ttl = await this.redis.pttl(sharedKey(caller.key));
      if (ttl <= 0) return false;
      this.remember(caller.key, Date.now() + ttl);
      return true;
    } catch {
      return false;
    }
  }

  /** The upstream accepted this credential. */
  succeeded(caller: Caller): void {
    if (caller.verified) return;
    const now = Date.now();
    const until = this.until.get(caller.key);
    // Most requests come from callers remembered recently: nothing to write.
    if (until !== undefined && until - now > this.ttlMs / 2) return;
    this.remember(caller.key, now + this.ttlMs);
    if (this.redis?.status === 'ready') {
      this.redis.set(sharedKey(caller.key), '1', 'PX', this.ttlMs).catch(() => undefined);
    }
  }

  /** The upstream refused this credential: it is no longer known-good anywhere. */
  failed(caller: Caller): void {
    if (caller.verified) return;
    this.until.delete(caller.key);
    // Another replica may have remembered it: rare (a credential that worked, then not), so asked.
    if (this.redis?.status === 'ready') {
      this.redis.del(sharedKey(caller.key)).catch(() => undefined);
    }
  }

  private remember(key: string, until: number): void {
    this.until.delete(key);
    if (this.until.size >= KNOWN_GOOD_MAX) {
      this.until.delete(this.until.keys().next().value as string);
    }
    this.until.set(key, until);
  }
}

const sharedKey = (callerKey: string) => `known-good:${callerKey}`;
