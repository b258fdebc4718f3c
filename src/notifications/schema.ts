import type { Generated } from 'kysely';
import { z } from 'zod';

/** A name for a channel: lowercase letters, digits and "-". */
export const ChannelName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and "-", starting with a letter');

/** SMTP settings of an email channel (the password is kept apart, encrypted). */
export const SmtpSettings = z.strictObject({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65_535).default(587),
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  secure: z.boolean().default(false),
  /** Refuse to send when the server does not offer STARTTLS. @default false */
  requireTls: z.boolean().default(false),
  username: z.string().max(320).optional(),
  from: z.string().min(3).max(320),
});
export type SmtpSettings = z.infer<typeof SmtpSettings>;

export const CreateChannelBody = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('email'),
    name: ChannelName,
    smtp: SmtpSettings,
    /** The SMTP password; stored encrypted, never returned. */
    password: z.string().min(1).max(1024).optional(),
  }),
  z.strictObject({
    kind: z.literal('webhook'),
    name: ChannelName,
    /** The endpoint; stored encrypted (Slack-style URLs are credentials), never returned. */
    url: z.url({ protocol: /^https?$/ }).max(2048),
    /** "slack" posts Slack-compatible JSON ({ text, blocks }); "json" posts the notification itself. */
    format: z.enum(['slack', 'json']).default('slack'),
  }),
]);
export type CreateChannelBody = z.infer<typeof CreateChannelBody>;

export const Channel = z.object({
  name: z.string(),
  kind: z.enum(['email', 'webhook']),
  settings: z.record(z.string(), z.unknown()),
  hasSecret: z.boolean(),
  /** For webhooks: the key receivers use to check the X-Slipway-Signature header (shown on creation only). */
  signingKey: z.string().optional(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});
export type Channel = z.infer<typeof Channel>;

export const DeliveryStatus = z.enum(['pending', 'sent', 'failed', 'skipped']);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

export const Delivery = z.object({
  channel: z.string(),
  recipient: z.string().nullable(),
  status: DeliveryStatus,
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  sentAt: z.string().nullable(),
});

export const Notification = z.object({
  id: z.string(),
  event: z.string(),
  title: z.string(),
  text: z.string(),
  link: z.string().nullable(),
  app: z.string().nullable(),
  environment: z.string().nullable(),
  audience: z.string(),
  createdAt: z.string(),
  deliveries: z.array(Delivery),
});
export type Notification = z.infer<typeof Notification>;

/** Tables owned by the notifications module. */
export interface NotificationTables {
  notification_channels: {
    id: string;
    name: string;
    kind: 'email' | 'webhook';
    settings: Record<string, unknown>;
    sealed_secret: string | null;
    sealed_signing_key: string | null;
    created_at: Generated<Date>;
    created_by: string | null;
  };
  notifications: {
    id: string;
    event: string;
    title: string;
    body: string;
    link: string | null;
    app: string | null;
    environment: string | null;
    audience: string;
    data: Record<string, unknown> | null;
    created_at: Generated<Date>;
  };
  notification_deliveries: {
    id: string;
    notification_id: string;
    channel_id: string;
    recipient: string | null;
    status: DeliveryStatus;
    attempts: Generated<number>;
    last_error: string | null;
    sent_at: Date | null;
    created_at: Generated<Date>;
  };
}
