import { hash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from './problem';

/** Who is calling, as every caller-derived key (budgets, idempotency scope) sees them. */
export interface Caller {
  /** The client address, as a budget key (see addressKey). */
  readonly address: string;
  /** The caller's own key: their verified subject, else their bearer token, else their address. */
  readonly key: string;
  /** Whether `key` comes from a verified JWT or a session. */
  readonly verified: boolean;
  /** Sent upstream instead of the request's own Authorization: the session's (session mode). */
  readonly authorization?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by CallerGuard once the credential has been judged. */
    caller: Caller | null;
  }
}

// RFC 6750 section 2.1 and RFC 9110 section 11: the scheme is case-insensitive and may be followed
// by several spaces; the token is a b64token. Node has already trimmed the field value.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** The token of `Authorization: Bearer <token>` in any spelling, else undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
}

/** Hashed: keys may live in Redis, and a token must not. One-shot `hash()` is the cheapest. */
const digest = (text: string) => hash('sha256', text, 'base64url');

/**
 * An address as one budget: an IPv6 client is usually given a whole /64, so its /64 is the
 * address; an IPv4-mapped IPv6 address is its IPv4 address. Undefined for what is no address.
 */
export function addressKey(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  const address = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '').replace(/%.*$/, '');
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return undefined;
  const [head, tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  const groups = [...left, ...zeros, ...right].slice(0, 4);
  return `${groups.map((group) => parseInt(group, 16).toString(16)).join(':')}::/64`;
}

/**
 * The client address Fastify found (TRUST_PROXY) when it is one. An X-Forwarded-For entry that is
 * no IP address (which a client can write before a proxy that trusts its hops) is ignored: the
 * address is the nearest one in the chain, the proxy that handed it over.
 */
function clientAddressKey(request: FastifyRequest): string {
  const key = addressKey(clientAddress(request));
  if (key !== undefined) return key;
  // Rare: only when the chain ends with something that is no address.
  const chain = request.ips ?? [];
  for (let i = chain.length - 2; i >= 0; i -= 1) {
    const nearer = addressKey(chain[i]);
    if (nearer !== undefined) return nearer;
  }
  return 'unknown';
}

/** The caller of a verified JWT: refreshing the token keeps their budgets and their keys. */
export function subjectKey(issuer: string, subject: string): string {
  return `sub:${digest(JSON.stringify([issuer, subject]))}`;
}

/**
 * `request.ip`, read from the socket: a client that reset its connection after sending the whole
 * request has no address left. That is the client leaving (a 499), not a bug.
 */
function clientAddress(request: FastifyRequest): string {
  const ip = request.ip as string | undefined;
  if (ip === undefined) {
    throw new ProblemException('client-closed-request', 'The client closed the connection.');
  }
  return ip;
}

/** The caller as the request presents them, before any verification. */
export function callerOf(request: FastifyRequest): Caller {
  const address = clientAddressKey(request);
  const token = bearerToken(request.headers.authorization);
  const key = token === undefined ? `ip:${address}` : `token:${digest(token)}`;
  return { address, key, verified: false };
}

/** The key of everything that belongs to the caller (rate limit, idempotency scope). */
export function callerKey(request: FastifyRequest): string {
  return (request.caller ?? callerOf(request)).key;
}
