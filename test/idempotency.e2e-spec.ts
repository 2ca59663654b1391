import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { CALLER_TOKEN, ROUTE, RunningBff, startBff, VALID_BODY } from './support/bff';
import { LogCapture } from './support/log-capture';
import { RedisServer } from './support/redis-server';
import { answerCreated, CREATED_BODY, StubHandler, UpstreamStub } from './support/upstream-stub';

const TTL_S = 2;
/** Short enough for a test to wait for one timeout. */
const TIMEOUT_MS = 2_000;

function create(bff: RunningBff, key?: string, body: unknown = VALID_BODY, token = CALLER_TOKEN) {
  const req = request(bff.url).post(ROUTE).set('Authorization', `Bearer ${token}`);
  if (key !== undefined) req.set('Idempotency-Key', key);
  return req.send(body as object);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The same behaviour, whichever store holds the keys. */
function idempotencySuite(setup: () => { upstream: UpstreamStub; a: RunningBff; b: RunningBff }) {
  let upstream: UpstreamStub;
  let a: RunningBff;
  let b: RunningBff;
  beforeEach(() => {
    ({ upstream, a, b } = setup());
    upstream.reset();
  });

  it('replays the first answer to a repeat, without a second create', async () => {
    const key = randomUUID();
    const first = await create(a, key);
    const second = await create(b, key);
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(second.status).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.text).toBe(first.text);
    expect(upstream.requests).toHaveLength(1);
  });

  it('lets exactly one of 50 concurrent requests with one key through; the rest get 409 or the replay', async () => {
    upstream.reset((req, res, raw) => setTimeout(() => answerCreated(req, res, raw), 300));
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => create(i % 2 ? b : a, key)),
    );
    expect(upstream.requests).toHaveLength(1);
    const statuses = answers.map((res) => res.status);
    expect(statuses.filter((status) => status === 201)).not.toHaveLength(0);
    expect(statuses.every((status) => status === 201 || status === 409)).toBe(true);
    for (const res of answers.filter((r) => r.status === 409)) {
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(
      answers.filter((res) => res.status === 201 && !res.headers['idempotent-replayed']),
    ).toHaveLength(1);
  });

  it('keeps different keys, and the same key of different callers, independent', async () => {
    const key = randomUUID();
    await create(a, key);
    await create(b, randomUUID());
    const other = await create(b, key, VALID_BODY, 'someone-else');
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(upstream.requests).toHaveLength(3);
  });

  it('fingerprints the validated body: key order and whitespace do not matter, another body is a 422', async () => {
    const key = randomUUID();
    await create(a, key);
    const reordered = `{ "routineId": 1,  "creationStatus": 1, "scheduledEnd": "${VALID_BODY.scheduledEnd}",\n "scheduledStart": "${VALID_BODY.scheduledStart}" }`;
    const replay = await request(b.url)
      .post(ROUTE)
      .set('Authorization', `Bearer ${CALLER_TOKEN}`)
      .set('Idempotency-Key', `"${key}"`)
      .set('Content-Type', 'application/json')
      .send(reordered);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const other = await create(b, key, { ...VALID_BODY, routineId: 2 });
    expect(other.status).toBe(422);
    expect(other.body.type).toBe('urn:interventions-bff:problem:idempotency-key-reused');
    expect(upstream.requests).toHaveLength(1);
  });

  it('expires keys after IDEMPOTENCY_TTL_S', async () => {
    const key = randomUUID();
    await create(a, key);
    await sleep(TTL_S * 1000 + 300);
    const again = await create(b, key);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(upstream.requests).toHaveLength(2);
  });

  it('stores what the upstream answered, errors included, and nothing for a request it never saw', async () => {
    const key = randomUUID();
    expect((await create(a, key, { ...VALID_BODY, routineId: 0 })).status).toBe(400);
    upstream.reset((_r, res) => res.writeHead(500).end());
    expect((await create(a, key)).status).toBe(502);
    const replay = await create(b, key);
    expect(replay.status).toBe(502);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(upstream.requests).toHaveLength(1);
  });

  it.each<[string, number, StubHandler]>([
    [
      'a 429 (JSON, relayed)',
      429,
      (_r, res) =>
        res
          .writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '7' })
          .end('{"message":"slow down"}'),
    ],
    [
      'a 503',
      503,
      (_r, res) => res.writeHead(503, { 'Content-Type': 'text/html', 'Retry-After': '7' }).end(),
    ],
  ])(
    'does not store %s: the upstream did not process it, so the retry after Retry-After creates once',
    async (_name, status, refuse) => {
      let recovered = false;
      upstream.reset((req, res, raw) => (recovered ? answerCreated : refuse)(req, res, raw));
      const key = randomUUID();
      const refused = await create(a, key);
      expect(refused.status).toBe(status);
      expect(refused.headers['retry-after']).toBe('7');
      expect(refused.headers['idempotent-replayed']).toBeUndefined();

      recovered = true;
      const retry = await create(b, key);
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
      expect((await create(a, key)).headers['idempotent-replayed']).toBe('true');
      expect(upstream.requests).toHaveLength(2); // the refused call and one create
    },
  );

  it.each<[string, number, StubHandler]>([
    ['a timeout', 504, () => undefined], // never answers: the BFF's deadline fires
    ['a reset after the request was sent', 502, (_r, _res, raw) => raw.socket.resetAndDestroy()],
  ])(
    'stores %s, and its replay says the first attempt may have created the record',
    async (_name, status, fail) => {
      upstream.reset(fail);
      const key = randomUUID();
      const first = await create(a, key);
      expect(first.status).toBe(status);
      const replay = await create(b, key);
      expect(replay.status).toBe(status);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body.detail).toMatch(
        /^The upstream API .*\. The first attempt's result is unknown: it may have been carried out\. Contact support with this requestId/,
      );
      expect(replay.body.requestId).toBe(first.body.requestId);
      expect(upstream.requests).toHaveLength(1);
    },
  );

  it('keeps an answer over IDEMPOTENCY_MAX_RECORD_BYTES as its status and a problem: the retry does not create again', async () => {
    const big = JSON.stringify({ ...CREATED_BODY, padding: 'x'.repeat(900_000) });
    upstream.reset((_r, res) =>
      res.writeHead(201, { 'Content-Type': 'application/json' }).end(big),
    );
    const key = randomUUID();
    const first = await create(a, key);
    expect(first.status).toBe(201);
    expect(first.text).toBe(big);
    const replay = await create(b, key);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(replay.body).toMatchObject({
      type: 'urn:interventions-bff:problem:answer-not-kept',
      status: 201,
      detail: expect.stringContaining('got status 201'),
      requestId: first.headers['x-request-id'],
    });
    expect(upstream.requests).toHaveLength(1);
  });

  it('400 for a malformed key', async () => {
    for (const key of ['', 'has space', 'x'.repeat(256), 'é']) {
      const res = await create(a, key);
      expect(res.status).toBe(400);
      expect(res.body.detail).toContain('Idempotency-Key');
    }
    expect(upstream.requests).toHaveLength(0);
  });
}

describe('Idempotency-Key with the in-process store (one replica)', () => {
  const ctx = {} as { upstream: UpstreamStub; a: RunningBff; b: RunningBff };
  beforeAll(async () => {
    ctx.upstream = await new UpstreamStub().start();
    ctx.a = await startBff({
      UPSTREAM_BASE_URL: ctx.upstream.url,
      IDEMPOTENCY_TTL_S: String(TTL_S),
      UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
      // Replays are compared byte for byte with what the upstream sent, token included.
      UPSTREAM_RESPONSE_TOKEN: 'relay',
    });
    ctx.b = ctx.a;
  });
  afterAll(async () => {
    await ctx.a.close();
    await ctx.upstream.stop();
  });
  idempotencySuite(() => ctx);

  it('is mandatory with IDEMPOTENCY_REQUIRED=true', async () => {
    const strict = await startBff({
      UPSTREAM_BASE_URL: ctx.upstream.url,
      IDEMPOTENCY_REQUIRED: 'true',
    });
    try {
      const res = await create(strict);
      expect(res.status).toBe(400);
      expect(res.body.detail).toBe('An Idempotency-Key header is required.');
      expect((await create(strict, randomUUID())).status).toBe(201);
    } finally {
      await strict.close();
    }
  });
});

describe('Idempotency-Key across two replicas sharing one Redis', () => {
  const ctx = {} as { upstream: UpstreamStub; a: RunningBff; b: RunningBff };
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
    ctx.upstream = await new UpstreamStub().start();
    const env = {
      UPSTREAM_BASE_URL: ctx.upstream.url,
      REDIS_URL: redis.url,
      IDEMPOTENCY_TTL_S: String(TTL_S),
      UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
      // Replays are compared byte for byte with what the upstream sent, token included.
      UPSTREAM_RESPONSE_TOKEN: 'relay',
    };
    ctx.a = await startBff(env);
    ctx.b = await startBff(env);
    for (const bff of [ctx.a, ctx.b]) {
      while ((await request(bff.url).get('/health/ready')).status !== 200) await sleep(50);
    }
  });
  afterAll(async () => {
    await ctx.a.close();
    await ctx.b.close();
    await ctx.upstream.stop();
    await redis.stop();
  });
  idempotencySuite(() => ctx);

  it('shares rate-limit counters between replicas', async () => {
    const env = {
      UPSTREAM_BASE_URL: ctx.upstream.url,
      REDIS_URL: redis.url,
      RATE_LIMIT_PER_MINUTE: '3',
    };
    const [x, y] = [await startBff(env), await startBff(env)];
    try {
      for (const bff of [x, y])
        while ((await request(bff.url).get('/health/ready')).status !== 200) await sleep(50);
      const token = `limited-${randomUUID()}`;
      const statuses = [];
      for (const bff of [x, y, x, y])
        statuses.push((await create(bff, undefined, VALID_BODY, token)).status);
      expect(statuses).toEqual([201, 201, 201, 429]);
    } finally {
      await x.close();
      await y.close();
    }
  });

  // Issue 24, item 3 (it logged an error and left the key in flight until its lock expired, after
  // which a retry created again): the answer is kept and written when Redis is back.
  it('Redis dies during the upstream call: the caller gets its answer, the replica keeps it and writes it when Redis is back; the retry on the other replica is replayed, one create', async () => {
    const logs = new LogCapture();
    const bff = await startBff({ UPSTREAM_BASE_URL: ctx.upstream.url, REDIS_URL: redis.url }, logs);
    try {
      while ((await request(bff.url).get('/health/ready')).status !== 200) await sleep(50);
      let stopping: Promise<void> | undefined;
      ctx.upstream.reset((req, res, raw) => {
        stopping = redis.stop();
        void stopping.then(() => answerCreated(req, res, raw));
      });
      const key = randomUUID();
      const res = await create(bff, key).set('X-Request-Id', 'unstored-1');
      expect(res.status).toBe(201);
      const line = (msg: string) =>
        logs.entries().find((entry) => String(entry.msg).startsWith(msg));
      expect(line('could not write an idempotency outcome to Redis')).toMatchObject({
        level: 'warn',
        requestId: 'unstored-1',
        context: 'Idempotency',
      });
      // The same replica replays it while Redis is still down.
      const meanwhile = await create(bff, key);
      expect(meanwhile.status).toBe(201);
      expect(meanwhile.headers['idempotent-replayed']).toBe('true');

      ctx.upstream.reset();
      await redis.restart(); // empty (no persistence here): the kept answer is all there is
      for (let i = 0; !line('idempotency outcome written to Redis'); i += 1) {
        if (i > 100) throw new Error('the kept answer was never written');
        await sleep(50);
      }
      expect(line('idempotency outcome written to Redis')).toMatchObject({
        level: 'info',
        requestId: 'unstored-1',
      });
      for (const replica of [ctx.a, ctx.b]) {
        while ((await request(replica.url).get('/health/ready')).status !== 200) await sleep(50);
      }
      const retry = await create(ctx.a, key);
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.text).toBe(res.text);
      expect(ctx.upstream.requests).toHaveLength(0);
      expect(logs.entries().filter((entry) => entry.level === 'error')).toEqual([]);
    } finally {
      await bff.close();
      if ((await request(ctx.a.url).get('/health/ready')).status !== 200) {
        await redis.restart().catch(() => undefined);
      }
      for (const replica of [ctx.a, ctx.b]) {
        while ((await request(replica.url).get('/health/ready')).status !== 200) await sleep(50);
      }
    }
  });

  it('survives Redis dying: 503 for keyed requests, service without a key, readiness down, then recovery', async () => {
    ctx.upstream.reset();
    await redis.stop();
    await sleep(300);

    const keyed = await create(ctx.a, randomUUID());
    expect(keyed.status).toBe(503);
    expect(keyed.body.type).toBe('urn:interventions-bff:problem:idempotency-unavailable');
    expect(keyed.headers['retry-after']).toBe('5');
    expect((await create(ctx.b)).status).toBe(201);
    const ready = await request(ctx.a.url).get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.error.redis.status).toBe('down');
    expect(ctx.upstream.requests).toHaveLength(1);

    await redis.restart();
    for (let i = 0; (await request(ctx.a.url).get('/health/ready')).status !== 200; i += 1) {
      if (i > 100) throw new Error('the BFF did not reconnect to Redis');
      await sleep(100);
    }
    const key = randomUUID();
    expect((await create(ctx.a, key)).status).toBe(201);
    expect((await create(ctx.b, key)).headers['idempotent-replayed']).toBe('true');
  });
});
