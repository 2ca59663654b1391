import type { Socket } from 'node:net';
import request from 'supertest';
import { connect } from 'node:net';
import {
  CALLER_TOKEN,
  ROUTE,
  RunningBff,
  SESSION_TOKEN,
  startBff,
  VALID_BODY,
} from './support/bff';
import { LogCapture } from './support/log-capture';
import { RawUpstream } from './support/raw-upstream';
import { UpstreamStub } from './support/upstream-stub';

const TIMEOUT_MS = 1000;
const PROBLEM_JSON = /^application\/problem\+json/;
// One capture for the whole file, at the most verbose level: every fault's log lines are grepped
// for the tokens at the end.
const logs = new LogCapture();
const responses: string[] = [];

async function withBff<T>(
  upstreamUrl: string,
  run: (bff: RunningBff) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  const bff = await startBff(
    {
      UPSTREAM_BASE_URL: upstreamUrl,
      UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
      LOG_LEVEL: 'trace',
      ...env,
    },
    logs,
  );
  try {
    return await run(bff);
  } finally {
    await bff.close();
  }
}

async function create(bff: RunningBff) {
  const res = await request(bff.url)
    .post(ROUTE)
    .set('Authorization', `Bearer ${CALLER_TOKEN}`)
    .send(VALID_BODY);
  responses.push(JSON.stringify(res.headers) + res.text);
  return res;
}

function rawCase(name: string, answer: (socket: Socket) => void, expectedStatus: number, hits = 1) {
  it(name, async () => {
    const upstream = await new RawUpstream(answer).start();
    try {
      const res = await withBff(upstream.url, create);
      expect(res.status).toBe(expectedStatus);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(upstream.hits).toBe(hits);
    } finally {
      await upstream.stop();
    }
  });
}

describe('upstream faults', () => {
  it('connection refused: 502 after at most one retry', async () => {
    const gone = await new RawUpstream(() => undefined).start();
    const url = gone.url;
    await gone.stop();
    const res = await withBff(url, create);
    expect(res.status).toBe(502);
    expect(res.body.detail).toBe('The upstream API could not be reached.');
  });

  it('no response headers within the deadline: 504, sent once', async () => {
    const upstream = await new RawUpstream(() => undefined).start();
    try {
      const started = Date.now();
      const res = await withBff(upstream.url, create);
      expect(res.status).toBe(504);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1500);
      expect(upstream.hits).toBe(1);
    } finally {
      await upstream.stop();
    }
  });

  it('headers, then a body trickling a byte every 400 ms: 504 at the total deadline', async () => {
    const timers: NodeJS.Timeout[] = [];
    const upstream = await new RawUpstream((socket) => {
      socket.write(
        'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
      );
      timers.push(setInterval(() => socket.writable && socket.write(' '), 400));
    }).start();
    try {
      await withBff(upstream.url, async (bff) => {
        const started = Date.now();
        const res = await create(bff);
        const elapsed = Date.now() - started;
        expect(res.status).toBe(504);
        expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
        expect(elapsed).toBeLessThan(TIMEOUT_MS + 1000);
      });
      expect(upstream.hits).toBe(1);
    } finally {
      timers.forEach(clearInterval);
      await upstream.stop();
    }
  });

  rawCase(
    'reset before the headers: 502, sent exactly once',
    (socket) => socket.resetAndDestroy(),
    502,
  );
  rawCase('closed before the headers: 502, sent exactly once', (socket) => socket.end(), 502);
  rawCase(
    '201 headers, then a reset mid-body: 502, not the 201',
    (socket) => {
      socket.write(
        'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"data":{"id":1',
      );
      setTimeout(() => socket.resetAndDestroy(), 50);
    },
    502,
  );
  rawCase(
    'malformed status line: 502',
    (socket) => socket.end('HTTP/1.1 2x1 Whatever\r\n\r\n'),
    502,
  );
  rawCase('not HTTP at all: 502', (socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'), 502);
  rawCase(
    'invalid chunked encoding: 502',
    (socket) =>
      socket.end(
        'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      ),
    502,
  );
  rawCase(
    '2xx with invalid JSON: 502',
    (socket) =>
      socket.end(
        'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{"data":',
      ),
    502,
  );
  rawCase(
    '2xx with a non-JSON content type: 502',
    (socket) =>
      socket.end(
        'HTTP/1.1 201 Created\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<p>created</p',
      ),
    502,
  );

  rawCase(
    '2xx declaring a charset other than UTF-8: 502',
    (socket) =>
      socket.end(
        'HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=utf-16\r\nContent-Length: 2\r\n\r\n{}',
      ),
    502,
  );

  // RFC 9110 §15.2 asks a client to skip an unexpected 1xx; undici refuses a 100 it did not ask
  // for, and the BFF no longer patches its socket to hide it. The create may have been made, so
  // the answer is the 502 of an unknown outcome, and the call is not repeated.
  it('an unsolicited 100 Continue before the 201: 502, sent once', async () => {
    const created = '{"data":{"id":7}}';
    const upstream = await new RawUpstream((socket) =>
      socket.write(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${created.length}\r\n\r\n${created}`,
      ),
    ).start();
    try {
      const res = await withBff(upstream.url, create);
      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(upstream.hits).toBe(1);
    } finally {
      await upstream.stop();
    }
  });

  it("relays a vendor JSON type as the document's application/json; charset=utf-8", async () => {
    const upstream = await new UpstreamStub().start();
    upstream.reset((_r, res) =>
      res
        .writeHead(201, { 'Content-Type': 'application/vnd.vendor+json' })
        .end('{"data":{"id":7}}'),
    );
    try {
      const res = await withBff(upstream.url, create);
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.text).toBe('{"data":{"id":7}}');
    } finally {
      await upstream.stop();
    }
  });

  it('relays back-off headers of at most 256 bytes and drops longer ones', async () => {
    const upstream = await new UpstreamStub().start();
    upstream.reset((_r, res) =>
      res
        .writeHead(429, {
          'Content-Type': 'application/json',
          'Retry-After': '7',
          RateLimit: `"default";r=0;t=7`,
          'X-RateLimit-Limit': '9'.repeat(256),
          'X-RateLimit-Remaining': '0'.repeat(8000),
        })
        .end('{"message":"slow down"}'),
    );
    try {
      const res = await withBff(upstream.url, create);
      expect(res.status).toBe(429);
      expect(res.body).toEqual({ message: 'slow down' });
      expect(res.headers['retry-after']).toBe('7');
      expect(res.headers.ratelimit).toBe(`"default";r=0;t=7`);
      expect(res.headers['x-ratelimit-limit']).toBe('9'.repeat(256));
      expect(res.headers['x-ratelimit-remaining']).toBeUndefined();
    } finally {
      await upstream.stop();
    }
  });

  // Issue 24, item 6: `5\xff\x80` used to reach the caller as its Retry-After.
  it('relays only well-formed back-off values: Retry-After as seconds or an HTTP-date, RateLimit* as structured fields', async () => {
    const answers = [
      [
        'Retry-After: 5\xff\x80',
        'RateLimit: "default";r=0;t=7\xff',
        'RateLimit-Policy: "default";q=100;w=60',
      ],
      [
        'Retry-After: Wed, 21 Oct 2015 07:28:00 GMT',
        'RateLimit: <b>7</b>',
        'X-RateLimit-Reset: 1e3',
      ],
    ];
    const upstream = await new RawUpstream((socket) => {
      const body = '{"message":"slow down"}';
      socket.write(
        Buffer.from(
          `HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n` +
            `${answers[upstream.hits - 1].join('\r\n')}\r\n` +
            `Content-Length: ${body.length}\r\n\r\n${body}`,
          'latin1',
        ),
      );
    }).start();
    try {
      await withBff(upstream.url, async (bff) => {
        const first = await create(bff);
        expect(first.status).toBe(429);
        expect(first.body).toEqual({ message: 'slow down' });
        expect(first.headers['retry-after']).toBeUndefined();
        // The BFF's own RateLimit (its per-address budget) stays: the upstream's was dropped.
        expect(first.headers.ratelimit).toMatch(/^"per-address";r=\d+;t=\d+$/);
        expect(first.headers['ratelimit-policy']).toBe('"default";q=100;w=60');
        const second = await create(bff);
        expect(second.headers['retry-after']).toBe('Wed, 21 Oct 2015 07:28:00 GMT');
        expect(second.headers.ratelimit).toMatch(/^"per-address";r=\d+;t=\d+$/);
        expect(second.headers['x-ratelimit-reset']).toBeUndefined();
      });
    } finally {
      await upstream.stop();
    }
  });

  it('5xx with an HTML body: 502 problem, nothing of the body echoed', async () => {
    const upstream = await new UpstreamStub().start();
    upstream.reset((_r, res) =>
      res
        .writeHead(500, { 'Content-Type': 'text/html' })
        .end('<h1>Internal Error at db-host-7</h1>'),
    );
    try {
      const res = await withBff(upstream.url, create);
      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.text).not.toContain('db-host-7');
      expect(upstream.requests).toHaveLength(1);
    } finally {
      await upstream.stop();
    }
  });

  it('a response larger than UPSTREAM_MAX_RESPONSE_BYTES: 502, and the download is cut short', async () => {
    const upstream = await new UpstreamStub().start();
    let written = 0;
    upstream.reset((_r, res) => {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (written < 200 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.socket?.on('close', () => res.destroy());
      pump();
    });
    try {
      const res = await withBff(upstream.url, create, {
        UPSTREAM_MAX_RESPONSE_BYTES: String(256 * 1024),
      });
      expect(res.status).toBe(502);
      expect(res.body.detail).toBe('The upstream API sent a response larger than allowed.');
      // The BFF stops reading right past the limit: nowhere near the 200 MiB on offer.
      expect(written).toBeLessThan(32 * 1024 * 1024);
      expect(upstream.requests).toHaveLength(1);
    } finally {
      await upstream.stop();
    }
  });

  it('the caller disconnecting mid-request aborts the upstream call and leaks no socket', async () => {
    const upstream = await new UpstreamStub().start();
    let upstreamClosed = false;
    upstream.reset((_r, res) => res.on('close', () => (upstreamClosed = true)));
    try {
      await withBff(upstream.url, async (bff) => {
        const { port } = new URL(bff.url);
        const body = JSON.stringify(VALID_BODY);
        const client = connect(Number(port), '127.0.0.1');
        client.on('error', () => undefined);
        client.write(
          `POST ${ROUTE} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${CALLER_TOKEN}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
        await waitFor(() => upstream.requests.length === 1);
        client.destroy();
        await waitFor(() => upstreamClosed && upstream.openSockets === 0);
        expect(upstream.requests).toHaveLength(1);
        const aborted = () =>
          logs
            .accessLines()
            .filter((line) => (line.upstream as { outcome?: string })?.outcome === 'aborted');
        await waitFor(() => aborted().length === 1);
        expect(aborted()[0]).toMatchObject({ status: 499 });
      });
    } finally {
      await upstream.stop();
    }
  });

  afterAll(() => {
    expect(logs.lines.length).toBeGreaterThan(10);
    for (const secret of [SESSION_TOKEN, CALLER_TOKEN]) {
      expect(logs.text).not.toContain(secret);
      expect(responses.join('\n')).not.toContain(secret);
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
