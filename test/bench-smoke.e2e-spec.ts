// `npm run bench` (scripts/bench.mjs) in its one-short-round form, against the built dist/
// (`npm test` builds before jest), so the script does not rot. No figure is asserted: the bench's
// figures are in docs/performance.md and test-artifacts/bench.json.
import { runScript } from './support/run-script';

describe('bench script (smoke)', () => {
  it('runs one short round, direct, through the BFF (bearer and session mode) and through its peers, and prints its table', async () => {
    const run = await runScript('bench.mjs', ['--smoke', '--session'], 90_000);
    // stderr shown only when the script failed.
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(run.stdout).toContain('### Bench: POST /interventions/v2/rs/preventive/routine, direct');
    expect(run.stdout).toMatch(/^\| target +\| conn +\| req\/s +\| p50 +\| p99 +\|/m);
    expect(run.stdout).toMatch(/^\| upstream stub, direct +\| 1 +\|/m);
    expect(run.stdout).toMatch(/^\| BFF \(all features on\) +\| 50 +\|/m);
    // Session mode: 100 logins at the development provider, then their cookies, all answered 2xx.
    expect(run.stdout).toMatch(/^\| BFF in session mode \(all features on\) +\| 50 +\|/m);
    expect(run.stdout).toMatch(
      /^- session mode over bearer mode, CPU per request, median of per-round differences: [+-]\d/m,
    );
    expect(run.stdout).toMatch(/^\| peer: fastify \+ @fastify\/reply-from +\| 50 +\|/m);
    expect(run.stdout).toMatch(
      /^- BFF \/ nest-minimal CPU per request, median of per-round ratios: \d/m,
    );
    // Bytes per request from each proxy's V8 GC records (--trace-gc-nvp), which are not log lines.
    expect(run.stdout).toMatch(
      /^- bytes allocated per request .*: bff \d+\.\d KB, bff-session \d+\.\d KB, nest-minimal \d+\.\d KB, .*; BFF - nest-minimal -?\d+\.\d KB/m,
    );
    expect(run.stdout).toContain('- result: PASS');
  }, 100_000);
});
