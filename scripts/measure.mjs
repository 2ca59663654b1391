// Readings the bench, memory and soak scripts share: CPU pinning, a process's CPU time, slopes.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

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
