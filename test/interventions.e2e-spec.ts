import request from 'supertest';
import {
  CALLER_TOKEN,
  ROUTE,
  RunningBff,
  SESSION_TOKEN,
  startBff,
  VALID_BODY,
} from './support/bff';
import { CREATED_BODY, UpstreamStub } from './support/upstream-stub';

const PROBLEM_JSON = /^application\/problem\+json/;

describe('POST /interventions/v2/rs/preventive/routine (against a recording upstream)', () => {
  let upstream: UpstreamStub;
  let bff: RunningBff;

  beforeAll(async () => {
    upstream = await new UpstreamStub().start();
    bff = await startBff({
      UPSTREAM_BASE_URL: `${upstream.url}/main/`,
      UPSTREAM_TIMEOUT_MS: '1000',
      // The 201 relayed byte for byte, `token` included (stripped by default: credentials suite).
      UPSTREAM_RESPONSE_TOKEN: 'relay',
    });
  });
  afterAll(async () => {
    await bff.close();
    await upstream.stop();
  });
  beforeEach(() => upstream.reset());

  const post = (body: unknown = VALID_BODY) =>
    request(bff.url)
      .post(ROUTE)
      .set('Authorization', `Bearer ${CALLER_TOKEN}`)
      .send(body as object);

  it('forwards exactly the four fields and the right headers, and relays the 201', async () => {
    const res = await post({
      routineId: 1,
      creationStatus: 1,
      scheduledEnd: VALID_BODY.scheduledEnd,
      scheduledStart: VALID_BODY.scheduledStart,
    })
      .set('X-Session-Token', 'caller-forged-session')
      .set('Cookie', 'sid=abc')
      .set('X-Forwarded-For', '10.0.0.1')
      .set('X-Forwarded-Host', 'evil.example')
      .set('Prefer', 'dynamic=true')
      .set('X-Request-Id', 'req-123');

    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual(CREATED_BODY);
    expect(res.headers['x-request-id']).toBe('req-123');

    expect(upstream.requests).toHaveLength(1);
    const [sent] = upstream.requests;
    expect(sent.method).toBe('POST');
    expect(sent.url).toBe('/main/interventions/v2/rs/preventive/routine');
    expect(JSON.parse(sent.body)).toEqual(VALID_BODY);
    expect(Object.keys(JSON.parse(sent.body))).toEqual([
      'scheduledStart',
      'scheduledEnd',
      'creationStatus',
      'routineId',
    ]);
    expect(sent.headers.authorization).toBe(`Bearer ${CALLER_TOKEN}`);
    expect(sent.headers['x-session-token']).toBe(SESSION_TOKEN);
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.headers.accept).toBe('application/json');
    expect(sent.headers['x-request-id']).toBe('req-123');
    for (const header of ['cookie', 'x-forwarded-for', 'x-forwarded-host', 'prefer']) {
      expect(sent.headers[header]).toBeUndefined();
    }
    expect(sent.headers.host).toBe(new URL(upstream.url).host);
  });

  it('keeps the date strings exactly as sent', async () => {
    const body = {
      ...VALID_BODY,
      scheduledStart: '2024-12-01T14:34:56.123456+02:00',
      scheduledEnd: '2024-12-05T14:56:23Z',
    };
    expect((await post(body)).status).toBe(201);
    expect(JSON.parse(upstream.requests[0].body)).toEqual(body);
  });

  it('generates a request id when the caller sends none or an unsafe one', async () => {
    const res = await post().set('X-Request-Id', 'bad id\twith spaces');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(upstream.requests[0].headers['x-request-id']).toBe(res.headers['x-request-id']);
  });

  describe('rejected before the upstream', () => {
    it.each([
      ['no Authorization', undefined, 'Bearer'],
      ['a Basic scheme', 'Basic dXNlcjpwYXNz', 'Bearer error="invalid_request"'],
      ['an empty bearer token', 'Bearer ', 'Bearer error="invalid_request"'],
      ['a token with spaces', 'Bearer abc def', 'Bearer error="invalid_request"'],
    ])('401 for %s', async (_case, authorization, challenge) => {
      const req = request(bff.url).post(ROUTE).send(VALID_BODY);
      if (authorization !== undefined) req.set('Authorization', authorization);
      const res = await req;
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(challenge);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized' });
      expect(upstream.requests).toHaveLength(0);
    });

    it('400 with one error per field, and nothing forwarded', async () => {
      const res = await post({
        ...VALID_BODY,
        scheduledEnd: '2024-11-30T00:00:00Z',
        routineId: '1',
        extra: true,
      });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.body).toMatchObject({
        type: 'urn:interventions-bff:problem:validation-failed',
        status: 400,
      });
      expect(res.body.errors).toEqual(
        expect.arrayContaining([
          { field: 'scheduledEnd', message: 'scheduledEnd must be later than scheduledStart' },
          {
            field: 'routineId',
            message: expect.stringContaining('routineId must be a positive integer'),
          },
          { field: 'extra', message: expect.stringContaining('extra') },
        ]),
      );
      expect(upstream.requests).toHaveLength(0);
    });

    it.each([
      ['text/plain', 'hello'],
      ['application/x-www-form-urlencoded', 'a=1'],
      ['application/xml', '<a/>'],
    ])('415 for Content-Type %s', async (contentType, body) => {
      const res = await request(bff.url)
        .post(ROUTE)
        .set('Authorization', `Bearer ${CALLER_TOKEN}`)
        .set('Content-Type', contentType)
        .send(body);
      expect(res.status).toBe(415);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(upstream.requests).toHaveLength(0);
    });

    it('415 for a request with no body and no Content-Type', async () => {
      const res = await request(bff.url).post(ROUTE).set('Authorization', `Bearer ${CALLER_TOKEN}`);
      expect(res.status).toBe(415);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(upstream.requests).toHaveLength(0);
    });

    it.each([
      ['malformed JSON', '{"routineId": 1,'],
      ['an empty JSON body', ''],
      ['a JSON array', '[1,2]'],
      ['a JSON string', '"hello"'],
      ['JSON null', 'null'],
      ['a __proto__ key', '{"__proto__": {"admin": true}, "routineId": 1}'],
      ['a constructor.prototype key', '{"constructor": {"prototype": {"admin": true}}}'],
      ['a constructor key', '{"constructor": 1}'],
    ])('400 problem for %s', async (_case, raw) => {
      const res = await request(bff.url)
        .post(ROUTE)
        .set('Authorization', `Bearer ${CALLER_TOKEN}`)
        .set('Content-Type', 'application/json')
        .send(raw);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.body.status).toBe(400);
      expect(upstream.requests).toHaveLength(0);
    });

    it('413 problem for a body over 16 KiB', async () => {
      const res = await post({ ...VALID_BODY, padding: 'x'.repeat(17 * 1024) });
      expect(res.status).toBe(413);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(upstream.requests).toHaveLength(0);
    });

    it('404 problem for another path', async () => {
      const res = await request(bff.url).get('/nope');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    });
  });

  describe('upstream answers', () => {
    it('relays a 4xx with its own JSON body and status', async () => {
      upstream.reset((_r, res) => {
        res
          .writeHead(422, { 'Content-Type': 'application/json' })
          .end('{"message":"routine 1 is archived"}');
      });
      const res = await post();
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ message: 'routine 1 is archived' });
    });

    it('relays a 429 with its back-off headers', async () => {
      upstream.reset((_r, res) => {
        res
          .writeHead(429, {
            'Content-Type': 'application/json',
            'Retry-After': '30',
            RateLimit: 'limit=10, remaining=0, reset=30',
            'Access-Control-Allow-Origin': '*',
          })
          .end('{"message":"slow down"}');
      });
      const res = await post();
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.headers.ratelimit).toBe('limit=10, remaining=0, reset=30');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('wraps a non-JSON 4xx as a problem with the same status, without echoing it', async () => {
      upstream.reset((_r, res) => {
        res.writeHead(403, { 'Content-Type': 'text/html' }).end('<h1>Forbidden by WAF node-7</h1>');
      });
      const res = await post();
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.body).toMatchObject({
        type: 'urn:interventions-bff:problem:upstream-rejected',
        status: 403,
      });
      expect(res.text).not.toContain('WAF');
    });

    it('maps a 500 to 502 without echoing the upstream body, and does not retry', async () => {
      upstream.reset((_r, res) => {
        res
          .writeHead(500, { 'Content-Type': 'text/html' })
          .end('<pre>stack trace at db.js:42</pre>');
      });
      const res = await post();
      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.text).not.toContain('db.js');
      expect(upstream.requests).toHaveLength(1);
    });

    it('maps a 503 to 503 and passes Retry-After on', async () => {
      upstream.reset((_r, res) => {
        res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '120' }).end('{}');
      });
      const res = await post();
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('120');
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(upstream.requests).toHaveLength(1);
    });

    it('maps a 2xx that is not JSON to 502', async () => {
      upstream.reset((_r, res) => {
        res.writeHead(201, { 'Content-Type': 'text/plain' }).end('created');
      });
      expect((await post()).status).toBe(502);
    });

    it('maps a 2xx with a JSON content type but an invalid body to 502', async () => {
      upstream.reset((_r, res) => {
        res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"data":');
      });
      expect((await post()).status).toBe(502);
    });

    it('does not follow a redirect', async () => {
      upstream.reset((_r, res) => {
        res.writeHead(307, { Location: '/elsewhere' }).end();
      });
      const res = await post();
      expect(res.status).toBe(502);
      expect(upstream.requests).toHaveLength(1);
    });

    it('maps no answer within UPSTREAM_TIMEOUT_MS to 504, without a retry', async () => {
      upstream.reset(() => undefined);
      const started = Date.now();
      const res = await post();
      expect(res.status).toBe(504);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(res.body.detail).toContain('1000 ms');
      expect(upstream.requests).toHaveLength(1);
    });
  });

  it('never echoes either token in a problem', async () => {
    upstream.reset((_r, res) => res.writeHead(500).end(`${SESSION_TOKEN} ${CALLER_TOKEN}`));
    const res = await post();
    expect(res.text).not.toContain(SESSION_TOKEN);
    expect(res.text).not.toContain(CALLER_TOKEN);
  });
});

describe('an unreachable upstream', () => {
  it('answers 502 when the connection is refused', async () => {
    const gone = await new UpstreamStub().start();
    const url = gone.url;
    await gone.stop();
    const bff = await startBff({ UPSTREAM_BASE_URL: url });
    try {
      const res = await request(bff.url)
        .post(ROUTE)
        .set('Authorization', `Bearer ${CALLER_TOKEN}`)
        .send(VALID_BODY);
      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.body.detail).toBe('The upstream API could not be reached.');
    } finally {
      await bff.close();
    }
  });
});
