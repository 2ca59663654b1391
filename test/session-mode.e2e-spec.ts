// Issue 25: the BFF session mode (RFC 10017) against a real oidc-provider on a loopback port,
// logging in through its login form over HTTP, with the upstream stub and a real redis-server.
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { DevProvider } from '../scripts/dev-oidc-provider.mjs';
import { ROUTE, SESSION_TOKEN, startBff, VALID_BODY } from './support/bff';
import { freePort } from './support/free-port';
import { createIntervention, sessionClient } from './frontend-session-example';
import { RedisServer } from './support/redis-server';
import {
  CookieJar,
  DEMO_USER,
  logIn,
  send,
  sessionEnv,
  SessionBff,
  startProvider,
  startSessionBff,
} from './support/session-login';
import { CREATED_BODY, UpstreamStub } from './support/upstream-stub';

const SESSION = '__Host-bff-session';
const LOGIN = '__Host-bff-login';
const CSRF = { 'x-csrf': '1' };

let upstream: UpstreamStub;
let site: SessionBff<DevProvider>;
let provider: DevProvider;
let bffUrl: string;

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  site = await startSessionBff(upstream.url);
  ({ provider, url: bffUrl } = site);
});
afterAll(async () => {
  await site?.close();
  await upstream?.stop();
});
beforeEach(() => upstream.reset());

/** A Set-Cookie line as its name=value and its attributes, lower-cased, in a set. */
function cookieOf(response: Response, name: string) {
  const line = response.headers.getSetCookie().find((l) => l.startsWith(`${name}=`));
  if (line === undefined) return undefined;
  const [pair, ...attributes] = line.split(';').map((part) => part.trim());
  return {
    value: pair.slice(name.length + 1),
    attributes: new Set(attributes.map((a) => a.toLowerCase())),
  };
}

const create = (jar: CookieJar, headers: Record<string, string> = CSRF, url = bffUrl) =>
  send(`${url}${ROUTE}`, jar, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(VALID_BODY),
  });

async function expectProblem(response: Response, status: number, kind: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await response.json()) as { type: string };
  expect(body.type).toBe(`urn:interventions-bff:problem:${kind}`);
}

describe('AUTH_MODE=session', () => {
  it('logs in, tells who is logged in, creates with the session token, logs out', async () => {
    const jar = new CookieJar();
    const { start, callback } = await logIn(bffUrl, jar, '/docs');

    const authorize = new URL(start.headers.get('location') as string);
    expect(authorize.origin + authorize.pathname).toBe(`${provider.issuer}/auth`);
    const query = Object.fromEntries(authorize.searchParams);
    expect(query).toMatchObject({
      response_type: 'code',
      client_id: 'interventions-bff',
      redirect_uri: `${bffUrl}/bff/callback`,
      code_challenge_method: 'S256',
      scope: 'openid profile email offline_access',
    });
    for (const name of ['state', 'nonce', 'code_challenge']) {
      expect(query[name]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    const login = cookieOf(start, LOGIN);
    expect(login?.attributes).toEqual(
      new Set(['max-age=600', 'path=/', 'httponly', 'secure', 'samesite=lax']),
    );

    expect(callback.status).toBe(302);
    expect(callback.headers.get('location')).toBe('/docs');
    const session = cookieOf(callback, SESSION);
    expect(session?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session?.attributes).toEqual(
      new Set(['path=/', 'httponly', 'secure', 'samesite=strict']),
    );
    expect(cookieOf(callback, LOGIN)?.attributes.has('max-age=0')).toBe(true);

    const user = await send(`${bffUrl}/bff/user`, jar, { headers: CSRF });
    expect(user.status).toBe(200);
    const me = (await user.json()) as Record<string, string>;
    expect(me).toEqual({
      sub: DEMO_USER.sub,
      name: DEMO_USER.name,
      email: DEMO_USER.email,
      sessionExpiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    const expiresInS = (Date.parse(me.sessionExpiresAt) - Date.now()) / 1000;
    expect(expiresInS).toBeGreaterThan(1790);
    expect(expiresInS).toBeLessThanOrEqual(1800);

    // A browser's own Authorization is never what goes upstream.
    const created = await create(jar, { ...CSRF, authorization: 'Bearer from-the-page' });
    expect(created.status).toBe(201);
    expect(upstream.requests).toHaveLength(1);
    const sent = upstream.requests[0].headers;
    expect(sent['x-session-token']).toBe(SESSION_TOKEN);
    expect(sent.cookie).toBeUndefined();
    expect(sent['x-csrf']).toBeUndefined();
    expect(sent.authorization).toMatch(/^Bearer [\w-]{20,}/);
    expect(sent.authorization).not.toBe('Bearer from-the-page');
    // The bearer is the provider's own access token: its userinfo endpoint accepts it.
    const userinfo = await fetch(`${provider.issuer}/me`, {
      headers: { authorization: sent.authorization as string },
    });
    expect(userinfo.status).toBe(200);
    expect(((await userinfo.json()) as { sub: string }).sub).toBe(DEMO_USER.sub);

    const anonymous = await send(`${bffUrl}/bff/logout`, new CookieJar(), {
      method: 'POST',
      headers: CSRF,
    });
    await expectProblem(anonymous, 401, 'unauthorized');
    await expectProblem(
      await send(`${bffUrl}/bff/logout`, jar, { method: 'POST' }),
      403,
      'forbidden',
    );
    const cookieBefore = jar.get(SESSION) as string;
    const out = await send(`${bffUrl}/bff/logout`, jar, { method: 'POST', headers: CSRF });
    expect(out.status).toBe(200);
    const cleared = cookieOf(out, SESSION);
    expect(cleared?.value).toBe('');
    expect(cleared?.attributes.has('max-age=0')).toBe(true);
    const { endSessionUrl } = (await out.json()) as { endSessionUrl: string };
    const end = new URL(endSessionUrl);
    expect(end.origin + end.pathname).toBe(`${provider.issuer}/session/end`);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${bffUrl}/`);
    expect(end.searchParams.get('id_token_hint')).toMatch(/^ey/);
    // The access token went with the refresh token's revocation (the grant is revoked).
    const revoked = await fetch(`${provider.issuer}/me`, {
      headers: { authorization: sent.authorization as string },
    });
    expect(revoked.status).toBe(401);

    // The old cookie is refused from now on, and nothing more reaches the upstream.
    jar.set(SESSION, cookieBefore);
    upstream.reset();
    await expectProblem(
      await send(`${bffUrl}/bff/user`, jar, { headers: CSRF }),
      401,
      'unauthorized',
    );
    await expectProblem(await create(jar), 401, 'unauthorized');
    expect(upstream.requests).toHaveLength(0);
  });

  it('403 without X-CSRF: 1, 401 without a session or with a forged one; no upstream call', async () => {
    const jar = new CookieJar();
    await logIn(bffUrl, jar);
    await expectProblem(await create(jar, {}), 403, 'forbidden');
    await expectProblem(await create(jar, { 'x-csrf': '0' }), 403, 'forbidden');
    await expectProblem(await send(`${bffUrl}/bff/user`, jar), 403, 'forbidden');
    await expectProblem(await create(new CookieJar()), 401, 'unauthorized');
    for (const forged of [randomBytes(32).toString('base64url'), 'garbage', '']) {
      const forgedJar = new CookieJar();
      forgedJar.set(SESSION, forged);
      await expectProblem(await create(forgedJar), 401, 'unauthorized');
    }
    // A bearer token alone is nothing in session mode.
    await expectProblem(
      await create(new CookieJar(), { ...CSRF, authorization: 'Bearer some-token' }),
      401,
      'unauthorized',
    );
    expect(upstream.requests).toHaveLength(0);
    expect((await create(jar)).status).toBe(201);
  });

  it('replaces a cookie planted before the login, which stays worthless', async () => {
    const jar = new CookieJar();
    const planted = randomBytes(32).toString('base64url');
    jar.set(SESSION, planted);
    const { callback } = await logIn(bffUrl, jar);
    const fresh = cookieOf(callback, SESSION)?.value;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(planted);
    expect((await send(`${bffUrl}/bff/user`, jar, { headers: CSRF })).status).toBe(200);
    const attacker = new CookieJar();
    attacker.set(SESSION, planted);
    expect((await send(`${bffUrl}/bff/user`, attacker, { headers: CSRF })).status).toBe(401);
    // Two logins in one browser are two different sessions.
    const again = await logIn(bffUrl, new CookieJar());
    expect(cookieOf(again.callback, SESSION)?.value).not.toBe(fresh);
  });

  it("spends the address's request budget on /bff/* too (a callback calls the provider)", async () => {
    for (const path of ['/bff/login', '/bff/callback', '/bff/user']) {
      const answer = await send(`${bffUrl}${path}`, new CookieJar(), { headers: CSRF });
      expect(answer.headers.get('ratelimit-policy')).toBe('"per-address";q=600;w=60');
      expect(answer.headers.get('ratelimit')).toMatch(/^"per-address";r=\d+;t=\d+$/);
    }
  });

  it.each([
    'https://evil.example',
    '//evil.example',
    '/\\evil.example',
    '\\/evil.example',
    'evil.example',
  ])('returnTo=%s: 400, no redirect, no login cookie', async (returnTo) => {
    const answer = await send(
      `${bffUrl}/bff/login?returnTo=${encodeURIComponent(returnTo)}`,
      new CookieJar(),
    );
    expect(answer.headers.get('location')).toBeNull();
    expect(answer.headers.getSetCookie()).toEqual([]);
    await expectProblem(answer, 400, 'malformed-request');
  });

  it('a wrong or missing state, a provider error or a bad code: 400 and no session', async () => {
    const cases: Array<[string, (state: string) => string, boolean]> = [
      ['a wrong state', () => '?code=abc&state=wrong', true],
      ['no login cookie (another browser)', (state) => `?code=abc&state=${state}`, false],
      ['an error from the provider', (state) => `?error=access_denied&state=${state}`, true],
      ['a code the provider never issued', (state) => `?code=not-a-code&state=${state}`, true],
    ];
    for (const [, query, sameBrowser] of cases) {
      const jar = new CookieJar();
      const start = await send(`${bffUrl}/bff/login`, jar);
      const state = new URL(start.headers.get('location') as string).searchParams.get('state');
      const answer = await send(
        `${bffUrl}/bff/callback${query(String(state))}`,
        sameBrowser ? jar : new CookieJar(),
      );
      await expectProblem(answer, 400, 'login-failed');
      expect(cookieOf(answer, SESSION)).toBeUndefined();
    }
  });
});

describe('the documented session-mode frontend (test/frontend-session-example.ts)', () => {
  /** A browser's fetch: its cookie jar. */
  const browserFetch =
    (jar: CookieJar): typeof fetch =>
    async (input) => {
      const request = input as Request;
      return send(request.url, jar, {
        method: request.method,
        headers: request.headers,
        body: await request.text(),
      });
    };

  it('creates with the session and X-CSRF; sends the user to log in on a 401', async () => {
    const jar = new CookieJar();
    await logIn(bffUrl, jar);
    const logins: string[] = [];
    const api = sessionClient(bffUrl, (url) => logins.push(url), '/planning', browserFetch(jar));
    expect(await createIntervention(api, VALID_BODY.scheduledStart, VALID_BODY.scheduledEnd)).toBe(
      CREATED_BODY.data.id,
    );
    expect(upstream.requests[0].headers.authorization).toMatch(/^Bearer /);
    expect(logins).toEqual([]);

    const anonymous = sessionClient(
      bffUrl,
      (url) => logins.push(url),
      '/planning',
      browserFetch(new CookieJar()),
    );
    expect(
      await createIntervention(anonymous, VALID_BODY.scheduledStart, VALID_BODY.scheduledEnd),
    ).toBeUndefined();
    expect(logins).toEqual(['/bff/login?returnTo=%2Fplanning']);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('AUTH_MODE=session, the API document and Swagger UI', () => {
  interface Operation {
    security?: Array<Record<string, string[]>>;
    parameters?: Array<{ name: string; in: string; required?: boolean }>;
    responses: Record<string, { description: string; headers?: Record<string, unknown> }>;
  }
  interface Document {
    info: { description: string };
    components: { securitySchemes: Record<string, Record<string, string>> };
    paths: Record<string, Record<string, Operation>>;
  }

  it('describes the cookie scheme, X-CSRF and the 401/403 on every proxied route', async () => {
    const document = (await (await fetch(`${bffUrl}/docs-json`)).json()) as Document;
    expect(document.info.description).toContain('[log in](/bff/login?returnTo=/docs)');
    expect(Object.keys(document.components.securitySchemes)).toEqual(['session']);
    expect(document.components.securitySchemes.session).toMatchObject({
      type: 'apiKey',
      in: 'cookie',
      name: SESSION,
    });
    const createOp = document.paths[ROUTE].post;
    expect(createOp.security).toEqual([{ session: [] }]);
    expect(createOp.parameters).toContainEqual(
      expect.objectContaining({ name: 'X-CSRF', in: 'header', required: true }),
    );
    expect(createOp.responses['401'].description).toContain('session');
    expect(createOp.responses['401'].headers).not.toHaveProperty('WWW-Authenticate');
    expect(createOp.responses['403'].description).toContain('X-CSRF');
    for (const [path, method] of [
      ['/bff/user', 'get'],
      ['/bff/logout', 'post'],
    ]) {
      expect(document.paths[path][method].security).toEqual([{ session: [] }]);
    }
    expect(document.paths['/bff/login'].get.responses).toHaveProperty('302');
  });

  it("makes Swagger UI's requests carry X-CSRF: 1", async () => {
    const init = await (await fetch(`${bffUrl}/docs/swagger-ui-init.js`)).text();
    expect(init).toMatch(/"requestInterceptor":\s*function addCsrfHeader\(request\)/);
    expect(init).toContain("request.headers['X-CSRF'] = '1'");
  });
});

describe('AUTH_MODE=session, budgets and idempotency', () => {
  it('key them by the session user (iss + sub), whichever of their sessions calls', async () => {
    const limited = await startSessionBff(upstream.url, { env: { RATE_LIMIT_PER_MINUTE: '3' } });
    const { url } = limited;
    try {
      const [first, second] = [new CookieJar(), new CookieJar()];
      await logIn(url, first);
      await logIn(url, second);
      const key = { ...CSRF, 'idempotency-key': 'c0ffee00-0000-4000-8000-000000000001' };
      expect((await create(first, key, url)).status).toBe(201);
      const replay = await create(second, key, url);
      expect(replay.status).toBe(201);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(upstream.requests).toHaveLength(1);
      expect((await create(second, CSRF, url)).status).toBe(201);
      const over = await create(first, CSRF, url);
      await expectProblem(over, 429, 'too-many-requests');
      expect(over.headers.get('ratelimit')).toMatch(/^"per-caller";r=0;/);
    } finally {
      await limited.close();
    }
  });
});

describe('AUTH_MODE=session, a valid session at an address someone else spent', () => {
  it('passes its budgets of failed cookies and of requests: only the forger gets 429', async () => {
    const shared = await startSessionBff(upstream.url, {
      env: { AUTH_FAILURES_PER_MINUTE: '5', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '20' },
    });
    try {
      const honest = new CookieJar();
      await logIn(shared.url, honest);
      const forger = new CookieJar();
      forger.set(SESSION, randomBytes(32).toString('base64url'));
      const forged = [];
      for (let i = 0; i < 25; i += 1) forged.push((await create(forger, CSRF, shared.url)).status);
      // 5 forged cookies are 401s, then the address learns nothing more; past 20 requests the
      // address's own budget refuses too.
      expect(forged.slice(0, 5)).toEqual(Array(5).fill(401));
      expect(forged.slice(5)).toEqual(Array(20).fill(429));
      const answer = await create(honest, CSRF, shared.url);
      expect(answer.status).toBe(201);
      expect(upstream.requests).toHaveLength(1);
    } finally {
      await shared.close();
    }
  });
});

describe('AUTH_MODE=session, the /bff endpoints past the address budget', () => {
  it('answer 429 with Retry-After, as documented, and start no login', async () => {
    const limited = await startSessionBff(upstream.url, {
      env: { RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '3' },
    });
    try {
      const user = () => send(`${limited.url}/bff/user`, new CookieJar(), { headers: CSRF });
      expect([(await user()).status, (await user()).status, (await user()).status]).toEqual([
        401, 401, 401,
      ]);
      const over = await user();
      await expectProblem(over, 429, 'too-many-requests');
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      const login = await send(`${limited.url}/bff/login`, new CookieJar());
      expect(login.status).toBe(429);
      expect(login.headers.get('location')).toBeNull();
    } finally {
      await limited.close();
    }
  });
});

describe('AUTH_MODE=session with CORS_ORIGINS', () => {
  it('allows credentials and X-CSRF for the listed origin only', async () => {
    const cors = await startBff({
      ...sessionEnv(provider.issuer, bffUrl),
      UPSTREAM_BASE_URL: upstream.url,
      CORS_ORIGINS: 'https://app.example',
    });
    try {
      const preflight = (origin: string, method: string) =>
        fetch(`${cors.url}${method === 'GET' ? '/bff/user' : ROUTE}`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': method,
            'access-control-request-headers': 'x-csrf,content-type',
          },
        });
      for (const method of ['POST', 'GET']) {
        const allowed = await preflight('https://app.example', method);
        expect(allowed.status).toBe(204);
        expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
        expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
        expect(allowed.headers.get('access-control-allow-headers')).toContain('X-CSRF');
        expect(allowed.headers.get('access-control-allow-methods')).toContain(method);
      }
      const other = await preflight('https://evil.example', 'POST');
      // Without Access-Control-Allow-Origin the browser gives the page nothing (@fastify/cors still
      // sends Allow-Credentials, which means nothing alone).
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await cors.close();
    }
  });
});

describe('AUTH_MODE=session with REDIS_URL, two replicas', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('a session made through one replica works through the other; Redis holds no token', async () => {
    const portA = await freePort();
    const url = `http://127.0.0.1:${portA}`;
    const own = await startProvider(url);
    // Both behind one public address: the provider knows one redirect URI.
    const env = {
      ...sessionEnv(own.issuer, url),
      UPSTREAM_BASE_URL: upstream.url,
      REDIS_URL: redis.url,
    };
    const a = await startBff({ ...env, PORT: String(portA) });
    const b = await startBff(env);
    const client = new Redis(redis.url);
    try {
      const jar = new CookieJar();
      await logIn(url, jar);
      const user = await send(`${b.url}/bff/user`, jar, { headers: CSRF });
      expect(user.status).toBe(200);
      expect(await create(jar, CSRF, b.url).then((r) => r.status)).toBe(201);
      const accessToken = (upstream.requests[0].headers.authorization as string).slice(7);

      const keys = await client.keys('bff:session:*');
      expect(keys).toHaveLength(1);
      const stored = (await client.get(keys[0])) as string;
      const sessionId = jar.get(SESSION) as string;
      const decoded = Buffer.from(stored, 'base64url').toString('latin1');
      for (const secret of [accessToken, sessionId, DEMO_USER.sub, DEMO_USER.email, 'eyJ']) {
        expect(stored).not.toContain(secret);
        expect(decoded).not.toContain(secret);
        expect(keys[0]).not.toContain(secret);
      }
      const ttl = await client.pttl(keys[0]);
      expect(ttl).toBeGreaterThan(1790_000);
      expect(ttl).toBeLessThanOrEqual(1800_000);

      // Logged out through B: A refuses the cookie too.
      expect(
        (await send(`${b.url}/bff/logout`, jar, { method: 'POST', headers: CSRF })).status,
      ).toBe(200);
      expect(await client.keys('bff:session:*')).toEqual([]);
      const stale = new CookieJar();
      stale.set(SESSION, sessionId);
      await expectProblem(
        await send(`${url}/bff/user`, stale, { headers: CSRF }),
        401,
        'unauthorized',
      );
    } finally {
      client.disconnect();
      await a.close();
      await b.close();
      await own.close();
    }
  });
});
