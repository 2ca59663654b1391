import type { FastifyInstance } from 'fastify';
import type { UpstreamCallRecord } from '../upstream/upstream.client';
import { MetricsService } from './metrics.service';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the proxied routes, for the access line. */
    upstreamCall: UpstreamCallRecord | null;
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** One access line and one histogram observation per request, written when the response is done. */
export function registerAccessLog(fastify: FastifyInstance, metrics: MetricsService): void {
  fastify.decorateRequest('upstreamCall', null);
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const durationMs = reply.elapsedTime;
    const upstream = request.upstreamCall;
    metrics.observeRequest(request.method, route, status, durationMs / 1000);
    request.log.info(
      {
        method: request.method,
        route,
        status,
        durationMs: round(durationMs),
        ...(upstream && {
          upstream: {
            outcome: upstream.outcome,
            status: upstream.status,
            durationMs: round(upstream.durationMs),
          },
        }),
      },
      'request completed',
    );
    done();
  });
}
