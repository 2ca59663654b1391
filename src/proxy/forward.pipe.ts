import { Injectable, PipeTransform } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Caller } from '../common/caller';
import { whenCallerLeaves } from '../common/caller-abort';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { traceOf } from '../observability/tracing';
import { CallerBudgets } from '../protection/caller-budgets';
import { UpstreamClient } from '../upstream/upstream.client';
import type { Forward, ForwardTarget } from './forward';
import { IDEMPOTENT, idempotentForward } from './idempotent';
import { PROXIED_ROUTE, ProxiedRouteMetadata } from './proxied-route.metadata';

interface RouteSettings {
  readonly operationId: string;
  readonly idempotent: boolean;
}

/**
 * Gives a proxied route's handler its `forward`: the upstream call with the caller's credentials,
 * the request id and the route's operation, within the caller's budgets, and with Idempotency-Key
 * on a route marked @Idempotent(). CallerGuard ran before: the caller is known and the
 * Authorization header well formed.
 */
@Injectable()
export class ForwardPipe implements PipeTransform<ForwardTarget, Forward> {
  /** A route's metadata, read once per handler rather than on every request. */
  private readonly routes = new WeakMap<object, RouteSettings>();

  constructor(
    private readonly reflector: Reflector,
    private readonly upstream: UpstreamClient,
    private readonly budgets: CallerBudgets,
    private readonly idempotency: IdempotencyService,
  ) {}

  transform({ request, reply, handler }: ForwardTarget): Forward {
    const { operationId, idempotent } = this.settingsOf(handler);
    const caller = request.caller as Caller;
    const forward: Forward = (upstreamRequest, { outliveCaller = false } = {}) =>
      this.budgets.callUpstream(caller, () =>
        this.upstream.request(upstreamRequest, {
          operation: operationId,
          authorization: caller.authorization ?? (request.headers.authorization as string),
          requestId: request.id,
          trace: traceOf(request.raw),
          report: (call) => (request.upstreamCall = call),
          whenCallerLeaves: outliveCaller ? undefined : whenCallerLeaves(request, reply),
        }),
      );
    request.forward = idempotent
      ? idempotentForward(this.idempotency, request, reply, forward)
      : forward;
    return request.forward;
  }

  private settingsOf(handler: object): RouteSettings {
    let settings = this.routes.get(handler);
    if (settings === undefined) {
      const target = handler as () => unknown;
      const route = this.reflector.get<ProxiedRouteMetadata | undefined>(PROXIED_ROUTE, target);
      if (route === undefined)
        throw new Error('@Upstream() is only available on a @ProxiedRoute()');
      settings = {
        operationId: route.operationId,
        idempotent: this.reflector.get<boolean>(IDEMPOTENT, target) === true,
      };
      this.routes.set(handler, settings);
    }
    return settings;
  }
}
