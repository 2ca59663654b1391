// Issue 14, part 3: idempotency records in Redis survive what they should, and the BFF says when
// they would not. Real redis-servers, with and without an AOF in a temp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import request from 'supertest';
import { CALLER_TOKEN, ROUTE, RunningBff, startBff, VALID_BODY } from './support/bff';
import { startBuiltBff } from './support/built-bff';
import { LogCapture } from './support/log-capture';
import { RedisServer } from './support/redis-server';
import { answerCreated, UpstreamStub } from './support/upstream-stub';

// Issue 24 changed the line (it was "Redis persists nothing (no AOF, no RDB snapshot)…").
const WARNING = /^Redis keeps no AOF: idempotency keys written since its last snapshot are lost/;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let upstream: UpstreamStub;
let dir: string;
const running: { bff?: RunningBff; redis?: RedisServer } = {};

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
});
afterAll(() => upstream.stop());
beforeEach(() => {
  upstream.reset();
  dir = mkdtempSync(join(tmpdir(), 'bff-redis-aof-'));
});
afterEach(async () => {
  await running.bff?.close();
  await running.redis?.stop();
  running.bff = running.redis = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function start(aof: boolean, env: Record<string, string> = {}) {
  const logs = new LogCapture();
  const redis = (running.redis = await RedisServer.start(aof ? { aofDir: dir } : {}));
  const bff = (running.bff = await startBff(
    { UPSTREAM_BASE_URL: upstream.url, REDIS_URL: redis.url, ...env },
    logs,
  ));
  return { bff, redis, logs };
}

/** Readiness once the BFF has (re)connected and read INFO persistence with this answer. */
async function readyWith(bff: RunningBff, durable: boolean) {
  for (let i = 0; i < 100; i += 1) {
    const res = await request(bff.url).get('/health/ready');
    if (res.body.details?.redis?.durable === durable) {
      return { status: res.status, redis: res.body.details.redis as Record<string, unknown> };
    }
    await sleep(50);
  }
  throw new Error(`readiness never showed redis durable: ${durable}`);
}

const gauge = async (bff: RunningBff) =>
  /^idempotency_store_durable (\d)$/m.exec((await request(bff.url).get('/metrics')).text)?.[1];

const warnings = (logs: LogCapture) =>
  logs.entries().filter((entry) => entry.level === 'warn' && WARNING.test(String(entry.msg)));

const create = (bff: RunningBff, key: string) =>
  request(bff.url)
    .post(ROUTE)
    .set('Authorization', `Bearer ${CALLER_TOKEN}`)
    .set('Idempotency-Key', key)
    .send(VALID_BODY);

describe('Redis without persistence', () => {
  it('one warning line and gauge 0; INFO read again on each reconnect, one line per change', async () => {
    const { bff, redis, logs } = await start(false);
    expect(await readyWith(bff, false)).toEqual({
      status: 200,
      redis: { status: 'up', durable: false },
    });
    expect(await gauge(bff)).toBe('0');
    expect(warnings(logs)).toHaveLength(1);

    await redis.stop();
    await redis.restart({ aofDir: dir }); // the same address, now with an AOF
    expect((await readyWith(bff, true)).redis).toEqual({ status: 'up', durable: true });
    expect(await gauge(bff)).toBe('1');

    await redis.stop();
    await redis.restart({});
    await readyWith(bff, false);
    expect(await gauge(bff)).toBe('0');
    expect(warnings(logs)).toHaveLength(2);
  });

  it('IDEMPOTENCY_REQUIRE_DURABLE=true: readiness fails, naming redis; keyed requests get 503, nothing forwarded; an RDB snapshot does not make it durable', async () => {
    const { bff, redis: server } = await start(false, { IDEMPOTENCY_REQUIRE_DURABLE: 'true' });
    const { status, redis } = await readyWith(bff, false);
    expect(status).toBe(503);
    expect(redis).toMatchObject({ status: 'down', durable: false });

    const keyed = await create(bff, 'needs-a-durable-store');
    expect(keyed.status).toBe(503);
    expect(keyed.body).toMatchObject({
      type: 'urn:interventions-bff:problem:idempotency-unavailable',
      detail: expect.stringContaining('IDEMPOTENCY_REQUIRE_DURABLE'),
    });
    expect(keyed.headers['retry-after']).toBe('5');
    expect(upstream.requests).toHaveLength(0);
    const unkeyed = await request(bff.url)
      .post(ROUTE)
      .set('Authorization', `Bearer ${CALLER_TOKEN}`)
      .send(VALID_BODY);
    expect(unkeyed.status).toBe(201);

    // A snapshot written since start used to count as durable.
    const client = new Redis(server.url);
    try {
      await client.bgsave();
      while (/rdb_last_bgsave_time_sec:-1/.test(await client.info('persistence'))) await sleep(50);
      await client.client('KILL', 'SKIPME', 'yes'); // the BFF reconnects and reads INFO again
    } finally {
      client.disconnect();
    }
    await readyWith(bff, false);
    expect((await create(bff, 'needs-a-durable-store')).status).toBe(503);
    expect(upstream.requests).toHaveLength(1); // the unkeyed one
  });
});

describe('Redis with AOF (appendfsync everysec)', () => {
  it('gauge 1, no warning, ready even with IDEMPOTENCY_REQUIRE_DURABLE', async () => {
    const { bff, logs } = await start(true, { IDEMPOTENCY_REQUIRE_DURABLE: 'true' });
    expect(await readyWith(bff, true)).toEqual({
      status: 200,
      redis: { status: 'up', durable: true },
    });
    expect(await gauge(bff)).toBe('1');
    expect(warnings(logs)).toHaveLength(0);
  });

  it('Redis killed (SIGKILL) right after a create and restarted: the retry is replayed, one create', async () => {
    const { bff, redis } = await start(true);
    await readyWith(bff, true);
    const first = await create(bff, 'survives-redis-restart');
    expect(first.status).toBe(201);

    await redis.stop(); // SIGKILL: no shutdown save; the AOF was written before the answer
    await redis.restart();
    let retry = await create(bff, 'survives-redis-restart');
    for (let i = 0; retry.status === 503 && i < 100; i += 1) {
      await sleep(50); // reconnecting: keyed requests are refused meanwhile, never run
      retry = await create(bff, 'survives-redis-restart');
    }
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toEqual(first.body);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('an in-flight key whose holder is gone (issue 24, item 3)', () => {
  it('Redis stopped between the upstream answer and the write, started again from its AOF: the retry is replayed, one create', async () => {
    const { bff, redis, logs } = await start(true);
    await readyWith(bff, true);
    upstream.reset((req, res, raw) => void redis.stop().then(() => answerCreated(req, res, raw)));
    const first = await create(bff, 'blink');
    expect(first.status).toBe(201);
    upstream.reset();
    await redis.restart();
    const written = () =>
      logs.entries().some((entry) => entry.msg === 'idempotency outcome written to Redis');
    for (let i = 0; !written(); i += 1) {
      if (i > 100) throw new Error('the kept answer was never written');
      await sleep(50);
    }
    const other = await startBff({ UPSTREAM_BASE_URL: upstream.url, REDIS_URL: redis.url });
    try {
      await readyWith(other, true);
      const retry = await create(other, 'blink');
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.body).toEqual(first.body);
      expect(upstream.requests).toHaveLength(0);
    } finally {
      await other.close();
    }
  });

  it('a replica killed mid-call: 409 in progress while its lease runs, then outcome-unknown for the TTL, never sent again', async () => {
    const { bff, redis } = await start(true, { UPSTREAM_TIMEOUT_MS: '500' });
    await readyWith(bff, true);
    const held = upstream.hold();
    // A built BFF in its own process, killed (SIGKILL) while its call is upstream. Its lease is
    // 2 x 500 ms + 5 s.
    const doomed = await startBuiltBff({
      UPSTREAM_BASE_URL: upstream.url,
      REDIS_URL: redis.url,
      UPSTREAM_TIMEOUT_MS: '500',
    });
    try {
      for (let i = 0; (await request(doomed.url).get('/health/ready')).status !== 200; i += 1) {
        if (i > 100) throw new Error('the built BFF never got ready');
        await sleep(50);
      }
      void create({ url: doomed.url } as RunningBff, 'orphan').catch(() => undefined);
      while (upstream.requests.length === 0) await sleep(20);
      doomed.kill();
      await doomed.exited;
      held.forEach((answer) => answer()); // the upstream created it; nobody recorded it

      const during = await create(bff, 'orphan');
      expect(during.status).toBe(409);
      expect(during.body.type).toBe('urn:interventions-bff:problem:idempotency-key-in-use');
      await sleep(6_500);
      for (let i = 0; i < 2; i += 1) {
        const after = await create(bff, 'orphan');
        expect(after.status).toBe(409);
        expect(after.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(after.body).toMatchObject({
          type: 'urn:interventions-bff:problem:outcome-unknown',
          detail: expect.stringContaining('Check whether it was before creating it again'),
        });
        // Names the first request, as the upstream received it, to look it up there.
        const first = upstream.requests[0].headers['x-request-id'] as string;
        expect(after.body.detail).toContain(`Idempotency-Key (requestId ${first}) was sent`);
      }
      expect(upstream.requests).toHaveLength(1);
    } finally {
      doomed.kill();
    }
  }, 30_000);
});
