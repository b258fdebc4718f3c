/**
 * The console's Replication page in Debian Chromium (playwright-core) against a started control plane
 * with two real PostgreSQL clusters: a link's health, lag and pending changes, its tables, verify, stop
 * and start, and a schema change that stops it — never a connection string on the page.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createSaasSchema,
  type ReplicationPair,
  runSql,
  startReplicationPair,
  waitForCatchUp,
} from '../src/replication/testing.ts';
import { generateRootKey } from '../src/secrets/index.ts';
import { startTestServer, type TestServer } from '../src/server/testing.ts';

let server: TestServer;
let pair: ReplicationPair;
let dir: string;
let context: BrowserContext;
let page: Page;

/** The page reloads after an action or a Refresh; on a busy machine that can take a few seconds. */
const POLL = { timeout: 15_000, interval: 200 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slipway-replication-console-'));
  [server, pair] = await Promise.all([
    startTestServer({ rootKey: generateRootKey(), dataDir: join(dir, 'data') }),
    startReplicationPair(),
  ]);
  await createSaasSchema(pair);
  await runSql(
    pair.source.url,
    `INSERT INTO organisations (name) SELECT 'org-' || i FROM generate_series(1, 10) i;
     INSERT INTO users (organisation_id, email) SELECT 1 + i % 10, 'u' || i || '@example.com' FROM generate_series(1, 50) i;`,
  );
  const created = await server.inject('POST', '/api/replication/links', {
    token: server.adminToken,
    body: { name: 'demo', source: pair.source.url, target: pair.target.url, schema: 'public' },
  });
  expect(created.statusCode).toBe(201);
  await waitForCatchUp('demo', pair);
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(15_000);
  page = context.pages()[0] ?? (await context.newPage());
});

afterAll(async () => {
  await context?.close();
  await server?.stop();
  await pair?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Fails when the page shows either side's password (a connection string must never reach it). */
async function expectNoSecrets(): Promise<void> {
  const html = await page.content();
  for (const secret of [pair.source.password, pair.target.password]) expect(html).not.toContain(secret);
}

describe('the Replication page', () => {
  test('an administrator sees the link replicating, with lag, pending changes and its tables', async () => {
    await page.goto(server.url);
    await page.getByLabel('Username', { exact: true }).fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(server.adminPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Replication', exact: true })
      .click();
    await page.getByRole('heading', { level: 1, name: 'Replication' }).waitFor();

    const row = page.getByRole('region', { name: 'Links' }).getByRole('row', { name: /demo/ });
    await expect
      .poll(() => row.getByRole('cell').allTextContents(), POLL)
      .toStrictEqual(['replicating', '0.00 s', '0', expect.any(String), '4', '—']);
    await row.getByRole('button', { name: 'demo' }).click();
    const details = page.getByRole('region', { name: 'Link "demo"' });
    const tables = details.getByRole('table', { name: 'Tables' });
    await tables.getByRole('row', { name: /public\.users/ }).waitFor();
    expect((await tables.getByRole('rowheader').allTextContents()).sort()).toStrictEqual([
      'public.events',
      'public.organisations',
      'public.settings',
      'public.users',
    ]);
    expect(await tables.getByText('replicating', { exact: true }).count()).toBe(4);
    await expectNoSecrets();
  });

  test('Verify reports the replica identical; Stop holds changes back, counted, until Start', async () => {
    const details = page.getByRole('region', { name: 'Link "demo"' });
    await details.getByRole('button', { name: 'Verify' }).click();
    const verified = details.getByTestId('verify-result');
    await verified.waitFor({ timeout: 60_000 });
    expect(await verified.textContent()).toContain('The replica is identical to the source (4 tables)');

    await details.getByRole('button', { name: 'Stop' }).click();
    await details.getByText('Link "demo" stopped').waitFor();
    await runSql(pair.source.url, `UPDATE users SET display_name = 'held back' WHERE id <= 3`);
    await details.getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(() => details.textContent(), POLL).toContain('3 changes waiting');

    await details.getByRole('button', { name: 'Start' }).click();
    await details.getByText('Link "demo" started').waitFor();
    await waitForCatchUp('demo', pair);
    const [replica] = await runSql<{ n: string }>(
      pair.target.url,
      `SELECT count(*)::text AS n FROM users WHERE display_name = 'held back'`,
    );
    expect(replica!.n).toBe('3');
    await details.getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(() => details.textContent(), POLL).toContain('0 changes waiting');
  });

  test('a schema change on the source shows as the reason the link stopped', async () => {
    await runSql(pair.source.url, 'ALTER TABLE users ADD COLUMN nickname text');
    const details = page.getByRole('region', { name: 'Link "demo"' });
    await expect
      .poll(
        async () => {
          await details.getByRole('button', { name: 'Refresh' }).click();
          return details.textContent();
        },
        { timeout: 30_000, interval: 500 },
      )
      .toContain(
        'Replication link "demo" stopped: table "public.users" changed on the source: column "nickname" (text) was added',
      );
    const row = page.getByRole('region', { name: 'Links' }).getByRole('row', { name: /demo/ });
    await page.getByRole('region', { name: 'Links' }).getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(async () => (await row.getByRole('cell').allTextContents())[0], POLL).toBe('error');
    await expectNoSecrets();
  });
});
