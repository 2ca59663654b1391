// Issue 26, item 3: SESSION_KEYS rotated without logging anyone out, against a real oidc-provider
// and a real redis-server shared by replicas started with the old, the rotated and the new keys.
import { hash, randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { DevProvider } from '../scripts/dev-oidc-provider.mjs';
import { RunningBff, ROUTE, startBff, VALID_BODY } from './support/bff';
import { freePort } from './support/free-port';
import { RedisServer } from './support/redis-server';
import { CookieJar, logIn, send, sessionEnv, startProvider } from './support/session-login';
import { UpstreamStub } from './support/upstream-stub';

const CSRF = { 'x-csrf': '1' };
const OLD_KEY = randomBytes(32);
const NEW_KEY = randomBytes(32);

let upstream: UpstreamStub;
let redis: RedisServer;
let client: Redis;
let provider: DevProvider;
let publicUrl: string;
let env: Record<string, string>;
const running: RunningBff[] = [];

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  redis = await RedisServer.start();
  client = new Redis(redis.url);
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  provider = await startProvider(publicUrl);
  env = {
    ...sessionEnv(provider.issuer, publicUrl),
    UPSTREAM_BASE_URL: upstream.url,
    REDIS_URL: redis.url,
  };
  // Logins go through the replica at the public address, which has only the old key.
  running.push(await startBff({ ...env, SESSION_KEYS: keys(OLD_KEY), PORT: String(port) }));
});
afterAll(async () => {
  for (const bff of running) await bff.close();
  client?.disconnect();
  await provider?.close();
  await redis?.stop();
  await upstream?.stop();
});

function keys(...list: Buffer[]): string {
  return list.map((key) => key.toString('base64')).join(',');
}

async function replica(...list: Buffer[]): Promise<string> {
  const bff = await startBff({ ...env, SESSION_KEYS: keys(...list) });
  running.push(bff);
  // Ready once its Redis connection is up, as a load balancer would wait for.
  while ((await fetch(`${bff.url}/health/ready`)).status !== 200) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return bff.url;
}

/** Which key a session's record in Redis is sealed under: the 4-byte key id it starts with. */
async function sealedUnder(jar: CookieJar): Promise<'old' | 'new' | 'none'> {
  const id = jar.get('__Host-bff-session') as string;
  const sealed = await client.get(`bff:session:${hash('sha256', id, 'base64url')}`);
  if (sealed === null) return 'none';
  const keyId = Buffer.from(sealed, 'base64url').subarray(0, 4);
  return keyId.equals(hash('sha256', OLD_KEY, 'buffer').subarray(0, 4)) ? 'old' : 'new';
}

const user = (url: string, jar: CookieJar) => send(`${url}/bff/user`, jar, { headers: CSRF });

describe('SESSION_KEYS rotation', () => {
  it('new,old reads and reseals old sessions; dropping old ends only those still under it', async () => {
    const [used, idle] = [new CookieJar(), new CookieJar()];
    await logIn(publicUrl, used);
    await logIn(publicUrl, idle);
    expect(await sealedUnder(used)).toBe('old');
    expect(await sealedUnder(idle)).toBe('old');
    const before = (await (await user(publicUrl, used)).json()) as { sessionExpiresAt: string };

    const rotated = await replica(NEW_KEY, OLD_KEY);
    const me = await user(rotated, used);
    expect(me.status).toBe(200);
    // Same session, same deadlines: only the sealing changed.
    expect(((await me.json()) as { sessionExpiresAt: string }).sessionExpiresAt).toBe(
      before.sessionExpiresAt,
    );
    expect(await sealedUnder(used)).toBe('new');
    const created = await send(`${rotated}${ROUTE}`, used, {
      method: 'POST',
      headers: { ...CSRF, 'content-type': 'application/json' },
      body: JSON.stringify(VALID_BODY),
    });
    expect(created.status).toBe(201);
    expect(await sealedUnder(idle)).toBe('old');

    const dropped = await replica(NEW_KEY);
    expect((await user(dropped, used)).status).toBe(200);
    const refused = await user(dropped, idle);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { type: string }).type).toBe(
      'urn:interventions-bff:problem:unauthorized',
    );
    // Still readable where the old key is known: dropping a key deletes nothing.
    expect((await user(rotated, idle)).status).toBe(200);
  });
});
