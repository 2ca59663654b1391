import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from './problem';

// RFC 6750 section 2.1: the scheme is case-insensitive, the token is a b64token.
const BEARER = /^Bearer +[A-Za-z0-9\-._~+/]+=*$/i;

/**
 * Only checks the form: the caller's token is the upstream's to judge, and it is forwarded as is.
 * Rejecting a malformed one here saves an upstream call that could only fail.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const { authorization } = context.switchToHttp().getRequest<FastifyRequest>().headers;
    if (authorization !== undefined && BEARER.test(authorization)) return true;
    throw new ProblemException(
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
}
