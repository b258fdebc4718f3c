/**
 * Host credentials: a one-time join token (`slj_…`) for a new host, exchanged for the host's own
 * credential (`sla_…`). Both are 256-bit secrets stored as SHA-256 hashes, compared in constant time;
 * a credential is revoked by a timestamp, and dies with its host.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { newId, randomToken } from '../core/index.ts';

/** Prefix of a host agent's credential. */
export const AGENT_CREDENTIAL_PREFIX = 'sla_';
/** Prefix of a one-time join token. */
export const JOIN_TOKEN_PREFIX = 'slj_';

/** A credential as handed out once. */
export interface IssuedSecret {
  readonly id: string;
  /** The value the agent presents; never stored. */
  readonly value: string;
  readonly hash: Buffer;
}

function hash(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Issues a secret whose value is `${prefix}${id without dashes}_${secret}`. */
export function issueSecret(prefix: string): IssuedSecret {
  const id = newId();
  const secret = randomToken(32);
  return { id, value: `${prefix}${id.replaceAll('-', '')}_${secret}`, hash: hash(secret) };
}

/** The id and secret of a presented value, or undefined when it is not of that kind. */
export function parseSecret(prefix: string, value: string): { id: string; secret: string } | undefined {
  if (!value.startsWith(prefix)) return undefined;
  const match = /^([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/.exec(value.slice(prefix.length));
  if (!match) return undefined;
  const hex = match[1]!;
  return {
    id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    secret: match[2]!,
  };
}

/** Whether a presented secret matches a stored hash (constant time). */
export function secretMatches(secret: string, stored: Buffer | null): boolean {
  if (!stored) return false;
  const presented = hash(secret);
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
