import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type RemoteJWKSet,
} from 'jose';
import { subjectKey } from '../common/caller';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, AppConfigShape } from '../config/app.config';

/** The token is not one this BFF accepts: a 401, and nothing sent upstream. */
export class InvalidToken extends Error {}

/** The key set cannot be fetched: nobody's token can be judged, so a 503, not a 401. */
class KeySetUnavailable extends Error {}

// What the key set's own fetch throws: a timeout, a non-200 or unparsable answer (the base
// JOSEError), an answer that is no JWKS, or a network error (not a JOSEError at all).
const FETCH_FAILURES = new Set(['ERR_JOSE_GENERIC', 'ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID']);

/**
 * How long a verified token is taken again without verifying its signature, within its `exp`. A
 * key the identity provider withdraws stops working at most this much later than without the
 * cache; jose itself keeps a fetched key set up to 10 minutes.
 */
export const VERIFIED_TOKEN_TTL_MS = 60_000;
/** Verified tokens kept at most (about 150 bytes each); the oldest go first. */
export const VERIFIED_TOKENS_MAX = 10_000;

interface Verified {
  readonly subjectKey: string;
  readonly until: number;
}

/**
 * Verifies the callers' JWTs locally against the identity provider's JWKS (jose), so a forged,
 * expired or foreign token costs the upstream nothing. A token with an unknown `kid` makes jose
 * fetch the key set again, at most once per cooldown (30 s), so a key added after start is used.
 */
@Injectable()
export class JwtVerifier implements OnModuleInit {
  private readonly keySet?: RemoteJWKSet;
  /**
   * Tokens verified in the last minute, by their SHA-256 (never the token itself): a frontend sends
   * the same token with every request, and a signature check costs 60-150 µs of CPU (RS256 to
   * EdDSA, measured) where a lookup costs ~1 µs. Rejected tokens are not kept.
   */
  private readonly verified = new Map<string, Verified>();
  private readonly options?: JWTVerifyOptions;
  private readonly getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await (this.keySet as RemoteJWKSet)(header, token);
    } catch (error) {
      const failedFetch = !(error instanceof errors.JOSEError) || FETCH_FAILURES.has(error.code);
      throw failedFetch ? new KeySetUnavailable() : error;
    }
  };

  constructor(@Inject(ConfigService) config: ConfigService<AppConfigShape, true>) {
    const jwt = config.getOrThrow(APP_CONFIG, { infer: true }).jwt;
    if (jwt === undefined) return;
    // Within the readiness probe's 3 s, which may wait for a fetch.
    this.keySet = createRemoteJWKSet(new URL(jwt.jwksUrl), { timeoutDuration: 2_000 });
    this.options = {
      issuer: jwt.issuer,
      audience: jwt.audience,
      algorithms: [...jwt.algorithms],
      clockTolerance: jwt.clockToleranceSeconds,
      // A token without an expiry would be valid forever; one without a subject names nobody.
      requiredClaims: ['exp', 'sub'],
    };
  }

  get enabled(): boolean {
    return this.keySet !== undefined;
  }

  /** Fetched at start, so the first caller does not wait for it (a failure is retried later). */
  onModuleInit(): void {
    this.keySet?.reload().catch(() => undefined);
  }

  /**
   * The caller key of a valid token: its issuer and subject. `tokenKey` is the key the token gives
   * before verification (callerOf's, a digest of the token): verified tokens are kept by it.
   */
  async subjectKeyOf(token: string, tokenKey: string): Promise<string> {
    const now = Date.now();
    const known = this.verified.get(tokenKey);
    if (known !== undefined && known.until > now) return known.subjectKey;
    try {
      const { payload } = await jwtVerify(token, this.getKey, this.options);
      const key = subjectKey(payload.iss as string, payload.sub as string);
      this.remember(tokenKey, {
        subjectKey: key,
        until: Math.min(now + VERIFIED_TOKEN_TTL_MS, (payload.exp as number) * 1000),
      });
      return key;
    } catch (error) {
      if (!(error instanceof KeySetUnavailable)) throw new InvalidToken();
      throw new ProblemException(
        'auth-unavailable',
        "The identity provider's keys cannot be fetched; retry later.",
        { headers: { 'Retry-After': '5' } },
      );
    }
  }

  private remember(tokenKey: string, verified: Verified): void {
    this.verified.delete(tokenKey);
    if (this.verified.size >= VERIFIED_TOKENS_MAX) {
      const oldest = this.verified.keys().next().value as string;
      this.verified.delete(oldest);
    }
    this.verified.set(tokenKey, verified);
  }

  /** For readiness: whether tokens can be verified now (fetching the key set if it is stale). */
  async keysAvailable(): Promise<boolean> {
    if (this.keySet === undefined || this.keySet.fresh) return true;
    return this.keySet.reload().then(
      () => true,
      () => false,
    );
  }
}
