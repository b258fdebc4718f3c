import { randomBytes, randomUUID } from 'node:crypto';

/** A new random UUID (v4). */
export function newId(): string {
  return randomUUID();
}

/** A random URL-safe string carrying `bytes` bytes of entropy. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
