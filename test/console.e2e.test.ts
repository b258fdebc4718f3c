/**
 * The web console in Debian Chromium (playwright-core) against a started control plane: the journeys
 * of an administrator and of a platform viewer through login, users, groups, roles, the audit log,
 * tokens and logout. The tests of this file run in order and share one browser profile.
 *
 * Set SLIPWAY_SCREENSHOTS=DIR to keep a screenshot of each step there.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, TEST_USER_PASSWORD, type TestServer } from '../src/server/testing.ts';

const ROOT = join(import.meta.dirname, '..');
const CONSOLE_DIR = join(ROOT, 'console');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = process.env.SLIPWAY_SCREENSHOTS;

/** The newest modification time of a file or of any file under a directory. */
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
  // The server reads the console's index.html when it starts, so it starts after the build.
  server = await startTestServer();
  profileDir = mkdtempSync(join(tmpdir(), 'slipway-console-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  page = context.pages()[0] ?? (await context.newPage());
  if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await context?.close();
  await server?.stop();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

async function snap(name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

function nav(): Locator {
  return page.getByRole('navigation', { name: 'Main' });
}

async function open(label: string): Promise<void> {
  await nav().getByRole('link', { name: label, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: label }).waitFor();
}

async function logIn(username: string, password: string): Promise<void> {
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** Confirms the dialog a destructive button opened. */
async function confirm(buttonName: string): Promise<void> {
  await page.getByRole('dialog').getByRole('button', { name: buttonName }).click();
}

/** Runs SQL statements in one transaction against the test server's database. */
async function inDatabase(statements: readonly (readonly [string, unknown[]?])[]): Promise<void> {
  const client = new pg.Client({ connectionString: server.postgres.url });
  await client.connect();
  try {
    await client.query('BEGIN');
    for (const [text, values] of statements) await client.query(text, values);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/**
 * Makes an account wait as if it had failed too often. Reaching the server's backoff through real
 * failures takes seconds of waiting per step, so the test sets the lock in the identity table.
 */
async function lockAccount(username: string, seconds: number): Promise<void> {
  await inDatabase([
    [
      'UPDATE users SET failed_logins = 9, locked_until = now() + make_interval(secs => $2) WHERE username = $1',
      [username, seconds],
    ],
  ]);
}

/** Edits an audit entry behind Slipway's back, as someone with database access could. */
async function tamperWithAuditEntry(id: number, target: string): Promise<void> {
  await inDatabase([
    ['ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update'],
    ['UPDATE audit_log SET target = $2 WHERE id = $1', [id, target]],
    ['ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update'],
  ]);
}

function row(text: string): Locator {
  return page.getByRole('row').filter({ hasText: text });
}

describe('console (Chromium)', () => {
  test('a wrong password shows the server message and hint', async () => {
    await page.goto(server.url);
    await logIn('admin', 'not-the-password');

    const alert = page.getByRole('alert');
    await alert.getByText('Cannot log in: the username or password is wrong').waitFor();
    await alert.getByText('Check both and try again').waitFor();
    expect(await page.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    await snap('01-login-failed');
  });

  test('a locked account shows how long to wait, with the hint', async () => {
    await server.userWithRoles('lou', ['viewer@platform']);
    await lockAccount('lou', 300);
    await logIn('lou', TEST_USER_PASSWORD);

    const alert = page.getByRole('alert');
    await alert.getByText(/^Cannot log in yet: too many failed attempts; try again in \d+ s$/).waitFor();
    await alert.getByText('Wait, then log in with the right password').waitFor();
    await snap('01-login-locked');
  });

  test('the administrator logs in and sees the overview', async () => {
    await logIn('admin', server.adminPassword);

    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await page.getByTestId('current-user').textContent()).toBe('admin');
    await row('admin').filter({ hasText: 'platform' }).first().waitFor();
    await page.getByText('reachable', { exact: true }).waitFor();
    // Later modules add their pages; the Foundation's must all be there for an administrator.
    expect(await nav().getByRole('link').allTextContents()).toEqual(
      expect.arrayContaining(['Overview', 'Audit log', 'Users', 'Groups', 'Roles', 'My tokens']),
    );
    await snap('02-overview');
  });

  test('creating a user shows the field error for a short password, then creates the user', async () => {
    await open('Users');
    const form = page.getByRole('form', { name: 'Create a user' });

    await form.getByLabel('Username', { exact: true }).fill('dana');
    await form.getByLabel('Password', { exact: true }).fill('short');
    await form.getByRole('button', { name: 'Create user' }).click();
    await form.getByText('use at least 12 characters', { exact: true }).waitFor();
    expect(await form.getByLabel('Password', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await snap('03-user-field-error');

    await form.getByLabel('Password', { exact: true }).fill('a-long-enough-password');
    await form.getByLabel('Display name (optional)').fill('Dana Scully');
    await form.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').getByText('Created user "dana"').waitFor();
    await row('Dana Scully').getByText('active').waitFor();
    expect(await form.getByText('use at least 12 characters', { exact: true }).count()).toBe(0);
    await snap('04-user-created');
  });

  test('creating a group and adding the user to it', async () => {
    await open('Groups');
    const form = page.getByRole('form', { name: 'Create a group' });
    await form.getByLabel('Group name').fill('release-managers');
    await form.getByLabel('Description (optional)').fill('People who ship to staging');
    await form.getByRole('button', { name: 'Create group' }).click();
    await page.getByRole('status').getByText('Created group "release-managers"').waitFor();

    const addMember = page.getByRole('form', { name: 'Add a member to group "release-managers"' });
    await addMember.getByRole('combobox').fill('dana');
    await addMember.getByRole('button', { name: 'Add member' }).click();
    await page
      .getByRole('list', { name: 'Members of group "release-managers"' })
      .getByText('dana', { exact: true })
      .waitFor();
    await snap('05-group-member-added');
  });

  test('granting a role on environment:staging lists the binding', async () => {
    await open('Roles');
    const form = page.getByRole('form', { name: 'Grant a role' });
    await form.getByLabel('Username').fill('dana');
    await form.getByLabel('Role', { exact: true }).selectOption('deployer');
    await form.getByLabel('Scope', { exact: true }).selectOption('environment');
    await form.getByLabel('Environment').fill('staging');
    await form.getByRole('button', { name: 'Grant role' }).click();
    await page
      .getByRole('status')
      .getByText('Granted "deployer" on environment:staging to user:dana')
      .waitFor();

    const filter = page.getByRole('form', { name: 'Filter role bindings' });
    await filter.getByLabel('Scope').fill('environment:staging');
    await filter.getByRole('button', { name: 'Apply filter' }).click();
    await page.getByRole('row').filter({ hasText: 'user:admin' }).waitFor({ state: 'detached' });
    const rows = page.getByRole('row').filter({ hasText: 'environment:staging' });
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('user:danadeployerenvironment:stagingadmin');
    await snap('06-role-granted');
  });

  test('disabling a user asks for confirmation first', async () => {
    await open('Users');
    await page.getByRole('button', { name: 'Disable user "dana"' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    expect(await row('Dana Scully').getByText('active').count()).toBe(1);

    await page.getByRole('button', { name: 'Disable user "dana"' }).click();
    await snap('07-confirm-disable');
    await confirm('Disable user');
    await row('Dana Scully').getByText('disabled').waitFor();
    await page.getByRole('button', { name: 'Enable user "dana"' }).waitFor();
  });

  test('the audit log lists those actions and verifies the chain intact', async () => {
    await open('Audit log');
    for (const [action, target] of [
      ['users.create', 'user:dana'],
      ['groups.create', 'group:release-managers'],
      ['groups.add-member', 'group:release-managers'],
      ['roles.grant', 'user:dana'],
      ['users.disable', 'user:dana'],
    ] as const) {
      await page.getByRole('row').filter({ hasText: action }).filter({ hasText: target }).first().waitFor();
    }
    // The rejected user (short password) is there too, as a failure.
    await row('users.create').filter({ hasText: 'failure' }).waitFor();

    const filter = page.getByRole('form', { name: 'Filter audit entries' });
    await filter.getByLabel('Action').fill('groups.');
    await filter.getByRole('button', { name: 'Apply filter' }).click();
    await row('users.create').first().waitFor({ state: 'detached' });
    expect(await page.locator('tbody tr').count()).toBe(2);

    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.getByTestId('verify-result').getByText('The chain is intact').waitFor();
    await snap('08-audit');
  });

  test('logging out returns to the login page, and the API then answers 401', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');

    const answer = await page.request.get(`${server.url}/api/whoami`);
    expect(answer.status()).toBe(401);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    await page.goto(`${server.url}/users`);
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await snap('09-logged-out');
  });

  test('a platform viewer sees no admin actions, and the navigation hides admin-only pages', async () => {
    await server.userWithRoles('vera', ['viewer@platform']);
    await logIn('vera', TEST_USER_PASSWORD);
    // Logged in at /users: the page asked for before login.
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    const links = await nav().getByRole('link').allTextContents();
    expect(links).toEqual(expect.arrayContaining(['Overview', 'Users', 'Groups', 'Roles', 'My tokens']));
    expect(links).not.toContain('Audit log');
    await row('Dana Scully').waitFor();
    expect(await page.getByRole('form', { name: 'Create a user' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /Disable|Enable/ }).count()).toBe(0);
    await snap('10-viewer-users');

    await open('Groups');
    await row('release-managers').waitFor();
    expect(await page.getByRole('form').count()).toBe(0);
    expect(await page.getByRole('button', { name: /Remove|Delete|Add member/ }).count()).toBe(0);

    await open('Roles');
    await row('user:dana').waitFor();
    expect(await page.getByRole('form', { name: 'Grant a role' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /Revoke/ }).count()).toBe(0);

    await page.goto(`${server.url}/audit`);
    await page
      .getByRole('alert')
      .getByText('Not allowed: this page needs role "admin" on the platform')
      .waitFor();
  });

  test('a user creates a token, sees its value once, and revokes it', async () => {
    await open('My tokens');
    const form = page.getByRole('form', { name: 'Create a token' });
    await form.getByLabel('Name').fill('laptop');
    await form.getByRole('button', { name: 'Create token' }).click();
    const value = await page.getByRole('textbox', { name: 'Token value', exact: true }).inputValue();
    await page.getByText('this is the only time its value is shown').waitFor();
    await snap('11-token-created');

    const asToken = { headers: { authorization: `Bearer ${value}` } };
    expect((await fetch(`${server.url}/api/whoami`, asToken)).status).toBe(200);

    await page.getByRole('button', { name: 'Revoke token "laptop"' }).click();
    await confirm('Revoke token');
    await row('laptop').getByText('revoked').waitFor();
    expect(await page.getByRole('textbox', { name: 'Token value', exact: true }).count()).toBe(0);
    expect((await fetch(`${server.url}/api/whoami`, asToken)).status).toBe(401);
  });

  test('a session that ends on the server returns to the login page with a notice', async () => {
    await context.clearCookies();
    await nav().getByRole('link', { name: 'Users' }).click();

    await page.getByRole('status').getByText('Your session has ended. Log in again to continue.').waitFor();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
  });

  test('Verify names an audit entry edited in the database, and shows it', async () => {
    // given: an administrator on the audit page, and one entry edited behind Slipway's back
    await logIn('admin', server.adminPassword);
    await page.getByRole('heading', { level: 1 }).waitFor();
    await tamperWithAuditEntry(3, 'user:mallory');
    await open('Audit log');

    // when
    await page.getByRole('button', { name: 'Verify the chain' }).click();

    // then
    const result = page.getByTestId('verify-result');
    await result.getByText('The chain is broken at entry #3 (edited)').waitFor();
    await result.getByRole('button', { name: 'Show entry #3' }).click();
    await page.locator('tr.row-marked').getByText('user:mallory').waitFor();
    await snap('12-audit-broken');
  });
});
