import { Injectable } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { clientGone } from '../common/caller-abort';
import { MetricsService } from './metrics.service';
import { InjectRootLogger } from './root-logger';
import { traceOf, Tracing } from './tracing';

/** What the access line records of a request's upstream call; the upstream client fills it in. */
export interface UpstreamCallRecord {
  readonly outcome: string;
  readonly status?: number;
  readonly durationMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the proxied routes, for the access line. */
    upstreamCall: UpstreamCallRecord | null;
    /** Whether the access line is written: a request has one, whichever way it ended. */
    accessLogged: boolean;
  }
}

/** nginx's convention for "the client went away before the answer". */
export const CLIENT_CLOSED_REQUEST = 499;

const round = (ms: number) => Math.round(ms * 100) / 100;

/** One access line and one histogram observation per request. */
@Injectable()
export class AccessLog {
  /**
   * The access line is built here from the BFF's own values, never a header or a body, so it skips
   * the root logger's redaction: its wildcard path (`*.token`) cloned the line's `upstream` object
   * on every request (~3 KB and the costliest part of the line, measured). The request's bindings
   * (request and trace ids) are written as fields instead.
   */
  private readonly lines: Logger;

  constructor(
    private readonly metrics: MetricsService,
    private readonly tracing: Tracing,
    @InjectRootLogger() rootLogger: Logger,
  ) {
    this.lines = rootLogger.child({}, { redact: [] });
  }

  register(fastify: FastifyInstance): void {
    fastify.decorateRequest('upstreamCall', null);
    fastify.decorateRequest('accessLogged', false);
    fastify.addHook('onResponse', (request, reply, done) => {
      this.write(request, reply, reply.statusCode);
      done();
    });
  }

  /**
   * Fastify runs onResponse only for a response that finished. A client that resets its connection
   * right after sending its request leaves two other endings, each a 499 line:
   * - the answer is written before Node has read the reset: the write fails, the response closes
   *   unfinished (this listener, added by the first onRequest hook);
   * - the answer comes after: `clientClosed`, called where a proxied route answers (the exception
   *   filter, the relay), since Node drops a write to a reset socket without a word.
   */
  follow(request: FastifyRequest, reply: FastifyReply): void {
    reply.raw.on('close', () => {
      if (reply.sent && !reply.raw.writableFinished && !request.accessLogged)
        this.write(request, reply, CLIENT_CLOSED_REQUEST);
    });
  }

  /** Whether the caller is gone, its 499 line then written: nothing is left to answer. */
  clientClosed(request: FastifyRequest, reply: FastifyReply): boolean {
    if (!clientGone(request)) return false;
    this.write(request, reply, CLIENT_CLOSED_REQUEST);
    return true;
  }

  private write(request: FastifyRequest, reply: FastifyReply, status: number): void {
    request.accessLogged = true;
    const route = request.routeOptions.url ?? 'unmatched';
    const durationMs = reply.elapsedTime;
    const upstream = request.upstreamCall;
    this.metrics.observeRequest(request.method, route, status, durationMs / 1000);
    const trace = traceOf(request.raw);
    if (trace.span) {
      this.tracing.end(trace, route, status, {
        'http.request.method': request.method,
        'url.scheme': request.protocol,
        'client.address': request.ip,
        'server.address': request.hostname,
        ...(request.port !== null && { 'server.port': request.port }),
      });
    }
    this.lines.info(
      {
        requestId: request.id,
        trace_id: trace.traceId,
        span_id: trace.spanId,
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
  }
}
