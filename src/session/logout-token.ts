import { hash } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type Redis from 'ioredis';

/** OpenID Connect Back-Channel Logout 1.0, section 2.4. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A logout token issued longer ago than this is refused (and its `jti` need not be kept longer). */
export const LOGOUT_TOKEN_MAX_AGE_S = 300;
/** Clocks of the provider and the BFF may differ this much. */
const CLOCK_TOLERANCE_S = 30;

/** What a valid logout token names. */
export interface LogoutClaims {
  readonly iss: string;
  readonly jti: string;
  readonly sid?: string;
  readonly sub?: string;
  /** Epoch ms after which the token is refused anyway: its `jti` is kept until then. */
  readonly refusedAfter: number;
}

/** Why a logout token is refused: said in the 400 problem, never with the token itself. */
export class InvalidLogoutToken extends Error {}

/** The provider's key set cannot be fetched: the token cannot be judged (503, the provider retries). */
export class LogoutKeysUnavailable extends Error {}

const FETCH_FAILURES = new Set(['ERR_JOSE_GENERIC', 'ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID']);
/** Asymmetric only: `none` and the HS* family (keyed with the client secret) are never taken. */
const SIGNATURE_ALGORITHMS = new Set([
  ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  ...['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'],
]);

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * Verifies logout tokens (section 2.6) with jose against the provider's JWKS: signature by one of
 * its keys (asymmetric algorithms only), `iss` the provider's, `aud` our client id, `iat` within
 * LOGOUT_TOKEN_MAX_AGE_S (and not in the future), `exp` when present, the back-channel `events`
 * member, a `sid` or a `sub`, no `nonce` (which would make it usable as an ID token), a `jti`.
 */
export class LogoutTokenVerifier {
  private readonly keySet: ReturnType<typeof createRemoteJWKSet>;

  constructor(
    jwksUri: string,
    private readonly issuer: string,
    private readonly clientId: string,
    private readonly algorithms: readonly string[],
  ) {
    this.keySet = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 2_000 });
  }

  async verify(token: string): Promise<LogoutClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keySet, {
        issuer: this.issuer,
        audience: this.clientId,
        algorithms: this.algorithms.filter((alg) => SIGNATURE_ALGORITHMS.has(alg)),
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE_S,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['jti', 'events'],
      }));
    } catch (error) {
      if (!(error instanceof errors.JOSEError) || FETCH_FAILURES.has(error.code)) {
        throw new LogoutKeysUnavailable();
      }
      throw new InvalidLogoutToken(
        error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired
          ? `its ${error.claim} claim is not valid`
          : 'its signature or form is not valid',
      );
    }
    const events = payload.events as Record<string, unknown> | undefined;
    const event =
      typeof events === 'object' && events !== null ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
    if (typeof event !== 'object' || event === null) {
      throw new InvalidLogoutToken('its events claim has no back-channel logout event');
    }
    if ('nonce' in payload) throw new InvalidLogoutToken('it has a nonce claim');
    const jti = text(payload.jti);
    const sid = text(payload.sid);
    const sub = text(payload.sub);
    if (jti === undefined) throw new InvalidLogoutToken('its jti claim is not valid');
    if (sid === undefined && sub === undefined) {
      throw new InvalidLogoutToken('it names neither a sid nor a sub');
    }
    const byAge = ((payload.iat as number) + LOGOUT_TOKEN_MAX_AGE_S + CLOCK_TOLERANCE_S) * 1000;
    const byExp = payload.exp === undefined ? byAge : (payload.exp + CLOCK_TOLERANCE_S) * 1000;
    return {
      iss: this.issuer,
      jti,
      ...(sid !== undefined && { sid }),
      ...(sub !== undefined && { sub }),
      refusedAfter: Math.min(byAge, byExp),
    };
  }
}

/**
 * The `jti`s of logout tokens already taken, each until its token would be refused anyway: a
 * replayed token is refused (section 2.6, step 7). In Redis when REDIS_URL is set, so a token
 * taken by one replica is refused by all.
 */
export interface SeenLogoutTokens {
  /** True when this `jti` was new (and is now remembered), false when it was seen before. */
  claim(iss: string, jti: string, untilMs: number): Promise<boolean>;
  /** Forgets a `jti` whose logout could not be carried out, so the provider's retry is taken. */
  release(iss: string, jti: string): Promise<void>;
}

const seenKey = (iss: string, jti: string) =>
  `bff:logout-jti:${hash('sha256', `${iss}\n${jti}`, 'base64url')}`;

/** One process's memory of seen `jti`s; each entry goes once its token would be refused anyway. */
export class MemorySeenLogoutTokens implements SeenLogoutTokens {
  private readonly seen = new Map<string, number>();

  claim(iss: string, jti: string, untilMs: number): Promise<boolean> {
    const now = Date.now();
    // Logout tokens are rare: sweeping at each one keeps the map to the last few minutes' tokens.
    for (const [key, until] of this.seen) if (until <= now) this.seen.delete(key);
    const key = seenKey(iss, jti);
    if (this.seen.has(key)) return Promise.resolve(false);
    this.seen.set(key, untilMs);
    return Promise.resolve(true);
  }

  release(iss: string, jti: string): Promise<void> {
    this.seen.delete(seenKey(iss, jti));
    return Promise.resolve();
  }
}

/** Every replica's memory of seen `jti`s: SET NX, so of two replicas given one token, one takes it. */
export class RedisSeenLogoutTokens implements SeenLogoutTokens {
  constructor(private readonly redis: Redis) {}

  async claim(iss: string, jti: string, untilMs: number): Promise<boolean> {
    const ttlMs = Math.max(1, untilMs - Date.now());
    return (await this.redis.set(seenKey(iss, jti), '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async release(iss: string, jti: string): Promise<void> {
    await this.redis.del(seenKey(iss, jti));
  }
}
