import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { UpstreamReply, UpstreamRequest } from '../upstream/upstream.client';
import { ForwardPipe } from './forward.pipe';

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
    /** The `forward` ForwardPipe gave this request's handler; null off the proxied routes. */
    forward: Forward | null;
  }
}

/** What ForwardPipe binds a `forward` to: the request, its reply and the route's handler. */
export interface ForwardTarget {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  /** Carries the route's @ProxiedRoute() and @Idempotent() metadata. */
  readonly handler: object;
}

const ForwardTargetParam = createParamDecorator(
  (_data: unknown, context: ExecutionContext): ForwardTarget => {
    const http = context.switchToHttp();
    return {
      request: http.getRequest<FastifyRequest>(),
      reply: http.getResponse<FastifyReply>(),
      handler: context.getHandler(),
    };
  },
);

/**
 * The handler parameter that forwards upstream: `@Upstream() forward: Forward`. A pipe rather than
 * an interceptor builds it: Nest runs a route with interceptors through several rxjs Observables
 * and async resources per request (~12% of the BFF's CPU, measured), a pipe is one call.
 */
export const Upstream = (): ParameterDecorator => ForwardTargetParam(undefined, ForwardPipe);
