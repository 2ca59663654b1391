import type Redis from 'ioredis';
import type { WindowCounters } from './window-counters';

const WINDOW_MS = 60_000;
const COUNTER = 'auth-failures-global';
/** How often a replica reads the count the others add to (Redis only). */
export const GLOBAL_FAILURES_REFRESH_MS = 1_000;

/**
 * Distinct credentials refused in the current minute across all addresses
 * (AUTH_FAILURES_GLOBAL_PER_MINUTE): an upstream that locks its session after repeated failures
 * must not be led there by many addresses together. Past the budget, only known-good credentials
 * are tried upstream until the window ends.
 *
 * The request path reads this replica's view of the count, never Redis: the view is updated by
 * each failure it counts and, with Redis, read again every second. Credentials being tried for the
 * first time are counted as if they would fail while their call is in flight, so that concurrent
 * bad ones cannot overshoot the budget.
 */
export class GlobalFailureBudget {
  private count = 0;
  private endsAt = 0;
  /** Credentials counted in this window by this replica: one bad token retried is one failure. */
  private readonly counted = new Set<string>();
  private trying = 0;
  private lastWarning = Number.NEGATIVE_INFINITY;
  private readonly refresher?: NodeJS.Timeout;

  constructor(
    private readonly counters: WindowCounters,
    readonly limit: number,
    redis: Redis | null,
    private readonly warn: (count: number, resetMs: number) => void,
  ) {
    if (limit > 0 && redis !== null) {
      this.refresher = setInterval(() => void this.refresh(), GLOBAL_FAILURES_REFRESH_MS).unref();
    }
  }

  close(): void {
    clearInterval(this.refresher);
  }

  /** Whether the budget is spent: credentials not known-good are refused until `resetMs`. */
  get spent(): boolean {
    return this.limit > 0 && this.current() >= this.limit;
  }

  get resetMs(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  /** Whether a credential not known-good may be tried now, counting those being tried. */
  admits(): boolean {
    return this.limit === 0 || this.current() + this.trying < this.limit;
  }

  /** A credential not known-good is being tried upstream; `settled` when its answer is in. */
  trial(): void {
    this.trying += 1;
  }

  settled(): void {
    this.trying -= 1;
  }

  async failed(credentialKey: string): Promise<void> {
    if (this.limit === 0 || this.current() >= this.limit || this.counted.has(credentialKey)) return;
    this.counted.add(credentialKey);
    const { count, resetMs } = await this.counters.hit(COUNTER, WINDOW_MS);
    this.observe(count, resetMs);
  }

  private current(): number {
    if (this.count > 0 && this.endsAt <= Date.now()) {
      this.count = 0;
      this.counted.clear();
    }
    return this.count;
  }

  private observe(count: number, resetMs: number): void {
    const now = Date.now();
    // A new window, opened by another replica's failure.
    if (count < this.count) this.counted.clear();
    this.count = count;
    this.endsAt = now + resetMs;
    if (count >= this.limit && now - this.lastWarning >= WINDOW_MS) {
      this.lastWarning = now;
      this.warn(count, resetMs);
    }
  }

  private async refresh(): Promise<void> {
    const { count, resetMs } = await this.counters.peek(COUNTER);
    this.observe(count, resetMs);
  }
}
