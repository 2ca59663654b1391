import type { CookieSerializeOptions } from '@fastify/cookie';

/** RFC 10017 section 6.1: `__Host-` (so Secure, Path=/ and no Domain), HttpOnly, SameSite=Strict. */
export const SESSION_COOKIE = '__Host-bff-session';
export const SESSION_COOKIE_OPTIONS: CookieSerializeOptions = {
  httpOnly: true,
  secure: true,
  sameSite: 'strict',
  path: '/',
};

/**
 * State, nonce and PKCE verifier between /bff/login and /bff/callback. Lax, since the provider's
 * redirect back is a cross-site navigation that a Strict cookie would not come back on.
 */
export const LOGIN_COOKIE = '__Host-bff-login';
export const LOGIN_TTL_S = 600;
export const LOGIN_COOKIE_OPTIONS: CookieSerializeOptions = {
  httpOnly: true,
  secure: true,
  sameSite: 'lax',
  path: '/',
};

/** The static custom header of RFC 10017's CSRF defence: a cross-site form or link cannot send it. */
export const CSRF_HEADER = 'x-csrf';
