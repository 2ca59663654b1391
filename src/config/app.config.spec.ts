import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigValidationError, Env, loadAppConfig } from './app.config';
import { readTokenFile, sessionTokenProblem } from './session-token';

/** Distinctive so that any leak into a message is unmistakable. */
const SECRET = 'tok-5f3c9e1a-do-not-print-me';

const MINIMAL: Env = {
  UPSTREAM_BASE_URL: 'https://z52mnqg347.execute-api.eu-west-3.amazonaws.com/main',
  UPSTREAM_SESSION_TOKEN: SECRET,
};

let dir: string;
let tokenFile: string;
let emptyFile: string;
let blankFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'app-config-spec-'));
  tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'secret\n');
  emptyFile = join(dir, 'empty');
  writeFileSync(emptyFile, '');
  blankFile = join(dir, 'blank');
  writeFileSync(blankFile, '\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function configError(env: Env): ConfigValidationError {
  try {
    loadAppConfig(env);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error;
    throw error;
  }
  throw new Error('expected a ConfigValidationError');
}

function expectNoSecret(error: ConfigValidationError): void {
  expect(error.message).not.toContain(SECRET);
  for (const problem of error.problems) expect(problem).not.toContain(SECRET);
}

describe('loadAppConfig', () => {
  it('gives the defaults for a minimal valid environment', () => {
    const config = loadAppConfig(MINIMAL);
    expect(config.port).toBe(3000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.publicBaseUrl).toBeUndefined();
    expect(config.upstream).toMatchObject({
      baseUrl: 'https://z52mnqg347.execute-api.eu-west-3.amazonaws.com/main',
      timeoutMs: 10000,
      maxResponseBytes: 1048576,
      maxConcurrency: 256,
      sessionToken: { value: SECRET },
    });
  });

  it('reads the numeric variables as numbers', () => {
    const config = loadAppConfig({
      ...MINIMAL,
      UPSTREAM_TIMEOUT_MS: '2500',
      PORT: '8080',
      HOST: '127.0.0.1',
    });
    expect(config.upstream.timeoutMs).toBe(2500);
    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
  });

  it('bounds the in-process idempotency store to 10,000 records, 32 MiB, 64 KiB per answer', () => {
    expect(loadAppConfig(MINIMAL).idempotency).toMatchObject({
      maxEntries: 10_000,
      maxBytes: 32 * 1024 * 1024,
      maxRecordBytes: 64 * 1024,
    });
  });

  it('accepts PORT=0 (any free port)', () => {
    expect(loadAppConfig({ ...MINIMAL, PORT: '0' }).port).toBe(0);
  });

  it.each<[string, string]>([
    ['https://api.example.com/main/', 'https://api.example.com/main'],
    ['https://api.example.com/main//', 'https://api.example.com/main'],
    ['https://api.example.com/main', 'https://api.example.com/main'],
    ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
    ['http://localhost:4010', 'http://localhost:4010'],
  ])('UPSTREAM_BASE_URL %s gives base URL %s (base path kept)', (raw, expected) => {
    expect(loadAppConfig({ ...MINIMAL, UPSTREAM_BASE_URL: raw }).upstream.baseUrl).toBe(expected);
  });

  describe('UPSTREAM_BASE_URL over plain http (the session token in clear)', () => {
    it.each([
      'http://127.0.0.1:4010',
      'http://127.3.4.5',
      'http://localhost:4010',
      'http://[::1]:80',
    ])('accepts %s without a word: the loopback interface', (url) =>
      expect(loadAppConfig({ ...MINIMAL, UPSTREAM_BASE_URL: url }).warnings).toEqual([]),
    );

    it('refuses a remote host, naming the variable and the way out', () => {
      const error = configError({ ...MINIMAL, UPSTREAM_BASE_URL: 'http://upstream.internal:4010' });
      expect(error.problems).toEqual([
        expect.stringMatching(
          /^UPSTREAM_BASE_URL must be an https:\/\/ URL.*UPSTREAM_ALLOW_INSECURE_HTTP=true/,
        ),
      ]);
    });

    it('accepts a remote host with UPSTREAM_ALLOW_INSECURE_HTTP=true, with a start-up warning', () => {
      const config = loadAppConfig({
        ...MINIMAL,
        UPSTREAM_BASE_URL: 'http://upstream.internal:4010',
        UPSTREAM_ALLOW_INSECURE_HTTP: 'true',
      });
      expect(config.upstream.baseUrl).toBe('http://upstream.internal:4010');
      expect(config.warnings).toEqual([expect.stringContaining('travels in clear')]);
    });

    it('says nothing about UPSTREAM_ALLOW_INSECURE_HTTP on https', () => {
      expect(loadAppConfig({ ...MINIMAL, UPSTREAM_ALLOW_INSECURE_HTTP: 'true' }).warnings).toEqual(
        [],
      );
      expect(configError({ ...MINIMAL, UPSTREAM_ALLOW_INSECURE_HTTP: 'yes' }).problems).toEqual([
        'UPSTREAM_ALLOW_INSECURE_HTTP must be true or false',
      ]);
    });
  });

  it('ignores variables it does not know', () => {
    expect(() => loadAppConfig({ ...MINIMAL, SOMETHING_ELSE: 'x', PATH: '/bin' })).not.toThrow();
  });

  describe('caller protection variables', () => {
    const JWT = {
      AUTH_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json',
      AUTH_ISSUER: 'https://idp.example.com/',
      AUTH_AUDIENCE: 'interventions-bff',
    };

    it('defaults: socket address, budgets on, no JWT verification, token stripped, no management port', () => {
      const config = loadAppConfig(MINIMAL);
      expect(config.trustProxy).toBe(false);
      expect(config.perAddress).toEqual({
        requestsPerMinute: 600,
        authFailuresPerMinute: 20,
        maxInFlight: 32,
      });
      expect(config.credentials).toEqual({
        globalFailuresPerMinute: 200,
        knownGoodTtlSeconds: 600,
      });
      expect(config.jwt).toBeUndefined();
      expect(config.upstream.responseToken).toBe('strip');
      expect(config.managementPort).toBeUndefined();
    });

    it.each<[string, unknown]>([
      ['2', 2],
      ['10.0.0.0/8', ['10.0.0.0/8']],
      ['10.0.0.1, 192.168.0.0/16,fd00::/8, ::1', ['10.0.0.1', '192.168.0.0/16', 'fd00::/8', '::1']],
    ])('TRUST_PROXY=%s is %j', (value, expected) => {
      expect(loadAppConfig({ ...MINIMAL, TRUST_PROXY: value }).trustProxy).toEqual(expected);
    });

    it('turns JWT verification on with all three of its variables', () => {
      expect(loadAppConfig({ ...MINIMAL, ...JWT }).jwt).toEqual({
        jwksUrl: JWT.AUTH_JWKS_URL,
        issuer: JWT.AUTH_ISSUER,
        audience: JWT.AUTH_AUDIENCE,
        algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
        clockToleranceSeconds: 30,
      });
    });

    it('reads MANAGEMENT_PORT and UPSTREAM_RESPONSE_TOKEN', () => {
      const config = loadAppConfig({
        ...MINIMAL,
        MANAGEMENT_PORT: '9000',
        UPSTREAM_RESPONSE_TOKEN: 'relay',
      });
      expect(config.managementPort).toBe(9000);
      expect(config.upstream.responseToken).toBe('relay');
    });

    it.each<[string, string, Env]>([
      ['zero hops', 'TRUST_PROXY', { TRUST_PROXY: '0' }],
      ['a name', 'TRUST_PROXY', { TRUST_PROXY: 'nginx' }],
      ['a prefix too long', 'TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/33' }],
      ['one of three', 'AUTH_JWKS_URL', { AUTH_JWKS_URL: JWT.AUTH_JWKS_URL }],
      ['plain http', 'AUTH_JWKS_URL', { ...JWT, AUTH_JWKS_URL: 'http://idp.example.com/jwks' }],
      ['HMAC', 'AUTH_ALGORITHMS', { ...JWT, AUTH_ALGORITHMS: 'RS256,HS256' }],
      ['none', 'AUTH_ALGORITHMS', { ...JWT, AUTH_ALGORITHMS: 'none' }],
      ['over 300', 'AUTH_CLOCK_TOLERANCE_S', { AUTH_CLOCK_TOLERANCE_S: '301' }],
      ['another value', 'UPSTREAM_RESPONSE_TOKEN', { UPSTREAM_RESPONSE_TOKEN: 'keep' }],
      ['PORT itself', 'MANAGEMENT_PORT', { MANAGEMENT_PORT: '3000' }],
      [
        'negative',
        'RATE_LIMIT_PER_ADDRESS_PER_MINUTE',
        { RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '-1' },
      ],
      ['non-numeric', 'AUTH_FAILURES_PER_MINUTE', { AUTH_FAILURES_PER_MINUTE: 'many' }],
      ['fractional', 'MAX_IN_FLIGHT_PER_ADDRESS', { MAX_IN_FLIGHT_PER_ADDRESS: '1.5' }],
      ['negative', 'AUTH_FAILURES_GLOBAL_PER_MINUTE', { AUTH_FAILURES_GLOBAL_PER_MINUTE: '-1' }],
      ['zero', 'AUTH_KNOWN_GOOD_TTL_S', { AUTH_KNOWN_GOOD_TTL_S: '0' }],
    ])('rejects %s: problems naming %s', (_name, variable, env) => {
      const error = configError({ ...MINIMAL, ...env });
      expect(error.problems.length).toBeGreaterThan(0);
      for (const problem of error.problems) expect(problem).toContain(variable);
    });

    it('warns at start about a TRUST_PROXY hop count, not about addresses', () => {
      expect(loadAppConfig({ ...MINIMAL, TRUST_PROXY: '2' }).warnings).toEqual([
        expect.stringContaining('TRUST_PROXY is a hop count'),
      ]);
      expect(loadAppConfig({ ...MINIMAL, TRUST_PROXY: '10.0.0.0/8' }).warnings).toEqual([]);
      expect(loadAppConfig(MINIMAL).warnings).toEqual([]);
    });

    it('accepts a JWKS over http on the loopback interface (tests, a sidecar)', () => {
      const env = { ...MINIMAL, ...JWT, AUTH_JWKS_URL: 'http://127.0.0.1:8080/jwks' };
      expect(loadAppConfig(env).jwt?.jwksUrl).toBe('http://127.0.0.1:8080/jwks');
    });
  });

  it('names a missing UPSTREAM_BASE_URL as required, once', () => {
    const withoutBase: Env = { ...MINIMAL, UPSTREAM_BASE_URL: undefined };
    expect(configError(withoutBase).problems).toEqual(['UPSTREAM_BASE_URL is required']);
  });

  describe('token from a file', () => {
    it('uses the file as the token source and readTokenFile trims the trailing newline', () => {
      const config = loadAppConfig({
        UPSTREAM_BASE_URL: MINIMAL.UPSTREAM_BASE_URL,
        UPSTREAM_SESSION_TOKEN_FILE: tokenFile,
      });
      expect(config.upstream.sessionToken).toEqual({ file: tokenFile });
      expect(readTokenFile(tokenFile)).toBe('secret');
    });

    it('an empty UPSTREAM_SESSION_TOKEN counts as unset next to a token file', () => {
      const config = loadAppConfig({
        UPSTREAM_BASE_URL: MINIMAL.UPSTREAM_BASE_URL,
        UPSTREAM_SESSION_TOKEN: '',
        UPSTREAM_SESSION_TOKEN_FILE: tokenFile,
      });
      expect(config.upstream.sessionToken).toEqual({ file: tokenFile });
    });
  });

  describe('empty strings count as unset', () => {
    it('for optional variables: the defaults apply', () => {
      const config = loadAppConfig({
        ...MINIMAL,
        UPSTREAM_TIMEOUT_MS: '',
        PORT: '',
        HOST: '',
        UPSTREAM_SESSION_TOKEN_FILE: '',
      });
      expect(config.port).toBe(3000);
      expect(config.host).toBe('0.0.0.0');
      expect(config.upstream.timeoutMs).toBe(10000);
      expect(config.upstream.sessionToken).toEqual({ value: SECRET });
    });

    it('for required variables: they are reported missing', () => {
      const error = configError({ UPSTREAM_BASE_URL: '', UPSTREAM_SESSION_TOKEN: '' });
      expect(error.problems.some((p) => p.includes('UPSTREAM_BASE_URL'))).toBe(true);
      expect(error.problems.some((p) => p.includes('UPSTREAM_SESSION_TOKEN'))).toBe(true);
    });
  });

  describe('rejects', () => {
    // Every failing case carries the secret somewhere it could leak from.
    it.each<[string, string, Env]>([
      ['a missing UPSTREAM_BASE_URL', 'UPSTREAM_BASE_URL', { UPSTREAM_SESSION_TOKEN: SECRET }],
      ['an ftp:// URL', 'UPSTREAM_BASE_URL', { ...MINIMAL, UPSTREAM_BASE_URL: 'ftp://x' }],
      ['not a URL', 'UPSTREAM_BASE_URL', { ...MINIMAL, UPSTREAM_BASE_URL: 'not a url' }],
      [
        'a non-http(s) URL holding the secret',
        'UPSTREAM_BASE_URL',
        { ...MINIMAL, UPSTREAM_BASE_URL: `ftp://${SECRET}@x` },
      ],
      ['non-numeric', 'UPSTREAM_TIMEOUT_MS', { ...MINIMAL, UPSTREAM_TIMEOUT_MS: 'ten' }],
      ['negative', 'UPSTREAM_TIMEOUT_MS', { ...MINIMAL, UPSTREAM_TIMEOUT_MS: '-1' }],
      ['zero', 'UPSTREAM_TIMEOUT_MS', { ...MINIMAL, UPSTREAM_TIMEOUT_MS: '0' }],
      ['fractional', 'UPSTREAM_TIMEOUT_MS', { ...MINIMAL, UPSTREAM_TIMEOUT_MS: '1.5' }],
      ['non-numeric', 'PORT', { ...MINIMAL, PORT: 'http' }],
      ['negative', 'PORT', { ...MINIMAL, PORT: '-1' }],
      ['over 65535', 'PORT', { ...MINIMAL, PORT: '65536' }],
      ['a relative URL', 'PUBLIC_BASE_URL', { ...MINIMAL, PUBLIC_BASE_URL: '/api' }],
      [
        'an origin over 267 characters',
        'CORS_ORIGINS',
        { ...MINIMAL, CORS_ORIGINS: `https://app.example,https://${'a'.repeat(260)}` },
      ],
      ['under 64 KiB', 'IDEMPOTENCY_MAX_BYTES', { ...MINIMAL, IDEMPOTENCY_MAX_BYTES: '1000' }],
      [
        'over the store',
        'IDEMPOTENCY_MAX_RECORD_BYTES',
        { ...MINIMAL, IDEMPOTENCY_MAX_BYTES: '65536', IDEMPOTENCY_MAX_RECORD_BYTES: '65537' },
      ],
    ])('%s: a problem naming %s', (_name, variable, env) => {
      const error = configError(env);
      expect(error.problems.length).toBeGreaterThan(0);
      for (const problem of error.problems) expect(problem).toContain(variable);
      expect(error.message).toMatch(/^Invalid configuration:/);
      expectNoSecret(error);
    });

    it('neither token variable: one problem naming both', () => {
      const error = configError({ UPSTREAM_BASE_URL: MINIMAL.UPSTREAM_BASE_URL });
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toContain('UPSTREAM_SESSION_TOKEN');
      expect(error.problems[0]).toContain('UPSTREAM_SESSION_TOKEN_FILE');
    });

    it('both token variables: one problem naming both, without the secret', () => {
      const error = configError({ ...MINIMAL, UPSTREAM_SESSION_TOKEN_FILE: tokenFile });
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toContain('UPSTREAM_SESSION_TOKEN');
      expect(error.problems[0]).toContain('UPSTREAM_SESSION_TOKEN_FILE');
      expectNoSecret(error);
    });

    it.each<[string, () => string]>([
      ['a missing token file', () => join(dir, 'does-not-exist')],
      ['an empty token file', () => emptyFile],
      ['a token file holding only a newline', () => blankFile],
      ['a directory as token file', () => dir],
    ])('%s: one problem naming UPSTREAM_SESSION_TOKEN_FILE', (_name, file) => {
      const error = configError({
        UPSTREAM_BASE_URL: MINIMAL.UPSTREAM_BASE_URL,
        UPSTREAM_SESSION_TOKEN_FILE: file(),
      });
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toContain('UPSTREAM_SESSION_TOKEN_FILE');
    });

    it('never puts the token file content in a problem', () => {
      const leaky = join(dir, 'leaky');
      // Readable, but the URL problem is still reported: the content must not be.
      writeFileSync(leaky, `${SECRET}\n`);
      const error = configError({ UPSTREAM_BASE_URL: 'nope', UPSTREAM_SESSION_TOKEN_FILE: leaky });
      expect(error.problems).toHaveLength(1);
      expectNoSecret(error);
    });

    it('IDEMPOTENCY_REQUIRE_DURABLE=true without REDIS_URL: the in-process store cannot be durable', () => {
      const error = configError({ ...MINIMAL, IDEMPOTENCY_REQUIRE_DURABLE: 'true' });
      expect(error.problems).toEqual([
        'IDEMPOTENCY_REQUIRE_DURABLE=true needs REDIS_URL: the in-process store dies with the process',
      ]);
      const config = loadAppConfig({
        ...MINIMAL,
        IDEMPOTENCY_REQUIRE_DURABLE: 'true',
        REDIS_URL: 'redis://redis:6379',
      });
      expect(config.idempotency.requireDurable).toBe(true);
    });

    it('REDIS_SENTINELS: host:port pairs, the master name, and REDIS_URL for the rest', () => {
      const config = loadAppConfig({
        ...MINIMAL,
        REDIS_URL: 'rediss://:pw@redis',
        REDIS_SENTINELS: 'sentinel-0.redis:26379,10.0.0.7:26380',
      });
      expect(config.redisSentinel).toEqual({
        name: 'mymaster',
        sentinels: [
          { host: 'sentinel-0.redis', port: 26379 },
          { host: '10.0.0.7', port: 26380 },
        ],
      });
      expect(loadAppConfig(MINIMAL).redisSentinel).toBeUndefined();
      expect(configError({ ...MINIMAL, REDIS_SENTINELS: 'sentinel:26379' }).problems).toEqual([
        'REDIS_SENTINELS needs REDIS_URL: its credentials, database and scheme are those of the primary',
      ]);
      expect(
        configError({
          ...MINIMAL,
          REDIS_URL: 'redis://redis',
          REDIS_SENTINELS: 'sentinel',
          REDIS_SENTINEL_NAME: 'my master',
        }).problems,
      ).toEqual([
        'REDIS_SENTINELS must be a comma-separated list of host:port',
        'REDIS_SENTINEL_NAME must be a Sentinel master name',
      ]);
      expect(
        configError({ ...MINIMAL, REDIS_URL: 'redis://redis', REDIS_SENTINELS: 's:26379,t:99999' })
          .problems,
      ).toEqual(['REDIS_SENTINELS must be a comma-separated list of host:port']);
    });

    it('reports every problem at once, one per line, each naming its variable', () => {
      const error = configError({
        UPSTREAM_BASE_URL: 'not a url',
        UPSTREAM_SESSION_TOKEN: SECRET,
        UPSTREAM_SESSION_TOKEN_FILE: tokenFile,
        UPSTREAM_TIMEOUT_MS: 'soon',
        PORT: '-5',
      });
      for (const variable of [
        'UPSTREAM_BASE_URL',
        'UPSTREAM_SESSION_TOKEN_FILE',
        'UPSTREAM_TIMEOUT_MS',
        'PORT',
      ]) {
        expect(error.problems.some((p) => p.includes(variable))).toBe(true);
      }
      const lines = error.message.split('\n');
      expect(lines[0]).toBe('Invalid configuration:');
      expect(lines).toHaveLength(error.problems.length + 1);
      expectNoSecret(error);
    });
  });
});

describe('sessionTokenProblem', () => {
  it.each([
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'],
    ['spaces and a tab inside', 'a b\tc'],
    ['every visible ASCII character', '!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'],
    ['exactly 8 KiB', 'x'.repeat(8192)],
  ])('accepts %s', (_case, token) => {
    expect(sessionTokenProblem(token)).toBeUndefined();
  });

  it.each([
    ['a euro sign', 't€ken', 'not a valid HTTP header value'],
    ['obs-text (latin-1)', 'tok\u00e9n', 'not a valid HTTP header value'],
    ['CR/LF inside', 'tok\r\nen', 'not a valid HTTP header value'],
    ['a NUL', 'tok\u0000en', 'not a valid HTTP header value'],
    ['a leading space', ' token', 'not a valid HTTP header value'],
    ['a trailing tab', 'token\t', 'not a valid HTTP header value'],
    ['8 KiB and one byte', 'x'.repeat(8193), 'longer than 8192 bytes'],
    ['nothing', '', 'is empty'],
  ])('refuses %s', (_case, token, reason) => {
    expect(sessionTokenProblem(token)).toContain(reason);
  });

  it('is checked at start for either source, naming the variable and never the value', () => {
    const badFile = join(dir, 'bad-token');
    writeFileSync(badFile, `${SECRET}€\n`);
    for (const env of [
      { ...MINIMAL, UPSTREAM_SESSION_TOKEN: `${SECRET}\r\n` },
      { UPSTREAM_BASE_URL: MINIMAL.UPSTREAM_BASE_URL, UPSTREAM_SESSION_TOKEN_FILE: badFile },
    ]) {
      const error = configError(env);
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(
        /^UPSTREAM_SESSION_TOKEN(_FILE)? .*not a valid HTTP header value/,
      );
      expectNoSecret(error);
    }
  });
});

describe('session mode (AUTH_MODE=session)', () => {
  const KEY_A = Buffer.alloc(32, 1).toString('base64');
  const KEY_B = Buffer.alloc(32, 2).toString('base64');
  const SESSION: Env = {
    ...MINIMAL,
    AUTH_MODE: 'session',
    OIDC_ISSUER_URL: 'https://id.example',
    OIDC_CLIENT_ID: 'bff',
    OIDC_CLIENT_SECRET: SECRET,
    SESSION_KEYS: `${KEY_A},${KEY_B}`,
    PUBLIC_BASE_URL: 'https://bff.example/',
  };

  it('is off by default: bearer mode has no session configuration', () => {
    expect(loadAppConfig(MINIMAL).session).toBeUndefined();
  });

  it('gives the defaults, the redirect URI and the keys in order', () => {
    const { session } = loadAppConfig(SESSION);
    expect(session).toMatchObject({
      issuerUrl: 'https://id.example',
      clientId: 'bff',
      clientSecret: SECRET,
      scopes: 'openid profile offline_access',
      allowInsecureHttp: false,
      redirectUri: 'https://bff.example/bff/callback',
      postLogoutRedirectUri: 'https://bff.example/',
      idleTimeoutSeconds: 1800,
      absoluteTimeoutSeconds: 28800,
    });
    expect(session?.keys.map((key) => key.toString('base64'))).toEqual([KEY_A, KEY_B]);
  });

  it('reads the client secret and the keys from files', () => {
    const secretFile = join(dir, 'oidc-secret');
    const keysFile = join(dir, 'session-keys');
    writeFileSync(secretFile, `${SECRET}\n`);
    writeFileSync(keysFile, `${KEY_B}\n`);
    const { session } = loadAppConfig({
      ...SESSION,
      OIDC_CLIENT_SECRET: '',
      SESSION_KEYS: '',
      OIDC_CLIENT_SECRET_FILE: secretFile,
      SESSION_KEYS_FILE: keysFile,
    });
    expect(session?.clientSecret).toBe(SECRET);
    expect(session?.keys.map((key) => key.toString('base64'))).toEqual([KEY_B]);
  });

  it('accepts an http:// issuer only with OIDC_ALLOW_INSECURE_HTTP=true', () => {
    const insecure = { ...SESSION, OIDC_ISSUER_URL: 'http://127.0.0.1:9000' };
    expect(configError(insecure).problems).toEqual([
      'OIDC_ISSUER_URL must be https:// (http:// needs OIDC_ALLOW_INSECURE_HTTP=true)',
    ]);
    expect(
      loadAppConfig({ ...insecure, OIDC_ALLOW_INSECURE_HTTP: 'true' }).session?.issuerUrl,
    ).toBe('http://127.0.0.1:9000');
  });

  it.each<[string, string, Env]>([
    ['an unknown mode', 'AUTH_MODE', { ...SESSION, AUTH_MODE: 'cookie' }],
    ['no issuer', 'OIDC_ISSUER_URL', { ...SESSION, OIDC_ISSUER_URL: '' }],
    ['an issuer that is no URL', 'OIDC_ISSUER_URL', { ...SESSION, OIDC_ISSUER_URL: SECRET }],
    ['no client id', 'OIDC_CLIENT_ID', { ...SESSION, OIDC_CLIENT_ID: '' }],
    ['no client secret', 'OIDC_CLIENT_SECRET', { ...SESSION, OIDC_CLIENT_SECRET: '' }],
    [
      'both client secret variables',
      'OIDC_CLIENT_SECRET_FILE',
      { ...SESSION, OIDC_CLIENT_SECRET_FILE: '/run/secrets/x' },
    ],
    [
      'a missing secret file',
      'OIDC_CLIENT_SECRET_FILE',
      {
        ...SESSION,
        OIDC_CLIENT_SECRET: '',
        OIDC_CLIENT_SECRET_FILE: join(tmpdir(), 'no-such-oidc-secret'),
      },
    ],
    ['no keys', 'SESSION_KEYS', { ...SESSION, SESSION_KEYS: '' }],
    [
      'a key of 16 bytes',
      'SESSION_KEYS',
      { ...SESSION, SESSION_KEYS: `${KEY_A},${Buffer.alloc(16).toString('base64')}` },
    ],
    ['a key that is the secret', 'SESSION_KEYS', { ...SESSION, SESSION_KEYS: SECRET }],
    ['bad scopes', 'OIDC_SCOPES', { ...SESSION, OIDC_SCOPES: 'openid "x"' }],
    ['not a boolean', 'OIDC_ALLOW_INSECURE_HTTP', { ...SESSION, OIDC_ALLOW_INSECURE_HTTP: 'yes' }],
    [
      'an idle timeout over the absolute one',
      'SESSION_IDLE_TIMEOUT_S',
      { ...SESSION, SESSION_IDLE_TIMEOUT_S: '30000' },
    ],
    [
      'an absolute timeout under a minute',
      'SESSION_ABSOLUTE_TIMEOUT_S',
      { ...SESSION, SESSION_ABSOLUTE_TIMEOUT_S: '10' },
    ],
    [
      'a refresh margin over an hour',
      'SESSION_REFRESH_BEFORE_S',
      { ...SESSION, SESSION_REFRESH_BEFORE_S: '3601' },
    ],
    [
      'a refresh margin that is not a number',
      'SESSION_REFRESH_BEFORE_S',
      { ...SESSION, SESSION_REFRESH_BEFORE_S: 'soon' },
    ],
    [
      'bearer-mode JWT verification',
      'AUTH_JWKS_URL',
      {
        ...SESSION,
        AUTH_JWKS_URL: 'https://id.example/jwks',
        AUTH_ISSUER: 'i',
        AUTH_AUDIENCE: 'a',
      },
    ],
  ])('%s: a problem naming %s, never the secret', (_name, variable, env) => {
    const error = configError(env);
    expect(error.problems.some((problem) => problem.includes(variable))).toBe(true);
    expectNoSecret(error);
    expect(error.message).not.toContain(KEY_A);
  });
});
