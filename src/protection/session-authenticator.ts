import type { FastifyRequest } from 'fastify';
import { ProblemException } from '../common/problem';

/** Who a valid session belongs to, and the access token the BFF spends on their behalf. */
export interface SessionCaller {
  readonly iss: string;
  readonly sub: string;
  readonly accessToken: string;
}

/**
 * A request refused in session mode: 403 without the CSRF header, 401 without a valid session.
 * `attempted` says whether a session cookie was presented (a forged or stale one counts against
 * the address like a rejected bearer token; no cookie at all is no attempt).
 */
export class SessionRefused extends ProblemException {
  constructor(
    kind: 'unauthorized' | 'session-ended' | 'forbidden',
    detail: string,
    readonly attempted: boolean,
  ) {
    super(kind, detail);
  }
}

/** What CallerGuard asks in session mode (`AUTH_MODE=session`); provided by the SessionModule. */
export interface SessionAuthenticator {
  /** The session's caller; throws SessionRefused, or a 503 problem when the store is unreachable. */
  authenticate(request: FastifyRequest): Promise<SessionCaller>;
}

export const SESSION_AUTHENTICATOR = Symbol('SESSION_AUTHENTICATOR');
