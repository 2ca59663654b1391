// `npm run test:soak`: at least `--requests` (default 100,000) requests through the built BFF while
// the upstream stub flaps: resets before the headers, 500s, answers slower than the BFF's deadline
// (UPSTREAM_TIMEOUT_MS=200), and 201s, in cycles of a flaky and a down phase (the down phase opens
// the circuit breaker: 503s are documented behaviour). Watches the child from outside:
//  - every second: VmRSS from /proc/<pid>/status; process_resident_memory_bytes,
//    nodejs_heap_size_used_bytes and nodejs_active_handles_total from GET /metrics;
//  - every second, through the inspector (127.0.0.1, random port): a full GC (--expose-gc), then
//    the heap used and the active handles: heap after GC is the figure that shows a leak.
// Every other request carries a fresh Idempotency-Key: the in-process store, bounded in bytes
// (IDEMPOTENCY_MAX_BYTES scaled to the run, see STORE_BYTES_PER_REQUEST), fills early in the run
// (then keyed requests get 503) and its gauge idempotency_store_bytes is read from /metrics with
// each sample.
// Fails (exit 1) when the process dies or logs an unhandled error, when an answer is not one of the
// documented statuses (201, 429, 502, 503, 504) or never comes, when heap after GC or active
// handles grow over the second half of the run by more than the bounds below, or when the
// idempotency store goes over its bound or is not full and flat over the second half.
//
//   node scripts/soak.mjs [--requests 100000] [--connections 100] [--seed 1]
import { readFileSync } from 'node:fs';
import { slope } from './measure.mjs';
import {
  answerCreated,
  answeredByStatus,
  connectInspector,
  environmentLine,
  fmt,
  metricSum,
  parseOptions,
  printTable,
  runAutocannon,
  scrapeMetrics,
  sleep,
  startBff,
  startStub,
  validCreate,
  waitUpstreamIdle,
  watchdog,
} from './load.mjs';

const DOCUMENTED_STATUSES = new Set(['201', '429', '502', '503', '504']);
const UPSTREAM_TIMEOUT_MS = 200;
const SLOW_ANSWER_MS = 2 * UPSTREAM_TIMEOUT_MS;
const BREAKER_RESET_TIMEOUT_MS = 2_000;
/**
 * Heap after a full GC may grow by at most this much over the second half of the run. The BFF's
 * retained state is bounded by design (metric label children, the breaker's 10 buckets, Fastify's
 * content-type cache of 100, keep-alive pools of at most 256 sockets); what is live at a sample is
 * at most 100 requests in flight, ~2-3 MB. 8 MB is three times that: a leak of 160 bytes per
 * request over 50,000 requests breaks it, noise does not.
 */
const HEAP_GROWTH_BOUND_BYTES = 8 * 1024 * 1024;
/** Handles follow the connections in flight (≤ 100 callers + ≤ 100 upstream sockets + timers). */
const HANDLE_GROWTH_BOUND = 50;
const SAMPLE_EVERY_MS = 1_000;
/**
 * IDEMPOTENCY_MAX_BYTES per request of the run: half the requests are keyed and most answers are
 * stored (~1.4 KB a record), so the store is full within the first third of the run and the
 * second half shows whether it stays flat.
 */
const STORE_BYTES_PER_REQUEST = 100;
/**
 * Over the second half, the store stays above this share of its bound: the run's one client
 * address is refused new keys past 3/4 of it (the fair share; requests in flight hold claims, not
 * answers), and records expire only after the run.
 */
const STORE_FULL_SHARE = 0.7;
/** Flapping cycle: `flaky` ms of a mostly healthy upstream, then `down` ms of failures only. */
const CYCLE = { flaky: 6_000, down: 6_000 };
const FLAKY_MIX = { created: 0.8, error500: 0.08, reset: 0.06, slow: 0.06 };

/** mulberry32: a seeded generator, so a run can be repeated. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The upstream's behaviour for one request, by phase of the flapping cycle. */
function flappingUpstream(seed) {
  const next = random(seed);
  const answers = { created: 0, error500: 0, reset: 0, slow: 0 };
  const slowTimers = new Set();
  const startedAt = Date.now();
  const choose = () => {
    const roll = next();
    const down = (Date.now() - startedAt) % (CYCLE.flaky + CYCLE.down) >= CYCLE.flaky;
    if (down) return roll < 0.4 ? 'error500' : roll < 0.7 ? 'reset' : 'slow';
    if (roll < FLAKY_MIX.error500) return 'error500';
    if (roll < FLAKY_MIX.error500 + FLAKY_MIX.reset) return 'reset';
    if (roll < FLAKY_MIX.error500 + FLAKY_MIX.reset + FLAKY_MIX.slow) return 'slow';
    return 'created';
  };
  const handler = (req, res) => {
    const answer = choose();
    answers[answer] += 1;
    if (answer === 'created') answerCreated(res);
    else if (answer === 'error500') {
      res.writeHead(500, { 'Content-Type': 'text/html' }).end('<h1>upstream failure</h1>');
    } else if (answer === 'reset') req.socket.resetAndDestroy();
    else {
      // Past the BFF's deadline: it has given up (and closed the socket) by the time this fires.
      const timer = setTimeout(() => {
        slowTimers.delete(timer);
        if (!res.destroyed) answerCreated(res);
      }, SLOW_ANSWER_MS);
      slowTimers.add(timer);
      res.once('close', () => {
        clearTimeout(timer);
        slowTimers.delete(timer);
      });
    }
  };
  return { handler, answers, pendingSlow: () => slowTimers.size };
}

/** A full GC in the child (--expose-gc), then its heap used and active handles. */
async function afterGc(inspector) {
  const { result, exceptionDetails } = await inspector.send('Runtime.evaluate', {
    expression:
      'gc(), JSON.stringify({ heapUsed: process.memoryUsage().heapUsed, ' +
      'handles: process._getActiveHandles().length })',
    returnByValue: true,
  });
  if (exceptionDetails) throw new Error(exceptionDetails.text);
  return JSON.parse(result.value);
}

function vmRssBytes(pid) {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined; // not Linux, or the process is gone
  }
}

async function main() {
  const options = parseOptions(process.argv.slice(2), {
    requests: 100_000,
    connections: 100,
    seed: 1,
  });
  const upstream = flappingUpstream(options.seed);
  const stub = await startStub(upstream.handler);
  const storeBound = Math.max(64 * 1024, options.requests * STORE_BYTES_PER_REQUEST);
  const bff = await startBff({
    upstreamUrl: stub.url,
    nodeArgs: ['--expose-gc', '--inspect=127.0.0.1:0'],
    env: {
      UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
      BREAKER_RESET_TIMEOUT_MS: String(BREAKER_RESET_TIMEOUT_MS),
      IDEMPOTENCY_MAX_BYTES: String(storeBound),
      IDEMPOTENCY_MAX_ENTRIES: '10000000', // the byte bound is the one under test
    },
  });
  // At ~500 answers/s at worst on 2 cores, plus start-up and drain.
  const cancelWatchdog = watchdog((options.requests / 200 + 120) * 1000, async () => {
    await bff.stop();
    await stub.stop();
  });
  if (!bff.output.inspectorUrl) throw new Error('the BFF printed no inspector address');
  const inspector = await connectInspector(bff.output.inspectorUrl);

  let answered = 0;
  const samples = [];
  const sample = async () => {
    const metrics = await scrapeMetrics(bff.url);
    const gc = await afterGc(inspector);
    samples.push({
      x: answered,
      vmRss: vmRssBytes(bff.pid),
      rss: metricSum(metrics, 'process_resident_memory_bytes'),
      heapUsed: metricSum(metrics, 'nodejs_heap_size_used_bytes'),
      handles: metricSum(metrics, 'nodejs_active_handles_total'),
      heapAfterGc: gc.heapUsed,
      handlesAfterGc: gc.handles,
      breakerOpen: metricSum(metrics, 'upstream_circuit_breaker_state') === 2,
      storeBytes: metricSum(metrics, 'idempotency_store_bytes'),
    });
  };
  await sample();

  let running = true;
  const sampler = (async () => {
    const maxSamples = Math.ceil((options.requests / 200 + 120) * (1000 / SAMPLE_EVERY_MS));
    while (running && samples.length < maxSamples && !bff.exited) {
      const started = Date.now();
      await sample().catch((error) => process.stderr.write(`sample failed: ${error.message}\n`));
      await sleep(Math.max(0, SAMPLE_EVERY_MS - (Date.now() - started)));
    }
  })();

  const started = performance.now();
  const { result, window } = await runAutocannon(
    {
      ...validCreate(bff.url),
      connections: options.connections,
      amount: options.requests,
      timeout: 10,
      // Taken in turn: a fresh key (autocannon puts a unique id for [<id>]), then no key.
      requests: [{ headers: { 'idempotency-key': 'soak-[<id>]' } }, {}],
      idReplacement: true,
    },
    { onResponse: () => (answered += 1) },
  );
  const wallSeconds = (performance.now() - started) / 1000;
  running = false;
  await sampler;
  const idle = await waitUpstreamIdle(bff.url);
  await sleep(SLOW_ANSWER_MS + 100); // the stub's late answers fire and are dropped
  await sample(); // at rest, after the run
  const bffAnswered = answeredByStatus(await scrapeMetrics(bff.url));
  const aliveDuringRun = !bff.exited;
  inspector.close();
  const ended = await bff.stop();
  await stub.stop();
  cancelWatchdog();

  // Trends over the second half of the run (by requests answered), at rest sample excluded.
  const during = samples.slice(0, -1);
  const secondHalf = during.filter((s) => s.x >= options.requests / 2);
  const span = secondHalf.length ? secondHalf.at(-1).x - secondHalf[0].x : 0;
  const trend = (key) => {
    const points = secondHalf
      .filter((s) => s[key] !== undefined)
      .map((s) => ({ x: s.x, y: s[key] }));
    const perRequest = slope(points);
    return {
      per10k: perRequest === undefined ? undefined : perRequest * 10_000,
      overHalf: perRequest === undefined ? undefined : perRequest * span,
    };
  };
  const heapTrend = trend('heapAfterGc');
  const handleTrend = trend('handlesAfterGc');
  const first = samples[0];
  const last = samples.at(-1);
  const storeSeen = samples.map((s) => s.storeBytes ?? 0);
  const storeSecondHalf = secondHalf.map((s) => s.storeBytes ?? 0);
  /** The store at 25%, 50% and 75% of the requests answered, then at rest. */
  const storeOverTime = [0.25, 0.5, 0.75]
    .map((share) => samples.find((s) => s.x >= share * options.requests)?.storeBytes)
    .concat(last.storeBytes)
    .map(fmt.mb)
    .join(' → ');

  const statuses = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
  );
  const undocumented = Object.keys(statuses).filter((code) => !DOCUMENTED_STATUSES.has(code));
  const total = result.requests.total;
  const checks = [
    [aliveDuringRun, 'the BFF exited during the run'],
    [
      ended.code === 0,
      `the BFF ended with ${ended.signal ?? `exit code ${ended.code}`} on SIGTERM`,
    ],
    [bff.output.unhandled.length === 0, `unhandled error logged: ${bff.output.unhandled[0]}`],
    [undocumented.length === 0, `undocumented statuses ${undocumented.join(', ')}`],
    [result.errors === 0, `${result.errors} connection errors`],
    [result.timeouts === 0, `${result.timeouts} requests unanswered within 10 s`],
    [total >= options.requests, `only ${total} of ${options.requests} requests answered`],
    [stub.stats.wrongRequests === 0, `${stub.stats.wrongRequests} wrongly forwarded requests`],
    [idle, 'upstream calls still in flight 10 s after the run'],
    [
      heapTrend.overHalf === undefined || heapTrend.overHalf <= HEAP_GROWTH_BOUND_BYTES,
      `heap after GC grew ${fmt.mb(heapTrend.overHalf)} over the second half (bound ${fmt.mb(HEAP_GROWTH_BOUND_BYTES)})`,
    ],
    [
      handleTrend.overHalf === undefined || handleTrend.overHalf <= HANDLE_GROWTH_BOUND,
      `active handles grew by ${Math.round(handleTrend.overHalf)} over the second half (bound ${HANDLE_GROWTH_BOUND})`,
    ],
    [
      Math.max(...storeSeen) <= storeBound,
      `the idempotency store held ${fmt.mb(Math.max(...storeSeen))}, over its bound ${fmt.mb(storeBound)}`,
    ],
    [
      storeSecondHalf.every((bytes) => bytes >= STORE_FULL_SHARE * storeBound),
      `the idempotency store was not full and flat over the second half (min ${fmt.mb(Math.min(...storeSecondHalf))})`,
    ],
    [
      // The run is too short for a slope: the heap at rest must then be back near its start.
      heapTrend.overHalf !== undefined ||
        last.heapAfterGc - first.heapAfterGc <= 2 * HEAP_GROWTH_BOUND_BYTES,
      `heap after GC grew ${fmt.mb(last.heapAfterGc - first.heapAfterGc)} over a run too short for a slope`,
    ],
  ];
  const failures = checks.filter(([ok]) => !ok).map(([, message]) => message);
  const mix = ['201', '502', '503', '504', '429']
    .filter((code) => statuses[code] !== undefined)
    .map((code) => `${code}: ${fmt.int(statuses[code])} (${fmt.pct(statuses[code], total)})`)
    .concat(undocumented.map((code) => `${code}: ${fmt.int(statuses[code])} (undocumented)`))
    .join(', ');
  const stubMix = Object.entries(upstream.answers)
    .map(([kind, count]) => `${kind} ${fmt.int(count)}`)
    .join(', ');
  const perTenK = (value, unit) =>
    value === undefined
      ? 'n/a (run too short)'
      : unit === 'bytes'
        ? `${value >= 0 ? '+' : ''}${(value / 1024).toFixed(1)} KB per 10k requests`
        : `${value >= 0 ? '+' : ''}${value.toFixed(2)} per 10k requests`;
  const rssTrend = trend('vmRss');
  const rawHeapTrend = trend('heapUsed');

  printTable(
    `Soak: ${fmt.int(options.requests)} requests, ${options.connections} connections, flapping upstream (${environmentLine()})`,
    [
      [
        'requests answered',
        `${fmt.int(total)} in ${wallSeconds.toFixed(0)} s (${fmt.int(window.perSecond)} req/s)`,
      ],
      ['answers', mix],
      ['errors / timeouts', `${result.errors} / ${result.timeouts}`],
      [
        'latency p50 / p99 / max (max: start-up burst)',
        `${fmt.ms(window.p50)} / ${fmt.ms(window.p99)} / ${fmt.ms(window.max)}`,
      ],
      ['upstream stub answers', stubMix],
      ['breaker opened (log lines)', fmt.int(bff.output.breakerOpened)],
      [
        'BFF 201s (BFF metrics) / stub 201s',
        `${fmt.int(bffAnswered['201'] ?? 0)} / ${fmt.int(upstream.answers.created)}`,
      ],
      [
        'stub 201 in time, caller got no 201',
        `${fmt.int(upstream.answers.created - (bffAnswered['201'] ?? 0))} (504: the ${UPSTREAM_TIMEOUT_MS} ms deadline fired before the busy event loop read the answer)`,
      ],
      [
        'heap after GC: start → end (at rest)',
        `${fmt.mb(first.heapAfterGc)} → ${fmt.mb(last.heapAfterGc)}`,
      ],
      ['heap after GC slope, 2nd half', perTenK(heapTrend.per10k, 'bytes')],
      ['heap used (metrics) slope, 2nd half', perTenK(rawHeapTrend.per10k, 'bytes')],
      ['RSS (/proc VmRSS): start → end', `${fmt.mb(first.vmRss)} → ${fmt.mb(last.vmRss)}`],
      ['RSS slope, 2nd half', perTenK(rssTrend.per10k, 'bytes')],
      ['active handles after GC: start → end', `${first.handlesAfterGc} → ${last.handlesAfterGc}`],
      ['active handles slope, 2nd half', perTenK(handleTrend.per10k, 'count')],
      [
        'idempotency store bytes: 25% → 50% → 75% → rest',
        `${storeOverTime} (bound ${fmt.mb(storeBound)})`,
      ],
      ['samples (1/s), in 2nd half', `${samples.length}, ${secondHalf.length}`],
      [
        'process',
        `${aliveDuringRun ? 'up throughout' : 'DIED'}; SIGTERM → ${ended.signal ?? `exit ${ended.code}`}; unhandled: ${bff.output.unhandled.length}; warn/error lines: ${bff.output.warnLines}/${bff.output.errorLines}`,
      ],
      ['result', failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`],
    ],
  );
  if (failures.length > 0) {
    process.stderr.write(`BFF output (last lines):\n${bff.output.tail.join('\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
