import { CanActivate, ExecutionContext, Inject, Injectable, Optional } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, Caller, callerOf, subjectKey } from '../common/caller';
import { ProblemException } from '../common/problem';
import { CallerBudgets, rateLimitHeaders } from './caller-budgets';
import { InvalidToken, JwtVerifier } from './jwt-verifier';
import {
  SESSION_AUTHENTICATOR,
  SessionAuthenticator,
  SessionRefused,
} from './session-authenticator';

function unauthorized(authorization: string | undefined): ProblemException {
  return new ProblemException(
    'unauthorized',
    authorization === undefined
      ? 'An Authorization header with a Bearer token is required.'
      : 'The Authorization header must be of the form "Bearer <token>".',
    {
      headers: {
        'WWW-Authenticate':
          authorization === undefined ? 'Bearer' : 'Bearer error="invalid_request"',
      },
    },
  );
}

const invalidToken = () =>
  new ProblemException('unauthorized', 'The bearer token is not valid.', {
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
  });

/**
 * Who may spend the session token, in this order: the address's request budget (whatever
 * credential is claimed, so rotating tokens cannot escape it; requests without any credential
 * have a budget of their own); the credential, verified when JWT verification is on (the form
 * only otherwise: the upstream judges the token); the budget of failed authentications, before
 * anything reaches the upstream; then the caller's own budget. The address's budgets never refuse
 * a known-good credential (one that succeeded recently, or a verified JWT). In session mode the
 * credential is the session cookie with the `X-CSRF: 1` header instead, and a valid session is
 * known-good.
 */
@Injectable()
export class CallerGuard implements CanActivate {
  constructor(
    private readonly budgets: CallerBudgets,
    private readonly verifier: JwtVerifier,
    @Optional()
    @Inject(SESSION_AUTHENTICATOR)
    private readonly sessions: SessionAuthenticator | null = null,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const claimed = callerOf(request);
    const { authorization } = request.headers;
    // In session mode the browser never sends a credential of its own: the cookie is judged below.
    if (this.sessions === null && authorization === undefined) {
      // No attempt at a credential: it cannot use up what callers with one may spend.
      const left = await this.budgets.spendAddressRequestWithoutCredential(claimed);
      void reply.headers(rateLimitHeaders([left]));
      if (left?.refusal !== undefined) throw this.budgets.refused(left.refusal);
      await this.budgets.checkAuthFailures(claimed);
      throw unauthorized(authorization);
    }
    const address = await this.budgets.spendAddressRequest(claimed);
    let caller: Caller;
    let own: Awaited<ReturnType<CallerBudgets['spendCallerRequest']>>;
    try {
      if (this.sessions !== null) {
        caller = await this.authenticateSession(this.sessions, request, claimed, address?.refusal);
      } else {
        if (address?.refusal !== undefined && !(await this.knownGood(request, claimed))) {
          throw this.budgets.refused(address.refusal);
        }
        caller = await this.authenticate(request, claimed);
      }
      own = await this.budgets.spendCallerRequest(caller);
    } catch (error) {
      // Every answer past a budget says where the client stands, a 401 included.
      void reply.headers(rateLimitHeaders([address]));
      throw error;
    }
    void reply.headers(rateLimitHeaders([address, own]));
    request.caller = caller;
    return true;
  }

  /** Only past an address's budget: whether the credential is one its neighbours cannot lock out. */
  private async knownGood(request: FastifyRequest, claimed: Caller): Promise<boolean> {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) return false;
    if (!this.verifier.enabled) return this.budgets.knownGood.known(claimed);
    try {
      await this.verifier.subjectKeyOf(token, claimed.key);
      return true;
    } catch {
      return false;
    }
  }

  private async authenticate(request: FastifyRequest, claimed: Caller): Promise<Caller> {
    const { authorization } = request.headers;
    const token = bearerToken(authorization);
    let caller: Caller | undefined;
    let rejection: ProblemException | undefined;
    if (token === undefined) rejection = unauthorized(authorization);
    else if (!this.verifier.enabled) caller = claimed;
    else {
      try {
        caller = {
          ...claimed,
          key: await this.verifier.subjectKeyOf(token, claimed.key),
          verified: true,
        };
      } catch (error) {
        if (!(error instanceof InvalidToken)) throw error;
        rejection = invalidToken();
      }
    }
    // Past the budget, the address learns nothing more about credentials until its window ends.
    await this.budgets.checkAuthFailures(caller ?? claimed);
    if (rejection === undefined) return caller as Caller;
    // A token the verification refused is a credential tried; a malformed header is not.
    await this.budgets.countAuthFailure(claimed, 'bff', token !== undefined);
    throw rejection;
  }

  /**
   * A valid session is the session mode's known-good credential: it came from a login at the
   * provider, so the budgets of its address (spent by whoever else is there) never refuse it.
   * Anything else meets them as a bearer token would.
   */
  private async authenticateSession(
    sessions: SessionAuthenticator,
    request: FastifyRequest,
    claimed: Caller,
    addressRefusal: ProblemException | undefined,
  ): Promise<Caller> {
    let session: Awaited<ReturnType<SessionAuthenticator['authenticate']>>;
    try {
      session = await sessions.authenticate(request);
    } catch (error) {
      if (!(error instanceof SessionRefused)) throw error;
      if (addressRefusal !== undefined) throw this.budgets.refused(addressRefusal);
      await this.budgets.checkAuthFailures(claimed);
      // A refused cookie counts against its address; never against the global budget, which
      // guards what reaches the upstream: a session refused here never does.
      if (error.attempted) await this.budgets.countAuthFailure(claimed, 'bff', false);
      throw error;
    }
    return {
      address: claimed.address,
      key: subjectKey(session.iss, session.sub),
      verified: true,
      authorization: `Bearer ${session.accessToken}`,
    };
  }
}
