import { Injectable, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { MetricsService } from '../observability/metrics.service';
import { InjectRootLogger } from '../observability/root-logger';
import { InjectRedis } from './inject-redis';

/**
 * From `INFO persistence`, since managed Redis services refuse CONFIG: durable when AOF is on. An
 * RDB snapshot does not count: every key written since the last one is lost in a restart, and a
 * past snapshot says nothing of the next.
 */
export function persistsKeys(info: string): boolean {
  return /^aof_enabled:1\r?$/m.test(info);
}

/**
 * Whether the idempotency records would survive a restart of Redis: checked at start and on each
 * reconnect (a restarted Redis may come back with another configuration).
 */
@Injectable()
export class RedisDurability implements OnModuleInit {
  private readonly logger: Logger;
  /** Undefined until Redis has answered since it last (re)connected, and always without Redis. */
  durable?: boolean;
  /** What the last check found: a warning is logged once per change, not once per reconnect. */
  private found?: boolean;

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
    // A Redis that comes back may come back without its AOF: unknown until INFO says.
    redis.on('close', () => (this.durable = undefined));
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
    if (!durable && this.found !== false) {
      this.logger.warn(
        'Redis keeps no AOF: idempotency keys written since its last snapshot are lost when it restarts; run it with --appendonly yes',
      );
    }
    this.durable = this.found = durable;
  }
}
