import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessLog, CLIENT_CLOSED_REQUEST } from '../observability/access-log';
import { PROBLEM_CONTENT_TYPE, PROBLEMS, ProblemException, ProblemKind } from './problem';

/** The kind for an HttpException that Fastify or Nest raised with only a status. */
const KIND_BY_STATUS: Readonly<Record<number, ProblemKind>> = Object.fromEntries(
  (
    [
      'malformed-request',
      'unauthorized',
      'not-found',
      'method-not-allowed',
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
 * Fastify's own errors (bad JSON, 413, 415, unknown route) and Nest's reach here as HttpException;
 * they get the same problem+json shape as ours. Anything else is a bug: 500, logged without the
 * object itself (an AxiosError would carry the tokens in its config).
 */
export function toProblemException(exception: unknown): ProblemException {
  if (exception instanceof ProblemException) return exception;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const kind = KIND_BY_STATUS[status] ?? (status >= 500 ? 'internal-error' : 'malformed-request');
    return new ProblemException(kind, exception.message, { status });
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
    // A 500 is the BFF's own bug (an unexpected exception, an upstream request it could not build).
    if (problem.problem.status === 500) {
      const error = exception instanceof Error ? exception : new Error(String(exception));
      request.log.error(
        { context: ProblemFilter.name, stack: error.stack },
        `Unhandled ${error.name}: ${error.message}`,
      );
    }
    if (reply.raw.destroyed) {
      // The caller is gone: nothing to answer, and Fastify will not call onResponse.
      this.accessLog.write(request, reply, CLIENT_CLOSED_REQUEST);
      return;
    }
    if (reply.sent) return;
    void reply
      .status(problem.problem.status)
      .headers(problem.headers)
      .type(PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify({ ...problem.problem, requestId: request.id }));
  }
}
