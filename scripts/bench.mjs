// `npm run bench`: what one proxied request costs. A keep-alive upstream stub on 127.0.0.1 that
// answers 201 with the full intervention body is measured directly, then through the built BFF
// (`node dist/main.js`) in production mode with every feature on (validation, info-level access
// logs, metrics, rate limiting, circuit breaker), and through two peers from the issue's table
// (scripts/peers: a minimal NestJS + @nestjs/axios proxy, fastify + @fastify/reply-from), with
// autocannon at 1 and at 50 connections, after a warm-up, interleaving all of them over several
// rounds so machine drift hits each. This machine's speed drifts by ±25% from minute to minute, so
// the BFF is also reported as a ratio to each peer in the same round. Prints a Markdown table and writes test-artifacts/bench.json. Any error, timeout or non-2xx
// answer during a run fails the bench (exit 1). No figure is asserted: the goals are reported.
//
//   node scripts/bench.mjs [--duration 10] [--rounds 3]      the comparison
//   node scripts/bench.mjs --smoke                           one short round (npm test)
//   node scripts/bench.mjs --upstream-errors 30              30% of upstream answers are 500
//   node scripts/bench.mjs --jwt                             JWT verification on: each caller sends
//                                                          its own RS256 token, the JWKS is served
//                                                          on 127.0.0.1
//   node scripts/bench.mjs --session                         also the BFF in session mode (sessions
//                                                          in its memory, logged in at the
//                                                          development provider on 127.0.0.1):
//                                                          its CPU per request over bearer mode's
//   node scripts/bench.mjs --connections 100 --duration 300  memory: RSS every 10 s
//   node scripts/bench.mjs --node /usr/bin/node              the BFF also on another node binary
//                                                          (same build, same rounds: runtimes
//                                                          side by side)
//   node scripts/bench.mjs --against /tmp/before/dist/main.js  another build in the same rounds:
//                                                          a cut measured against the commit
//                                                          before it (git worktree + npm run build)
//
// CPU per request is a server process's whole CPU (user + system, all threads: what
// `process.cpuUsage()` reports), read from /proc/<pid>/stat around each run, divided by the
// answers received in that run. Peak RSS is VmHWM from /proc/<pid>/status. Bytes allocated per
// request: every proxy runs with `--trace-gc-nvp`, and the `allocated=` of the GC records it prints
// during a run, divided by the answers (nearly insensitive to the machine's load, unlike CPU).
// Printing a GC record costs a few µs per GC (one per few hundred requests), the same for all.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { CookieJar, logIn } from './browser-login.mjs';
import { startDevProvider } from './dev-oidc-provider.mjs';
import { CLK_TCK, CPUS, DEFAULT_CALLERS, median, memory, pinning, run } from './measure.mjs';
import {
  answerCreated,
  BENCH_BFF_ENV,
  CREATED_BODY,
  freePort,
  SESSION_TOKEN,
  startBff as startServedBff,
  startServer,
  startStub,
} from './load.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_BFF_MAIN measures another build, e.g. an older commit's in a git worktree.
const BFF_MAIN = process.env.BENCH_BFF_MAIN ?? join(ROOT, 'dist', 'main.js');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const ROUTE = '/interventions/v2/rs/preventive/routine';
/** Each proxy prints its GCs, with the bytes allocated since the previous one (see load.mjs). */
const GC_TRACE = '--trace-gc-nvp';

function parseOptions(argv) {
  const options = {
    duration: 10,
    rounds: 3,
    smoke: false,
    connections: undefined,
    callers: DEFAULT_CALLERS,
    upstreamErrors: 0,
    node: undefined,
    against: undefined,
    jwt: false,
    session: false,
  };
  if (argv.includes('--session') && argv.includes('--connections')) {
    throw new Error(
      '--session is for the comparison; the memory run (--connections) is bearer mode only',
    );
  }
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--smoke' || arg === '--jwt' || arg === '--session') {
      options[arg.slice(2)] = true;
      continue;
    }
    if ((arg === '--node' || arg === '--against') && argv[i + 1]) {
      options[arg.slice(2)] = argv[i + 1];
      i += 1;
      continue;
    }
    const name = arg.replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    const value = Number(argv[i + 1]);
    if (
      !['duration', 'rounds', 'connections', 'callers', 'upstreamErrors'].includes(name) ||
      !(value > 0) ||
      (name === 'upstreamErrors' && value >= 100)
    ) {
      throw new Error(
        `bad option ${arg} ${argv[i + 1] ?? ''}; usage: [--duration 10] [--rounds 3] [--smoke] ` +
          '[--callers 10000] [--upstream-errors 30] [--jwt] [--session] ' +
          '[--node <path> | --against <main.js>] | ' +
          '--connections 100 --duration 300',
      );
    }
    options[name] = value;
    i += 1;
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// CPU pinning and /proc readings (pinning and cpuMicros: measure.mjs)

// ---------------------------------------------------------------------------------------------
// The upstream stub and the BFF

/**
 * The built BFF as production runs it: info-level access logs to a pipe that this process drains,
 * as a container runtime reads a container's stdout; the caller budgets on (and high enough never
 * to answer 429 to the bench), breaker and metrics on.
 *
 * @param {string} upstreamUrl
 * @param {string | undefined} cpu
 * @param {{ node?: string, main?: string, env?: Record<string, string> }} [options]
 */
function startBff(upstreamUrl, cpu, { node, main = BFF_MAIN, env = {} } = {}) {
  return startServedBff({
    upstreamUrl,
    cpu,
    node,
    main,
    // BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the BFF under the bench.
    nodeArgs: [GC_TRACE, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    // Every budget on, and too high for the bench to reach.
    env: {
      ...BENCH_BFF_ENV,
      ...env,
      // BENCH_BFF_ENV, e.g. "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", to measure a feature
      // that is off by default (span export, JWT verification).
      ...Object.fromEntries(
        (process.env.BENCH_BFF_ENV ?? '')
          .split(' ')
          .filter(Boolean)
          .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
      ),
    },
  });
}

const ISSUER = 'https://issuer.bench.invalid/';
const AUDIENCE = 'interventions-bff';

/**
 * `--jwt`: a local identity provider for the BFF's JWT verification: an RS256 key, its JWKS served
 * on 127.0.0.1, and one signed token (its own subject, valid for an hour) per caller.
 */
async function startIssuer(callers) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwks = JSON.stringify({
    keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' }],
  });
  const server = createServer((_req, res) =>
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(jwks),
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const tokens = await Promise.all(
    Array.from({ length: callers }, (_, i) =>
      new SignJWT({ sub: `bench-${i}` })
        .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime(exp)
        .sign(privateKey),
    ),
  );
  return {
    tokens,
    env: {
      AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      AUTH_ISSUER: ISSUER,
      AUTH_AUDIENCE: AUDIENCE,
    },
    stop: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

/** Logins made for `--session`: each walks the provider's login form, so a few hundred at most. */
const SESSION_LOGINS = 100;

/**
 * `--session`: a second BFF ('bff-session') in session mode, its sessions in its memory, at a port
 * chosen first (its redirect URI must be known to the provider), with the development provider on
 * 127.0.0.1. `logIn()`, once it runs: the headers of each logged-in session (cookie and X-CSRF).
 */
async function startSessionSite() {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const client = { clientId: 'bench-bff', clientSecret: randomBytes(16).toString('hex') };
  const provider = await startDevProvider({
    clients: [{ ...client, redirectUris: [`${publicUrl}/bff/callback`] }],
    // No refresh during the bench: a session's requests all cost the same.
    accessTokenTtlS: 3600,
  });
  return {
    env: {
      PORT: String(port),
      PUBLIC_BASE_URL: publicUrl,
      AUTH_MODE: 'session',
      OIDC_ISSUER_URL: provider.issuer,
      OIDC_ALLOW_INSECURE_HTTP: 'true',
      OIDC_CLIENT_ID: client.clientId,
      OIDC_CLIENT_SECRET: client.clientSecret,
      SESSION_KEYS: randomBytes(32).toString('base64'),
    },
    logIn: async () => {
      const sessions = [];
      for (let i = 0; i < SESSION_LOGINS; i += 1) {
        const jar = new CookieJar();
        await logIn(publicUrl, jar);
        sessions.push({ cookie: jar.header, 'x-csrf': '1' });
      }
      return sessions;
    },
    stop: () => provider.close(),
  };
}

/** The peers of the issue's table, measured in the same rounds as the BFF (scripts/peers). */
const PEERS = {
  'nest-minimal': {
    label: 'peer: NestJS + @nestjs/axios, nothing else',
    script: join(ROOT, 'scripts', 'peers', 'nest-minimal.mjs'),
  },
  'reply-from': {
    label: 'peer: fastify + @fastify/reply-from',
    script: join(ROOT, 'scripts', 'peers', 'fastify-reply-from.mjs'),
  },
};

/**
 * A machine-speed reference: a bare node:http server answering the same 201 body, on the BFF's
 * CPU. Its CPU per request is the floor of any Node server here; comparing machines, compare this.
 */
async function startReference(cpu) {
  const port = await freePort();
  const source = `const body = process.env.BODY;
require('node:http').createServer((req, res) => { req.resume(); req.on('end', () =>
  res.writeHead(201, { 'Content-Type': 'application/json' }).end(body)); })
  .listen(${port}, '127.0.0.1', () => process.stdout.write('ready'));`;
  const command = cpu === undefined ? [process.execPath] : ['taskset', '-c', cpu, process.execPath];
  const child = spawn(command[0], [...command.slice(1), '-e', source], {
    env: { PATH: process.env.PATH, BODY: CREATED_BODY },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', () => reject(new Error('the reference server exited')));
  });
  return {
    pid: child.pid,
    url: `http://127.0.0.1:${port}`,
    stop: () => child.kill('SIGKILL'),
  };
}

// ---------------------------------------------------------------------------------------------
// One measured run: run() in measure.mjs

/** @typedef {import('./measure.mjs').RunResult & { target: string, round: number, warmup?: boolean }} TargetRun */

// ---------------------------------------------------------------------------------------------
// Reporting

const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fmtMs = (n) => (Number.isFinite(n) ? `${n.toFixed(3)} ms` : 'n/a');
const fmtKb = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KB` : 'n/a');
const fmtMb = (bytes) =>
  Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : 'n/a';

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)];
}

/**
 * The upstream stub. With `--upstream-errors N`, N of every 100 answers are a 500 (spread evenly):
 * the BFF relays them as 502, so non-2xx answers are expected then.
 */
function startBenchStub({ upstreamErrors }) {
  let answered = 0;
  return startStub((_req, res) => {
    answered += 1;
    if ((answered * upstreamErrors) % 100 < upstreamErrors) {
      res.writeHead(500, { 'Content-Type': 'application/json' }).end('{}');
    } else answerCreated(res);
  });
}

/** What makes a bench fail: any error, timeout, unexpected non-2xx, or an unclean BFF exit. */
function failuresOf(runs, { upstreamErrors }, ended) {
  const failures = runs.flatMap((r) => {
    const problems = [];
    if (r.errors) problems.push(`${r.errors} errors`);
    if (r.timeouts) problems.push(`${r.timeouts} timeouts`);
    if (r.non2xx && !upstreamErrors) problems.push(`${r.non2xx} non-2xx answers`);
    if (r.requests === 0) problems.push('no answer at all');
    return problems.map((p) => `${r.target} ${r.connections} conn round ${r.round}: ${p}`);
  });
  if (ended.code !== 0) failures.push(`the BFF ended with ${ended.signal ?? `code ${ended.code}`}`);
  return failures;
}

/** Prints a mode's Markdown report, ending with its verdict; returns it with the JSON for test-artifacts. */
function report({ kind, title, setup, options, body, failures, data }) {
  const lines = [
    '',
    title,
    '',
    ...setup.map((l) => `- ${l}`),
    '',
    ...body,
    `- result: ${failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`}`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return {
    failures,
    json: { kind, date: new Date().toISOString(), setup, options, ...data, failures },
  };
}

function describeSetup(pins, options) {
  return [
    `Node ${process.version}, ${CPUS} CPU(s) (${cpus()[0]?.model.trim() ?? '?'}), ${process.platform}/${process.arch}`,
    pins
      ? `Pinned with taskset: the BFF and the peers on CPU ${pins.bff} (one loaded at a time); autocannon and the upstream stub (this process) on CPU ${pins.load}.`
      : 'Not pinned (taskset unavailable or a single CPU): the BFF, autocannon and the stub share the CPUs.',
    `BFF: node ${relative(ROOT, BFF_MAIN)}, NODE_ENV=production, ` +
      'LOG_LEVEL=info (access log on, stdout to a pipe), ' +
      'RATE_LIMIT_PER_MINUTE and RATE_LIMIT_PER_ADDRESS_PER_MINUTE=1000000, MAX_IN_FLIGHT_PER_ADDRESS=10000 ' +
      '(budgets on), breaker on, metrics on, no Redis.',
    `Load: ${options.callers} caller(s) (bearer tokens) in turn, same valid body; ` +
      (options.jwt
        ? 'each token an RS256 JWT the BFF verifies (JWKS served on 127.0.0.1, AUTH_JWKS_URL); '
        : '') +
      (options.upstreamErrors
        ? `the stub answers 500 to ${options.upstreamErrors}% of calls (relayed as 502); `
        : '') +
      (options.session
        ? `the session-mode BFF gets ${SESSION_LOGINS} sessions' cookies and X-CSRF: 1 in turn instead; `
        : '') +
      '"other load" is the busiest run\'s CPU use by other processes on the machine (noise).',
    `CPU/request: each server process's utime+stime from /proc/<pid>/stat (clock ticks, CLK_TCK=${CLK_TCK}) ` +
      'before/after each run, divided by the answers received: whole-process CPU, as process.cpuUsage() reports it.',
    `Runs: ${options.duration} s each, ${options.rounds} round(s), all targets interleaved, the BFF and its peers each pinned to the same CPU; figures are medians over rounds.`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Modes

const LABELS = {
  direct: 'upstream stub, direct',
  bff: 'BFF (all features on)',
  ...Object.fromEntries(Object.entries(PEERS).map(([name, peer]) => [name, peer.label])),
};
const PROXIES = ['bff', ...Object.keys(PEERS)];

/**
 * A second BFF as one more target ('bff-other'), in the same rounds: `--node <path>`, the same
 * build on another node binary; `--against <main.js>`, another build on this node (the commit
 * before a cut, built in a git worktree): the per-round ratio measures the cut.
 */
function otherBff(options) {
  if (options.node) {
    const version = execFileSync(options.node, ['--version'], { encoding: 'utf8' }).trim();
    LABELS['bff-other'] = `BFF (all features on) on Node ${version}`;
    LABELS.bff = `BFF (all features on) on Node ${process.version}`;
  } else if (options.against) {
    LABELS['bff-other'] = `BFF (all features on), ${relative(ROOT, options.against)}`;
    LABELS.bff = `BFF (all features on), ${relative(ROOT, BFF_MAIN)}`;
  } else return;
  PROXIES.splice(1, 0, 'bff-other');
}

async function compare(options, pins) {
  const stub = await startBenchStub(options);
  const issuer = options.jwt ? await startIssuer(options.callers) : undefined;
  const callers = issuer?.tokens ?? options.callers;
  const issuerEnv = issuer?.env;
  const servers = { bff: await startBff(stub.url, pins?.bff, { env: issuerEnv }) };
  if (PROXIES.includes('bff-other')) {
    servers['bff-other'] = await startBff(stub.url, pins?.bff, {
      node: options.node,
      main: options.against,
      env: issuerEnv,
    });
  }
  const sessionSite = options.session ? await startSessionSite() : undefined;
  if (sessionSite) {
    servers['bff-session'] = await startBff(stub.url, pins?.bff, { env: sessionSite.env });
  }
  const sessionCallers = await sessionSite?.logIn();
  const callersOf = (target) => (target === 'bff-session' ? sessionCallers : callers);
  for (const [name, peer] of Object.entries(PEERS)) {
    servers[name] = await startServer({
      script: peer.script,
      env: { UPSTREAM_BASE_URL: stub.url, UPSTREAM_SESSION_TOKEN: SESSION_TOKEN },
      nodeArgs: [GC_TRACE],
      cpu: pins?.bff,
    });
  }
  const reference = await startReference(pins?.bff);
  const url = (target) => (target === 'direct' ? stub.url : servers[target].url) + ROUTE;
  const targets = ['direct', ...PROXIES];
  /** @type {TargetRun[]} */
  const runs = [];
  let peak, logLines, ended, referenceRun;
  try {
    if (!options.smoke) await run(reference.url + ROUTE, 50, 3, { callers });
    referenceRun = await run(reference.url + ROUTE, 50, options.smoke ? 1 : 5, {
      pid: reference.pid,
      callers,
    });
    runs.push({ ...referenceRun, target: 'reference', round: 0 });
    reference.stop();
    // Warm-up: JIT, connection pools, the limiter's and the metrics' first keys.
    const warmup = options.smoke ? 1 : 5;
    for (const target of targets) {
      const r = await run(url(target), 50, warmup, { callers: callersOf(target) });
      runs.push({ ...r, target, round: 0, warmup: true });
    }
    for (let round = 1; round <= options.rounds; round += 1) {
      // Alternating the order, so a drift within a round does not always favour one target.
      const order = round % 2 ? targets : [...targets].reverse();
      for (const connections of [1, 50]) {
        for (const target of order) {
          const server = servers[target];
          const r = await run(url(target), connections, options.duration, {
            pid: server?.pid,
            callers: callersOf(target),
            allocated: server && (() => server.output.allocatedBytes),
          });
          runs.push({ ...r, target, round });
          if (Object.values(servers).some((server) => server.exited)) {
            throw new Error('a server exited during the bench');
          }
        }
      }
    }
  } finally {
    reference.stop();
    peak = memory(servers.bff.pid);
    logLines = servers.bff.output.lines;
    ended = await servers.bff.stop();
    await servers['bff-other']?.stop();
    await servers['bff-session']?.stop();
    await sessionSite?.stop();
    for (const name of Object.keys(PEERS)) await servers[name].stop();
    await stub.stop();
    await issuer?.stop();
  }

  const measured = runs.filter((r) => !r.warmup && r.target !== 'reference');
  const pick = (target, connections) =>
    measured.filter((r) => r.target === target && r.connections === connections);
  /** Median over rounds of the BFF's CPU/request divided by `peer`'s in the same round. */
  const ratio = (peer, connections) => {
    const peerRuns = pick(peer, connections);
    return median(
      pick('bff', connections).map((r, i) => r.cpuPerRequest / peerRuns[i].cpuPerRequest),
    );
  };
  const rows = [];
  const summary = {};
  for (const connections of [1, 50]) {
    for (const target of targets) {
      const rs = pick(target, connections);
      const proxy = target !== 'direct';
      const s = {
        target,
        connections,
        perSecond: median(rs.map((r) => r.perSecond)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpuPerRequest: proxy ? median(rs.map((r) => r.cpuPerRequest)) : undefined,
        cpuPerRequestRounds: proxy ? rs.map((r) => Math.round(r.cpuPerRequest)) : undefined,
        bytesPerRequest: proxy ? median(rs.map((r) => r.allocatedPerRequest)) : undefined,
        bytesPerRequestRounds: proxy ? rs.map((r) => Math.round(r.allocatedPerRequest)) : undefined,
        peakRss: proxy ? Math.max(...rs.map((r) => r.hwm)) : undefined,
        othersCpu: Math.max(...rs.map((r) => r.othersCpu)),
      };
      summary[`${target}@${connections}`] = s;
      rows.push([
        LABELS[target],
        connections,
        fmtInt(s.perSecond),
        fmtMs(s.p50),
        fmtMs(s.p99),
        proxy ? `${fmtInt(s.cpuPerRequest)} µs (${s.cpuPerRequestRounds.join(', ')})` : '-',
        proxy ? fmtKb(s.bytesPerRequest) : '-',
        proxy ? fmtMb(s.peakRss) : '-',
        s.othersCpu.toFixed(2),
      ]);
    }
  }
  const overheadP50 = (target) => summary[`${target}@1`].p50 - summary['direct@1'].p50;
  // Over every measured run of a target: the few MB a run's ends may miss (see run()) average out.
  const allocatedPerRequest = Object.fromEntries(
    PROXIES.map((target) => {
      const rs = measured.filter((r) => r.target === target);
      const bytes = rs.reduce((sum, r) => sum + r.allocatedBytes, 0);
      return [
        target,
        bytes /
          Math.max(
            1,
            rs.reduce((sum, r) => sum + r.requests, 0),
          ),
      ];
    }),
  );
  const allocatedOverNestMinimal = allocatedPerRequest.bff - allocatedPerRequest['nest-minimal'];
  const ratios = Object.fromEntries(
    [...Object.keys(PEERS), ...(servers['bff-other'] ? ['bff-other'] : [])].map((peer) => [
      peer,
      { 1: ratio(peer, 1), 50: ratio(peer, 50) },
    ]),
  );
  /** Median over rounds of `target`'s CPU/request minus the BFF's in the same round, in µs. */
  const extraCpu = (target, connections) => {
    const theirs = pick(target, connections);
    return median(
      pick('bff', connections).map((r, i) => theirs[i].cpuPerRequest - r.cpuPerRequest),
    );
  };
  const sessionExtra = servers['bff-session'] && {
    1: extraCpu('bff-session', 1),
    50: extraCpu('bff-session', 50),
  };
  const failures = failuresOf(runs, options, ended);
  for (const target of PROXIES) {
    if (servers[target].output.gcRecords === 0) {
      failures.push(`no GC record from ${target}: its bytes per request are unknown`);
    }
  }
  if (logLines < measured.filter((r) => r.target === 'bff').reduce((n, r) => n + r.requests, 0)) {
    failures.push(`only ${logLines} log lines: the access log was not on`);
  }

  return report({
    kind: 'compare',
    title: `### Bench: POST ${ROUTE}, direct, through the BFF and through its peers`,
    setup: describeSetup(pins, options),
    options,
    failures,
    body: [
      ...table(
        [
          'target',
          'conn',
          'req/s',
          'p50',
          'p99',
          'CPU/request (rounds)',
          'allocated/request',
          'peak RSS',
          'other load (CPUs)',
        ],
        rows,
      ),
      '',
      `- p50 at 1 connection: BFF ${fmtMs(summary['bff@1'].p50)}, ` +
        `nest-minimal ${fmtMs(summary['nest-minimal@1'].p50)}: ` +
        `+${fmtMs(summary['bff@1'].p50 - summary['nest-minimal@1'].p50)} (goal <= +0.10 ms)`,
      `- p50 overhead over the direct call at 1 connection: BFF ${fmtMs(overheadP50('bff'))}; ` +
        Object.keys(PEERS)
          .map((peer) => `${peer} ${fmtMs(overheadP50(peer))}`)
          .join(', '),
      `- CPU per request at 50 connections: ${fmtInt(summary['bff@50'].cpuPerRequest)} µs`,
      `- bytes allocated per request (V8 GC records, all measured runs, KB = 1,024 bytes): ` +
        PROXIES.map((target) => `${target} ${fmtKb(allocatedPerRequest[target])}`).join(', ') +
        `; BFF - nest-minimal ${fmtKb(allocatedOverNestMinimal)} (goal <= 40 KB)`,
      ...Object.keys(PEERS).map(
        (peer) =>
          `- BFF / ${peer} CPU per request, median of per-round ratios: ` +
          `${ratios[peer][50].toFixed(2)}x at 50 connections` +
          `${peer === 'nest-minimal' ? ' (goal <= 2.0x)' : ''}, ${ratios[peer][1].toFixed(2)}x at 1`,
      ),
      ...(ratios['bff-other']
        ? [
            `- ${LABELS.bff} / ${LABELS['bff-other']} CPU per request, median of per-round ratios: ` +
              `${ratios['bff-other'][50].toFixed(2)}x at 50 connections, ${ratios['bff-other'][1].toFixed(2)}x at 1; ` +
              `p50 overhead at 1 connection of the other: ${fmtMs(overheadP50('bff-other'))}`,
          ]
        : []),
      ...(sessionExtra
        ? [
            `- session mode over bearer mode, CPU per request, median of per-round differences: ` +
              `${sessionExtra[50] >= 0 ? '+' : ''}${fmtInt(sessionExtra[50])} µs at 50 connections (goal <= +40 µs), ` +
              `${sessionExtra[1] >= 0 ? '+' : ''}${fmtInt(sessionExtra[1])} µs at 1; ${SESSION_LOGINS} sessions in the BFF's memory, one user`,
          ]
        : []),
      `- machine reference: a bare node:http server answering the same 201 on CPU ${pins?.bff ?? 'any'} costs ` +
        `${fmtInt(referenceRun.cpuPerRequest)} µs CPU per request at 50 connections ` +
        `(${fmtInt(referenceRun.perSecond)} req/s, load-generator bound); the BFF costs ` +
        `${(summary['bff@50'].cpuPerRequest / referenceRun.cpuPerRequest).toFixed(1)}x that`,
      `- BFF peak RSS (VmHWM): ${fmtMb(peak.hwm)}, RSS at the end ${fmtMb(peak.rss)}; ${fmtInt(logLines)} log lines written`,
    ],
    data: {
      summary,
      overheadP50Ms: Object.fromEntries(PROXIES.map((target) => [target, overheadP50(target)])),
      cpuRatiosToPeers: ratios,
      sessionExtraCpuMicros: sessionExtra,
      allocatedPerRequestBytes: allocatedPerRequest,
      allocatedOverNestMinimalBytes: allocatedOverNestMinimal,
      reference: referenceRun,
      peakRssBytes: peak.hwm,
      logLines,
      runs,
    },
  });
}

async function memoryRun(options, pins) {
  const stub = await startBenchStub(options);
  const bff = await startBff(stub.url, pins?.bff);
  /** @type {import('./measure.mjs').Sample[]} */
  const samples = [];
  let result, ended;
  try {
    await run(bff.url + ROUTE, options.connections, 5, { callers: options.callers }); // warm-up
    samples.push({ seconds: 0, ...memory(bff.pid) });
    result = await run(bff.url + ROUTE, options.connections, options.duration, {
      pid: bff.pid,
      callers: options.callers,
      onSample: (s) => {
        samples.push(s);
        process.stdout.write(
          `  ${s.seconds.toFixed(0).padStart(4)} s  RSS ${fmtMb(s.rss)}  peak ${fmtMb(s.hwm)}  ` +
            `${fmtInt(s.perSecond)} req/s  ${fmtInt(s.cpuPerRequest)} µs/req\n`,
        );
      },
    });
  } finally {
    ended = await bff.stop();
    await stub.stop();
  }
  const failures = failuresOf([{ ...result, target: 'bff', round: 1 }], options, ended);
  const rss = samples.map((s) => s.rss);
  const after60 = samples.filter((s) => s.seconds >= 55);
  const growth = after60.length > 1 ? after60.at(-1).rss - after60[0].rss : NaN;
  return report({
    kind: 'memory',
    title: `### Memory: ${options.connections} connections for ${options.duration} s through the BFF`,
    setup: describeSetup(pins, { ...options, rounds: 1 }),
    options,
    failures,
    body: [
      ...table(
        ['t', 'RSS', 'peak RSS', 'req/s', 'CPU/request'],
        samples.map((s) => [
          `${s.seconds.toFixed(0)} s`,
          fmtMb(s.rss),
          fmtMb(s.hwm),
          s.perSecond === undefined ? '(after warm-up)' : fmtInt(s.perSecond),
          s.cpuPerRequest === undefined ? '-' : `${fmtInt(s.cpuPerRequest)} µs`,
        ]),
      ),
      '',
      `- requests: ${fmtInt(result.requests)} (${fmtInt(result.perSecond)}/s), p50 ${fmtMs(result.p50)}, p99 ${fmtMs(result.p99)}`,
      `- RSS min / max: ${fmtMb(Math.min(...rss))} / ${fmtMb(Math.max(...rss))}; peak (VmHWM) ${fmtMb(samples.at(-1).hwm)} (goal < 150 MB)`,
      `- RSS change from ~60 s to the end: ${fmtMb(growth)} (goal: flat)`,
    ],
    data: { result, samples, rssGrowthAfter60sBytes: growth },
  });
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (options.smoke) Object.assign(options, { duration: 1, rounds: 1 });
  const pins = pinning();
  otherBff(options);
  if (options.session) {
    LABELS['bff-session'] = 'BFF in session mode (all features on)';
    PROXIES.splice(1, 0, 'bff-session');
  }
  const memoryMode = options.connections !== undefined;
  if (memoryMode && !process.argv.includes('--duration')) options.duration = 300;
  // A hard bound on the whole run, whatever hangs.
  const budgetS = memoryMode
    ? options.duration + 120
    : options.rounds * 2 * (1 + PROXIES.length) * (options.duration + 5) + 120;
  setTimeout(() => {
    process.stderr.write(`bench: still running after ${budgetS} s, giving up\n`);
    process.exit(2);
  }, budgetS * 1000).unref();

  const { failures, json } = memoryMode
    ? await memoryRun(options, pins)
    : await compare(options, pins);
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = memoryMode ? 'bench-memory.json' : options.smoke ? 'bench-smoke.json' : 'bench.json';
  await writeFile(join(ARTIFACTS, file), JSON.stringify(json, null, 2) + '\n');
  process.stdout.write(`written: test-artifacts/${file}\n`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
