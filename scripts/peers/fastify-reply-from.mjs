// Bench peer: a hand-tuned Node proxy, the "fastify + @fastify/reply-from" row. Fastify
// parses the JSON body and reply-from sends it upstream over undici and streams the answer back.
//   UPSTREAM_BASE_URL=http://127.0.0.1:4010 PORT=3001 node scripts/peers/fastify-reply-from.mjs
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';

const fastify = Fastify();

const ROUTE = '/interventions/v2/rs/preventive/routine';
fastify.register(replyFrom, { base: process.env.UPSTREAM_BASE_URL });
fastify.post(ROUTE, (_request, reply) => reply.from(ROUTE));
fastify.get('/health/ready', async () => ({ status: 'ok' }));
fastify.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.once('SIGTERM', () => fastify.close());
