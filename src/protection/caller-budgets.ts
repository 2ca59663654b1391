import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type Redis from 'ioredis';
import type { Caller } from '../common/caller';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';
import { MetricsService } from '../observability/metrics.service';
import { InjectRedis } from '../redis/redis.module';
import { UpstreamError } from '../upstream/upstream-error';
import type { UpstreamReply } from '../upstream/upstream.client';
import { SharedWindowCounters } from './window-counters';

const WINDOW_MS = 60_000;

/** A budget over one window: `limit` 0 is off. Its name is its RateLimit-Policy name. */
interface Budget {
  readonly name: string;
  readonly limit: number;
  /** Its RateLimit-Policy item, the same on every answer. */
  readonly policy: string;
}

const budgetOf = (name: string, limit: number): Budget => ({
  name,
  limit,
  policy: `"${name}";q=${limit};w=${WINDOW_MS / 1000}`,
});

function tooManyRequests(budget: Budget, resetMs: number, what: string): ProblemException {
  const wait = String(Math.max(1, Math.ceil(resetMs / 1000)));
  return new ProblemException(
    'too-many-requests',
    `More than ${budget.limit} ${what} per ${WINDOW_MS / 1000} s; retry in ${wait} s.`,
    {
      headers: {
        'Retry-After': wait,
        'RateLimit-Policy': budget.policy,
        RateLimit: `"${budget.name}";r=0;t=${wait}`,
      },
    },
  );
}

/** A budget's RateLimit-Policy and RateLimit items (draft-ietf-httpapi-ratelimit-headers). */
export interface BudgetLeft {
  readonly policy: string;
  readonly left: string;
}

/** The RateLimit headers of the budgets a request has passed, in the order they were spent. */
export function rateLimitHeaders(
  spent: readonly (BudgetLeft | undefined)[],
): Record<string, string> {
  const items = spent.filter((item) => item !== undefined);
  if (items.length === 0) return {};
  return {
    'RateLimit-Policy': items.map((item) => item.policy).join(', '),
    RateLimit: items.map((item) => item.left).join(', '),
  };
}

/** Whose failed authentications count: a verified subject's own, else their address's. */
const failuresOf = (caller: Caller) =>
  caller.verified ? `auth-failures:${caller.key}` : `auth-failures:ip:${caller.address}`;

const REJECTED_CREDENTIAL = new Set([401, 403]);

/**
 * What a caller may spend of the session token: requests per address and per caller, failed
 * authentications per address, upstream calls in flight per address. The counters are in Redis
 * when there is one (every replica sees the same budgets); calls in flight are this replica's.
 */
@Injectable()
export class CallerBudgets implements OnApplicationShutdown {
  private readonly counters: SharedWindowCounters;
  private readonly perAddress: Budget;
  private readonly perCaller: Budget;
  private readonly authFailures: Budget;
  private readonly maxInFlight: number;
  private readonly inFlight = new Map<string, number>();

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    @InjectRedis() redis: Redis | null,
    private readonly metrics: MetricsService,
  ) {
    const app = config.getOrThrow(APP_CONFIG, { infer: true });
    this.counters = new SharedWindowCounters(redis);
    this.perAddress = budgetOf('per-address', app.perAddress.requestsPerMinute);
    this.perCaller = budgetOf('per-caller', app.rateLimitPerMinute);
    this.authFailures = budgetOf('auth-failures', app.perAddress.authFailuresPerMinute);
    this.maxInFlight = app.perAddress.maxInFlight;
  }

  onApplicationShutdown(): void {
    this.counters.close();
  }

  /** One request from this address, whoever it claims to be. */
  spendAddressRequest(caller: Caller): Promise<BudgetLeft | undefined> {
    return this.spend(this.perAddress, `address:${caller.address}`, 'requests from this address');
  }

  /** One request of an authenticated caller. */
  spendCallerRequest(caller: Caller): Promise<BudgetLeft | undefined> {
    return this.spend(this.perCaller, `caller:${caller.key}`, 'requests');
  }

  /** A 429 while the caller's failed authentications are over budget; counts nothing. */
  async checkAuthFailures(caller: Caller): Promise<void> {
    if (this.authFailures.limit === 0) return;
    const { count, resetMs } = await this.counters.peek(failuresOf(caller));
    if (count < this.authFailures.limit) return;
    this.metrics.countCallerRejection('auth_failures');
    throw tooManyRequests(this.authFailures, resetMs, 'rejected credentials');
  }

  async countAuthFailure(caller: Caller, source: 'bff' | 'upstream'): Promise<void> {
    this.metrics.countAuthFailure(source);
    if (this.authFailures.limit > 0) await this.counters.hit(failuresOf(caller), WINDOW_MS);
  }

  /**
   * Runs one upstream call within the address's bound of calls in flight (a 429 and no call past
   * it), and counts an upstream 401/403 as a failed authentication.
   */
  async callUpstream(caller: Caller, send: () => Promise<UpstreamReply>): Promise<UpstreamReply> {
    const inFlight = this.inFlight.get(caller.address) ?? 0;
    if (this.maxInFlight > 0 && inFlight >= this.maxInFlight) {
      this.metrics.countCallerRejection('in_flight');
      throw new ProblemException(
        'too-many-requests',
        `More than ${this.maxInFlight} requests from this address are in flight; retry in 1 s.`,
        { headers: { 'Retry-After': '1' } },
      );
    }
    this.inFlight.set(caller.address, inFlight + 1);
    let status: number | undefined;
    try {
      const reply = await send();
      status = reply.status;
      return reply;
    } catch (error) {
      if (error instanceof UpstreamError) status = error.failure.upstreamStatus;
      throw error;
    } finally {
      const left = (this.inFlight.get(caller.address) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(caller.address);
      else this.inFlight.set(caller.address, left);
      if (status !== undefined && REJECTED_CREDENTIAL.has(status)) {
        await this.countAuthFailure(caller, 'upstream');
      }
    }
  }

  private async spend(budget: Budget, key: string, what: string): Promise<BudgetLeft | undefined> {
    if (budget.limit === 0) return undefined;
    const { count, resetMs } = await this.counters.hit(`${budget.name}:${key}`, WINDOW_MS);
    if (count <= budget.limit) {
      return {
        policy: budget.policy,
        left: `"${budget.name}";r=${budget.limit - count};t=${Math.max(1, Math.ceil(resetMs / 1000))}`,
      };
    }
    this.metrics.countRateLimited();
    throw tooManyRequests(budget, resetMs, what);
  }
}
