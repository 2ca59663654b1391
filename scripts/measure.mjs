// What the bench, memory and soak scripts share: CPU pinning, /proc readings, one sampled
// autocannon run, medians and slopes.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import autocannon from 'autocannon';
import { VALID_BODY } from './load.mjs';

export const CLK_TCK =
  Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** The machine's CPUs, read before this process pins itself to one. */
export const CPUS = availableParallelism();

/**
 * With 2+ CPUs and taskset: the server(s) measured get CPU 0, this process (autocannon and the
 * upstream stub) CPU 1.
 * @returns {{ bff: string, load: string } | undefined}
 */
export function pinning() {
  if (process.platform !== 'linux' || CPUS < 2) return undefined;
  try {
    execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
    return { bff: '0', load: '1' };
  } catch {
    return undefined;
  }
}

/**
 * utime + stime of a process, all its threads, in µs.
 * @param {number} pid
 */
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}

/**
 * Least-squares slope of y over x; undefined below 3 points or when x does not vary.
 * @param {{ x: number, y: number }[]} points
 */
export function slope(points) {
  if (points.length < 3) return undefined;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  if (sxx === 0) return undefined;
  return points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}

/**
 * Callers, each its own bearer token, taken in turn; all from one address, so the per-address
 * budget's key is as busy as a NAT's. `--callers 1` is the one-hot caller: every budget is a
 * fixed-window counter, O(1) per request however busy its key.
 */
export const DEFAULT_CALLERS = 10_000;

/**
 * @typedef {number | readonly string[] | readonly Record<string, string>[]} Callers
 *   how many made-up bearer tokens, the tokens themselves (signed JWTs), or each caller's headers
 *   (a session's cookie and X-CSRF)
 */

/**
 * The credential headers of the `sent`-th request: callers are taken in turn.
 * @param {Callers} callers @param {number} sent @returns {Record<string, string>}
 */
function credentialsOf(callers, sent) {
  if (typeof callers === 'number') {
    return { authorization: `Bearer bench-caller-${(sent % callers).toString(36)}` };
  }
  const caller = callers[sent % callers.length];
  return typeof caller === 'string' ? { authorization: `Bearer ${caller}` } : caller;
}
const RSS_SAMPLE_MS = 10_000;

/** Busy CPU time of the whole machine (all CPUs), in µs. */
function machineBusyMicros() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
  return ((user + nice + system + irq + softirq + steal) * 1e6) / CLK_TCK;
}

/**
 * VmRSS, VmHWM (peak RSS) and RssAnon of a process, in bytes. RSS includes the node binary's
 * mapped pages (~55 MB here: file-backed, reclaimable); RssAnon is the process's own memory.
 * @param {number} pid
 */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (/** @type {string} */ name) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon') };
}

/**
 * @param {number[]} sorted
 * @param {number} q
 */
function quantile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** @param {number[]} values */
export const median = (values) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * @typedef {object} Sample what the BFF used in one 10 s slice of a memory run (only `seconds` and
 *   the memory figures in the first, taken after the warm-up)
 * @property {number} seconds since the start of the run
 * @property {number} rss VmRSS, bytes
 * @property {number} hwm VmHWM (peak RSS), bytes
 * @property {number} anon RssAnon (the process's own memory), bytes
 * @property {number} [perSecond] answers per second in the slice
 * @property {number} [cpuPerRequest] the BFF's CPU per answer in the slice, µs
 */

/**
 * @typedef {object} RunResult one autocannon run; the CPU and memory figures only with a `pid`
 * @property {number} connections
 * @property {number} seconds
 * @property {number} requests answers received
 * @property {number} perSecond
 * @property {number} p50 ms
 * @property {number} p99 ms
 * @property {number} errors
 * @property {number} timeouts
 * @property {number} non2xx
 * @property {number} othersCpu CPUs the rest of the machine used meanwhile
 * @property {number} [cpuPerRequest] µs
 * @property {number} [allocatedBytes] what the server's heap allocated during the run (with `allocated`)
 * @property {number} [allocatedPerRequest] bytes per answer
 * @property {number} [rss] bytes
 * @property {number} [hwm] bytes
 * @property {number} [anon] bytes
 */

/**
 * autocannon against `url` for `seconds`; latencies are autocannon's per-response times (ms,
 * sub-millisecond). With `pid`, that process's CPU and memory are read around the run and, with
 * `onSample`, every 10 s during it. With `allocated` (the server's bytes allocated so far, e.g.
 * summed from its `--trace-gc-nvp` records), the bytes it allocated per answer: read before and
 * after the run, so exact to within one GC's worth at each end (a young generation, a few MB).
 *
 * @param {string} url
 * @param {number} connections
 * @param {number} seconds
 * @param {{ pid?: number, onSample?: (sample: Sample) => void, callers?: Callers, allocated?: () => number }} [options]
 * @returns {Promise<RunResult>}
 */
export async function run(
  url,
  connections,
  seconds,
  { pid, onSample, callers = DEFAULT_CALLERS, allocated } = {},
) {
  const latencies = [];
  let answers = 0;
  let sent = 0;
  const cpuBefore = pid && cpuMicros(pid);
  const allocatedBefore = allocated?.();
  const ownBefore = process.cpuUsage();
  const machineBefore = machineBusyMicros();
  const started = performance.now();
  let sampler;
  if (pid && onSample) {
    let last = { at: started, cpu: cpuBefore, answers: 0 };
    sampler = setInterval(() => {
      const now = { at: performance.now(), cpu: cpuMicros(pid), answers };
      onSample({
        seconds: (now.at - started) / 1000,
        ...memory(pid),
        perSecond: ((now.answers - last.answers) * 1000) / (now.at - last.at),
        cpuPerRequest: (now.cpu - last.cpu) / Math.max(1, now.answers - last.answers),
      });
      last = now;
    }, RSS_SAMPLE_MS);
  }
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: VALID_BODY,
            setupRequest: (request) => ({
              ...request,
              headers: {
                ...request.headers,
                ...credentialsOf(callers, sent++),
              },
            }),
          },
        ],
        duration: seconds,
      },
      (error, output) => (error ? reject(error) : resolve(output)),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      answers += 1;
      latencies.push(responseTime);
    });
  });
  clearInterval(sampler);
  const elapsed = (performance.now() - started) / 1000;
  const bffCpu = pid ? cpuMicros(pid) - cpuBefore : 0;
  const allocatedBytes = allocated && allocated() - allocatedBefore;
  const own = process.cpuUsage(ownBefore);
  // What the rest of the machine (other processes) used meanwhile, in CPUs: noise in the figures.
  const othersCpu =
    (machineBusyMicros() - machineBefore - bffCpu - own.user - own.system) / (elapsed * 1e6);
  const sorted = latencies.sort((a, b) => a - b);
  return {
    connections,
    seconds: elapsed,
    requests: answers,
    perSecond: answers / elapsed,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    othersCpu: Math.max(0, othersCpu),
    ...(pid && {
      cpuPerRequest: bffCpu / Math.max(1, answers),
      ...memory(pid),
    }),
    ...(allocated && {
      allocatedBytes,
      allocatedPerRequest: allocatedBytes / Math.max(1, answers),
    }),
  };
}
