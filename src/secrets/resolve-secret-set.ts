import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.ts';
import { toSlipwayError } from '../core/index.ts';
import { createRedactor, type Redactor, type RedactorOptions } from './redactor.ts';
import { currentSecretSetVersion, decryptSecretSet } from './secret-store.ts';
import type { SecretVault } from './secret-vault.ts';

/** Which set to resolve, for whom, and why. */
export interface ResolveSecretSetOptions {
  readonly vault: SecretVault;
  readonly environment: string;
  /** The set version a release pinned; `currentSecretSetVersion` gives the newest. */
  readonly setVersion: number;
  /** Who the values are decrypted for, as the audit log shows it ("alice", "system:deployments"). */
  readonly actor: string;
  readonly actorId?: string | null;
  /** What the values are for, such as "release:42" or "redaction"; goes into the audit entry. */
  readonly purpose?: string;
  readonly requestId?: string;
}

/** A decrypted secret set. */
export interface ResolvedSecretSet {
  readonly environment: string;
  readonly setVersion: number;
  /** Name → value. Hand it to renderLaravelEnv and createRedactor; never log it. */
  readonly values: Readonly<Record<string, string>>;
}

/**
 * Decrypts every value of a secret set version for a deployment. The caller (the deployments
 * module) has checked that its user may deploy to the environment. One audit entry records the use
 * (names and value HMACs, never values), in `db`'s transaction; a failed use is audited on the
 * vault's own connection so it outlives a rollback.
 * @throws SecretStoreSealedError, SecretSetNotFoundError, SecretVersionNotFoundError
 */
export async function resolveSecretSet(
  db: Kysely<any>,
  options: ResolveSecretSetOptions,
): Promise<ResolvedSecretSet> {
  const { vault, environment, setVersion } = options;
  const record = (outcome: 'success' | 'failure', details: Record<string, unknown>) => ({
    actor: options.actor,
    actorId: options.actorId ?? null,
    action: 'secrets.resolve',
    target: `secret-set:${environment}@${setVersion}`,
    outcome,
    requestId: options.requestId ?? null,
    details: {
      environment,
      setVersion,
      ...(options.purpose ? { purpose: options.purpose } : {}),
      ...details,
    },
  });
  try {
    const { values, valueHmacs } = await decryptSecretSet(db, { vault, environment, setVersion });
    await appendAudit(db, record('success', { names: Object.keys(values), valueHmacs }), vault.clock.now());
    return { environment, setVersion, values };
  } catch (error) {
    await appendAudit(
      vault.db,
      record('failure', { error: toSlipwayError(error).code }),
      vault.clock.now(),
    ).catch(() => undefined);
    throw error;
  }
}

/**
 * A redactor for an environment's secrets (its current set, or `setVersion`): replaces any of their
 * values in pipeline and deploy logs with `[redacted:NAME]`. The values are resolved (and audited)
 * once; the redactor keeps them in memory only.
 */
export async function redactorForEnvironment(
  db: Kysely<any>,
  options: Omit<ResolveSecretSetOptions, 'setVersion'> & { setVersion?: number; redactor?: RedactorOptions },
): Promise<Redactor> {
  const setVersion = options.setVersion ?? (await currentSecretSetVersion(db, options.environment));
  const resolved = await resolveSecretSet(db, {
    ...options,
    setVersion,
    purpose: options.purpose ?? 'redaction',
  });
  return createRedactor(resolved.values, options.redactor);
}
