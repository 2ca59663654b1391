import { existsSync } from 'node:fs';
import { registerAs } from '@nestjs/config';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { EnvironmentVariables } from './environment';
import {
  jwtProblems,
  sessionOf,
  tokenSourceProblems,
  tracesUrl,
  trustProxyOf,
  trustProxyProblems,
  upstreamProblems,
  warningsOf,
} from './rules';

/** The BFF session mode (RFC 10017): the BFF is a confidential OpenID Connect client. */
export interface SessionConfig {
  readonly issuerUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: string;
  readonly allowInsecureHttp: boolean;
  /** `PUBLIC_BASE_URL` + `/bff/callback`. */
  readonly redirectUri: string;
  /** Where the provider sends the browser after its logout: `PUBLIC_BASE_URL` + `/`. */
  readonly postLogoutRedirectUri: string;
  /** 32 bytes each; the first encrypts. */
  readonly keys: readonly Buffer[];
  readonly idleTimeoutSeconds: number;
  readonly absoluteTimeoutSeconds: number;
  /** An access token expiring within this many seconds is refreshed before forwarding. */
  readonly refreshBeforeSeconds: number;
}

export interface AppConfig {
  readonly port: number;
  readonly host: string;
  readonly env: EnvironmentVariables['NODE_ENV'];
  readonly logLevel: string;
  readonly docsEnabled: boolean;
  readonly corsOrigins: readonly string[];
  /** The API document's server URL, without a trailing slash; unset, a relative one. */
  readonly publicBaseUrl: string | undefined;
  /** Requests per caller per minute; 0 turns rate limiting off. */
  readonly rateLimitPerMinute: number;
  /** Fastify's `trustProxy`: false = the socket's address is the client's. */
  readonly trustProxy: false | number | string[];
  /** Where /health/* and /metrics are served instead of `port`; undefined = on `port`. */
  readonly managementPort?: number;
  /** Budgets of one client address (0 = off). */
  readonly perAddress: {
    readonly requestsPerMinute: number;
    readonly authFailuresPerMinute: number;
    readonly maxInFlight: number;
  };
  /** Rejected credentials across all addresses (0 = off), and how long a success is remembered. */
  readonly credentials: {
    readonly globalFailuresPerMinute: number;
    readonly knownGoodTtlSeconds: number;
  };
  /** Local verification of the callers' JWTs; undefined = the upstream alone judges tokens. */
  readonly jwt?: {
    readonly jwksUrl: string;
    readonly issuer: string;
    readonly audience: string;
    readonly algorithms: readonly string[];
    readonly clockToleranceSeconds: number;
  };
  /** Set in session mode (`AUTH_MODE=session`) only. */
  readonly session?: SessionConfig;
  readonly shutdownGraceMs: number;
  readonly headersTimeoutMs: number;
  /** Accepted but risky settings, logged once at start. */
  readonly warnings: readonly string[];
  readonly redisUrl?: string;
  /** Set with REDIS_SENTINELS: the primary is the one these sentinels name. */
  readonly redisSentinel?: {
    readonly name: string;
    readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  };
  readonly idempotency: {
    readonly ttlSeconds: number;
    readonly required: boolean;
    readonly requireDurable: boolean;
    readonly maxEntries: number;
    readonly maxBytes: number;
    readonly maxRecordBytes: number;
  };
  /** Spans are exported only when `tracesUrl` is set; trace context is propagated always. */
  readonly tracing: {
    readonly tracesUrl?: string;
    readonly protocol: 'http/protobuf' | 'http/json';
    readonly sampler: EnvironmentVariables['OTEL_TRACES_SAMPLER'];
    readonly samplerRatio: number;
    readonly serviceName: string;
    readonly resourceAttributes: string;
  };
  readonly breaker: {
    readonly errorThresholdPercentage: number;
    readonly volumeThreshold: number;
    readonly windowMs: number;
    readonly resetTimeoutMs: number;
  };
  readonly sessionToken: {
    readonly expiryWarnSeconds: number;
    readonly pollMs: number;
  };
  readonly upstream: {
    /** Base URL without a trailing slash; route paths are appended to it. */
    readonly baseUrl: string;
    readonly timeoutMs: number;
    readonly maxResponseBytes: number;
    /** In-flight calls allowed, and the connection pool's size. */
    readonly maxConcurrency: number;
    readonly sessionToken: { readonly value: string } | { readonly file: string };
    /** What becomes of the `token` field of a 2xx answer. */
    readonly responseToken: 'strip' | 'relay';
  };
}

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

/**
 * Validates the environment and builds the typed configuration.
 * Messages name the variable, never its value: the token must not reach a terminal or a log.
 */
export function loadAppConfig(rawEnv: Env): AppConfig {
  // Empty strings are how shells and compose files say "unset".
  const present = Object.fromEntries(Object.entries(rawEnv).filter(([, v]) => v !== ''));
  const env = plainToInstance(EnvironmentVariables, present, {
    excludeExtraneousValues: true,
    exposeDefaultValues: true,
  });
  // A missing variable is said to be missing, not also to be of the wrong form.
  const problems = validateSync(env).flatMap(({ constraints = {} }) =>
    constraints.isDefined !== undefined ? [constraints.isDefined] : Object.values(constraints),
  );
  problems.push(...tokenSourceProblems(env));
  if (env.IDEMPOTENCY_REQUIRE_DURABLE === true && env.REDIS_URL === undefined) {
    problems.push(
      'IDEMPOTENCY_REQUIRE_DURABLE=true needs REDIS_URL: the in-process store dies with the process',
    );
  }
  const sentinels = env.REDIS_SENTINELS?.split(',').map((entry) => {
    const at = entry.lastIndexOf(':');
    return { host: entry.slice(0, at), port: Number(entry.slice(at + 1)) };
  });
  if (sentinels?.some(({ port }) => port > 65_535)) {
    problems.push('REDIS_SENTINELS must be a comma-separated list of host:port');
  }
  if (env.REDIS_SENTINELS !== undefined && env.REDIS_URL === undefined) {
    problems.push(
      'REDIS_SENTINELS needs REDIS_URL: its credentials, database and scheme are those of the primary',
    );
  }
  if (env.IDEMPOTENCY_MAX_RECORD_BYTES > env.IDEMPOTENCY_MAX_BYTES) {
    problems.push('IDEMPOTENCY_MAX_RECORD_BYTES must not exceed IDEMPOTENCY_MAX_BYTES');
  }
  problems.push(...trustProxyProblems(env), ...jwtProblems(env));
  if (env.UPSTREAM_BASE_URL !== undefined) problems.push(...upstreamProblems(env));
  if (
    env.MANAGEMENT_PORT !== undefined &&
    env.MANAGEMENT_PORT !== 0 &&
    env.MANAGEMENT_PORT === env.PORT
  ) {
    problems.push('MANAGEMENT_PORT must differ from PORT');
  }
  const publicBaseUrl = env.PUBLIC_BASE_URL?.replace(/\/+$/, '');
  const { session, problems: sessionProblems } = sessionOf(env, publicBaseUrl);
  problems.push(...sessionProblems);
  if (problems.length > 0) throw new ConfigValidationError(problems);

  return {
    port: env.PORT,
    host: env.HOST,
    env: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    docsEnabled: env.DOCS_ENABLED,
    corsOrigins: env.CORS_ORIGINS.split(',').filter((origin) => origin !== ''),
    publicBaseUrl,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    managementPort: env.MANAGEMENT_PORT,
    perAddress: {
      requestsPerMinute: env.RATE_LIMIT_PER_ADDRESS_PER_MINUTE,
      authFailuresPerMinute: env.AUTH_FAILURES_PER_MINUTE,
      maxInFlight: env.MAX_IN_FLIGHT_PER_ADDRESS,
    },
    credentials: {
      globalFailuresPerMinute: env.AUTH_FAILURES_GLOBAL_PER_MINUTE,
      knownGoodTtlSeconds: env.AUTH_KNOWN_GOOD_TTL_S,
    },
    jwt:
      env.AUTH_JWKS_URL === undefined
        ? undefined
        : {
            jwksUrl: env.AUTH_JWKS_URL,
            issuer: env.AUTH_ISSUER as string,
            audience: env.AUTH_AUDIENCE as string,
            algorithms: env.AUTH_ALGORITHMS.split(','),
            clockToleranceSeconds: env.AUTH_CLOCK_TOLERANCE_S,
          },
    session,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
    warnings: warningsOf(env),
    redisUrl: env.REDIS_URL,
    redisSentinel: sentinels && { name: env.REDIS_SENTINEL_NAME, sentinels },
    idempotency: {
      ttlSeconds: env.IDEMPOTENCY_TTL_S,
      required: env.IDEMPOTENCY_REQUIRED,
      requireDurable: env.IDEMPOTENCY_REQUIRE_DURABLE,
      maxEntries: env.IDEMPOTENCY_MAX_ENTRIES,
      maxBytes: env.IDEMPOTENCY_MAX_BYTES,
      maxRecordBytes: env.IDEMPOTENCY_MAX_RECORD_BYTES,
    },
    tracing: {
      tracesUrl: env.OTEL_SDK_DISABLED ? undefined : tracesUrl(env),
      protocol: env.OTEL_EXPORTER_OTLP_PROTOCOL,
      sampler: env.OTEL_TRACES_SAMPLER,
      samplerRatio: env.OTEL_TRACES_SAMPLER_ARG,
      serviceName: env.OTEL_SERVICE_NAME,
      resourceAttributes: env.OTEL_RESOURCE_ATTRIBUTES ?? '',
    },
    breaker: {
      errorThresholdPercentage: env.BREAKER_ERROR_THRESHOLD_PERCENT,
      volumeThreshold: env.BREAKER_VOLUME_THRESHOLD,
      windowMs: env.BREAKER_WINDOW_MS,
      resetTimeoutMs: env.BREAKER_RESET_TIMEOUT_MS,
    },
    sessionToken: {
      expiryWarnSeconds: env.SESSION_TOKEN_EXPIRY_WARN_S,
      pollMs: env.SESSION_TOKEN_POLL_MS,
    },
    upstream: {
      baseUrl: env.UPSTREAM_BASE_URL.replace(/\/+$/, ''),
      timeoutMs: env.UPSTREAM_TIMEOUT_MS,
      maxResponseBytes: env.UPSTREAM_MAX_RESPONSE_BYTES,
      maxConcurrency: env.UPSTREAM_MAX_CONCURRENCY,
      sessionToken:
        env.UPSTREAM_SESSION_TOKEN_FILE !== undefined
          ? { file: env.UPSTREAM_SESSION_TOKEN_FILE }
          : { value: env.UPSTREAM_SESSION_TOKEN as string },
      responseToken: env.UPSTREAM_RESPONSE_TOKEN,
    },
  };
}

/** The one place that reads the process environment; a `.env` file fills in what is not already set. */
export function readEnvironment(): Env {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return process.env;
}

export const APP_CONFIG = 'app';
export type AppConfigShape = { [APP_CONFIG]: AppConfig };

export const appConfig = (config: AppConfig) => registerAs(APP_CONFIG, () => config);
