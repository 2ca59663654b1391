import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { DurationHistogram } from './duration-histogram';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];
const LABELS = ['route', 'status_code'] as const;

describe('DurationHistogram', () => {
  it("exposes exactly what prom-client's Histogram exposes for the same observations", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom('/a', '/b/:id'),
            fc.constantFrom('201', '400', '502'),
            // Bucket bounds themselves included: a value equal to a bound counts in that bucket.
            fc.oneof(fc.constantFrom(...BUCKETS), fc.double({ min: 0, max: 20, noNaN: true })),
          ),
          { maxLength: 40 },
        ),
        async (observations) => {
          const ours = new Registry();
          const theirs = new Registry();
          const fast = new DurationHistogram('d_seconds', 'Help.', LABELS, BUCKETS, ours);
          const reference = new Histogram({
            name: 'd_seconds',
            help: 'Help.',
            labelNames: LABELS,
            buckets: BUCKETS,
            registers: [theirs],
          });
          for (const [route, status, seconds] of observations) {
            fast.series(route, status).observe(seconds);
            reference.labels(route, status).observe(seconds);
          }
          expect(await ours.metrics()).toBe(await theirs.metrics());
        },
      ),
      { numRuns: 200 },
    );
  });

  it('starts again from nothing on reset', async () => {
    const registry = new Registry();
    const histogram = new DurationHistogram('d_seconds', 'Help.', LABELS, BUCKETS, registry);
    histogram.series('/a', '201').observe(0.5);
    histogram.reset();
    expect(await registry.metrics()).not.toContain('d_seconds_count');
  });
});
