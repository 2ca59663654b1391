// `npm run test:load`: the built BFF (a child process) under autocannon, 100 keep-alive connections
// for `--duration` seconds (default 30), against an in-process upstream stub on 127.0.0.1 that
// answers 201 and counts creates. Prints a table and exits non-zero when a bound is broken:
// any error or timeout, any non-2xx answer, or a stub create count different from the BFF's 201s.
//
//   node scripts/load.mjs [--duration 30] [--connections 100] [--rate-limit 0]
//
// Also the shared plumbing of scripts/soak.mjs (stub, BFF child, metrics, tables).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { WebSocket } from 'undici';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BFF_MAIN = join(ROOT, 'dist', 'main.js');
export const ROUTE = '/interventions/v2/rs/preventive/routine';
export const SESSION_TOKEN = 'x';
export const CALLER_TOKEN = 'load-test-caller-token';
export const VALID_BODY = JSON.stringify({
  scheduledStart: '2024-12-01T12:34:56.000Z',
  scheduledEnd: '2024-12-05T14:56:23.000Z',
  creationStatus: 1,
  routineId: 1,
});
/** The upstream's documented 201 answer, every field of `data` (the e2e stub answers the same). */
export const CREATED_BODY = JSON.stringify(
  JSON.parse(readFileSync(join(ROOT, 'test', 'support', 'created-intervention.json'), 'utf8')),
);

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const TAIL_LINES = 20;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `--name value` options with numeric defaults; anything unknown is an error. */
export function parseOptions(argv, defaults) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!(name in defaults) || !Number.isFinite(value) || value < 0) {
      const usage = Object.entries(defaults)
        .map(([key, fallback]) => `[--${key} ${fallback}]`)
        .join(' ');
      throw new Error(`bad option ${argv[i]} ${argv[i + 1] ?? ''}; usage: ${usage}`);
    }
    options[name] = value;
  }
  return options;
}

export async function freePort() {
  const server = createNetServer();
  await /** @type {Promise<void>} */ (
    new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  );
  // Listening on a TCP port: the address is an AddressInfo, not a pipe name.
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A keep-alive HTTP server on 127.0.0.1 standing in for the upstream. `answer(req, res, body)` is
 * called once the request body is in; the stub checks what the BFF forwarded and counts it.
 */
export async function startStub(answer) {
  const stats = { received: 0, wrongRequests: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      stats.received += 1;
      const body = Buffer.concat(chunks).toString('utf8');
      if (
        req.method !== 'POST' ||
        req.url !== ROUTE ||
        req.headers['x-session-token'] !== SESSION_TOKEN ||
        req.headers.authorization !== `Bearer ${CALLER_TOKEN}` ||
        body !== VALID_BODY
      ) {
        stats.wrongRequests += 1;
      }
      answer(req, res, body);
    });
    req.on('error', () => undefined);
    res.on('error', () => undefined);
  });
  server.keepAliveTimeout = 65_000;
  server.on('clientError', (_error, socket) => socket.destroy());
  await /** @type {Promise<void>} */ (
    new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  );
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export function answerCreated(res) {
  res.writeHead(201, { 'Content-Type': 'application/json' }).end(CREATED_BODY);
}

/**
 * V8's `--trace-gc-nvp` writes each GC as `[pid:isolate:n]   123 ms: ` and then `pause=… allocated=N
 * …` in two write(2)s, on the same stdout as the logs: a log line written from another thread can
 * land between the two, so the prefix is removed wherever it is, and a line then starting with
 * `pause=` is a GC record. `allocated` is what the heap took on since the previous GC ended.
 */
const GC_PREFIX = /\[\d+:0x[\da-f]+(?::\d+)?\] +[\d.]+ ms: /g;
const GC_RECORD = /^pause=.* allocated=(\d+)(?: |$)/;

/**
 * Keeps the child's output small: line counts, matches, and the last lines of each stream. GC
 * records (`--trace-gc-nvp`) are not lines of output: only their allocated bytes are summed.
 */
function watchOutput(stream, output, name) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.includes(' ms: ') ? raw.replace(GC_PREFIX, '') : raw;
      const gc = GC_RECORD.exec(line);
      if (gc) {
        output.gcRecords += 1;
        output.allocatedBytes += Number(gc[1]);
        continue;
      }
      if (line === '' && raw !== '') continue; // a GC prefix alone
      output.lines += 1;
      if (/unhandled|uncaught/i.test(line)) output.unhandled.push(line.slice(0, 500));
      if (/"level":(50|60|"error"|"fatal")/.test(line)) output.errorLines += 1;
      if (/"level":(40|"warn")/.test(line)) output.warnLines += 1;
      if (/circuit breaker open/.test(line)) output.breakerOpened += 1;
      const inspector = /Debugger listening on (ws:\/\/\S+)/.exec(line);
      if (inspector) output.inspectorUrl = inspector[1];
      output.tail.push(`[${name}] ${line.slice(0, 500)}`);
      if (output.tail.length > TAIL_LINES) output.tail.shift();
      if (output.unhandled.length > TAIL_LINES) output.unhandled.length = TAIL_LINES;
    }
  });
}

/**
 * A server script as a child process, in an empty working directory so that no developer `.env`
 * changes its configuration, optionally pinned to `cpu` with taskset. Resolves once
 * GET /health/ready answers 200.
 *
 * @param {ServerOptions & { script: string }} options
 */
export async function startServer({
  script,
  env = {},
  nodeArgs = [],
  cpu,
  node = process.execPath,
  readyTimeoutMs = READY_TIMEOUT_MS,
}) {
  // A server that must know its address beforehand (PUBLIC_BASE_URL) is given its PORT.
  const port = env.PORT === undefined ? await freePort() : Number(env.PORT);
  const cwd = mkdtempSync(join(tmpdir(), 'bff-load-'));
  const command = cpu === undefined ? [node] : ['taskset', '-c', cpu, node];
  const child = spawn(command[0], [...command.slice(1), ...nodeArgs, script], {
    cwd,
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = {
    lines: 0,
    // With --trace-gc-nvp: GCs seen, and the bytes allocated up to the last of them.
    gcRecords: 0,
    allocatedBytes: 0,
    errorLines: 0,
    warnLines: 0,
    breakerOpened: 0,
    unhandled: [],
    tail: [],
    inspectorUrl: undefined,
  };
  watchOutput(child.stdout, output, 'stdout');
  watchOutput(child.stderr, output, 'stderr');
  const exit = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const server = {
    child,
    pid: child.pid, // taskset execs node: same pid
    url: `http://127.0.0.1:${port}`,
    output,
    exited: false,
    exit,
    /** SIGTERM (the graceful drain), SIGKILL after 15 s; resolves with how it ended. */
    async stop() {
      if (!server.exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const ended = await exit;
      clearTimeout(timer);
      rmSync(cwd, { recursive: true, force: true });
      return ended;
    },
  };
  void exit.then(() => (server.exited = true));

  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline && !server.exited) {
    try {
      const response = await fetch(`${server.url}/health/ready`);
      await response.arrayBuffer();
      if (response.status === 200) return server;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  const exitedEarly = server.exited;
  const ended = await server.stop();
  const how = exitedEarly
    ? `exited (${ended.signal ?? `exit code ${ended.code}`}) before it was ready`
    : `did not become ready within ${readyTimeoutMs / 1000} s`;
  throw new Error(`${script} ${how}:\n${output.tail.join('\n')}`);
}

/**
 * @typedef {object} ServerOptions
 * @property {Record<string, string>} [env] added to the child's environment
 * @property {string[]} [nodeArgs] node options before the script
 * @property {string} [cpu] the CPU list for taskset; unpinned without it
 * @property {string} [node] the node binary; this one by default
 * @property {number} [readyTimeoutMs] how long it may take to become ready (20 s by default)
 */

/**
 * The built BFF (`node dist/main.js`, or `main`) in production mode against `upstreamUrl`; `node`
 * is the node binary (this one by default).
 *
 * @param {ServerOptions & { upstreamUrl: string, main?: string }} options
 */
export function startBff({
  upstreamUrl,
  env = {},
  nodeArgs = [],
  cpu,
  main = BFF_MAIN,
  node,
  readyTimeoutMs,
}) {
  if (!existsSync(main)) {
    throw new Error(`${main} is missing: run "npm run build" first (npm run test:load does).`);
  }
  return startServer({
    script: main,
    nodeArgs,
    cpu,
    node,
    readyTimeoutMs,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      // One load generator is one address: the caller budgets would answer most with 429.
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0',
      MAX_IN_FLIGHT_PER_ADDRESS: '0',
      UPSTREAM_BASE_URL: upstreamUrl,
      UPSTREAM_SESSION_TOKEN: SESSION_TOKEN,
      ...env,
    },
  });
}

/**
 * The inspector protocol over its WebSocket (a child started with `--inspect=127.0.0.1:0`: its
 * `inspectorUrl`): `send` one command at a time, each answered within `timeoutMs`.
 */
export async function connectInspector(url, timeoutMs = 10_000) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', () => reject(new Error('cannot reach the inspector')), {
      once: true,
    });
  });
  let nextId = 1;
  const pending = new Map();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data));
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  /** @type {(method: string, params?: object) => Promise<any>} */
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`inspector ${method}: no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      socket.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => socket.close() };
}

/**
 * The bench's BFF (scripts/bench.mjs, scripts/alloc-profile.mjs): info-level access log, and every
 * caller budget on, too high for one load generator to reach.
 */
export const BENCH_BFF_ENV = {
  LOG_LEVEL: 'info',
  RATE_LIMIT_PER_MINUTE: '1000000',
  RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '1000000',
  MAX_IN_FLIGHT_PER_ADDRESS: '10000',
};

/** The request every load script sends: the valid create, with the caller token the stub expects. */
export function validCreate(bffUrl) {
  return {
    url: bffUrl + ROUTE,
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_TOKEN}`, 'content-type': 'application/json' },
    body: VALID_BODY,
  };
}

/** GET /metrics, parsed into [{name, labels, value}]. */
export async function scrapeMetrics(bffUrl) {
  const response = await fetch(`${bffUrl}/metrics`);
  const text = await response.text();
  const samples = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of a metric's samples whose labels include `labels`; undefined when there is none. */
export function metricSum(samples, name, labels = {}) {
  const matching = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
}

/** The BFF's own count of answers to the route by status, from its request histogram. */
export function answeredByStatus(samples) {
  const counts = {};
  for (const s of samples) {
    if (s.name === 'http_request_duration_seconds_count' && s.labels.route === ROUTE) {
      counts[s.labels.status_code] = (counts[s.labels.status_code] ?? 0) + s.value;
    }
  }
  return counts;
}

/** Waits (bounded) until the BFF has no upstream call in flight. */
export async function waitUpstreamIdle(bffUrl, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const inFlight = metricSum(await scrapeMetrics(bffUrl), 'upstream_requests_in_flight');
    if (!inFlight) return true;
    await sleep(50);
  }
  return false;
}

/** The q-quantile (0..1) of an ascending array. */
function quantile(sorted, q) {
  return sorted.length === 0 ? undefined : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/**
 * autocannon, measured over a window and ended gracefully.
 *
 * Warm-up: a Node server on a saturated CPU accepts about one new connection per event-loop turn,
 * so with 100 connections opened at once the last ones wait seconds for their first answer (a
 * plain CPU-bound node:http server does the same). The measurement window therefore starts once
 * every connection has had an answer (plus 1 s), at most 20 s after the start; the warm-up's
 * requests still count in every check.
 *
 * Graceful end: when the window closes, each connection stops sending once its current request
 * is answered, so no request is cut off in flight (a cut-off create would reach the upstream
 * without the caller ever seeing its 201).
 */
/**
 * @param {import('autocannon').Options} options
 * @param {{ measureMs?: number, onResponse?: (statusCode: number) => void }} [window]
 */
export function runAutocannon(options, { measureMs, onResponse } = {}) {
  const clients = [];
  const seen = new Set();
  const latencies = [];
  let phase = measureMs === undefined ? 'measure' : 'warmup';
  let startedAt = 0;
  let windowStart = 0;
  let lastResponseAt = 0;
  const timers = [];
  const later = (ms, run) => timers.push(setTimeout(run, ms));
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { ...options, setupClient: (client) => clients.push(client) },
      (error, result) => {
        timers.forEach(clearTimeout);
        if (error) return reject(error);
        const sorted = latencies.sort((a, b) => a - b);
        const seconds = (lastResponseAt - windowStart) / 1000;
        resolve({
          result,
          window: {
            warmupSeconds: (windowStart - startedAt) / 1000,
            seconds,
            requests: sorted.length,
            perSecond: sorted.length / seconds,
            p50: quantile(sorted, 0.5),
            p99: quantile(sorted, 0.99),
            max: sorted.at(-1),
          },
        });
      },
    );
    const stopGracefully = () => {
      phase = 'draining';
      for (const client of clients) {
        if (typeof client.reqsMade !== 'number') return instance.stop(); // unknown autocannon
        client.responseMax = Math.max(1, client.reqsMade); // stops before its next request
      }
    };
    const beginWindow = () => {
      if (phase !== 'warmup') return;
      phase = 'measure';
      windowStart = performance.now();
      later(measureMs, stopGracefully);
    };
    instance.on('start', () => {
      startedAt = windowStart = performance.now();
      if (measureMs !== undefined) later(20_000, beginWindow);
    });
    instance.on('response', (client, statusCode, _bytes, responseTime) => {
      lastResponseAt = performance.now();
      onResponse?.(statusCode);
      if (phase === 'measure') latencies.push(responseTime);
      else if (phase === 'warmup' && !seen.has(client)) {
        seen.add(client);
        if (seen.size === options.connections) later(1_000, beginWindow);
      }
    });
  });
}

export const fmt = {
  int: (n) => (n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US')),
  mb: (bytes) => (bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(1)} MB`),
  ms: (value) => (value === undefined ? 'n/a' : `${value.toFixed(1)} ms`),
  pct: (part, total) => (total ? `${((100 * part) / total).toFixed(1)}%` : 'n/a'),
};

/** A Markdown table (it goes in the README as is). */
export function printTable(title, rows) {
  const width = Math.max(...rows.map(([name]) => name.length), 6);
  const lines = [
    '',
    `### ${title}`,
    '',
    `| ${'metric'.padEnd(width)} | value |`,
    `| ${'-'.repeat(width)} | ----- |`,
    ...rows.map(([name, value]) => `| ${name.padEnd(width)} | ${value} |`),
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export function environmentLine() {
  return `Node ${process.version}, ${availableParallelism()} CPU(s), ${process.platform}/${process.arch}`;
}

/** Fails the run loudly if the whole thing takes far longer than planned. */
export function watchdog(ms, cleanup) {
  const timer = setTimeout(async () => {
    process.stderr.write(`watchdog: still running after ${Math.round(ms / 1000)} s, giving up\n`);
    await cleanup().catch(() => undefined);
    process.exit(2);
  }, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

async function main() {
  const options = parseOptions(process.argv.slice(2), {
    duration: 30,
    connections: 100,
    'rate-limit': 0,
  });
  const stub = await startStub((_req, res) => answerCreated(res));
  const creates = () => stub.stats.received; // every request the stub receives is answered 201
  const bff = await startBff({
    upstreamUrl: stub.url,
    env: { RATE_LIMIT_PER_MINUTE: String(options['rate-limit']) },
  });
  const cancelWatchdog = watchdog((options.duration + 110) * 1000, async () => {
    await bff.stop();
    await stub.stop();
  });

  const { result, window } = await runAutocannon(
    {
      ...validCreate(bff.url),
      connections: options.connections,
      // A safety net only: the graceful stop ends the run after the warm-up and the window.
      duration: options.duration + 80,
    },
    { measureMs: options.duration * 1000 },
  );
  const idle = await waitUpstreamIdle(bff.url);
  const answered = answeredByStatus(await scrapeMetrics(bff.url));
  const aliveDuringRun = !bff.exited;
  const ended = await bff.stop();
  await stub.stop();
  cancelWatchdog();

  const statuses = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
  );
  const ok201 = statuses['201'] ?? 0;
  const checks = [
    [result.errors === 0, `${result.errors} connection errors`],
    [result.timeouts === 0, `${result.timeouts} timeouts`],
    [result.non2xx === 0, `${result.non2xx} non-2xx answers`],
    [creates() === ok201, `stub creates ${creates()} != BFF 201s ${ok201}`],
    [
      (answered['201'] ?? 0) === ok201,
      `BFF metrics count ${answered['201']} 201s, caller saw ${ok201}`,
    ],
    [stub.stats.wrongRequests === 0, `${stub.stats.wrongRequests} wrongly forwarded requests`],
    [idle, 'upstream calls still in flight 10 s after the run'],
    [aliveDuringRun, 'the BFF exited during the run'],
    [
      ended.code === 0,
      `the BFF ended with ${ended.signal ?? `exit code ${ended.code}`} on SIGTERM`,
    ],
    [bff.output.unhandled.length === 0, `unhandled errors logged: ${bff.output.unhandled[0]}`],
    [bff.output.errorLines === 0, `${bff.output.errorLines} error-level log lines`],
  ];
  const failures = checks.filter(([ok]) => !ok).map(([, message]) => message);

  printTable(
    `Load: ${options.connections} connections, ${options.duration} s measured, POST ${ROUTE} (${environmentLine()})`,
    [
      ['requests (measured window)', fmt.int(window.requests)],
      ['req/s (measured window)', fmt.int(window.perSecond)],
      ['latency p50 / p99', `${fmt.ms(window.p50)} / ${fmt.ms(window.p99)}`],
      ['latency max', fmt.ms(window.max)],
      ['warm-up (all connections answered + 1 s)', `${window.warmupSeconds.toFixed(1)} s`],
      ['requests (whole run, with warm-up)', fmt.int(result.requests.total)],
      ['errors / timeouts', `${result.errors} / ${result.timeouts}`],
      ['non-2xx', fmt.int(result.non2xx)],
      ['BFF 201s (seen by autocannon)', fmt.int(ok201)],
      ['BFF 201s (BFF metrics)', fmt.int(answered['201'] ?? 0)],
      ['stub creates', fmt.int(creates())],
      ['result', failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`],
    ],
  );
  if (failures.length > 0) {
    process.stderr.write(`BFF output (last lines):\n${bff.output.tail.join('\n')}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  });
}
