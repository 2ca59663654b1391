import { randomBytes } from 'node:crypto';
import { SessionCipher } from './session-cipher';

const [a, b] = [randomBytes(32), randomBytes(32)];
const SECRET = 'access-token-that-must-not-show';

describe('SessionCipher', () => {
  it('opens what it sealed, and the sealed value holds no plaintext', () => {
    const cipher = new SessionCipher([a]);
    const sealed = cipher.seal(SECRET, 'ctx');
    expect(sealed).not.toContain(SECRET);
    expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toContain(SECRET);
    expect(cipher.open(sealed, 'ctx')).toBe(SECRET);
  });

  it('refuses another context, an altered byte and garbage', () => {
    const cipher = new SessionCipher([a]);
    const sealed = cipher.seal(SECRET, 'ctx');
    expect(cipher.open(sealed, 'other')).toBeUndefined();
    const bytes = Buffer.from(sealed, 'base64url');
    bytes[bytes.length - 1] ^= 1;
    expect(cipher.open(bytes.toString('base64url'), 'ctx')).toBeUndefined();
    expect(cipher.open('not-sealed', 'ctx')).toBeUndefined();
  });

  it('rotates: new,old opens both and seals under new; dropping old refuses its values', () => {
    const old = new SessionCipher([a]).seal(SECRET, 'ctx');
    const rotated = new SessionCipher([b, a]);
    expect(rotated.open(old, 'ctx')).toBe(SECRET);
    expect(new SessionCipher([b]).open(rotated.seal(SECRET, 'ctx'), 'ctx')).toBe(SECRET);
    expect(new SessionCipher([b]).open(old, 'ctx')).toBeUndefined();
  });

  it('tells whether a value is under its first key', () => {
    const rotated = new SessionCipher([b, a]);
    expect(rotated.isCurrent(new SessionCipher([a]).seal(SECRET, 'ctx'))).toBe(false);
    expect(rotated.isCurrent(rotated.seal(SECRET, 'ctx'))).toBe(true);
    expect(rotated.isCurrent('')).toBe(false);
  });
});
