import { createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import nodemailer from 'nodemailer';
import type { EnvelopeCipher } from '../secrets/index.ts';
import { openChannel } from './channels.ts';
import type { NotificationTables, SmtpSettings } from './schema.ts';

type Db = Kysely<NotificationTables>;

/** How long a send may take before it counts as failed. */
const SEND_TIMEOUT_MS = 15_000;

/** Signs a webhook body: HMAC-SHA256 over "<timestamp>.<body>", so a replayed body with a new time fails. */
export function signWebhook(signingKey: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', signingKey).update(`${timestamp}.${body}`).digest('hex')}`;
}

function slackBody(notification: {
  title: string;
  body: string;
  link: string | null;
}): Record<string, unknown> {
  const text = notification.link
    ? `*${notification.title}*\n${notification.body}\n<${notification.link}|Open in Slipway>`
    : `*${notification.title}*\n${notification.body}`;
  return {
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: notification.title.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: notification.body.slice(0, 2900) } },
      ...(notification.link
        ? [
            {
              type: 'actions',
              elements: [
                {
                  type: 'button',
                  text: { type: 'plain_text', text: 'Open in Slipway' },
                  url: notification.link,
                },
              ],
            },
          ]
        : []),
    ],
  };
}

/** Removes anything URL- or credential-shaped from a transport error before it is stored. */
function safeError(error: unknown, secret: string | undefined): string {
  let message = error instanceof Error ? error.message : String(error);
  if (secret) message = message.split(secret).join('[redacted]');
  return message.replace(/https?:\/\/\S+/g, '[url]').slice(0, 500);
}

/**
 * Sends one delivery (an email to one recipient, or one webhook call) and records the outcome.
 * Throws when the attempt failed, so the job queue retries it with backoff.
 */
export async function deliver(
  db: Db,
  deliveryId: string,
  cipher: EnvelopeCipher | undefined,
  now: () => Date,
): Promise<void> {
  const delivery = await db
    .selectFrom('notification_deliveries as d')
    .innerJoin('notifications as n', 'n.id', 'd.notification_id')
    .select([
      'd.id',
      'd.channel_id',
      'd.recipient',
      'd.status',
      'n.id as notification_id',
      'n.event',
      'n.title',
      'n.body',
      'n.link',
      'n.app',
      'n.environment',
      'n.data',
      'n.created_at',
    ])
    .where('d.id', '=', deliveryId)
    .executeTakeFirst();
  if (delivery?.status !== 'pending') return; // removed, or already done by an earlier attempt
  await db
    .updateTable('notification_deliveries')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id', '=', deliveryId)
    .execute();
  let secret: string | undefined;
  try {
    const channel = await openChannel(db, delivery.channel_id, cipher);
    secret = channel.secret;
    if (channel.kind === 'email') {
      const smtp = channel.settings as SmtpSettings;
      const transport = nodemailer.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.secure,
        requireTLS: smtp.requireTls,
        ...(smtp.username && channel.secret ? { auth: { user: smtp.username, pass: channel.secret } } : {}),
        connectionTimeout: SEND_TIMEOUT_MS,
        greetingTimeout: SEND_TIMEOUT_MS,
        socketTimeout: SEND_TIMEOUT_MS,
      });
      try {
        await transport.sendMail({
          from: smtp.from,
          to: delivery.recipient ?? undefined,
          subject: delivery.title,
          text: delivery.link ? `${delivery.body}\n\n${delivery.link}\n` : `${delivery.body}\n`,
          headers: { 'X-Slipway-Event': delivery.event },
        });
      } finally {
        transport.close();
      }
    } else {
      const format = (channel.settings as { format?: string }).format ?? 'slack';
      const payload =
        format === 'slack'
          ? slackBody(delivery)
          : {
              id: delivery.notification_id,
              event: delivery.event,
              title: delivery.title,
              text: delivery.body,
              link: delivery.link,
              app: delivery.app,
              environment: delivery.environment,
              data: delivery.data,
              createdAt: delivery.created_at.toISOString(),
            };
      const body = JSON.stringify(payload);
      const timestamp = String(Math.floor(now().getTime() / 1000));
      const response = await fetch(channel.secret!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Slipway',
          'x-slipway-event': delivery.event,
          'x-slipway-timestamp': timestamp,
          ...(channel.signingKey
            ? { 'x-slipway-signature': signWebhook(channel.signingKey, timestamp, body) }
            : {}),
        },
        body,
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
        redirect: 'error',
      });
      if (!response.ok) throw new Error(`the webhook answered ${response.status}`);
    }
    await db
      .updateTable('notification_deliveries')
      .set({ status: 'sent', sent_at: now(), last_error: null })
      .where('id', '=', deliveryId)
      .execute();
  } catch (error) {
    await db
      .updateTable('notification_deliveries')
      .set({ last_error: safeError(error, secret) })
      .where('id', '=', deliveryId)
      .execute();
    throw new Error(`delivery ${deliveryId} failed: ${safeError(error, secret)}`);
  }
}

/** Marks a delivery failed for good (called when the queue has used up its retries). */
export async function giveUp(db: Db, deliveryId: string): Promise<void> {
  await db
    .updateTable('notification_deliveries')
    .set({ status: 'failed' })
    .where('id', '=', deliveryId)
    .where('status', '=', 'pending')
    .execute();
}
