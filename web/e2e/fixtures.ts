/**
 * The test fixture: every test gets the server's URL as baseURL and a browser signed in as
 * admin@localhost (the storage state global-setup saved), unless it asks for a fresh one.
 */
import { test as base, expect } from '@playwright/test';
import type { Page } from '@playwright/test';
import { join } from 'node:path';
import { server } from './server';

export const test = base.extend({
  baseURL: async ({}, use) => {
    await use(server().url);
  },
  storageState: async ({}, use) => {
    await use(server().storageState);
  },
});

export { expect };

const SCREENSHOTS = join(import.meta.dirname, '..', 'test-results', 'screenshots');

/** Saves a screenshot of the page as it is, in light and dark (the page's theme follows the system). */
/** Switches the colour scheme and lets the buttons' short colour transitions finish. */
async function scheme(page: Page, colorScheme: 'light' | 'dark'): Promise<void> {
  await page.emulateMedia({ colorScheme });
  await page.waitForTimeout(250);
}

export async function screenshots(page: Page, name: string, options: { fullPage?: boolean; dark?: boolean } = {}): Promise<void> {
  await scheme(page, 'light');
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-light.png`), fullPage: options.fullPage ?? false });
  if (options.dark ?? true) {
    await scheme(page, 'dark');
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-dark.png`), fullPage: options.fullPage ?? false });
    await scheme(page, 'light');
  }
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}
