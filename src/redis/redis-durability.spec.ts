import { persistsKeys } from './redis-durability';

/** The fields of `INFO persistence` that matter, as redis-server 7 prints them. */
const info = (aof: 0 | 1, lastBgsaveSeconds: number) =>
  `# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\nrdb_last_bgsave_status:ok\r\n` +
  `rdb_last_bgsave_time_sec:${lastBgsaveSeconds}\r\naof_enabled:${aof}\r\naof_rewrite_in_progress:0\r\n`;

describe('persistsKeys', () => {
  it.each([
    ['AOF on', info(1, -1), true],
    // Issue 24: a past snapshot no longer counts (it was `true`).
    ['an RDB snapshot written since start, no AOF', info(0, 0), false],
    ['neither', info(0, -1), false],
    ['an answer without the fields', '# Persistence\r\n', false],
  ])('%s: %s', (_case, text, durable) => {
    expect(persistsKeys(text)).toBe(durable);
  });
});
