// Issue 14, part 5: no client can cause a 5xx or an error line on its own. Each case is sent many
// times, the way a scanner or a flaky network would, and the log is read for anything above info.
import type { IncomingMessage, Server } from 'node:http';
import { connect } from 'node:net';
import { MAX_HEADER_LINES } from '../src/app.factory';
import { CALLER_TOKEN, ROUTE, RunningBff, startBff } from './support/bff';
import { LogCapture } from './support/log-capture';
import { answerCreated, UpstreamStub } from './support/upstream-stub';

const logs = new LogCapture();
let upstream: UpstreamStub;
let bff: RunningBff;
let port: number;

beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  bff = await startBff({ UPSTREAM_BASE_URL: upstream.url }, logs);
  port = Number(new URL(bff.url).port);
});
afterAll(async () => {
  await bff?.close();
  await upstream?.stop();
});
beforeEach(() => {
  upstream.reset();
  logs.lines.length = 0;
});

/** Bytes written as they are (no client library normalises the path or fixes the framing). */
function raw(text: string, hangUpAfterMs?: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.write(text);
    if (hangUpAfterMs !== undefined) setTimeout(() => socket.destroy(), hangUpAfterMs);
  });
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1]);
const levels = () => new Set(logs.entries().map((entry) => entry.level));

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('paths under /docs', () => {
  // Fastify refuses an undecodable URL before routing: no access line, like a malformed request line.
  // Issue 24, item 7: only Swagger UI's own files reach @fastify/static, so a path climbing out
  // of the folder is simply not found (these three were 403, from @fastify/static).
  it.each([
    ['/docs/%2e%2e/x', 404, 200],
    ['/docs/%2e%2e/%2e%2e/etc/passwd', 404, 200],
    ['/docs/..%2f..%2fpackage.json', 404, 200],
    ['/docs/%00', 404, 200],
    ['/docs/%', 400, 0], // found by the hostile paths property: Fastify answered it in plain JSON
    ['/docs/no-such-file.js', 404, 200],
  ])('GET %s ×200: %i problem, nothing logged above info', async (path, status, accessLines) => {
    const answers = await Promise.all(
      Array.from({ length: 200 }, () =>
        raw(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
      ),
    );
    expect(new Set(answers.map(statusOf))).toEqual(new Set([status]));
    expect(answers[0]).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect([...levels()].filter((level) => level !== 'info')).toEqual([]);
    expect(logs.accessLines()).toHaveLength(accessLines);
  });
});

describe('an upload the client abandons', () => {
  it('×100, cut at random points of the body: 499 access lines at info, nothing sent upstream', async () => {
    const body = JSON.stringify({ scheduledStart: '2024-12-01T12:34:56.000Z', routineId: 1 });
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        raw(
          `POST ${ROUTE} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${CALLER_TOKEN}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length + 10}\r\n\r\n` +
            body.slice(0, i % body.length),
          50,
        ),
      ),
    );
    await waitFor(() => logs.accessLines().length === 100);
    expect(new Set(logs.accessLines().map((line) => line.status))).toEqual(new Set([499]));
    expect(levels()).toEqual(new Set(['info']));
    expect(upstream.requests).toHaveLength(0);
  });
});

// Issue 24, item 5: a whole request, then a reset (RST): the address is gone from the socket by the
// time the guard reads it. Also with a key, a JWT-looking token and TRUST_PROXY.
describe('a client that sends a whole request, then resets the connection', () => {
  const body = JSON.stringify({
    scheduledStart: '2024-12-01T12:34:56.000Z',
    scheduledEnd: '2024-12-05T14:56:23.000Z',
    creationStatus: 1,
    routineId: 1,
  });
  /** Local ports of the requests the server has parsed (their headers read). */
  const seen = new Set<number>();
  /**
   * All of the request but its last byte; once the server has parsed its headers, the last byte
   * and at once a reset: the request is complete, and its client gone, when the route runs.
   */
  const resetAfterSending = (target: number, i: number) =>
    new Promise<void>((resolve) => {
      const socket = connect(target, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
      socket.write(
        `POST ${ROUTE} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${CALLER_TOKEN}.${i}\r\n` +
          `X-Forwarded-For: 203.0.113.${i % 250}\r\n` +
          (i % 2 ? `Idempotency-Key: reset-${i}\r\n` : '') +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, -1)}`,
      );
      const last = () => {
        // A reset connection's port may come back at once: each is taken out once used.
        if (!seen.delete(socket.localPort as number)) return void setTimeout(last, 5);
        socket.write(body.slice(-1), () => socket.resetAndDestroy());
      };
      socket.once('connect', last);
    });
  const requests499 = (metrics: string) =>
    [
      ...metrics.matchAll(
        /^http_request_duration_seconds_count\{[^}]*status_code="499"[^}]*\} (\d+)$/gm,
      ),
    ]
      .map((match) => Number(match[1]))
      .reduce((a, b) => a + b, 0);

  it.each([
    ['without TRUST_PROXY', {}],
    ['with TRUST_PROXY=127.0.0.1', { TRUST_PROXY: '127.0.0.1' }],
  ])(
    '×1,000 %s: 499 access lines at info and the 499 metric, no error line',
    async (_case, env) => {
      // The upstream answers late: a reset seen after the guard ends as 499 too (aborted, or a
      // keyed call's answer kept for the retry).
      upstream.reset((req, res, raw) => setTimeout(() => answerCreated(req, res, raw), 200));
      const ownLogs = new LogCapture();
      const own = await startBff({ UPSTREAM_BASE_URL: upstream.url, ...env }, ownLogs);
      let parsed = 0;
      (own.app.getHttpServer() as Server).on('request', (request: IncomingMessage) => {
        parsed += 1;
        seen.add(request.socket.remotePort as number);
      });
      try {
        const target = Number(new URL(own.url).port);
        for (let i = 0; i < 1000; i += 50) {
          await Promise.all(Array.from({ length: 50 }, (_, j) => resetAfterSending(target, i + j)));
        }
        await waitFor(() => ownLogs.accessLines().length === parsed, 20_000);
        await new Promise((resolve) => setTimeout(resolve, 500)); // a late upstream answer included
        expect(parsed).toBe(1000);
        expect(ownLogs.accessLines()).toHaveLength(parsed);
        expect(new Set(ownLogs.accessLines().map((line) => line.status))).toEqual(new Set([499]));
        expect([...new Set(ownLogs.entries().map((entry) => entry.level))]).toEqual(['info']);
        const metrics = await (await fetch(`${own.url}/metrics`)).text();
        expect(requests499(metrics)).toBe(1000);
      } finally {
        await own.close();
      }
    },
    60_000,
  );
});

describe('more header lines than the server keeps', () => {
  const request = (count: number) => {
    const filler = Array.from({ length: count }, (_, i) => `h${i % 10}: 1\r\n`).join('');
    const body = '{}';
    // Authorization last: where a server that drops the extra lines would lose it.
    return raw(
      `POST ${ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n${filler}Authorization: Bearer ${CALLER_TOKEN}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  };

  it.each([MAX_HEADER_LINES + 1, 1500])('%i lines: 431 problem, not 401', async (count) => {
    const answer = await request(count);
    expect(statusOf(answer)).toBe(431);
    expect(answer).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(answer).toContain('"type":"urn:interventions-bff:problem:header-fields-too-large"');
    expect(upstream.requests).toHaveLength(0);
    expect(levels()).not.toContain('error');
  });

  it(`${MAX_HEADER_LINES - 10} lines still reach validation (400 for the empty body)`, async () => {
    expect(statusOf(await request(MAX_HEADER_LINES - 10))).toBe(400);
  });
});
