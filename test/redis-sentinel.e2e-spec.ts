// REDIS_SENTINELS: the BFF finds its Redis primary through Sentinel and follows a failover. Real
// redis-servers on loopback: a primary, its replica, and one sentinel watching them.
import Redis from 'ioredis';
import request from 'supertest';
import { CALLER_TOKEN, ROUTE, RunningBff, startBff, VALID_BODY } from './support/bff';
import { RedisSentinel, RedisServer } from './support/redis-server';
import { UpstreamStub } from './support/upstream-stub';

const NAME = 'bff-primary';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let upstream: UpstreamStub;
let primary: RedisServer;
let replica: RedisServer;
let sentinel: RedisSentinel;
let bff: RunningBff;

/** Polls `probe` every 100 ms until it returns something other than undefined. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i += 1) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`never: ${what}`);
}

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  primary = await RedisServer.start();
  replica = await RedisServer.start({ replicaOf: primary.port });
  sentinel = await RedisSentinel.start(NAME, primary.port);
  const asking = new Redis(sentinel.port, '127.0.0.1');
  try {
    // A sentinel learns the replicas from the primary's INFO, then connects to each: only a
    // replica it has seen in sync can be promoted.
    await eventually('the sentinel sees the replica in sync', async () => {
      const replicas = (await asking.call('SENTINEL', 'REPLICAS', NAME)) as string[][];
      const fields = (replica: string[]) =>
        Object.fromEntries(replica.flatMap((v, i) => (i % 2 ? [] : [[v, replica[i + 1]]])));
      const seen = replicas.map(fields);
      return seen.length === 1 &&
        seen[0].flags === 'slave' &&
        seen[0]['master-link-status'] === 'ok'
        ? true
        : undefined;
    });
  } finally {
    asking.disconnect();
  }
  bff = await startBff({
    UPSTREAM_BASE_URL: upstream.url,
    // Host and port come from the sentinels; the URL still gives the scheme and credentials.
    REDIS_URL: 'redis://redis-primary',
    REDIS_SENTINELS: sentinel.address,
    REDIS_SENTINEL_NAME: NAME,
  });
}, 60_000);
afterAll(async () => {
  await bff?.close();
  await sentinel?.stop();
  await replica?.stop();
  await primary?.stop();
  await upstream?.stop();
});

const create = (key: string) =>
  request(bff.url)
    .post(ROUTE)
    .set('Authorization', `Bearer ${CALLER_TOKEN}`)
    .set('Idempotency-Key', key)
    .send(VALID_BODY);

it('keeps its idempotency records on the primary Sentinel names, and follows it through a failover: one create per key', async () => {
  await eventually('ready', async () =>
    (await request(bff.url).get('/health/ready')).status === 200 ? true : undefined,
  );
  const first = await create('before-the-failover');
  expect(first.status).toBe(201);
  const onPrimary = new Redis(primary.port, '127.0.0.1');
  const keys = await onPrimary.keys('*before-the-failover*');
  expect(keys.length).toBeGreaterThan(0);
  // The record has reached the replica before the primary dies (replication is asynchronous).
  expect(await onPrimary.call('WAIT', '1', '5000')).toBe(1);
  onPrimary.disconnect();

  await primary.stop(); // SIGKILL
  // Keyed requests get 503 until the sentinel has promoted the replica and the BFF is on it.
  const retry = await eventually('the retry answered after the failover', async () => {
    const answer = await create('before-the-failover');
    if (answer.status === 503) return undefined;
    return answer;
  }).catch((error: Error) => {
    throw new Error(`${error.message}; the sentinel said:\n${sentinel.log}`);
  });
  expect(retry.status).toBe(201);
  expect(retry.headers['idempotent-replayed']).toBe('true');
  expect(retry.body).toEqual(first.body);
  expect(upstream.requests).toHaveLength(1);

  expect((await create('after-the-failover')).status).toBe(201);
  expect(upstream.requests).toHaveLength(2);
  const onPromoted = new Redis(replica.port, '127.0.0.1');
  try {
    expect(await onPromoted.call('ROLE').then((role) => (role as string[])[0])).toBe('master');
    expect(await onPromoted.keys('*after-the-failover*')).not.toEqual([]);
  } finally {
    onPromoted.disconnect();
  }
  expect((await request(bff.url).get('/health/ready')).status).toBe(200);
}, 60_000);
