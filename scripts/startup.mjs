// `node scripts/startup.mjs`: how long the built BFF takes from `node dist/main.js` to its first
// 200 on /health/ready (what an orchestrator waits for), with the shipped heap flags of
// `npm start`, against a local upstream stub: the wall time, and the CPU time the process spent
// until then (steadier than the wall time on a busy machine). Runs several times and prints the
// medians and the ranges, so a module-format or dependency change can be compared on one machine.
//
//   node scripts/startup.mjs [--runs 10] [--against /tmp/before/dist/main.js]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BFF_MAIN,
  answerCreated,
  freePort,
  parseOptions,
  SESSION_TOKEN,
  sleep,
  startStub,
} from './load.mjs';
import { cpuMicros, median } from './measure.mjs';

const HEAP_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=128'];

/** Wall and CPU milliseconds from spawn to the first 200 on /health/ready. */
async function timeToReady(main, upstreamUrl) {
  const port = await freePort();
  const cwd = mkdtempSync(join(tmpdir(), 'bff-startup-'));
  const started = performance.now();
  const child = spawn(process.execPath, [...HEAP_FLAGS, main], {
    cwd,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      HOST: '127.0.0.1',
      UPSTREAM_BASE_URL: upstreamUrl,
      UPSTREAM_SESSION_TOKEN: SESSION_TOKEN,
    },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${main} exited with ${child.exitCode}`);
      if (performance.now() - started > 120_000) throw new Error(`${main}: not ready within 120 s`);
      const ok = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ok) return { wall: performance.now() - started, cpu: cpuMicros(child.pid ?? 0) / 1000 };
      await sleep(5);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) =>
      child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve),
    );
    rmSync(cwd, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
const againstAt = argv.indexOf('--against');
const against = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
const options = parseOptions(argv, { runs: 10 });
const builds = [['this build', BFF_MAIN]];
if (against) builds.push(['--against', against]);
const stub = await startStub(answerCreated);
/** @type {Map<string, { wall: number, cpu: number }[]>} */
const times = new Map(builds.map(([name]) => [name, []]));
try {
  // Interleaved, so that machine drift hits every build alike.
  for (let run = 0; run < Number(options.runs); run++) {
    for (const [name, main] of builds) times.get(name)?.push(await timeToReady(main, stub.url));
  }
} finally {
  await stub.stop();
}
/** @param {number[]} values */
const summary = (values) =>
  `median ${median(values).toFixed(0)} ms (min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)})`;
for (const [name, main] of builds) {
  const runs = times.get(name) ?? [];
  console.log(
    `${name} (${main}), ${runs.length} runs, Node ${process.version}: to ready ` +
      `${summary(runs.map((r) => r.wall))}; CPU until then ${summary(runs.map((r) => r.cpu))}`,
  );
}
