import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Whether the caller's connection is gone. The socket is destroyed as soon as its reset is read;
 * the response's `close` comes a turn later, and a reply written meanwhile is silently dropped
 * (no `finish`, so no onResponse).
 */
export function clientGone(request: FastifyRequest): boolean {
  return request.raw.socket?.destroyed !== false;
}

/**
 * Registers `abort` to run if the caller's connection closes before the reply was written:
 * nobody is waiting any more. At once if it has already closed.
 */
export function whenCallerLeaves(
  request: FastifyRequest,
  reply: FastifyReply,
): (abort: () => void) => void {
  return (abort) => {
    if (clientGone(request)) return abort();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort();
    });
  };
}
