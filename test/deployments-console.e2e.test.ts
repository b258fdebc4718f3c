/**
 * The console's Deployments page in Debian Chromium (playwright-core) against a started control plane:
 * the list, a running deployment's steps and hook output updating live as its runner writes events, a
 * deploy of a published version from the form, a refused deploy and rollback showing the server's
 * message and hint, and what a viewer sees (Deploy disabled with the reason, no rollback).
 *
 * The deployments are seeded as rows, without hosts: the test holds the deployments leader lock, so no
 * runner of the server touches them, and it writes their events itself.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openArtifactRepository } from '../src/artifacts/index.ts';
import { buildTestDeb } from '../src/artifacts/testing.ts';
import { newId } from '../src/core/index.ts';
import { startTestServer, TEST_USER_PASSWORD, type TestServer } from '../src/server/testing.ts';
import { logInAndOpen } from './support/console.ts';

const DEPLOYMENTS_LOCK = 'slipway.loop.deployments';

/** A rolling plan over two hosts, as src/deployments/plan.ts writes it. */
const PLAN = [
  { kind: 'drain', host: 'web-1' },
  { kind: 'install', host: 'web-1', release: 'new' },
  { kind: 'hook', hook: 'predeploy', host: 'web-1' },
  { kind: 'serve', host: 'web-1', weight: 100 },
  { kind: 'drain', host: 'web-2' },
  { kind: 'install', host: 'web-2', release: 'new' },
  { kind: 'serve', host: 'web-2', weight: 100 },
  { kind: 'hook', hook: 'postdeploy', host: 'web-1' },
];

let server: TestServer;
let lead: pg.Client;
let profileDir: string;
let context: BrowserContext;
let page: Page;
let running: { id: string; number: number };

/**
 * Takes the deployments leader lock from the server (ending its lock session until this one holds
 * it), so the server's runner leaves the seeded deployments alone.
 */
async function takeDeploymentsLead(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
      [DEPLOYMENTS_LOCK],
    );
    if (rows[0]?.locked) return client;
    await client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objid = hashtext($1)::oid AND pid <> pg_backend_pid()`,
      [DEPLOYMENTS_LOCK],
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await client.end();
  throw new Error('could not take the deployments leader lock from the server');
}

function db(): Kysely<any> {
  return server.server.store.db;
}

async function seedRelease(version: string): Promise<string> {
  const id = newId();
  await db()
    .insertInto('releases')
    .values({
      id,
      environment: 'staging',
      app: 'shop',
      version,
      artifact: JSON.stringify({ name: 'shop', version, sha256: '0'.repeat(64), channel: 'staging' }),
      config: JSON.stringify({}),
      created_by: 'admin',
    })
    .execute();
  return id;
}

async function seedDeployment(values: Record<string, unknown>): Promise<{ id: string; number: number }> {
  const id = newId();
  const row = await db()
    .insertInto('deployments')
    .values({
      id,
      environment: 'staging',
      app: 'shop',
      strategy: JSON.stringify({ strategy: 'rolling', batchSize: 1, maxSurge: 0, maxUnavailable: 1 }),
      instances: JSON.stringify([
        { host: 'web-1', serving: true },
        { host: 'web-2', serving: true },
      ]),
      plan: JSON.stringify(PLAN),
      trigger: 'manual',
      requested_by: 'admin',
      ...values,
    })
    .returning('number')
    .executeTakeFirstOrThrow();
  return { id, number: Number(row.number) };
}

/** Appends events as the runner does. */
async function addEvents(deploymentId: string, ...lines: [level: string, message: string][]): Promise<void> {
  for (const [level, message] of lines) {
    await db()
      .insertInto('deployment_events')
      .values({ deployment_id: deploymentId, level, message })
      .execute();
  }
}

/** Writes what the runner writes when it starts step `index` (0-based) of PLAN. */
async function startStep(deploymentId: string, index: number, description: string): Promise<void> {
  await db()
    .updateTable('deployments')
    .set({ next_action: index, state: PLAN[index]?.kind === 'hook' ? 'predeploy' : 'rolling' })
    .where('id', '=', deploymentId)
    .execute();
  await addEvents(deploymentId, ['info', `${index + 1}/${PLAN.length}: ${description}`]);
}

/** Waits until the locator's text contains `text` (the page updates by itself). */
async function waitForText(locator: Locator, text: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < deadline) {
    seen = (await locator.textContent().catch(() => '')) ?? '';
    if (seen.includes(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for "${text}"; the text is: ${seen.slice(-500)}`);
}

beforeAll(async () => {
  // test/global-setup.ts builds the console when its sources changed.
  server = await startTestServer();
  lead = await takeDeploymentsLead(server.postgres.url);
  // An applied staging that runs "shop" (enough of a model for the deploy checks), no hosts.
  await db()
    .insertInto('environments')
    .values({
      name: 'staging',
      provider: 'local',
      status: 'applied',
      model: JSON.stringify({
        name: 'staging',
        provider: { kind: 'local', vendor: 'slipway' },
        services: [{ name: 'web', app: 'shop' }],
        deploy: { strategy: 'rolling', batchSize: 1, maxSurge: 0, maxUnavailable: 1 },
        promotion: { requires: null },
        config: {},
      }),
    })
    .execute();
  const first = await seedRelease('1.0.0');
  const second = await seedRelease('1.1.0');
  const done = await seedDeployment({
    release_id: first,
    state: 'succeeded',
    next_action: PLAN.length,
    started_at: new Date(Date.now() - 600_000),
    finished_at: new Date(Date.now() - 540_000),
  });
  await addEvents(done.id, [
    'info',
    'succeeded: every host runs the new release and passes its health checks',
  ]);
  running = await seedDeployment({
    release_id: second,
    previous_release_id: first,
    state: 'rolling',
    started_at: new Date(),
  });
  await addEvents(
    running.id,
    ['info', 'admin asked for shop 1.1.0 on staging (from 1.0.0)'],
    ['info', `planned a rolling rollout over web-1, web-2: ${PLAN.length} steps`],
  );
  await startStep(running.id, 0, 'drain web-1');
  await startStep(running.id, 1, 'install the new release on web-1');
  await server.userWithRoles('vera', ['viewer@environment:staging']);
  // A published version to deploy from the form, with the layout a pipeline run would have recorded.
  const repository = openArtifactRepository({
    db: db(),
    dataDir: server.dataDir,
    secretVault: server.server.secretVault,
  });
  await repository.storeFile(await buildTestDeb({ name: 'shop', version: '1.2.0' }), {
    app: 'shop',
    actor: 'test',
  });
  await db()
    .insertInto('release_layouts')
    .values({
      app: 'shop',
      version: '1.2.0',
      layout: JSON.stringify({ package: 'shop', processTypes: {}, hooks: {} }),
    })
    .execute();

  profileDir = mkdtempSync(join(tmpdir(), 'slipway-deployments-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
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
  context.setDefaultTimeout(10_000);
  page = context.pages()[0] ?? (await context.newPage());
}, 120_000);

afterAll(async () => {
  await context?.close();
  await lead?.end().catch(() => undefined);
  await server?.stop();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

function openDeployments(username: string, password: string): Promise<void> {
  return logInAndOpen(page, server.url, { username, password }, 'Deployments');
}

describe('the Deployments page', () => {
  test('lists the deployments with environment, app, version, strategy, state and who', async () => {
    await openDeployments('admin', server.adminPassword);
    const list = page.getByRole('region', { name: 'Recent deployments' });
    const row = list.getByRole('row', { name: new RegExp(`#${running.number}`) });
    await row.waitFor();
    expect((await row.getByRole('cell').allTextContents()).slice(0, 6)).toStrictEqual([
      'staging',
      'shop',
      '1.1.0 (from 1.0.0)',
      'rolling (batches of 1)',
      'rolling',
      'admin',
    ]);
    await list.getByRole('row', { name: /succeeded/ }).waitFor();
  });

  test("a running deployment's steps and hook output update live as events arrive", async () => {
    await page.getByRole('link', { name: `#${running.number}`, exact: true }).click();
    const details = page.getByRole('region', { name: `Deployment #${running.number}` });
    const steps = details.getByRole('list', { name: 'Steps' });
    await waitForText(steps, 'install the new release on web-1');
    await details.getByText('(live)').waitFor();
    await waitForText(
      details.getByRole('status'),
      '1 of 8 steps done; now: install the new release on web-1',
    );
    // when: the runner moves on, and the hook writes its output
    await startStep(running.id, 2, 'run the predeploy hook on web-1');
    await addEvents(running.id, ['info', 'predeploy on web-1: migrate succeeded']);
    // then: the page shows it without a reload
    await waitForText(steps, 'run the predeploy hook on web-1');
    await waitForText(steps, 'predeploy on web-1: migrate succeeded');
    await waitForText(details.getByRole('status'), '2 of 8 steps done; now: run the predeploy hook on web-1');
    const hookStep = steps.getByRole('listitem').filter({ hasText: 'run the predeploy hook' }).first();
    expect(await hookStep.getAttribute('data-status')).toBe('running');
    const installStep = steps.getByRole('listitem').filter({ hasText: 'install the new release on web-1' });
    expect(await installStep.getAttribute('data-status')).toBe('done');
    await waitForText(details.getByRole('log'), 'predeploy on web-1: migrate succeeded');
  }, 60_000);

  test("a refused deploy shows the server's message and hint", async () => {
    await page.getByRole('button', { name: 'Deploy', exact: true }).click();
    const form = page.getByRole('form', { name: 'Deploy a version' });
    await form.getByLabel('Environment').selectOption('staging');
    // The app's published versions are offered, newest first, picked when the app is.
    await form.getByLabel('App').selectOption('shop');
    expect(await form.getByLabel('Version').inputValue()).toBe('1.2.0');
    await form.getByRole('button', { name: 'Deploy…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deploy shop 1.2.0 to staging?' });
    await dialog.getByText("with the environment's default strategy").waitFor();
    await dialog.getByRole('button', { name: 'Deploy', exact: true }).click();
    const alert = form.getByRole('alert');
    await waitForText(
      alert,
      `Cannot deploy to "staging": deployment #${running.number} (shop 1.1.0) is predeploy`,
    );
    await waitForText(
      alert,
      `Wait for it (\`slipway deployments show ${running.number} --wait\`), then deploy again`,
    );
    // A chosen strategy goes in the same request, in the shape the server accepts (refused as busy, not as invalid).
    await form.getByLabel('Strategy').selectOption('canary');
    await form.getByLabel('Canary steps (%)').fill('20, 100');
    await form.getByRole('button', { name: 'Deploy…' }).click();
    await dialog.getByText('with a canary at 20 → 100 % of the traffic').waitFor();
    const answer = page.waitForResponse(
      (response) => response.url().endsWith('/api/deployments') && response.request().method() === 'POST',
    );
    await dialog.getByRole('button', { name: 'Deploy', exact: true }).click();
    const response = await answer;
    expect(response.status()).toBe(409);
    expect(JSON.parse(response.request().postData() ?? '{}')).toStrictEqual({
      environment: 'staging',
      app: 'shop',
      version: '1.2.0',
      strategy: { strategy: 'canary', steps: [20, 100] },
    });
    await waitForText(alert, 'is predeploy');
    await form.getByRole('button', { name: 'Cancel' }).click();
  });

  test("a finished deployment stops following; Roll back names its target and shows the server's answer", async () => {
    const details = page.getByRole('region', { name: `Deployment #${running.number}` });
    await db()
      .updateTable('deployments')
      .set({ state: 'succeeded', next_action: PLAN.length, finished_at: new Date() })
      .where('id', '=', running.id)
      .execute();
    await addEvents(running.id, [
      'info',
      'succeeded: every host runs the new release and passes its health checks',
    ]);
    await waitForText(details.getByRole('log'), 'succeeded: every host runs the new release');
    // The server's runner left the seeded rows alone (the test holds its lock).
    expect(await details.getByRole('log').textContent()).not.toContain('the runner stopped');
    await expect.poll(() => details.getByText('(live)').count(), { timeout: 10_000 }).toBe(0);
    expect(await details.getByRole('list', { name: 'Steps' }).getByText('running').count()).toBe(0);
    await details.getByRole('button', { name: 'Roll back' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back shop on staging?' });
    await dialog
      .getByText(
        `staging goes back to shop 1.0.0, the version it ran before deployment #${running.number} (1.1.0)`,
      )
      .waitFor();
    // The request reaches the server; this seeded version has no artifact to install, and it says so.
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await waitForText(
      details.getByRole('alert'),
      'Cannot find version "1.0.0" of app "shop" in the artifact repository',
    );
    await waitForText(
      details.getByRole('alert'),
      'Run `slipway artifacts list --app shop` to see its versions',
    );
  });

  test('Deploy picks a published version; the new deployment opens and joins the list', async () => {
    await page.getByRole('button', { name: 'Deploy', exact: true }).click();
    const form = page.getByRole('form', { name: 'Deploy a version' });
    // The App field is a text box until the published apps have loaded, then a list of them.
    await form.locator('select[name="app"]').waitFor();
    await form.getByLabel('App').selectOption('shop');
    await form.getByRole('button', { name: 'Deploy…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deploy shop 1.2.0 to staging?' });
    await dialog.getByRole('button', { name: 'Deploy', exact: true }).click();
    const number = running.number + 1;
    await page.getByText(`Deployment #${number} of shop 1.2.0 to staging started`).waitFor();
    const details = page.getByRole('region', { name: `Deployment #${number}` });
    await waitForText(details, 'pending');
    await details.getByText('(live)').waitFor();
    await waitForText(details.getByRole('log'), 'admin asked for shop 1.2.0 on staging');
    const list = page.getByRole('region', { name: 'Recent deployments' });
    await list.getByRole('link', { name: `#${number}`, exact: true }).waitFor();
  });

  test('a viewer sees the deployments, with Deploy disabled and why, and no rollback', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await openDeployments('vera', TEST_USER_PASSWORD);
    await page.getByRole('link', { name: `#${running.number}`, exact: true }).waitFor();
    const deploy = page.getByRole('button', { name: 'Deploy', exact: true });
    expect(await deploy.isDisabled()).toBe(true);
    await page
      .getByText('Deploying needs role "deployer" on an environment; ask one of its administrators')
      .waitFor();
    await page.getByRole('link', { name: `#${running.number}`, exact: true }).click();
    const details = page.getByRole('region', { name: `Deployment #${running.number}` });
    await waitForText(details.getByRole('log'), 'succeeded');
    expect(await details.getByRole('button', { name: 'Roll back' }).count()).toBe(0);
  });
});
