import { hasKeyFor } from './jwt-verifier';

describe('hasKeyFor', () => {
  const RS = ['RS256'];
  it.each<[string, object[], readonly string[], boolean]>([
    ['an RSA key without alg', [{ kty: 'RSA' }], RS, true],
    ['an RSA key for PS256 only', [{ kty: 'RSA', alg: 'PS256' }], RS, false],
    ['an encryption key', [{ kty: 'RSA', use: 'enc' }], RS, false],
    ['a P-256 key for ES256', [{ kty: 'EC', crv: 'P-256' }], ['ES256'], true],
    ['a P-384 key for ES256', [{ kty: 'EC', crv: 'P-384' }], ['ES256'], false],
    ['an Ed25519 key for EdDSA', [{ kty: 'OKP', crv: 'Ed25519' }], ['EdDSA'], true],
    ['an HMAC key', [{ kty: 'oct' }], RS, false],
    ['no key', [], RS, false],
  ])('%s: %s', (_case, keys, algorithms, expected) => {
    expect(hasKeyFor(keys, algorithms)).toBe(expected);
  });
});
