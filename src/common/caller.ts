import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/** A caller is their bearer token (hashed: the key may live in Redis), else their address. */
export function callerKey(request: FastifyRequest): string {
  const { authorization } = request.headers;
  return authorization
    ? `token:${createHash('sha256').update(authorization).digest('base64url')}`
    : `ip:${request.ip}`;
}
