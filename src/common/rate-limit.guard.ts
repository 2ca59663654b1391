import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { MetricsService } from '../observability/metrics.service';
import { callerKey } from './caller';
import { ProblemException } from './problem';

/**
 * @nestjs/throttler, answering in the problem shape with Retry-After and the
 * draft-ietf-httpapi-ratelimit-headers fields (structured-field form).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly metrics: MetricsService,
  ) {
    super(options, storage, reflector);
  }

  protected override getTracker(request: Record<string, unknown>): Promise<string> {
    return Promise.resolve(callerKey(request as unknown as FastifyRequest));
  }

  /** The tracker is already a hash or an address: no second SHA-256 per request. One budget per caller, whatever the route. */
  protected override generateKey(
    _context: ExecutionContext,
    tracker: string,
    name: string,
  ): string {
    return `${name}:${tracker}`;
  }

  protected override throwThrottlingException(
    _context: ExecutionContext,
    { limit, ttl, timeToBlockExpire }: ThrottlerLimitDetail,
  ): Promise<void> {
    this.metrics.countRateLimited();
    const wait = String(Math.max(1, timeToBlockExpire));
    throw new ProblemException(
      'too-many-requests',
      `More than ${limit} requests per ${ttl / 1000} s; retry in ${wait} s.`,
      {
        headers: {
          'Retry-After': wait,
          'RateLimit-Policy': `"per-caller";q=${limit};w=${ttl / 1000}`,
          RateLimit: `"per-caller";r=0;t=${wait}`,
        },
      },
    );
  }
}
