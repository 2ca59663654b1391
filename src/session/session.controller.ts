import { Controller, Get, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as oidc from 'openid-client';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape, SessionConfig } from '../config/app.config';
import { AddressBudgetGuard } from '../protection/address-budget.guard';
import {
  LOGIN_COOKIE,
  LOGIN_COOKIE_OPTIONS,
  LOGIN_TTL_S,
  SESSION_COOKIE,
  SESSION_COOKIE_OPTIONS,
} from './cookies';
import { LoginFailed, OidcClient } from './oidc-client';
import { localReturnTo } from './return-to';
import { Sessions } from './sessions';
import {
  ApiCallback,
  ApiLogin,
  ApiLogout,
  ApiSessionEndpoint,
  ApiUser,
  LogoutDto,
  UserDto,
} from './session.api';

/** OAuth error codes are ASCII without quotes or backslashes (RFC 6749 appendix A.7). */
const OAUTH_ERROR = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

/** The four endpoints of the session mode: log in, come back from the provider, who am I, log out. */
@ApiTags('Session')
@Controller('bff')
@UseGuards(AddressBudgetGuard)
@ApiSessionEndpoint()
export class SessionController {
  private readonly settings: SessionConfig;
  private readonly origin: string;

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    private readonly client: OidcClient,
    private readonly sessions: Sessions,
  ) {
    const app = config.getOrThrow(APP_CONFIG, { infer: true });
    this.settings = app.session as SessionConfig;
    this.origin = new URL(this.settings.redirectUri).origin;
  }

  @Get('login')
  @ApiLogin()
  async login(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const returnTo = localReturnTo(
      (request.query as Record<string, unknown>).returnTo,
      this.origin,
    );
    if (returnTo === undefined) {
      throw new ProblemException(
        'malformed-request',
        'returnTo must be a path on this site, such as /docs.',
      );
    }
    const checks = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
    };
    const url = await this.client.authorizationUrl(checks);
    void reply
      .setCookie(LOGIN_COOKIE, this.sessions.sealLogin(checks, returnTo), {
        ...LOGIN_COOKIE_OPTIONS,
        maxAge: LOGIN_TTL_S,
      })
      .header('Cache-Control', 'no-store')
      .redirect(url, 302);
  }

  @Get('callback')
  @ApiCallback()
  async callback(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    // Used once, whatever the outcome.
    void reply.setCookie(LOGIN_COOKIE, '', { ...LOGIN_COOKIE_OPTIONS, maxAge: 0 });
    const login = this.sessions.openLogin(request.cookies[LOGIN_COOKIE]);
    if (login === undefined) {
      throw new LoginFailed(
        'No login in progress in this browser, or it took over 10 minutes: start again at /bff/login.',
      );
    }
    const { error } = request.query as Record<string, unknown>;
    if (error !== undefined) {
      const code = typeof error === 'string' && OAUTH_ERROR.test(error) ? error : 'invalid';
      throw new LoginFailed(`The identity provider refused the login (${code}).`);
    }
    const query = request.url.indexOf('?');
    const callbackUrl = new URL(this.settings.redirectUri);
    callbackUrl.search = query === -1 ? '' : request.url.slice(query);
    const id = await this.sessions.create(await this.client.login(callbackUrl, login));
    void reply
      .setCookie(SESSION_COOKIE, id, SESSION_COOKIE_OPTIONS)
      .header('Cache-Control', 'no-store')
      .redirect(login.returnTo, 302);
  }

  @Get('user')
  @ApiUser()
  async user(@Req() request: FastifyRequest): Promise<UserDto> {
    const { record } = await this.sessions.current(request);
    return {
      sub: record.sub,
      ...(record.name !== undefined && { name: record.name }),
      ...(record.email !== undefined && { email: record.email }),
      sessionExpiresAt: this.sessions.expiresAt(record).toISOString(),
    };
  }

  @Post('logout')
  @HttpCode(200)
  @ApiLogout()
  async logout(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<LogoutDto> {
    const { key, record } = await this.sessions.current(request);
    await this.sessions.end(key, 'logout');
    void reply.setCookie(SESSION_COOKIE, '', { ...SESSION_COOKIE_OPTIONS, maxAge: 0 });
    if (record.refreshToken !== undefined) await this.client.revoke(record.refreshToken);
    return { endSessionUrl: await this.client.endSessionUrl(record.idToken) };
  }
}
