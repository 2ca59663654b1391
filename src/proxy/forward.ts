import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { UpstreamReply, UpstreamRequest } from '../upstream/upstream.client';

export interface ForwardOptions {
  /**
   * Keep the upstream call running when the caller goes away, so that a retry can collect its
   * answer. Without it, the call is aborted: nobody is left to receive the answer.
   */
  readonly outliveCaller?: boolean;
}

/** Sends one request upstream on behalf of the current caller and resolves to what it answered. */
export type Forward = (
  request: UpstreamRequest,
  options?: ForwardOptions,
) => Promise<UpstreamReply>;

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by ProxyInterceptor (and wrapped by IdempotencyInterceptor) on proxied routes. */
    forward: Forward | null;
  }
}

/** The handler parameter that forwards upstream: `@Upstream() forward: Forward`. */
export const Upstream = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const { forward } = context.switchToHttp().getRequest<FastifyRequest>();
  if (!forward) throw new Error('@Upstream() is only available on a @ProxiedRoute()');
  return forward;
});
