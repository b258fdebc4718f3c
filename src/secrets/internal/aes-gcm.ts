/** AES-256-GCM with a random 96-bit nonce; the 128-bit tag is kept at the end of the ciphertext. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value: nonce and ciphertext (tag appended). */
export interface Sealed {
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
}

/** Encrypts `plaintext` under a 32-byte key, binding `aad` (authenticated, not encrypted). */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: string): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { nonce, ciphertext: Buffer.concat([body, cipher.getAuthTag()]) };
}

/**
 * Decrypts and authenticates; returns undefined when the key, the aad or the bytes do not match
 * (callers turn that into the error that fits).
 */
export function open(key: Uint8Array, sealed: Sealed, aad: string): Buffer | undefined {
  if (sealed.nonce.length !== NONCE_BYTES || sealed.ciphertext.length < TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.ciphertext.subarray(sealed.ciphertext.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(sealed.ciphertext.subarray(0, sealed.ciphertext.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    return undefined;
  }
}

/** A new random 256-bit key. */
export function newKey(): Buffer {
  return randomBytes(32);
}

/** Context as one canonical string (JSON of the sorted pairs), so equal contexts give equal bytes. */
export function contextText(context: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.keys(context)
      .sort()
      .map((key) => [key, context[key]]),
  );
}
