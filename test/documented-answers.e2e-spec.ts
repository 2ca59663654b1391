/**
 * The answers carry what the API document promises (the document Spectral lints): the rate-limit
 * and CORS headers in their documented form on a relayed success and a relayed 4xx, the problem
 * schema's bounds even for a hostile body, and the 500 problem for an error that is not an
 * HttpException. The document is the one the running BFF serves.
 */
import request from 'supertest';
import { UpstreamClient } from '../src/upstream/upstream.client';
import { CALLER_TOKEN, ROUTE, RunningBff, startBff, VALID_BODY } from './support/bff';
import { UpstreamStub } from './support/upstream-stub';

const ORIGIN = 'https://app.example';
const PROBLEM_JSON = 'application/problem+json';
const SHARED_HEADERS = ['RateLimit', 'RateLimit-Policy', 'Access-Control-Allow-Origin'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = Record<string, any>;

let upstream: UpstreamStub;
let bff: RunningBff;
let doc: Node;

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  bff = await startBff({
    UPSTREAM_BASE_URL: upstream.url,
    RATE_LIMIT_PER_MINUTE: '1000',
    CORS_ORIGINS: ORIGIN,
  });
  doc = (await request(bff.url).get('/docs-json')).body as Node;
});
afterAll(async () => {
  await bff.close();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

function documented(status: string): Node {
  const response = (doc.paths[ROUTE].post.responses as Node)[status] as Node | undefined;
  if (!response) throw new Error(`no ${status} answer documented`);
  return response;
}

function problemSchema(status: string): Node {
  return documented(status).content[PROBLEM_JSON].schema as Node;
}

/** What `value` breaks of the schema keywords the document uses for bounds. */
function broken(value: unknown, schema: Node, at: string): string[] {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return broken(value, doc.components.schemas[name] as Node, at);
  }
  const found: string[] = [];
  const fail = (rule: string) => found.push(`${at} ${rule}`);
  if (typeof value === 'string') {
    if ([...value].length > schema.maxLength) fail(`is longer than ${schema.maxLength}`);
    if (schema.pattern && !new RegExp(schema.pattern as string).test(value)) fail('breaks pattern');
  } else if (typeof value === 'number') {
    if (value < schema.minimum || value > schema.maximum) fail('is out of range');
  } else if (Array.isArray(value)) {
    if (value.length > schema.maxItems) fail(`has more than ${schema.maxItems} items`);
    value.forEach((item, i) => found.push(...broken(item, schema.items as Node, `${at}[${i}]`)));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const property = (schema.properties as Node | undefined)?.[key] as Node | undefined;
      if (property) found.push(...broken(item, property, `${at}.${key}`));
      else fail(`has undocumented ${key}`);
    }
  }
  return found;
}

/** The shared headers are documented on this answer, sent, and of the documented form. */
function expectSharedHeaders(res: request.Response, status: string): void {
  const headers = documented(status).headers as Node;
  for (const name of SHARED_HEADERS) {
    const value: unknown = res.headers[name.toLowerCase()];
    expect([name, typeof value]).toEqual([name, 'string']);
    expect(broken(value, headers[name].schema as Node, name)).toEqual([]);
  }
}

function post(body: object = VALID_BODY) {
  return request(bff.url)
    .post(ROUTE)
    .set('Origin', ORIGIN)
    .set('Authorization', `Bearer ${CALLER_TOKEN}`)
    .send(body);
}

it('201: the relayed success carries the documented rate-limit and CORS headers', async () => {
  const res = await post();
  expect(res.status).toBe(201);
  expectSharedHeaders(res, '201');
  expect(res.headers['ratelimit-policy']).toBe(
    '"per-address";q=600;w=60, "per-caller";q=1000;w=60',
  );
  expect(res.headers.ratelimit).toMatch(/^"per-address";r=\d+;t=\d+, "per-caller";r=\d+;t=\d+$/);
});

it('a relayed upstream 4xx carries them too', async () => {
  upstream.reset((_request, res) => {
    res.writeHead(422, { 'Content-Type': 'application/json' }).end('{"message":"archived"}');
  });
  const res = await post();
  expect(res.status).toBe(422);
  expect(res.body).toEqual({ message: 'archived' });
  expectSharedHeaders(res, '4XX');
});

it('500: an error that is not an HttpException is the documented problem, without the error', async () => {
  jest
    .spyOn(bff.app.get(UpstreamClient), 'request')
    .mockRejectedValueOnce(new TypeError('token abc123 broke'));
  const res = await post();
  expect(res.status).toBe(500);
  expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
  expect(res.body).toEqual({
    type: 'urn:interventions-bff:problem:internal-error',
    title: 'Internal server error',
    status: 500,
    detail: 'An unexpected error occurred.',
    requestId: res.headers['x-request-id'],
    traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
  });
  expect(broken(res.body, problemSchema('500'), 'body')).toEqual([]);
  expect(res.text).not.toMatch(/abc123|TypeError|at /);
  expectSharedHeaders(res, '500');
});

it('400: a body of unknown properties gets a problem within the documented bounds', async () => {
  // About 15 KiB: one long property name, then hundreds of short ones, each reported once.
  const body: Record<string, number> = { ['x'.repeat(1000)]: 1 };
  for (let i = 0; i < 1000; i += 1) body[`p${i}`] = 1;
  const res = await post(body);
  expect(res.status).toBe(400);
  const schema = problemSchema('400');
  expect(broken(res.body, schema, 'body')).toEqual([]);
  const { maxItems } = doc.components.schemas.ProblemDto.properties.errors as Node;
  expect(res.body.errors).toHaveLength(maxItems as number);
  expect(res.body.errors[0].field).toMatch(/^x+…$/);
  expectSharedHeaders(res, '400');
});
