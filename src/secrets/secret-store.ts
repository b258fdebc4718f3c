/**
 * Secrets of one environment: versions, soft delete and restore, and the secret set version that
 * changes with every change. Writes take the environment's row lock, so changes of one environment
 * are serialised and each gets the next set version.
 */
import { type Kysely, sql } from 'kysely';
import { ConflictError, newId, SlipwayError } from '../core/index.ts';
import { inTransaction } from '../store/index.ts';
import {
  SecretDeletedError,
  SecretNotDeletedError,
  SecretNotFoundError,
  SecretSetNotFoundError,
  SecretVersionNotFoundError,
} from './errors.ts';
import { open, seal } from './internal/aes-gcm.ts';
import type {
  SecretExport,
  SecretHistory,
  SecretImportResult,
  SecretMatrix,
  SecretSetDetail,
  SecretSetVersionInfo,
  SecretSummary,
  SecretsTables,
  SecretVersionInfo,
  SetChange,
  VersionOrigin,
} from './schema.ts';
import { type SecretVault, valueAad } from './secret-vault.ts';

type Db = Kysely<SecretsTables>;

/** Who makes a change, and why. */
export interface ChangeMeta {
  /** The username (or "system:…") recorded as the author. */
  readonly actor: string;
  readonly reason?: string | undefined;
}

/** The data-key scope of an environment's values. */
export function environmentKeyScope(environment: string): string {
  return `environment:${environment}`;
}

/** The short form of a value HMAC shown next to metadata. */
export function fingerprintOf(valueHmac: string): string {
  return valueHmac.slice(0, 12);
}

function withTransaction<T>(db: Kysely<any>, work: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Db) : inTransaction(db, work);
}

/** Takes the environment's lock (creating its row) and returns its current set version. */
async function lockEnvironment(db: Db, environment: string): Promise<number> {
  await db
    .insertInto('secret_environments')
    .values({ environment })
    .onConflict((oc) => oc.column('environment').doNothing())
    .execute();
  const row = await db
    .selectFrom('secret_environments')
    .select('set_version')
    .where('environment', '=', environment)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return row.set_version;
}

async function setMembers(db: Db, environment: string, version: number): Promise<Record<string, number>> {
  if (version === 0) return {};
  const row = await db
    .selectFrom('secret_set_versions')
    .select('members')
    .where('environment', '=', environment)
    .where('version', '=', version)
    .executeTakeFirst();
  if (!row) throw new SecretSetNotFoundError(environment, version);
  return { ...row.members };
}

/** Records a new set version with `changes` applied to the current one; returns its number. */
async function recordSetVersion(
  db: Db,
  environment: string,
  current: number,
  changes: readonly SetChange[],
  meta: ChangeMeta,
): Promise<number> {
  const members = await setMembers(db, environment, current);
  for (const change of changes) {
    if (change.action === 'delete') delete members[change.name];
    else members[change.name] = change.version;
  }
  const version = current + 1;
  await db
    .insertInto('secret_set_versions')
    .values({
      environment,
      version,
      members: JSON.stringify(members) as any,
      changes: JSON.stringify(changes) as any,
      reason: meta.reason || null,
      created_by: meta.actor,
    })
    .execute();
  await db
    .updateTable('secret_environments')
    .set({ set_version: version, updated_at: sql`now()` })
    .where('environment', '=', environment)
    .execute();
  return version;
}

interface PutResult {
  readonly version: number;
  readonly changed: boolean;
  readonly created: boolean;
  readonly valueHmac: string;
}

/** Writes a value as the next version (or nothing when it is the current, live value). */
async function putValue(
  db: Db,
  vault: SecretVault,
  target: { environment: string; name: string; value: string },
  meta: ChangeMeta & { origin: VersionOrigin; rolledBackFrom?: number },
): Promise<PutResult> {
  const { environment, name, value } = target;
  const valueHmac = vault.hmac(value);
  const existing = await db
    .selectFrom('secrets as s')
    .innerJoin('secret_versions as v', (join) =>
      join.onRef('v.secret_id', '=', 's.id').onRef('v.version', '=', 's.current_version'),
    )
    .select(['s.id', 's.current_version', 's.deleted_at', 'v.value_hmac'])
    .where('s.environment', '=', environment)
    .where('s.name', '=', name)
    .forUpdate('s')
    .executeTakeFirst();
  if (existing && !existing.deleted_at && existing.value_hmac === valueHmac) {
    return { version: existing.current_version, changed: false, created: false, valueHmac };
  }
  const version = existing ? existing.current_version + 1 : 1;
  const dataKey = await vault.activeDataKey(db, environmentKeyScope(environment));
  const sealed = seal(dataKey.key, Buffer.from(value, 'utf8'), valueAad(environment, name, version));
  const secretId = existing?.id ?? newId();
  if (existing) {
    await db
      .updateTable('secrets')
      .set({ current_version: version, deleted_at: null, deleted_by: null, delete_reason: null })
      .where('id', '=', secretId)
      .execute();
  } else {
    await db
      .insertInto('secrets')
      .values({ id: secretId, environment, name, current_version: version, created_by: meta.actor })
      .execute();
  }
  await db
    .insertInto('secret_versions')
    .values({
      secret_id: secretId,
      version,
      data_key_id: dataKey.id,
      nonce: sealed.nonce,
      ciphertext: sealed.ciphertext,
      value_hmac: valueHmac,
      origin: meta.origin,
      rolled_back_from: meta.rolledBackFrom ?? null,
      reason: meta.reason || null,
      created_by: meta.actor,
    })
    .execute();
  await destroyOldVersions(db, { environment, name, secretId, newest: version, kept: vault.versionsKept });
  return { version, changed: true, created: !existing, valueHmac };
}

/** Destroys the values of versions older than the newest `kept`, except those a pinned set uses. */
async function destroyOldVersions(
  db: Db,
  target: { environment: string; name: string; secretId: string; newest: number; kept: number },
): Promise<void> {
  await db
    .updateTable('secret_versions as v')
    .set({ nonce: null, ciphertext: null, data_key_id: null, destroyed_at: sql`now()` })
    .where('v.secret_id', '=', target.secretId)
    .where('v.version', '<=', target.newest - target.kept)
    .where('v.destroyed_at', 'is', null)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('secret_set_pins as p')
            .innerJoin('secret_set_versions as sv', (join) =>
              join.onRef('sv.environment', '=', 'p.environment').onRef('sv.version', '=', 'p.set_version'),
            )
            .select('p.set_version')
            .where('p.environment', '=', target.environment)
            .where(sql<boolean>`(sv.members ->> ${target.name})::int = v.version`),
        ),
      ),
    )
    .execute();
}

/** The result of a write of one secret. */
export interface SecretWrite {
  readonly environment: string;
  readonly name: string;
  readonly version: number;
  readonly setVersion: number;
  readonly changed: boolean;
  readonly valueHmac: string;
}

/**
 * Sets a secret's value: a new version (and set version) unless the value is already the current
 * one. Setting a deleted secret brings it back with the new value.
 */
export async function setSecret(
  db: Kysely<any>,
  options: { vault: SecretVault; environment: string; name: string; value: string } & ChangeMeta,
): Promise<SecretWrite> {
  const { vault, environment, name, value } = options;
  vault.requireUnsealed();
  return withTransaction(db, async (trx) => {
    const current = await lockEnvironment(trx, environment);
    const put = await putValue(trx, vault, { environment, name, value }, { ...options, origin: 'set' });
    const setVersion = put.changed
      ? await recordSetVersion(
          trx,
          environment,
          current,
          [{ name, action: 'set', version: put.version }],
          options,
        )
      : current;
    return {
      environment,
      name,
      version: put.version,
      setVersion,
      changed: put.changed,
      valueHmac: put.valueHmac,
    };
  });
}

async function secretRow(db: Db, environment: string, name: string, options: { lock?: boolean } = {}) {
  let query = db
    .selectFrom('secrets')
    .selectAll()
    .where('environment', '=', environment)
    .where('name', '=', name);
  if (options.lock) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw new SecretNotFoundError(environment, name);
  return row;
}

/** A decrypted value with its version and HMAC. */
export interface SecretValue {
  readonly environment: string;
  readonly name: string;
  readonly version: number;
  readonly value: string;
  readonly valueHmac: string;
}

/**
 * Reads and decrypts a secret's current value, or one version of it.
 * @throws SecretNotFoundError, SecretDeletedError, SecretVersionNotFoundError, SecretStoreSealedError
 */
export async function readSecret(
  db: Kysely<any>,
  options: { vault: SecretVault; environment: string; name: string; version?: number | undefined },
): Promise<SecretValue> {
  const { vault, environment, name } = options;
  vault.requireUnsealed();
  const trx = db as Db;
  const secret = await secretRow(trx, environment, name);
  if (secret.deleted_at) throw new SecretDeletedError(environment, name);
  const version = options.version ?? secret.current_version;
  const row = await trx
    .selectFrom('secret_versions')
    .selectAll()
    .where('secret_id', '=', secret.id)
    .where('version', '=', version)
    .executeTakeFirst();
  if (!row) throw new SecretVersionNotFoundError(environment, name, version, false);
  if (!row.ciphertext || !row.nonce || !row.data_key_id) {
    throw new SecretVersionNotFoundError(environment, name, version, true);
  }
  const key = await vault.dataKey(trx, row.data_key_id);
  const value = decrypt(key, row, { environment, name, version });
  return { environment, name, version, value, valueHmac: row.value_hmac };
}

function decrypt(
  key: Buffer,
  row: { nonce: Buffer | null; ciphertext: Buffer | null },
  where: { environment: string; name: string; version: number },
): string {
  const plaintext = open(
    key,
    { nonce: row.nonce!, ciphertext: row.ciphertext! },
    valueAad(where.environment, where.name, where.version),
  );
  if (!plaintext) {
    throw new SlipwayError(
      'INTERNAL',
      `The stored value of ${where.name} version ${where.version} in "${where.environment}" does not authenticate: it was altered or moved`,
      { hint: 'Restore the database from a backup, or set the secret again', retryable: false },
    );
  }
  const text = plaintext.toString('utf8');
  plaintext.fill(0);
  return text;
}

/**
 * Makes an older version current again, as a new version with the same value (so history only
 * grows and the old version stays as it was).
 */
export async function rollbackSecret(
  db: Kysely<any>,
  options: { vault: SecretVault; environment: string; name: string; toVersion: number } & ChangeMeta,
): Promise<SecretWrite> {
  const { vault, environment, name, toVersion } = options;
  vault.requireUnsealed();
  return withTransaction(db, async (trx) => {
    const current = await lockEnvironment(trx, environment);
    const old = await readSecret(trx, { vault, environment, name, version: toVersion });
    const put = await putValue(
      trx,
      vault,
      { environment, name, value: old.value },
      { ...options, origin: 'rollback', rolledBackFrom: toVersion },
    );
    const setVersion = put.changed
      ? await recordSetVersion(
          trx,
          environment,
          current,
          [{ name, action: 'rollback', version: put.version }],
          options,
        )
      : current;
    return {
      environment,
      name,
      version: put.version,
      setVersion,
      changed: put.changed,
      valueHmac: put.valueHmac,
    };
  });
}

/** Soft-deletes a secret: it leaves the set; its versions stay until it is restored or set again. */
export async function deleteSecret(
  db: Kysely<any>,
  options: { vault: SecretVault; environment: string; name: string } & ChangeMeta,
): Promise<{ environment: string; name: string; version: number; setVersion: number }> {
  const { vault, environment, name } = options;
  vault.requireUnsealed();
  return withTransaction(db, async (trx) => {
    const current = await lockEnvironment(trx, environment);
    const secret = await secretRow(trx, environment, name, { lock: true });
    if (secret.deleted_at) {
      throw new ConflictError(
        `Cannot delete secret ${name} in environment "${environment}": it is already deleted`,
        {
          hint: `Restore it with \`slipway secrets restore ${environment} ${name}\``,
          retryable: false,
        },
      );
    }
    await trx
      .updateTable('secrets')
      .set({ deleted_at: sql`now()`, deleted_by: options.actor, delete_reason: options.reason || null })
      .where('id', '=', secret.id)
      .execute();
    const setVersion = await recordSetVersion(
      trx,
      environment,
      current,
      [{ name, action: 'delete', version: secret.current_version }],
      options,
    );
    return { environment, name, version: secret.current_version, setVersion };
  });
}

/** Brings a soft-deleted secret back with the version it had. */
export async function restoreSecret(
  db: Kysely<any>,
  options: { vault: SecretVault; environment: string; name: string } & ChangeMeta,
): Promise<{ environment: string; name: string; version: number; setVersion: number }> {
  const { vault, environment, name } = options;
  vault.requireUnsealed();
  return withTransaction(db, async (trx) => {
    const current = await lockEnvironment(trx, environment);
    const secret = await secretRow(trx, environment, name, { lock: true });
    if (!secret.deleted_at) throw new SecretNotDeletedError(environment, name);
    await trx
      .updateTable('secrets')
      .set({ deleted_at: null, deleted_by: null, delete_reason: null })
      .where('id', '=', secret.id)
      .execute();
    const setVersion = await recordSetVersion(
      trx,
      environment,
      current,
      [{ name, action: 'restore', version: secret.current_version }],
      options,
    );
    return { environment, name, version: secret.current_version, setVersion };
  });
}

/**
 * Sets many secrets at once (a `.env` import) as one set version. With `replace`, secrets of the
 * environment that are not in `entries` are deleted.
 */
export async function importSecrets(
  db: Kysely<any>,
  options: {
    vault: SecretVault;
    environment: string;
    entries: readonly { readonly name: string; readonly value: string }[];
    replace?: boolean | undefined;
  } & ChangeMeta,
): Promise<SecretImportResult & { valueHmacs: Record<string, string> }> {
  const { vault, environment, entries } = options;
  vault.requireUnsealed();
  return withTransaction(db, async (trx) => {
    const current = await lockEnvironment(trx, environment);
    const result = {
      created: [] as string[],
      updated: [] as string[],
      unchanged: [] as string[],
      deleted: [] as string[],
    };
    const valueHmacs: Record<string, string> = {};
    const changes: SetChange[] = [];
    for (const { name, value } of entries) {
      const put = await putValue(trx, vault, { environment, name, value }, { ...options, origin: 'import' });
      valueHmacs[name] = put.valueHmac;
      if (!put.changed) result.unchanged.push(name);
      else {
        (put.created ? result.created : result.updated).push(name);
        changes.push({ name, action: 'import', version: put.version });
      }
    }
    if (options.replace) {
      const keep = new Set(entries.map((e) => e.name));
      const live = await trx
        .selectFrom('secrets')
        .select(['id', 'name', 'current_version'])
        .where('environment', '=', environment)
        .where('deleted_at', 'is', null)
        .forUpdate()
        .execute();
      for (const secret of live.filter((s) => !keep.has(s.name))) {
        await trx
          .updateTable('secrets')
          .set({
            deleted_at: sql`now()`,
            deleted_by: options.actor,
            delete_reason: options.reason || 'import --replace',
          })
          .where('id', '=', secret.id)
          .execute();
        result.deleted.push(secret.name);
        changes.push({ name: secret.name, action: 'delete', version: secret.current_version });
      }
    }
    const setVersion =
      changes.length > 0 ? await recordSetVersion(trx, environment, current, changes, options) : current;
    return { environment, setVersion, ...result, valueHmacs };
  });
}

function summary(row: {
  environment: string;
  name: string;
  current_version: number;
  created_at: Date;
  created_by: string;
  deleted_at: Date | null;
  deleted_by: string | null;
  delete_reason: string | null;
  value_hmac: string;
  updated_at: Date;
  updated_by: string;
  reason: string | null;
}): SecretSummary {
  return {
    environment: row.environment,
    name: row.name,
    version: row.current_version,
    fingerprint: fingerprintOf(row.value_hmac),
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
    reason: row.reason,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    deletedAt: row.deleted_at?.toISOString() ?? null,
    deletedBy: row.deleted_by,
    deleteReason: row.delete_reason,
  };
}

function summaryQuery(db: Db) {
  return db
    .selectFrom('secrets as s')
    .innerJoin('secret_versions as v', (join) =>
      join.onRef('v.secret_id', '=', 's.id').onRef('v.version', '=', 's.current_version'),
    )
    .select([
      's.environment',
      's.name',
      's.current_version',
      's.created_at',
      's.created_by',
      's.deleted_at',
      's.deleted_by',
      's.delete_reason',
      'v.value_hmac',
      'v.created_at as updated_at',
      'v.created_by as updated_by',
      'v.reason',
    ]);
}

/** An environment's secrets (names and metadata, never values), and its current set version. */
export async function listSecrets(
  db: Kysely<any>,
  options: { environment: string; includeDeleted?: boolean | undefined },
): Promise<{ environment: string; setVersion: number; secrets: SecretSummary[] }> {
  let query = summaryQuery(db as Db).where('s.environment', '=', options.environment);
  if (!options.includeDeleted) query = query.where('s.deleted_at', 'is', null);
  const rows = await query.orderBy('s.name').execute();
  return {
    environment: options.environment,
    setVersion: await currentSecretSetVersion(db, options.environment),
    secrets: rows.map(summary),
  };
}

/** One secret's metadata and its versions, newest first. */
export async function secretHistory(
  db: Kysely<any>,
  options: { environment: string; name: string },
): Promise<SecretHistory> {
  const trx = db as Db;
  const row = await summaryQuery(trx)
    .where('s.environment', '=', options.environment)
    .where('s.name', '=', options.name)
    .executeTakeFirst();
  if (!row) throw new SecretNotFoundError(options.environment, options.name);
  const versions = await trx
    .selectFrom('secret_versions as v')
    .innerJoin('secrets as s', 's.id', 'v.secret_id')
    .select([
      'v.version',
      'v.origin',
      'v.rolled_back_from',
      'v.reason',
      'v.created_at',
      'v.created_by',
      'v.value_hmac',
      'v.destroyed_at',
    ])
    .where('s.environment', '=', options.environment)
    .where('s.name', '=', options.name)
    .orderBy('v.version', 'desc')
    .execute();
  return {
    secret: summary(row),
    versions: versions.map(
      (v): SecretVersionInfo => ({
        version: v.version,
        origin: v.origin,
        rolledBackFrom: v.rolled_back_from,
        reason: v.reason,
        createdAt: v.created_at.toISOString(),
        createdBy: v.created_by,
        fingerprint: fingerprintOf(v.value_hmac),
        destroyed: v.destroyed_at !== null,
        current: v.version === row.current_version,
      }),
    ),
  };
}

/** The environment's current secret set version (0 before its first secret). */
export async function currentSecretSetVersion(db: Kysely<any>, environment: string): Promise<number> {
  const row = await (db as Db)
    .selectFrom('secret_environments')
    .select('set_version')
    .where('environment', '=', environment)
    .executeTakeFirst();
  return row?.set_version ?? 0;
}

/** The environment's secret set versions, newest first. */
export async function listSecretSetVersions(
  db: Kysely<any>,
  options: { environment: string; limit?: number | undefined },
): Promise<SecretSetVersionInfo[]> {
  const rows = await (db as Db)
    .selectFrom('secret_set_versions')
    .selectAll()
    .where('environment', '=', options.environment)
    .orderBy('version', 'desc')
    .limit(options.limit ?? 100)
    .execute();
  const pins = await pinsOf(db as Db, options.environment);
  return rows.map((row) => setInfo(row, pins));
}

async function pinsOf(db: Db, environment: string): Promise<Map<number, string[]>> {
  const rows = await db
    .selectFrom('secret_set_pins')
    .select(['set_version', 'pinned_by'])
    .where('environment', '=', environment)
    .orderBy('pinned_by')
    .execute();
  const pins = new Map<number, string[]>();
  for (const row of rows) pins.set(row.set_version, [...(pins.get(row.set_version) ?? []), row.pinned_by]);
  return pins;
}

interface SetVersionRow {
  environment: string;
  version: number;
  members: Record<string, number>;
  changes: SetChange[];
  reason: string | null;
  created_at: Date;
  created_by: string;
}

function setInfo(row: SetVersionRow, pins: Map<number, string[]>): SecretSetVersionInfo {
  return {
    environment: row.environment,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    reason: row.reason,
    changes: row.changes,
    size: Object.keys(row.members).length,
    pinnedBy: pins.get(row.version) ?? [],
  };
}

/** One secret set version with its members (name → secret version); version 0 is the empty set. */
export async function getSecretSet(
  db: Kysely<any>,
  options: { environment: string; setVersion: number },
): Promise<SecretSetDetail> {
  const { environment, setVersion } = options;
  if (setVersion === 0) {
    return {
      environment,
      version: 0,
      createdAt: new Date(0).toISOString(),
      createdBy: 'system',
      reason: null,
      changes: [],
      size: 0,
      pinnedBy: [],
      members: {},
    };
  }
  const row = await (db as Db)
    .selectFrom('secret_set_versions')
    .selectAll()
    .where('environment', '=', environment)
    .where('version', '=', setVersion)
    .executeTakeFirst();
  if (!row) throw new SecretSetNotFoundError(environment, setVersion);
  // jsonb orders keys by length first: give members back sorted by name.
  const members = Object.fromEntries(
    Object.entries(row.members).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return { ...setInfo(row, await pinsOf(db as Db, environment)), members };
}

/**
 * Decrypts every value of a secret set version (internal: callers go through resolveSecretSet or
 * exportSecrets, which audit).
 */
export async function decryptSecretSet(
  db: Kysely<any>,
  options: { vault: SecretVault; environment: string; setVersion: number },
): Promise<{ values: Record<string, string>; valueHmacs: Record<string, string> }> {
  const { vault, environment, setVersion } = options;
  vault.requireUnsealed();
  const members = (await getSecretSet(db, { environment, setVersion })).members;
  const names = Object.keys(members);
  const values: Record<string, string> = {};
  const valueHmacs: Record<string, string> = {};
  if (names.length === 0) return { values, valueHmacs };
  const rows = await (db as Db)
    .selectFrom('secret_versions as v')
    .innerJoin('secrets as s', 's.id', 'v.secret_id')
    .select(['s.name', 'v.version', 'v.nonce', 'v.ciphertext', 'v.data_key_id', 'v.value_hmac'])
    .where('s.environment', '=', environment)
    .where(
      sql<boolean>`(s.name, v.version) IN (SELECT key, value::int FROM jsonb_each_text(${JSON.stringify(members)}::jsonb))`,
    )
    .execute();
  const byName = new Map(rows.map((row) => [row.name, row]));
  for (const name of names.sort()) {
    const row = byName.get(name);
    const version = members[name]!;
    if (!row) throw new SecretVersionNotFoundError(environment, name, version, false);
    if (!row.data_key_id) throw new SecretVersionNotFoundError(environment, name, version, true);
    const key = await vault.dataKey(db, row.data_key_id);
    values[name] = decrypt(key, row, { environment, name, version });
    valueHmacs[name] = row.value_hmac;
  }
  return { values, valueHmacs };
}

/** Every current value of an environment, sorted by name (for `export`). */
export async function exportSecrets(
  db: Kysely<any>,
  options: { vault: SecretVault; environment: string },
): Promise<SecretExport & { valueHmacs: Record<string, string> }> {
  const setVersion = await currentSecretSetVersion(db, options.environment);
  const { values, valueHmacs } = await decryptSecretSet(db, { ...options, setVersion });
  return {
    environment: options.environment,
    setVersion,
    entries: Object.keys(values)
      .sort()
      .map((name) => ({ name, value: values[name]! })),
    valueHmacs,
  };
}

/**
 * Keeps a set version's values from the keep-last-N rule while something (a release) needs them.
 * Idempotent per `pinnedBy`.
 */
export async function pinSecretSet(
  db: Kysely<any>,
  options: { environment: string; setVersion: number; pinnedBy: string },
): Promise<void> {
  await getSecretSet(db, options);
  if (options.setVersion === 0) return;
  await (db as Db)
    .insertInto('secret_set_pins')
    .values({
      environment: options.environment,
      set_version: options.setVersion,
      pinned_by: options.pinnedBy,
    })
    .onConflict((oc) => oc.columns(['environment', 'set_version', 'pinned_by']).doNothing())
    .execute();
}

/** Releases a pin; versions it kept are destroyed at the next write of their secret if they are old. */
export async function unpinSecretSet(
  db: Kysely<any>,
  options: { environment: string; setVersion: number; pinnedBy: string },
): Promise<void> {
  await (db as Db)
    .deleteFrom('secret_set_pins')
    .where('environment', '=', options.environment)
    .where('set_version', '=', options.setVersion)
    .where('pinned_by', '=', options.pinnedBy)
    .execute();
}

/**
 * The keys × environments matrix over the environments `canView` accepts: per key, which
 * environments lack it and which hold the same value (compared by keyed HMAC, never by value).
 */
export async function secretMatrix(
  db: Kysely<any>,
  options: { canView: (environment: string) => boolean },
): Promise<SecretMatrix> {
  const environments = (
    await (db as Db).selectFrom('secret_environments').select('environment').orderBy('environment').execute()
  )
    .map((row) => row.environment)
    .filter(options.canView);
  if (environments.length === 0) return { environments: [], keys: [] };
  const rows = await summaryQuery(db as Db)
    .where('s.environment', 'in', environments)
    .where('s.deleted_at', 'is', null)
    .execute();
  const byName = new Map<string, typeof rows>();
  for (const row of rows) byName.set(row.name, [...(byName.get(row.name) ?? []), row]);
  const keys = [...byName.keys()].sort().map((name) => {
    const cells: Record<string, { version: number; valueGroup: number } | null> = {};
    const groups = new Map<string, number>();
    const members = new Map<number, string[]>();
    for (const environment of environments) cells[environment] = null;
    for (const row of byName.get(name)!) {
      const group = groups.get(row.value_hmac) ?? groups.size + 1;
      groups.set(row.value_hmac, group);
      cells[row.environment] = { version: row.current_version, valueGroup: group };
      members.set(group, [...(members.get(group) ?? []), row.environment]);
    }
    return {
      name,
      cells,
      missing: environments.filter((environment) => cells[environment] === null),
      sameValue: [...members.values()].filter((list) => list.length > 1).map((list) => list.sort()),
    };
  });
  return { environments, keys };
}
