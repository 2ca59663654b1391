import { connect } from 'node:net';
import request from 'supertest';
import {
  CALLER_TOKEN,
  ROUTE,
  RunningBff,
  startBff,
  VALID_BODY,
  withStartedBff,
} from './support/bff';
import { bearer, call } from './support/client';
import { LogCapture } from './support/log-capture';
import { UpstreamStub } from './support/upstream-stub';

const PROBLEM_JSON = /^application\/problem\+json/;

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

const create = (bff: RunningBff, token = CALLER_TOKEN) =>
  request(bff.url).post(ROUTE).set('Authorization', `Bearer ${token}`).send(VALID_BODY);

/** Sends raw bytes and resolves with what came back before the server closed or went quiet. */
function raw(bff: RunningBff, bytes: string, quietMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(bff.url).port), '127.0.0.1');
    let received = '';
    let timer = setTimeout(() => socket.destroy(), quietMs);
    socket.on('data', (chunk) => {
      received += chunk.toString();
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), 200);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(bytes);
  });
}

function rawPost(headers: string[], target = ROUTE): string {
  const body = JSON.stringify(VALID_BODY);
  return (
    `POST ${target} HTTP/1.1\r\n` +
    [
      ...headers,
      'Content-Type: application/json',
      `Content-Length: ${body.length}`,
      'Connection: close',
    ].join('\r\n') +
    `\r\n\r\n${body}`
  );
}

describe('circuit breaker', () => {
  it('opens after 50% of 20 calls failed, answers 503 at once, then half-opens and closes', async () => {
    const logs = new LogCapture();
    upstream.reset((_r, res) => res.writeHead(500).end());
    await withBff(
      { BREAKER_RESET_TIMEOUT_MS: '800' },
      async (bff) => {
        for (let i = 0; i < 20; i += 1) expect((await create(bff)).status).toBe(502);
        const hitsWhenOpened = upstream.requests.length;
        expect(hitsWhenOpened).toBe(20);

        const started = Date.now();
        const open = await create(bff);
        expect(open.status).toBe(503);
        expect(open.headers['content-type']).toMatch(PROBLEM_JSON);
        expect(open.headers['retry-after']).toBe('1');
        expect(Date.now() - started).toBeLessThan(200);
        expect(upstream.requests).toHaveLength(hitsWhenOpened);

        const ready = await request(bff.url).get('/health/ready');
        expect(ready.status).toBe(503);
        expect(ready.body.error.upstreamCircuit).toEqual({ status: 'down', state: 'open' });
        expect((await request(bff.url).get('/metrics')).text).toMatch(
          /^upstream_circuit_breaker_state 2$/m,
        );

        upstream.reset();
        await new Promise((resolve) => setTimeout(resolve, 900));
        expect((await create(bff)).status).toBe(201);
        expect((await request(bff.url).get('/health/ready')).status).toBe(200);
      },
      logs,
    );
    const states = logs
      .entries()
      .filter((e) => String(e.msg).startsWith('upstream circuit breaker'));
    expect(states.map((e) => e.msg)).toEqual([
      'upstream circuit breaker open',
      'upstream circuit breaker half_open',
      'upstream circuit breaker closed',
    ]);
  });

  it('does not count upstream 4xx as failures', async () => {
    upstream.reset((_r, res) =>
      res.writeHead(422, { 'Content-Type': 'application/json' }).end('{"m":"no"}'),
    );
    await withBff({}, async (bff) => {
      for (let i = 0; i < 25; i += 1) expect((await create(bff)).status).toBe(422);
      expect(upstream.requests).toHaveLength(25);
    });
  });
});

describe('bounded concurrency', () => {
  it('answers 503 with Retry-After beyond UPSTREAM_MAX_CONCURRENCY instead of queueing', async () => {
    const held = upstream.hold();
    await withBff({ UPSTREAM_MAX_CONCURRENCY: '2' }, async (bff) => {
      // Three addresses: one address alone never takes the last free slot (fair slots).
      const send = (from: string) => call(bff.url, { headers: bearer(CALLER_TOKEN), from });
      const first = send('127.0.0.1');
      const second = send('127.0.0.2');
      while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      const third = await send('127.0.0.3');
      expect(third.status).toBe(503);
      expect(third.headers['retry-after']).toBe('1');
      expect(third.body.detail).toBe('Too many requests to the upstream API are in flight.');
      held.forEach((release) => release());
      expect((await first).status).toBe(201);
      expect((await second).status).toBe(201);
      expect(upstream.requests).toHaveLength(2);
    });
  });
});

describe('rate limiting', () => {
  it('429s a caller past RATE_LIMIT_PER_MINUTE with Retry-After and RateLimit headers, per caller', async () => {
    await withBff({ RATE_LIMIT_PER_MINUTE: '3' }, async (bff) => {
      for (let i = 0; i < 3; i += 1) expect((await create(bff)).status).toBe(201);
      const limited = await create(bff);
      expect(limited.status).toBe(429);
      expect(limited.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.headers['ratelimit-policy']).toBe('"per-caller";q=3;w=60');
      expect(limited.headers.ratelimit).toMatch(/^"per-caller";r=0;t=\d+$/);
      expect(upstream.requests).toHaveLength(3);

      expect((await create(bff, 'another-callers-token')).status).toBe(201);
      for (let i = 0; i < 5; i += 1)
        expect((await request(bff.url).get('/health/live')).status).toBe(200);
      expect((await request(bff.url).get('/metrics')).text).toMatch(
        /^rate_limit_rejections_total 1$/m,
      );
    });
  });
});

describe('server limits', () => {
  let bff: RunningBff;
  beforeAll(async () => {
    bff = await startBff({ UPSTREAM_BASE_URL: upstream.url, HTTP_HEADERS_TIMEOUT_MS: '500' });
  });
  afterAll(() => bff.close());

  it('431 problem for headers over 16 KiB', async () => {
    const answer = await raw(
      bff,
      rawPost([`Authorization: Bearer ${CALLER_TOKEN}`, `X-Big: ${'a'.repeat(17 * 1024)}`]),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toContain('application/problem+json');
    expect(upstream.requests).toHaveLength(0);
  });

  it('408 problem for a client that never finishes its headers', async () => {
    const answer = await raw(bff, `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\n`, 3000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('application/problem+json');
  });

  it.each([
    ['CR/LF', 'Authorization: Bearer abc\rX-Injected: 1'],
    ['NUL', 'Authorization: Bearer abc\u0000def'],
  ])('400 for %s in a header value, and the process keeps serving', async (_case, header) => {
    const answer = await raw(bff, rawPost([header]));
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(upstream.requests).toHaveLength(0);
    expect((await create(bff)).status).toBe(201);
  });

  it('forwards exactly one Authorization when two are sent', async () => {
    const answer = await raw(
      bff,
      rawPost(['Host: x', `Authorization: Bearer ${CALLER_TOKEN}`, 'Authorization: Bearer second']),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0].headers.authorization).toBe(`Bearer ${CALLER_TOKEN}`);
  });

  it.each([
    ['a foreign Host', ['Host: evil.example']],
    ['X-Forwarded-Host', ['Host: x', 'X-Forwarded-Host: evil.example']],
    ['X-Original-URL', ['Host: x', 'X-Original-URL: /admin']],
    ['X-Rewrite-URL', ['Host: x', 'X-Rewrite-URL: /admin']],
  ])('the upstream host and path never change with %s', async (_case, headers) => {
    const answer = await raw(bff, rawPost([...headers, `Authorization: Bearer ${CALLER_TOKEN}`]));
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    expect(upstream.requests[0].url).toBe(ROUTE);
    expect(upstream.requests[0].headers.host).toBe(new URL(upstream.url).host);
  });

  it.each([
    `http://evil.example${ROUTE}`,
    `${ROUTE}/../../admin`,
    `${ROUTE}/..%2f..%2fadmin`,
    `/%2e%2e${ROUTE}`,
    `//evil.example${ROUTE}`,
    `${ROUTE}%00`,
    '*',
  ])('a request target of %s never reaches another upstream URL', async (target) => {
    const answer = await raw(
      bff,
      rawPost(['Host: x', `Authorization: Bearer ${CALLER_TOKEN}`], target),
    );
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
    expect([201, 400, 404]).toContain(status);
    for (const sent of upstream.requests) {
      expect(sent.url).toBe(ROUTE);
      expect(sent.headers.host).toBe(new URL(upstream.url).host);
    }
  });

  it.each([
    ['GET', ROUTE],
    ['PUT', ROUTE],
    ['DELETE', ROUTE],
    ['POST', '/interventions/v2/rs/corrective/routine'],
  ])('%s %s: 404 problem', async (method, path) => {
    const res = await request(bff.url)
      [method.toLowerCase() as 'get'](path)
      .set('Authorization', `Bearer ${CALLER_TOKEN}`);
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(upstream.requests).toHaveLength(0);
  });

  // Exactly what helmet 8 sent with the same configuration, before Nest's useSecurityHeaders()
  // replaced it.
  const SECURITY_HEADERS = {
    'content-security-policy':
      "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' 'unsafe-inline';connect-src 'self'",
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'origin-agent-cluster': '?1',
    'referrer-policy': 'no-referrer',
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
    'x-content-type-options': 'nosniff',
    'x-dns-prefetch-control': 'off',
    'x-download-options': 'noopen',
    'x-frame-options': 'SAMEORIGIN',
    'x-permitted-cross-domain-policies': 'none',
    'x-xss-protection': '0',
  };

  it('sends the security headers on every response, and no X-Powered-By', async () => {
    for (const res of [
      await create(bff),
      await request(bff.url).get('/health/live'),
      await request(bff.url).get('/nope'),
    ]) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS))
        expect([name, res.headers[name]]).toEqual([name, value]);
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });
});

describe('CORS', () => {
  const preflight = (bff: RunningBff, origin: string) =>
    request(bff.url)
      .options(ROUTE)
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');

  it('allows nobody by default', async () => {
    await withBff({}, async (bff) => {
      expect(
        (await preflight(bff, 'https://app.example.com')).headers['access-control-allow-origin'],
      ).toBeUndefined();
      expect(
        (await create(bff).set('Origin', 'https://app.example.com')).headers[
          'access-control-allow-origin'
        ],
      ).toBeUndefined();
    });
  });

  it('allows exactly the origins of CORS_ORIGINS, and never relays the upstream CORS headers', async () => {
    upstream.reset((_r, res) =>
      res
        .writeHead(201, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' })
        .end('{"data":{}}'),
    );
    await withBff(
      { CORS_ORIGINS: 'https://app.example.com,https://admin.example.com' },
      async (bff) => {
        const allowed = await preflight(bff, 'https://app.example.com');
        expect(allowed.status).toBe(204);
        expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
        expect(allowed.headers['access-control-allow-headers']).toMatch(/authorization/i);

        expect(
          (await preflight(bff, 'https://evil.example')).headers['access-control-allow-origin'],
        ).toBeUndefined();
        const foreign = await create(bff).set('Origin', 'https://evil.example');
        expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
        const own = await create(bff).set('Origin', 'https://admin.example.com');
        expect(own.headers['access-control-allow-origin']).toBe('https://admin.example.com');
        expect(own.headers['access-control-expose-headers']).toContain('X-Request-Id');
      },
    );
  });
});

describe('DOCS_ENABLED', () => {
  it('serves Swagger UI and the document by default', async () => {
    await withBff({}, async (bff) => {
      expect((await request(bff.url).get('/docs')).status).toBe(200);
      expect((await request(bff.url).get('/docs-json')).body.openapi).toMatch(/^3\./);
    });
  });

  it('publishes neither when false', async () => {
    await withBff({ DOCS_ENABLED: 'false' }, async (bff) => {
      expect((await request(bff.url).get('/docs')).status).toBe(404);
      expect((await request(bff.url).get('/docs-json')).status).toBe(404);
      expect((await create(bff)).status).toBe(201);
    });
  });
});
