import { Global, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import Redis from 'ioredis';
import { APP_CONFIG, AppConfig, AppConfigShape } from '../config/app.config';
import { InjectRedis, REDIS } from './inject-redis';
import { RedisDurability } from './redis-durability';

export { InjectRedis, REDIS } from './inject-redis';

/**
 * The Redis connection when REDIS_URL is set (through Sentinel with REDIS_SENTINELS), else null.
 * Commands fail at once while it is down (no offline queue) so callers can answer 503 instead of
 * hanging; ioredis reconnects by itself.
 */
export function connectRedis({
  redisUrl: url,
  redisSentinel,
}: Pick<AppConfig, 'redisUrl' | 'redisSentinel'>): Redis | null {
  if (url === undefined) return null;
  const redis = new Redis(url, {
    // ioredis asks the sentinels for the primary at each (re)connection; the failover detector (a
    // subscription to the sentinels' +switch-master) also moves it off a primary demoted without
    // a crash, which would otherwise answer READONLY to every write.
    ...(redisSentinel && {
      sentinels: [...redisSentinel.sentinels],
      name: redisSentinel.name,
      failoverDetector: true,
      // Without it ioredis reaches the primary in clear even for a rediss:// URL.
      enableTLSForSentinelMode: url.startsWith('rediss://'),
      sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
    }),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.on('error', () => undefined); // reported by readiness, not as an unhandled error
  return redis;
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfigShape, true>): Redis | null =>
        connectRedis(config.getOrThrow(APP_CONFIG, { infer: true })),
    },
    RedisDurability,
  ],
  exports: [REDIS, RedisDurability],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@InjectRedis() private readonly redis: Redis | null) {}

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }
}
