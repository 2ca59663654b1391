import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';

/** How long one replica may hold a session's refresh: longer than the provider's timeout. */
export const REFRESH_LOCK_MS = 10_000;
/** Longer than any replica waits for another's refresh (the lock's time and a little more). */
const REFUSED_MARK_MS = REFRESH_LOCK_MS + 5_000;

/** Deletes the lock only if it is still ours: one that expired and was taken again is left. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Who refreshes a session's tokens when several replicas want to: with rotating refresh tokens a
 * second refresh would spend a dead token and end the session. Resolves with a release when this
 * caller holds the lock, or undefined when another does.
 */
export interface RefreshLock {
  acquire(name: string): Promise<(() => Promise<void>) | undefined>;
  /**
   * Leaves word that the refresh held under `name` was refused, so that those who waited for it
   * can tell a refused refresh from any other end of the session.
   */
  markRefused(name: string): Promise<void>;
  /** Whether a refresh held under `name` was refused lately. */
  wasRefused(name: string): Promise<boolean>;
}

/**
 * One process: its in-flight refresh per session already makes it the only one, and those waiting
 * for it share its outcome, a refusal included: nothing to leave word of.
 */
export class ProcessRefreshLock implements RefreshLock {
  acquire(): Promise<() => Promise<void>> {
    return Promise.resolve(() => Promise.resolve());
  }

  markRefused(): Promise<void> {
    return Promise.resolve();
  }

  wasRefused(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

/** Replicas sharing Redis: `SET NX PX`, so a replica that dies holding it blocks nobody for long. */
export class RedisRefreshLock implements RefreshLock {
  constructor(private readonly redis: Redis) {}

  async acquire(name: string): Promise<(() => Promise<void>) | undefined> {
    const token = randomBytes(16).toString('base64url');
    const taken = await this.redis.set(name, token, 'PX', REFRESH_LOCK_MS, 'NX');
    if (taken !== 'OK') return undefined;
    return async () => {
      await this.redis.eval(RELEASE, 1, name, token);
    };
  }

  async markRefused(name: string): Promise<void> {
    await this.redis.set(`${name}:refused`, '1', 'PX', REFUSED_MARK_MS);
  }

  async wasRefused(name: string): Promise<boolean> {
    return (await this.redis.exists(`${name}:refused`)) === 1;
  }
}
