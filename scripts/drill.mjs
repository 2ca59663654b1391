// `npm run drill`: the cross-replica promises under the events of a real deployment, on one
// machine, loopback only. It starts redis-server (AOF), `--replicas` built BFFs (dist/main.js,
// REDIS_URL set) behind nginx (round robin, a config generated into a temp prefix, not a daemon),
// and an upstream stub that counts creates per key (each Idempotency-Key gets its own routineId).
// `--callers` callers send keyed creates all along, each retrying the same key on 409, 429, 5xx or
// a dropped connection for up to `--retry-for` seconds, while the drill:
//  1. rolls every replica (out of nginx, a pause, SIGTERM and its drain, a new process, back in
//     once /health/ready answers 200: what Kubernetes' endpoints, preStop and probes do);
//  2. SIGKILLs one replica mid-traffic (nginx learns it from the refused connections; the drill
//     takes it out and starts a replacement, as the kubelet would);
//  3. SIGKILLs redis-server and starts it again from its AOF;
//  4. sends `--bursts` bursts of one Idempotency-Key to every replica at once, bypassing nginx;
//  5. runs one caller past its budget (RATE_LIMIT_PER_MINUTE = `--budget`) across all replicas;
//  6. counts the Redis commands per proxied request (INFO commandstats over known requests,
//     keyed and unkeyed) and, with `--memory-keys`, Redis memory per 10,000 idempotency records.
// Prints a Markdown table; exits 1 when a key was created twice, the budget was overshot, or a
// request failed during the rolling restarts or outside the SIGKILLed replica's in-flight ones.
//
//   node scripts/drill.mjs [--replicas 4] [--callers 40] [--interval 200] [--budget 600]
//     [--bursts 5] [--retry-for 8] [--memory-keys 10000] [--round-trips 500]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import {
  answerCreated,
  environmentLine,
  fmt,
  freePort,
  parseOptions,
  printTable,
  ROUTE,
  sleep,
  startBff,
  startStub,
  watchdog,
} from './load.mjs';

/**
 * The BFF's deadline upstream (its default): an idempotency key in flight stays claimed 2 × this
 * + 5 s. A shorter one turned a CPU-starved moment of a shared machine into 504s.
 */
const UPSTREAM_TIMEOUT_MS = 10_000;
/** Time between taking a replica out of nginx and SIGTERM: Kubernetes' preStop sleep. */
const PRE_STOP_MS = 1_000;
/** routineIds of keyed requests start here, one per key; unkeyed requests use routineId 1. */
const FIRST_KEYED_ROUTINE = 1_000_000;
const UPSTREAM_DELAY_MS = 5;

const body = (routineId) =>
  JSON.stringify({
    scheduledStart: '2024-12-01T12:34:56.000Z',
    scheduledEnd: '2024-12-05T14:56:23.000Z',
    creationStatus: 1,
    routineId,
  });

/**
 * One POST on a connection of its own (`Connection: close`): nginx's reloads close idle
 * keep-alive connections of its old workers, a race of the client with nginx that is not the
 * BFF's; a fresh connection is never idle. Resolves { status (0: no answer), replica, ms }.
 *
 * @param {string} baseUrl
 * @param {{ token: string, key?: string, routineId: number }} request
 */
function post(baseUrl, { token, key, routineId }) {
  const payload = body(routineId);
  const started = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest(
      `${baseUrl}${ROUTE}`,
      {
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...(key && { 'idempotency-key': key }),
        },
        timeout: 20_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            replica: String(res.headers['x-replica'] ?? ''),
            retryAfter: Number(res.headers['retry-after'] ?? 0),
            // The problem type of an error answer (nginx's own errors are HTML: none).
            problem: res.statusCode >= 400 ? /"type":"[^"]*:([\w-]+)"/.exec(text)?.[1] : undefined,
            ms: performance.now() - started,
          }),
        );
        res.on('error', () => resolve({ status: 0, replica: '', ms: performance.now() - started }));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, replica: '', ms: performance.now() - started }));
    req.end(payload);
  });
}

/** nginx in front of the ready replicas: round robin, a config of its own in a temp prefix. */
async function startNginx(dir) {
  const port = await freePort();
  for (const temp of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, temp));
  const confPath = join(dir, 'nginx.conf');
  const write = (replicaUrls) => {
    const servers = replicaUrls.length
      ? replicaUrls.map((url) => `    server ${new URL(url).host};`).join('\n')
      : '    server 127.0.0.1:9 down;'; // no replica ready: nginx answers 502
    writeFileSync(
      confPath,
      `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream bff {
${servers}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bff;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_connect_timeout 1s;
      proxy_read_timeout 15s;
      # A refused connection (a replica gone) goes to the next replica: nothing was sent, so a
      # POST is safe to pass on. Once a request is sent, nginx never passes a POST on (that
      # needs non_idempotent), so a replica dying mid-request answers 502, never a second send.
      proxy_next_upstream error timeout;
      add_header X-Replica $upstream_addr always;
    }
  }
}
`,
    );
  };
  write([]);
  const child = spawn('nginx', ['-p', dir, '-c', confPath, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i += 1) {
    if (child.exitCode !== null || i > 100) throw new Error(`nginx did not start: ${stderr}`);
    const up = await fetch(url).then(
      (res) => res.arrayBuffer().then(() => true),
      () => false,
    );
    if (up) break;
    await sleep(50);
  }
  return {
    url,
    /** Routes to these replicas from now on; the old worker finishes what it has in flight. */
    async route(replicaUrls) {
      write(replicaUrls);
      child.kill('SIGHUP');
      await sleep(200); // the new worker is up well within this
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGQUIT');
      await new Promise((resolve) =>
        child.exitCode !== null ? resolve() : child.once('exit', resolve),
      );
    },
  };
}

async function startRedis(dir, port) {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start:\n${output}`)),
      10_000,
    );
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(undefined);
      }
    });
    child.on('error', (error) =>
      reject(new Error(`redis-server: ${error.message} (apt-get install redis-server)`)),
    );
    child.on('exit', () => reject(new Error(`redis-server exited:\n${output}`)));
  });
  return {
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Resolves once GET /health/ready answers 200 (every check up), polling for up to 20 s. */
async function waitReady(url) {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(50)) {
    const ready = await fetch(`${url}/health/ready`).then(
      (res) => res.arrayBuffer().then(() => res.status === 200),
      () => false,
    );
    if (ready) return;
  }
  throw new Error(`${url} not ready 20 s after Redis came back`);
}

/** INFO <section> as a map of its fields. */
async function info(admin, section) {
  const text = await admin.info(section);
  return Object.fromEntries(
    text
      .split('\r\n')
      .filter((line) => line.includes(':'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]),
  );
}

/** `requests` calls of `send`, `concurrency` at a time. */
async function sendAll(requests, send, concurrency = 8) {
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      next += 1;
      await send();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Redis work per request over `requests` sends: round trips by command (MONITOR, which shows each
 * command a client sends; those a Lua script runs show as `lua` and are not round trips), and,
 * in a second pass without MONITOR (it costs Redis CPU itself), the commands Redis executed
 * (INFO commandstats, script commands included) and its CPU. Our own INFO/CONFIG are left out.
 */
async function redisPerRequest(admin, requests, send) {
  const monitor = await admin.monitor();
  const roundTrips = {};
  monitor.on('monitor', (_time, args, source) => {
    const command = String(args[0]).toLowerCase();
    if (source === 'lua' || ['info', 'config', 'monitor'].includes(command)) return;
    roundTrips[command] = (roundTrips[command] ?? 0) + 1;
  });
  await sendAll(requests, send);
  await sleep(100); // the last lines of MONITOR
  monitor.disconnect();

  await admin.config('RESETSTAT');
  const cpuBefore = await info(admin, 'cpu');
  const started = performance.now();
  await sendAll(requests, send);
  const elapsed = performance.now() - started;
  const cpuAfter = await info(admin, 'cpu');
  // What Redis spends meanwhile anyway (its cron, the AOF fsync), over as long, idle.
  await sleep(elapsed);
  const cpuIdle = await info(admin, 'cpu');
  const executed = {};
  for (const [name, value] of Object.entries(await info(admin, 'commandstats'))) {
    const command = name.replace(/^cmdstat_/, '');
    if (/^(info|config)/.test(command)) continue;
    executed[command] = Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
  }
  const cpu = (fields) => Number(fields.used_cpu_user) + Number(fields.used_cpu_sys);
  const per = (counts) => {
    const total = Object.values(counts).reduce((sum, n) => sum + n, 0) / requests;
    const list = Object.entries(counts)
      .sort()
      .map(([command, n]) => `${command} ${(n / requests).toFixed(2)}`)
      .join(', ');
    return `${total.toFixed(2)} (${list})`;
  };
  return {
    roundTrips: per(roundTrips),
    executed: per(executed),
    cpuUs: ((2 * cpu(cpuAfter) - cpu(cpuBefore) - cpu(cpuIdle)) * 1e6) / requests,
  };
}

/** What the drill started, stopped in reverse order on the way out, however it ends. */
const started = [];
async function stopAll() {
  while (started.length > 0)
    await started
      .pop()()
      .catch(() => undefined);
}

function quantile(sorted, q) {
  return sorted.length === 0 ? undefined : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

async function main() {
  const options = parseOptions(process.argv.slice(2), {
    replicas: 4,
    callers: 40,
    interval: 200,
    budget: 600,
    bursts: 5,
    'retry-for': 8,
    'memory-keys': 10_000,
    'round-trips': 500,
  });
  if (options.replicas < 2) throw new Error('--replicas: at least 2');
  if ((60_000 / options.interval) * 1.5 > options.budget) {
    throw new Error('--interval: a steady caller must stay well within --budget per minute');
  }
  const dir = mkdtempSync(join(tmpdir(), 'bff-drill-'));
  mkdirSync(join(dir, 'redis'));
  mkdirSync(join(dir, 'nginx'));
  started.push(async () => rmSync(dir, { recursive: true, force: true }));

  // The upstream: a create per request it receives, counted per routineId (one per key).
  const creates = new Map();
  const stub = await startStub((_req, res, received) => {
    const { routineId } = JSON.parse(received);
    creates.set(routineId, (creates.get(routineId) ?? 0) + 1);
    setTimeout(() => answerCreated(res), UPSTREAM_DELAY_MS);
  });
  started.push(() => stub.stop());
  const redisPort = await freePort();
  let redis = await startRedis(join(dir, 'redis'), redisPort);
  started.push(() => redis.kill());
  const admin = new Redis({ port: redisPort, host: '127.0.0.1', maxRetriesPerRequest: 20 });
  admin.on('error', () => undefined);
  started.push(async () => admin.disconnect());
  const replicaEnv = {
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    IDEMPOTENCY_REQUIRE_DURABLE: 'true',
    TRUST_PROXY: '1',
    UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
    SHUTDOWN_GRACE_MS: '5000',
    RATE_LIMIT_PER_MINUTE: String(options.budget),
    // On, as in production (so its Redis command counts), but never reached: every caller here
    // shares 127.0.0.1.
    RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '1000000',
  };
  // 60 s to become ready: on a shared 2-core machine a boot has taken over 20 s.
  const startReplica = async () => {
    const replica = await startBff({
      upstreamUrl: stub.url,
      env: replicaEnv,
      readyTimeoutMs: 60_000,
    });
    started.push(() => replica.stop());
    return replica;
  };
  /** @type {Array<Awaited<ReturnType<typeof startReplica>>>} */
  const replicas = [];
  // One at a time: started together on a small machine, they compete for the CPU to boot.
  for (let i = 0; i < options.replicas; i += 1) replicas.push(await startReplica());
  const nginx = await startNginx(join(dir, 'nginx'));
  started.push(() => nginx.stop());
  const route = () => nginx.route(replicas.map((r) => r.url));
  await route();

  const cancelWatchdog = watchdog(600_000, stopAll);

  // Steady keyed traffic: every attempt is kept with when it was sent and answered, and each
  // event with when it ran, so a failure is put down to the event it overlapped.
  const now = () => performance.now();
  let nextRoutine = FIRST_KEYED_ROUTINE;
  let running = true;
  const attempts = [];
  const keys = [];
  const caller = async (index) => {
    const token = `drill-caller-${index}`;
    while (running) {
      const key = {
        key: randomUUID(),
        routineId: nextRoutine++,
        resolved: false,
        attempts: [],
      };
      keys.push(key);
      const giveUpAt = performance.now() + options['retry-for'] * 1000;
      while (!key.resolved && performance.now() < giveUpAt) {
        const sentAt = now();
        const answer = { ...(await post(nginx.url, { token, ...key })), sentAt, doneAt: now() };
        attempts.push(answer);
        key.attempts.push(answer);
        if (answer.status === 201) key.resolved = true;
        else await sleep(answer.retryAfter ? answer.retryAfter * 1000 : 100);
      }
      await sleep(options.interval);
    }
  };
  const callers = Array.from({ length: options.callers }, (_, i) => caller(i));
  await sleep(2_000);

  // 1. Rolling restart, one replica at a time.
  const drainExits = [];
  const rollingStarted = now();
  // As the Deployment's strategy does it (maxSurge 1, maxUnavailable 0): the new replica first,
  // in nginx once ready; then the old one out of nginx, the preStop pause, SIGTERM and its drain.
  for (let i = 0; i < replicas.length; i += 1) {
    const old = replicas[i];
    const fresh = await startReplica();
    replicas[i] = fresh;
    await route();
    await sleep(PRE_STOP_MS);
    const ended = await old.stop();
    if (ended.code !== 0) drainExits.push(ended);
  }
  const rolling = [rollingStarted, now()];
  await sleep(1_000);

  // 2. SIGKILL one replica while it serves.
  const victim = replicas.shift();
  const victimAddress = new URL(victim.url).host;
  const killAt = now();
  victim.child.kill('SIGKILL');
  await victim.exit;
  await route();
  replicas.push(await startReplica());
  await route();
  await victim.stop(); // its temp folder
  await sleep(1_000);

  // 3. Redis: SIGKILL, then start it again from its AOF.
  // Keyed requests get 503 until a replica's connection is back: readiness says when.
  const redisDownAt = now();
  await redis.kill();
  redis = await startRedis(join(dir, 'redis'), redisPort);
  const redisUpAt = now();
  await Promise.all(replicas.map((r) => waitReady(r.url)));
  const redisOutage = [redisDownAt, now()];
  await sleep(1_000);

  // 4. One key, to every replica at once, twice each, bypassing nginx.
  const bursts = [];
  for (let b = 0; b < options.bursts; b += 1) {
    const key = { token: 'drill-burst-caller', key: randomUUID(), routineId: nextRoutine++ };
    const answers = await Promise.all(
      replicas.flatMap((r) => [post(r.url, key), post(r.url, key)]),
    );
    bursts.push({ routineId: key.routineId, statuses: answers.map((a) => a.status) });
  }

  // 5. One caller past its budget, round robin over every replica through nginx.
  const budgetAnswers = [];
  const budgetSend = options.budget * 2;
  await sendAll(
    budgetSend,
    async () =>
      budgetAnswers.push(await post(nginx.url, { token: 'drill-budget-caller', routineId: 1 })),
    20,
  );
  const budgetReplicas = new Set(budgetAnswers.map((a) => a.replica));
  await sleep(1_000);
  running = false;
  await Promise.all(callers);

  // 6. Redis commands per request, on one replica, nothing else running; then memory per record.
  const one = replicas[0].url;
  let rt = 0;
  const unkeyed = await redisPerRequest(admin, options['round-trips'], () =>
    post(one, { token: `drill-rt-${rt++ % 10}`, routineId: 1 }),
  );
  const keyed = await redisPerRequest(admin, options['round-trips'], () =>
    post(one, { token: `drill-rt-${rt++ % 10}`, key: randomUUID(), routineId: nextRoutine++ }),
  );
  const clients = Number((await info(admin, 'clients')).connected_clients) - 1; // less ours
  let memoryPer10k;
  if (options['memory-keys'] > 0) {
    const before = Number((await info(admin, 'memory')).used_memory);
    const keysBefore = (await admin.keys('idempotency:*')).length;
    let n = 0;
    await sendAll(
      options['memory-keys'],
      () =>
        post(nginx.url, {
          token: `drill-memory-${n++ % 50}`,
          key: randomUUID(),
          routineId: nextRoutine++,
        }),
      32,
    );
    const after = Number((await info(admin, 'memory')).used_memory);
    const added = (await admin.keys('idempotency:*')).length - keysBefore;
    memoryPer10k = { bytes: ((after - before) / added) * 10_000, added };
  }
  const aofEnabled = (await info(admin, 'persistence')).aof_enabled === '1';

  await stopAll();
  cancelWatchdog();

  // The figures.
  const steady = attempts;
  const byStatus = (list) => {
    const counts = {};
    for (const a of list) counts[a.status] = (counts[a.status] ?? 0) + 1;
    return Object.entries(counts)
      .map(([status, n]) => `${status === '0' ? 'no answer' : status}: ${fmt.int(n)}`)
      .join(', ');
  };
  const failed = (a) => a.status === 0 || a.status >= 500;
  /** @param {number[]} window [start, end] */
  const during = (window) => (a) => a.sentAt <= window[1] && a.doneAt >= window[0];
  const rollingAttempts = steady.filter(during(rolling));
  const rollingFailures = rollingAttempts.filter(failed);
  const onVictim = steady.filter(
    (a) => failed(a) && a.doneAt >= killAt && a.replica.split(', ').includes(victimAddress),
  );
  const redisAttempts = steady.filter(during(redisOutage));
  const redisExpected = redisAttempts.filter(
    (a) => a.status === 503 && a.problem === 'idempotency-unavailable',
  );
  const otherFailures = steady.filter(
    (a) =>
      failed(a) &&
      !rollingFailures.includes(a) &&
      !onVictim.includes(a) &&
      !redisExpected.includes(a),
  );
  const keyedCreates = [...creates.entries()].filter(([id]) => id >= FIRST_KEYED_ROUTINE);
  const twice = keyedCreates.filter(([, n]) => n > 1);
  const burstTwice = bursts.filter((b) => (creates.get(b.routineId) ?? 0) !== 1);
  const unresolved = keys.filter((k) => !k.resolved);
  const unresolvedAfterKill = unresolved.filter((k) =>
    k.attempts.some((a) => onVictim.includes(a)),
  );
  const accepted = budgetAnswers.filter((a) => a.status !== 429).length;
  const overshoot = Math.max(0, accepted - options.budget);
  const latencies = steady.map((a) => a.ms).sort((a, b) => a - b);

  const checks = [
    [twice.length === 0, `${twice.length} keys created more than once`],
    [burstTwice.length === 0, `${burstTwice.length} burst keys not created exactly once`],
    [overshoot === 0, `budget overshot by ${overshoot}`],
    [
      rollingFailures.length === 0,
      `${rollingFailures.length} failed requests during the rolling restarts`,
    ],
    [
      otherFailures.length === 0,
      `${otherFailures.length} failed requests outside the SIGKILLed replica's in-flight ones`,
    ],
    [
      unresolved.length === unresolvedAfterKill.length,
      `${unresolved.length - unresolvedAfterKill.length} keys never answered 201 outside the SIGKILL`,
    ],
    [
      budgetReplicas.size === options.replicas,
      `the budget caller reached ${budgetReplicas.size} replicas`,
    ],
    [aofEnabled, 'Redis runs without AOF'],
    [drainExits.length === 0, `${drainExits.length} replicas did not exit 0 after SIGTERM`],
  ];
  const failures = checks.filter(([ok]) => !ok).map(([, message]) => message);
  printTable(
    `Drill: ${options.replicas} replicas behind nginx, ${options.callers} keyed callers, Redis AOF (${environmentLine()})`,
    [
      ['requests sent (steady keyed traffic, retries included)', fmt.int(steady.length)],
      ['answers by status', byStatus(steady)],
      [
        'keys sent / answered 201',
        `${fmt.int(keys.length)} / ${fmt.int(keys.length - unresolved.length)}`,
      ],
      ['upstream creates per key (max)', String(Math.max(0, ...keyedCreates.map(([, n]) => n)))],
      ['keys created twice', fmt.int(twice.length)],
      [
        `rolling restarts (${options.replicas} replicas, ${((rolling[1] - rolling[0]) / 1000).toFixed(1)} s): requests / failed`,
        `${fmt.int(rollingAttempts.length)} / ${rollingFailures.length}`,
      ],
      [
        'SIGKILL: failed in flight on the killed replica / failed elsewhere',
        `${onVictim.length} / ${otherFailures.length}`,
      ],
      [
        'SIGKILL: keys never answered 201 (still claimed when their caller gave up) / of them created upstream',
        `${fmt.int(unresolvedAfterKill.length)} / ${unresolvedAfterKill.filter((k) => creates.has(k.routineId)).length}`,
      ],
      [
        `Redis SIGKILL + AOF restart (down ${fmt.ms(redisUpAt - redisDownAt)}, every replica ready again after ${fmt.ms(redisOutage[1] - redisOutage[0])}): answers`,
        byStatus(redisAttempts),
      ],
      [
        `same-key bursts (${options.bursts} × ${options.replicas} replicas × 2): creates per key`,
        bursts.map((b) => creates.get(b.routineId) ?? 0).join(', '),
      ],
      [
        'same-key bursts: answers',
        byStatus(bursts.flatMap((b) => b.statuses.map((status) => ({ status })))),
      ],
      [
        `budget ${options.budget}/min, one caller, ${fmt.int(budgetSend)} sent over ${budgetReplicas.size} replicas: accepted / overshoot`,
        `${fmt.int(accepted)} / ${overshoot}`,
      ],
      [
        'latency p50 / p99 (steady traffic, through nginx)',
        `${fmt.ms(quantile(latencies, 0.5))} / ${fmt.ms(quantile(latencies, 0.99))}`,
      ],
      ['Redis round trips per request, unkeyed', unkeyed.roundTrips],
      ['Redis round trips per request, keyed (first send)', keyed.roundTrips],
      ['Redis commands executed per request (scripts included), unkeyed', unkeyed.executed],
      ['Redis commands executed per request (scripts included), keyed', keyed.executed],
      [
        'Redis CPU per request, unkeyed / keyed',
        `${unkeyed.cpuUs.toFixed(0)} µs / ${keyed.cpuUs.toFixed(0)} µs`,
      ],
      ['Redis connections (all replicas)', String(clients)],
      [
        'Redis used_memory per 10,000 idempotency records',
        memoryPer10k
          ? `${fmt.mb(memoryPer10k.bytes)} (${fmt.int(memoryPer10k.added)} records added)`
          : 'not measured (--memory-keys 0)',
      ],
      ['result', failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`],
    ],
  );
  if (failures.length > 0) {
    const shown = [...rollingFailures, ...otherFailures];
    for (const a of shown.slice(0, 20)) {
      process.stderr.write(
        `failed: ${a.status} ${a.problem ?? ''} sent ${(a.sentAt / 1000).toFixed(1)} s, answered ${(a.doneAt / 1000).toFixed(1)} s, replica ${a.replica || '?'}; rolling ${rolling.map((t) => (t / 1000).toFixed(1))}, kill ${(killAt / 1000).toFixed(1)} (${victimAddress}), Redis ${redisOutage.map((t) => (t / 1000).toFixed(1))}\n`,
      );
    }
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch(async (error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    await stopAll();
    process.exit(1);
  });
}
