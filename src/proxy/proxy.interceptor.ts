import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { map, Observable } from 'rxjs';
import type { Caller } from '../common/caller';
import { whenCallerLeaves } from '../common/caller-abort';
import { traceOf } from '../observability/tracing';
import { CallerBudgets } from '../protection/caller-budgets';
import { UpstreamClient, UpstreamReply } from '../upstream/upstream.client';
import { PROXIED_ROUTE, ProxiedRouteMetadata } from './proxied-route.metadata';

/**
 * Gives a proxied route's handler its `forward` (the upstream call with the caller's credentials,
 * the request id and the route's operation, within the caller's budgets), then relays the UpstreamReply the handler returns:
 * its status, back-off headers, content type and body, byte for byte.
 */
@Injectable()
export class ProxyInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly upstream: UpstreamClient,
    private readonly budgets: CallerBudgets,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler<UpstreamReply>): Observable<string> {
    const { operationId } = this.reflector.get<ProxiedRouteMetadata>(
      PROXIED_ROUTE,
      context.getHandler(),
    );
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    // CallerGuard ran before: the caller is known and the Authorization header well formed.
    const caller = request.caller as Caller;
    request.forward = (upstreamRequest, { outliveCaller = false } = {}) =>
      this.budgets.callUpstream(caller, () =>
        this.upstream.request(upstreamRequest, {
          operation: operationId,
          authorization: request.headers.authorization as string,
          requestId: request.id,
          trace: traceOf(request.raw),
          report: (call) => (request.upstreamCall = call),
          whenCallerLeaves: outliveCaller ? undefined : whenCallerLeaves(reply),
        }),
      );
    return next.handle().pipe(
      map((answer) => {
        void reply.status(answer.status).headers(answer.headers).type(answer.contentType);
        return answer.body;
      }),
    );
  }
}
