import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { WebhookSignatureError } from './errors.ts';

/** Who sent a webhook: a forge, or Slipway's own post-receive hook. */
export type WebhookSource = 'github' | 'gitlab' | 'gitea' | 'git-hook';

/** One ref a push moved. */
export interface RefUpdate {
  readonly ref: string;
  /** The new commit (40 zeros when the ref was deleted). */
  readonly commit: string;
  readonly deleted: boolean;
}

/** What a verified webhook says. */
export type WebhookEvent =
  | { readonly kind: 'push'; readonly updates: readonly RefUpdate[]; readonly pusher?: string }
  | { readonly kind: 'ignored'; readonly reason: string };

/** The keys a webhook may be signed with. */
export interface WebhookKeys {
  /** The app's webhook secret (GitHub, GitLab, Gitea/Forgejo). */
  readonly webhookSecret: string;
  /** The post-receive hook's secret, once one was installed. */
  readonly hookSecret: string | null;
}

const ZERO_COMMIT = /^0{40}$/;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Which sender a request claims to come from, by its headers; undefined when none. */
export function detectWebhookSource(headers: IncomingHttpHeaders): WebhookSource | undefined {
  if (header(headers, 'x-slipway-signature') !== undefined) return 'git-hook';
  if (
    header(headers, 'x-gitea-signature') !== undefined ||
    header(headers, 'x-forgejo-signature') !== undefined ||
    header(headers, 'x-gitea-event') !== undefined ||
    header(headers, 'x-forgejo-event') !== undefined
  ) {
    return 'gitea';
  }
  if (header(headers, 'x-gitlab-token') !== undefined || header(headers, 'x-gitlab-event') !== undefined) {
    return 'gitlab';
  }
  if (
    header(headers, 'x-hub-signature-256') !== undefined ||
    header(headers, 'x-github-event') !== undefined
  ) {
    return 'github';
  }
  return undefined;
}

/** HMAC-SHA256 of the body in lowercase hex: what GitHub, Gitea and Slipway's hook sign with. */
export function webhookSignature(secret: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Compares two strings in time that depends on neither (digests first, so lengths do not leak). */
function constantTimeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

/**
 * Checks a webhook's signature over the exact bytes received, in constant time.
 * - GitHub: `X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>`.
 * - Gitea / Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature: <HMAC-SHA256 hex>`.
 * - GitLab: `X-Gitlab-Token: <the secret>` (GitLab sends the token itself; it does not sign the body).
 * - Slipway's post-receive hook: `X-Slipway-Signature: sha256=<HMAC-SHA256 hex>` with the hook's secret.
 * @throws WebhookSignatureError when the signature is missing or wrong
 */
export function verifyWebhook(
  source: WebhookSource,
  headers: IncomingHttpHeaders,
  body: Buffer,
  keys: WebhookKeys,
): void {
  const expectHmac = (presented: string | undefined, secret: string | null, prefix: string) => {
    if (!presented) throw new WebhookSignatureError('missing');
    if (!secret) throw new WebhookSignatureError('no key');
    const value = prefix && presented.startsWith(prefix) ? presented.slice(prefix.length) : presented;
    if (!constantTimeEqual(value.toLowerCase(), webhookSignature(secret, body))) {
      throw new WebhookSignatureError('mismatch');
    }
  };
  switch (source) {
    case 'github':
      expectHmac(header(headers, 'x-hub-signature-256'), keys.webhookSecret, 'sha256=');
      return;
    case 'gitea':
      expectHmac(
        header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature'),
        keys.webhookSecret,
        '',
      );
      return;
    case 'git-hook':
      expectHmac(header(headers, 'x-slipway-signature'), keys.hookSecret, 'sha256=');
      return;
    case 'gitlab': {
      const token = header(headers, 'x-gitlab-token');
      if (!token) throw new WebhookSignatureError('missing');
      if (!constantTimeEqual(token, keys.webhookSecret)) throw new WebhookSignatureError('mismatch');
      return;
    }
  }
}

function jsonBody(body: Buffer): Record<string, any> {
  try {
    const value = JSON.parse(body.toString('utf8'));
    return value && typeof value === 'object' ? value : {};
  } catch {
    return {};
  }
}

function pushOf(json: Record<string, any>, pusher: unknown): WebhookEvent {
  const ref = typeof json.ref === 'string' ? json.ref : undefined;
  const after = typeof json.after === 'string' ? json.after : undefined;
  if (!ref || !after || !/^[0-9a-f]{40}$/.test(after)) {
    return { kind: 'ignored', reason: 'the push names no ref or commit' };
  }
  const deleted = json.deleted === true || ZERO_COMMIT.test(after);
  return {
    kind: 'push',
    updates: [{ ref, commit: after, deleted }],
    ...(typeof pusher === 'string' ? { pusher } : {}),
  };
}

/** Reads what a verified webhook reports. Only pushes start runs; anything else is acknowledged. */
export function parseWebhookEvent(
  source: WebhookSource,
  headers: IncomingHttpHeaders,
  body: Buffer,
): WebhookEvent {
  switch (source) {
    case 'github': {
      const event = header(headers, 'x-github-event') ?? 'push';
      if (event !== 'push') return { kind: 'ignored', reason: `GitHub event "${event}" is not a push` };
      const json = jsonBody(body);
      return pushOf(json, json.pusher?.name);
    }
    case 'gitlab': {
      const event = header(headers, 'x-gitlab-event') ?? 'Push Hook';
      if (event !== 'Push Hook') return { kind: 'ignored', reason: `GitLab event "${event}" is not a push` };
      const json = jsonBody(body);
      return pushOf(json, json.user_username);
    }
    case 'gitea': {
      const event = header(headers, 'x-gitea-event') ?? header(headers, 'x-forgejo-event') ?? 'push';
      if (event !== 'push') return { kind: 'ignored', reason: `Gitea event "${event}" is not a push` };
      const json = jsonBody(body);
      return pushOf(json, json.pusher?.login ?? json.pusher?.username);
    }
    case 'git-hook': {
      // The body is what git hands post-receive on standard input: "<old> <new> <ref>" per line.
      const updates: RefUpdate[] = [];
      for (const line of body.toString('utf8').split('\n')) {
        const match = /^([0-9a-f]{40}) ([0-9a-f]{40}) (refs\/\S+)$/.exec(line.trim());
        if (match) updates.push({ ref: match[3]!, commit: match[2]!, deleted: ZERO_COMMIT.test(match[2]!) });
      }
      return updates.length > 0
        ? { kind: 'push', updates }
        : { kind: 'ignored', reason: 'the hook reported no ref update' };
    }
  }
}
