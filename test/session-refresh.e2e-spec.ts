// Issue 26, item 1: the BFF refreshes a session's access token before forwarding, once per session
// whatever the concurrency (in one process and across replicas on one Redis), against a real
// oidc-provider issuing 6-second access tokens and rotating refresh tokens.
import { hash } from 'node:crypto';
import Redis from 'ioredis';
import type { DevProvider } from '../scripts/dev-oidc-provider.mjs';
import { RunningBff, ROUTE, startBff, VALID_BODY } from './support/bff';
import { freePort } from './support/free-port';
import { RedisServer } from './support/redis-server';
import { CookieJar, logIn, send, sessionEnv, startProvider } from './support/session-login';
import { UpstreamStub } from './support/upstream-stub';
import { MemorySessionStore, RedisSessionStore } from '../src/session/session.store';

const CSRF = { 'x-csrf': '1' };
const ACCESS_TOKEN_TTL_S = 6;
const REFRESH_BEFORE_S = 3;

let upstream: UpstreamStub;
let redis: RedisServer;
let client: Redis;
let provider: DevProvider;
/** The replica at the public address (logins), and a second one on the same Redis. */
let a: RunningBff;
let b: RunningBff;
let refreshGrants: () => number;
/** The provider's newest refresh token, to revoke it as an administrator would. */
let newestRefreshToken: { destroy(): Promise<void> } | undefined;
/** How long the provider's token endpoint takes to answer. */
let tokenDelayMs = 0;

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  redis = await RedisServer.start();
  client = new Redis(redis.url);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  provider = await startProvider(publicUrl, ACCESS_TOKEN_TTL_S);
  refreshGrants = countRefreshGrants(provider);
  provider.provider.on('refresh_token.saved', (token) => {
    newestRefreshToken = token as typeof newestRefreshToken;
  });
  provider.provider.use(async (ctx, next) => {
    if (ctx.path === '/token') await sleep(tokenDelayMs);
    await next();
  });
  const env = {
    ...sessionEnv(provider.issuer, publicUrl),
    UPSTREAM_BASE_URL: upstream.url,
    REDIS_URL: redis.url,
    SESSION_REFRESH_BEFORE_S: String(REFRESH_BEFORE_S),
    // 50 calls at once from one test client's address.
    MAX_IN_FLIGHT_PER_ADDRESS: '100',
  };
  a = await startBff({ ...env, PORT: String(port) });
  b = await startBff(env);
  for (const bff of [a, b]) {
    while ((await fetch(`${bff.url}/health/ready`)).status !== 200) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  client?.disconnect();
  await provider?.close();
  await redis?.stop();
  await upstream?.stop();
});

/** How many refresh-token grants the provider has granted so far. */
function countRefreshGrants(at: DevProvider): () => number {
  let count = 0;
  at.provider.on('grant.success', (ctx) => {
    const { params } = (ctx as { oidc: { params: { grant_type?: string } } }).oidc;
    if (params.grant_type === 'refresh_token') count += 1;
  });
  return () => count;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const create = (url: string, jar: CookieJar) =>
  send(`${url}${ROUTE}`, jar, {
    method: 'POST',
    headers: { ...CSRF, 'content-type': 'application/json' },
    body: JSON.stringify(VALID_BODY),
  });

/** A logged-in session whose access token is now within SESSION_REFRESH_BEFORE_S of expiring. */
async function sessionAboutToExpire(): Promise<CookieJar> {
  const jar = new CookieJar();
  await logIn(a.url, jar);
  await sleep((ACCESS_TOKEN_TTL_S - REFRESH_BEFORE_S) * 1000 + 500);
  return jar;
}

const bearers = () => upstream.requests.map((request) => request.headers.authorization);

async function metric(base: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const found = text.split('\n').find((l) => line.test(l));
  return found === undefined ? 0 : Number(found.split(' ').at(-1));
}

function storeKeyOf(jar: CookieJar): string {
  const id = jar.get('__Host-bff-session') as string;
  return `bff:session:${hash('sha256', id, 'base64url')}`;
}

describe('refresh before forwarding', () => {
  it('50 concurrent creates of one session as its token expires: all 201, one refresh grant', async () => {
    const jar = await sessionAboutToExpire();
    upstream.reset();
    const grantsBefore = refreshGrants();
    const refreshed = await metric(a.url, /^session_refreshes_total\{outcome="refreshed"\} /);

    const answers = await Promise.all(Array.from({ length: 50 }, () => create(a.url, jar)));

    expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(201));
    expect(refreshGrants() - grantsBefore).toBe(1);
    // Every call went out with the one new access token.
    const sent = new Set(bearers());
    expect(sent.size).toBe(1);
    expect(upstream.requests).toHaveLength(50);
    expect(await metric(a.url, /^session_refreshes_total\{outcome="refreshed"\} /)).toBe(
      refreshed + 1,
    );
    // The stored session carries it: the next call spends no grant and sends the same token.
    upstream.reset();
    expect((await create(a.url, jar)).status).toBe(201);
    expect(refreshGrants() - grantsBefore).toBe(1);
    expect(bearers()).toEqual([...sent]);
  });

  it('the same with the 50 split across two replicas on one Redis: one refresh grant', async () => {
    const jar = await sessionAboutToExpire();
    upstream.reset();
    const grantsBefore = refreshGrants();

    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => create(i % 2 === 0 ? a.url : b.url, jar)),
    );

    expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(201));
    expect(refreshGrants() - grantsBefore).toBe(1);
    expect(new Set(bearers()).size).toBe(1);
    // The rotated refresh token was stored: a later refresh, from B, still works.
    await sleep((ACCESS_TOKEN_TTL_S - REFRESH_BEFORE_S) * 1000 + 500);
    upstream.reset();
    expect((await create(b.url, jar)).status).toBe(201);
    expect(refreshGrants() - grantsBefore).toBe(2);
    // No refresh lock left behind.
    expect(await client.keys('bff:session-refresh:*')).toEqual([]);
  });

  it('the refresh token revoked at the provider: 401 session-ended, the session gone', async () => {
    const jar = await sessionAboutToExpire();
    const refused = await metric(a.url, /^session_refreshes_total\{outcome="refused"\} /);
    const ended = await metric(a.url, /^sessions_ended_total\{reason="refresh_refused"\} /);
    await newestRefreshToken?.destroy();
    upstream.reset();

    const answer = await create(a.url, jar);

    expect(answer.status).toBe(401);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await answer.json()) as { type: string; detail: string };
    expect(problem.type).toBe('urn:interventions-bff:problem:session-ended');
    expect(problem.detail).toMatch(/log in again/);
    expect(upstream.requests).toHaveLength(0);
    expect(await client.exists(storeKeyOf(jar))).toBe(0);
    expect((await send(`${b.url}/bff/user`, jar, { headers: CSRF })).status).toBe(401);
    expect(await metric(a.url, /^session_refreshes_total\{outcome="refused"\} /)).toBe(refused + 1);
    expect(await metric(a.url, /^sessions_ended_total\{reason="refresh_refused"\} /)).toBe(
      ended + 1,
    );
  });

  it('refused while another replica waits for that refresh: 401 session-ended from both', async () => {
    const jar = await sessionAboutToExpire();
    await newestRefreshToken?.destroy();
    upstream.reset();
    tokenDelayMs = 3_000;
    try {
      const fromA = create(a.url, jar);
      // Once A holds the refresh lock (and waits for the provider), B waits for A's result.
      const lock = storeKeyOf(jar).replace('bff:session:', 'bff:session-refresh:');
      while ((await client.exists(lock)) === 0) await sleep(10);
      const answers = await Promise.all([fromA, create(b.url, jar)]);

      const kinds = await Promise.all(
        answers.map(async (answer) => [
          answer.status,
          ((await answer.json()) as { type: string }).type,
        ]),
      );
      expect(kinds).toEqual([
        [401, 'urn:interventions-bff:problem:session-ended'],
        [401, 'urn:interventions-bff:problem:session-ended'],
      ]);
      expect(upstream.requests).toHaveLength(0);
    } finally {
      tokenDelayMs = 0;
    }
  });

  it('the provider stopped: 503 and the session kept; it works again once the provider is back', async () => {
    const jar = await sessionAboutToExpire();
    await provider.pause();
    upstream.reset();
    try {
      const answer = await create(a.url, jar);
      expect(answer.status).toBe(503);
      expect(((await answer.json()) as { type: string }).type).toBe(
        'urn:interventions-bff:problem:auth-unavailable',
      );
      expect(answer.headers.get('retry-after')).toBe('5');
      expect(upstream.requests).toHaveLength(0);
      expect(await client.exists(storeKeyOf(jar))).toBe(1);
      expect(await metric(a.url, /^session_refreshes_total\{outcome="unavailable"\} /)).toBe(1);
    } finally {
      await provider.resume();
    }
    const grantsBefore = refreshGrants();
    expect((await create(a.url, jar)).status).toBe(201);
    expect(refreshGrants() - grantsBefore).toBe(1);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('refresh before forwarding, in-memory store (no REDIS_URL)', () => {
  let memoryProvider: DevProvider;
  let bff: RunningBff;
  let grants: () => number;

  beforeAll(async () => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    memoryProvider = await startProvider(publicUrl, ACCESS_TOKEN_TTL_S);
    grants = countRefreshGrants(memoryProvider);
    bff = await startBff({
      ...sessionEnv(memoryProvider.issuer, publicUrl),
      UPSTREAM_BASE_URL: upstream.url,
      SESSION_REFRESH_BEFORE_S: String(REFRESH_BEFORE_S),
      MAX_IN_FLIGHT_PER_ADDRESS: '100',
      // Idle = absolute: a refresh pushes the idle deadline past the absolute one.
      SESSION_IDLE_TIMEOUT_S: '60',
      SESSION_ABSOLUTE_TIMEOUT_S: '60',
      PORT: String(port),
    });
  });
  afterAll(async () => {
    await bff?.close();
    await memoryProvider?.close();
  });

  it('50 concurrent creates: one refresh grant; the absolute deadline does not move', async () => {
    const jar = new CookieJar();
    await logIn(bff.url, jar);
    const user = async () =>
      (
        (await (await send(`${bff.url}/bff/user`, jar, { headers: CSRF })).json()) as {
          sessionExpiresAt: string;
        }
      ).sessionExpiresAt;
    const before = await user();
    await sleep((ACCESS_TOKEN_TTL_S - REFRESH_BEFORE_S) * 1000 + 500);
    upstream.reset();

    const answers = await Promise.all(Array.from({ length: 50 }, () => create(bff.url, jar)));

    expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(201));
    expect(grants()).toBe(1);
    expect(new Set(bearers()).size).toBe(1);
    expect(await user()).toBe(before);
  });
});

describe('the writes that must not clobber a refresh', () => {
  it.each([
    ['Redis', () => new RedisSessionStore(client)],
    ['in-memory', () => new MemorySessionStore()],
  ])(
    '%s: a touch over a stale read fails; a refresh does not bring an ended session back',
    async (_, make) => {
      const store = make();
      const key = `bff:session:test-${_}`;
      try {
        await store.set(key, 'read-by-touch', 60_000);
        // A refresh wrote new tokens after the touch read the record.
        expect(await store.replace(key, 'refreshed', 60_000)).toBe(true);
        expect(await store.swap(key, 'read-by-touch', 'touched-stale', 60_000)).toBe(false);
        expect(await store.get(key)).toBe('refreshed');
        expect(await store.swap(key, 'refreshed', 'touched', 60_000)).toBe(true);
        expect(await store.get(key)).toBe('touched');
        // Logged out while the grant was in flight: the refresh's write is dropped.
        await store.delete(key);
        expect(await store.replace(key, 'refreshed-late', 60_000)).toBe(false);
        expect(await store.get(key)).toBeUndefined();
      } finally {
        store.close();
      }
    },
  );
});
