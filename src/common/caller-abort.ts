import type { FastifyReply } from 'fastify';

/** Aborts when the caller's connection closes before the reply was written: nobody is waiting any more. */
export function callerAbortSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
