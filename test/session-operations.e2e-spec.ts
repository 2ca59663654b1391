// Issue 26, item 4: what operators see of sessions (metrics, log lines), with a real oidc-provider
// on a loopback port, its back-channel logout, the in-memory store and a real redis-server.
import { LogoutProvider, postLogout, startLogoutProvider } from './support/backchannel';
import { ROUTE, VALID_BODY } from './support/bff';
import { LogCapture } from './support/log-capture';
import { RedisServer } from './support/redis-server';
import { CookieJar, logIn, send, SessionBff, startSessionBff } from './support/session-login';
import { UpstreamStub } from './support/upstream-stub';

const CSRF = { 'x-csrf': '1' };

let upstream: UpstreamStub;
let site: SessionBff<LogoutProvider>;
let provider: LogoutProvider;
let url: string;
const logs = new LogCapture();

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  site = await startSessionBff(upstream.url, { logs, provider: startLogoutProvider });
  ({ provider, url } = site);
});
afterAll(async () => {
  await site?.close();
  await upstream?.stop();
});

async function metric(base: string, line: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const found = text.split('\n').find((l) => line.test(l));
  return found === undefined ? undefined : Number(found.split(' ').at(-1));
}

describe('what operators see of sessions', () => {
  it('counts sessions created, ended by reason and live; logs name them by a short hash', async () => {
    const created = /^sessions_created_total /;
    const byLogout = /^sessions_ended_total\{reason="logout"\} /;
    const byProvider = /^sessions_ended_total\{reason="backchannel_logout"\} /;
    const active = /^sessions_active /;
    expect(await metric(url, created)).toBe(0);
    expect(await metric(url, active)).toBe(0);

    const [first, second] = [new CookieJar(), new CookieJar()];
    await logIn(url, first);
    await logIn(url, second);
    expect(await metric(url, created)).toBe(2);
    expect(await metric(url, active)).toBe(2);
    const create = await send(`${url}${ROUTE}`, first, {
      method: 'POST',
      headers: { ...CSRF, 'content-type': 'application/json' },
      body: JSON.stringify(VALID_BODY),
    });
    expect(create.status).toBe(201);
    const accessToken = (upstream.requests[0].headers.authorization as string).slice(7);

    const ids = [first.get('__Host-bff-session'), second.get('__Host-bff-session')] as string[];
    expect((await send(`${url}/bff/logout`, first, { method: 'POST', headers: CSRF })).status).toBe(
      200,
    );
    const logout = await postLogout(url, await provider.logoutToken({ sid: provider.sids[1] }));
    expect(logout.status).toBe(200);
    expect(await metric(url, byLogout)).toBe(1);
    expect(await metric(url, byProvider)).toBe(1);
    expect(await metric(url, active)).toBe(0);

    const lines = logs.entries();
    const createdLines = lines.filter((l) => l.msg === 'session created');
    const endedLines = lines.filter((l) => l.msg === 'session ended');
    expect(createdLines).toHaveLength(2);
    for (const line of [...createdLines, ...endedLines]) {
      expect(line.session).toMatch(/^[A-Za-z0-9_-]{10}$/);
    }
    // One session followed from its login to its end by the same short name.
    expect(endedLines.map((l) => [l.session, l.reason])).toEqual([
      [createdLines[0].session, 'logout'],
      [createdLines[1].session, 'backchannel_logout'],
    ]);
    expect(lines.find((l) => l.msg === 'back-channel logout')).toMatchObject({
      by: 'sid',
      ended: 1,
      who: expect.stringMatching(/^[A-Za-z0-9_-]{10}$/),
    });
    for (const secret of [...ids, accessToken, ...provider.sids, 'eyJ']) {
      expect(logs.text).not.toContain(secret);
    }
  });
});

describe('with REDIS_URL', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('counts sessions but reports no live count (Redis cannot tell it without a scan)', async () => {
    const shared = await startSessionBff(upstream.url, { env: { REDIS_URL: redis.url } });
    const own = shared.url;
    try {
      await logIn(own, new CookieJar());
      expect(await metric(own, /^sessions_created_total /)).toBe(1);
      expect(await metric(own, /^sessions_active /)).toBeUndefined();
    } finally {
      await shared.close();
    }
  });
});
