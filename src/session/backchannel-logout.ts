import { hash } from 'node:crypto';
import {
  Controller,
  Header,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Post,
  Req,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiExcludeController } from '@nestjs/swagger';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape, SessionConfig } from '../config/app.config';
import { InjectRootLogger } from '../observability/root-logger';
import { InjectRedis } from '../redis/redis.module';
import {
  InvalidLogoutToken,
  LogoutKeysUnavailable,
  LogoutTokenVerifier,
  MemorySeenLogoutTokens,
  RedisSeenLogoutTokens,
  SeenLogoutTokens,
} from './logout-token';
import { OidcClient } from './oidc-client';
import { Sessions } from './sessions';

export const BACKCHANNEL_LOGOUT_PATH = '/bff/backchannel-logout';
/** A logout token is a few hundred bytes to a few KB; nothing else comes in this form. */
const FORM_LIMIT_BYTES = 8 * 1024;

const refused = (reason: string) =>
  new ProblemException('malformed-request', `The logout token is refused: ${reason}.`);

const unavailable = (what: string) =>
  new ProblemException('auth-unavailable', `${what} cannot be reached; retry later.`, {
    headers: { 'Retry-After': '5' },
  });

/**
 * The provider posts its logout tokens as a form (Back-Channel Logout 1.0, section 2.5); the app
 * otherwise parses JSON only. Forms are parsed for this one route: any other still gets the 415
 * Fastify gives a type it has no parser for.
 */
export function acceptBackchannelLogoutForm(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES },
    (request, body, done) => {
      if (request.routeOptions.url !== BACKCHANNEL_LOGOUT_PATH) {
        done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(request.headers['content-type']));
        return;
      }
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );
}

/**
 * OpenID Connect Back-Channel Logout 1.0: the provider says a session of its own ended (the user
 * logged out there, an administrator disabled them), and every BFF session it made ends too, on
 * every replica (the store and the index of sessions by `sid`/`sub` are shared through Redis).
 */
@Injectable()
export class BackchannelLogout {
  private readonly settings: SessionConfig;
  private readonly seen: SeenLogoutTokens;
  private readonly logger: Logger;
  private verifier?: Promise<LogoutTokenVerifier>;

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    private readonly client: OidcClient,
    private readonly sessions: Sessions,
    @InjectRedis() redis: Redis | null,
    @InjectRootLogger() rootLogger: Logger,
  ) {
    this.settings = config.getOrThrow(APP_CONFIG, { infer: true }).session as SessionConfig;
    this.seen = redis === null ? new MemorySeenLogoutTokens() : new RedisSeenLogoutTokens(redis);
    this.logger = rootLogger.child({ context: 'BackchannelLogout' });
  }

  /** Ends the sessions the token names; a 400 problem and nothing ended when it is not valid. */
  async logOut(token: unknown): Promise<void> {
    if (typeof token !== 'string' || token === '')
      throw refused('the logout_token field is missing');
    let claims;
    try {
      claims = await (await this.verifierOf()).verify(token);
    } catch (error) {
      if (error instanceof InvalidLogoutToken) {
        this.logger.warn({ reason: error.message }, 'back-channel logout refused');
        throw refused(error.message);
      }
      if (error instanceof LogoutKeysUnavailable) throw unavailable("The provider's key set");
      throw error;
    }
    const seen = await this.seen.claim(claims.iss, claims.jti, claims.refusedAfter).catch(() => {
      throw unavailable('The session store');
    });
    if (!seen) {
      this.logger.warn({ reason: 'replayed' }, 'back-channel logout refused');
      throw refused('it was already received (same jti)');
    }
    try {
      const ended = await this.sessions.endAllOf(claims);
      this.logger.info(
        {
          by: claims.sid === undefined ? 'sub' : 'sid',
          who: shortHash(claims.sid ?? claims.sub),
          ended,
        },
        'back-channel logout',
      );
    } catch (error) {
      // Not carried out: the provider may send it again, and must not be told it is a replay.
      await this.seen.release(claims.iss, claims.jti).catch(() => undefined);
      throw error;
    }
  }

  /** From the provider's metadata, once discovered (a failure is retried at the next token). */
  private verifierOf(): Promise<LogoutTokenVerifier> {
    this.verifier ??= this.client
      .metadata()
      .then((metadata) => {
        if (metadata.jwks_uri === undefined) throw unavailable("The provider's key set");
        return new LogoutTokenVerifier(
          metadata.jwks_uri,
          metadata.issuer,
          this.settings.clientId,
          metadata.id_token_signing_alg_values_supported ?? ['RS256'],
        );
      })
      .catch((error: unknown) => {
        this.verifier = undefined;
        throw error;
      });
    return this.verifier;
  }
}

/** Enough to tell two sessions apart in the logs, not to find the identifier. */
export function shortHash(value: string | undefined): string | undefined {
  return value === undefined ? undefined : hash('sha256', value, 'base64url').slice(0, 10);
}

/** The provider's endpoint; not for browsers, so not in the API document. */
@ApiExcludeController()
@Controller('bff')
export class BackchannelLogoutController {
  constructor(private readonly backchannel: BackchannelLogout) {}

  @Post('backchannel-logout')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  async logOut(@Req() request: FastifyRequest): Promise<void> {
    const form = request.body as Record<string, unknown> | undefined;
    await this.backchannel.logOut(form?.logout_token);
  }
}

/** Back-channel logout, beside the SessionModule (whose OidcClient and Sessions it uses). */
@Module({ controllers: [BackchannelLogoutController], providers: [BackchannelLogout] })
export class BackchannelLogoutModule {}
