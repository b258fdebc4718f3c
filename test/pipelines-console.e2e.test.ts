/**
 * The console's Apps, Runs and Artifacts pages in Debian Chromium (playwright-core) against a started
 * control plane: register an app (its webhook secret shown once), start a run and watch its log arrive
 * live over server-sent events, then find its artifact, promote it and see the channel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  api,
  makeRepository,
  type PipelineTestServer,
  startPipelineServer,
  type TestRepository,
  tinyApp,
  waitForRun,
} from './pipelines-support.ts';

const CONSOLE_DIST = join(import.meta.dirname, '..', 'console', 'dist');

/** Waits until the locator's text contains `text` (the page updates by itself). */
async function waitForText(locator: Locator, text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < deadline) {
    seen = (await locator.textContent().catch(() => '')) ?? '';
    if (seen.includes(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for "${text}"; the text is: ${seen.slice(-500)}`);
}

let t: PipelineTestServer;
let repo: TestRepository;
let profileDir: string;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  // test/global-setup.ts builds the console when its sources changed.
  t = await startPipelineServer({ consoleDir: CONSOLE_DIST });
  repo = await makeRepository();
  // A build that prints a line every 200 ms for a few seconds, to be watched live.
  await repo.commit(
    tinyApp('console-app', {
      build: 'for i in $(seq 1 15); do echo "compiling part $i"; sleep 0.2; done; echo built > out.txt',
    }),
  );
  await repo.push();
  profileDir = mkdtempSync(join(tmpdir(), 'slipway-pipelines-chromium-'));
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
  context.setDefaultTimeout(15_000);
  page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${t.url}/`);
  await page.getByLabel('Username', { exact: true }).fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(t.adminPassword);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}, 120_000);
afterAll(async () => {
  await context?.close();
  await t?.stopAll();
  await repo?.remove();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

test('registering an app shows its webhook secret once', async () => {
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: 'Apps', exact: true })
    .click();
  await page.getByRole('heading', { level: 1, name: 'Apps' }).waitFor();
  const form = page.getByRole('form', { name: 'Register an app' });
  await form.getByLabel('Name').fill('console-app');
  await form.getByLabel('Repository').fill(repo.bare);
  await form.getByRole('button', { name: 'Register app' }).click();
  const secret = page.getByRole('region', { name: 'Webhook secret' });
  await secret.getByText(/^whs_/).waitFor();
  await secret.getByRole('button', { name: 'Done, hide it' }).click();
  await secret.waitFor({ state: 'detached' });
  await page.getByRole('link', { name: 'console-app', exact: true }).waitFor();
});

test("a run's log arrives live, and its steps' states follow", async () => {
  await page.getByRole('button', { name: 'Start a run of "console-app"' }).click();
  await page.getByText(/^Run console-app\/1 queued for [0-9a-f]{12}$/).waitFor();
  await page.goto(`${t.url}/runs?run=console-app/1`);
  const log = page.getByRole('log', { name: 'Log of run console-app/1' });
  // A line shows while the run still runs: the log streams, it is not loaded at the end.
  await waitForText(log, 'compiling part 3');
  expect((await api(t, 'GET', '/api/apps/console-app/runs/1')).state).toBe('running');
  const steps = page.getByRole('list', { name: 'Steps' });
  await waitForText(steps, 'Build running');
  await waitForRun(t, 'console-app/1');
  await waitForText(log, '== Run succeeded');
  await waitForText(steps, 'Publish to the artifact repository succeeded');
  await page.getByRole('button', { name: 'Re-run' }).waitFor();
}, 60_000);

test('the artifact shows its build metadata; promoting it fills the channel', async () => {
  const [artifact] = await api(t, 'GET', '/api/artifacts?app=console-app');
  await page.getByRole('link', { name: artifact.version }).click();
  await page.getByRole('heading', { level: 2, name: `console-app ${artifact.version}` }).waitFor();
  await page.getByText(artifact.sha256).waitFor();
  await page.getByLabel('Promote to channel').fill('staging');
  await page.getByRole('button', { name: 'Promote', exact: true }).click();
  await page.getByText(`Promoted ${artifact.version} to channel staging (index revision 1)`).waitFor();
  const channels = page.getByRole('region', { name: 'Channels' });
  await channels.getByRole('link', { name: 'staging' }).waitFor();
  await waitForText(channels, '/apt staging main');
});
