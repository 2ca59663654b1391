// Memory against CPU: the built BFF started once per V8 heap setting (`--max-semi-space-size`,
// `--max-old-space-size`, ...), all loaded in turn at 100 connections through the same upstream
// stub, in interleaved rounds, so machine drift hits every setting alike. Reports per setting: peak
// RSS (VmHWM), CPU per request, and CPU per request relative to the first setting (no flags) as
// the median of the per-round ratios. The BFF runs as in `npm run bench`: production mode, access
// log on (stdout to a pipe), rate limiter on (never answering 429 here), 10,000 callers in turn;
// pinned to CPU 0, autocannon and the stub on CPU 1. Any error, timeout or non-2xx fails (exit 1).
//
//   node scripts/memory.mjs [--duration 15] [--rounds 3] [--connections 100]
//       [--settings "none; --max-semi-space-size=2; ..."]      the trade-off table
//   node scripts/memory.mjs --settings "none; bin=./node-in-a-320MiB-cgroup.sh"   (a wrapper)
//   node scripts/memory.mjs --settings "--max-semi-space-size=2 --max-old-space-size=128" \
//       --rounds 1 --duration 300                              one setting: RSS every 10 s, slope
//
// "shipped" as a setting stands for the flags of `npm start` (package.json). Writes
// test-artifacts/memory.json.
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CPUS, median, pinning, run, slope } from './measure.mjs';
import { ROOT, ROUTE, answerCreated, startBff, startStub } from './load.mjs';

const DEFAULT_SETTINGS = [
  'none',
  '--max-semi-space-size=1',
  '--max-semi-space-size=2',
  '--max-semi-space-size=4',
  '--max-semi-space-size=8',
  '--max-old-space-size=128',
  '--max-semi-space-size=2 --max-old-space-size=128',
  '--max-semi-space-size=4 --max-old-space-size=128',
  '--max-semi-space-size=2 --max-old-space-size=96',
];

/** The node flags of `npm start` (`node <flags> dist/main.js` in package.json). */
function shippedFlags() {
  const start = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  const match = /^node((?: --[\w-]+(?:=\S+)?)*) dist\/main\.js$/.exec(start);
  if (!match) throw new Error(`cannot read node flags from the start script: ${start}`);
  return match[1].trim();
}

function parseOptions(argv) {
  const options = { duration: 15, rounds: 3, connections: 100, settings: DEFAULT_SETTINGS };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'settings' && argv[i + 1]) {
      options.settings = argv[i + 1].split(';').map((s) => s.trim());
    } else if (['duration', 'rounds', 'connections'].includes(name) && Number(argv[i + 1]) > 0) {
      options[name] = Number(argv[i + 1]);
    } else {
      throw new Error(
        `bad option ${argv[i]} ${argv[i + 1] ?? ''}; usage: [--duration 15] [--rounds 3] ` +
          '[--connections 100] [--settings "none; --max-semi-space-size=2; shipped"]',
      );
    }
  }
  options.settings = options.settings.map((s) => (s === 'shipped' ? shippedFlags() || 'none' : s));
  return options;
}

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const int = (n) => Math.round(n).toLocaleString('en-US');

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)];
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const pins = pinning();
  const budgetS = options.settings.length * (options.rounds * (options.duration + 3) + 30) + 120;
  setTimeout(() => {
    process.stderr.write(`memory: still running after ${budgetS} s, giving up\n`);
    process.exit(2);
  }, budgetS * 1000).unref();

  const stub = await startStub((_req, res) => answerCreated(res));
  const bffs = [];
  const runs = [];
  const timeline = [];
  const single = options.settings.length === 1;
  try {
    for (const setting of options.settings) {
      // A setting is node flags, optionally NAME=value environment variables (MALLOC_ARENA_MAX=2)
      // and bin=<path>, another node binary or a wrapper that execs one (e.g. in a memory cgroup).
      const all = setting === 'none' ? [] : setting.split(/\s+/);
      const node = all.find((w) => w.startsWith('bin='))?.slice(4);
      const words = all.filter((w) => !w.startsWith('bin='));
      const env = Object.fromEntries(
        words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => w.split(/=(.*)/s).slice(0, 2)),
      );
      const bff = await startBff({
        upstreamUrl: stub.url,
        cpu: pins?.bff,
        node,
        nodeArgs: words.filter((w) => !/^[A-Z_]+=/.test(w)),
        env: { LOG_LEVEL: 'info', RATE_LIMIT_PER_MINUTE: '1000000', ...env },
      });
      bffs.push({ setting, bff });
      await run(bff.url + ROUTE, options.connections, 5, { pid: bff.pid }); // warm-up
    }
    for (let round = 1; round <= options.rounds; round += 1) {
      const order = round % 2 ? bffs : [...bffs].reverse();
      for (const { setting, bff } of order) {
        const r = await run(bff.url + ROUTE, options.connections, options.duration, {
          pid: bff.pid,
          onSample: (s) => {
            if (!single) return;
            timeline.push(s);
            process.stdout.write(
              `  ${s.seconds.toFixed(0).padStart(4)} s  RSS ${mb(s.rss)} (anon ${mb(s.anon)})  peak ${mb(s.hwm)}  ` +
                `${int(s.perSecond)} req/s  ${int(s.cpuPerRequest)} µs/req\n`,
            );
          },
        });
        runs.push({ setting, round, ...r });
        if (bff.exited) throw new Error(`the BFF with "${setting}" exited`);
        process.stderr.write(
          `round ${round} ${setting}: ${int(r.cpuPerRequest)} µs/req, RSS ${mb(r.rss)}, peak ${mb(r.hwm)}\n`,
        );
      }
    }
  } finally {
    for (const { bff } of bffs) await bff.stop();
    await stub.stop();
  }

  const baseline = options.settings[0];
  const rows = options.settings.map((setting) => {
    const mine = runs.filter((r) => r.setting === setting);
    const base = runs.filter((r) => r.setting === baseline);
    const ratios = mine.map((r, i) => r.cpuPerRequest / base[i].cpuPerRequest);
    return {
      setting,
      perSecond: median(mine.map((r) => r.perSecond)),
      cpuPerRequest: median(mine.map((r) => r.cpuPerRequest)),
      cpuRatio: median(ratios),
      peakRss: Math.max(...mine.map((r) => r.hwm)),
      endRss: mine.at(-1).rss,
      endAnon: mine.at(-1).anon,
    };
  });
  const lines = [
    '',
    `### V8 heap settings: ${options.connections} connections, ${options.rounds} round(s) × ${options.duration} s each, interleaved`,
    '',
    `- Node ${process.version}, ${CPUS} CPU(s); the BFFs ${pins ? 'pinned to CPU 0, load on CPU 1' : 'not pinned'}`,
    '',
    ...table(
      [
        'node flags',
        'req/s',
        'CPU/request',
        `CPU vs ${baseline}`,
        'peak RSS',
        'RSS at the end',
        'of which anon',
      ],
      rows.map((r) => [
        r.setting === 'none' ? 'none' : `\`${r.setting}\``,
        int(r.perSecond),
        `${int(r.cpuPerRequest)} µs`,
        r.setting === baseline
          ? '–'
          : `${r.cpuRatio >= 1 ? '+' : ''}${((r.cpuRatio - 1) * 100).toFixed(1)}%`,
        mb(r.peakRss),
        mb(r.endRss),
        mb(r.endAnon),
      ]),
    ),
  ];
  let trend;
  if (single) {
    const after60 = timeline.filter((s) => s.seconds >= 55);
    const perSecond = slope(after60.map((s) => ({ x: s.seconds, y: s.rss })));
    trend = {
      slopeMbPerMinute: perSecond === undefined ? undefined : (perSecond * 60) / 1024 / 1024,
      changeAfter60s: after60.length > 1 ? after60.at(-1).rss - after60[0].rss : undefined,
      min: Math.min(...timeline.map((s) => s.rss)),
      max: Math.max(...timeline.map((s) => s.rss)),
    };
    lines.push(
      '',
      `- RSS over the run (every 10 s): ${mb(trend.min)} – ${mb(trend.max)}; from ~60 s to the end ` +
        `${trend.changeAfter60s === undefined ? 'n/a' : mb(trend.changeAfter60s)}, ` +
        `least-squares slope ${trend.slopeMbPerMinute === undefined ? 'n/a' : `${trend.slopeMbPerMinute.toFixed(2)} MB/min`}`,
    );
  }
  const failures = runs
    .map((r) => ({ ...r, failures: r.errors + r.timeouts + r.non2xx }))
    .filter((r) => r.failures > 0 || r.requests === 0)
    .map((r) => `"${r.setting}" round ${r.round}: ${r.failures} failures, ${r.requests} answers`);
  lines.push(`- result: ${failures.length ? `FAIL: ${failures.join('; ')}` : 'PASS'}`, '');
  process.stdout.write(lines.join('\n') + '\n');
  mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
  await writeFile(
    join(ROOT, 'test-artifacts', 'memory.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        options,
        rows,
        trend,
        timeline,
        runs,
      },
      null,
      2,
    ) + '\n',
  );
  if (failures.length) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
