/**
 * Accessibility: axe-core's WCAG 2.0/2.1 A and AA rules on every main page, in the light and the
 * dark theme, with data on it (status badges, a lock, a queue, tags, a secret, and a deploy whose
 * output uses every ANSI colour and attribute). Any violation fails the test and is printed rule
 * by rule with the elements that break it.
 */
import type { Page } from '@playwright/test';
import { axeViolations, describeViolations, emulateTheme, expectTheme, failingElements, THEMES } from './axe';
import { expect, screenshot, test } from './fixtures';
import { seed, seedProject, server, startDeploy, uniqueName, waitForDeploy } from './server';
import type { SeededDeploy } from './server';

/**
 * Runs axe on what `open` shows, in each theme (the page loads afresh in it), and expects no
 * violation; softly, so that a test checking several pages reports on all of them. Saves a
 * screenshot of each, a11y-<name>-<theme>.png, to look at the colours axe passed.
 */
async function expectAccessible(page: Page, name: string, open: () => Promise<void>): Promise<void> {
  const report: string[] = [];
  let failing = 0;
  for (const theme of THEMES) {
    await emulateTheme(page, theme);
    await open();
    await expectTheme(page, theme);
    const violations = await axeViolations(page);
    await screenshot(page, `a11y-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/-$/, '')}-${theme}`);
    console.log(`a11y ${name} (${theme}): ${violations.length} rules, ${failingElements(violations)} elements`);
    failing += failingElements(violations);
    if (violations.length) report.push(`${name} in the ${theme} theme:\n${describeViolations(violations)}`);
  }
  expect.soft(failing, `elements failing WCAG 2 A/AA rules on ${name}:\n${report.join('\n\n')}\n`).toBe(0);
}

/** Every SGR look a deploy's output may use: the 16 colours as text and as background, and the attributes. */
function ansiShowcase(): string {
  const esc = '\\033[';
  const colour = (n: number, base: number) => `${esc}${n < 8 ? base + n : base + 60 + n - 8}m`;
  const foregrounds = Array.from({ length: 16 }, (_, n) => `${colour(n, 30)}fg${n}${esc}0m`).join(' ');
  const boldForegrounds = Array.from({ length: 16 }, (_, n) => `${esc}1m${colour(n, 30)}bold${n}${esc}0m`).join(' ');
  const dimForegrounds = Array.from({ length: 16 }, (_, n) => `${esc}2m${colour(n, 30)}dim${n}${esc}0m`).join(' ');
  const backgrounds = Array.from({ length: 16 }, (_, n) => `${colour(n, 40)}bg${n}${esc}0m`).join(' ');
  const inverse = Array.from({ length: 16 }, (_, n) => `${esc}7m${colour(n, 30)}inv${n}${esc}0m`).join(' ');
  const attributes = `${esc}1mbold${esc}0m ${esc}2mdim${esc}0m ${esc}3mitalic${esc}0m ${esc}4munderline${esc}0m ${esc}9mstrike${esc}0m ${esc}7minverse${esc}0m`;
  const lines = [foregrounds, boldForegrounds, dimForegrounds, backgrounds, inverse, attributes];
  return `${lines.map((line) => `printf '${line}\\n'`).join('; ')}; echo 'a warning on stderr' >&2; echo plain text`;
}

interface Seeded {
  project: string;
  succeeded: SeededDeploy;
  failed: SeededDeploy;
  running: SeededDeploy;
}

let seeded: Seeded;

test.beforeAll(async () => {
  const project = uniqueName('a11y');
  const suffix = project.split('-').slice(1).join('-');
  await seedProject(project, ansiShowcase());
  await seed('PATCH', `/api/v1/projects/${project}`, {
    title: 'Accessible app',
    description: 'A project with a bit of everything on it',
    repository: server().repository,
  });
  await seed('POST', '/api/v1/hosts', { name: `web-${suffix}`, address: '10.9.0.1', tags: { role: 'web', a11y: suffix } });
  await seed('POST', '/api/v1/hosts', { name: `db-${suffix}`, address: '10.9.0.2', tags: { role: 'db', a11y: suffix } });
  // Hosts to show on an environment that is never deployed (a deploy to hosts would need Ansible).
  await seed('POST', `/api/v1/projects/${project}/environments`, { name: 'fleet', host_selector: { a11y: suffix } });
  await seed('POST', `/api/v1/projects/${project}/environments`, { name: 'production', deploy_command: 'echo failing >&2; exit 3' });
  await seed('POST', `/api/v1/projects/${project}/environments`, { name: 'review', deploy_command: 'echo working; sleep 120' });
  await seed('POST', `/api/v1/projects/${project}/variables`, { key: 'LOG_LEVEL', value: 'debug' });
  await seed('POST', `/api/v1/projects/${project}/variables`, { key: 'API_KEY', value: 'not-shown', secret: true });

  const succeeded = await startDeploy(project, 'staging', 'v1.0.0');
  const failed = await startDeploy(project, 'production', 'main');
  const running = await startDeploy(project, 'review', 'main');
  await waitForDeploy(succeeded.id, (status) => status === 'succeeded');
  await waitForDeploy(failed.id, (status) => status === 'failed');
  await waitForDeploy(running.id, (status) => status === 'running');
  await startDeploy(project, 'review', 'v1.0.0');
  await seed('PUT', `/api/v1/projects/${project}/environments/production/lock`, { reason: 'incident in progress' });
  seeded = { project, succeeded, failed, running };
});

test.afterAll(async () => {
  if (!seeded) return;
  const deploys = await seed<{ items: SeededDeploy[] }>('GET', `/api/v1/projects/${seeded.project}/deploys`);
  for (const deploy of deploys.items) {
    if (deploy.status === 'running' || deploy.status === 'queued') await seed('POST', `/api/v1/deploys/${deploy.id}/cancel`);
  }
});

test.describe('signed out', () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test('the sign-in page passes axe', async ({ page }) => {
    await expectAccessible(page, 'sign-in', async () => {
      await page.goto('/');
      await expect(page.getByTestId('signin')).toBeVisible();
    });
  });
});

test('the projects list passes axe', async ({ page }) => {
  await expectAccessible(page, 'projects', async () => {
    await page.goto('/');
    await expect(page.getByTestId('project-list')).toContainText(seeded.project);
  });
});

test('the new-project form passes axe', async ({ page }) => {
  await expectAccessible(page, 'new project', async () => {
    await page.goto('/?create=project');
    await expect(page.getByTestId('create-project')).toBeVisible();
  });
});

test('the project page, with a lock, a running deploy and a queue, passes axe', async ({ page }) => {
  await expectAccessible(page, 'project', async () => {
    await page.goto(`/p/${seeded.project}`);
    await expect(page.getByTestId('env-card-production').getByTestId('lock-banner')).toBeVisible();
    await expect(page.getByTestId('env-card-review').getByTestId('queue')).toContainText('v1.0.0');
    await expect(page.getByTestId('env-card-staging')).toContainText('v1.0.0');
  });
});

test('the environment page and its settings pass axe', async ({ page }) => {
  await expectAccessible(page, 'environment', async () => {
    await page.goto(`/p/${seeded.project}/e/staging`);
    await expect(page.getByText('v1.0.0').first()).toBeVisible();
  });
  await expectAccessible(page, 'environment with hosts', async () => {
    await page.goto(`/p/${seeded.project}/e/fleet`);
    await expect(page.getByText(`web-${seeded.project.split('-').slice(1).join('-')}`).first()).toBeVisible();
  });
  await expectAccessible(page, 'environment settings', async () => {
    await page.goto(`/p/${seeded.project}/e/fleet/settings`);
    await expect(page.getByTestId('selector-count')).toHaveText('2 hosts match');
  });
});

test('the deploy page, with every ANSI colour in its output, passes axe', async ({ page }) => {
  await expectAccessible(page, 'deploy (ANSI output)', async () => {
    await page.goto(`/p/${seeded.project}/deploys/${seeded.succeeded.id}`);
    await expect(page.getByTestId('deploy-page')).toHaveAttribute('data-status', 'succeeded');
    await expect(page.locator('.jeny-log')).toContainText('deploy succeeded');
    await expect(page.locator('.jeny-log .f15').first()).toBeVisible();
  });
  await expectAccessible(page, 'deploy (a selected line, search matches)', async () => {
    await page.goto(`/p/${seeded.project}/deploys/${seeded.succeeded.id}`);
    await page.locator('.jeny-log .r', { hasText: 'bold1' }).locator('a.n').click();
    await expect(page.locator('.jeny-log .r.sel')).toContainText('bold1');
    await page.getByLabel('Search the output').fill('1');
    await expect(page.locator('.jeny-log mark.cur')).toHaveCount(1);
  });
  await expectAccessible(page, 'deploy (failed)', async () => {
    await page.goto(`/p/${seeded.project}/deploys/${seeded.failed.id}`);
    await expect(page.getByTestId('deploy-page')).toHaveAttribute('data-status', 'failed');
    await expect(page.locator('.jeny-log')).toContainText('failing');
  });
  await expectAccessible(page, 'deploy (running)', async () => {
    await page.goto(`/p/${seeded.project}/deploys/${seeded.running.id}`);
    await expect(page.getByTestId('deploy-page')).toHaveAttribute('data-status', 'running');
    await expect(page.locator('.jeny-log')).toContainText('working');
  });
});

test('the deploy histories pass axe', async ({ page }) => {
  await expectAccessible(page, 'project deploys', async () => {
    await page.goto(`/p/${seeded.project}/deploys`);
    await expect(page.getByTestId('history-table').locator('tbody tr')).toHaveCount(4);
  });
  await expectAccessible(page, 'all deploys', async () => {
    await page.goto('/deploys');
    await expect(page.getByTestId('history-table')).toContainText(seeded.project);
  });
});

test('the variables and the project settings pass axe', async ({ page }) => {
  await expectAccessible(page, 'variables', async () => {
    await page.goto(`/p/${seeded.project}/variables`);
    await expect(page.getByTestId('variable-API_KEY')).toContainText('set');
  });
  await expectAccessible(page, 'project settings', async () => {
    await page.goto(`/p/${seeded.project}/settings`);
    await expect(page.getByTestId('project-settings')).toBeVisible();
  });
});

test('the hosts page passes axe', async ({ page }) => {
  await expectAccessible(page, 'hosts', async () => {
    await page.goto('/hosts');
    await expect(page.getByTestId('hosts-table')).toContainText(`web-${seeded.project.split('-').slice(1).join('-')}`);
  });
});

test('an error state, the shortcuts and the person menu pass axe', async ({ page }) => {
  await expectAccessible(page, 'not found', async () => {
    await page.goto('/p/no-such-project');
    await expect(page.getByTestId('error-state')).toContainText('No such project');
  });
  await expectAccessible(page, 'shortcuts', async () => {
    await page.goto('/hosts');
    await expect(page.getByRole('heading', { name: 'Hosts' })).toBeVisible();
    await page.keyboard.press('?');
    await expect(page.getByTestId('shortcuts')).toBeVisible();
  });
  await expectAccessible(page, 'person menu', async () => {
    await page.goto('/hosts');
    await page.getByRole('button', { name: 'Your account' }).click();
    await expect(page.getByTestId('person-menu')).toBeVisible();
  });
});
