// Issue 14, part 3: idempotency records in Redis survive what they should, and the BFF says when
// they would not. Real redis-servers, with and without an AOF in a temp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { CALLER_TOKEN, ROUTE, RunningBff, startBff, VALID_BODY } from './support/bff';
import { LogCapture } from './support/log-capture';
import { RedisServer } from './support/redis-server';
import { UpstreamStub } from './support/upstream-stub';

const WARNING = /^Redis persists nothing \(no AOF, no RDB snapshot\)/;
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

  it('IDEMPOTENCY_REQUIRE_DURABLE=true: readiness fails, naming redis', async () => {
    const { bff } = await start(false, { IDEMPOTENCY_REQUIRE_DURABLE: 'true' });
    const { status, redis } = await readyWith(bff, false);
    expect(status).toBe(503);
    expect(redis).toMatchObject({ status: 'down', durable: false });
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
