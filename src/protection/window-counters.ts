import type Redis from 'ioredis';

export interface WindowCount {
  /** Hits in the key's current window. */
  readonly count: number;
  /** Milliseconds until that window ends (0 when there is none). */
  readonly resetMs: number;
}

/**
 * Fixed-window counters: one number and one expiry per key, so a hit costs O(1) whatever the
 * limit. (@nestjs/throttler's in-memory storage kept a timestamp per hit and filtered them on
 * every hit: O(hits in the window) for one busy key, such as a NAT's address.)
 */
export interface WindowCounters {
  /** Counts one hit, opening a window of `windowMs` if the key has none. */
  hit(key: string, windowMs: number): Promise<WindowCount>;
  /** The current count, without counting. */
  peek(key: string): Promise<WindowCount>;
}

const NO_WINDOW: WindowCount = { count: 0, resetMs: 0 };

/** One replica's counters. Ended windows are swept once a minute, off the request path. */
export class MemoryWindowCounters implements WindowCounters {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();
  private readonly sweeper = setInterval(() => this.sweep(), 60_000).unref();

  hit(key: string, windowMs: number): Promise<WindowCount> {
    const now = Date.now();
    let window = this.windows.get(key);
    if (window === undefined || window.endsAt <= now) {
      window = { count: 0, endsAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.count += 1;
    return Promise.resolve({ count: window.count, resetMs: window.endsAt - now });
  }

  peek(key: string): Promise<WindowCount> {
    const now = Date.now();
    const window = this.windows.get(key);
    return Promise.resolve(
      window === undefined || window.endsAt <= now
        ? NO_WINDOW
        : { count: window.count, resetMs: window.endsAt - now },
    );
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
  }
}

// One round trip each, atomic: the window opens with the first hit and ends with the key.
const HIT = `local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`;
const PEEK = `return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}`;

const toCount = ([count, ttl]: [number, number]): WindowCount => ({
  count,
  resetMs: Math.max(0, ttl),
});

/**
 * Counters in Redis when there is one, so budgets hold across replicas. While Redis is down, each
 * replica counts on its own: a degraded limit beats failing every request.
 */
export class SharedWindowCounters implements WindowCounters {
  private readonly local = new MemoryWindowCounters();

  constructor(private readonly redis: Redis | null) {}

  close(): void {
    this.local.close();
  }

  hit(key: string, windowMs: number): Promise<WindowCount> {
    return this.run(
      (redis) => redis.eval(HIT, 1, `budget:${key}`, windowMs),
      () => this.local.hit(key, windowMs),
    );
  }

  peek(key: string): Promise<WindowCount> {
    return this.run(
      (redis) => redis.eval(PEEK, 1, `budget:${key}`),
      () => this.local.peek(key),
    );
  }

  private async run(
    shared: (redis: Redis) => Promise<unknown>,
    local: () => Promise<WindowCount>,
  ): Promise<WindowCount> {
    if (this.redis?.status === 'ready') {
      try {
        return toCount((await shared(this.redis)) as [number, number]);
      } catch {
        // fall through to the local count
      }
    }
    return local();
  }
}
