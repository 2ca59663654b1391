import { fingerprintOf, keepable, parseIdempotencyKey } from './idempotency.service';
import {
  IdempotencyStoreFull,
  MemoryIdempotencyStore,
  RECORD_OVERHEAD_BYTES,
} from './idempotency.store';

describe('parseIdempotencyKey', () => {
  it.each([
    ['abc-123', 'abc-123'],
    ['"abc-123"', 'abc-123'],
    ['a:b.c_d-e', 'a:b.c_d-e'],
    ['x'.repeat(255), 'x'.repeat(255)],
  ])('accepts %s', (header, key) => expect(parseIdempotencyKey(header)).toBe(key));

  it('is undefined without the header', () =>
    expect(parseIdempotencyKey(undefined)).toBeUndefined());

  it.each(['', '""', 'has space', 'x'.repeat(256), '"unterminated', 'semi;colon', 'é'])(
    'rejects %j with a 400',
    (header) => {
      expect(() => parseIdempotencyKey(header)).toThrow(
        expect.objectContaining({ problem: expect.objectContaining({ status: 400 }) }),
      );
    },
  );
});

describe('fingerprintOf', () => {
  it('ignores key order but not values', () => {
    expect(fingerprintOf({ a: 1, b: 'x' })).toBe(fingerprintOf({ b: 'x', a: 1 }));
    expect(fingerprintOf({ a: 1, b: 'x' })).not.toBe(fingerprintOf({ a: 1, b: 'y' }));
    expect(fingerprintOf({ a: 1 })).not.toBe(fingerprintOf({ a: '1' }));
  });
});

describe('MemoryIdempotencyStore', () => {
  const response = { status: 201, contentType: 'application/json', body: '{}', headers: {} };
  const LOOSE = { maxEntries: 10, maxBytes: 1024 * 1024 };
  const TIMES = { lockMs: 1000, ttlMs: 60_000 };
  const ref = (key: string, owner = 'a') => ({ key, owner, fingerprint: 'f', requestId: 'r1' });
  const held = async (store: MemoryIdempotencyStore, key: string, owner = 'a') =>
    !(await store.claim(ref(key, owner), TIMES)).claimed;

  it('claims once, then reports the holder', async () => {
    const store = new MemoryIdempotencyStore(LOOSE);
    expect(await store.claim(ref('k'), TIMES)).toEqual({ claimed: true });
    expect(await store.claim(ref('k'), TIMES)).toEqual({
      claimed: false,
      existing: { state: 'in_flight', fingerprint: 'f', requestId: 'r1' },
    });
    await store.complete(ref('k'), response, 1000);
    expect(await store.claim(ref('k'), TIMES)).toEqual({
      claimed: false,
      existing: { state: 'done', fingerprint: 'f', response },
    });
    await store.release('k');
    expect(await store.claim(ref('k'), TIMES)).toEqual({ claimed: true });
  });

  it('forgets a key after its TTL, and sweeps expired records out of its byte count', async () => {
    const store = new MemoryIdempotencyStore(LOOSE);
    await store.complete(ref('k'), response, 20);
    await new Promise((resolve) => setTimeout(resolve, 40));
    await store.complete(ref('other'), response, 60_000);
    const onlyOther = new MemoryIdempotencyStore(LOOSE);
    await onlyOther.complete(ref('other'), response, 60_000);
    expect(store.bytes).toBe(onlyOther.bytes);
    expect(await store.claim(ref('k'), TIMES)).toEqual({ claimed: true });
  });

  /** A key claimed, then completed, as the service does it; false when the store refused it. */
  const admit = async (
    store: MemoryIdempotencyStore,
    key: string,
    owner = 'a',
    answer = response,
  ) => {
    try {
      await store.claim(ref(key, owner), TIMES);
    } catch (error) {
      if (error instanceof IdempotencyStoreFull) return false;
      throw error;
    }
    await store.complete(ref(key, owner), answer, 60_000);
    return true;
  };

  // Issue 24, item 2: these replace tests of eviction ("dropping the oldest keys", "a flood from
  // one address evicts only its own records", "the address holding the most bytes loses its
  // oldest"): a live record is never dropped.
  it('with its entries full, refuses new keys (retry after the oldest expires) and keeps every record', async () => {
    const refusals = jest.fn();
    const store = new MemoryIdempotencyStore({ ...LOOSE, maxEntries: 3 }, refusals);
    for (const [key, owner] of [
      ['k1', 'a'],
      ['k2', 'b'],
      ['k3', 'c'],
    ]) {
      expect(await admit(store, key, owner)).toBe(true);
    }
    await expect(store.claim(ref('k4', 'd'), TIMES)).rejects.toEqual(
      expect.objectContaining({ retryAfterS: 60 }),
    );
    expect(refusals).toHaveBeenCalledTimes(1);
    for (const [key, owner] of [
      ['k1', 'a'],
      ['k2', 'b'],
      ['k3', 'c'],
    ]) {
      expect(await held(store, key, owner)).toBe(true);
    }
  });

  it('past 3/4 of a bound, the address holding the most is refused first; the others until full', async () => {
    const store = new MemoryIdempotencyStore({ ...LOOSE, maxEntries: 8 });
    for (let i = 0; i < 6; i += 1) expect(await admit(store, `a${i}`)).toBe(true);
    expect(await admit(store, 'a6')).toBe(false);
    expect(await admit(store, 'b0', 'b')).toBe(true);
    expect(await admit(store, 'c0', 'c')).toBe(true);
    expect(await admit(store, 'd0', 'd')).toBe(false);
    for (let i = 0; i < 6; i += 1) expect(await held(store, `a${i}`)).toBe(true);
  });

  it('a flood of large answers from one address: refused at its bound, the victim and the flood kept', async () => {
    const big = { ...response, body: 'x'.repeat(10_000) };
    const store = new MemoryIdempotencyStore({ maxEntries: 1000, maxBytes: 100_000 });
    expect(await admit(store, 'victim', 'b', big)).toBe(true);
    const admitted = [];
    for (let i = 0; i < 50; i += 1) admitted.push(await admit(store, `flood-${i}`, 'a', big));
    expect(admitted.filter(Boolean).length).toBeLessThan(10);
    expect(store.bytes).toBeLessThanOrEqual(100_000 + 10_500);
    expect(await held(store, 'victim', 'b')).toBe(true);
    expect(await held(store, 'flood-0')).toBe(true);
  });

  it('counts bytes: the key, the stored JSON and a fixed overhead per record; release gives them back', async () => {
    const store = new MemoryIdempotencyStore(LOOSE);
    await store.complete(ref('k'), { ...response, body: 'é'.repeat(1000) }, 60_000);
    // 2,000 UTF-8 bytes of body, the rest of the JSON and the overhead.
    expect(store.bytes).toBeGreaterThan(2000 + RECORD_OVERHEAD_BYTES);
    expect(store.bytes).toBeLessThan(2200 + RECORD_OVERHEAD_BYTES);
    await store.release('k');
    expect(store.bytes).toBe(0);
  });
});

describe('keepable', () => {
  const ids = { requestId: 'first-request', traceId: 't'.repeat(32) };
  const created = { status: 201, contentType: 'application/json', headers: { 'retry-after': '1' } };

  it('keeps an answer within the bound as it is', () => {
    const response = { ...created, body: 'x'.repeat(1024) };
    expect(keepable(response, 1024, ids)).toBe(response);
  });

  it('replaces a larger body by a problem with the first status, its headers and ids', () => {
    const kept = keepable({ ...created, body: 'x'.repeat(1025) }, 1024, ids);
    expect(kept).toMatchObject({ ...created, contentType: 'application/problem+json' });
    expect(JSON.parse(kept.body)).toEqual({
      type: 'urn:interventions-bff:problem:answer-not-kept',
      title: 'Answer too large to replay',
      status: 201,
      detail: expect.stringMatching(
        /got status 201, .*1025-byte answer .*1024 bytes.*not sent upstream again/,
      ),
      ...ids,
    });
  });
});
