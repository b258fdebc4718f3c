/**
 * Fixtures for tests that use secrets: a root key for a test server, and a unique value to look for
 * in logs and dumps.
 */
import { randomBytes } from 'node:crypto';
import { generateRootKey } from './root-key.ts';

/**
 * Settings for `startTestServer` that give the secret store a fresh root key (it is unsealed from
 * the start): `startTestServer(withRootKey())`.
 */
export function withRootKey<S extends object>(settings: S = {} as S): S & { rootKey: string } {
  return { ...settings, rootKey: generateRootKey() };
}

/**
 * A value no test output contains by chance: look for it in logs, audit entries and dumps. It needs
 * no escaping in JSON or URLs (so a search for it is a search for every copy) and is never
 * well-formed root-key text.
 */
export function canaryValue(label = 'canary'): string {
  return `${label}.${randomBytes(18).toString('hex')}`;
}
