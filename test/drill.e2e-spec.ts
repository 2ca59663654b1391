// `npm run drill` (scripts/drill.mjs) in short form, against the built dist/ (`npm test` builds
// before jest): 2 replicas behind nginx, redis-server with AOF, rolled, one SIGKILLed, Redis
// SIGKILLed and restarted, same-key bursts to every replica, one caller past its budget. The full
// run (4 replicas, and Redis memory per 10,000 records) and its figures: docs/scaling.md.
import { runScript } from './support/run-script';

/** The value column of a row of the printed Markdown table. */
function row(stdout: string, name: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith(`| ${name} `));
  if (!line) throw new Error(`no row "${name}" in:\n${stdout}`);
  return line.split('|')[2].trim();
}

describe('the scale drill (shortened)', () => {
  let stdout = '';

  beforeAll(async () => {
    const run = await runScript(
      'drill.mjs',
      [
        '--replicas',
        '2',
        '--callers',
        '12',
        '--bursts',
        '3',
        '--memory-keys',
        '0',
        '--round-trips',
        '50',
      ],
      170_000,
    );
    // stderr shown only when the script failed: it then lists the failed requests.
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    stdout = run.stdout;
  }, 180_000);

  it('passes: every check of the drill holds', () => {
    expect(stdout).toContain('### Drill: 2 replicas behind nginx, 12 keyed callers, Redis AOF');
    expect(row(stdout, 'result')).toBe('PASS');
  });

  it('creates no key twice: steady traffic, retries, and bursts of one key to every replica', () => {
    expect(row(stdout, 'keys created twice')).toBe('0');
    expect(row(stdout, 'upstream creates per key (max)')).toBe('1');
    expect(row(stdout, 'same-key bursts (3 × 2 replicas × 2): creates per key')).toBe('1, 1, 1');
    const int = (text: string) => Number(text.replace(/,/g, ''));
    const [sent, answered] = row(stdout, 'keys sent / answered 201').split(' / ').map(int);
    expect(sent).toBeGreaterThan(100);
    // Only a key in flight on the SIGKILLed replica may stay unanswered: its claim outlives the
    // caller's 8 s of retries (409 outcome-unknown, never forwarded again). Every other key is
    // answered 201.
    const [claimedAtKill] = row(
      stdout,
      'SIGKILL: keys never answered 201 (still claimed when their caller gave up) / of them created upstream',
    )
      .split(' / ')
      .map(int);
    expect(sent - answered).toBe(claimedAtKill);
    expect(claimedAtKill).toBeLessThanOrEqual(12);
  });

  it('fails no request while every replica is rolled, nor outside the SIGKILLed one', () => {
    const rolling = stdout.split('\n').find((l) => l.startsWith('| rolling restarts (2 replicas'));
    expect(rolling?.split('|')[2].trim()).toMatch(/^[\d,]+ \/ 0$/);
    expect(
      row(stdout, 'SIGKILL: failed in flight on the killed replica / failed elsewhere'),
    ).toMatch(/^\d+ \/ 0$/);
  });

  it('lets one caller spend exactly its budget across the replicas', () => {
    expect(
      row(stdout, 'budget 600/min, one caller, 1,200 sent over 2 replicas: accepted / overshoot'),
    ).toBe('600 / 0');
  });

  it('keeps Redis work per request fixed: at most 3 round trips unkeyed, 5 keyed', () => {
    const trips = (name: string) => Number(row(stdout, name).split(' ')[0]);
    expect(trips('Redis round trips per request, unkeyed')).toBeLessThanOrEqual(3);
    expect(trips('Redis round trips per request, keyed (first send)')).toBeLessThanOrEqual(5);
    expect(row(stdout, 'Redis connections (all replicas)')).toBe('2');
  });
});
