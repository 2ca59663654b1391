import { GlobalFailureBudget } from './global-failure-budget';
import { MemoryWindowCounters } from './window-counters';

describe('GlobalFailureBudget (one replica)', () => {
  let counters: MemoryWindowCounters;
  let warnings: number[];
  let budget: GlobalFailureBudget;
  beforeEach(() => {
    counters = new MemoryWindowCounters();
    warnings = [];
    budget = new GlobalFailureBudget(counters, 3, null, (count) => warnings.push(count));
  });
  afterEach(() => {
    budget.close();
    counters.close();
  });

  it('counts distinct credentials: one retried is one failure', async () => {
    for (let i = 0; i < 5; i += 1) await budget.failed('token:a');
    await budget.failed('token:b');
    expect(budget.spent).toBe(false);
    await budget.failed('token:c');
    expect(budget.spent).toBe(true);
    expect(budget.admits()).toBe(false);
    expect(budget.resetMs).toBeGreaterThan(59_000);
  });

  it('counts credentials being tried against what is left, until they settle', async () => {
    await budget.failed('token:a');
    budget.trial();
    expect(budget.admits()).toBe(true);
    budget.trial();
    expect(budget.admits()).toBe(false);
    expect(budget.spent).toBe(false);
    budget.settled();
    expect(budget.admits()).toBe(true);
  });

  it('warns once when spent, not for each failure after', async () => {
    for (const key of ['a', 'b', 'c', 'd', 'e']) await budget.failed(key);
    expect(warnings).toEqual([3]);
  });

  it('is off at 0', async () => {
    const off = new GlobalFailureBudget(counters, 0, null, () => undefined);
    for (const key of ['a', 'b', 'c', 'd']) await off.failed(key);
    off.trial();
    expect(off.spent).toBe(false);
    expect(off.admits()).toBe(true);
    off.close();
  });
});
