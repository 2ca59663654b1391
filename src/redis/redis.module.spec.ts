import type Redis from 'ioredis';
import { connectRedis } from './redis.module';

describe('connectRedis', () => {
  // Closed loopback ports: the connections fail at once and are retried in the background.
  const sentinel = { name: 'mymaster', sentinels: [{ host: '127.0.0.1', port: 9 }] };
  const opened: Redis[] = [];
  afterAll(() => opened.forEach((redis) => redis.disconnect()));
  const connect = (redisUrl: string, redisSentinel?: typeof sentinel) => {
    const redis = connectRedis({ redisUrl, redisSentinel }) as Redis;
    opened.push(redis);
    return redis;
  };

  it('is null without REDIS_URL', () => {
    expect(connectRedis({ redisUrl: undefined, redisSentinel: undefined })).toBeNull();
  });

  it('through Sentinel, reaches the primary over TLS when REDIS_URL is rediss:// (ioredis would not by itself)', () => {
    const tls = connect('rediss://:pw@primary', sentinel);
    expect(tls.options).toMatchObject({
      sentinels: sentinel.sentinels,
      name: 'mymaster',
      enableTLSForSentinelMode: true,
      password: 'pw',
    });
    expect(connect('redis://primary', sentinel).options.enableTLSForSentinelMode).toBe(false);
  });

  it('without Sentinel, connects to the URL itself', () => {
    const direct = connect('redis://127.0.0.1:9/2');
    expect(direct.options).toMatchObject({ host: '127.0.0.1', port: 9, db: 2 });
    expect(direct.options.sentinels).toBeFalsy();
  });
});
