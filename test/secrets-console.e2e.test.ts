/**
 * The console's Secrets page in Debian Chromium (playwright-core) against a started control plane:
 * the keys × environments matrix, an environment's secrets, an audited reveal, setting a value, and
 * what a viewer of one environment sees (no values, no forms).
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withRootKey } from '../src/secrets/testing.ts';
import { startTestServer, TEST_USER_PASSWORD, type TestServer } from '../src/server/testing.ts';
import { logInAndOpen } from './support/console.ts';

const ROOT = join(import.meta.dirname, '..');
const CONSOLE_DIR = join(ROOT, 'console');

function newestChange(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestChange(join(path, name))));
}

/** Builds the console unless console/dist is newer than every console source. */
function ensureConsoleBuilt(): void {
  const built = join(CONSOLE_DIR, 'dist', 'index.html');
  const sources = ['index.html', 'vite.config.ts', 'tsconfig.json', 'src'].map((p) => join(CONSOLE_DIR, p));
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources.map(newestChange))) return;
  execFileSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', 'console', '--logLevel', 'warn'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

let server: TestServer;
let profileDir: string;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  ensureConsoleBuilt();
  server = await startTestServer(withRootKey());
  const admin = (path: string, body: unknown) =>
    server.inject('POST', path, { token: server.adminToken, body });
  await admin('/api/secrets/environments/staging/APP_KEY', { value: 'base64:same-everywhere' });
  await admin('/api/secrets/environments/production/APP_KEY', { value: 'base64:same-everywhere' });
  await admin('/api/secrets/environments/staging/DB_PASSWORD', {
    value: 'staging-db-password',
    reason: 'initial',
  });
  await server.userWithRoles('stella', ['viewer@environment:staging']);
  profileDir = mkdtempSync(join(tmpdir(), 'slipway-secrets-chromium-'));
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
});

afterAll(async () => {
  await context?.close();
  await server?.stop();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

function logIn(username: string, password: string): Promise<void> {
  return logInAndOpen(page, server.url, { username, password }, 'Secrets');
}

describe('the Secrets page', () => {
  test('an administrator sees the matrix: missing keys, and a value shared by staging and production', async () => {
    await logIn('admin', server.adminPassword);
    const matrix = page.getByRole('region', { name: 'Keys × environments' });
    const appKey = matrix.getByRole('row', { name: /APP_KEY/ });
    await expect.poll(() => appKey.textContent()).toContain('same in staging and production');
    const dbPassword = matrix.getByRole('row', { name: /DB_PASSWORD/ });
    expect(await dbPassword.getByRole('cell').allTextContents()).toStrictEqual(['missing', 'v1']);
    expect(await page.content()).not.toContain('same-everywhere');
  });

  test("an environment's secrets show metadata; Reveal shows a value and is audited", async () => {
    await page.getByRole('button', { name: 'Show the secrets of staging' }).click();
    const section = page.getByRole('region', { name: 'Secrets of staging' });
    const row = section.getByRole('row', { name: /DB_PASSWORD/ });
    await row.waitFor();
    expect(await row.textContent()).toContain('initial');
    expect(await page.content()).not.toContain('staging-db-password');
    await row.getByRole('button', { name: 'Reveal the value of DB_PASSWORD (audited)' }).click();
    await expect
      .poll(() => section.getByLabel('Value of DB_PASSWORD').inputValue())
      .toBe('staging-db-password');
    const [entry] = (
      await server.inject('GET', '/api/audit?action=secrets.read&limit=1', { token: server.adminToken })
    ).json();
    expect(entry).toMatchObject({ actor: 'admin', outcome: 'success', target: 'secret:staging/DB_PASSWORD' });
    await section.getByRole('button', { name: 'Hide' }).click();
    expect(await page.content()).not.toContain('staging-db-password');
  });

  test('an administrator sets a value from the form; it never shows on the page', async () => {
    const form = page.getByRole('form', { name: 'Set a secret in staging' });
    await form.getByLabel('Name').fill('MAIL_PASSWORD');
    await form.getByLabel('Value', { exact: true }).fill('typed-mail-password');
    await form.getByLabel('Reason').fill('new mail provider');
    await form.getByRole('button', { name: 'Set secret' }).click();
    await page.getByText('Set MAIL_PASSWORD: version 1, secret set version 3').waitFor();
    await page.getByRole('row', { name: /MAIL_PASSWORD/ }).waitFor();
    expect(await page.content()).not.toContain('typed-mail-password');
    const value = await server.inject('GET', '/api/secrets/environments/staging/MAIL_PASSWORD/value', {
      token: server.adminToken,
    });
    expect(value.json().value).toBe('typed-mail-password');
  });

  test('a viewer of staging sees names and metadata, but no Reveal and no form', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await logIn('stella', TEST_USER_PASSWORD);
    const matrix = page.getByRole('region', { name: 'Keys × environments' });
    await matrix.getByRole('row', { name: /DB_PASSWORD/ }).waitFor();
    expect(await matrix.getByRole('columnheader').allTextContents()).toStrictEqual(['Key', 'staging']);
    await page.getByRole('button', { name: 'Show the secrets of staging' }).click();
    const section = page.getByRole('region', { name: 'Secrets of staging' });
    await section.getByRole('row', { name: /MAIL_PASSWORD/ }).waitFor();
    expect(await section.getByRole('button', { name: /Reveal/ }).count()).toBe(0);
    expect(await page.getByRole('form', { name: /Set a secret/ }).count()).toBe(0);
    await section
      .getByText("You see names and metadata; values are for the environment's administrators.")
      .waitFor();
  });
});
