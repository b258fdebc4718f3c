import { createHmac } from 'node:crypto';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Kysely } from 'kysely';
import { appendAudit } from '../audit/index.ts';
import {
  type Clock,
  InvalidInputError,
  type Logger,
  newId,
  SlipwayError,
  SYSTEM_CLOCK,
} from '../core/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { inTransaction } from '../store/index.ts';
import { KeyUnwrapError, RootKeyMismatchError, SEALED_HINT, SecretStoreSealedError } from './errors.ts';
import { newKey, open, seal } from './internal/aes-gcm.ts';
import { syncDirectory, writeFileAtomically } from './internal/atomic-file.ts';
import {
  type KeyContext,
  type KeyManagementService,
  LocalRootKey,
  loadRootKey,
  type RootKeySource,
} from './root-key.ts';
import type { SecretStoreStatus, SecretsTables } from './schema.ts';

type Db = Kysely<SecretsTables>;

/** The job that re-encrypts an environment's values after its data key was rotated. */
export const REENCRYPT_QUEUE = 'secrets.reencrypt';

const HMAC_CONTEXT: KeyContext = { purpose: 'hmac-key' };
const dataKeyContext = (scope: string, id: string): KeyContext => ({ purpose: 'data-key', scope, id });

/** How the vault is opened. */
export interface SecretVaultOptions {
  /** The store's database handle (background work and audit entries of failed uses). */
  readonly db: Kysely<any>;
  /** Where the root key is: a file (preferred) or the key itself; absent, the store starts sealed. */
  readonly rootKey?: { readonly file?: string | undefined; readonly value?: string | undefined };
  /** A key service that wraps data keys instead of a local root key (a cloud KMS). */
  readonly kms?: KeyManagementService;
  /** Runs data-key re-encryption in the background; without it call `reencryptScope` yourself. */
  readonly queue?: JobQueue;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Versions of each secret kept; older values are destroyed. @default 10 */
  readonly versionsKept?: number;
}

/** What rotating the root key did. */
export interface RootKeyRotation {
  readonly rootKeyId: string;
  readonly previousRootKeyId: string;
  /** Wrapped keys re-wrapped (data keys and the HMAC key); no value was touched. */
  readonly rewrapped: number;
  /** Where the new key was kept: the configured key file, or nowhere (the operator keeps it). */
  readonly persisted: 'file' | 'none';
}

/** A data key, unwrapped, with its id. */
export interface DataKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * The keys of the secret store: the root key (or key service), the HMAC key and the unwrapped data
 * keys, and whether the store is sealed. One per control-plane process; the secrets module's
 * functions take it alongside a database handle.
 */
export class SecretVault {
  readonly #db: Db;
  readonly #logger: Logger | undefined;
  readonly #clock: Clock;
  readonly #queue: JobQueue | undefined;
  readonly #rootKeyFile: string | undefined;
  readonly #dataKeys = new Map<string, Buffer>();
  #kms: KeyManagementService | undefined;
  #hmacKey: Buffer | undefined;
  #source: RootKeySource;
  #sealReason = 'Slipway was started without its root key';
  #sealHint = SEALED_HINT;
  /** Versions of each secret kept; older values are destroyed. */
  readonly versionsKept: number;

  private constructor(options: SecretVaultOptions, source: RootKeySource) {
    this.#db = options.db as Db;
    this.#logger = options.logger;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#queue = options.queue;
    this.#rootKeyFile = options.rootKey?.file;
    this.#source = source;
    this.versionsKept = options.versionsKept ?? 10;
  }

  /**
   * Opens the vault: reads the root key, checks it against the store (creating the HMAC key on the
   * very first start), and registers the re-encryption worker. Never throws for a missing or wrong
   * key: the vault then stays sealed and says why in `status()`.
   */
  static async open(options: SecretVaultOptions): Promise<SecretVault> {
    const loaded = options.kms
      ? { key: options.kms, source: 'kms' as const, warnings: [] as string[], problem: undefined }
      : await loadRootKey(options.rootKey ?? {});
    const vault = new SecretVault(options, loaded.source);
    for (const warning of loaded.warnings) options.logger?.warn(warning);
    if (loaded.problem) vault.#sealReason = loaded.problem;
    if (loaded.key) {
      try {
        await vault.#attach(loaded.key);
      } catch (error) {
        vault.#sealReason =
          error instanceof RootKeyMismatchError
            ? `the configured root key (${error.givenId}) does not open this store (it uses ${error.storedId})`
            : error instanceof SlipwayError
              ? error.message
              : 'the root key could not be checked against the store';
        if (!(error instanceof SlipwayError))
          options.logger?.error({ err: error }, 'cannot open the secret store');
      }
    }
    if (options.queue) {
      await options.queue.work<{ scope: string }>(REENCRYPT_QUEUE, async (job) => {
        await vault.reencryptScope(job.data.scope);
      });
    }
    if (vault.#kms) await vault.#enqueuePendingReencryption();
    else options.logger?.warn({ reason: vault.#sealReason }, 'the secret store is sealed');
    return vault;
  }

  /** Whether the store is usable, and what to do when it is not. */
  status(): SecretStoreStatus {
    return {
      sealed: !this.#hmacKey,
      reason: this.#hmacKey ? null : this.#sealReason,
      hint: this.#hmacKey ? null : this.#sealHint,
      rootKeyId: this.#kms?.keyId ?? null,
      rootKeySource: this.#source,
      versionsKept: this.versionsKept,
    };
  }

  /** Throws the 503 every secret operation answers while sealed. */
  requireUnsealed(): void {
    if (!this.#kms || !this.#hmacKey) throw new SecretStoreSealedError(this.#sealReason, this.#sealHint);
  }

  /**
   * Unseals with a root key given by an administrator. On a store that has never held secrets the
   * key becomes its root key. Giving the key the store is already unsealed with is harmless.
   * @throws InvalidRootKeyError, RootKeyMismatchError
   */
  async unseal(
    rootKeyText: string,
  ): Promise<{ rootKeyId: string; initialized: boolean; alreadyUnsealed: boolean }> {
    const key = LocalRootKey.fromText(rootKeyText);
    if (this.#kms && this.#hmacKey) {
      if (key.keyId !== this.#kms.keyId) throw new RootKeyMismatchError(key.keyId, this.#kms.keyId);
      key.destroy();
      return { rootKeyId: this.#kms.keyId, initialized: false, alreadyUnsealed: true };
    }
    const { initialized } = await this.#attach(key);
    this.#source = 'unseal';
    await this.#enqueuePendingReencryption();
    this.#logger?.info({ rootKeyId: key.keyId }, 'the secret store is unsealed');
    return { rootKeyId: key.keyId, initialized, alreadyUnsealed: false };
  }

  /** Forgets every key (they are overwritten in memory): secret operations answer 503 until unsealed. */
  seal(reason = 'it was sealed by an administrator'): void {
    if (this.#kms instanceof LocalRootKey) this.#kms.destroy();
    this.#kms = undefined;
    this.#hmacKey?.fill(0);
    this.#hmacKey = undefined;
    for (const key of this.#dataKeys.values()) key.fill(0);
    this.#dataKeys.clear();
    this.#sealReason = reason;
  }

  /**
   * Re-wraps every data key and the HMAC key under a new root key, in one transaction; values are
   * not touched. The caller proves possession of the current key. When the key came from a file the
   * file is replaced with the new key (written beside it first, so it is never lost); otherwise the
   * operator must keep the new key. Afterwards the old key opens nothing.
   * @throws InvalidRootKeyError, RootKeyMismatchError, SecretStoreSealedError
   */
  async rotateRootKey(input: { currentRootKey: string; newRootKey: string }): Promise<RootKeyRotation> {
    this.requireUnsealed();
    const current = LocalRootKey.fromText(input.currentRootKey, 'given as the current key');
    const next = LocalRootKey.fromText(input.newRootKey, 'given as the new key');
    if (current.keyId !== this.#kms!.keyId) throw new RootKeyMismatchError(current.keyId, this.#kms!.keyId);
    if (next.keyId === current.keyId) {
      throw new InvalidInputError('Cannot rotate the root key: the new key is the current one', {
        hint: 'Make a new key with `slipway secrets generate-root-key`',
      });
    }
    const keepInFile = this.#source === 'file' && this.#rootKeyFile !== undefined;
    const staged = keepInFile ? `${this.#rootKeyFile}.new` : undefined;
    if (staged) await writeFileAtomically(staged, `${input.newRootKey.trim()}\n`);
    let rewrapped: number;
    try {
      rewrapped = await inTransaction(this.#db, async (trx: Db) => {
        const root = await trx
          .selectFrom('secret_root')
          .selectAll()
          .where('id', '=', 1)
          .forUpdate()
          .executeTakeFirstOrThrow();
        if (root.root_key_id !== current.keyId)
          throw new RootKeyMismatchError(current.keyId, root.root_key_id);
        const hmacKey = await current.unwrapKey(root.hmac_key_wrapped, HMAC_CONTEXT);
        await trx
          .updateTable('secret_root')
          .set({
            root_key_id: next.keyId,
            hmac_key_wrapped: await next.wrapKey(hmacKey, HMAC_CONTEXT),
            rotated_at: this.#clock.now(),
          })
          .where('id', '=', 1)
          .execute();
        hmacKey.fill(0);
        const rows = await trx.selectFrom('secret_data_keys').selectAll().forUpdate().execute();
        for (const row of rows) {
          const context = dataKeyContext(row.scope, row.id);
          const key = await current.unwrapKey(row.wrapped_key, context);
          await trx
            .updateTable('secret_data_keys')
            .set({ wrapped_key: await next.wrapKey(key, context), root_key_id: next.keyId })
            .where('id', '=', row.id)
            .execute();
          key.fill(0);
        }
        return rows.length + 1;
      });
    } catch (error) {
      if (staged) await unlink(staged).catch(() => undefined);
      next.destroy();
      throw error;
    }
    if (this.#kms instanceof LocalRootKey) this.#kms.destroy();
    current.destroy();
    this.#kms = next;
    if (staged && this.#rootKeyFile) {
      try {
        await rename(staged, this.#rootKeyFile);
        await syncDirectory(dirname(this.#rootKeyFile));
      } catch (error) {
        throw new SlipwayError(
          'INTERNAL',
          `The root key was rotated, but the key file ${this.#rootKeyFile} could not be replaced`,
          {
            hint: `The new key is in ${staged}: move it over ${this.#rootKeyFile} before the next restart`,
            cause: error,
            retryable: false,
          },
        );
      }
    }
    if (!keepInFile && this.#source === 'environment') this.#source = 'unseal';
    this.#logger?.info({ rootKeyId: next.keyId, rewrapped }, 'rotated the secret store root key');
    return {
      rootKeyId: next.keyId,
      previousRootKeyId: current.keyId,
      rewrapped,
      persisted: keepInFile ? 'file' : 'none',
    };
  }

  /** The keyed HMAC of a value (hex): equal values give equal HMACs; it reveals nothing else. */
  hmac(value: string): string {
    this.requireUnsealed();
    return createHmac('sha256', this.#hmacKey!).update(value, 'utf8').digest('hex');
  }

  /**
   * The active data key of a scope ("environment:staging", "module:replication"), made on first use.
   * Runs in `db`'s transaction when it is one.
   */
  async activeDataKey(db: Kysely<any>, scope: string): Promise<DataKey> {
    this.requireUnsealed();
    const trxDb = db as Db;
    const existing = await trxDb
      .selectFrom('secret_data_keys')
      .select(['id'])
      .where('scope', '=', scope)
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (existing) return { id: existing.id, key: await this.dataKey(trxDb, existing.id) };
    const created = await this.#inTransaction(trxDb, async (trx) => {
      await this.#checkRootKeyCurrent(trx);
      const id = newId();
      const key = newKey();
      const inserted = await trx
        .insertInto('secret_data_keys')
        .values({
          id,
          scope,
          wrapped_key: await this.#kms!.wrapKey(key, dataKeyContext(scope, id)),
          root_key_id: this.#kms!.keyId,
        })
        .onConflict((oc) => oc.column('scope').where('retired_at', 'is', null).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted) {
        this.#dataKeys.set(id, key);
        return { id, key };
      }
      return undefined; // another writer made it first
    });
    return created ?? this.activeDataKey(db, scope);
  }

  /** A data key by id, unwrapped (cached in memory). */
  async dataKey(db: Kysely<any>, id: string): Promise<Buffer> {
    this.requireUnsealed();
    const cached = this.#dataKeys.get(id);
    if (cached) return cached;
    const row = await (db as Db)
      .selectFrom('secret_data_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    if (row.root_key_id !== this.#kms!.keyId) this.#staleRootKey(row.root_key_id);
    const key = await this.#kms!.unwrapKey(row.wrapped_key, dataKeyContext(row.scope, row.id));
    this.#dataKeys.set(id, key);
    return key;
  }

  /**
   * Retires the scope's active data key and makes a new one; new values use it at once. For an
   * environment, a background job (or `reencryptScope`) re-encrypts older values and then destroys
   * the retired keys. Runs in `db`'s transaction when it is one.
   */
  async rotateDataKey(db: Kysely<any>, scope: string): Promise<{ dataKeyId: string; retired: number }> {
    this.requireUnsealed();
    return this.#inTransaction(db as Db, async (trx) => {
      await this.#checkRootKeyCurrent(trx);
      const retired = await trx
        .updateTable('secret_data_keys')
        .set({ retired_at: this.#clock.now() })
        .where('scope', '=', scope)
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      const { id } = await this.activeDataKey(trx, scope);
      if (scope.startsWith('environment:') && this.#queue) {
        await this.#queue.enqueue(REENCRYPT_QUEUE, { scope }, { transaction: trx, singletonKey: scope });
      }
      return { dataKeyId: id, retired: Number(retired.numUpdatedRows) };
    });
  }

  /**
   * Re-encrypts every value of an environment scope still under a retired data key with the active
   * one (in batches, each its own transaction), then destroys retired keys nothing uses any more.
   */
  async reencryptScope(scope: string): Promise<{ reencrypted: number; destroyedKeys: number }> {
    this.requireUnsealed();
    const environment = scope.startsWith('environment:') ? scope.slice('environment:'.length) : undefined;
    if (!environment) return { reencrypted: 0, destroyedKeys: 0 };
    let reencrypted = 0;
    for (;;) {
      const done = await inTransaction(this.#db, async (trx: Db) => {
        // The environment's lock keeps writers out while values move to the new key.
        await trx
          .selectFrom('secret_environments')
          .select('environment')
          .where('environment', '=', environment)
          .forUpdate()
          .executeTakeFirst();
        const active = await this.activeDataKey(trx, scope);
        const rows = await trx
          .selectFrom('secret_versions as v')
          .innerJoin('secrets as s', 's.id', 'v.secret_id')
          .innerJoin('secret_data_keys as k', 'k.id', 'v.data_key_id')
          .select(['v.secret_id', 'v.version', 'v.nonce', 'v.ciphertext', 'v.data_key_id', 's.name'])
          .where('k.scope', '=', scope)
          .where('k.retired_at', 'is not', null)
          .limit(100)
          .forUpdate('v')
          .execute();
        for (const row of rows) {
          const oldKey = await this.dataKey(trx, row.data_key_id!);
          const aad = valueAad(environment, row.name, row.version);
          const plaintext = open(oldKey, { nonce: row.nonce!, ciphertext: row.ciphertext! }, aad);
          if (!plaintext) throw new KeyUnwrapError(`version ${row.version} of ${row.name}`);
          const sealed = seal(active.key, plaintext, aad);
          plaintext.fill(0);
          await trx
            .updateTable('secret_versions')
            .set({ data_key_id: active.id, nonce: sealed.nonce, ciphertext: sealed.ciphertext })
            .where('secret_id', '=', row.secret_id)
            .where('version', '=', row.version)
            .execute();
        }
        return rows.length;
      });
      reencrypted += done;
      if (done === 0) break;
    }
    const destroyed = await (this.#db as Db)
      .deleteFrom('secret_data_keys')
      .where('scope', '=', scope)
      .where('retired_at', 'is not', null)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('secret_versions as v')
              .select('v.version')
              .whereRef('v.data_key_id', '=', 'secret_data_keys.id'),
          ),
        ),
      )
      .returning('id')
      .execute();
    for (const { id } of destroyed) {
      this.#dataKeys.get(id)?.fill(0);
      this.#dataKeys.delete(id);
    }
    await appendAudit(
      this.#db as Kysely<any>,
      {
        actor: 'system:secrets',
        action: 'secrets.data-key.reencrypt',
        target: scope,
        outcome: 'success',
        details: { reencrypted, destroyedKeys: destroyed.length },
      },
      this.#clock.now(),
    );
    return { reencrypted, destroyedKeys: destroyed.length };
  }

  /** The store's database handle (for audit entries that must outlive a caller's transaction). */
  get db(): Kysely<any> {
    return this.#db;
  }

  get clock(): Clock {
    return this.#clock;
  }

  async #attach(kms: KeyManagementService): Promise<{ initialized: boolean }> {
    const { hmacKey, initialized } = await inTransaction(this.#db, async (trx: Db) => {
      let root = await trx.selectFrom('secret_root').selectAll().where('id', '=', 1).executeTakeFirst();
      let made = false;
      if (!root) {
        const hmac = newKey();
        const inserted = await trx
          .insertInto('secret_root')
          .values({ id: 1, root_key_id: kms.keyId, hmac_key_wrapped: await kms.wrapKey(hmac, HMAC_CONTEXT) })
          .onConflict((oc) => oc.column('id').doNothing())
          .returning('id')
          .executeTakeFirst();
        made = inserted !== undefined;
        root = await trx.selectFrom('secret_root').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
      }
      if (root.root_key_id !== kms.keyId) throw new RootKeyMismatchError(kms.keyId, root.root_key_id);
      return { hmacKey: await kms.unwrapKey(root.hmac_key_wrapped, HMAC_CONTEXT), initialized: made };
    });
    this.#kms = kms;
    this.#hmacKey = hmacKey;
    this.#sealHint = SEALED_HINT;
    return { initialized };
  }

  async #checkRootKeyCurrent(trx: Db): Promise<void> {
    const root = await trx
      .selectFrom('secret_root')
      .select('root_key_id')
      .where('id', '=', 1)
      .forShare()
      .executeTakeFirstOrThrow();
    if (root.root_key_id !== this.#kms!.keyId) this.#staleRootKey(root.root_key_id);
  }

  /** Another control plane rotated the root key: this one seals itself rather than write under the old key. */
  #staleRootKey(storedId: string): never {
    this.seal(`the root key was rotated to ${storedId} by another control plane`);
    this.#sealHint =
      'Run `slipway secrets unseal` against this server with the new root key, or restart it with the new key';
    throw new SecretStoreSealedError(this.#sealReason, this.#sealHint);
  }

  #inTransaction<T>(db: Db, work: (trx: Db) => Promise<T>): Promise<T> {
    return db.isTransaction ? work(db) : inTransaction(db, work);
  }

  async #enqueuePendingReencryption(): Promise<void> {
    if (!this.#queue) return;
    const scopes = await this.#db
      .selectFrom('secret_data_keys')
      .select('scope')
      .distinct()
      .where('retired_at', 'is not', null)
      .where('scope', 'like', 'environment:%')
      .execute();
    for (const { scope } of scopes) {
      await this.#queue.enqueue(REENCRYPT_QUEUE, { scope }, { singletonKey: scope });
    }
  }
}

/** The associated data of a secret value: environment, name and version are bound to the ciphertext. */
export function valueAad(environment: string, name: string, version: number): string {
  return JSON.stringify(['slipway-secret/v1', environment, name, version]);
}
