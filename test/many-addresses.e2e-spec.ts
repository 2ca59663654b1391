// Issue 23: many addresses, one session token. A hostile client with many addresses (all of
// 127.0.0.0/8 is the loopback interface: each 127.x.y.z is another client as the socket tells it)
// against real servers on loopback; every case counts what reached the upstream.
import { randomUUID } from 'node:crypto';
import { RunningBff, startBff, withStartedBff } from './support/bff';
import { Answer, bearer, call, pool } from './support/client';
import { LogCapture } from './support/log-capture';
import { RedisServer } from './support/redis-server';
import { acceptingCredentials, UpstreamStub } from './support/upstream-stub';

const PROBLEM_JSON = /^application\/problem\+json/;
const GOOD = 'good-';

let upstream: UpstreamStub;
beforeAll(async () => {
  upstream = await new UpstreamStub().start();
});
afterAll(() => upstream.stop());
/** The upstream accepts exactly the tokens starting with "good-". */
const isGood = (authorization: string) => authorization.startsWith(`Bearer ${GOOD}`);
beforeEach(() => upstream.reset(acceptingCredentials(isGood)));

const withBff = (
  env: Record<string, string>,
  run: (bff: RunningBff) => Promise<void>,
  logs?: LogCapture,
) => withStartedBff({ UPSTREAM_BASE_URL: upstream.url, ...env }, run, logs);

const badToken = () => `bad-${randomUUID()}`;
const goodToken = () => `${GOOD}${randomUUID()}`;
const rejectedUpstream = () =>
  upstream.requests.filter((r) => !isGood(r.headers.authorization ?? ''));
const statusesOf = (answers: Answer[]) =>
  answers.reduce<Record<number, number>>((counts, { status }) => {
    counts[status] = (counts[status] ?? 0) + 1;
    return counts;
  }, {});
const metrics = async (bff: RunningBff) =>
  (await call(bff.url, { method: 'GET', path: '/metrics' })).text;

describe('AUTH_FAILURES_GLOBAL_PER_MINUTE', () => {
  it('100 addresses x 20 new bad credentials: at most 200 upstream 401s, and a known-good caller is served throughout', async () => {
    const logs = new LogCapture();
    await withBff(
      {},
      async (bff) => {
        const known = goodToken();
        const honest = () => call(bff.url, { headers: bearer(known), from: '127.0.9.9' });
        expect((await honest()).status).toBe(201);

        const attack = Array.from(
          { length: 100 * 20 },
          (_, i) => () =>
            call(bff.url, { headers: bearer(badToken()), from: `127.0.1.${1 + (i % 100)}` }),
        );
        const honestAnswers: Answer[] = [];
        let attacking = true;
        const served = (async () => {
          while (attacking) {
            honestAnswers.push(await honest());
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })();
        const started = performance.now();
        const answers = await pool(50, attack);
        attacking = false;
        await served;
        const rejected = rejectedUpstream().length;
        process.stdout.write(
          `100 addresses x 20 bad credentials in ${(performance.now() - started).toFixed(0)} ms: ` +
            `${rejected} upstream 401s, answers ${JSON.stringify(statusesOf(answers))}, ` +
            `known-good caller ${JSON.stringify(statusesOf(honestAnswers))}\n`,
        );
        expect(rejected).toBeLessThanOrEqual(200);
        expect(rejected).toBeGreaterThanOrEqual(190);
        expect(honestAnswers.length).toBeGreaterThan(5);
        expect(honestAnswers.every((a) => a.status === 201)).toBe(true);
        // Every answer past the budget: a 401 problem, no upstream call.
        const refused = answers.filter((a) => a.body.detail?.toString().includes('across all'));
        expect(refused.length).toBeGreaterThan(1000);
        expect(refused[0].status).toBe(401);
        expect(refused[0].headers['content-type']).toMatch(PROBLEM_JSON);
        expect(refused[0].headers['www-authenticate']).toBe('Bearer');
        expect(Number(refused[0].headers['retry-after'])).toBeGreaterThan(0);
        expect(statusesOf(answers)[201]).toBeUndefined();

        // A credential never seen to succeed is not tried until the window ends, from anywhere.
        const before = upstream.requests.length;
        const stranger = await call(bff.url, { headers: bearer(goodToken()), from: '127.0.9.10' });
        expect(stranger.status).toBe(401);
        expect(upstream.requests).toHaveLength(before);

        const text = await metrics(bff);
        expect(text).toMatch(/^auth_failures_global_budget_spent 1$/m);
        expect(text).toMatch(/^caller_rejections_total\{reason="auth_failures_global"\} \d{4}$/m);
      },
      logs,
    );
    const warnings = logs.entries().filter((e) => e.level === 'warn');
    expect(warnings.map((e) => e.msg)).toEqual([
      expect.stringMatching(/^global failed-credential budget spent: 200 distinct credentials/),
    ]);
  }, 120_000);

  it('one bad credential retried counts once; 0 turns the budget off', async () => {
    await withBff(
      { AUTH_FAILURES_GLOBAL_PER_MINUTE: '3', AUTH_FAILURES_PER_MINUTE: '0' },
      async (bff) => {
        const same = badToken();
        for (let i = 0; i < 5; i += 1) {
          expect((await call(bff.url, { headers: bearer(same) })).status).toBe(401);
        }
        expect(rejectedUpstream()).toHaveLength(5);
        expect((await call(bff.url, { headers: bearer(badToken()) })).status).toBe(401);
        expect((await call(bff.url, { headers: bearer(badToken()) })).status).toBe(401);
        expect(rejectedUpstream()).toHaveLength(7);
        // Three distinct credentials refused: the next new one is not sent.
        expect((await call(bff.url, { headers: bearer(badToken()) })).status).toBe(401);
        expect(rejectedUpstream()).toHaveLength(7);
        expect(await metrics(bff)).toMatch(/^auth_failures_global_budget_spent 1$/m);
      },
    );
    await withBff(
      { AUTH_FAILURES_GLOBAL_PER_MINUTE: '0', AUTH_FAILURES_PER_MINUTE: '0' },
      async (bff) => {
        const before = rejectedUpstream().length;
        for (let i = 0; i < 10; i += 1) {
          expect((await call(bff.url, { headers: bearer(badToken()) })).status).toBe(401);
        }
        expect(rejectedUpstream()).toHaveLength(before + 10);
        expect(await metrics(bff)).toMatch(/^auth_failures_global_budget_spent 0$/m);
      },
    );
  });

  describe('across two replicas on one Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await RedisServer.start();
    });
    afterAll(() => redis.stop());

    it('is one budget, and a credential that succeeded on one replica is known-good on the other', async () => {
      const env = {
        UPSTREAM_BASE_URL: upstream.url,
        REDIS_URL: redis.url,
        AUTH_FAILURES_GLOBAL_PER_MINUTE: '10',
      };
      const [x, y] = [await startBff(env), await startBff(env)];
      try {
        for (const bff of [x, y]) {
          while ((await call(bff.url, { method: 'GET', path: '/health/ready' })).status !== 200) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        const known = goodToken();
        expect((await call(x.url, { headers: bearer(known) })).status).toBe(201);
        for (let i = 0; i < 10; i += 1) {
          await call((i % 2 ? y : x).url, { headers: bearer(badToken()), from: `127.0.2.${i}` });
        }
        // Each replica reads the shared count at least once a second.
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        const sent = upstream.requests.length;
        for (const bff of [x, y]) {
          const refused = await call(bff.url, { headers: bearer(badToken()), from: '127.0.2.99' });
          expect(refused.status).toBe(401);
          expect(refused.body.detail).toContain('across all callers');
        }
        expect(upstream.requests).toHaveLength(sent);
        // One replica's own view may lag the other's last failure by one before it reads again.
        expect(rejectedUpstream().length).toBeGreaterThanOrEqual(10);
        expect(rejectedUpstream().length).toBeLessThanOrEqual(11);
        expect((await call(y.url, { headers: bearer(known), from: '127.0.2.98' })).status).toBe(
          201,
        );
        expect(upstream.requests).toHaveLength(sent + 1);
      } finally {
        await x.close();
        await y.close();
      }
    });
  });
});

describe('known-good callers are never locked out by their neighbours', () => {
  it('20 bad tokens and 610 requests without Authorization from their address: a known-good credential still gets 201', async () => {
    await withBff({ RATE_LIMIT_PER_MINUTE: '0' }, async (bff) => {
      const from = '127.0.3.1';
      const known = goodToken();
      expect((await call(bff.url, { headers: bearer(known), from })).status).toBe(201);

      const anonymous = await pool(
        20,
        Array.from({ length: 610 }, () => () => call(bff.url, { from })),
      );
      expect(statusesOf(anonymous)).toEqual({ 401: 600, 429: 10 });
      const limited = anonymous.find((a) => a.status === 429) as Answer;
      expect(limited.headers['ratelimit-policy']).toBe('"per-address-no-credential";q=600;w=60');
      const bad = await pool(
        10,
        Array.from(
          { length: 20 },
          () => () => call(bff.url, { headers: bearer(badToken()), from }),
        ),
      );
      expect(statusesOf(bad)).toEqual({ 401: 20 });

      // Everybody else at that address is refused: a new credential, right or wrong.
      const stranger = await call(bff.url, { headers: bearer(goodToken()), from });
      expect(stranger.status).toBe(429);
      expect(stranger.headers['ratelimit-policy']).toBe('"auth-failures";q=20;w=60');
      const sent = upstream.requests.length;
      expect(sent).toBe(21);

      const served = await call(bff.url, { headers: bearer(known), from });
      expect(served.status).toBe(201);
      expect(upstream.requests).toHaveLength(sent + 1);
    });
  });

  it('past the per-address request budget, only known-good credentials pass', async () => {
    await withBff({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '10' }, async (bff) => {
      const from = '127.0.3.2';
      const known = goodToken();
      expect((await call(bff.url, { headers: bearer(known), from })).status).toBe(201);
      const flood = await pool(
        5,
        Array.from(
          { length: 20 },
          () => () => call(bff.url, { headers: bearer(goodToken()), from }),
        ),
      );
      expect(statusesOf(flood)).toEqual({ 201: 9, 429: 11 });
      const served = await call(bff.url, { headers: bearer(known), from });
      expect(served.status).toBe(201);
      expect(served.headers.ratelimit).toMatch(/^"per-address";r=0;t=\d+$/);
      // Requests without Authorization do not spend it.
      expect((await call(bff.url, { from: '127.0.3.3' })).status).toBe(401);
      expect(upstream.requests).toHaveLength(11);
    });
  });

  it('a credential the upstream refuses is known-good no more', async () => {
    let accept = true;
    upstream.reset((_request, res) =>
      res
        .writeHead(accept ? 201 : 401, { 'Content-Type': 'application/json' })
        .end(accept ? '{"data":{}}' : '{"message":"revoked"}'),
    );
    await withBff({ AUTH_FAILURES_PER_MINUTE: '2' }, async (bff) => {
      const revoked = goodToken();
      expect((await call(bff.url, { headers: bearer(revoked) })).status).toBe(201);
      accept = false;
      expect((await call(bff.url, { headers: bearer(revoked) })).status).toBe(401);
      expect((await call(bff.url, { headers: bearer(badToken()) })).status).toBe(401);
      // The address is over its failure budget, and the revoked credential is judged with it.
      expect((await call(bff.url, { headers: bearer(revoked) })).status).toBe(429);
      expect(upstream.requests).toHaveLength(3);
    });
  });
});

describe('fair upstream slots', () => {
  it.each([9, 50])(
    '%i addresses abandoning 32 keyed calls each against a hanging upstream: a request from a new address is admitted',
    async (addresses) => {
      // A hanging upstream and a long deadline: no slot frees itself during the test.
      await withBff({ UPSTREAM_TIMEOUT_MS: '60000' }, async (bff) => {
        // One valid account (known-good, so not held back as a new credential) on many addresses.
        const attacker = goodToken();
        expect((await call(bff.url, { headers: bearer(attacker) })).status).toBe(201);
        const held = upstream.hold();
        // All at once, each abandoned after 10 s: the keyed calls that got a slot outlive them.
        await Promise.all(
          Array.from({ length: addresses * 32 }, (_, i) =>
            call(bff.url, {
              headers: { ...bearer(attacker), 'idempotency-key': randomUUID() },
              from: `127.0.5.${1 + (i % addresses)}`,
              abortAfterMs: 10_000,
            }),
          ),
        );
        const taken = held.length;
        process.stdout.write(
          `${addresses} addresses x 32 abandoned keyed calls: ${taken} of 256 upstream slots taken\n`,
        );
        expect(taken).toBeGreaterThanOrEqual(Math.min(200, addresses * 25));
        expect(taken).toBeLessThan(256);

        const fresh = goodToken();
        const asked = performance.now();
        const newcomer = call(bff.url, { headers: bearer(fresh), from: '127.0.6.1' });
        const arrived = () =>
          upstream.requests.some((r) => r.headers.authorization === `Bearer ${fresh}`);
        while (!arrived()) await new Promise((resolve) => setTimeout(resolve, 10));
        process.stdout.write(
          `  the new address's call reached the upstream after ${(performance.now() - asked).toFixed(0)} ms\n`,
        );
        held.forEach((release) => release());
        expect((await newcomer).status).toBe(201);
      });
    },
    120_000,
  );

  it('an address holding calls does not take the last free slots: 429 for it, a slot for the others', async () => {
    const held = upstream.hold();
    await withBff({ UPSTREAM_MAX_CONCURRENCY: '4' }, async (bff) => {
      const send = (from: string) => call(bff.url, { headers: bearer(goodToken()), from });
      const calls = [send('127.0.7.1'), send('127.0.7.1')];
      while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      // Two of four slots free: 127.0.7.1 holds two, so not a third.
      const refused = await send('127.0.7.1');
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body.detail).toBe(
        'This address has 2 upstream calls in flight while few are left for other callers; retry in 1 s.',
      );
      calls.push(send('127.0.7.2'));
      while (held.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      calls.push(send('127.0.7.3'));
      while (held.length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await metrics(bff)).toMatch(/^caller_rejections_total\{reason="fair_share"\} 1$/m);
      held.forEach((release) => release());
      expect((await Promise.all(calls)).map((a) => a.status)).toEqual([201, 201, 201, 201]);
    });
  });
});
