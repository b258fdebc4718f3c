import { type Kysely, type Selectable, sql } from 'kysely';
import { newId, randomToken } from '../core/index.ts';
import type { AppSecrets } from './app-secrets.ts';
import { AppBusyError, AppExistsError, AppNotFoundError } from './errors.ts';
import type { App, AppSettingsChange, CreateAppBody, PipelineTables } from './schema.ts';

type Db = Kysely<PipelineTables>;

/** An app's stored row, its sealed secrets included: for the module's own use, never for answers. */
export type AppRow = Selectable<PipelineTables['pipeline_apps']>;

/** Webhook secrets: 32 random bytes, URL-safe. */
function newSecret(): string {
  return `whs_${randomToken(32)}`;
}

/** The path a forge's webhook or the git hook posts to. */
export function webhookPath(app: string): string {
  return `/api/webhooks/${app}`;
}

/** The app as the API shows it. */
export function toApp(row: AppRow, baseUrl = ''): App {
  return {
    id: row.id,
    name: row.name,
    repository: row.repository,
    branch: row.branch,
    path: row.path,
    network: row.network,
    concurrency: row.concurrency,
    pollIntervalSeconds: row.poll_interval_seconds,
    retentionKeep: row.retention_keep,
    webhookUrl: `${baseUrl}${webhookPath(row.name)}`,
    hookInstalled: row.sealed_hook_secret !== null || row.plain_hook_secret !== null,
    latestBuild:
      row.latest_run_number !== null && row.latest_version && row.latest_built_at
        ? {
            run: `${row.name}/${row.latest_run_number}`,
            number: row.latest_run_number,
            version: row.latest_version,
            at: row.latest_built_at.toISOString(),
          }
        : null,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
  };
}

/**
 * Registers an app; returns it with its webhook secret, which is shown this once and stored sealed.
 * @throws AppExistsError; AppSecretsSealedError (before writing anything) while the secret store is sealed
 */
export async function createApp(
  db: Db,
  input: CreateAppBody,
  options: { readonly secrets: AppSecrets; readonly actor?: string | undefined },
): Promise<{ row: AppRow; webhookSecret: string }> {
  const id = newId();
  const webhookSecret = newSecret();
  const sealed = await options.secrets.seal(id, 'webhook', webhookSecret, `register app "${input.name}"`);
  const row = await db
    .insertInto('pipeline_apps')
    .values({
      id,
      name: input.name,
      repository: input.repository,
      branch: input.branch,
      path: input.path,
      network: input.network,
      concurrency: input.concurrency,
      poll_interval_seconds: input.pollIntervalSeconds,
      retention_keep: input.retentionKeep,
      sealed_webhook_secret: sealed,
      sealed_hook_secret: null,
      plain_webhook_secret: null,
      plain_hook_secret: null,
      last_polled_at: null,
      last_polled_commit: null,
      latest_run_id: null,
      latest_run_number: null,
      latest_version: null,
      latest_built_at: null,
      created_by: options.actor ?? null,
    })
    .onConflict((oc) => oc.column('name').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new AppExistsError(input.name);
  return { row, webhookSecret };
}

/** An app by name, or undefined. */
export async function findApp(db: Db, name: string): Promise<AppRow | undefined> {
  return db.selectFrom('pipeline_apps').selectAll().where('name', '=', name).executeTakeFirst();
}

/**
 * An app by name.
 * @throws AppNotFoundError
 */
export async function getApp(db: Db, name: string): Promise<AppRow> {
  const row = await findApp(db, name);
  if (!row) throw new AppNotFoundError(name);
  return row;
}

/** Every app, by name. */
export async function listApps(db: Db): Promise<AppRow[]> {
  return db.selectFrom('pipeline_apps').selectAll().orderBy('name').execute();
}

/**
 * Changes an app's settings (branch, path, network, concurrency, polling, retention).
 * @throws AppNotFoundError
 */
export async function updateApp(db: Db, name: string, settings: AppSettingsChange): Promise<AppRow> {
  if (Object.values(settings).every((value) => value === undefined)) return getApp(db, name);
  const row = await db
    .updateTable('pipeline_apps')
    .set({
      ...(settings.branch !== undefined ? { branch: settings.branch } : {}),
      ...(settings.path !== undefined ? { path: settings.path } : {}),
      ...(settings.network !== undefined ? { network: settings.network } : {}),
      ...(settings.concurrency !== undefined ? { concurrency: settings.concurrency } : {}),
      ...(settings.pollIntervalSeconds !== undefined
        ? { poll_interval_seconds: settings.pollIntervalSeconds }
        : {}),
      ...(settings.retentionKeep !== undefined ? { retention_keep: settings.retentionKeep } : {}),
    })
    .where('name', '=', name)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new AppNotFoundError(name);
  return row;
}

/**
 * Deletes an app with its runs and logs (its artifacts stay in the repository).
 * @throws AppNotFoundError, AppBusyError while runs are queued or running
 */
export async function deleteApp(db: Db, name: string): Promise<AppRow> {
  const row = await getApp(db, name);
  const { count } = await db
    .selectFrom('pipeline_runs')
    .select(sql<string>`count(*)`.as('count'))
    .where('app_id', '=', row.id)
    .where('state', 'in', ['queued', 'running'])
    .executeTakeFirstOrThrow();
  if (Number(count) > 0) throw new AppBusyError(name, Number(count));
  await db.deleteFrom('pipeline_apps').where('id', '=', row.id).execute();
  return row;
}

/**
 * Replaces an app's webhook secret; the old one stops working at once. Returns the new one (shown once).
 * @throws AppNotFoundError, AppSecretsSealedError
 */
export async function rotateWebhookSecret(db: Db, name: string, secrets: AppSecrets): Promise<string> {
  const { id } = await getApp(db, name);
  const secret = newSecret();
  const sealed = await secrets.seal(id, 'webhook', secret, `replace the webhook secret of app "${name}"`);
  await db
    .updateTable('pipeline_apps')
    .set({ sealed_webhook_secret: sealed, plain_webhook_secret: null })
    .where('id', '=', id)
    .execute();
  return secret;
}

/**
 * Makes a new secret for the app's post-receive hook (a hook installed earlier stops working).
 * @throws AppNotFoundError, AppSecretsSealedError
 */
export async function issueHookSecret(db: Db, name: string, secrets: AppSecrets): Promise<string> {
  const { id } = await getApp(db, name);
  const secret = `whk_${randomToken(32)}`;
  const sealed = await secrets.seal(id, 'hook', secret, `make a hook secret for app "${name}"`);
  await db
    .updateTable('pipeline_apps')
    .set({ sealed_hook_secret: sealed, plain_hook_secret: null })
    .where('id', '=', id)
    .execute();
  return secret;
}
