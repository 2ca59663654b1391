import type { FastifyInstance } from 'fastify';
import type { AccessLog } from '../observability/access-log';
import type { UpstreamReply } from '../upstream/upstream.client';

const bodyOf = (answer: UpstreamReply) => answer.body;

/**
 * Relays what a proxied route's handler returns, the UpstreamReply its `forward` resolved to: its
 * status, back-off headers, content type and body, byte for byte. A Fastify hook rather than a Nest
 * interceptor (see Upstream); it runs only for object answers, and acts only on proxied routes.
 */
export function relayUpstreamReplies(fastify: FastifyInstance, accessLog: AccessLog): void {
  fastify.addHook('preSerialization', (request, reply, payload: unknown, done) => {
    const answer = payload as UpstreamReply;
    // Only what a `forward` resolved to: another object (a problem sent by a filter) is left alone.
    if (request.forward === null || typeof answer.body !== 'string') return done(null, payload);
    // A keyed call outlives its caller (the retry collects its answer): Fastify's write to a reset
    // socket is dropped, and only this 499 line tells of it.
    accessLog.clientClosed(request, reply);
    void reply
      .status(answer.status)
      .headers(answer.headers)
      .type(answer.contentType)
      .serializer(bodyOf);
    done(null, answer);
  });
}
