import { createCipheriv, createDecipheriv, hash, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_BYTES = 4;

interface Key {
  readonly id: Buffer;
  readonly key: Buffer;
}

/**
 * AES-256-GCM under SESSION_KEYS: the first key seals, every key opens, so a new key can be put
 * first without logging anyone out. A sealed value is base64url of key id (4 bytes of the key's
 * SHA-256, to pick the key without trying each), IV, tag and ciphertext. `context` is
 * authenticated with it: a value sealed for one purpose or one record does not open as another.
 */
export class SessionCipher {
  private readonly keys: readonly Key[];

  constructor(keys: readonly Buffer[]) {
    this.keys = keys.map((key) => ({
      id: hash('sha256', key, 'buffer').subarray(0, KEY_ID_BYTES),
      key,
    }));
  }

  seal(plaintext: string, context: string): string {
    const { id, key } = this.keys[0];
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(context));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([id, iv, cipher.getAuthTag(), sealed]).toString('base64url');
  }

  /** Whether `sealed` is under the first key: a value under another is due to be sealed again. */
  isCurrent(sealed: string): boolean {
    return Buffer.from(sealed.slice(0, 8), 'base64url')
      .subarray(0, KEY_ID_BYTES)
      .equals(this.keys[0].id);
  }

  /** The plaintext, or undefined when no key opens it (forged, altered, another context, a dropped key). */
  open(sealed: string, context: string): string | undefined {
    const bytes = Buffer.from(sealed, 'base64url');
    if (bytes.length < KEY_ID_BYTES + IV_BYTES + TAG_BYTES) return undefined;
    const id = bytes.subarray(0, KEY_ID_BYTES);
    const key = this.keys.find((candidate) => candidate.id.equals(id));
    if (key === undefined) return undefined;
    const iv = bytes.subarray(KEY_ID_BYTES, KEY_ID_BYTES + IV_BYTES);
    const tag = bytes.subarray(KEY_ID_BYTES + IV_BYTES, KEY_ID_BYTES + IV_BYTES + TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES })
        .setAAD(Buffer.from(context))
        .setAuthTag(tag);
      const body = bytes.subarray(KEY_ID_BYTES + IV_BYTES + TAG_BYTES);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
