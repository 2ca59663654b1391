// Issue 14, part 5: no client can cause a 5xx or an error line on its own. Each case is sent many
// times, the way a scanner or a flaky network would, and the log is read for anything above info.
import { connect } from 'node:net';
import { MAX_HEADER_LINES } from '../src/app.factory';
import { CALLER_TOKEN, ROUTE, RunningBff, startBff } from './support/bff';
import { LogCapture } from './support/log-capture';
import { UpstreamStub } from './support/upstream-stub';

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
  it.each([
    ['/docs/%2e%2e/x', 403, 200],
    ['/docs/%2e%2e/%2e%2e/etc/passwd', 403, 200],
    ['/docs/..%2f..%2fpackage.json', 404, 200],
    // @fastify/static 10.1.11 refuses a NUL in the path itself (403); 10.1.3 answered 400.
    ['/docs/%00', 403, 200],
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
