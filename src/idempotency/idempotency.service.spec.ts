import { fingerprintOf, keepable, parseIdempotencyKey } from './idempotency.service';
import { MemoryIdempotencyStore, RECORD_OVERHEAD_BYTES } from './idempotency.store';

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
  const ref = (key: string, owner = 'a') => ({ key, owner, fingerprint: 'f' });
  const held = async (store: MemoryIdempotencyStore, key: string, owner = 'a') =>
    !(await store.claim(ref(key, owner), TIMES)).claimed;

  it('claims once, then reports the holder', async () => {
    const store = new MemoryIdempotencyStore(LOOSE);
    expect(await store.claim(ref('k'), TIMES)).toEqual({ claimed: true });
    expect(await store.claim(ref('k'), TIMES)).toEqual({
      claimed: false,
      existing: { state: 'in_flight', fingerprint: 'f' },
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

  it('stays within its entry bound, dropping the oldest keys', async () => {
    const store = new MemoryIdempotencyStore({ ...LOOSE, maxEntries: 3 });
    for (const key of ['k1', 'k2', 'k3', 'k4']) await store.complete(ref(key), response, 60_000);
    expect(await held(store, 'k1')).toBe(false);
    expect(await held(store, 'k4')).toBe(true);
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

  it('stays within its byte bound, and a flood from one address evicts only its own records', async () => {
    const evictions = jest.fn();
    const big = { ...response, body: 'x'.repeat(10_000) };
    const store = new MemoryIdempotencyStore({ maxEntries: 1000, maxBytes: 100_000 }, evictions);
    await store.complete(ref('victim', 'b'), big, 60_000);
    for (let i = 0; i < 50; i += 1) await store.complete(ref(`flood-${i}`, 'a'), big, 60_000);
    expect(store.bytes).toBeLessThanOrEqual(100_000);
    expect(await held(store, 'victim', 'b')).toBe(true);
    expect(await held(store, 'flood-0')).toBe(false);
    expect(await held(store, 'flood-49')).toBe(true);
    expect(evictions).toHaveBeenCalled();
  });

  it('with its entries full, the address holding the most bytes loses its oldest', async () => {
    const store = new MemoryIdempotencyStore({ ...LOOSE, maxEntries: 4 });
    await store.complete(ref('b1', 'b'), response, 60_000);
    await store.complete(ref('b2', 'b'), response, 60_000);
    for (const key of ['a1', 'a2', 'a3']) await store.complete(ref(key), response, 60_000);
    expect(await held(store, 'b1', 'b')).toBe(true);
    expect(await held(store, 'a1')).toBe(false);
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
