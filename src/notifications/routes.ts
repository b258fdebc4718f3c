import { z } from 'zod';
import { type AnyRoute, defineRoute, ForbiddenError, NotFoundError, PLATFORM } from '../core/index.ts';
import type { EnvelopeCipher } from '../secrets/index.ts';
import { createChannel, getChannel, listChannels, removeChannel } from './channels.ts';
import { listNotifications } from './notifications.ts';
import type { Notifier } from './notifier.ts';
import { Channel, ChannelName, CreateChannelBody, Notification } from './schema.ts';

/** What the notification routes need. */
export interface NotificationRouteOptions {
  readonly notifier: () => Notifier;
  readonly cipher: () => EnvelopeCipher | undefined;
}

/** Notifications (read by anyone for what they may see) and channels (platform administrators). */
export function notificationRoutes(options: NotificationRouteOptions): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/notifications',
      summary: 'Notifications the caller may see, newest first, with their deliveries',
      tags: ['notifications'],
      access: 'authenticated',
      query: z.strictObject({
        environment: z.string().max(63).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(50),
      }),
      response: z.array(Notification),
      async handler(context) {
        if (!context.principal) throw new ForbiddenError('Not allowed: sign in first');
        return listNotifications(context.db, context.principal, context.input.query);
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/notifications/:id',
      summary: 'One notification with its deliveries',
      tags: ['notifications'],
      access: 'authenticated',
      params: z.strictObject({ id: z.uuid() }),
      response: Notification,
      async handler(context) {
        if (!context.principal) throw new ForbiddenError('Not allowed: sign in first');
        const [found] = await listNotifications(context.db, context.principal, {
          id: context.input.params.id,
          limit: 1,
        });
        if (!found) {
          throw new NotFoundError(`Cannot find notification "${context.input.params.id}"`, {
            hint: 'Run `slipway notifications list` to see the ones you may read',
          });
        }
        return found;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/notification-channels',
      summary: 'List notification channels (never their credentials)',
      tags: ['notifications'],
      access: { role: 'admin', scope: PLATFORM },
      response: z.array(Channel),
      async handler(context) {
        return listChannels(context.db);
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/notification-channels',
      summary: 'Add an email (SMTP) or webhook channel; credentials are stored encrypted',
      tags: ['notifications'],
      access: { role: 'admin', scope: PLATFORM },
      body: CreateChannelBody,
      response: Channel,
      audit: { action: 'notifications.channel-create', target: ({ body }) => `channel:${body.name}` },
      async handler(context) {
        context.audit.details = { kind: context.input.body.kind };
        return createChannel(context.db, context.input.body, {
          cipher: options.cipher(),
          createdBy: context.principal?.username ?? 'unknown',
        });
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/notification-channels/:name',
      summary: 'Remove a channel',
      tags: ['notifications'],
      access: { role: 'admin', scope: PLATFORM },
      params: z.strictObject({ name: ChannelName }),
      response: z.object({ ok: z.literal(true) }),
      successStatus: 200,
      audit: { action: 'notifications.channel-remove', target: ({ params }) => `channel:${params.name}` },
      async handler(context) {
        await removeChannel(context.db, context.input.params.name);
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/notification-channels/:name/test',
      summary: 'Send a test notification to the caller through one channel',
      tags: ['notifications'],
      access: { role: 'admin', scope: PLATFORM },
      params: z.strictObject({ name: ChannelName }),
      response: z.object({ notification: z.string() }),
      transaction: false,
      audit: { action: 'notifications.channel-test', target: ({ params }) => `channel:${params.name}` },
      async handler(context) {
        await getChannel(context.db, context.input.params.name);
        const id = await options.notifier().notify({
          event: 'notifications.test',
          title: 'Slipway test notification',
          text: `This is a test of channel "${context.input.params.name}", sent by ${context.principal?.username}.`,
          audience: { usernames: [context.principal?.username ?? ''] },
          channels: [context.input.params.name],
        });
        return { notification: id };
      },
    }),
  ];
}
