import type { FastifyReply } from 'fastify';

/**
 * Registers `abort` to run if the caller's connection closes before the reply was written:
 * nobody is waiting any more.
 */
export function whenCallerLeaves(reply: FastifyReply): (abort: () => void) => void {
  return (abort) =>
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort();
    });
}
