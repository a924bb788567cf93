/**
 * The web app against a real jeny server: sign-in, projects and environments, the host selector
 * preview, secret variables, live deploys, cancel, deep links to output lines, history filters
 * in the URL, error states, keyboard shortcuts, and a page following the live event stream.
 * Screenshots go to test-results/screenshots/.
 */
import { seed, seedProject, server, startDeploy, uniqueName, waitForDeploy } from './server';
import { expect, screenshot, screenshots, test } from './fixtures';

test.describe('signing in', () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test('the one-time link from the console signs in and lands on the projects page', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByTestId('signin')).toBeVisible();
    await expect(page.getByText('jeny admin sign-in-link')).toBeVisible();
    await screenshots(page, 'signin');

    await page.goto(server().consoleLink);
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByRole('heading', { name: 'Projects' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Your account' })).toBeVisible();
  });
});

test('a project and an environment are created through the UI', async ({ page }) => {
  const name = uniqueName('made');
  await page.goto('/');
  await page.getByRole('button', { name: 'New project' }).click();
  const form = page.getByTestId('create-project');
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Title').fill('Made in the UI');
  await form.getByLabel('Deploy command').fill('echo deployed');
  await form.getByRole('button', { name: 'Create project' }).click();

  await expect(page).toHaveURL(new RegExp(`/p/${name}$`));
  await expect(page.getByText('No environment yet')).toBeVisible();
  await page.getByRole('button', { name: 'Add an environment' }).click();
  const environmentForm = page.getByTestId('create-environment');
  await environmentForm.getByLabel('Name').fill('staging');
  await environmentForm.getByRole('button', { name: 'Create environment' }).click();

  await expect(page).toHaveURL(new RegExp(`/p/${name}/e/staging/settings$`));
  await page.getByRole('link', { name }).first().click();
  await expect(page.getByTestId('env-card-staging')).toBeVisible();
  await expect(page.getByTestId('env-card-staging')).toContainText('nothing yet');
});

test('the host selector editor previews the matched hosts as it changes', async ({ page }) => {
  const project = uniqueName('sel');
  const suffix = project.split('-').slice(1).join('-');
  await seedProject(project, 'true', 'production');
  await seed('POST', '/api/v1/hosts', { name: `web-${suffix}`, address: '10.0.0.1', tags: { role: 'web', fleet: suffix } });
  await seed('POST', '/api/v1/hosts', { name: `db-${suffix}`, address: '10.0.0.2', tags: { role: 'db', fleet: suffix } });

  await page.goto(`/p/${project}/e/production/settings`);
  const preview = page.getByTestId('selector-preview');
  await expect(page.getByTestId('selector-count')).toHaveText('Targets no host');

  await page.getByRole('button', { name: 'Add condition' }).click();
  await page.getByLabel('Tag key').last().fill('fleet');
  await page.getByLabel('Tag value').last().fill(suffix);
  await expect(page.getByTestId('selector-count')).toHaveText('2 hosts match');
  await expect(preview).toContainText(`web-${suffix}`);
  await expect(preview).toContainText(`db-${suffix}`);

  await page.getByRole('button', { name: 'Add condition' }).click();
  await page.getByLabel('Tag key').last().fill('role');
  await page.getByLabel('Tag value').last().fill('web');
  await expect(page.getByTestId('selector-count')).toHaveText('1 host match');
  await expect(preview).toContainText(`web-${suffix}`);
  await expect(preview).not.toContainText(`db-${suffix}`);
  await screenshots(page, 'environment-settings', { fullPage: true });

  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByText('Saved')).toBeVisible();
  const saved = await seed<{ host_selector: Record<string, string> }>('GET', `/api/v1/projects/${project}/environments/production`);
  expect(saved.host_selector).toEqual({ fleet: suffix, role: 'web' });
});

test('a secret variable is shown as set and its value never appears', async ({ page }) => {
  const project = uniqueName('sec');
  await seedProject(project, 'true');
  const secretValue = 'hunter2-very-secret';
  await page.goto(`/p/${project}/variables`);
  await page.getByRole('button', { name: 'Add variable' }).click();
  const form = page.getByTestId('variable-form');
  await form.getByLabel('Key').fill('DATABASE_PASSWORD');
  await form.getByLabel('Secret', { exact: true }).check();
  await expect(form.getByLabel('Secret value')).toHaveAttribute('type', 'password');
  await form.getByLabel('Secret value').fill(secretValue);
  await form.getByRole('button', { name: 'Add variable' }).click();

  const row = page.getByTestId('variable-DATABASE_PASSWORD');
  await expect(row).toContainText('secret');
  await expect(row).toContainText('set');
  await page.reload();
  await expect(page.getByTestId('variable-DATABASE_PASSWORD')).toContainText('set');
  expect(await page.content()).not.toContain(secretValue);

  await page.getByTestId('variable-DATABASE_PASSWORD').getByRole('button', { name: 'Replace' }).click();
  await expect(page.getByTestId('variable-form').getByLabel('Secret value')).toHaveValue('');
  expect(await page.content()).not.toContain(secretValue);
});

test('a deploy started from the UI streams its output live, then succeeds', async ({ page }) => {
  const project = uniqueName('live');
  await seedProject(project, 'for i in $(seq 1 40); do echo "line $i"; sleep 0.1; done');
  await seed('POST', `/api/v1/projects/${project}/environments/staging/deploys`, { ref: 'v0.9.0' });
  await page.goto(`/p/${project}/e/staging`);
  await expect(page.getByRole('button', { name: /^Deploy/ })).toBeEnabled();
  await page.keyboard.press('d');
  const form = page.getByTestId('deploy-form');
  await expect(form).toBeVisible();
  await form.getByLabel('Ref').fill('v1.0.0');
  await form.getByLabel('Description').fill('the live test');
  await form.getByRole('button', { name: /Deploy/ }).click();

  await expect(page).toHaveURL(new RegExp(`/p/${project}/deploys/[0-9a-f-]+$`));
  const deployPage = page.getByTestId('deploy-page');
  const log = page.locator('.jeny-log');
  // Lines arrive while the deploy is still running.
  await expect(log).toContainText('line 3', { timeout: 15_000 });
  await expect(deployPage).toHaveAttribute('data-status', 'running');
  // The node whose supervisor runs it, beside when it started.
  await expect(page.getByTestId('deploy-node')).toHaveText(/on node \S+/);
  await screenshots(page, 'deploy-running');

  await expect(deployPage).toHaveAttribute('data-status', 'succeeded', { timeout: 30_000 });
  await expect(page.locator('.jeny-log')).toContainText('deploy succeeded');
  await screenshots(page, 'deploy-finished');

  await page.setViewportSize({ width: 375, height: 740 });
  await screenshot(page, 'deploy-phone-light');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForTimeout(250);
  await screenshot(page, 'deploy-phone-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });

  await page.goto(`/p/${project}`);
  await expect(page.getByTestId('env-card-staging')).toContainText('v1.0.0');
  await screenshots(page, 'project');
  await page.goto('/');
  await expect(page.getByTestId('project-list')).toContainText(project);
  await screenshots(page, 'projects');
});

test('output faster than a screen is skipped live, then shown whole once the deploy ends', async ({ page }) => {
  const project = uniqueName('burst');
  // 300,000 lines in one burst: batches far over 64 KiB, which a live page gets only the ends of.
  await seedProject(project, "sleep 2; seq -f 'row %06.0f' 1 300000");
  const deploy = await startDeploy(project, 'staging');
  await waitForDeploy(deploy.id, (status) => status === 'running');
  const live = page.waitForRequest((request) => request.url().includes('/output?behind=skip'));
  // After a skip, the whole output is fetched as plain text once the deploy ends.
  const whole = page.waitForRequest((request) => request.url().endsWith(`/deploys/${deploy.id}/output`), {
    timeout: 30_000,
  });
  await page.goto(`/p/${project}/deploys/${deploy.id}`);
  await live;
  await whole;
  await expect(page.getByTestId('deploy-page')).toHaveAttribute('data-status', 'succeeded', { timeout: 30_000 });
  const log = page.locator('.jeny-log');
  await expect(log).toHaveAttribute('data-state', 'done', { timeout: 30_000 });
  // The whole output replaced the live view: a line from the middle is there, no skip marker is.
  const find = page.getByLabel('Search the output');
  await find.fill('row 150000');
  await find.press('Enter');
  await expect(log).toContainText('1 of 1');
  await find.fill('output skipped here');
  await find.press('Enter');
  await expect(log).toContainText('No matches');
  expect(Number(await log.getAttribute('data-lines'))).toBeGreaterThanOrEqual(300_000);
});

test('cancelling a running deploy asks first, then shows it cancelled', async ({ page }) => {
  const project = uniqueName('cancel');
  await seedProject(project, 'echo started; sleep 300');
  const deploy = await startDeploy(project, 'staging');
  await waitForDeploy(deploy.id, (status) => status === 'running');
  await page.goto(`/p/${project}/deploys/${deploy.id}`);
  await expect(page.locator('.jeny-log')).toContainText('started');
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(page.getByRole('dialog', { name: 'Cancel this deploy?' })).toBeVisible();
  await page.getByRole('button', { name: 'Cancel deploy' }).click();
  await expect(page.getByTestId('deploy-page')).toHaveAttribute('data-status', 'cancelled', { timeout: 30_000 });
  await expect(page.getByTestId('deploy-reason')).toContainText('cancelled by admin@localhost');
});

test('a link to a line of the output highlights that line and scrolls it into view', async ({ page }) => {
  const project = uniqueName('deep');
  await seedProject(project, 'for i in $(seq 1 400); do echo "row $i"; done');
  const deploy = await startDeploy(project, 'staging');
  await waitForDeploy(deploy.id, (status) => status === 'succeeded');
  await page.goto(`/p/${project}/deploys/${deploy.id}#L200`);
  const line = page.locator('.jeny-log .r.sel');
  await expect(line).toHaveCount(1);
  await expect(line).toContainText('row 200');
  await expect(line).toBeInViewport();
});

test('history filters live in the URL and back/forward restore them', async ({ page }) => {
  const project = uniqueName('hist');
  await seedProject(project, 'exit 0');
  await seed('POST', `/api/v1/projects/${project}/environments`, { name: 'production' });
  const ok = await startDeploy(project, 'staging', 'good');
  await waitForDeploy(ok.id, (status) => status === 'succeeded');
  await seed('PATCH', `/api/v1/projects/${project}`, { deploy_command: 'exit 3' });
  const bad = await startDeploy(project, 'production', 'bad');
  await waitForDeploy(bad.id, (status) => status === 'failed');

  await page.goto(`/p/${project}/deploys`);
  const table = page.getByTestId('history-table');
  await expect(table.locator('tbody tr')).toHaveCount(2);
  await screenshots(page, 'history');

  await page.getByLabel('Status', { exact: true }).selectOption('failed');
  await expect(page).toHaveURL(/status=failed/);
  await expect(table.locator('tbody tr')).toHaveCount(1);
  await expect(table).toContainText('bad');

  await page.getByLabel('Environment', { exact: true }).selectOption('staging');
  await expect(page).toHaveURL(/environment=staging/);
  await expect(page.getByText('No deploy matches these filters')).toBeVisible();

  await page.goBack();
  await expect(page).not.toHaveURL(/environment=/);
  await expect(page).toHaveURL(/status=failed/);
  await expect(page.getByLabel('Status', { exact: true })).toHaveValue('failed');
  await expect(table.locator('tbody tr')).toHaveCount(1);

  await page.goBack();
  await expect(page).not.toHaveURL(/status=/);
  await expect(table.locator('tbody tr')).toHaveCount(2);

  await page.goForward();
  await expect(page).toHaveURL(/status=failed/);
  await expect(table.locator('tbody tr')).toHaveCount(1);

  await page.getByLabel('User', { exact: true }).fill('someone-else@example.com');
  await page.getByLabel('User', { exact: true }).press('Enter');
  await expect(page).toHaveURL(/user=someone-else%40example\.com/);
  await expect(page.getByText('No deploy matches these filters')).toBeVisible();
  await page.getByLabel('User', { exact: true }).fill('admin@localhost');
  await page.getByLabel('User', { exact: true }).press('Enter');
  await expect(table.locator('tbody tr')).toHaveCount(1);

  await table.getByRole('link', { name: /bad/ }).click();
  await expect(page).toHaveURL(new RegExp(`/p/${project}/deploys/${bad.id}$`));
  await expect(page.getByTestId('deploy-page')).toHaveAttribute('data-status', 'failed');
});

test('a deep link to a deploy that does not exist shows an error state, not a blank page', async ({ page }) => {
  await page.goto('/p/nothing/deploys/01234567-89ab-7def-8123-456789abcdef');
  const error = page.getByTestId('error-state');
  await expect(error).toBeVisible();
  await expect(error).toContainText('No such deploy');
  await expect(error.getByRole('link', { name: /Back to/ })).toBeVisible();
  await screenshots(page, 'error-deploy-not-found', { dark: false });

  await page.goto('/p/no-such-project');
  await expect(page.getByTestId('error-state')).toContainText('No such project');
});

test('the hosts list filters by tags in the URL, and a tag chip adds a filter', async ({ page }) => {
  const suffix = uniqueName('h').split('-').slice(1).join('-');
  await seed('POST', '/api/v1/hosts', { name: `app-${suffix}`, address: '10.1.0.1', tags: { role: 'app', batch: suffix } });
  await seed('POST', '/api/v1/hosts', { name: `cache-${suffix}`, address: '10.1.0.2', tags: { role: 'cache', batch: suffix } });
  await page.goto(`/hosts?tag=batch=${suffix}`);
  const table = page.getByTestId('hosts-table');
  await expect(table.locator('tbody tr')).toHaveCount(2);
  await screenshots(page, 'hosts');
  await table.getByRole('button', { name: 'Filter by role=cache' }).click();
  await expect(page).toHaveURL(/tag=role%3Dcache|tag=role=cache/);
  await expect(table.locator('tbody tr')).toHaveCount(1);
  await expect(table).toContainText(`cache-${suffix}`);
  await page.goBack();
  await expect(table.locator('tbody tr')).toHaveCount(2);
});

test('keyboard shortcuts: / focuses the search, g p goes to projects, ? lists them', async ({ page }) => {
  const project = uniqueName('keys');
  await seedProject(project, 'true');
  await page.goto('/hosts');
  await expect(page.getByRole('heading', { name: 'Hosts' })).toBeVisible();
  await page.keyboard.press('/');
  const search = page.getByLabel('Search projects, environments and hosts');
  await expect(search).toBeFocused();
  await search.fill(project);
  await expect(page.getByTestId('search-results')).toContainText(project);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/p/${project}$`));

  await page.keyboard.press('g');
  await page.keyboard.press('p');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Projects' })).toBeVisible();

  await page.keyboard.press('g');
  await page.keyboard.press('h');
  await expect(page).toHaveURL(/\/hosts$/);

  await page.keyboard.press('?');
  await expect(page.getByTestId('shortcuts')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('shortcuts')).toBeHidden();
});

test('the project page shows the running deploy and the queue, and locks an environment with a reason', async ({ page }) => {
  const project = uniqueName('queue');
  await seedProject(project, 'echo working; sleep 60');
  const running = await startDeploy(project, 'staging', 'first');
  await waitForDeploy(running.id, (status) => status === 'running');
  await startDeploy(project, 'staging', 'second');

  // An unlocked environment's lock reads as 200 {"locked": false}, not a 404 the console logs.
  const lockStatuses: number[] = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname.endsWith('/lock')) lockStatuses.push(response.status());
  });
  await page.goto(`/p/${project}`);
  const card = page.getByTestId('env-card-staging');
  await expect(card.getByTestId('deploy-summary-Running')).toContainText('first');
  expect(lockStatuses.length).toBeGreaterThan(0);
  expect(lockStatuses.filter((status) => status !== 200)).toEqual([]);
  const queue = card.getByTestId('queue');
  await expect(queue).toContainText('#1');
  await expect(queue).toContainText('second');
  await screenshots(page, 'project-running');

  await queue.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Cancel deploy' }).click();
  await expect(card.getByTestId('queue')).toHaveCount(0);

  await card.getByRole('button', { name: 'Lock' }).click();
  await page.getByLabel('Reason').fill('database migration until 14:00');
  await page.getByRole('dialog').getByRole('button', { name: 'Lock' }).click();
  await expect(card.getByTestId('lock-banner')).toContainText('database migration until 14:00');
  await expect(card.getByRole('button', { name: 'Deploy' })).toBeDisabled();
  await page.reload();
  await expect(page.getByTestId('env-card-staging').getByTestId('lock-banner')).toContainText('database migration until 14:00');

  await page.getByTestId('env-card-staging').getByRole('button', { name: 'Unlock' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Unlock' }).click();
  await expect(page.getByTestId('env-card-staging').getByTestId('lock-banner')).toHaveCount(0);

  await seed('POST', `/api/v1/deploys/${running.id}/cancel`);
  await waitForDeploy(running.id, (status) => status === 'cancelled');
});

test('the project page follows deploys and locks made elsewhere through the event stream, not a poll', async ({ page }) => {
  const project = uniqueName('events');
  await seedProject(project, 'echo working; sleep 60');
  // The page's one live stream: wait until it is open, so what follows is news to it.
  const stream = page.waitForResponse((response) => response.url().includes('/api/v1/events?after=latest') && response.ok());
  await page.goto(`/p/${project}`);
  const card = page.getByTestId('env-card-staging');
  await expect(card).toBeVisible();
  await stream;
  const streams: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/v1/events')) streams.push(request.url());
  });

  // The safety poll is 30 s: seeing these within 5 s means the events did it.
  const started = Date.now();
  const deploy = await startDeploy(project, 'staging', 'from-the-api');
  await expect(card.getByTestId('deploy-summary-Running')).toContainText('from-the-api', { timeout: 5_000 });
  await seed('PUT', `/api/v1/projects/${project}/environments/staging/lock`, { reason: 'locked from the API' });
  await expect(card.getByTestId('lock-banner')).toContainText('locked from the API', { timeout: 5_000 });
  await seed('POST', `/api/v1/deploys/${deploy.id}/cancel`);
  await expect(card.getByTestId('deploy-summary-Running')).toHaveCount(0, { timeout: 5_000 });
  expect(Date.now() - started).toBeLessThan(15_000);
  // Still the one stream it opened first.
  expect(streams).toEqual([]);
  await seed('DELETE', `/api/v1/projects/${project}/environments/staging/lock`);
});
