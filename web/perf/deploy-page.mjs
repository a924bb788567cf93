#!/usr/bin/env node
// A measurement of the web app with a real jeny server (not a test: it prints figures).
//
// It starts `jeny server` on a free loopback port with a fresh data directory and the built app
// (JENY_WEB_DIR=web/dist), creates a project and an environment with an API token, runs a deploy
// whose command prints LINES lines (1,000,000 by default), and measures in headless Chromium:
//   - the project page: time to first render (until the environment card shows)
//   - the deploy page: time to the first output lines, time until every line is loaded,
//     End (scroll to the last line), a #L<middle> deep link, search, scrolling frames,
//     the JS heap, and the main thread's long tasks (PerformanceObserver "longtask")
// and writes perf/results.json.
//
//   npm run build && node perf/deploy-page.mjs
//
// Environment: JENY_BIN (default /root/.cache/jeny/target/debug/jeny), CHROMIUM (default
// /usr/bin/chromium, Debian's package: never a downloaded browser), LINES (default 1000000),
// COLOR=1 prints every line in ANSI colours (a different colour per line), KEEP=1 keeps the data
// directory, SCREENSHOT=file.png saves the deploy page after the run.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const webDir = join(here, '..');
const distDir = join(webDir, 'dist');
const jenyBin = process.env.JENY_BIN ?? '/root/.cache/jeny/target/debug/jeny';
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const lines = Number(process.env.LINES ?? 1_000_000);
const deepLine = Math.max(1, Math.floor(lines / 2));
const color = Boolean(process.env.COLOR);
// Every line starts with `line N` (the measurements look for it), in colour with COLOR=1.
const command = color
  ? `seq 1 ${lines} | awk '{ printf "\\033[3%dmline %d\\033[0m \\033[1mbold\\033[22m \\033[38;5;%dm256\\033[39m\\n", $1 % 8, $1, $1 % 256 }'`
  : `seq 1 ${lines} | sed 's/^/line /'`;
const LONG_TASK_LIMIT_MS = 200;

function fail(message) {
  console.error(`deploy-page: ${message}`);
  process.exit(1);
}

if (!existsSync(jenyBin)) fail(`no jeny binary at ${jenyBin} (set JENY_BIN)`);
if (!existsSync(join(distDir, 'index.html'))) fail(`no app build in ${distDir}: run npm run build first`);
if (!existsSync(chromiumPath)) fail(`no Chromium at ${chromiumPath}: apt-get install -y chromium`);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n) => (typeof n === 'number' ? Math.round(n) : n);

const dataDir = mkdtempSync(join(tmpdir(), 'jeny-perf-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
let server;
let browser;

async function cleanup() {
  await browser?.close().catch(() => {});
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => server.once('exit', resolve)), sleep(5000)]);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  if (!process.env.KEEP) rmSync(dataDir, { recursive: true, force: true });
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  // 1. The server, and its one-time sign-in link.
  server = spawn(jenyBin, ['server', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    env: { ...process.env, JENY_WEB_DIR: distDir, JENY_LOG: process.env.JENY_LOG ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let console_ = '';
  server.stdout.on('data', (data) => (console_ += data));
  server.stderr.on('data', (data) => (console_ += data));
  let signInLink = null;
  for (let i = 0; i < 300 && !signInLink; i++) {
    if (server.exitCode !== null) fail(`the server exited (${server.exitCode}):\n${console_}`);
    const match = /(\/auth\/link\/jenyl_[A-Za-z0-9_-]+)/.exec(console_);
    if (match) signInLink = `${base}${match[1]}`;
    else await sleep(100);
  }
  if (!signInLink) fail(`no sign-in link from the server in 30 s:\n${console_}`);
  for (let i = 0; i < 100; i++) {
    const ready = await fetch(`${base}/readyz`).catch(() => null);
    if (ready?.ok) break;
    await sleep(100);
  }

  // 2. A token, a project, an environment and a deploy that prints `lines` lines.
  const token = execFileSync(jenyBin, ['admin', 'token', '--data-dir', dataDir, '--email', 'admin@localhost', '--role', 'admin'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .trim()
    .split('\n')
    .pop();
  const call = async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) fail(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const project = 'perf';
  const environment = 'production';
  await call('POST', '/api/v1/projects', {
    name: project,
    title: 'Perf',
    deploy_command: command,
  });
  await call('POST', `/api/v1/projects/${project}/environments`, { name: environment });
  const queued = await call('POST', `/api/v1/projects/${project}/environments/${environment}/deploys`, {
    description: `${lines} lines`,
  });
  const started = Date.now();
  let deploy = queued;
  while (!['succeeded', 'failed', 'errored', 'cancelled', 'interrupted', 'timed_out'].includes(deploy.status)) {
    if (Date.now() - started > 10 * 60_000) fail(`the deploy did not end in 10 minutes: ${deploy.status}`);
    await sleep(500);
    deploy = await call('GET', `/api/v1/deploys/${queued.id}`);
  }
  if (deploy.status !== 'succeeded') fail(`the deploy ended ${deploy.status}: ${JSON.stringify(deploy)}`);
  const deployMs = Date.now() - started;
  const outputBytes = deploy.output_bytes;

  // 3. The browser, signed in with the one-time link.
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--enable-precise-memory-info', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(() => {
    const longTasks = [];
    window.__perf = { longTasks };
    // What the measurements wait for (functions here: the app's CSP forbids eval).
    const lineInView = (n) => {
      const scroll = document.querySelector('.jeny-log .scroll');
      if (!scroll) return false;
      const box = scroll.getBoundingClientRect();
      for (const link of document.querySelectorAll('.jeny-log .r .n')) {
        if (link.textContent !== String(n)) continue;
        const r = link.getBoundingClientRect();
        return r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
      }
      return false;
    };
    window.__checks = {
      selector: (selector) => document.querySelector(selector) !== null,
      firstLines: () => document.querySelector('.jeny-log .r .t')?.textContent?.startsWith('line ') ?? false,
      loaded: () => document.querySelector('.jeny-log')?.dataset.state === 'done',
      lineInView,
      linkedLineInView: (n) => lineInView(n) && document.querySelector('.jeny-log .r.sel .n')?.textContent === String(n),
      noSearch: () => (document.querySelector('.jeny-log .count')?.textContent ?? '') === '',
      searchDone: () => /(of \d+|No matches)$/.test(document.querySelector('.jeny-log .count')?.textContent ?? ''),
    };
    try {
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) longTasks.push({ start: entry.startTime, duration: entry.duration });
      }).observe({ type: 'longtask', buffered: true });
    } catch {
      // no longtask support
    }
  });
  const errors = [];
  context.on('page', (page) => page.on('pageerror', (error) => errors.push(error.message)));
  const signIn = await context.newPage();
  await signIn.goto(signInLink);
  await signIn.close();

  const results = {
    when: new Date().toISOString(),
    lines,
    color,
    command,
    output_bytes: outputBytes,
    deploy_ms: deployMs,
    chromium: browser.version(),
    viewport: '1280x900',
  };

  /**
   * performance.now() in the page when `predicate(arg)` first holds (checked every frame). A
   * function, not a string: the app's CSP forbids eval.
   */
  const whenTrue = (page, predicate, arg = null, timeout = 120_000) =>
    page
      .waitForFunction(
        ([source, value]) => {
          const check = window.__checks?.[source];
          return check && check(value) && performance.now();
        },
        [predicate, arg],
        { polling: 'raf', timeout },
      )
      .then((handle) => handle.jsonValue());

  // 4. The project page, cold (a fresh page).
  {
    const page = await context.newPage();
    await page.goto(`${base}/p/${project}`);
    results.project_page_first_render_ms = round(
      await whenTrue(page, 'selector', `[data-testid="env-card-${environment}"]`, 30_000),
    );
    await page.close();
  }

  // 5. The deploy page.
  {
    const page = await context.newPage();
    await page.goto(`${base}/p/${project}/deploys/${queued.id}`);
    results.first_lines_ms = round(await whenTrue(page, 'firstLines'));
    results.all_lines_ms = round(await whenTrue(page, 'loaded', null, 300_000));
    results.lines_shown = Number(await page.getAttribute('.jeny-log', 'data-lines'));
    results.line_count_text = (await page.textContent('.jeny-log .bar .lines'))?.trim();
    results.long_tasks_loading = await page.evaluate(() => window.__perf.longTasks.map((t) => Math.round(t.duration)));

    // End: scroll to the last line.
    await page.focus('.jeny-log .scroll');
    const beforeEnd = await page.evaluate(() => performance.now());
    await page.keyboard.press('End');
    results.end_key_ms = round((await whenTrue(page, 'lineInView', results.lines_shown)) - beforeEnd);

    // Scrolling: 120 frames of big jumps and 120 of wheel-sized steps; frame times.
    results.scroll = await page.evaluate(async () => {
      const scroll = document.querySelector('.jeny-log .scroll');
      const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
      const measure = async (move) => {
        const times = [];
        // Long animation frames (over 50 ms): how much of them is script, and how much is
        // style, layout and paint; the rest is the machine being busy elsewhere.
        const slow = [];
        const observer = new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) {
            const script = entry.scripts.reduce((sum, s) => sum + s.duration, 0);
            const render = entry.startTime + entry.duration - entry.renderStart;
            slow.push({ frame: Math.round(entry.duration), script: Math.round(script), render: Math.round(render) });
          }
        });
        try {
          observer.observe({ type: 'long-animation-frame' });
        } catch {
          // no LoAF support
        }
        await frame();
        let last = performance.now();
        for (let i = 0; i < 120; i++) {
          move(i);
          await frame();
          const now = performance.now();
          times.push(now - last);
          last = now;
        }
        times.sort((a, b) => a - b);
        await frame();
        observer.disconnect();
        return {
          p50_ms: Math.round(times[60]),
          p95_ms: Math.round(times[113]),
          max_ms: Math.round(times[119]),
          long_frames: slow.length,
          long_frames_max_script_ms: Math.max(0, ...slow.map((s) => s.script)),
          long_frames_max_render_ms: Math.max(0, ...slow.map((s) => s.render)),
        };
      };
      const jumps = await measure(() => (scroll.scrollTop = Math.random() * (scroll.scrollHeight - scroll.clientHeight)));
      scroll.scrollTop = scroll.scrollHeight / 3;
      const wheel = await measure(() => (scroll.scrollTop += 100));
      return { random_jumps: jumps, wheel_steps_100px: wheel };
    });

    // Search: a term on ten lines near the end and one on every line.
    const search = async (term) => {
      await page.fill('.jeny-log input.find', '');
      await whenTrue(page, 'noSearch');
      const before = await page.evaluate(() => performance.now());
      await page.fill('.jeny-log input.find', term);
      const done = await whenTrue(page, 'searchDone');
      return { term, ms_incl_120ms_debounce: round(done - before), result: (await page.textContent('.jeny-log .count'))?.trim() };
    };
    results.search = [await search(`line ${lines - 5}`), await search('line')];
    await page.fill('.jeny-log input.find', '');

    // The JS heap, after a GC.
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await cdp.send('Runtime.getHeapUsage');
    results.js_heap_mb = Math.round((heap.usedSize / 1048576) * 10) / 10;
    results.long_tasks_all = await page.evaluate(() => window.__perf.longTasks.map((t) => Math.round(t.duration)));
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
    await page.close();
  }

  // 6. A deep link to the middle line, cold.
  {
    const page = await context.newPage();
    await page.goto(`${base}/p/${project}/deploys/${queued.id}#L${deepLine}`);
    results.deep_link_line = deepLine;
    results.deep_link_ms = round(
      await whenTrue(page, 'linkedLineInView', deepLine, 300_000),
    );
    results.deep_link_url = new URL(page.url()).hash;
    await page.close();
  }

  results.page_errors = errors;
  const long = results.long_tasks_all;
  results.longest_task_ms = long.length ? Math.max(...long) : 0;
  results.long_tasks_over_200ms = long.filter((d) => d > LONG_TASK_LIMIT_MS).length;

  writeFileSync(join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const rows = [
    ['deploy of ' + lines.toLocaleString('en') + ' lines ran in', `${deployMs} ms (${(outputBytes / 1048576).toFixed(1)} MiB)`],
    ['project page: environment cards shown', `${results.project_page_first_render_ms} ms`],
    ['deploy page: first output lines shown', `${results.first_lines_ms} ms`],
    ['deploy page: all lines loaded', `${results.all_lines_ms} ms (${results.line_count_text})`],
    ['End: last line in view', `${results.end_key_ms} ms`],
    [`deep link #L${deepLine}: line in view, highlighted`, `${results.deep_link_ms} ms`],
    ...Object.entries({ 'random jumps': results.scroll.random_jumps, '100px steps': results.scroll.wheel_steps_100px }).map(([name, f]) => [
      `scroll frames, ${name}: p50/p95/max`,
      `${f.p50_ms}/${f.p95_ms}/${f.max_ms} ms; frames > 50 ms: ${f.long_frames} (script in them ≤ ${f.long_frames_max_script_ms} ms, render ≤ ${f.long_frames_max_render_ms} ms)`,
    ]),
    ...results.search.map((s) => [`search "${s.term}" (incl. 120 ms debounce)`, `${s.ms_incl_120ms_debounce} ms: ${s.result}`]),
    ['JS heap after GC', `${results.js_heap_mb} MB`],
    ['long tasks (count, longest)', `${long.length}, ${results.longest_task_ms} ms; over ${LONG_TASK_LIMIT_MS} ms: ${results.long_tasks_over_200ms}`],
    ['page errors', String(errors.length)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);
  console.log(`\nwrote ${join(here, 'results.json')}`);
} finally {
  await cleanup();
}
