/**
 * W3C Trace Context from the caller through the BFF to the upstream, and the spans a real OTLP/HTTP
 * endpoint receives when exporting is configured.
 */
import request from 'supertest';
import {
  CALLER_TOKEN,
  ROUTE,
  RunningBff,
  SESSION_TOKEN,
  startBff,
  VALID_BODY,
} from './support/bff';
import { BuiltBff, startBuiltBff } from './support/built-bff';
import { freePort } from './support/free-port';
import { LogCapture } from './support/log-capture';
import { OtlpReceiver, ReceivedSpan, SPAN_KIND } from './support/otlp-receiver';
import { answerCreated, UpstreamStub } from './support/upstream-stub';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const CALLER_TRACEPARENT = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;

let upstream: UpstreamStub;
beforeAll(async () => {
  upstream = await new UpstreamStub().start();
});
afterAll(() => upstream.stop());
beforeEach(() => upstream.reset());

const post = (
  bff: { url: string },
  headers: Record<string, string> = {},
  body: object = VALID_BODY,
) =>
  request(bff.url)
    .post(ROUTE)
    .set('Authorization', `Bearer ${CALLER_TOKEN}`)
    .set(headers)
    .send(body);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function sentTraceparent(index = 0): RegExpExecArray {
  const header = String(upstream.requests[index].headers.traceparent);
  const match = TRACEPARENT.exec(header);
  if (!match) throw new Error(`upstream got no valid traceparent: ${header}`);
  return match;
}

describe('propagation (no exporter configured)', () => {
  const logs = new LogCapture();
  let bff: RunningBff;
  beforeAll(async () => {
    bff = await startBff({ UPSTREAM_BASE_URL: upstream.url }, logs);
  });
  afterAll(() => bff.close());

  it("continues the caller's trace upstream with a span id of its own, and passes tracestate on", async () => {
    const res = await post(bff, { traceparent: CALLER_TRACEPARENT, tracestate: 'vendor=abc,x=1' });
    expect(res.status).toBe(201);
    const [, traceId, spanId] = sentTraceparent();
    expect(traceId).toBe(CALLER_TRACE);
    expect(spanId).not.toBe(CALLER_SPAN);
    expect(upstream.requests[0].headers.traceparent).toMatch(/-01$/);
    expect(upstream.requests[0].headers.tracestate).toBe('vendor=abc,x=1');
  });

  it('starts a trace when none came in, and every log line of the request carries its ids', async () => {
    logs.lines.length = 0;
    await post(bff, { 'X-Request-Id': 'trace-logs' });
    const [, traceId] = sentTraceparent();
    const lines = logs.entries().filter((line) => line.requestId === 'trace-logs');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line.trace_id).toBe(traceId);
      expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it.each([
    'garbage',
    `00-${'0'.repeat(32)}-${CALLER_SPAN}-01`,
    `00-${CALLER_TRACE}-${'0'.repeat(16)}-01`,
    `ff-${CALLER_TRACE}-${CALLER_SPAN}-01`,
    `00-${CALLER_TRACE.toUpperCase()}-${CALLER_SPAN}-01`,
    `00-${CALLER_TRACE}-${CALLER_SPAN}-01-extra`,
  ])('ignores a malformed traceparent (%s): a new trace, the request served', async (header) => {
    const res = await post(bff, { traceparent: header, tracestate: 'vendor=abc' });
    expect(res.status).toBe(201);
    const [, traceId] = sentTraceparent();
    expect(traceId).not.toBe(CALLER_TRACE);
    expect(traceId).not.toBe('0'.repeat(32));
    // A tracestate without a valid parent means nothing.
    expect(upstream.requests[0].headers.tracestate).toBeUndefined();
  });

  it('puts the trace id beside the request id in problem bodies', async () => {
    const res = await post(bff, { traceparent: CALLER_TRACEPARENT }, { routineId: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.traceId).toBe(CALLER_TRACE);
    expect(typeof res.body.requestId).toBe('string');
  });
});

// The exporters load node:http with a dynamic import(), which jest's sandbox cannot run: spans are
// checked on the built app in a child process, as it runs in production.
describe('spans exported to an OTLP/HTTP endpoint', () => {
  let receiver: OtlpReceiver;
  let bff: BuiltBff;
  beforeAll(async () => {
    receiver = await new OtlpReceiver().start();
    bff = await startBuiltBff({
      UPSTREAM_BASE_URL: upstream.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'bff-under-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
      RATE_LIMIT_PER_MINUTE: '6',
    });
  });
  afterAll(async () => {
    bff.kill();
    await receiver.stop();
  });

  const byKind = (spans: ReceivedSpan[], kind: number) => spans.filter((s) => s.kind === kind);

  it('caller → server span → client span → upstream: ids chain end to end, attributes as the conventions say', async () => {
    const res = await post(bff, { traceparent: CALLER_TRACEPARENT });
    expect(res.status).toBe(201);
    const spans = await receiver.spansOf(CALLER_TRACE, 2);
    const [server] = byKind(spans, SPAN_KIND.SERVER);
    const [client] = byKind(spans, SPAN_KIND.CLIENT);
    expect(spans).toHaveLength(2);
    expect(server.parentSpanId).toBe(CALLER_SPAN);
    expect(server.name).toBe(`POST ${ROUTE}`);
    expect(server.serviceName).toBe('bff-under-test');
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': ROUTE,
      'http.response.status_code': 201,
      'url.scheme': 'http',
      'client.address': '127.0.0.1',
      'server.address': '127.0.0.1',
    });
    expect(server.attributes['error.type']).toBeUndefined();
    expect(client.parentSpanId).toBe(server.spanId);
    const [, , sentSpan] = sentTraceparent();
    expect(client.spanId).toBe(sentSpan);
    expect(client.attributes).toMatchObject({
      'http.request.method': 'POST',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(upstream.url).port),
      'http.response.status_code': 201,
      'bff.operation': 'createPreventiveInterventionScheduled',
    });
  });

  it('a replay, a validation failure, a 401 and a 429 show on the server span, with no client span', async () => {
    const key = { 'Idempotency-Key': 'traced-replay' };
    const trace = (n: number) => `00-${String(n).padStart(32, 'a')}-${CALLER_SPAN}-01`;
    expect((await post(bff, key)).status).toBe(201);
    upstream.reset();
    expect(
      (await post(bff, { ...key, traceparent: trace(1) })).headers['idempotent-replayed'],
    ).toBe('true');
    expect((await post(bff, { traceparent: trace(2) }, { routineId: 'x' })).status).toBe(400);
    const unauthorized = await request(bff.url)
      .post(ROUTE)
      .set('traceparent', trace(3))
      .send(VALID_BODY);
    expect(unauthorized.status).toBe(401);
    let limited;
    do limited = await post(bff, { traceparent: trace(5) }, { routineId: 'x' });
    while (limited.status !== 429);
    expect((await post(bff, { traceparent: trace(4) })).status).toBe(429);
    expect(upstream.requests).toHaveLength(0);

    const expectations: [number, Record<string, unknown>][] = [
      [1, { 'bff.idempotent_replayed': true, 'http.response.status_code': 201 }],
      [2, { 'bff.problem': expect.stringMatching(/validation-failed$/) }],
      [
        3,
        { 'bff.problem': expect.stringMatching(/unauthorized$/), 'http.response.status_code': 401 },
      ],
      [4, { 'bff.problem': expect.stringMatching(/too-many-requests$/) }],
    ];
    for (const [n, attributes] of expectations) {
      const traceId = trace(n).slice(3, 35);
      const spans = await receiver.spansOf(traceId, 1);
      const servers = byKind(spans, SPAN_KIND.SERVER);
      expect(servers.length).toBeGreaterThan(0);
      for (const server of servers) expect(server.attributes).toMatchObject(attributes);
      expect(byKind(spans, SPAN_KIND.CLIENT)).toHaveLength(0);
    }
  });

  it('no token, no body value in any exported byte', async () => {
    await post(bff, { traceparent: CALLER_TRACEPARENT });
    await receiver.spansOf(CALLER_TRACE, 3);
    const exported = Buffer.concat(receiver.exports.map((sent) => sent.body)).toString('utf8');
    expect(exported.length).toBeGreaterThan(0);
    for (const secret of [SESSION_TOKEN, CALLER_TOKEN, VALID_BODY.scheduledStart]) {
      expect(exported).not.toContain(secret);
    }
  });
});

describe('an OTLP endpoint that is down', () => {
  it('one warning line per minute at most, and a counter of the failed exports', async () => {
    const bff = await startBuiltBff({
      UPSTREAM_BASE_URL: upstream.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    const failures = async () => {
      const metrics = (await request(bff.url).get('/metrics')).text;
      return Number(/^otel_span_export_failures_total (\d+)$/m.exec(metrics)?.[1]);
    };
    const failed = async (count: number) => {
      // The exporter retries a refused export with back-off before it gives up on the batch.
      for (let i = 0; i < 300 && (await failures()) < count; i += 1) await sleep(100);
      return failures();
    };
    try {
      // Each batch is exported about a second after its spans end: two batches, two failures.
      expect((await post(bff)).status).toBe(201);
      expect(await failed(1)).toBe(1);
      expect((await post(bff)).status).toBe(201);
      expect(await failed(2)).toBe(2);
      const warnings = bff
        .output()
        .split('\n')
        .filter((line) => line.includes('exporting spans to the OTLP endpoint failed'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0])).toMatchObject({ level: 'warn', failures: 1 });
    } finally {
      bff.kill();
    }
  });
});

describe('client spans per attempt', () => {
  it('a refused call and its one retry are two client spans with error.type refused', async () => {
    const receiver = await new OtlpReceiver().start();
    const bff = await startBuiltBff({
      UPSTREAM_BASE_URL: `http://127.0.0.1:${await freePort()}`,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    try {
      expect((await post(bff, { traceparent: CALLER_TRACEPARENT })).status).toBe(502);
      const spans = await receiver.spansOf(CALLER_TRACE, 3);
      const server = spans.find((span) => span.kind === SPAN_KIND.SERVER) as ReceivedSpan;
      const clients = spans.filter((span) => span.kind === SPAN_KIND.CLIENT);
      expect(clients).toHaveLength(2);
      for (const client of clients) {
        expect(client.parentSpanId).toBe(server.spanId);
        expect(client.attributes['error.type']).toBe('refused');
      }
      expect(server.attributes['error.type']).toBe('502');
    } finally {
      bff.kill();
      await receiver.stop();
    }
  });
});

describe('shutdown', () => {
  it.each(['http/protobuf', 'http/json'])(
    'exports over %s and flushes the spans of an in-flight request after SIGTERM',
    async (protocol) => {
      const receiver = await new OtlpReceiver().start();
      upstream.reset((recorded, res, req) =>
        setTimeout(() => answerCreated(recorded, res, req), 300),
      );
      const bff = await startBuiltBff({
        UPSTREAM_BASE_URL: upstream.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      });
      try {
        // supertest sends on then(): started now, awaited after the signal.
        const pending = post(bff, { traceparent: CALLER_TRACEPARENT }).then((res) => res);
        while (upstream.requests.length === 0)
          await new Promise((resolve) => setTimeout(resolve, 20));
        bff.child.kill('SIGTERM');
        expect((await pending).status).toBe(201);
        expect(await bff.exited).toBe(0);
        // Exported before the process exited, though the batch delay had not elapsed.
        const carrying = receiver.exports.filter(
          (sent) =>
            sent.body.includes(Buffer.from(CALLER_TRACE, 'hex')) ||
            sent.body.includes(CALLER_TRACE),
        );
        expect(carrying.length).toBeGreaterThan(0);
        expect(carrying[0].contentType).toBe(
          protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
        );
        if (protocol === 'http/json')
          expect(await receiver.spansOf(CALLER_TRACE, 2)).toHaveLength(2);
      } finally {
        bff.kill();
        await receiver.stop();
      }
    },
    30_000,
  );
});
