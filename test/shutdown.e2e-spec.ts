import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { CALLER_TOKEN, ROUTE, VALID_BODY } from './support/bff';
import { answerCreated, UpstreamStub } from './support/upstream-stub';
import { freePort } from './support/free-port';

const MAIN = join(__dirname, '..', 'dist', 'main.js');

function call(
  port: number,
  method: string,
  path: string,
  agent?: Agent,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = method === 'POST' ? JSON.stringify(VALID_BODY) : undefined;
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: body
          ? { 'Content-Type': 'application/json', Authorization: `Bearer ${CALLER_TOKEN}` }
          : {},
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('graceful shutdown of the built app', () => {
  let upstream: UpstreamStub;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    if (!existsSync(MAIN))
      throw new Error('dist/main.js is missing: run npm run build (npm test does)');
    upstream = await new UpstreamStub().start();
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await upstream.stop();
  });

  it('on SIGTERM: readiness 503 at once, new connections refused, the in-flight call completes, exit 0', async () => {
    upstream.reset((request, res, req) => setTimeout(() => answerCreated(request, res, req), 1500));
    const port = await freePort();
    child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        UPSTREAM_BASE_URL: upstream.url,
        UPSTREAM_SESSION_TOKEN: 'shutdown-test-token',
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        SHUTDOWN_GRACE_MS: '5000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) =>
      child?.on('exit', (code) => resolve(code)),
    );

    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; ; i += 1) {
      try {
        if ((await call(port, 'GET', '/health/ready', keepAlive)).status === 200) break;
      } catch {
        if (i > 100) throw new Error(`the app did not start:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }

    const inFlight = call(port, 'POST', ROUTE);
    while (upstream.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));

    // Never ready again: a 503 on a connection still open, or the connection closed.
    const readiness = await call(port, 'GET', '/health/ready', keepAlive).then(
      (res) => res.status,
      (error: NodeJS.ErrnoException) => error.code,
    );
    expect([503, 'ECONNRESET', 'ECONNREFUSED']).toContain(readiness);
    await expect(call(port, 'GET', '/health/live')).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    const answer = await inFlight;
    expect(answer.status).toBe(201);
    expect(JSON.parse(answer.body).data.id).toBe(1);
    expect({ code: await exited, output }).toEqual({ code: 0, output: expect.any(String) });
    expect(Date.now() - signalledAt).toBeLessThan(5000);
    expect(upstream.requests).toHaveLength(1);
    keepAlive.destroy();
  });
});
