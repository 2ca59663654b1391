import {
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ShutdownState } from '../src/health/shutdown-state';
import { SessionTokenService } from '../src/upstream/session-token.service';
import { CALLER_TOKEN, ROUTE, RunningBff, startBff, VALID_BODY } from './support/bff';
import { startBuiltBff } from './support/built-bff';
import { LogCapture } from './support/log-capture';
import { UpstreamStub } from './support/upstream-stub';

let upstream: UpstreamStub;
beforeAll(async () => {
  upstream = await new UpstreamStub().start();
});
afterAll(() => upstream.stop());
beforeEach(() => upstream.reset());

const create = ({ url }: { url: string }) =>
  request(url).post(ROUTE).set('Authorization', `Bearer ${CALLER_TOKEN}`).send(VALID_BODY);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function jwt(payload: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(payload)}.c2lnbmF0dXJl`;
}

describe('logs and request correlation', () => {
  const logs = new LogCapture();
  let bff: RunningBff;
  beforeAll(async () => {
    bff = await startBff({ UPSTREAM_BASE_URL: upstream.url }, logs);
  });
  afterAll(() => bff.close());

  it('writes one JSON access line per request with the upstream call, under the caller request id', async () => {
    await create(bff).set('X-Request-Id', 'trace-abc.1');
    const lines = logs.entries().filter((entry) => entry.requestId === 'trace-abc.1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'request completed',
      method: 'POST',
      route: ROUTE,
      status: 201,
      upstream: { outcome: 'ok', status: 201 },
    });
    expect(typeof lines[0].durationMs).toBe('number');
    expect(typeof (lines[0].upstream as { durationMs: unknown }).durationMs).toBe('number');
    expect(upstream.requests[0].headers['x-request-id']).toBe('trace-abc.1');
  });

  it('puts the request id in problem bodies and the outcome of upstream failures in the access line', async () => {
    upstream.reset((_r, res) => res.writeHead(500).end());
    const res = await create(bff).set('X-Request-Id', 'trace-500');
    expect(res.body.requestId).toBe('trace-500');
    expect(res.headers['x-request-id']).toBe('trace-500');
    const [line] = logs.accessLines().filter((entry) => entry.requestId === 'trace-500');
    expect(line).toMatchObject({ status: 502, upstream: { outcome: 'upstream_5xx', status: 500 } });
  });

  it('logs requests rejected before the upstream without an upstream part', async () => {
    await request(bff.url).post(ROUTE).set('X-Request-Id', 'trace-401').send(VALID_BODY);
    const [line] = logs.accessLines().filter((entry) => entry.requestId === 'trace-401');
    expect(line).toMatchObject({ status: 401, route: ROUTE });
    expect(line.upstream).toBeUndefined();
  });
});

describe('access lines of the built BFF on stdout', () => {
  it('5 requests to a quiet service: their 5 lines within 1.5 s, then the rest at SIGTERM', async () => {
    const bff = await startBuiltBff({ UPSTREAM_BASE_URL: upstream.url, LOG_LEVEL: 'info' });
    const linesOf = (id: string) =>
      bff
        .output()
        .split('\n')
        .filter((line) => line.includes('"request completed"') && line.includes(id));
    try {
      for (let i = 0; i < 5; i += 1) {
        const res = await create(bff).set('X-Request-Id', `quiet-${i}`);
        expect(res.status).toBe(201);
      }
      await sleep(1_500);
      expect(linesOf('"quiet-')).toHaveLength(5);
      const last = await create(bff).set('X-Request-Id', 'at-exit');
      expect(last.status).toBe(201);
      bff.child.kill('SIGTERM');
      expect(await bff.exited).toBe(0);
      expect(linesOf('"at-exit"')).toHaveLength(1);
    } finally {
      bff.kill();
    }
  });
});

describe('health', () => {
  it('live is up; ready lists its checks', async () => {
    const bff = await startBff({ UPSTREAM_BASE_URL: upstream.url });
    try {
      expect((await request(bff.url).get('/health/live')).body).toEqual({ status: 'ok' });
      const ready = await request(bff.url).get('/health/ready');
      expect(ready.status).toBe(200);
      expect(Object.keys(ready.body.details)).toEqual([
        'shutdown',
        'sessionToken',
        'upstreamCircuit',
      ]);

      bff.app.get(ShutdownState).draining = true;
      const draining = await request(bff.url).get('/health/ready');
      expect(draining.status).toBe(503);
      expect(draining.body.error.shutdown).toEqual({ status: 'down', message: 'draining' });
    } finally {
      await bff.close();
    }
  });
});

describe('metrics', () => {
  it('exposes request and upstream histograms, gauges, and process metrics, outside the API document', async () => {
    const bff = await startBff({ UPSTREAM_BASE_URL: upstream.url, RATE_LIMIT_PER_MINUTE: '100' });
    try {
      await create(bff);
      const res = await request(bff.url).get('/metrics');
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      const text = res.text;
      expect(text).toMatch(
        /^http_request_duration_seconds_count\{method="POST",route="\/interventions\/v2\/rs\/preventive\/routine",status_code="201"\} 1$/m,
      );
      expect(text).toMatch(
        /^upstream_request_duration_seconds_count\{operation="createPreventiveInterventionScheduled",outcome="ok"\} 1$/m,
      );
      expect(text).toMatch(/^upstream_requests_in_flight 0$/m);
      expect(text).toMatch(/^upstream_circuit_breaker_state 0$/m);
      expect(text).toMatch(/^rate_limit_rejections_total 0$/m);
      expect(text).toMatch(/^process_cpu_user_seconds_total /m);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
      // The operational endpoints stay out of the API document, whatever routes it lists.
      const paths = Object.keys((await request(bff.url).get('/docs-json')).body.paths);
      expect(paths).toContain(ROUTE);
      for (const path of paths) expect(path).not.toMatch(/^\/(metrics|health|docs)/);
    } finally {
      await bff.close();
    }
  });
});

describe('session token lifecycle', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bff-token-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A BFF reading its session token from `file`, re-read every 200 ms. */
  const startWithTokenFile = (file: string, logs: LogCapture) =>
    startBff(
      {
        UPSTREAM_BASE_URL: upstream.url,
        UPSTREAM_SESSION_TOKEN_FILE: file,
        SESSION_TOKEN_POLL_MS: '200',
      },
      logs,
    );

  /** Writes the file the way editors and operators do: a new file renamed over the old one. */
  const rotate = (file: string, token: string) => {
    writeFileSync(`${file}.tmp`, `${token}\n`);
    renameSync(`${file}.tmp`, file);
  };

  it('rotates during a stream of requests: old token, then only the new one, no failed request', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'old-token\n');
    const logs = new LogCapture();
    const bff = await startWithTokenFile(file, logs);
    try {
      const statuses: number[] = [];
      let rotated = false;
      const worker = async (id: number) => {
        for (let i = 0; i < 40; i += 1) {
          statuses.push((await create(bff)).status);
          if (id === 0 && i === 10 && !rotated) {
            rotated = true;
            rotate(file, 'new-token');
          }
          await sleep(10);
        }
      };
      await Promise.all([0, 1, 2, 3].map(worker));
      expect(statuses.every((status) => status === 201)).toBe(true);
      const all = upstream.requests.map((r) => r.headers['x-session-token']);
      expect(all).toContain('old-token');
      expect(all).toContain('new-token');
      expect(all.every((token) => token === 'old-token' || token === 'new-token')).toBe(true);
      // Once the new token has been sent, the old one never is again.
      expect(all.slice(all.indexOf('new-token')).every((token) => token === 'new-token')).toBe(
        true,
      );
      expect(logs.text).toContain('upstream session token reloaded');
      expect(logs.text).not.toContain('old-token');
      expect(logs.text).not.toContain('new-token');
    } finally {
      await bff.close();
    }
  });

  it('follows a Kubernetes-style symlink swap, and keeps the previous token on an empty or missing file', async () => {
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'token'), 'k8s-token-1');
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'token'), join(dir, 'token'));
    const logs = new LogCapture();
    const bff = await startWithTokenFile(join(dir, 'token'), logs);
    try {
      await create(bff);
      mkdirSync(join(dir, '..v2'));
      writeFileSync(join(dir, '..v2', 'token'), 'k8s-token-2');
      symlinkSync('..v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      await sleep(500);
      await create(bff);

      writeFileSync(join(dir, '..v2', 'token'), '');
      await sleep(500);
      expect((await create(bff)).status).toBe(201);
      unlinkSync(join(dir, '..v2', 'token'));
      await sleep(500);
      expect((await create(bff)).status).toBe(201);

      expect(upstream.requests.map((r) => r.headers['x-session-token'])).toEqual([
        'k8s-token-1',
        'k8s-token-2',
        'k8s-token-2',
        'k8s-token-2',
      ]);
      expect(logs.text).toContain('the session token file is empty; keeping the previous token');
      expect(logs.text).toContain(
        'the session token file cannot be read (ENOENT); keeping the previous token',
      );
    } finally {
      await bff.close();
    }
  });

  it('refuses rotations to a token that is not a header value (€, CR/LF, 10 MB): previous token kept, no 502, breaker closed', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'good-token\n');
    const logs = new LogCapture();
    const bff = await startWithTokenFile(file, logs);
    const bad = ['t€ken', 'tok\r\nen', 'x'.repeat(10 * 1024 * 1024)];
    try {
      const statuses: number[] = [];
      for (const token of bad) {
        rotate(file, token);
        await sleep(600); // three polls and the fs.watch events: each bad file is reported once
        // More calls than the breaker's volume threshold (20): a local failure would open it.
        for (let i = 0; i < 10; i += 1) statuses.push((await create(bff)).status);
      }
      expect(new Set(statuses)).toEqual(new Set([201]));
      expect(upstream.requests).toHaveLength(30);
      expect(new Set(upstream.requests.map((r) => r.headers['x-session-token']))).toEqual(
        new Set(['good-token']),
      );
      const errors = logs.entries().filter((e) => e.level === 'error');
      expect(errors.map((e) => e.msg)).toEqual([
        'the session token file is not a valid HTTP header value (visible ASCII only, spaces or tabs only inside); keeping the previous token',
        'the session token file is not a valid HTTP header value (visible ASCII only, spaces or tabs only inside); keeping the previous token',
        'the session token file is longer than 8192 bytes; keeping the previous token',
      ]);
      expect(logs.text).not.toMatch(/t€ken|tok\\r|xxxx/);
      const metrics = (await request(bff.url).get('/metrics')).text;
      expect(metrics).toMatch(/^upstream_session_token_reload_failures_total 3$/m);
      expect(metrics).toMatch(/^upstream_circuit_breaker_state 0$/m);
      const ready = await request(bff.url).get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.details.sessionToken).toMatchObject({
        status: 'up',
        reloadFailure: { reason: 'is longer than 8192 bytes', since: expect.any(String) },
      });

      rotate(file, 'good-token-2');
      await sleep(500);
      expect((await create(bff)).status).toBe(201);
      expect(upstream.requests.at(-1)?.headers['x-session-token']).toBe('good-token-2');
      const after = await request(bff.url).get('/health/ready');
      expect(after.body.details.sessionToken.reloadFailure).toBeUndefined();
    } finally {
      await bff.close();
    }
  });

  it('a request the BFF cannot build is a 500 never sent: not a breaker failure, and its key stays free', async () => {
    const logs = new LogCapture();
    const bff = await startBff({ UPSTREAM_BASE_URL: upstream.url }, logs);
    // A bug past the token check: a value undici refuses to put in a header.
    const tokens = bff.app.get(SessionTokenService);
    const current = jest.spyOn(tokens, 'current').mockReturnValue('t€ken');
    try {
      const keyed = () => create(bff).set('Idempotency-Key', 'local-failure');
      for (let i = 0; i < 25; i += 1) {
        const res = await keyed();
        expect(res.status).toBe(500);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ type: 'urn:interventions-bff:problem:internal-error' });
        expect(res.body.detail).toMatch(/could not be built .*not sent/);
      }
      expect(upstream.requests).toHaveLength(0);
      const metrics = (await request(bff.url).get('/metrics')).text;
      expect(metrics).toMatch(/^upstream_circuit_breaker_state 0$/m);
      expect(metrics).toMatch(
        /^upstream_request_duration_seconds_count\{operation="createPreventiveInterventionScheduled",outcome="local_error"\} 25$/m,
      );
      expect(logs.entries().filter((e) => e.level === 'error')).toHaveLength(25);

      current.mockRestore();
      const retry = await keyed();
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
      expect(upstream.requests).toHaveLength(1);
    } finally {
      await bff.close();
    }
  });

  it('warns once before a JWT expires, then answers 503 without calling the upstream and fails readiness', async () => {
    const file = join(dir, 'token');
    const exp = Math.floor(Date.now() / 1000) + 2;
    writeFileSync(file, jwt({ sub: 'svc', exp }));
    const logs = new LogCapture();
    const bff = await startWithTokenFile(file, logs);
    try {
      expect((await create(bff)).status).toBe(201);
      expect((await create(bff)).status).toBe(201);
      expect((await request(bff.url).get('/metrics')).text).toMatch(
        new RegExp(`^upstream_session_token_expiry_timestamp_seconds ${exp}$`, 'm'),
      );
      await sleep(exp * 1000 - Date.now() + 100);

      const expired = await create(bff);
      expect(expired.status).toBe(503);
      expect(expired.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(expired.body.detail).toBe('upstream session token expired');
      expect(upstream.requests).toHaveLength(2);
      const ready = await request(bff.url).get('/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.error.sessionToken).toMatchObject({ status: 'down', expired: true });

      const warnings = logs
        .entries()
        .filter((e) => e.level === 'warn' && String(e.msg).includes('session token expires'));
      expect(warnings).toHaveLength(1);

      rotate(file, jwt({ sub: 'svc', exp: exp + 86_400 }));
      await sleep(500);
      expect((await create(bff)).status).toBe(201);
      expect((await request(bff.url).get('/health/ready')).status).toBe(200);
    } finally {
      await bff.close();
    }
  });

  it('uses a token that is not a JWT as is', async () => {
    const bff = await startBff({
      UPSTREAM_BASE_URL: upstream.url,
      UPSTREAM_SESSION_TOKEN: 'a.b.c',
    });
    try {
      expect((await create(bff)).status).toBe(201);
      expect(upstream.requests[0].headers['x-session-token']).toBe('a.b.c');
    } finally {
      await bff.close();
    }
  });
});
