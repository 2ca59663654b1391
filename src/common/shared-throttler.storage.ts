import { OnApplicationShutdown } from '@nestjs/common';
import { ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type Redis from 'ioredis';

type Increment = ThrottlerStorage['increment'];

/**
 * Rate-limit counters in Redis when there is one, so limits hold across replicas. While Redis is
 * down, each replica counts on its own: a degraded limit beats failing every request.
 */
export class SharedThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly local = new ThrottlerStorageService();
  private readonly shared?: ThrottlerStorageRedisService;

  constructor(private readonly redis: Redis | null) {
    if (redis) this.shared = new ThrottlerStorageRedisService(redis);
  }

  async increment(...args: Parameters<Increment>): ReturnType<Increment> {
    if (this.shared && this.redis?.status === 'ready') {
      try {
        return await this.shared.increment(...args);
      } catch {
        // fall through to the local count
      }
    }
    return this.local.increment(...args);
  }

  onApplicationShutdown(): void {
    this.local.onApplicationShutdown();
  }
}
