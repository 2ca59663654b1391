import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerRequest,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MetricsService } from '../observability/metrics.service';
import { callerKey } from './caller';
import { ProblemException } from './problem';

/**
 * @nestjs/throttler, with the draft-ietf-httpapi-ratelimit-headers fields (structured-field form)
 * on every answer it lets through, and a 429 in the problem shape with Retry-After.
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

  /**
   * The base class's handling, minus the options this guard does not use (user-agent skips,
   * X-RateLimit-* headers): every answer that gets past here says where the caller stands, and
   * a 429 also says when to come back.
   */
  protected override async handleRequest({
    context,
    limit,
    ttl,
    throttler,
    blockDuration,
    getTracker,
    generateKey,
  }: ThrottlerRequest): Promise<boolean> {
    const { req, res } = this.getRequestResponse(context);
    const name = throttler.name as string; // set by the base class's onModuleInit
    const key = generateKey(context, await getTracker(req, context), name);
    const { totalHits, timeToExpire, isBlocked, timeToBlockExpire } =
      await this.storageService.increment(key, ttl, limit, blockDuration, name);
    const window = ttl / 1000;
    const policy = `"per-caller";q=${limit};w=${window}`;
    if (isBlocked) {
      this.metrics.countRateLimited();
      const wait = String(Math.max(1, timeToBlockExpire));
      throw new ProblemException(
        'too-many-requests',
        `More than ${limit} requests per ${window} s; retry in ${wait} s.`,
        {
          headers: {
            'Retry-After': wait,
            'RateLimit-Policy': policy,
            RateLimit: `"per-caller";r=0;t=${wait}`,
          },
        },
      );
    }
    void (res as FastifyReply).headers({
      'RateLimit-Policy': policy,
      RateLimit: `"per-caller";r=${limit - totalHits};t=${timeToExpire}`,
    });
    return true;
  }
}
