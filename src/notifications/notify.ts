import type { Insertable, Kysely } from 'kysely';
import { newId, type Role, type Scope } from '../core/index.ts';
import { findUser, usersWithRole } from '../identity/index.ts';
import { channelTargets } from './channels.ts';
import type { NotificationTables } from './schema.ts';

/** Who a notification is for. */
export type Audience =
  /** Everyone holding at least `role` on `scope` (a platform binding counts for every environment). */
  | { readonly role: Role; readonly scope: Scope }
  /** Named users. */
  | { readonly usernames: readonly string[] };

/** A notification to record and deliver. */
export interface NotificationInput {
  /** A dotted event name: "integration.passed". */
  readonly event: string;
  readonly title: string;
  readonly text: string;
  readonly link?: string;
  readonly app?: string;
  readonly environment?: string;
  readonly audience: Audience;
  /** Structured facts for JSON webhooks (version, commit, test summary …); never secrets. */
  readonly data?: Record<string, unknown>;
  /** Only these channels (by name); every channel when absent. */
  readonly channels?: readonly string[];
}

/** The queue that delivers notifications; one job per delivery. */
export const DELIVERY_QUEUE = 'notifications.deliver';

function describeAudience(audience: Audience): string {
  if ('usernames' in audience) return audience.usernames.map((name) => `user:${name}`).join(' ');
  const scope = audience.scope.kind === 'platform' ? 'platform' : `environment:${audience.scope.environment}`;
  return `${audience.role}s of ${scope}`;
}

async function recipients(
  db: Kysely<any>,
  audience: Audience,
): Promise<{ username: string; email: string | null }[]> {
  if ('role' in audience) return usersWithRole(db, audience.role, audience.scope);
  const people: { username: string; email: string | null }[] = [];
  for (const username of new Set(audience.usernames)) {
    const user = await findUser(db, username);
    if (user && !user.isDisabled) people.push({ username: user.username, email: user.email });
  }
  return people;
}

/**
 * Records a notification and one delivery per email recipient (per email channel) and per webhook
 * channel, in the caller's transaction. Returns the delivery ids to enqueue once it commits.
 * A recipient without an email address gets a "skipped" delivery, so the gap is visible.
 */
export async function recordNotification(
  db: Kysely<NotificationTables>,
  input: NotificationInput,
): Promise<{ id: string; deliveryIds: string[] }> {
  const id = newId();
  await db
    .insertInto('notifications')
    .values({
      id,
      event: input.event,
      title: input.title,
      body: input.text,
      link: input.link ?? null,
      app: input.app ?? null,
      environment: input.environment ?? null,
      audience: describeAudience(input.audience),
      data: input.data ? (JSON.stringify(input.data) as any) : null,
    })
    .execute();
  const people = await recipients(db, input.audience);
  const deliveries: Insertable<NotificationTables['notification_deliveries']>[] = [];
  const only = input.channels ? new Set(input.channels) : undefined;
  for (const channel of await channelTargets(db)) {
    if (only && !only.has(channel.name)) continue;
    if (channel.kind === 'webhook') {
      deliveries.push({
        id: newId(),
        notification_id: id,
        channel_id: channel.id,
        recipient: null,
        status: 'pending',
      });
      continue;
    }
    for (const person of people) {
      deliveries.push({
        id: newId(),
        notification_id: id,
        channel_id: channel.id,
        recipient: person.email ?? person.username,
        status: person.email ? 'pending' : 'skipped',
        last_error: person.email ? null : `user "${person.username}" has no email address`,
      });
    }
  }
  if (deliveries.length > 0) await db.insertInto('notification_deliveries').values(deliveries).execute();
  return {
    id,
    deliveryIds: deliveries.filter((d) => d.status === 'pending').map((d) => d.id),
  };
}
