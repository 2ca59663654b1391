import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { applyDecorators } from '@nestjs/common';
import { registerAs } from '@nestjs/config';
import { Expose, plainToInstance, Transform, Type } from 'class-transformer';
import {
  IsDefined,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  validateSync,
} from 'class-validator';

/** Signature algorithms a JWKS may verify: asymmetric ones only. */
const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** A whole number variable within [min, max]; the environment gives it as a string. */
function IntegerVariable(min: number, max: number): PropertyDecorator {
  return applyDecorators(
    Expose(),
    Type(() => Number),
    IsInt(),
    Min(min),
    Max(max),
  );
}

/** An http:// or https:// URL variable; a host without a top-level domain (a service name) is fine. */
function HttpUrlVariable(): PropertyDecorator {
  return applyDecorators(
    Expose(),
    IsUrl(
      { protocols: ['http', 'https'], require_protocol: true, require_tld: false },
      { message: '$property must be an http:// or https:// URL' },
    ),
  );
}

const toBoolean = ({ value }: { value: unknown }): unknown =>
  value === 'true' ? true : value === 'false' ? false : value;

const OTLP_URL = { protocols: ['http', 'https'], require_protocol: true, require_tld: false };
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** The environment this service reads, one property per variable; anything else is ignored. */
export class EnvironmentVariables {
  @IsDefined({ message: '$property is required' })
  @HttpUrlVariable()
  readonly UPSTREAM_BASE_URL!: string;

  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly UPSTREAM_SESSION_TOKEN?: string;
  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly UPSTREAM_SESSION_TOKEN_FILE?: string;

  /** Plain http to a remote upstream sends the session token in clear: only when said so. */
  @Expose()
  @Transform(toBoolean)
  @IsIn([true, false], { message: '$property must be true or false' })
  readonly UPSTREAM_ALLOW_INSECURE_HTTP: boolean = false;

  @IntegerVariable(1, 300_000)
  readonly UPSTREAM_TIMEOUT_MS: number = 10_000;

  @IntegerVariable(1024, 64 * 1024 * 1024)
  readonly UPSTREAM_MAX_RESPONSE_BYTES: number = 1024 * 1024;

  @IntegerVariable(1, 10_000)
  readonly UPSTREAM_MAX_CONCURRENCY: number = 256;

  /** The `token` of the upstream's 2xx body: `strip` (null) keeps upstream credentials from the browser. */
  @Expose()
  @IsIn(['strip', 'relay'])
  readonly UPSTREAM_RESPONSE_TOKEN: 'strip' | 'relay' = 'strip';

  @IntegerVariable(0, 65_535)
  readonly PORT: number = 3000;

  /** When set, /health/* and /metrics are served on this port only, not on PORT. */
  @IsOptional()
  @IntegerVariable(0, 65_535)
  readonly MANAGEMENT_PORT?: number;

  @Expose() @IsString() @IsNotEmpty() readonly HOST: string = '0.0.0.0';

  @Expose()
  @IsIn(['development', 'production', 'test'])
  readonly NODE_ENV: 'development' | 'production' | 'test' = 'production';

  @Expose()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  readonly LOG_LEVEL: string = 'info';

  @Expose()
  @Transform(toBoolean)
  @IsIn([true, false], { message: '$property must be true or false' })
  readonly DOCS_ENABLED: boolean = true;

  /**
   * Comma-separated exact origins allowed by CORS; none by default. Each is at most 267 characters
   * (a host name has at most 253, and a port), the bound the API document gives the header.
   */
  @Expose()
  @IsString()
  @Matches(/^(https?:\/\/[^\s,/]{1,259})?(,https?:\/\/[^\s,/]{1,259})*$/, {
    message: '$property must be a comma-separated list of origins such as https://app.example.com',
  })
  readonly CORS_ORIGINS: string = '';

  /** Where frontends reach the BFF: the API document's server. Unset: the page's own origin. */
  @IsOptional()
  @HttpUrlVariable()
  readonly PUBLIC_BASE_URL?: string;

  @IntegerVariable(0, 1_000_000)
  readonly RATE_LIMIT_PER_MINUTE: number = 120;

  /** Besides the per-caller budget: a caller choosing new tokens stays within their address's. */
  @IntegerVariable(0, 1_000_000)
  readonly RATE_LIMIT_PER_ADDRESS_PER_MINUTE: number = 600;

  /** Rejected credentials (by the BFF, or 401/403 from the upstream) per address per minute. */
  @IntegerVariable(0, 1_000_000)
  readonly AUTH_FAILURES_PER_MINUTE: number = 20;

  /**
   * Distinct credentials refused (upstream 401/403, or local JWT verification) per minute across
   * all addresses; past it, only credentials seen to succeed are tried upstream. 0 = off.
   */
  @IntegerVariable(0, 1_000_000)
  readonly AUTH_FAILURES_GLOBAL_PER_MINUTE: number = 200;

  /** How long a credential the upstream accepted stays known-good (never locked out by others). */
  @IntegerVariable(1, 7 * 24 * 3600)
  readonly AUTH_KNOWN_GOOD_TTL_S: number = 600;

  /** Upstream calls in flight per client address; keyed calls outlive their caller. */
  @IntegerVariable(0, 100_000)
  readonly MAX_IN_FLIGHT_PER_ADDRESS: number = 32;

  /** Which proxies may set X-Forwarded-For: unset = none, addresses/CIDRs, or N hops (warned). */
  @Expose() @IsOptional() @IsString() readonly TRUST_PROXY?: string;

  /** Local JWT verification: on when the JWKS URL, the issuer and the audience are all set. */
  @Expose()
  @IsOptional()
  @IsUrl(
    { protocols: ['http', 'https'], require_protocol: true, require_tld: false },
    { message: '$property must be an http:// or https:// URL' },
  )
  readonly AUTH_JWKS_URL?: string;

  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly AUTH_ISSUER?: string;
  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly AUTH_AUDIENCE?: string;

  /** Asymmetric algorithms only: HMAC with a public JWKS would let anyone sign, `none` anyone skip. */
  @Expose()
  @Matches(new RegExp(`^(?:${JWT_ALGORITHMS.join('|')})(?:,(?:${JWT_ALGORITHMS.join('|')}))*$`), {
    message: `$property must be a comma-separated list of ${JWT_ALGORITHMS.join(', ')}`,
  })
  readonly AUTH_ALGORITHMS: string = 'RS256,ES256,PS256,EdDSA';

  @IntegerVariable(0, 300)
  readonly AUTH_CLOCK_TOLERANCE_S: number = 30;

  @IntegerVariable(1, 100)
  readonly BREAKER_ERROR_THRESHOLD_PERCENT: number = 50;

  @IntegerVariable(1, 100_000)
  readonly BREAKER_VOLUME_THRESHOLD: number = 20;

  @IntegerVariable(1000, 600_000)
  readonly BREAKER_WINDOW_MS: number = 10_000;

  @IntegerVariable(100, 600_000)
  readonly BREAKER_RESET_TIMEOUT_MS: number = 10_000;

  @IntegerVariable(0, 30 * 24 * 3600)
  readonly SESSION_TOKEN_EXPIRY_WARN_S: number = 3600;

  /** Fallback poll of the token file: Kubernetes swaps secrets through symlinks that fs.watch can miss. */
  @IntegerVariable(100, 600_000)
  readonly SESSION_TOKEN_POLL_MS: number = 5000;

  @IntegerVariable(0, 600_000)
  readonly SHUTDOWN_GRACE_MS: number = 10_000;

  /** A client that has not sent its headers by then gets a 408 (slowloris). */
  @IntegerVariable(100, 120_000)
  readonly HTTP_HEADERS_TIMEOUT_MS: number = 10_000;

  /** Shared state for several replicas (idempotency keys, rate-limit counters); in-process when unset. */
  @Expose()
  @IsOptional()
  @IsUrl(
    { protocols: ['redis', 'rediss'], require_protocol: true, require_tld: false },
    { message: '$property must be a redis:// or rediss:// URL' },
  )
  readonly REDIS_URL?: string;

  @IntegerVariable(1, 30 * 24 * 3600)
  readonly IDEMPOTENCY_TTL_S: number = 86_400;

  @Expose()
  @Transform(toBoolean)
  @IsIn([true, false], { message: '$property must be true or false' })
  readonly IDEMPOTENCY_REQUIRED: boolean = false;

  /** Readiness fails while Redis keeps neither an AOF nor an RDB snapshot (keys lost on its restart). */
  @Expose()
  @Transform(toBoolean)
  @IsIn([true, false], { message: '$property must be true or false' })
  readonly IDEMPOTENCY_REQUIRE_DURABLE: boolean = false;

  // OpenTelemetry's own variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
  @Expose()
  @Transform(toBoolean)
  @IsIn([true, false], { message: '$property must be true or false' })
  readonly OTEL_SDK_DISABLED: boolean = false;

  @Expose() @IsString() @IsNotEmpty() readonly OTEL_SERVICE_NAME: string = 'interventions-bff';

  /** Comma-separated key=value pairs, percent-encoded values. */
  @Expose() @IsOptional() @IsString() readonly OTEL_RESOURCE_ATTRIBUTES?: string;

  /** Base URL: `/v1/traces` is appended. Traces are exported only when this or the next is set. */
  @Expose()
  @IsOptional()
  @IsUrl(OTLP_URL, { message: '$property must be an http:// or https:// URL' })
  readonly OTEL_EXPORTER_OTLP_ENDPOINT?: string;

  /** The full URL of the traces endpoint, used as is. */
  @Expose()
  @IsOptional()
  @IsUrl(OTLP_URL, { message: '$property must be an http:// or https:// URL' })
  readonly OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;

  @Expose()
  @IsIn(['http/protobuf', 'http/json'], {
    message: '$property must be http/protobuf or http/json (grpc is not supported)',
  })
  readonly OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' | 'http/json' = 'http/protobuf';

  @Expose()
  @IsIn(SAMPLERS)
  readonly OTEL_TRACES_SAMPLER: (typeof SAMPLERS)[number] = 'parentbased_always_on';

  /** The ratio of the traceidratio samplers, 0 to 1. */
  @Expose()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  readonly OTEL_TRACES_SAMPLER_ARG: number = 1;

  /** `bearer`: the browser sends its token; `session`: the BFF is the OAuth client (RFC 10017). */
  @Expose()
  @IsIn(['bearer', 'session'])
  readonly AUTH_MODE: 'bearer' | 'session' = 'bearer';

  /** The provider's issuer; its metadata is read from `/.well-known/openid-configuration`. */
  @HttpUrlVariable()
  @IsOptional()
  readonly OIDC_ISSUER_URL?: string;

  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly OIDC_CLIENT_ID?: string;
  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly OIDC_CLIENT_SECRET?: string;
  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly OIDC_CLIENT_SECRET_FILE?: string;

  @Expose()
  @Matches(/^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/, {
    message: '$property must be space-separated OAuth scopes',
  })
  readonly OIDC_SCOPES: string = 'openid profile offline_access';

  /** An http:// issuer: its tokens could be read on the way, so loopback development and tests only. */
  @Expose()
  @Transform(toBoolean)
  @IsIn([true, false], { message: '$property must be true or false' })
  readonly OIDC_ALLOW_INSECURE_HTTP: boolean = false;

  /** Comma-separated base64 32-byte keys: the first encrypts sessions, every one decrypts. */
  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly SESSION_KEYS?: string;
  @Expose() @IsOptional() @IsString() @IsNotEmpty() readonly SESSION_KEYS_FILE?: string;

  /** Sliding: a session unused this long ends. */
  @IntegerVariable(60, 30 * 24 * 3600)
  readonly SESSION_IDLE_TIMEOUT_S: number = 1800;

  /** From the login, whatever the use. */
  @IntegerVariable(60, 365 * 24 * 3600)
  readonly SESSION_ABSOLUTE_TIMEOUT_S: number = 28_800;

  /** Bounds of the in-process store; when full, the address holding the most loses its oldest. */
  @IntegerVariable(1, 10_000_000)
  readonly IDEMPOTENCY_MAX_ENTRIES: number = 10_000;

  @IntegerVariable(64 * 1024, 16 * 1024 * 1024 * 1024)
  readonly IDEMPOTENCY_MAX_BYTES: number = 32 * 1024 * 1024;

  /** A stored answer's body beyond this is replaced by a problem saying so (either store). */
  @IntegerVariable(1024, 64 * 1024 * 1024)
  readonly IDEMPOTENCY_MAX_RECORD_BYTES: number = 64 * 1024;
}

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

/** Container secrets end with a newline; the token never does. */
export function readTokenFile(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

export const MAX_SESSION_TOKEN_BYTES = 8 * 1024;
// RFC 9110 field-value, visible ASCII only: undici refuses CR, LF, NUL and characters above 0xFF,
// and obs-text (0x80-0xFF) means whatever charset the upstream guesses.
const HEADER_VALUE = /^[\x21-\x7e](?:[\x21-\x7e \t]*[\x21-\x7e])?$/;

/**
 * Why a session token cannot be sent as a header, or undefined when it can. Checked before the
 * token is ever used: a bad one would fail every upstream call locally. Never quotes the token.
 */
export function sessionTokenProblem(token: string): string | undefined {
  if (token === '') return 'is empty';
  if (token.length > MAX_SESSION_TOKEN_BYTES) {
    return `is longer than ${MAX_SESSION_TOKEN_BYTES} bytes`;
  }
  if (!HEADER_VALUE.test(token)) {
    return 'is not a valid HTTP header value (visible ASCII only, spaces or tabs only inside)';
  }
  return undefined;
}

function tokenSourceProblems(env: EnvironmentVariables): string[] {
  const { UPSTREAM_SESSION_TOKEN: value, UPSTREAM_SESSION_TOKEN_FILE: file } = env;
  if (value !== undefined && file !== undefined) {
    return ['set only one of UPSTREAM_SESSION_TOKEN and UPSTREAM_SESSION_TOKEN_FILE, not both'];
  }
  if (value === undefined && file === undefined) {
    return ['UPSTREAM_SESSION_TOKEN or UPSTREAM_SESSION_TOKEN_FILE is required'];
  }
  if (file === undefined) {
    const problem = sessionTokenProblem(value as string);
    return problem ? [`UPSTREAM_SESSION_TOKEN ${problem}`] : [];
  }
  try {
    const problem = sessionTokenProblem(readTokenFile(file));
    return problem ? [`UPSTREAM_SESSION_TOKEN_FILE (${file}) ${problem}`] : [];
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return [`UPSTREAM_SESSION_TOKEN_FILE (${file}) cannot be read: ${code}`];
  }
}

function tracesUrl(env: EnvironmentVariables): string | undefined {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`;
}

function trustProxyOf(value: string | undefined): AppConfig['trustProxy'] {
  if (value === undefined) return false;
  return /^[0-9]+$/.test(value) ? Number(value) : value.split(',').map((entry) => entry.trim());
}

function trustProxyProblems({ TRUST_PROXY: value }: EnvironmentVariables): string[] {
  const trusted = trustProxyOf(value);
  if (trusted === false) return [];
  if (!Array.isArray(trusted)) {
    return trusted >= 1 && trusted <= 99 ? [] : ['TRUST_PROXY hops must be between 1 and 99'];
  }
  const invalid = trusted.filter((entry) => {
    const [address, bits, extra] = entry.split('/');
    const version = isIP(address);
    const max = version === 4 ? 32 : 128;
    return (
      version === 0 ||
      extra !== undefined ||
      (bits !== undefined && !(/^[0-9]{1,3}$/.test(bits) && Number(bits) <= max))
    );
  });
  return invalid.length === 0
    ? []
    : [`TRUST_PROXY has entries that are not an address or a CIDR: ${invalid.join(', ')}`];
}

/** Whether a URL's host is this machine: what travels to it never leaves the loopback interface. */
function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function upstreamProblems(env: EnvironmentVariables): string[] {
  const url = URL.parse(env.UPSTREAM_BASE_URL);
  // Another scheme is already refused by the URL check.
  return url?.protocol !== 'http:' ||
    isLoopbackHost(url.hostname) ||
    env.UPSTREAM_ALLOW_INSECURE_HTTP
    ? []
    : [
        'UPSTREAM_BASE_URL must be an https:// URL: the session token would travel in clear ' +
          '(http:// only on the loopback interface, or with UPSTREAM_ALLOW_INSECURE_HTTP=true)',
      ];
}

function warningsOf(env: EnvironmentVariables): string[] {
  const warnings: string[] = [];
  if (typeof trustProxyOf(env.TRUST_PROXY) === 'number') {
    warnings.push(
      'TRUST_PROXY is a hop count: any client that reaches this service without the proxy can ' +
        'name any address in X-Forwarded-For and escape every per-address budget; list the ' +
        "proxies' addresses or CIDRs instead",
    );
  }
  const upstream = new URL(env.UPSTREAM_BASE_URL);
  if (upstream.protocol === 'http:' && !isLoopbackHost(upstream.hostname)) {
    warnings.push(
      'UPSTREAM_ALLOW_INSECURE_HTTP=true: the upstream session token travels in clear over http://',
    );
  }
  return warnings;
}

function jwtProblems(env: EnvironmentVariables): string[] {
  const set = [env.AUTH_JWKS_URL, env.AUTH_ISSUER, env.AUTH_AUDIENCE].filter(
    (v) => v !== undefined,
  );
  if (set.length === 0) return [];
  if (set.length < 3) {
    return ['set all three of AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE, or none of them'];
  }
  const url = URL.parse(env.AUTH_JWKS_URL as string);
  // Keys fetched over plain http could be swapped on the way: anyone could then sign tokens.
  return url === null || url.protocol === 'https:' || isLoopbackHost(url.hostname)
    ? []
    : ['AUTH_JWKS_URL must be an https:// URL (http:// only on the loopback interface)'];
}

/** One of a value and a file holding it: the value, or a problem naming the variables. */
function secretOf(
  name: string,
  value: string | undefined,
  file: string | undefined,
): { secret?: string; problem?: string } {
  if (value !== undefined && file !== undefined) {
    return { problem: `set only one of ${name} and ${name}_FILE, not both` };
  }
  if (value !== undefined) return { secret: value };
  if (file === undefined) return { problem: `${name} or ${name}_FILE is required` };
  try {
    const secret = readTokenFile(file);
    return secret === '' ? { problem: `${name}_FILE (${file}) is empty` } : { secret };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { problem: `${name}_FILE (${file}) cannot be read: ${code}` };
  }
}

const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;

/** The session configuration, or the problems that prevent it; never quotes a secret or a key. */
function sessionOf(
  env: EnvironmentVariables,
  publicBaseUrl: string | undefined,
): { session?: SessionConfig; problems: string[] } {
  if (env.AUTH_MODE !== 'session') return { problems: [] };
  const problems: string[] = [];
  // The provider redirects the browser back to an absolute address: no relative default here.
  if (publicBaseUrl === undefined)
    problems.push('PUBLIC_BASE_URL is required in session mode (the redirect URI is built on it)');
  if (env.OIDC_ISSUER_URL === undefined)
    problems.push('OIDC_ISSUER_URL is required in session mode');
  else if (!env.OIDC_ISSUER_URL.startsWith('https://') && !env.OIDC_ALLOW_INSECURE_HTTP) {
    problems.push('OIDC_ISSUER_URL must be https:// (http:// needs OIDC_ALLOW_INSECURE_HTTP=true)');
  }
  if (env.OIDC_CLIENT_ID === undefined) problems.push('OIDC_CLIENT_ID is required in session mode');
  const secret = secretOf(
    'OIDC_CLIENT_SECRET',
    env.OIDC_CLIENT_SECRET,
    env.OIDC_CLIENT_SECRET_FILE,
  );
  const keys = secretOf('SESSION_KEYS', env.SESSION_KEYS, env.SESSION_KEYS_FILE);
  if (secret.problem) problems.push(secret.problem);
  if (keys.problem) problems.push(keys.problem);
  const keyTexts = keys.secret?.split(',').map((key) => key.trim()) ?? [];
  const badKeys = keyTexts.filter((key) => !BASE64_32_BYTES.test(key)).length;
  if (badKeys > 0) {
    const name = env.SESSION_KEYS_FILE === undefined ? 'SESSION_KEYS' : 'SESSION_KEYS_FILE';
    problems.push(`${name}: ${badKeys} of ${keyTexts.length} keys are not base64 of 32 bytes`);
  }
  if (env.SESSION_IDLE_TIMEOUT_S > env.SESSION_ABSOLUTE_TIMEOUT_S) {
    problems.push('SESSION_IDLE_TIMEOUT_S must not exceed SESSION_ABSOLUTE_TIMEOUT_S');
  }
  if (env.AUTH_JWKS_URL !== undefined) {
    problems.push(
      'AUTH_JWKS_URL (bearer-mode JWT verification) does not apply with AUTH_MODE=session',
    );
  }
  if (problems.length > 0) return { problems };
  return {
    problems,
    session: {
      issuerUrl: env.OIDC_ISSUER_URL as string,
      clientId: env.OIDC_CLIENT_ID as string,
      clientSecret: secret.secret as string,
      scopes: env.OIDC_SCOPES,
      allowInsecureHttp: env.OIDC_ALLOW_INSECURE_HTTP,
      redirectUri: `${publicBaseUrl}/bff/callback`,
      postLogoutRedirectUri: `${publicBaseUrl}/`,
      keys: keyTexts.map((key) => Buffer.from(key, 'base64')),
      idleTimeoutSeconds: env.SESSION_IDLE_TIMEOUT_S,
      absoluteTimeoutSeconds: env.SESSION_ABSOLUTE_TIMEOUT_S,
    },
  };
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
