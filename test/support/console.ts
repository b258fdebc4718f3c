/** Helpers for the console's browser tests. */
import type { Page } from 'playwright-core';

/** Logs in through the console's form and opens a page from the main navigation by its name. */
export async function logInAndOpen(
  page: Page,
  url: string,
  user: { readonly username: string; readonly password: string },
  pageName: string,
): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: pageName, exact: true })
    .click();
  await page.getByRole('heading', { level: 1, name: pageName }).waitFor();
}
