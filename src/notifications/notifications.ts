import type { Kysely } from 'kysely';
import type { Principal } from '../core/index.ts';
import { isAllowed } from '../identity/index.ts';
import type { Notification, NotificationTables } from './schema.ts';

type Db = Kysely<NotificationTables>;

/**
 * Lists notifications the principal may see, newest first: platform viewers see all; others see
 * those of environments they hold a role on, and platform-wide ones addressed to them.
 */
export async function listNotifications(
  db: Db,
  principal: Principal,
  filter: { environment?: string; limit?: number; id?: string } = {},
): Promise<Notification[]> {
  let query = db.selectFrom('notifications').selectAll();
  if (filter.environment) query = query.where('environment', '=', filter.environment);
  if (filter.id) query = query.where('id', '=', filter.id);
  const rows = await query
    .orderBy('created_at', 'desc')
    .limit(Math.min(filter.limit ?? 50, 500) * 4)
    .execute();
  const seesAll = isAllowed(principal, 'viewer', { kind: 'platform' });
  const visible = rows
    .filter(
      (row) =>
        seesAll ||
        (row.environment !== null &&
          isAllowed(principal, 'viewer', { kind: 'environment', environment: row.environment })) ||
        row.audience.split(' ').includes(`user:${principal.username}`),
    )
    .slice(0, filter.limit ?? 50);
  if (visible.length === 0) return [];
  const deliveries = await db
    .selectFrom('notification_deliveries as d')
    .innerJoin('notification_channels as c', 'c.id', 'd.channel_id')
    .select([
      'd.notification_id',
      'c.name as channel',
      'd.recipient',
      'd.status',
      'd.attempts',
      'd.last_error',
      'd.sent_at',
    ])
    .where(
      'd.notification_id',
      'in',
      visible.map((row) => row.id),
    )
    .orderBy('c.name')
    .orderBy('d.recipient')
    .execute();
  return visible.map((row) => ({
    id: row.id,
    event: row.event,
    title: row.title,
    text: row.body,
    link: row.link,
    app: row.app,
    environment: row.environment,
    audience: row.audience,
    createdAt: row.created_at.toISOString(),
    deliveries: deliveries
      .filter((d) => d.notification_id === row.id)
      .map((d) => ({
        channel: d.channel,
        recipient: d.recipient,
        status: d.status,
        attempts: d.attempts,
        lastError: d.last_error,
        sentAt: d.sent_at?.toISOString() ?? null,
      })),
  }));
}
