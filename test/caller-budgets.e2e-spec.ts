// Issue 13: what a caller may spend of the session token, tried as a hostile client would, against
// real servers on loopback. Every case asserts how many calls reached the upstream.
import { randomUUID } from 'node:crypto';
import { ROUTE, RunningBff, startBff, withStartedBff } from './support/bff';
import { Answer, bearer, call, pool } from './support/client';
import { LogCapture } from './support/log-capture';
import { RedisServer } from './support/redis-server';
import { StubHandler, UpstreamStub } from './support/upstream-stub';

const PROBLEM_JSON = /^application\/problem\+json/;
const answer401: StubHandler = (_r, res) =>
  res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"message":"Unauthorized"}');

let upstream: UpstreamStub;
beforeAll(async () => {
  upstream = await new UpstreamStub().start();
});
afterAll(() => upstream.stop());
beforeEach(() => upstream.reset());

const withBff = (
  env: Record<string, string>,
  run: (bff: RunningBff) => Promise<void>,
  logs?: LogCapture,
) => withStartedBff({ UPSTREAM_BASE_URL: upstream.url, ...env }, run, logs);

const randomToken = () => randomUUID().replaceAll('-', '');
const statusesOf = (answers: Answer[]) =>
  answers.reduce<Record<number, number>>((counts, { status }) => {
    counts[status] = (counts[status] ?? 0) + 1;
    return counts;
  }, {});

function expectAuthFailureLimit(answer: Answer, limit: number): void {
  expect(answer.status).toBe(429);
  expect(answer.headers['content-type']).toMatch(PROBLEM_JSON);
  expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
  expect(answer.headers['ratelimit-policy']).toBe(`"auth-failures";q=${limit};w=60`);
}

describe('a client rotating bearer tokens against an upstream that answers 401', () => {
  it('550 new tokens, 50 at a time: at most AUTH_FAILURES_PER_MINUTE (20) + MAX_IN_FLIGHT_PER_ADDRESS (32) upstream calls', async () => {
    upstream.reset(answer401);
    await withBff({ RATE_LIMIT_PER_MINUTE: '120' }, async (bff) => {
      const answers = await pool(
        50,
        Array.from({ length: 550 }, () => () => call(bff.url, { headers: bearer(randomToken()) })),
      );
      const hits = upstream.requests.length;
      process.stdout.write(`rotating-token flood: ${hits} of 550 requests reached the upstream\n`);
      expect(hits).toBeGreaterThanOrEqual(20);
      expect(hits).toBeLessThanOrEqual(20 + 32);
      expect(statusesOf(answers)).toEqual({ 401: hits, 429: 550 - hits });
      expectAuthFailureLimit(answers[549], 20);

      // Blocked until the window ends, whatever the token: the next one is not even sent.
      upstream.reset();
      expectAuthFailureLimit(await call(bff.url, { headers: bearer('a-real-users-token') }), 20);
      expect(upstream.requests).toHaveLength(0);
      // Another address is not affected.
      const other = await call(bff.url, {
        headers: bearer('a-real-users-token'),
        from: '127.0.0.2',
      });
      expect(other.status).toBe(201);
      expect(upstream.requests).toHaveLength(1);
    });
  }, 60_000);

  it('rotating X-Forwarded-For too changes nothing without TRUST_PROXY', async () => {
    upstream.reset(answer401);
    await withBff({ AUTH_FAILURES_PER_MINUTE: '5' }, async (bff) => {
      const answers: Answer[] = [];
      for (let i = 0; i < 12; i += 1) {
        const forwardedFor = `203.0.113.${i + 1}`;
        answers.push(
          await call(bff.url, {
            headers: { ...bearer(randomToken()), 'x-forwarded-for': forwardedFor },
          }),
        );
      }
      expect(answers.map((a) => a.status)).toEqual([...Array(5).fill(401), ...Array(7).fill(429)]);
      expect(upstream.requests).toHaveLength(5);
    });
  });

  it('counts every bearer token the BFF rejects itself: a blocked address gets 429, no upstream call', async () => {
    await withBff({ AUTH_FAILURES_PER_MINUTE: '3' }, async (bff) => {
      // No Authorization at all is no attempt at a credential: not counted.
      for (let i = 0; i < 5; i += 1) expect((await call(bff.url)).status).toBe(401);
      for (const malformed of ['Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearer "x"']) {
        const answer = await call(bff.url, { headers: { authorization: malformed } });
        expect(answer.status).toBe(401);
        expect(answer.headers['www-authenticate']).toBe('Bearer error="invalid_request"');
      }
      expectAuthFailureLimit(await call(bff.url, { headers: bearer('good-token') }), 3);
      expectAuthFailureLimit(await call(bff.url), 3);
      expect(upstream.requests).toHaveLength(0);
      expect(
        (await call(bff.url, { headers: bearer('good-token'), from: '127.0.0.2' })).status,
      ).toBe(201);
      expect(upstream.requests).toHaveLength(1);
    });
  });
});

describe('RATE_LIMIT_PER_ADDRESS_PER_MINUTE', () => {
  it('holds for a client changing token and X-Forwarded-For on every request; other addresses keep theirs', async () => {
    await withBff({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '10' }, async (bff) => {
      const answers: Answer[] = [];
      for (let i = 0; i < 15; i += 1) {
        const headers = { ...bearer(randomToken()), 'x-forwarded-for': `198.51.100.${i}` };
        answers.push(await call(bff.url, { headers }));
      }
      expect(answers.map((a) => a.status)).toEqual([...Array(10).fill(201), ...Array(5).fill(429)]);
      const limited = answers[14];
      expect(limited.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(limited.headers['ratelimit-policy']).toBe('"per-address";q=10;w=60');
      expect(limited.headers.ratelimit).toMatch(/^"per-address";r=0;t=\d+$/);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(upstream.requests).toHaveLength(10);

      expect((await call(bff.url, { headers: bearer('x'), from: '127.0.0.2' })).status).toBe(201);
      expect(upstream.requests).toHaveLength(11);
    });
  });
});

describe('TRUST_PROXY', () => {
  it('two clients behind a trusted proxy have independent budgets; a spoofed earlier hop is ignored', async () => {
    upstream.reset(answer401);
    // The test is the proxy, on 127.0.0.1; 127.0.0.2 is a client reaching the BFF directly.
    await withBff({ TRUST_PROXY: '127.0.0.1', AUTH_FAILURES_PER_MINUTE: '4' }, async (bff) => {
      const from = (client: string, spoofed?: string) => () =>
        call(bff.url, {
          headers: {
            ...bearer(randomToken()),
            'x-forwarded-for': spoofed === undefined ? client : `${spoofed}, ${client}`,
          },
        });
      const a = await pool(
        1,
        Array.from({ length: 6 }, () => from('203.0.113.7')),
      );
      expect(a.map((x) => x.status)).toEqual([401, 401, 401, 401, 429, 429]);
      expect(upstream.requests).toHaveLength(4);

      // What the client itself put in X-Forwarded-For is before the proxy's entry: not trusted.
      const spoofing = await pool(
        1,
        Array.from({ length: 3 }, (_, i) => from('203.0.113.7', `192.0.2.${i}`)),
      );
      expect(spoofing.map((x) => x.status)).toEqual([429, 429, 429]);
      expect(upstream.requests).toHaveLength(4);

      const b = await pool(
        1,
        Array.from({ length: 6 }, () => from('198.51.100.9')),
      );
      expect(b.map((x) => x.status)).toEqual([401, 401, 401, 401, 429, 429]);
      expect(upstream.requests).toHaveLength(8);

      // Not from the trusted proxy: its X-Forwarded-For naming the blocked client is ignored.
      const direct = await call(bff.url, {
        headers: { ...bearer(randomToken()), 'x-forwarded-for': '203.0.113.7' },
        from: '127.0.0.2',
      });
      expect(direct.status).toBe(401);
      expect(upstream.requests).toHaveLength(9);
    });
  });

  it('a hop count takes the address the last trusted proxy saw, and warns at start', async () => {
    const logs = new LogCapture();
    await withBff(
      { TRUST_PROXY: '1', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '2' },
      async (bff) => {
        // New tokens each time: a credential that succeeded would pass a spent address budget.
        const send = (forwardedFor: string) =>
          call(bff.url, {
            headers: { ...bearer(randomToken()), 'x-forwarded-for': forwardedFor },
          });
        expect((await send('10.1.1.1, 203.0.113.1')).status).toBe(201);
        expect((await send('10.2.2.2, 203.0.113.1')).status).toBe(201);
        expect((await send('10.3.3.3, 203.0.113.1')).status).toBe(429);
        expect((await send('203.0.113.2')).status).toBe(201);
        expect(upstream.requests).toHaveLength(3);
      },
      logs,
    );
    const warnings = logs.entries().filter((e) => e.level === 'warn');
    expect(warnings.map((e) => e.msg)).toEqual([
      expect.stringMatching(/^TRUST_PROXY is a hop count: .* list the proxies' addresses/),
    ]);
  });

  it('X-Forwarded-For entries that are no IP address are ignored: the proxy that handed them over is the client', async () => {
    await withBff({ TRUST_PROXY: '1', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '5' }, async (bff) => {
      const answers: Answer[] = [];
      for (const junk of [
        'unknown',
        'x',
        '203.0.113.1:80',
        '[2001:db8::1]',
        'a'.repeat(300),
        '_',
      ]) {
        answers.push(
          await call(bff.url, { headers: { ...bearer(randomToken()), 'x-forwarded-for': junk } }),
        );
      }
      // One budget (the socket's, 127.0.0.1), not six.
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201, 429]);
      expect(answers[5].headers['ratelimit-policy']).toBe('"per-address";q=5;w=60');
      expect(upstream.requests).toHaveLength(5);
    });
  });

  it('TRUST_PROXY=127.0.0.2/32: a direct client on 127.0.0.1 rotating X-Forwarded-For has one budget, not 200', async () => {
    const logs = new LogCapture();
    await withBff(
      { TRUST_PROXY: '127.0.0.2/32', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '50' },
      async (bff) => {
        const answers = await pool(
          10,
          Array.from(
            { length: 200 },
            (_, i) => () =>
              call(bff.url, {
                headers: {
                  ...bearer(randomToken()),
                  'x-forwarded-for': `198.51.${i >> 8}.${i & 255}`,
                },
              }),
          ),
        );
        expect(statusesOf(answers)).toEqual({ 201: 50, 429: 150 });
        expect(upstream.requests).toHaveLength(50);
        // The trusted proxy's forwarded client is still its own budget.
        const proxied = await call(bff.url, {
          headers: { ...bearer('t'), 'x-forwarded-for': '198.51.0.1' },
          from: '127.0.0.2',
        });
        expect(proxied.status).toBe(201);
        expect(proxied.headers.ratelimit).toMatch(/^"per-address";r=49;/);
      },
      logs,
    );
    expect(logs.entries().filter((e) => e.level === 'warn')).toEqual([]);
  });
});

describe('the failed-authentication budget across two replicas on one Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());

  it('holds for the address whichever replica it reaches', async () => {
    upstream.reset(answer401);
    const env = {
      UPSTREAM_BASE_URL: upstream.url,
      REDIS_URL: redis.url,
      AUTH_FAILURES_PER_MINUTE: '6',
    };
    const [x, y] = [await startBff(env), await startBff(env)];
    try {
      for (const bff of [x, y]) {
        while ((await call(bff.url, { method: 'GET', path: '/health/ready' })).status !== 200) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      const answers: Answer[] = [];
      for (let i = 0; i < 10; i += 1) {
        answers.push(await call((i % 2 ? y : x).url, { headers: bearer(randomToken()) }));
      }
      expect(answers.map((a) => a.status)).toEqual([...Array(6).fill(401), ...Array(4).fill(429)]);
      expect(upstream.requests).toHaveLength(6);
    } finally {
      await x.close();
      await y.close();
    }
  });
});

describe('one identity per credential (RFC 9110: the scheme is case-insensitive, spaces may repeat)', () => {
  const SPELLINGS = [
    'Bearer alice-token',
    'bearer alice-token',
    'BEARER alice-token',
    'Bearer   alice-token',
    'bEaReR  alice-token',
    '  Bearer alice-token  ',
  ];

  it('six spellings of one token share one rate-limit budget', async () => {
    await withBff({ RATE_LIMIT_PER_MINUTE: '5' }, async (bff) => {
      const answers: Answer[] = [];
      for (const spelling of [...SPELLINGS, ...SPELLINGS]) {
        answers.push(await call(bff.url, { headers: { authorization: spelling } }));
      }
      expect(answers.map((a) => a.status)).toEqual([...Array(5).fill(201), ...Array(7).fill(429)]);
      expect(answers[5].headers['ratelimit-policy']).toBe('"per-caller";q=5;w=60');
      expect(upstream.requests).toHaveLength(5);
      // Forwarded as the caller sent it (Node trims the field value).
      expect(upstream.requests.map((r) => r.headers.authorization)).toEqual(
        SPELLINGS.slice(0, 5).map((s) => s.trim()),
      );
    });
  });

  it('six spellings of one token share one idempotency scope', async () => {
    await withBff({}, async (bff) => {
      const key = randomUUID();
      const answers: Answer[] = [];
      for (const spelling of SPELLINGS) {
        answers.push(
          await call(bff.url, { headers: { authorization: spelling, 'idempotency-key': key } }),
        );
      }
      expect(answers.map((a) => a.status)).toEqual(Array(6).fill(201));
      expect(answers.map((a) => a.headers['idempotent-replayed'])).toEqual([
        undefined,
        ...Array(5).fill('true'),
      ]);
      expect(upstream.requests).toHaveLength(1);
    });
  });
});

describe('MAX_IN_FLIGHT_PER_ADDRESS', () => {
  it('keyed requests abandoned by their callers cannot take every upstream slot', async () => {
    const held = upstream.hold();
    await withBff({ MAX_IN_FLIGHT_PER_ADDRESS: '3' }, async (bff) => {
      // Each keyed call outlives its caller (so that a retry can collect it): 20 ms and gone.
      await Promise.all(
        Array.from({ length: 10 }, () =>
          call(bff.url, {
            headers: { ...bearer(randomToken()), 'idempotency-key': randomUUID() },
            abortAfterMs: 20,
          }),
        ),
      );
      while (held.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      const refused = await call(bff.url, { headers: bearer(randomToken()) });
      expect(refused.status).toBe(429);
      expect(refused.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body.detail).toBe(
        'More than 3 requests from this address are in flight; retry in 1 s.',
      );
      expect(upstream.requests).toHaveLength(3);

      const legitimate = call(bff.url, { headers: bearer('legit'), from: '127.0.0.3' });
      while (held.length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
      held.forEach((release) => release());
      expect((await legitimate).status).toBe(201);
      expect(upstream.requests).toHaveLength(4);
      expect(upstream.requests[3].url).toBe(ROUTE);
    });
  });
});
