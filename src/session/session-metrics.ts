import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { MetricsService } from '../observability/metrics.service';

/** Why a session ended, when the BFF ends it (timeouts end sessions in the store by themselves). */
export type SessionEndReason = 'logout' | 'backchannel_logout' | 'refresh_refused';

/** How a refresh-token grant went: new tokens, refused by the provider, or the provider unreachable. */
export type RefreshOutcome = 'refreshed' | 'refused' | 'unavailable';

/** The session mode's metrics, on the application's registry (GET /metrics). */
@Injectable()
export class SessionMetrics {
  private readonly created: Counter;
  private readonly ended: Counter<'reason'>;
  private readonly refreshes: Counter<'outcome'>;

  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {
    const registers = [metrics.registry];
    this.created = new Counter({
      name: 'sessions_created_total',
      help: 'Sessions created at a login callback.',
      registers,
    });
    this.ended = new Counter({
      name: 'sessions_ended_total',
      help: 'Sessions the BFF ended, by reason: logout (POST /bff/logout), backchannel_logout (the provider), refresh_refused (invalid_grant).',
      labelNames: ['reason'],
      registers,
    });
    this.refreshes = new Counter({
      name: 'session_refreshes_total',
      help: 'Refresh-token grants of sessions, by outcome: refreshed, refused (the session ended), unavailable (provider unreachable, session kept).',
      labelNames: ['outcome'],
      registers,
    });
  }

  countCreated(): void {
    this.created.inc();
  }

  countEnded(reason: SessionEndReason): void {
    this.ended.inc({ reason });
  }

  countRefresh(outcome: RefreshOutcome): void {
    this.refreshes.inc({ outcome });
  }

  /**
   * Live sessions, read at each scrape; only a store in this process can count them (Redis would
   * need a scan of its keyspace), so the gauge exists with the in-memory store only.
   */
  measureActive(count: () => number): void {
    const gauge: Gauge = new Gauge({
      name: 'sessions_active',
      help: 'Live sessions in this process (in-memory store only: absent with REDIS_URL).',
      registers: [this.metrics.registry],
      collect: () => gauge.set(count()),
    });
  }
}
