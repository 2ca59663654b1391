import fc from 'fast-check';
import { Holdings, LargestFirst } from './largest-first';

describe('LargestFirst', () => {
  it('always has on top an address holding the most, whatever the adds, changes and removals', () => {
    const operation = fc.tuple(fc.constantFrom('add', 'change', 'remove'), fc.nat(), fc.nat(5000));
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 300 }), (operations) => {
        const heap = new LargestFirst();
        const present: Holdings[] = [];
        for (const [kind, pick, bytes] of operations) {
          if (kind === 'add' || present.length === 0) {
            const holdings = { keys: new Set<string>(), bytes, place: 0 };
            present.push(holdings);
            heap.add(holdings);
          } else if (kind === 'change') {
            const holdings = present[pick % present.length];
            holdings.bytes = bytes;
            heap.update(holdings);
          } else {
            heap.remove(present.splice(pick % present.length, 1)[0]);
          }
          const most = Math.max(...present.map((h) => h.bytes));
          expect(heap.top?.bytes).toBe(present.length ? most : undefined);
        }
      }),
    );
  });
});
