// The load and soak scripts (scripts/load.mjs, scripts/soak.mjs) in shortened form, against
// the built dist/ (`npm test` builds before jest). The full runs are `npm run test:load` (30 s) and
// `npm run test:soak` (100,000 requests); their figures are in docs/reliability.md.
import { runScript } from './support/run-script';

/** The value column of a row of the printed Markdown table. */
function row(stdout: string, name: string): string | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith(`| ${name} `));
  return line?.split('|')[2]?.trim();
}

describe('load and soak scripts (shortened)', () => {
  it('load: 100 connections for 3 s, no error, no non-2xx, creates = 201s', async () => {
    const run = await runScript('load.mjs', ['--duration', '3'], 60_000);
    // stderr shown only when the script failed: it then holds the BFF's last lines.
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(run.stdout).toContain('### Load: 100 connections, 3 s measured');
    expect(row(run.stdout, 'result')).toBe('PASS');
    expect(row(run.stdout, 'errors / timeouts')).toBe('0 / 0');
    expect(row(run.stdout, 'non-2xx')).toBe('0');
    const creates = row(run.stdout, 'stub creates');
    expect(Number(creates?.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(row(run.stdout, 'BFF 201s (seen by autocannon)')).toBe(creates);
  }, 70_000);

  it('soak: 5,000 requests against a flapping upstream, documented statuses only, flat heap and idempotency store', async () => {
    const run = await runScript('soak.mjs', ['--requests', '5000'], 60_000);
    // stderr shown only when the script failed: it then holds the BFF's last lines.
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(run.stdout).toContain('### Soak: 5,000 requests, 100 connections, flapping upstream');
    expect(row(run.stdout, 'result')).toBe('PASS');
    expect(row(run.stdout, 'requests answered')).toMatch(/^5,000 in /);
    expect(row(run.stdout, 'answers')).toMatch(/^201: /);
    expect(row(run.stdout, 'answers')).not.toContain('undocumented');
    expect(row(run.stdout, 'process')).toMatch(/^up throughout; SIGTERM → exit 0; unhandled: 0;/);
    // Keyed traffic fills the in-process store to its bound early; the PASS above says it stayed flat.
    expect(row(run.stdout, 'idempotency store bytes: 25% → 50% → 75% → rest')).toMatch(
      /^(\d+\.\d MB → ){3}\d+\.\d MB \(bound \d+\.\d MB\)$/,
    );
  }, 70_000);
});
