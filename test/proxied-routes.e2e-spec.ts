/**
 * What every proxied route gets from @ProxiedRoute(), checked on the shipped create and on a
 * second route (PATCH reschedule) that only the tests register.
 */
import request from 'supertest';
import { CALLER_TOKEN, RunningBff, SESSION_TOKEN, startBff } from './support/bff';
import { LogCapture } from './support/log-capture';
import { ProxiedRouteCase, ROUTES, TEST_ROUTE_MODULES } from './support/routes';
import { UpstreamStub } from './support/upstream-stub';

const PROBLEM_JSON = /^application\/problem\+json/;
const SHARED_STATUSES = ['401', '409', '413', '415', '422', '429', '502', '503', '504', '4XX'];

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

function send(route: ProxiedRouteCase, body: unknown = route.validBody, path = route.path) {
  return request(bff.url)
    [route.method](path)
    .set('Authorization', `Bearer ${CALLER_TOKEN}`)
    .send(body as object);
}

describe.each(ROUTES)('$method $template', (route) => {
  it('forwards the validated body with the session token and relays the answer', async () => {
    const res = await send(route)
      .set('Cookie', 'sid=1')
      .set('X-Forwarded-Host', 'evil.example')
      .set('X-Session-Token', 'forged');
    expect(res.status).toBe(201); // the stub's answer, relayed as is
    expect(upstream.requests).toHaveLength(1);
    const [sent] = upstream.requests;
    expect(sent.method).toBe(route.method.toUpperCase());
    expect(sent.url).toBe(`/base${route.path}`);
    expect(JSON.parse(sent.body)).toEqual(route.validBody);
    expect(sent.headers['x-session-token']).toBe(SESSION_TOKEN);
    expect(sent.headers.authorization).toBe(`Bearer ${CALLER_TOKEN}`);
    for (const header of ['cookie', 'x-forwarded-host'])
      expect(sent.headers[header]).toBeUndefined();
  });

  it('401 without a bearer token, nothing sent upstream', async () => {
    const res = await request(bff.url)[route.method](route.path).send(route.validBody);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(upstream.requests).toHaveLength(0);
  });

  it('415 for a body that is not JSON, 413 for one over 16 KiB, 400 naming a bad field', async () => {
    const text = await send(route).set('Content-Type', 'text/plain').send('x');
    expect(text.status).toBe(415);
    const big = await send(route, { ...route.validBody, pad: 'x'.repeat(17 * 1024) });
    expect(big.status).toBe(413);
    const bad = await send(route, { ...route.validBody, scheduledEnd: '2024-02-30T00:00:00Z' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'scheduledEnd' })]);
    for (const res of [text, big, bad]) expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(upstream.requests).toHaveLength(0);
  });

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

  it('documents the shared answers, the Idempotency-Key header and the bearer scheme', async () => {
    const doc = (await request(bff.url).get('/docs-json')).body;
    const operation = doc.paths[route.template][route.method];
    expect(operation.operationId).toBe(route.operationId);
    expect(operation.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(operation.responses)).toEqual(
      expect.arrayContaining([String(route.successStatus), '400', ...SHARED_STATUSES]),
    );
    const success = operation.responses[String(route.successStatus)];
    expect(Object.keys(success.headers)).toEqual([
      'RateLimit-Policy',
      'RateLimit',
      'Access-Control-Allow-Origin',
      'Idempotent-Replayed',
    ]);
    expect(operation.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'Idempotency-Key', in: 'header' })]),
    );
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
      expect.arrayContaining(['POST', 'PATCH']),
    );
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
