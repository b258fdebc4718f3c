/** @module Notifications: email over SMTP and Slack-compatible webhooks, recipients from role bindings. */

export { signWebhook } from './deliver.ts';
export { ChannelExistsError, ChannelNotFoundError, ChannelSecretsUnavailableError } from './errors.ts';
export { type CaughtMail, type MailCatcher, startMailCatcher } from './mail-catcher.ts';
export { notificationsMigrations } from './migrations.ts';
export { listNotifications } from './notifications.ts';
export { Notifier, type NotifierOptions } from './notifier.ts';
export { type Audience, DELIVERY_QUEUE, type NotificationInput } from './notify.ts';
export { type NotificationRouteOptions, notificationRoutes } from './routes.ts';
export { Channel, CreateChannelBody, Notification, type NotificationTables } from './schema.ts';
