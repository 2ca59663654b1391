import { MemoryWindowCounters } from './window-counters';

describe('MemoryWindowCounters', () => {
  let counters: MemoryWindowCounters;
  beforeEach(() => (counters = new MemoryWindowCounters()));
  afterEach(() => counters.close());

  it('counts hits in the window opened by the first one, and peeks without counting', async () => {
    expect(await counters.peek('k')).toEqual({ count: 0, resetMs: 0 });
    expect((await counters.hit('k', 1000)).count).toBe(1);
    expect((await counters.hit('k', 1000)).count).toBe(2);
    const peeked = await counters.peek('k');
    expect(peeked.count).toBe(2);
    expect(peeked.resetMs).toBeGreaterThan(900);
    expect(peeked.resetMs).toBeLessThanOrEqual(1000);
    expect((await counters.hit('other', 1000)).count).toBe(1);
  });

  it('starts a new window once the last one ended', async () => {
    await counters.hit('k', 20);
    await counters.hit('k', 20);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect((await counters.peek('k')).count).toBe(0);
    expect((await counters.hit('k', 20)).count).toBe(1);
  });
});
