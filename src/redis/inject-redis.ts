import { Inject } from '@nestjs/common';

export const REDIS = Symbol('REDIS');
/** The Redis connection when REDIS_URL is set, else null (see RedisModule). */
export const InjectRedis = () => Inject(REDIS);
