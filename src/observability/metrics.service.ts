import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Tracing } from './tracing';

export type BreakerState = 'closed' | 'half_open' | 'open';
/** Seconds, 1 ms to 10 s (the upstream deadline's default); shared so request and upstream times line up. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * A histogram observed through prom-client's child of each label combination, made once:
 * `labels()` builds a labels object and two closures on every call. The combinations are as
 * bounded as the label values are (see each metric), and so is prom-client's own map of them.
 */
class LabelledHistogram<L extends string> {
  private readonly children = new Map<string, Histogram.Internal<L>>();

  constructor(private readonly histogram: Histogram<L>) {}

  observe(values: readonly string[], seconds: number): void {
    // No label value holds a line break: methods, route templates, statuses, operationIds, outcomes.
    const key = values.join('\n');
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.histogram.labels(...values);
      this.children.set(key, child);
    }
    child.observe(seconds);
  }
}

/** One registry per application (tests run several in one process). */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  private readonly requestDuration = this.histogram(
    'http_request_duration_seconds',
    'Duration of HTTP requests served by the BFF, by route and status.',
    ['method', 'route', 'status_code'],
  );

  private readonly upstreamDuration = this.histogram(
    'upstream_request_duration_seconds',
    'Duration of upstream calls, by operation (the route operationId) and outcome.',
    ['operation', 'outcome'],
  );

  readonly upstreamInFlight = this.gauge(
    'upstream_requests_in_flight',
    'Upstream calls in flight.',
  );

  private readonly breakerState = this.gauge(
    'upstream_circuit_breaker_state',
    'Upstream circuit breaker state: 0 closed, 1 half-open, 2 open.',
  );

  private readonly rateLimited = this.counter(
    'rate_limit_rejections_total',
    'Requests rejected with 429 by the rate limiter (per caller or per address).',
  );
  private readonly authFailures = this.counter(
    'auth_failures_total',
    'Credentials rejected, by the BFF itself (source="bff") or by the upstream with 401/403.',
    ['source'],
  );
  private readonly callerRejections = this.counter(
    'caller_rejections_total',
    'Requests refused before the upstream: too many failed authentications (429), calls in flight (429), or the global failed-credential budget (401/503).',
    ['reason'],
  );

  private globalAuthFailuresSpent?: () => boolean;

  private readonly globalAuthFailures = this.measuredGauge(
    'auth_failures_global_budget_spent',
    'Whether AUTH_FAILURES_GLOBAL_PER_MINUTE is spent: 1 while only known-good credentials are sent upstream.',
    () => this.globalAuthFailuresSpent && Number(this.globalAuthFailuresSpent()),
  );

  private readonly tokenExpiry = this.gauge(
    'upstream_session_token_expiry_timestamp_seconds',
    'Expiry (Unix time) of the upstream session token, when it is a JWT with exp.',
  );

  private readonly tokenReloadFailures = this.counter(
    'upstream_session_token_reload_failures_total',
    'Session token file reloads refused (unreadable, empty, not a header value, too long); the previous token stays in use.',
  );

  private readonly storeDurable = this.gauge(
    'idempotency_store_durable',
    'Whether idempotency keys survive a restart of their store: 1 with Redis AOF or RDB snapshots, 0 otherwise (in-process store included).',
  );

  private storeBytesOf?: () => number;

  private readonly storeBytes = this.measuredGauge(
    'idempotency_store_bytes',
    'Bytes held by the in-process idempotency store, as counted against IDEMPOTENCY_MAX_BYTES (0 with Redis: see its used_memory).',
    () => this.storeBytesOf?.(),
  );

  private readonly storeRefusals = this.counter(
    'idempotency_store_refusals_total',
    'Keyed requests refused (503) because the in-process idempotency store was full; it never drops a record before its TTL.',
  );

  private spanExportFailuresSeen = 0;

  private readonly spanExportFailures: Counter = new Counter({
    name: 'otel_span_export_failures_total',
    help: 'Span exports to the OTLP endpoint that failed (their spans are lost).',
    registers: [this.registry],
    collect: () => {
      this.spanExportFailures.inc(this.tracing.exportFailures - this.spanExportFailuresSeen);
      this.spanExportFailuresSeen = this.tracing.exportFailures;
    },
  });

  constructor(private readonly tracing: Tracing) {
    collectDefaultMetrics({ register: this.registry });
  }

  private histogram<L extends string>(name: string, help: string, labelNames: readonly L[]) {
    return new LabelledHistogram(
      new Histogram<L>({
        name,
        help,
        labelNames,
        buckets: DURATION_BUCKETS,
        registers: [this.registry],
      }),
    );
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  /** A gauge read at each scrape from `read` (nothing is set while it gives undefined). */
  private measuredGauge(name: string, help: string, read: () => number | undefined): Gauge {
    const gauge: Gauge = new Gauge({
      name,
      help,
      registers: [this.registry],
      collect: () => {
        const value = read();
        if (value !== undefined) gauge.set(value);
      },
    });
    return gauge;
  }

  private counter<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
  ): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requestDuration.observe([method, route, String(status)], seconds);
  }

  /** Both labels are bounded: operations are the routes' operationIds, outcomes a fixed set. */
  observeUpstream(operation: string, outcome: string, seconds: number): void {
    this.upstreamDuration.observe([operation, outcome], seconds);
  }

  setBreakerState(state: BreakerState): void {
    this.breakerState.set(BREAKER_STATE_VALUE[state]);
  }

  countRateLimited(): void {
    this.rateLimited.inc();
  }

  countTokenReloadFailure(): void {
    this.tokenReloadFailures.inc();
  }

  setStoreDurable(durable: boolean): void {
    this.storeDurable.set(durable ? 1 : 0);
  }

  /** Read at each scrape: the store's size changes with every keyed request. */
  measureIdempotencyStore(bytes: () => number): void {
    this.storeBytesOf = bytes;
  }

  countIdempotencyRefusal(): void {
    this.storeRefusals.inc();
  }

  countAuthFailure(source: 'bff' | 'upstream'): void {
    this.authFailures.inc({ source });
  }

  /** Read at each scrape. */
  measureGlobalAuthFailures(spent: () => boolean): void {
    this.globalAuthFailuresSpent = spent;
  }

  countCallerRejection(
    reason: 'auth_failures' | 'auth_failures_global' | 'in_flight' | 'fair_share',
  ): void {
    this.callerRejections.inc({ reason });
  }

  setTokenExpiry(unixSeconds: number | undefined): void {
    if (unixSeconds === undefined) this.tokenExpiry.reset();
    else this.tokenExpiry.set(unixSeconds);
  }
}
