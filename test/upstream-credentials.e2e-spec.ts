// Issue 13, items 5 and 6: no upstream credential reaches the browser. The `token` of a 2xx is
// stripped by default; an answer of any status that carries the session token is not relayed.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { CALLER_TOKEN, RunningBff, SESSION_TOKEN, withStartedBff } from './support/bff';
import { bearer, call } from './support/client';
import { LogCapture } from './support/log-capture';
import { RedisServer } from './support/redis-server';
import { CREATED_BODY, StubHandler, UpstreamStub } from './support/upstream-stub';

const UPSTREAM_TOKEN = CREATED_BODY.token as string;

let upstream: UpstreamStub;
const logs = new LogCapture();
beforeAll(async () => {
  upstream = await new UpstreamStub().start();
});
afterAll(async () => {
  await upstream.stop();
  // Every line written at trace level by every BFF of this suite: no credential in any of them.
  expect(logs.lines.length).toBeGreaterThan(0);
  for (const secret of [SESSION_TOKEN, CALLER_TOKEN, UPSTREAM_TOKEN, 'rotated-away-token-1']) {
    expect(logs.text).not.toContain(secret);
  }
});
beforeEach(() => upstream.reset());

const withBff = (env: Record<string, string>, run: (bff: RunningBff) => Promise<void>) =>
  withStartedBff({ UPSTREAM_BASE_URL: upstream.url, LOG_LEVEL: 'trace', ...env }, run, logs);

const answerJson =
  (status: number, text: string, headers: Record<string, string> = {}): StubHandler =>
  (_r, res) =>
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(text);

const create = (bff: RunningBff, key?: string) =>
  call(bff.url, {
    headers: { ...bearer(CALLER_TOKEN), ...(key === undefined ? {} : { 'idempotency-key': key }) },
  });

describe('UPSTREAM_RESPONSE_TOKEN', () => {
  it('strip (the default): the 201 carries token null and the data unchanged, replays too', async () => {
    await withBff({}, async (bff) => {
      const key = randomUUID();
      const first = await create(bff, key);
      const replay = await create(bff, key);
      expect(upstream.requests).toHaveLength(1);
      for (const answer of [first, replay]) {
        expect(answer.status).toBe(201);
        expect(answer.body).toEqual({ ...CREATED_BODY, token: null });
        expect(answer.text).not.toContain(UPSTREAM_TOKEN);
      }
      expect(replay.headers['idempotent-replayed']).toBe('true');
    });
  });

  it('strip rewrites nothing else: numbers keep their exact text; a body without a token keeps its bytes', async () => {
    await withBff({}, async (bff) => {
      upstream.reset(
        answerJson(201, '{"data":{"id":12345678901234567890,"ratio":1.10},"token":"t-1"}'),
      );
      expect((await create(bff)).text).toBe(
        '{"data":{"id":12345678901234567890,"ratio":1.10},"token":null}',
      );
      const untouched = '{ "data": { "id": 1 },\n  "token": null }';
      upstream.reset(answerJson(201, untouched));
      expect((await create(bff)).text).toBe(untouched);
      expect(upstream.requests).toHaveLength(1);
    });
  });

  it('relay: the token passes as the upstream sent it, replays too', async () => {
    await withBff({ UPSTREAM_RESPONSE_TOKEN: 'relay' }, async (bff) => {
      const key = randomUUID();
      const answers = [await create(bff, key), await create(bff, key)];
      for (const answer of answers) expect(answer.body).toEqual(CREATED_BODY);
      expect(upstream.requests).toHaveLength(1);
    });
  });
});

describe('an upstream answer carrying the session token', () => {
  const echoHeaders: StubHandler = (request, res) =>
    res
      .writeHead(400, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ message: 'bad request', received: request.headers }));

  it.each<[string, StubHandler]>([
    ['a 4xx body echoing the request headers', echoHeaders],
    ['a 2xx body', answerJson(201, JSON.stringify({ data: {}, token: SESSION_TOKEN }))],
    // A 400, not a 429: the upstream processed it, so the key keeps the answer (a 429 frees it).
    ['a relayed back-off header', answerJson(400, '{}', { 'RateLimit-Policy': SESSION_TOKEN })],
    ['a 5xx body', answerJson(500, JSON.stringify({ debug: SESSION_TOKEN }))],
  ])(
    '%s: 502, no value relayed, an error line without it, and a keyed retry is not a second call',
    async (_case, handler) => {
      upstream.reset(handler);
      await withBff({}, async (bff) => {
        const key = randomUUID();
        const answer = await create(bff, key);
        expect(answer.status).toBe(502);
        expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(answer.body.detail).toBe('The upstream API sent an answer that cannot be relayed.');
        expect(JSON.stringify(answer.headers) + answer.text).not.toContain(SESSION_TOKEN);
        const retry = await create(bff, key);
        expect(retry.status).toBe(502);
        expect(retry.text).not.toContain(SESSION_TOKEN);
        expect(upstream.requests).toHaveLength(1);

        const requestId = answer.headers['x-request-id'];
        const lines = logs.entries().filter((entry) => entry.requestId === requestId);
        expect(lines).toEqual(
          expect.arrayContaining([
            expect.objectContaining({
              level: 'error',
              msg: 'the upstream answer contained the session token: not relayed, answered 502',
            }),
            expect.objectContaining({
              msg: 'request completed',
              status: 502,
              upstream: expect.objectContaining({ outcome: 'session_token_echoed' }),
            }),
          ]),
        );
      });
    },
  );

  it('also the token in use before the last rotation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-echo-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'rotated-away-token-1\n');
    try {
      await withBff(
        { UPSTREAM_SESSION_TOKEN_FILE: file, SESSION_TOKEN_POLL_MS: '100' },
        async (bff) => {
          expect((await create(bff)).status).toBe(201);
          writeFileSync(`${file}.tmp`, 'current-token-2\n');
          renameSync(`${file}.tmp`, file);
          while (upstream.requests.at(-1)?.headers['x-session-token'] !== 'current-token-2') {
            await create(bff);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          upstream.reset(answerJson(409, JSON.stringify({ conflict: 'rotated-away-token-1' })));
          const answer = await create(bff);
          expect(answer.status).toBe(502);
          expect(answer.text).not.toContain('rotated-away-token-1');
          expect(upstream.requests).toHaveLength(1);
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Issue 24, item 1: the echo check decodes first. A token with characters that JSON, base64 and
// percent-encoding each write differently (Gson writes `=` as \u003d by default).
describe('an upstream answer carrying the session token encoded', () => {
  const TOKEN = 'sess+ion/tok=en~24:abc';
  const b64 = Buffer.from(TOKEN).toString('base64');
  const b64url = Buffer.from(TOKEN).toString('base64url');
  const escaped = [...TOKEN].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const encodings: Array<[string, string]> = [
    ['`=` as \\u003d', JSON.stringify(TOKEN).replace('=', '\\u003d')],
    ['fully \\u-escaped', `"${escaped.join('')}"`],
    ['partly \\u-escaped', `"${escaped.map((e, i) => (i % 2 ? TOKEN[i] : e)).join('')}"`],
    ['base64', JSON.stringify(b64)],
    ['base64url', JSON.stringify(b64url)],
    ['percent-encoded', JSON.stringify(encodeURIComponent(TOKEN))],
  ];
  const forms = [TOKEN, b64.replace(/=+$/, ''), b64url, encodeURIComponent(TOKEN)];
  const leaks = (text: string) => forms.filter((form) => text.includes(form));

  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());

  const cases: Array<[string, string, StubHandler]> = [];
  for (const [encoding, json] of encodings) {
    cases.push(
      [
        'strip',
        `a 201 body, ${encoding}`,
        answerJson(201, `{"data":{"note":${json}},"token":null}`),
      ],
      ['relay', `a 201 token, ${encoding}`, answerJson(201, `{"data":{},"token":${json}}`)],
      ['strip', `a 400 body, ${encoding}`, answerJson(400, `{"message":${json}}`)],
    );
  }
  cases.push(
    [
      'strip',
      'a percent-encoded RateLimit-Policy',
      answerJson(400, '{}', {
        'RateLimit-Policy': `"p";q=1;w=${encodeURIComponent(TOKEN)}`,
      }),
    ],
    ['strip', 'a base64 X-RateLimit-Reset', answerJson(400, '{}', { 'X-RateLimit-Reset': b64 })],
    [
      'strip',
      'a percent-encoded base64url Retry-After',
      answerJson(400, '{}', {
        'Retry-After': encodeURIComponent(b64url),
      }),
    ],
  );

  it.each(cases)(
    'UPSTREAM_RESPONSE_TOKEN=%s, %s: 502, no token byte in the answer, the replay or Redis, one call',
    async (mode, _case, handler) => {
      upstream.reset(handler);
      await withBff(
        { UPSTREAM_SESSION_TOKEN: TOKEN, UPSTREAM_RESPONSE_TOKEN: mode, REDIS_URL: redis.url },
        async (bff) => {
          const key = randomUUID();
          let answer = await create(bff, key);
          for (let i = 0; answer.status === 503 && i < 50; i += 1) {
            await new Promise((resolve) => setTimeout(resolve, 50)); // Redis connecting
            answer = await create(bff, key);
          }
          expect(answer.status).toBe(502);
          expect(answer.body.detail).toBe(
            'The upstream API sent an answer that cannot be relayed.',
          );
          const retry = await create(bff, key);
          expect(retry.status).toBe(502);
          expect(retry.headers['idempotent-replayed']).toBe('true');
          expect(upstream.requests).toHaveLength(1);
          const client = new Redis(redis.url);
          try {
            const keys = await client.keys('*');
            const stored = await Promise.all(
              keys.map(async (k) => `${k}=${(await client.get(k).catch(() => '')) ?? ''}`),
            );
            expect(stored.join('\n')).toContain('bad-gateway');
            const texts = [answer, retry].map((a) => JSON.stringify(a.headers) + a.text);
            expect(leaks([...texts, ...stored].join('\n'))).toEqual([]);
          } finally {
            client.disconnect();
          }
          expect(leaks(logs.text)).toEqual([]);
        },
      );
    },
  );
});
