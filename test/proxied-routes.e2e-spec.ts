/**
 * What every proxied route gets from @ProxiedRoute(), checked on three routes of three methods: the
 * shipped create (POST), and a reschedule (PATCH, opted in to Idempotency-Key) and a read (GET,
 * no body, a query parameter) that only the tests register.
 */
import request from 'supertest';
import { CALLER_TOKEN, RunningBff, SESSION_TOKEN, startBff } from './support/bff';
import { LogCapture } from './support/log-capture';
import { ProxiedRouteCase, ROUTES, TEST_ROUTE_MODULES } from './support/routes';
import { UpstreamStub } from './support/upstream-stub';

const PROBLEM_JSON = /^application\/problem\+json/;
const ALWAYS = ['401', '429', '500', '502', '503', '504', '4XX'];

let upstream: UpstreamStub;
let bff: RunningBff;
const logs = new LogCapture();

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  bff = await startBff(
    { UPSTREAM_BASE_URL: `${upstream.url}/base`, CORS_ORIGINS: 'https://app.example' },
    logs,
    TEST_ROUTE_MODULES,
  );
});
afterAll(async () => {
  await bff.close();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

function send(route: ProxiedRouteCase, body = route.validBody, path = route.path) {
  const test = request(bff.url)[route.method](path).set('Authorization', `Bearer ${CALLER_TOKEN}`);
  return body === undefined ? test : test.send(body);
}

describe.each(ROUTES)('$method $template', (route) => {
  it('forwards the validated request with the session token and relays the answer', async () => {
    const res = await send(route)
      .set('Cookie', 'sid=1')
      .set('X-Forwarded-Host', 'evil.example')
      .set('X-Session-Token', 'forged');
    expect(res.status).toBe(201); // the stub's answer, relayed as is
    expect(upstream.requests).toHaveLength(1);
    const [sent] = upstream.requests;
    expect(sent.method).toBe(route.method.toUpperCase());
    expect(sent.url).toBe(`/base${route.path}`);
    if (route.validBody === undefined) {
      expect(sent.body).toBe('');
      expect(sent.headers['content-type']).toBeUndefined();
    } else {
      expect(JSON.parse(sent.body)).toEqual(route.validBody);
      expect(sent.headers['content-type']).toBe('application/json');
    }
    expect(sent.headers['x-session-token']).toBe(SESSION_TOKEN);
    expect(sent.headers.authorization).toBe(`Bearer ${CALLER_TOKEN}`);
    for (const header of ['cookie', 'x-forwarded-host'])
      expect(sent.headers[header]).toBeUndefined();
  });

  it('401 without a bearer token, nothing sent upstream', async () => {
    const unauthenticated = request(bff.url)[route.method](route.path);
    const res = await (route.validBody ? unauthenticated.send(route.validBody) : unauthenticated);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(upstream.requests).toHaveLength(0);
  });

  it('400 naming the invalid field, nothing sent upstream', async () => {
    const bad = await send(route, route.invalid.body, route.invalid.path);
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: route.invalid.field })]);
    expect(upstream.requests).toHaveLength(0);
  });

  if (route.validBody !== undefined) {
    it('415 for a body that is not JSON, 413 for one over 16 KiB', async () => {
      const text = await send(route).set('Content-Type', 'text/plain').send('x');
      expect(text.status).toBe(415);
      const big = await send(route, { ...route.validBody, pad: 'x'.repeat(17 * 1024) });
      expect(big.status).toBe(413);
      for (const res of [text, big]) expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(upstream.requests).toHaveLength(0);
    });
  }

  if (route.idempotent) {
    it('replays a keyed request once, and refuses the key for another body', async () => {
      const key = `replay-${route.operationId}`;
      const first = await send(route).set('Idempotency-Key', key);
      const again = await send(route).set('Idempotency-Key', key);
      expect(again.status).toBe(first.status);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.text).toBe(first.text);
      const other = await send(route, route.otherBody).set('Idempotency-Key', key);
      expect(other.status).toBe(422);
      expect(upstream.requests).toHaveLength(1);
    });
  } else {
    it('ignores Idempotency-Key: each request goes upstream, nothing is replayed', async () => {
      const key = `not-replayed-${route.operationId}`;
      const first = await send(route).set('Idempotency-Key', key);
      const again = await send(route).set('Idempotency-Key', key);
      expect([first.status, again.status]).toEqual([201, 201]);
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      expect(upstream.requests).toHaveLength(2);
    });
  }

  it('documents what it can answer, its parameters and the bearer scheme', async () => {
    const doc = (await request(bff.url).get('/docs-json')).body;
    const operation = doc.paths[route.template][route.method];
    expect(operation.operationId).toBe(route.operationId);
    expect(operation.security).toEqual([{ bearer: [] }]);
    const expected = [
      String(route.successStatus),
      '400',
      ...ALWAYS,
      ...(route.idempotent ? ['409', '422'] : []),
      ...(route.validBody ? ['413', '415'] : []),
    ];
    expect(Object.keys(operation.responses).sort()).toEqual(expected.sort());
    expect(operation.requestBody !== undefined).toBe(route.validBody !== undefined);
    const success = operation.responses[String(route.successStatus)];
    expect(Object.keys(success.headers)).toEqual([
      'RateLimit-Policy',
      'RateLimit',
      'Access-Control-Allow-Origin',
      ...(route.idempotent ? ['Idempotent-Replayed'] : []),
    ]);
    const names = (operation.parameters ?? []).map(
      (parameter: { name: string; in: string }) => `${parameter.in}:${parameter.name}`,
    );
    expect(names.includes('header:Idempotency-Key')).toBe(route.idempotent);
    if (route.template.includes('{id}')) expect(names).toContain('path:id');
  });

  it('labels the upstream histogram with its operationId', async () => {
    await send(route);
    const metrics = (await request(bff.url).get('/metrics')).text;
    expect(metrics).toMatch(
      new RegExp(
        `^upstream_request_duration_seconds_count\\{operation="${route.operationId}",outcome="ok"\\} \\d+$`,
        'm',
      ),
    );
  });

  it('allows its method in a CORS preflight', async () => {
    const res = await request(bff.url)
      .options(route.path)
      .set('Origin', 'https://app.example')
      .set('Access-Control-Request-Method', route.method.toUpperCase());
    expect(res.headers['access-control-allow-methods']?.split(/,\s*/)).toEqual(
      expect.arrayContaining(['GET', 'POST', 'PATCH']),
    );
  });
});

describe('a GET route', () => {
  const read = ROUTES.find((route) => route.method === 'get') as ProxiedRouteCase;

  it('forwards its validated query string, and refuses an unknown parameter', async () => {
    expect((await send(read, undefined, `${read.path}?view=full`)).status).toBe(201);
    expect(upstream.requests.map((sent) => sent.url)).toEqual([`/base${read.path}?view=full`]);
    const unknown = await send(read, undefined, `${read.path}?view=full&admin=1`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([expect.objectContaining({ field: 'admin' })]);
    expect(upstream.requests).toHaveLength(1);
  });

  it('is not run for HEAD: nothing reaches the upstream', async () => {
    const head = await request(bff.url)
      .head(read.path)
      .set('Authorization', `Bearer ${CALLER_TOKEN}`);
    expect(head.status).toBe(404);
    expect(upstream.requests).toHaveLength(0);
  });

  it('answers under IDEMPOTENCY_REQUIRED=true without a key', async () => {
    const strict = await startBff(
      { UPSTREAM_BASE_URL: `${upstream.url}/base`, IDEMPOTENCY_REQUIRED: 'true' },
      new LogCapture(),
      TEST_ROUTE_MODULES,
    );
    try {
      const res = await request(strict.url)
        .get(read.path)
        .set('Authorization', `Bearer ${CALLER_TOKEN}`);
      expect(res.status).toBe(201);
      const create = await request(strict.url)
        .post(ROUTES[0].path)
        .set('Authorization', `Bearer ${CALLER_TOKEN}`)
        .send(ROUTES[0].validBody);
      expect(create.status).toBe(400);
    } finally {
      await strict.close();
    }
  });
});

describe('one Idempotency-Key across routes and records', () => {
  const [create, reschedule] = ROUTES;

  it("is a different request on another record: 422, not the other record's answer", async () => {
    const key = 'same-key-other-record';
    expect((await send(reschedule).set('Idempotency-Key', key)).status).toBe(201);
    const other = await send(reschedule, reschedule.validBody, reschedule.otherPath).set(
      'Idempotency-Key',
      key,
    );
    expect(other.status).toBe(422);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(upstream.requests.map((sent) => sent.url)).toEqual([`/base${reschedule.path}`]);
  });

  it('is a different request on another route, even with the same body', async () => {
    const key = 'same-key-other-route';
    const body = { scheduledStart: '2024-12-02T08:00:00.000Z' };
    expect((await send(reschedule, body).set('Idempotency-Key', key)).status).toBe(201);
    expect((await send(create, body).set('Idempotency-Key', key)).status).toBe(400);
    expect((await send(create).set('Idempotency-Key', key)).status).toBe(422);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('path parameters', () => {
  const [, reschedule] = ROUTES;
  it.each([
    '-1',
    '0',
    '007',
    '1e3',
    '1.5',
    '9007199254740992',
    '1152921504606846976',
    '%20',
    '0x10',
  ])('400 naming the field for id %s, nothing sent upstream', async (id) => {
    const res = await send(
      reschedule,
      reschedule.validBody,
      `${reschedule.template.replace('{id}', id)}`,
    );
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'id' })]);
    expect(upstream.requests).toHaveLength(0);
  });

  it('accepts the largest safe integer', async () => {
    const id = String(Number.MAX_SAFE_INTEGER);
    const res = await send(
      reschedule,
      reschedule.validBody,
      `${reschedule.template.replace('{id}', id)}`,
    );
    expect(res.status).toBe(201);
    expect(upstream.requests[0].url).toBe(`/base${reschedule.template.replace('{id}', id)}`);
  });

  it('the PATCH body needs at least one end, and end after start', async () => {
    expect((await send(reschedule, {})).status).toBe(400);
    const reversed = await send(reschedule, {
      scheduledStart: '2024-12-06T00:00:00Z',
      scheduledEnd: '2024-12-02T00:00:00Z',
    });
    expect(reversed.status).toBe(400);
    expect(upstream.requests).toHaveLength(0);
  });
});
