import type { Caller } from '../common/caller';
import { KnownGoodCredentials } from './known-good';

const caller = (key: string, verified = false): Caller => ({
  address: '203.0.113.7',
  key,
  verified,
});

describe('KnownGoodCredentials (without Redis)', () => {
  it('knows a credential the upstream accepted, for the TTL only', async () => {
    const known = new KnownGoodCredentials(null, 50);
    expect(known.knownHere(caller('token:a'))).toBe(false);
    known.succeeded(caller('token:a'));
    expect(known.knownHere(caller('token:a'))).toBe(true);
    expect(await known.known(caller('token:a'))).toBe(true);
    expect(known.knownHere(caller('token:b'))).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(known.knownHere(caller('token:a'))).toBe(false);
    expect(await known.known(caller('token:a'))).toBe(false);
  });

  it('forgets a credential the upstream refused', () => {
    const known = new KnownGoodCredentials(null, 60_000);
    known.succeeded(caller('token:a'));
    known.failed(caller('token:a'));
    expect(known.knownHere(caller('token:a'))).toBe(false);
  });

  it('takes a verified JWT as known-good by itself', () => {
    const known = new KnownGoodCredentials(null, 60_000);
    expect(known.knownHere(caller('sub:x', true))).toBe(true);
  });
});
