import { hash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/**
 * A caller is their bearer token (hashed: the key may live in Redis), else their address.
 * One-shot `hash()`: a Hash object per request costs over twice as much.
 */
export function callerKey(request: FastifyRequest): string {
  const { authorization } = request.headers;
  return authorization ? `token:${hash('sha256', authorization, 'base64url')}` : `ip:${request.ip}`;
}
