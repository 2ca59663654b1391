import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import type { Caller } from '../common/caller';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';
import { MetricsService } from '../observability/metrics.service';
import { InjectRootLogger } from '../observability/root-logger';
import { InjectRedis } from '../redis/redis.module';
import { UpstreamError } from '../upstream/upstream-error';
import type { UpstreamReply } from '../upstream/upstream.client';
import { GlobalFailureBudget } from './global-failure-budget';
import { KnownGoodCredentials } from './known-good';
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
  /** Past a budget that spares known-good credentials: the 429 for everybody else. */
  readonly refusal?: ProblemException;
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
 * authentications per address and across all addresses, upstream calls in flight per address.
 * The counters are in Redis when there is one (every replica sees the same budgets); calls in
 * flight are this replica's. The budgets of an address never refuse a known-good credential: an
 * attacker sharing an office's or a carrier's address cannot lock its honest users out.
 */
@Injectable()
export class CallerBudgets implements OnApplicationShutdown {
  private readonly counters: SharedWindowCounters;
  private readonly perAddress: Budget;
  private readonly withoutCredential: Budget;
  private readonly perCaller: Budget;
  private readonly authFailures: Budget;
  private readonly maxInFlight: number;
  private readonly inFlight = new Map<string, number>();
  /** UPSTREAM_MAX_CONCURRENCY, and the calls in flight from all addresses (this replica's). */
  private readonly slots: number;
  private inFlightTotal = 0;
  readonly knownGood: KnownGoodCredentials;
  private readonly globalFailures: GlobalFailureBudget;
  private readonly knownGoodTtlSeconds: number;

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    @InjectRedis() redis: Redis | null,
    private readonly metrics: MetricsService,
    @InjectRootLogger() rootLogger: Logger,
  ) {
    const app = config.getOrThrow(APP_CONFIG, { infer: true });
    this.counters = new SharedWindowCounters(redis);
    this.perAddress = budgetOf('per-address', app.perAddress.requestsPerMinute);
    this.withoutCredential = budgetOf(
      'per-address-no-credential',
      app.perAddress.requestsPerMinute,
    );
    this.perCaller = budgetOf('per-caller', app.rateLimitPerMinute);
    this.authFailures = budgetOf('auth-failures', app.perAddress.authFailuresPerMinute);
    this.maxInFlight = app.perAddress.maxInFlight;
    this.slots = app.upstream.maxConcurrency;
    this.knownGoodTtlSeconds = app.credentials.knownGoodTtlSeconds;
    this.knownGood = new KnownGoodCredentials(redis, this.knownGoodTtlSeconds * 1000);
    const logger = rootLogger.child({ context: 'CallerBudgets' });
    this.globalFailures = new GlobalFailureBudget(
      this.counters,
      app.credentials.globalFailuresPerMinute,
      redis,
      (count, resetMs) =>
        logger.warn(
          `global failed-credential budget spent: ${count} distinct credentials refused this minute ` +
            `(AUTH_FAILURES_GLOBAL_PER_MINUTE=${app.credentials.globalFailuresPerMinute}); ` +
            `credentials not seen to succeed in the last ${this.knownGoodTtlSeconds} s are refused ` +
            `for ${Math.ceil(resetMs / 1000)} s`,
        ),
    );
    metrics.measureGlobalAuthFailures(() => this.globalFailures.spent);
  }

  onApplicationShutdown(): void {
    this.counters.close();
    this.globalFailures.close();
  }

  /**
   * One request with a credential from this address, whoever it claims to be. Past the budget,
   * the answer carries the refusal, for the guard to throw unless the credential is known-good.
   */
  spendAddressRequest(caller: Caller): Promise<BudgetLeft | undefined> {
    return this.spend(this.perAddress, `address:${caller.address}`, 'requests from this address');
  }

  /** One request without any Authorization from this address: a budget of its own. */
  spendAddressRequestWithoutCredential(caller: Caller): Promise<BudgetLeft | undefined> {
    return this.spend(
      this.withoutCredential,
      `address-no-credential:${caller.address}`,
      'requests without credentials from this address',
    );
  }

  /** One request of an authenticated caller. */
  async spendCallerRequest(caller: Caller): Promise<BudgetLeft | undefined> {
    const left = await this.spend(this.perCaller, `caller:${caller.key}`, 'requests');
    if (left?.refusal !== undefined) throw this.refused(left.refusal);
    return left;
  }

  /** Counts a budget's refusal the guard decided to answer. */
  refused(refusal: ProblemException): ProblemException {
    this.metrics.countRateLimited();
    return refusal;
  }

  /**
   * A 429 while the caller's failed authentications are over budget; counts nothing. A known-good
   * credential is never refused for its address's failures (a verified one is judged by its own).
   */
  async checkAuthFailures(caller: Caller): Promise<void> {
    if (this.authFailures.limit === 0) return;
    if (!caller.verified && this.knownGood.knownHere(caller)) return;
    const { count, resetMs } = await this.counters.peek(failuresOf(caller));
    if (count < this.authFailures.limit) return;
    if (!caller.verified && (await this.knownGood.known(caller))) return;
    this.metrics.countCallerRejection('auth_failures');
    throw tooManyRequests(this.authFailures, resetMs, 'rejected credentials');
  }

  /**
   * A rejected credential: counted against the address (or the verified subject) and, when
   * `credential` (a token the upstream or the JWT verification refused, not a malformed header),
   * once per minute against the global budget.
   */
  async countAuthFailure(
    caller: Caller,
    source: 'bff' | 'upstream',
    credential: boolean,
  ): Promise<void> {
    this.metrics.countAuthFailure(source);
    if (credential) await this.globalFailures.failed(caller.key);
    if (this.authFailures.limit > 0) await this.counters.hit(failuresOf(caller), WINDOW_MS);
  }

  /**
   * Runs one upstream call within the address's bound of calls in flight (a 429 and no call past
   * it) and the global failure budget (a credential not known-good is not tried past it), and
   * counts an upstream 401/403 as a failed authentication.
   */
  async callUpstream(caller: Caller, send: () => Promise<UpstreamReply>): Promise<UpstreamReply> {
    let trial = !this.knownGood.knownHere(caller);
    if (trial && !this.globalFailures.admits()) {
      if (!(await this.knownGood.known(caller))) throw this.globalRefusal();
      trial = false;
    }
    const inFlight = this.inFlight.get(caller.address) ?? 0;
    if (this.maxInFlight > 0 && inFlight >= this.maxInFlight) {
      throw this.retryInASecond(
        'in_flight',
        'too-many-requests',
        `More than ${this.maxInFlight} requests from this address are in flight; retry in 1 s.`,
      );
    }
    // Fair slots: an address holding n calls gets another only while more than n are free, so
    // the last free slots go to addresses holding none (a new caller is admitted however many
    // calls other addresses abandoned, as long as they are fewer than the slots). An address
    // holding none meets the usual 503 when every slot is taken.
    if (inFlight > 0 && inFlight >= this.slots - this.inFlightTotal) {
      throw this.retryInASecond(
        'fair_share',
        'too-many-requests',
        `This address has ${inFlight} upstream calls in flight while few are left for other callers; retry in 1 s.`,
      );
    }
    this.inFlight.set(caller.address, inFlight + 1);
    this.inFlightTotal += 1;
    if (trial) this.globalFailures.trial();
    let status: number | undefined;
    try {
      const reply = await send();
      status = reply.status;
      return reply;
    } catch (error) {
      if (error instanceof UpstreamError) status = error.failure.upstreamStatus;
      throw error;
    } finally {
      if (trial) this.globalFailures.settled();
      this.inFlightTotal -= 1;
      const left = (this.inFlight.get(caller.address) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(caller.address);
      else this.inFlight.set(caller.address, left);
      if (status !== undefined && status >= 200 && status < 300) this.knownGood.succeeded(caller);
      else if (status !== undefined && REJECTED_CREDENTIAL.has(status)) {
        this.knownGood.failed(caller);
        await this.countAuthFailure(caller, 'upstream', true);
      }
    }
  }

  /** A refusal counted under `reason`, whose wait is short: the calls holding the place end soon. */
  private retryInASecond(
    reason: Parameters<MetricsService['countCallerRejection']>[0],
    kind: 'too-many-requests' | 'upstream-unavailable',
    detail: string,
  ): ProblemException {
    this.metrics.countCallerRejection(reason);
    return new ProblemException(kind, detail, { headers: { 'Retry-After': '1' } });
  }

  /** Past the global failure budget (401), or while credentials being tried would fill it (503). */
  private globalRefusal(): ProblemException {
    if (!this.globalFailures.spent) {
      return this.retryInASecond(
        'auth_failures_global',
        'upstream-unavailable',
        'Too many new credentials are being tried at once; retry in 1 s.',
      );
    }
    this.metrics.countCallerRejection('auth_failures_global');
    const wait = String(Math.max(1, Math.ceil(this.globalFailures.resetMs / 1000)));
    return new ProblemException(
      'unauthorized',
      `Too many credentials were refused in the last minute across all callers: only credentials ` +
        `that succeeded in the last ${this.knownGoodTtlSeconds} s are sent on; retry in ${wait} s.`,
      { headers: { 'WWW-Authenticate': 'Bearer', 'Retry-After': wait } },
    );
  }

  private async spend(budget: Budget, key: string, what: string): Promise<BudgetLeft | undefined> {
    if (budget.limit === 0) return undefined;
    const { count, resetMs } = await this.counters.hit(`${budget.name}:${key}`, WINDOW_MS);
    const wait = Math.max(1, Math.ceil(resetMs / 1000));
    if (count <= budget.limit) {
      return {
        policy: budget.policy,
        left: `"${budget.name}";r=${budget.limit - count};t=${wait}`,
      };
    }
    return {
      policy: budget.policy,
      left: `"${budget.name}";r=0;t=${wait}`,
      refusal: tooManyRequests(budget, resetMs, what),
    };
  }
}
