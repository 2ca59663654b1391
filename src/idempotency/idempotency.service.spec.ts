import { fingerprintOf, parseIdempotencyKey } from './idempotency.service';
import { MemoryIdempotencyStore } from './idempotency.store';

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

  it('claims once, then reports the holder', async () => {
    const store = new MemoryIdempotencyStore(10);
    expect(await store.claim('k', 'f', 1000)).toEqual({ claimed: true });
    expect(await store.claim('k', 'f', 1000)).toEqual({
      claimed: false,
      existing: { state: 'in_flight', fingerprint: 'f' },
    });
    await store.complete('k', 'f', response, 1000);
    expect(await store.claim('k', 'f', 1000)).toEqual({
      claimed: false,
      existing: { state: 'done', fingerprint: 'f', response },
    });
    await store.release('k');
    expect(await store.claim('k', 'f', 1000)).toEqual({ claimed: true });
  });

  it('forgets a key after its TTL', async () => {
    const store = new MemoryIdempotencyStore(10);
    await store.complete('k', 'f', response, 20);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await store.claim('k', 'f', 1000)).toEqual({ claimed: true });
  });

  it('stays within its size bound, dropping the oldest keys', async () => {
    const store = new MemoryIdempotencyStore(3);
    for (const key of ['k1', 'k2', 'k3', 'k4']) await store.complete(key, 'f', response, 60_000);
    expect((await store.claim('k1', 'f', 1000)).claimed).toBe(true);
    expect((await store.claim('k4', 'f', 1000)).claimed).toBe(false);
  });
});
