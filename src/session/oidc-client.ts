import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import * as oidc from 'openid-client';
import type { Logger } from 'pino';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape, SessionConfig } from '../config/app.config';
import { InjectRootLogger } from '../observability/root-logger';

/** What the login cookie carries from /bff/login to /bff/callback. */
export interface LoginChecks {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
}

/** The tokens and the identity of one completed login. */
export interface LoginResult {
  readonly iss: string;
  readonly sub: string;
  /** The provider's session, which its back-channel logout tokens name. */
  readonly sid?: string;
  readonly name?: string;
  readonly email?: string;
  readonly accessToken: string;
  /** Epoch ms, when the provider said. */
  readonly accessTokenExpiresAt?: number;
  readonly refreshToken?: string;
  readonly idToken?: string;
}

/** A refused login (state, nonce, PKCE, the provider's own error, a failed exchange): a 400. */
export class LoginFailed extends ProblemException {
  constructor(detail: string) {
    super('login-failed', detail);
  }
}

/** The provider's new tokens after a refresh-token grant. */
export interface RefreshedTokens {
  readonly accessToken: string;
  readonly accessTokenExpiresAt?: number;
  /** Only when the provider rotated it. */
  readonly refreshToken?: string;
  readonly idToken?: string;
}

/** The provider refused the refresh token (`invalid_grant`): revoked, spent or expired. */
export class RefreshRefused extends Error {}

const unavailable = () =>
  new ProblemException(
    'auth-unavailable',
    'The identity provider cannot be reached; retry later.',
    { headers: { 'Retry-After': '5' } },
  );

/** Seconds: discovery, token, userinfo and revocation calls alike (openid-client's default is 30). */
const PROVIDER_TIMEOUT_S = 5;

const stringClaim = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;

/** Epoch ms from the provider's `expires_in`, when it said. */
const expiresAtOf = (expiresIn: number | undefined): number | undefined =>
  expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000;

/** What may be logged of a failure of openid-client: its kind and OAuth error code, never a body. */
function failureOf(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: 'unknown' };
  const { code, error: oauthError } = error as { code?: unknown; error?: unknown };
  return { error: error.name, code, oauthError };
}

/**
 * The BFF as a confidential OpenID Connect client (openid-client, certified RP): authorization
 * code with PKCE and nonce, `client_secret_basic`, revocation and RP-initiated logout when the
 * provider offers them. The provider's metadata is discovered once, on first need after a failure.
 */
@Injectable()
export class OidcClient implements OnModuleInit {
  private readonly settings: SessionConfig;
  private readonly logger: Logger;
  private configuration?: Promise<oidc.Configuration>;

  constructor(
    @Inject(ConfigService) config: ConfigService<AppConfigShape, true>,
    @InjectRootLogger() rootLogger: Logger,
  ) {
    this.settings = config.getOrThrow(APP_CONFIG, { infer: true }).session as SessionConfig;
    this.logger = rootLogger.child({ context: 'OidcClient' });
  }

  /** Discovered at start, so the first login does not wait for it (a failure is retried later). */
  onModuleInit(): void {
    this.discovered().catch(() => undefined);
  }

  async authorizationUrl(checks: LoginChecks): Promise<string> {
    const configuration = await this.discovered();
    return oidc
      .buildAuthorizationUrl(configuration, {
        redirect_uri: this.settings.redirectUri,
        scope: this.settings.scopes,
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.verifier),
        code_challenge_method: 'S256',
      })
      .toString();
  }

  /** Exchanges the code of `callbackUrl`, checking state, nonce and PKCE; then reads the user's name. */
  async login(callbackUrl: URL, checks: LoginChecks): Promise<LoginResult> {
    const configuration = await this.discovered();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, {
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        pkceCodeVerifier: checks.verifier,
        idTokenExpected: true,
      });
    } catch (error) {
      this.logger.warn(failureOf(error), 'login refused: the authorization code exchange failed');
      throw new LoginFailed('The login could not be completed; start again at /bff/login.');
    }
    const claims = tokens.claims() as oidc.IDToken;
    const expiresIn = tokens.expiresIn();
    const profile = { name: stringClaim(claims.name), email: stringClaim(claims.email) };
    if (
      (profile.name === undefined || profile.email === undefined) &&
      configuration.serverMetadata().userinfo_endpoint !== undefined
    ) {
      try {
        const info = await oidc.fetchUserInfo(configuration, tokens.access_token, claims.sub);
        profile.name ??= stringClaim(info.name);
        profile.email ??= stringClaim(info.email);
      } catch (error) {
        // The login stands without a name: /bff/user leaves it out.
        this.logger.warn(failureOf(error), 'userinfo failed after a login');
      }
    }
    return {
      iss: claims.iss,
      sub: claims.sub,
      sid: stringClaim(claims.sid),
      ...profile,
      accessToken: tokens.access_token,
      accessTokenExpiresAt: expiresAtOf(expiresIn),
      refreshToken: tokens.refresh_token,
      idToken: tokens.id_token,
    };
  }

  /**
   * The refresh-token grant; rejects with RefreshRefused on `invalid_grant`, and with a 503 problem
   * when the provider cannot be reached or fails otherwise (the session must not end for a blip).
   */
  async refresh(refreshToken: string): Promise<RefreshedTokens> {
    const configuration = await this.discovered();
    let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      tokens = await oidc.refreshTokenGrant(configuration, refreshToken);
    } catch (error) {
      this.logger.warn(failureOf(error), 'refresh-token grant failed');
      if (error instanceof oidc.ResponseBodyError && error.error === 'invalid_grant') {
        throw new RefreshRefused();
      }
      throw unavailable();
    }
    return {
      accessToken: tokens.access_token,
      accessTokenExpiresAt: expiresAtOf(tokens.expiresIn()),
      refreshToken: tokens.refresh_token,
      idToken: tokens.id_token,
    };
  }

  /** RFC 7009, where the provider offers it; a failure is logged, the logout goes on. */
  async revoke(refreshToken: string): Promise<void> {
    try {
      const configuration = await this.discovered();
      if (configuration.serverMetadata().revocation_endpoint === undefined) return;
      await oidc.tokenRevocation(configuration, refreshToken, {
        token_type_hint: 'refresh_token',
      });
    } catch (error) {
      this.logger.warn(failureOf(error), 'refresh token revocation failed at logout');
    }
  }

  /** The provider's end-session URL for this login, or null when it has none. */
  async endSessionUrl(idToken: string | undefined): Promise<string | null> {
    const configuration = await this.discovered().catch(() => undefined);
    if (configuration?.serverMetadata().end_session_endpoint === undefined) return null;
    return oidc
      .buildEndSessionUrl(configuration, {
        post_logout_redirect_uri: this.settings.postLogoutRedirectUri,
        ...(idToken !== undefined && { id_token_hint: idToken }),
      })
      .toString();
  }

  /** The provider's discovered metadata (issuer, jwks_uri...). */
  async metadata(): Promise<oidc.ServerMetadata> {
    return (await this.discovered()).serverMetadata();
  }

  private discovered(): Promise<oidc.Configuration> {
    this.configuration ??= oidc
      .discovery(
        new URL(this.settings.issuerUrl),
        this.settings.clientId,
        { client_secret: this.settings.clientSecret },
        oidc.ClientSecretBasic(this.settings.clientSecret),
        {
          execute: this.settings.allowInsecureHttp ? [oidc.allowInsecureRequests] : [],
          timeout: PROVIDER_TIMEOUT_S,
        },
      )
      .catch((error: unknown) => {
        this.configuration = undefined;
        this.logger.warn(failureOf(error), 'OpenID provider discovery failed');
        throw unavailable();
      });
    return this.configuration;
  }
}
