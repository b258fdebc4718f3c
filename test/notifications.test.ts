import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type MailCatcher, signWebhook, startMailCatcher } from '../src/notifications/index.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';

interface Hook {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly path: string;
}

let t: TestServer;
let mail: MailCatcher;
let hooks: Hook[];
let receiver: Server;
let receiverUrl: string;
let dir: string;
let failWebhooks = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-mail-'));
  mail = await startMailCatcher({ dir });
  hooks = [];
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      if (failWebhooks > 0) {
        failWebhooks -= 1;
        response.writeHead(503).end();
        return;
      }
      hooks.push({ headers: request.headers, body, path: request.url ?? '' });
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  t = await startTestServer({ rootKey: generateRootKey() });
});
afterAll(async () => {
  await t?.stop();
  await mail?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('timed out');
}

async function createUserWithEmail(
  username: string,
  email: string | undefined,
  grants: string[],
): Promise<void> {
  const created = await t.inject('POST', '/api/users', {
    token: t.adminToken,
    body: { username, password: 'a-long-password-1', ...(email ? { email } : {}) },
  });
  expect(created.statusCode).toBe(201);
  for (const grant of grants) {
    const [role, scope] = grant.split('@');
    await t.inject('POST', '/api/role-bindings', {
      token: t.adminToken,
      body: { subject: `user:${username}`, role, scope },
    });
  }
}

describe('notifications', () => {
  test('staging administrators, and only they, get the email; the webhook gets a signed Slack message', async () => {
    // given: channels and people in different roles
    const email = await t.inject('POST', '/api/notification-channels', {
      token: t.adminToken,
      body: {
        kind: 'email',
        name: 'mail',
        smtp: { host: mail.host, port: mail.port, from: 'Slipway <slipway@example.test>' },
      },
    });
    expect(email.statusCode).toBe(201);
    const hook = await t.inject('POST', '/api/notification-channels', {
      token: t.adminToken,
      body: {
        kind: 'webhook',
        name: 'chat',
        url: `${receiverUrl}/hooks/T000/B000/secret-path`,
        format: 'slack',
      },
    });
    expect(hook.statusCode).toBe(201);
    const signingKey = hook.json().signingKey as string;
    expect(signingKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(hook.json().settings)).not.toContain('secret-path');

    await createUserWithEmail('sam', 'sam@example.test', ['admin@environment:staging']);
    await t.inject('POST', '/api/groups', { token: t.adminToken, body: { name: 'stage-ops' } });
    await createUserWithEmail('tess', 'tess@example.test', []);
    await t.inject('POST', '/api/groups/stage-ops/members', {
      token: t.adminToken,
      body: { username: 'tess' },
    });
    await t.inject('POST', '/api/role-bindings', {
      token: t.adminToken,
      body: { subject: 'group:stage-ops', role: 'admin', scope: 'environment:staging' },
    });
    await createUserWithEmail('uma', 'uma@example.test', ['deployer@environment:staging']);
    await createUserWithEmail('vic', 'vic@example.test', ['admin@environment:production']);
    await createUserWithEmail('wes', undefined, ['admin@environment:staging']);

    // when: a notification for staging administrators
    const id = await t.server.notifier.notify({
      event: 'integration.passed',
      title: 'laravel-app 1.0.0~b7+g1a2b3c passed integration',
      text: 'Unit 41/41, regression 12/12 passed on integration.',
      link: 'http://127.0.0.1/deployments/new?environment=staging',
      app: 'laravel-app',
      environment: 'staging',
      audience: { role: 'admin', scope: { kind: 'environment', environment: 'staging' } },
      data: { version: '1.0.0~b7+g1a2b3c' },
    });

    // then: exactly the staging administrators with an address got it
    const messages = await waitFor(async () => {
      const all = await mail.messages();
      return all.length >= 2 ? all : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const received = (await mail.messages()).flatMap((m) => m.to).sort();
    expect(received).toStrictEqual(['sam@example.test', 'tess@example.test']);
    expect(messages[0]!.subject).toBe('laravel-app 1.0.0~b7+g1a2b3c passed integration');
    expect(messages[0]!.text).toContain('Unit 41/41, regression 12/12 passed on integration.');

    const delivered = await waitFor(async () => (hooks.length > 0 ? hooks[0] : undefined));
    expect(delivered.path).toBe('/hooks/T000/B000/secret-path');
    const slack = JSON.parse(delivered.body);
    expect(slack.text).toContain('*laravel-app 1.0.0~b7+g1a2b3c passed integration*');
    expect(slack.blocks[0]).toStrictEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'laravel-app 1.0.0~b7+g1a2b3c passed integration' },
    });
    const timestamp = delivered.headers['x-slipway-timestamp'] as string;
    expect(delivered.headers['x-slipway-signature']).toBe(signWebhook(signingKey, timestamp, delivered.body));

    // and the notification list shows every delivery, including the one skipped for lack of an address
    const listed = await waitFor(async () => {
      const [n] = (await t.inject('GET', '/api/notifications', { token: t.adminToken })).json();
      return n?.deliveries.every((d: { status: string }) => d.status !== 'pending') ? n : undefined;
    });
    expect(listed.id).toBe(id);
    // (platform administrators administer staging too; "admin" has no address in this test)
    expect(listed.deliveries).toMatchObject([
      { channel: 'chat', recipient: null, status: 'sent' },
      { channel: 'mail', recipient: 'admin', status: 'skipped' },
      { channel: 'mail', recipient: 'sam@example.test', status: 'sent' },
      { channel: 'mail', recipient: 'tess@example.test', status: 'sent' },
      { channel: 'mail', recipient: 'wes', status: 'skipped', lastError: 'user "wes" has no email address' },
    ]);
  });

  test('a staging viewer sees staging notifications; a production-only user does not', async () => {
    const viewer = await t.userWithRoles('xena', ['viewer@environment:staging']);
    const outsider = await t.userWithRoles('yuri', ['viewer@environment:production']);
    expect((await t.inject('GET', '/api/notifications', { token: viewer })).json().length).toBeGreaterThan(0);
    expect((await t.inject('GET', '/api/notifications', { token: outsider })).json()).toStrictEqual([]);
  });

  test('a failing webhook is retried until it succeeds', async () => {
    failWebhooks = 1;
    const before = hooks.length;
    await t.server.notifier.notify({
      event: 'deploy.failed',
      title: 'retry me',
      text: 'x',
      audience: { usernames: ['admin'] },
      channels: ['chat'],
    });
    await waitFor(async () => (hooks.length > before ? true : undefined), 40_000);
    const [latest] = (await t.inject('GET', '/api/notifications?limit=1', { token: t.adminToken })).json();
    expect(latest.deliveries).toMatchObject([{ channel: 'chat', status: 'sent', attempts: 2 }]);
  }, 60_000);

  test('channel credentials are stored encrypted and never returned', async () => {
    const { rows } = await t.server.store.pool.query(
      `SELECT settings::text, sealed_secret FROM notification_channels WHERE name = 'chat'`,
    );
    expect(rows[0].settings).not.toContain('secret-path');
    expect(rows[0].sealed_secret).toMatch(/^slw1:/);
    const listed = await t.inject('GET', '/api/notification-channels', { token: t.adminToken });
    expect(listed.body).not.toContain('secret-path');
  });

  test('bad channel input is refused with field paths', async () => {
    const response = await t.inject('POST', '/api/notification-channels', {
      token: t.adminToken,
      body: { kind: 'webhook', name: 'Bad Name', url: 'ftp://example.test/x' },
    });
    expect(response.statusCode).toBe(400);
    expect(
      response
        .json()
        .error.details.map((d: { path: string }) => d.path)
        .sort(),
    ).toStrictEqual(['body.name', 'body.url']);
  });
});
