// Issue 13, item 4: local JWT verification against a JWKS server the test runs, with keys it
// generates. Every rejection is a 401 with WWW-Authenticate: Bearer error="invalid_token" and no
// upstream call.
import { randomUUID } from 'node:crypto';
import { exportSPKI, importJWK, SignJWT } from 'jose';
import { RunningBff, withStartedBff } from './support/bff';
import { Answer, bearer, call, pool } from './support/client';
import { freePort } from './support/free-port';
import { AUDIENCE, ISSUER, JwksServer, SigningKey, signingKey, token } from './support/jwks-server';
import { UpstreamStub } from './support/upstream-stub';

let upstream: UpstreamStub;
let jwks: JwksServer;
let rsa: SigningKey;
let ec: SigningKey;
beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  jwks = await new JwksServer().start();
  [rsa, ec] = await Promise.all([signingKey('rsa-1', 'RS256'), signingKey('ec-1', 'ES256')]);
});
afterAll(async () => {
  await upstream.stop();
  await jwks.stop();
});
beforeEach(() => {
  upstream.reset();
  jwks.keys = [rsa.publicJwk];
  jwks.fetches = 0;
});

const jwtEnv = (jwksUrl: string) => ({
  AUTH_JWKS_URL: jwksUrl,
  AUTH_ISSUER: ISSUER,
  AUTH_AUDIENCE: AUDIENCE,
});

const withBff = (env: Record<string, string>, run: (bff: RunningBff) => Promise<void>) =>
  withStartedBff({ UPSTREAM_BASE_URL: upstream.url, ...jwtEnv(jwks.url), ...env }, run);

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function expectInvalidToken(answer: Answer): void {
  expect(answer.status).toBe(401);
  expect(answer.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(answer.body.detail).toBe('The bearer token is not valid.');
}

describe('with AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE set', () => {
  it('accepts a valid token and forwards it unchanged', async () => {
    await withBff({}, async (bff) => {
      for (const key of [rsa, ec]) {
        jwks.keys = [rsa.publicJwk, ec.publicJwk];
        upstream.reset();
        const jwt = await token(key);
        expect((await call(bff.url, { headers: bearer(jwt) })).status).toBe(201);
        expect(upstream.requests).toHaveLength(1);
        expect(upstream.requests[0].headers.authorization).toBe(`Bearer ${jwt}`);
      }
    });
  });

  it('rejects every forged, foreign or stale token with a 401 and no upstream call', async () => {
    await withBff({ AUTH_FAILURES_PER_MINUTE: '0' }, async (bff) => {
      const impostor = await signingKey(rsa.kid, 'RS256'); // same kid, another private key
      const publicKey = await importJWK(rsa.publicJwk, 'RS256');
      const publicPem = await exportSPKI(publicKey as Parameters<typeof exportSPKI>[0]);
      const valid = await token(rsa);
      const [header, payload] = valid.split('.');
      const cases: Array<[string, string]> = [
        ['a bad signature', await token(impostor)],
        [
          'a tampered payload',
          `${header}.${b64({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: now() + 600 })}.${valid.split('.')[2]}`,
        ],
        ['an expired token (past the 30 s tolerance)', await token(rsa, { exp: now() - 60 })],
        ['a token not valid yet', await token(rsa, { nbf: now() + 120 })],
        ['another issuer', await token(rsa, { iss: 'https://evil.test/' })],
        ['another audience', await token(rsa, { aud: 'another-api' })],
        ['no subject', await token(rsa, { sub: undefined })],
        ['no expiry', await token(rsa, { exp: undefined })],
        ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`],
        [
          'HS256 signed with the public key',
          await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'user-1', exp: now() + 600 })
            .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
            .sign(new TextEncoder().encode(publicPem)),
        ],
        ['a disallowed algorithm (RS512)', await token(await signingKey('rs512', 'RS512'))],
        ['an unknown kid', await token(await signingKey('unknown-kid', 'RS256'))],
        ['not a JWT at all', 'opaque-token'],
      ];
      for (const [name, jwt] of cases) {
        const answer = await call(bff.url, { headers: bearer(jwt) });
        try {
          expectInvalidToken(answer);
        } catch (error) {
          throw new Error(`${name}: ${String(error)}`);
        }
      }
      expect(upstream.requests).toHaveLength(0);
      // Within the tolerance, still good.
      expect(
        (await call(bff.url, { headers: bearer(await token(rsa, { exp: now() - 10 })) })).status,
      ).toBe(201);
      expect(upstream.requests).toHaveLength(1);
    });
  });

  it('takes a verified token again only as it was signed, and never past its exp', async () => {
    await withBff({ AUTH_CLOCK_TOLERANCE_S: '0' }, async (bff) => {
      const exp = now() + 2;
      const jwt = await token(rsa, { exp });
      expect((await call(bff.url, { headers: bearer(jwt) })).status).toBe(201);
      expect((await call(bff.url, { headers: bearer(jwt) })).status).toBe(201);
      // The same header and claims under another signature are another token.
      const [header, payload, signature] = jwt.split('.');
      const tampered = `${header}.${payload}.${signature.slice(0, -4)}AAAA`;
      expectInvalidToken(await call(bff.url, { headers: bearer(tampered) }));
      await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 100));
      expectInvalidToken(await call(bff.url, { headers: bearer(jwt) }));
      expect(upstream.requests).toHaveLength(2);
    });
  });

  it('counts rejected tokens against the address; a verified caller is judged by its own failures', async () => {
    await withBff({ AUTH_FAILURES_PER_MINUTE: '3' }, async (bff) => {
      const forged = await token(await signingKey(rsa.kid));
      for (let i = 0; i < 3; i += 1)
        expectInvalidToken(await call(bff.url, { headers: bearer(forged) }));
      const blocked = await call(bff.url, { headers: bearer(forged) });
      expect(blocked.status).toBe(429);
      expect(blocked.headers['ratelimit-policy']).toBe('"auth-failures";q=3;w=60');
      expect(upstream.requests).toHaveLength(0);
      expect((await call(bff.url, { headers: bearer(await token(rsa)) })).status).toBe(201);
      expect(upstream.requests).toHaveLength(1);
    });
  });

  it('a valid JWT is never locked out by its address: past its failure and request budgets', async () => {
    await withBff(
      { AUTH_FAILURES_PER_MINUTE: '3', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '5' },
      async (bff) => {
        const forged = await token(await signingKey(rsa.kid));
        const statuses: number[] = [];
        for (let i = 0; i < 6; i += 1) {
          statuses.push((await call(bff.url, { headers: bearer(forged) })).status);
        }
        expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
        const limited = await call(bff.url, { headers: bearer(`${forged}x`) });
        expect(limited.headers['ratelimit-policy']).toBe('"per-address";q=5;w=60');
        for (let i = 0; i < 3; i += 1) {
          const served = await call(bff.url, { headers: bearer(await token(rsa)) });
          expect(served.status).toBe(201);
          expect(served.headers.ratelimit).toMatch(/^"per-address";r=0;t=\d+$/);
        }
        expect(upstream.requests).toHaveLength(3);
      },
    );
  });

  it('keys budgets and idempotency on the verified subject: a refreshed token keeps both', async () => {
    await withBff({ RATE_LIMIT_PER_MINUTE: '3' }, async (bff) => {
      const key = randomUUID();
      const first = await token(rsa, { sub: 'user-7', jti: 'a' });
      const refreshed = await token(rsa, { sub: 'user-7', jti: 'b' });
      expect(first).not.toBe(refreshed);
      const send = (jwt: string) =>
        call(bff.url, { headers: { ...bearer(jwt), 'idempotency-key': key } });
      expect((await send(first)).headers['idempotent-replayed']).toBeUndefined();
      expect((await send(refreshed)).headers['idempotent-replayed']).toBe('true');
      expect(upstream.requests).toHaveLength(1);
      // Another subject with the same key is another caller.
      const other = await send(await token(rsa, { sub: 'user-8' }));
      expect(other.status).toBe(201);
      expect(other.headers['idempotent-replayed']).toBeUndefined();
      expect(upstream.requests).toHaveLength(2);
      // user-7's third request, with a third token: over RATE_LIMIT_PER_MINUTE=3 with the fourth.
      expect(
        (await call(bff.url, { headers: bearer(await token(rsa, { sub: 'user-7', jti: 'c' })) }))
          .status,
      ).toBe(201);
      const limited = await call(bff.url, {
        headers: bearer(await token(rsa, { sub: 'user-7', jti: 'd' })),
      });
      expect(limited.status).toBe(429);
      expect(limited.headers['ratelimit-policy']).toBe('"per-caller";q=3;w=60');
      expect(upstream.requests).toHaveLength(3);
    });
  });

  it('uses a key added to the JWKS after start, fetching the set again at most once per cooldown', async () => {
    // jose refetches on an unknown kid only 30 s after its last fetch: the clock (Date only) is
    // moved on instead of waiting.
    fakeDate();
    try {
      await withBff({ AUTH_FAILURES_PER_MINUTE: '0' }, async (bff) => {
        expect((await call(bff.url, { headers: bearer(await token(rsa)) })).status).toBe(201);
        const fetchesBefore = jwks.fetches;
        const rotated = await signingKey('rsa-2', 'RS256');
        jwks.keys = [rsa.publicJwk, rotated.publicJwk];
        // Within the cooldown: not fetched again, however many unknown kids arrive.
        for (let i = 0; i < 5; i += 1) {
          expectInvalidToken(await call(bff.url, { headers: bearer(await token(rotated)) }));
        }
        expect(jwks.fetches).toBe(fetchesBefore);
        jest.setSystemTime(Date.now() + 31_000);
        expect((await call(bff.url, { headers: bearer(await token(rotated)) })).status).toBe(201);
        expect(jwks.fetches).toBe(fetchesBefore + 1);
        expect(upstream.requests).toHaveLength(2);
      });
    } finally {
      jest.useRealTimers();
    }
  });
});

/** Moves Date only (jose's and the verifier's cooldowns read it); timers keep running. */
function fakeDate(): void {
  jest.useFakeTimers({
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
}

const ready = (bff: RunningBff) => call(bff.url, { method: 'GET', path: '/health/ready' });

describe('while the JWKS cannot be fetched', () => {
  afterEach(() => {
    jest.useRealTimers();
    jwks.answer = undefined;
  });

  it('answers 503 (not 401), reports it in readiness, calls nobody, and recovers within the cooldown', async () => {
    fakeDate();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/.well-known/jwks.json`;
    await withBff(jwtEnv(url), async (bff) => {
      const jwt = await token(rsa);
      const unavailable = await call(bff.url, { headers: bearer(jwt) });
      expect(unavailable.status).toBe(503);
      expect(unavailable.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(unavailable.body.type).toBe('urn:interventions-bff:problem:auth-unavailable');
      expect(unavailable.headers['retry-after']).toBe('5');
      const down = await ready(bff);
      expect(down.status).toBe(503);
      expect(down.body.error).toMatchObject({
        jwks: { status: 'down', message: 'the JWKS cannot be fetched' },
      });
      expect(upstream.requests).toHaveLength(0);

      const late = await new JwksServer().start(port);
      late.keys = [rsa.publicJwk];
      try {
        // Not fetched again within the cooldown that followed the failure.
        expect((await ready(bff)).status).toBe(503);
        expect(late.fetches).toBe(0);
        jest.setSystemTime(Date.now() + 31_000);
        expect((await ready(bff)).status).toBe(200);
        expect((await call(bff.url, { headers: bearer(jwt) })).status).toBe(201);
        expect(upstream.requests).toHaveLength(1);
        expect(late.fetches).toBe(1);
      } finally {
        await late.stop();
      }
    });
  });

  it('fetches it at most once per cooldown whatever the kids, while it fails', async () => {
    fakeDate();
    jwks.answer = (res) => res.writeHead(500).end();
    await withBff({}, async (bff) => {
      while (jwks.fetches < 1) await new Promise((resolve) => setTimeout(resolve, 10));
      const answers = await pool(
        20,
        Array.from(
          { length: 300 },
          (_, i) => async () =>
            call(bff.url, {
              headers: bearer(await token(rsa, {}, { kid: `kid-${i}` })),
              from: `127.0.4.${i % 250}`,
            }),
        ),
      );
      expect(answers.every((a) => a.status === 503)).toBe(true);
      expect(jwks.fetches).toBe(1);
      jest.setSystemTime(Date.now() + 31_000);
      expect((await call(bff.url, { headers: bearer(await token(rsa)) })).status).toBe(503);
      expect(jwks.fetches).toBe(2);
      expect(upstream.requests).toHaveLength(0);
    });
  });

  it('refuses a key set over 1 MiB unread: 503, readiness down, the process serves on', async () => {
    let sent = 0;
    jwks.answer = (res) => {
      // 100 MB of a JSON string, written as the client reads it.
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"keys":[],"x":"');
      const chunk = Buffer.alloc(1024 * 1024, 'a');
      const more = () => {
        while (sent < 100 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end('"}');
      };
      res.on('close', () => (sent = -sent));
      more();
    };
    await withBff({}, async (bff) => {
      const answer = await call(bff.url, { headers: bearer(await token(rsa)) });
      expect(answer.status).toBe(503);
      expect(answer.body.type).toBe('urn:interventions-bff:problem:auth-unavailable');
      const down = await ready(bff);
      expect(down.status).toBe(503);
      expect(down.body.error).toMatchObject({ jwks: { status: 'down' } });
      expect((await call(bff.url, { method: 'GET', path: '/health/live' })).status).toBe(200);
      // The connection was dropped long before the end (sent is negated once it closed).
      expect(sent).toBeLessThan(0);
      expect(-sent).toBeLessThan(20 * 1024 * 1024);
      expect(upstream.requests).toHaveLength(0);
    });
  });

  it.each<[string, () => unknown[]]>([
    ['no key at all', () => []],
    ['only an ES384 key while AUTH_ALGORITHMS is RS256', () => [{ ...ec.publicJwk, alg: 'ES384' }]],
    ['only an encryption key', () => [{ ...rsa.publicJwk, use: 'enc' }]],
  ])(
    'a key set with %s: readiness down, valid tokens 503 (never 401), no failure counted',
    async (_case, keys) => {
      jwks.keys = keys() as typeof jwks.keys;
      await withBff({ AUTH_ALGORITHMS: 'RS256', AUTH_FAILURES_PER_MINUTE: '3' }, async (bff) => {
        const down = await ready(bff);
        expect(down.status).toBe(503);
        expect(down.body.error).toMatchObject({
          jwks: { status: 'down', message: 'the JWKS holds no key for AUTH_ALGORITHMS' },
        });
        const jwt = await token(rsa);
        for (let i = 0; i < 5; i += 1) {
          const answer = await call(bff.url, { headers: bearer(jwt) });
          expect(answer.status).toBe(503);
          expect(answer.body.type).toBe('urn:interventions-bff:problem:auth-unavailable');
        }
        expect(jwks.fetches).toBeLessThanOrEqual(2);
        expect(upstream.requests).toHaveLength(0);
      });
    },
  );
});

describe('the subject', () => {
  it.each<[string, unknown]>([
    ['a number', 42],
    ['an empty string', ''],
    ['an object', { id: 'x' }],
  ])('a token whose sub is %s is refused with a 401', async (_case, sub) => {
    await withBff({}, async (bff) => {
      expectInvalidToken(await call(bff.url, { headers: bearer(await token(rsa, { sub })) }));
      expect(upstream.requests).toHaveLength(0);
    });
  });
});
