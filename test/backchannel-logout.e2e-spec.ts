// Issue 26, item 2: OpenID Connect Back-Channel Logout 1.0 against a real oidc-provider on a
// loopback port, logout tokens signed by the provider's own key, two replicas on one redis-server.
import { generateKeyPairSync } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import Redis from 'ioredis';
import { LogoutProvider, postLogout, startLogoutProvider } from './support/backchannel';
import { RunningBff, ROUTE, startBff, VALID_BODY } from './support/bff';
import { freePort } from './support/free-port';
import { RedisServer } from './support/redis-server';
import {
  CookieJar,
  DEMO_USER,
  logIn,
  send,
  sessionEnv,
  startSessionBff,
} from './support/session-login';
import { UpstreamStub } from './support/upstream-stub';

const CSRF = { 'x-csrf': '1' };
const OTHER_CLIENT = 'another-app';

let upstream: UpstreamStub;
let redis: RedisServer;
let provider: LogoutProvider;
let a: RunningBff;
let b: RunningBff;
let publicUrl: string;

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  redis = await RedisServer.start();
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  provider = await startLogoutProvider(publicUrl, [
    {
      clientId: OTHER_CLIENT,
      clientSecret: 'another-secret-for-tests-only',
      redirectUris: ['http://127.0.0.1:9/callback'],
    },
  ]);
  // Both replicas behind one public address (A's): the provider knows one redirect URI.
  const env = { ...sessionEnv(provider.issuer, publicUrl), UPSTREAM_BASE_URL: upstream.url };
  a = await startBff({ ...env, REDIS_URL: redis.url, PORT: String(port) });
  b = await startBff({ ...env, REDIS_URL: redis.url });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await provider?.close();
  await redis?.stop();
  await upstream?.stop();
});

const logoutToken = (...args: Parameters<LogoutProvider['logoutToken']>) =>
  provider.logoutToken(...args);

/** A login through A; resolves with its cookies and the provider's session id. */
async function loggedIn(): Promise<{ jar: CookieJar; sid: string }> {
  const jar = new CookieJar();
  const before = provider.sids.length;
  await logIn(publicUrl, jar);
  expect(provider.sids).toHaveLength(before + 1);
  return { jar, sid: provider.sids[before] };
}

const userStatus = async (url: string, jar: CookieJar) =>
  (await send(`${url}/bff/user`, jar, { headers: CSRF })).status;

async function expectRefused(response: Response, detail: RegExp) {
  expect(response.status).toBe(400);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await response.json()) as { type: string; detail: string };
  expect(body.type).toBe('urn:interventions-bff:problem:malformed-request');
  expect(body.detail).toMatch(detail);
}

describe('POST /bff/backchannel-logout, two replicas on one Redis', () => {
  it("ends the sid's session on every replica; the same token again is a 400", async () => {
    const { jar, sid } = await loggedIn();
    const other = await loggedIn();
    expect(sid).not.toBe(other.sid);
    expect(await userStatus(b.url, jar)).toBe(200);

    const token = await logoutToken({ sid });
    const answer = await postLogout(publicUrl, token);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');

    // Refused on B, which never saw the logout, and on A; nothing reaches the upstream.
    upstream.reset();
    expect(await userStatus(b.url, jar)).toBe(401);
    expect(await userStatus(publicUrl, jar)).toBe(401);
    const create = await send(`${b.url}${ROUTE}`, jar, {
      method: 'POST',
      headers: { ...CSRF, 'content-type': 'application/json' },
      body: JSON.stringify(VALID_BODY),
    });
    expect(create.status).toBe(401);
    expect(upstream.requests).toHaveLength(0);
    // Another provider session of the same user lives on.
    expect(await userStatus(b.url, other.jar)).toBe(200);

    // A replay, to either replica: refused (the jti is remembered in Redis).
    await expectRefused(await postLogout(b.url, token), /already received/);
    await expectRefused(await postLogout(publicUrl, token), /already received/);
  });

  it("takes the provider's own back-channel logout, posted to the registered URI (A)", async () => {
    const { jar, sid } = await loggedIn();
    await provider.logOutAtProvider(sid);
    expect(await userStatus(b.url, jar)).toBe(401);
  });

  it('without a sid, ends every session of the sub', async () => {
    const first = await loggedIn();
    const second = await loggedIn();
    expect(await userStatus(b.url, first.jar)).toBe(200);
    expect(await userStatus(b.url, second.jar)).toBe(200);
    expect((await postLogout(b.url, await logoutToken())).status).toBe(200);
    expect(await userStatus(publicUrl, first.jar)).toBe(401);
    expect(await userStatus(b.url, second.jar)).toBe(401);
  });

  it('refuses a token signed by another key, for another audience, with a nonce...: nothing ends', async () => {
    const { jar, sid } = await loggedIn();
    const genuine = await logoutToken({ sid });
    const [header, payload] = genuine.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
    // The same claims and kid, signed by a key that is not the provider's.
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'jwk',
    }) as JWK;
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'logout+jwt' })
      .sign(await importJWK(stranger, 'RS256'));
    await expectRefused(await postLogout(publicUrl, forged), /signature/);
    await expectRefused(
      await postLogout(publicUrl, await logoutToken({ sid }, OTHER_CLIENT)),
      /aud claim/,
    );
    await expectRefused(
      await postLogout(publicUrl, await logoutToken({ sid, nonce: 'n-0S6_WzA2Mj' })),
      /nonce/,
    );
    await expectRefused(
      await postLogout(publicUrl, await logoutToken({ sid, events: false })),
      /events claim/,
    );
    // Tampered: the genuine token with another sid in its payload.
    const tampered = [
      header,
      Buffer.from(JSON.stringify({ ...claims, sid: 'someone-else' })).toString('base64url'),
      genuine.split('.')[2],
    ].join('.');
    await expectRefused(await postLogout(publicUrl, tampered), /signature/);
    await expectRefused(await postLogout(publicUrl, 'not-a-jwt'), /signature or form/);
    const empty = await fetch(`${publicUrl}/bff/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'other=1',
    });
    await expectRefused(empty, /logout_token field is missing/);
    expect(await userStatus(b.url, jar)).toBe(200);

    // The genuine token was not spent by the refusals around it.
    expect((await postLogout(publicUrl, genuine)).status).toBe(200);
    expect(await userStatus(b.url, jar)).toBe(401);
  });

  it('parses forms on this route only: a form to a proxied route is still a 415', async () => {
    const { jar } = await loggedIn();
    const answer = await send(`${b.url}${ROUTE}`, jar, {
      method: 'POST',
      headers: { ...CSRF, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'scheduledStart=2024-12-01T12%3A34%3A56.000Z',
    });
    expect(answer.status).toBe(415);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('keeps no sid, sub or session id in clear in Redis', async () => {
    const { jar, sid } = await loggedIn();
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys('bff:sessions-of:*');
      expect(keys.length).toBeGreaterThan(0);
      const members = (await Promise.all(keys.map((key) => client.smembers(key)))).flat();
      for (const secret of [sid, DEMO_USER.sub, jar.get('__Host-bff-session') as string]) {
        for (const text of [...keys, ...members]) expect(text).not.toContain(secret);
      }
      const ttl = await client.pttl(keys[0]);
      expect(ttl).toBeGreaterThan(28_700_000);
      expect(ttl).toBeLessThanOrEqual(28_800_000);
    } finally {
      client.disconnect();
    }
  });
});

describe('POST /bff/backchannel-logout without Redis', () => {
  it('ends the session in this process and remembers the jti there', async () => {
    const alone = await startSessionBff(upstream.url, { provider: startLogoutProvider });
    const { url, provider: own } = alone;
    try {
      const jar = new CookieJar();
      await logIn(url, jar);
      const logout = await own.logoutToken({ sid: own.sids[0] });
      expect((await postLogout(url, logout)).status).toBe(200);
      expect(await userStatus(url, jar)).toBe(401);
      await expectRefused(await postLogout(url, logout), /already received/);
    } finally {
      await alone.close();
    }
  });
});
