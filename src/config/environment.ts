import { applyDecorators } from '@nestjs/common';
import { Expose, Transform, Type } from 'class-transformer';
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
} from 'class-validator';

/*
 * The schema of the environment: one decorated property per variable, its form and its default.
 * Rules that relate several variables are in rules.ts; the typed configuration in app.config.ts.
 */

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

  /**
   * Redis Sentinel: the sentinels to ask for the primary of REDIS_SENTINEL_NAME, which then replaces
   * REDIS_URL's host and port (its credentials, database and rediss:// still apply to the primary).
   */
  @Expose()
  @IsOptional()
  @Matches(/^[^\s,:]{1,253}:\d{1,5}(,[^\s,:]{1,253}:\d{1,5})*$/, {
    message: '$property must be a comma-separated list of host:port',
  })
  readonly REDIS_SENTINELS?: string;

  @Expose()
  @Matches(/^[A-Za-z0-9._-]{1,64}$/, { message: '$property must be a Sentinel master name' })
  readonly REDIS_SENTINEL_NAME: string = 'mymaster';

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

  /** An access token expiring within this is refreshed before the request is forwarded. */
  @IntegerVariable(0, 3600)
  readonly SESSION_REFRESH_BEFORE_S: number = 60;

  /** Bounds of the in-process store; when full, the address holding the most loses its oldest. */
  @IntegerVariable(1, 10_000_000)
  readonly IDEMPOTENCY_MAX_ENTRIES: number = 10_000;

  @IntegerVariable(64 * 1024, 16 * 1024 * 1024 * 1024)
  readonly IDEMPOTENCY_MAX_BYTES: number = 32 * 1024 * 1024;

  /** A stored answer's body beyond this is replaced by a problem saying so (either store). */
  @IntegerVariable(1024, 64 * 1024 * 1024)
  readonly IDEMPOTENCY_MAX_RECORD_BYTES: number = 64 * 1024;
}
