import { createHash, timingSafeEqual } from 'node:crypto';
import { newId, randomToken } from '../core/index.ts';

/** Prefix of personal API tokens, so scanners and people recognise them. */
export const TOKEN_PREFIX = 'slw_';

/** A credential as handed to its owner once: the id to find it, and the secret to prove it. */
export interface IssuedCredential {
  readonly id: string;
  /** The whole value the client presents; shown once, never stored. */
  readonly value: string;
  readonly secretHash: Buffer;
}

/** SHA-256 of a credential secret; secrets carry 256 bits of entropy, so no slow hash is needed. */
export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Compares a presented secret with a stored hash in constant time. */
export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}

/** Issues a credential whose value is `${prefix}${id without dashes}_${secret}`. */
export function issueCredential(prefix: string): IssuedCredential {
  const id = newId();
  const secret = randomToken(32);
  return { id, value: `${prefix}${id.replaceAll('-', '')}_${secret}`, secretHash: hashSecret(secret) };
}

/** Splits a presented credential into its id and secret, or undefined when it is malformed. */
export function parseCredential(prefix: string, value: string): { id: string; secret: string } | undefined {
  if (!value.startsWith(prefix)) return undefined;
  const rest = value.slice(prefix.length);
  const match = /^([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/.exec(rest);
  if (!match) return undefined;
  const hex = match[1]!;
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { id, secret: match[2]! };
}
