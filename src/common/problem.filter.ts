import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { traceOf } from '../observability/tracing';
import { AccessLog } from '../observability/access-log';
import { PROBLEM_CONTENT_TYPE, PROBLEMS, ProblemException, ProblemKind } from './problem';

/** The kind for an HttpException that Fastify or Nest raised with only a status. */
const KIND_BY_STATUS: Readonly<Record<number, ProblemKind>> = Object.fromEntries(
  (
    [
      'malformed-request',
      'unauthorized',
      'forbidden',
      'not-found',
      'request-timeout',
      'payload-too-large',
      'unsupported-media-type',
      'too-many-requests',
      'header-fields-too-large',
      'internal-error',
      'bad-gateway',
      'upstream-unavailable',
      'gateway-timeout',
    ] as const
  ).map((kind) => [PROBLEMS[kind].status, kind]),
);

/**
 * The status of an HttpException, or of a client error that Nest passes on unwrapped because it is
 * not a FastifyError: @fastify/static's 403 for a path like `/docs/%2e%2e/x`, the 400 Fastify gives
 * a body the client stopped sending. Those are the client's doing, not a bug.
 */
function statusOf(exception: unknown): number | undefined {
  if (exception instanceof HttpException) return exception.getStatus();
  const status = (exception as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/**
 * Fastify's own errors (bad JSON, 413, 415, unknown route) and Nest's reach here as HttpException;
 * they get the same problem+json shape as ours. Anything else is a bug: 500, logged without the
 * object itself (an AxiosError would carry the tokens in its config).
 */
export function toProblemException(exception: unknown): ProblemException {
  if (exception instanceof ProblemException) return exception;
  const status = statusOf(exception);
  if (status !== undefined) {
    const kind = KIND_BY_STATUS[status] ?? (status >= 500 ? 'internal-error' : 'malformed-request');
    return new ProblemException(kind, String((exception as Error).message), { status });
  }
  return new ProblemException('internal-error', 'An unexpected error occurred.');
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly accessLog: AccessLog) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = toProblemException(exception);
    const trace = traceOf(request.raw);
    // What the caller was told, on the server span: a 401, a 429 or a validation failure by name.
    trace.span?.setAttribute('bff.problem', problem.problem.type);
    // A 500 is the BFF's own bug (an unexpected exception, an upstream request it could not build).
    if (problem.problem.status === 500) {
      const error = exception instanceof Error ? exception : new Error(String(exception));
      request.log.error(
        { context: ProblemFilter.name, stack: error.stack },
        `Unhandled ${error.name}: ${error.message}`,
      );
    }
    if (this.accessLog.clientClosed(request, reply) || reply.sent) return;
    sendProblem(request, reply, problem);
  }
}

/** Also for the URLs Fastify refuses before any route or filter runs (`/docs/%`). */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  problem: ProblemException,
): void {
  void reply
    .status(problem.problem.status)
    .headers(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(
      JSON.stringify({
        ...problem.problem,
        requestId: request.id,
        traceId: traceOf(request.raw).traceId,
      }),
    );
}
