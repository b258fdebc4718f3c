import type { Kysely, Selectable } from 'kysely';
import type { Logger } from '../core/index.ts';
import { createEnvelopeCipher, SecretStoreSealedError, type SecretVault } from '../secrets/index.ts';
import { AppSecretsSealedError } from './errors.ts';
import type { PipelineTables } from './schema.ts';
import type { WebhookKeys } from './webhooks.ts';

type Db = Kysely<PipelineTables>;
type AppSecretColumns = Pick<
  Selectable<PipelineTables['pipeline_apps']>,
  'id' | 'sealed_webhook_secret' | 'sealed_hook_secret' | 'plain_webhook_secret' | 'plain_hook_secret'
>;

/** Which of an app's secrets: the provider webhooks' key or the post-receive hook's. */
export type AppSecretKind = 'webhook' | 'hook';

/**
 * Encryption at rest for apps' secrets: the secrets module's envelope cipher (AES-256-GCM under a
 * data key wrapped by the root key), usable while the secret store is unsealed.
 */
export interface AppSecretCipher {
  seal(plaintext: string, context: string): Promise<string>;
  open(token: string, context: string): Promise<string>;
  /** @throws SecretStoreSealedError (503) while the secret store is sealed */
  requireUnsealed(): void;
}

/** The envelope cipher of the "pipelines" scope of a secret store. */
export function appSecretCipher(vault: SecretVault): AppSecretCipher {
  const cipher = createEnvelopeCipher(vault, 'pipelines');
  return {
    seal: (plaintext, context) => cipher.seal(plaintext, context),
    open: (token, context) => cipher.open(token, context),
    requireUnsealed: () => vault.requireUnsealed(),
  };
}

/** The associated data a sealed secret is bound to: a token copied to another app or kind does not open. */
function contextOf(appId: string, kind: AppSecretKind): string {
  return `app:${appId}:${kind}`;
}

/**
 * An app's webhook and hook secrets at rest: sealed with the envelope cipher, opened only to check a
 * signature (or to keep them out of run logs). While the secret store is sealed every operation that
 * needs a secret answers 503 (`AppSecretsSealedError`), before anything is written.
 */
export class AppSecrets {
  readonly #cipher: AppSecretCipher;
  readonly #logger: Logger | undefined;
  /** Whether a pass found no plaintext left; new secrets are never stored in plain text. */
  #plaintextGone = false;

  constructor(cipher: AppSecretCipher, options: { logger?: Logger } = {}) {
    this.#cipher = cipher;
    this.#logger = options.logger;
  }

  /**
   * Throws unless secrets can be sealed and opened now.
   * @throws AppSecretsSealedError
   */
  requireAvailable(action: string): void {
    try {
      this.#cipher.requireUnsealed();
    } catch (error) {
      if (error instanceof SecretStoreSealedError) throw new AppSecretsSealedError(action, error);
      throw error;
    }
  }

  /**
   * Seals a new secret of an app, for its `sealed_*_secret` column.
   * @throws AppSecretsSealedError
   */
  async seal(appId: string, kind: AppSecretKind, value: string, action: string): Promise<string> {
    this.requireAvailable(action);
    return this.#sealed(action, () => this.#cipher.seal(value, contextOf(appId, kind)));
  }

  /**
   * The keys a webhook of the app may be signed with, opened.
   * @throws AppSecretsSealedError
   */
  async keys(row: AppSecretColumns, action: string): Promise<WebhookKeys> {
    this.requireAvailable(action);
    return this.#sealed(action, async () => ({
      webhookSecret: row.sealed_webhook_secret
        ? await this.#cipher.open(row.sealed_webhook_secret, contextOf(row.id, 'webhook'))
        : row.plain_webhook_secret!,
      hookSecret: row.sealed_hook_secret
        ? await this.#cipher.open(row.sealed_hook_secret, contextOf(row.id, 'hook'))
        : row.plain_hook_secret,
    }));
  }

  /**
   * Seals the secrets stored in plain text before they were sealed at rest, and clears the plain
   * copies; returns how many it sealed. A no-op while the store is sealed, and once a pass found none.
   * Each update is conditional on the plain value it read, so a concurrent rotation (which writes the
   * sealed column and clears the plain one) wins, and two control planes sealing at once are harmless.
   */
  async sealPlaintext(db: Kysely<any>): Promise<number> {
    if (this.#plaintextGone) return 0;
    try {
      this.#cipher.requireUnsealed();
    } catch {
      return 0;
    }
    const rows = await (db as Db)
      .selectFrom('pipeline_apps')
      .select(['id', 'name', 'plain_webhook_secret', 'plain_hook_secret'])
      .where((eb) =>
        eb.or([eb('plain_webhook_secret', 'is not', null), eb('plain_hook_secret', 'is not', null)]),
      )
      .execute();
    let sealed = 0;
    for (const row of rows) {
      if (row.plain_webhook_secret !== null) {
        const token = await this.#cipher.seal(row.plain_webhook_secret, contextOf(row.id, 'webhook'));
        const { numUpdatedRows } = await (db as Db)
          .updateTable('pipeline_apps')
          .set({ sealed_webhook_secret: token, plain_webhook_secret: null })
          .where('id', '=', row.id)
          .where('plain_webhook_secret', '=', row.plain_webhook_secret)
          .executeTakeFirst();
        sealed += Number(numUpdatedRows);
      }
      if (row.plain_hook_secret !== null) {
        const token = await this.#cipher.seal(row.plain_hook_secret, contextOf(row.id, 'hook'));
        const { numUpdatedRows } = await (db as Db)
          .updateTable('pipeline_apps')
          .set({ sealed_hook_secret: token, plain_hook_secret: null })
          .where('id', '=', row.id)
          .where('plain_hook_secret', '=', row.plain_hook_secret)
          .executeTakeFirst();
        sealed += Number(numUpdatedRows);
      }
    }
    if (rows.length === 0) this.#plaintextGone = true;
    if (sealed > 0) this.#logger?.info({ sealed }, 'sealed app secrets stored in plain text');
    return sealed;
  }

  async #sealed<T>(action: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      // The store can be sealed between the check and the use.
      if (error instanceof SecretStoreSealedError) throw new AppSecretsSealedError(action, error);
      throw error;
    }
  }
}
