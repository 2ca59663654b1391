import { Injectable, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { MetricsService } from '../observability/metrics.service';
import { InjectRootLogger } from '../observability/root-logger';
import { InjectRedis } from './redis.module';

/**
 * From `INFO persistence`, since managed Redis services refuse CONFIG: durable when AOF is on, or
 * when an RDB snapshot has been written since Redis started. INFO does not show RDB's `save`
 * schedule, so an RDB-only server counts as durable only once it has saved.
 */
export function persistsKeys(info: string): boolean {
  const field = (name: string) => new RegExp(`^${name}:(\\S*)`, 'm').exec(info)?.[1];
  return field('aof_enabled') === '1' || (field('rdb_last_bgsave_time_sec') ?? '-1') !== '-1';
}

/**
 * Whether the idempotency records would survive a restart of Redis: checked at start and on each
 * reconnect (a restarted Redis may come back with another configuration).
 */
@Injectable()
export class RedisDurability implements OnModuleInit {
  private readonly logger: Logger;
  /** Undefined until Redis has answered, and always without Redis. */
  durable?: boolean;

  constructor(
    @InjectRedis() private readonly redis: Redis | null,
    private readonly metrics: MetricsService,
    @InjectRootLogger() rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ context: 'RedisDurability' });
  }

  onModuleInit(): void {
    // The in-process store dies with the process.
    this.metrics.setStoreDurable(false);
    const redis = this.redis;
    if (redis === null) return;
    redis.on('ready', () => void this.check(redis));
    if (redis.status === 'ready') void this.check(redis);
  }

  private async check(redis: Redis): Promise<void> {
    let info: string;
    try {
      info = await redis.info('persistence');
    } catch {
      return; // gone again: the next 'ready' checks
    }
    const durable = persistsKeys(info);
    this.metrics.setStoreDurable(durable);
    if (!durable && this.durable !== false) {
      this.logger.warn(
        'Redis persists nothing (no AOF, no RDB snapshot): idempotency keys are lost when it restarts; run it with --appendonly yes',
      );
    }
    this.durable = durable;
  }
}
