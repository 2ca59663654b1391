import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type JWK,
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

/**
 * The key set cannot be fetched, or holds no key for AUTH_ALGORITHMS: nobody's token can be
 * judged, so a 503, not a 401 (and no credential failure counted).
 */
class KeySetUnavailable extends Error {}

/** A JWKS answer larger than this is refused unread: real key sets are a few KiB. */
export const JWKS_MAX_BYTES = 1024 * 1024;
/** At most one fetch of the key set per this, whatever the `kid`s and whether fetches fail. */
export const JWKS_COOLDOWN_MS = 30_000;

class KeySetFetchRefused extends Error {}

/** The body of a 200 answer, read up to JWKS_MAX_BYTES (the connection is dropped past it). */
async function boundedBody(response: Response): Promise<Uint8Array> {
  if (Number(response.headers.get('content-length') ?? 0) > JWKS_MAX_BYTES) {
    await response.body?.cancel();
    throw new KeySetFetchRefused();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += (chunk as Uint8Array).byteLength;
    if (size > JWKS_MAX_BYTES) throw new KeySetFetchRefused();
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks);
}

const isKeySet = (value: unknown): boolean => {
  const keys = (value as { keys?: unknown } | null)?.keys;
  return Array.isArray(keys) && keys.every((key) => typeof key === 'object' && key !== null);
};

// Which signature algorithms a JWK without `alg` can serve, by its key type and curve.
const ALGORITHMS_OF_KEY: Record<string, (jwk: JWK) => readonly string[]> = {
  RSA: () => ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  EC: (jwk) =>
    ({ 'P-256': ['ES256'], 'P-384': ['ES384'], 'P-521': ['ES512'] })[jwk.crv ?? ''] ?? [],
  OKP: (jwk) => (jwk.crv === 'Ed25519' ? ['EdDSA', 'Ed25519'] : []),
};

/** Whether some key of the set can verify a token signed with one of `algorithms`. */
export function hasKeyFor(keys: readonly JWK[], algorithms: readonly string[]): boolean {
  return keys.some((jwk) => {
    if (jwk.use !== undefined && jwk.use !== 'sig') return false;
    const served =
      jwk.alg !== undefined ? [jwk.alg] : (ALGORITHMS_OF_KEY[jwk.kty ?? '']?.(jwk) ?? []);
    return served.some((alg) => algorithms.includes(alg));
  });
}

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
 * fetch the key set again, so a key added after start is used; at most once per cooldown (30 s),
 * also while fetches fail (jose's own cooldown counts from the last success only).
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
  private readonly algorithms: readonly string[] = [];
  private lastFailedFetch = Number.NEGATIVE_INFINITY;
  private readonly getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await (this.keySet as RemoteJWKSet)(header, token);
    } catch (error) {
      const failedFetch = !(error instanceof errors.JOSEError) || FETCH_FAILURES.has(error.code);
      // No key of the set could verify any accepted token: the set is at fault, not the token.
      throw failedFetch || !this.hasUsableKey() ? new KeySetUnavailable() : error;
    }
  };

  /** jose's fetch, within the cooldown after a failure and the size bound. */
  private readonly fetchKeySet = async (url: string, init: RequestInit): Promise<Response> => {
    if (Date.now() - this.lastFailedFetch < JWKS_COOLDOWN_MS) throw new KeySetFetchRefused();
    try {
      const response = await fetch(url, init);
      if (response.status !== 200) throw new KeySetFetchRefused();
      const body = await boundedBody(response);
      // Checked here too, so that an answer jose would refuse starts the cooldown as well.
      if (!isKeySet(JSON.parse(Buffer.from(body).toString('utf8')))) throw new KeySetFetchRefused();
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (error) {
      this.lastFailedFetch = Date.now();
      throw error;
    }
  };

  constructor(@Inject(ConfigService) config: ConfigService<AppConfigShape, true>) {
    const jwt = config.getOrThrow(APP_CONFIG, { infer: true }).jwt;
    if (jwt === undefined) return;
    // Within the readiness probe's 3 s, which may wait for a fetch.
    this.keySet = createRemoteJWKSet(new URL(jwt.jwksUrl), {
      timeoutDuration: 2_000,
      cooldownDuration: JWKS_COOLDOWN_MS,
      [customFetch]: this.fetchKeySet,
    });
    this.algorithms = jwt.algorithms;
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
      // An empty or non-string `sub` names nobody; all such tokens would share one caller.
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new InvalidToken();
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

  private hasUsableKey(): boolean {
    return hasKeyFor(this.keySet?.jwks()?.keys ?? [], this.algorithms);
  }

  /**
   * For readiness: why tokens cannot be verified now, else undefined (fetching the key set if it
   * is stale, within the cooldown).
   */
  async keySetProblem(): Promise<string | undefined> {
    if (this.keySet === undefined) return undefined;
    if (!this.keySet.fresh) {
      const fetched = await this.keySet.reload().then(
        () => true,
        () => false,
      );
      if (!fetched) return 'the JWKS cannot be fetched';
    }
    return this.hasUsableKey() ? undefined : 'the JWKS holds no key for AUTH_ALGORITHMS';
  }
}
