import { describe, expect, test } from 'vitest';
import { detectWebhookSource, parseWebhookEvent, verifyWebhook, webhookSignature } from './webhooks.ts';

const keys = { webhookSecret: 'whs_the-webhook-secret', hookSecret: 'whk_the-hook-secret' };
const commit = 'a'.repeat(40);
const body = Buffer.from(
  JSON.stringify({ ref: 'refs/heads/master', after: commit, pusher: { name: 'alice' } }),
);

describe('verifyWebhook()', () => {
  test('GitHub: X-Hub-Signature-256 over the exact body', () => {
    const headers = {
      'x-github-event': 'push',
      'x-hub-signature-256': `sha256=${webhookSignature(keys.webhookSecret, body)}`,
    };
    expect(detectWebhookSource(headers)).toBe('github');
    expect(() => verifyWebhook('github', headers, body, keys)).not.toThrow();
    expect(() => verifyWebhook('github', headers, Buffer.from(`${body} `), keys)).toThrow(
      'The webhook signature is missing or does not match',
    );
    expect(() => verifyWebhook('github', { 'x-github-event': 'push' }, body, keys)).toThrow(
      'missing or does not match',
    );
    const wrong = { ...headers, 'x-hub-signature-256': `sha256=${webhookSignature('other', body)}` };
    expect(() => verifyWebhook('github', wrong, body, keys)).toThrow('missing or does not match');
  });

  test('Gitea and Forgejo: the bare hex HMAC', () => {
    const signature = webhookSignature(keys.webhookSecret, body);
    for (const name of ['x-gitea-signature', 'x-forgejo-signature']) {
      const headers = { [name]: signature };
      expect(detectWebhookSource(headers)).toBe('gitea');
      expect(() => verifyWebhook('gitea', headers, body, keys)).not.toThrow();
      expect(() => verifyWebhook('gitea', { [name]: signature.replace(/.$/, '0') }, body, keys)).toThrow();
    }
  });

  test('GitLab: the token itself, compared in constant time', () => {
    expect(detectWebhookSource({ 'x-gitlab-token': keys.webhookSecret })).toBe('gitlab');
    expect(() => verifyWebhook('gitlab', { 'x-gitlab-token': keys.webhookSecret }, body, keys)).not.toThrow();
    expect(() =>
      verifyWebhook('gitlab', { 'x-gitlab-token': `${keys.webhookSecret}x` }, body, keys),
    ).toThrow();
    expect(() => verifyWebhook('gitlab', { 'x-gitlab-event': 'Push Hook' }, body, keys)).toThrow();
  });

  test("the git hook signs with its own secret, never the forges'", () => {
    const signed = (secret: string) => ({
      'x-slipway-signature': `sha256=${webhookSignature(secret, body)}`,
    });
    expect(() => verifyWebhook('git-hook', signed(keys.hookSecret), body, keys)).not.toThrow();
    expect(() => verifyWebhook('git-hook', signed(keys.webhookSecret), body, keys)).toThrow();
    expect(() =>
      verifyWebhook('git-hook', signed(keys.hookSecret), body, { ...keys, hookSecret: null }),
    ).toThrow();
  });

  test('a request with none of the headers is nobody', () => {
    expect(detectWebhookSource({ 'content-type': 'application/json' })).toBeUndefined();
  });
});

describe('parseWebhookEvent()', () => {
  test('reads pushes of each forge and acknowledges other events', () => {
    expect(parseWebhookEvent('github', { 'x-github-event': 'push' }, body)).toStrictEqual({
      kind: 'push',
      updates: [{ ref: 'refs/heads/master', commit, deleted: false }],
      pusher: 'alice',
    });
    expect(parseWebhookEvent('github', { 'x-github-event': 'ping' }, body)).toStrictEqual({
      kind: 'ignored',
      reason: 'GitHub event "ping" is not a push',
    });
    const gitlab = Buffer.from(
      JSON.stringify({ ref: 'refs/heads/dev', after: commit, user_username: 'bob' }),
    );
    expect(parseWebhookEvent('gitlab', { 'x-gitlab-event': 'Push Hook' }, gitlab)).toMatchObject({
      updates: [{ ref: 'refs/heads/dev', commit }],
      pusher: 'bob',
    });
    const deleted = Buffer.from(JSON.stringify({ ref: 'refs/heads/x', after: '0'.repeat(40) }));
    expect(parseWebhookEvent('gitea', { 'x-gitea-event': 'push' }, deleted)).toMatchObject({
      updates: [{ deleted: true }],
    });
  });

  test("reads the hook's lines of ref updates", () => {
    const lines = Buffer.from(
      `${'0'.repeat(40)} ${commit} refs/heads/master\n${commit} ${'b'.repeat(40)} refs/heads/feature\n`,
    );
    expect(parseWebhookEvent('git-hook', {}, lines)).toStrictEqual({
      kind: 'push',
      updates: [
        { ref: 'refs/heads/master', commit, deleted: false },
        { ref: 'refs/heads/feature', commit: 'b'.repeat(40), deleted: false },
      ],
    });
  });
});
