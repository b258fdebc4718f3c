import type { Kysely, Selectable } from 'kysely';
import { newId, randomToken } from '../core/index.ts';
import type { EnvelopeCipher } from '../secrets/index.ts';
import { ChannelExistsError, ChannelNotFoundError, ChannelSecretsUnavailableError } from './errors.ts';
import type { Channel, CreateChannelBody, NotificationTables } from './schema.ts';

type Db = Kysely<NotificationTables>;
type ChannelRow = Selectable<NotificationTables['notification_channels']>;

/** What a channel needs at send time: its settings and its decrypted secrets. */
export interface OpenedChannel {
  readonly id: string;
  readonly name: string;
  readonly kind: 'email' | 'webhook';
  readonly settings: Record<string, unknown>;
  /** SMTP password, or the webhook URL. */
  readonly secret?: string;
  readonly signingKey?: string;
}

function toChannel(row: ChannelRow): Channel {
  return {
    name: row.name,
    kind: row.kind,
    settings: row.settings,
    hasSecret: row.sealed_secret !== null,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
  };
}

function webhookHost(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

/**
 * Creates a channel. Its credential (an SMTP password, a webhook URL) and a webhook's signing key are
 * sealed with the secrets store's envelope cipher; only non-secret settings are stored in clear.
 * @throws ChannelExistsError; ChannelSecretsUnavailableError when a credential is given and the store is sealed
 */
export async function createChannel(
  db: Db,
  body: CreateChannelBody,
  options: { cipher: EnvelopeCipher | undefined; createdBy: string },
): Promise<Channel> {
  const existing = await db
    .selectFrom('notification_channels')
    .select('id')
    .where('name', '=', body.name)
    .executeTakeFirst();
  if (existing) throw new ChannelExistsError(body.name);
  const id = newId();
  const secret = body.kind === 'email' ? body.password : body.url;
  const signingKey = body.kind === 'webhook' ? randomToken(32) : undefined;
  if ((secret || signingKey) && !options.cipher) throw new ChannelSecretsUnavailableError(body.name);
  const settings =
    body.kind === 'email'
      ? { ...body.smtp }
      : {
          format: body.format,
          destination: webhookHost(body.url) /* host only: the path is the credential */,
        };
  await db
    .insertInto('notification_channels')
    .values({
      id,
      name: body.name,
      kind: body.kind,
      settings: JSON.stringify(settings) as any,
      sealed_secret: secret ? await options.cipher!.seal(secret, `channel:${id}:secret`) : null,
      sealed_signing_key: signingKey ? await options.cipher!.seal(signingKey, `channel:${id}:signing`) : null,
      created_by: options.createdBy,
    })
    .execute();
  const channel = await getChannel(db, body.name);
  return signingKey ? { ...channel, signingKey } : channel;
}

/** Lists channels (never their credentials). */
export async function listChannels(db: Db): Promise<Channel[]> {
  const rows = await db.selectFrom('notification_channels').selectAll().orderBy('name').execute();
  return rows.map(toChannel);
}

async function channelRow(db: Db, name: string): Promise<ChannelRow> {
  const row = await db
    .selectFrom('notification_channels')
    .selectAll()
    .where('name', '=', name)
    .executeTakeFirst();
  if (!row) throw new ChannelNotFoundError(name);
  return row;
}

/**
 * Finds a channel by name.
 * @throws ChannelNotFoundError
 */
export async function getChannel(db: Db, name: string): Promise<Channel> {
  return toChannel(await channelRow(db, name));
}

/** Removes a channel and its pending deliveries. */
export async function removeChannel(db: Db, name: string): Promise<void> {
  const row = await channelRow(db, name);
  await db.deleteFrom('notification_channels').where('id', '=', row.id).execute();
}

/** Every channel's row id and kind, for fanning a notification out. */
export async function channelTargets(
  db: Db,
): Promise<{ id: string; name: string; kind: 'email' | 'webhook' }[]> {
  return db.selectFrom('notification_channels').select(['id', 'name', 'kind']).orderBy('name').execute();
}

/**
 * A channel with its credentials decrypted, for sending.
 * @throws ChannelSecretsUnavailableError while the secrets store is sealed
 */
export async function openChannel(
  db: Db,
  id: string,
  cipher: EnvelopeCipher | undefined,
): Promise<OpenedChannel> {
  const row = await db
    .selectFrom('notification_channels')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  if ((row.sealed_secret || row.sealed_signing_key) && !cipher)
    throw new ChannelSecretsUnavailableError(row.name);
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    settings: row.settings,
    ...(row.sealed_secret ? { secret: await cipher!.open(row.sealed_secret, `channel:${id}:secret`) } : {}),
    ...(row.sealed_signing_key
      ? { signingKey: await cipher!.open(row.sealed_signing_key, `channel:${id}:signing`) }
      : {}),
  };
}
