/**
 * Starts a real `jeny server` on a free loopback port with a fresh data directory, reads its
 * one-time link, makes an admin token for seeding, signs a browser in once (saved as storage
 * state for the tests), and writes all that to test-results/.e2e-server.json.
 * JENY_BIN chooses the binary; JENY_WEB_DIR, when set, serves the app from that folder.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium } from '@playwright/test';
import { STATE_FILE } from './server';
import type { ServerInfo } from './server';

const BINARY = process.env.JENY_BIN ?? '/root/.cache/jeny/target/debug/jeny';

async function waitForOutput(logFile: string, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(logFile, 'utf8');
    const match = pattern.exec(text);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`jeny server did not print ${pattern} within ${timeoutMs} ms; its output:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export default async function globalSetup(): Promise<void> {
  mkdirSync(dirname(STATE_FILE), { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'jeny-e2e-'));
  const logFile = join(dataDir, 'server.log');
  const output = openSync(logFile, 'w');
  // Deploys run as this user (root on CI: named, so that jeny allows it).
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    JENY_DEPLOY_USER: process.env.JENY_DEPLOY_USER ?? userInfo().username,
  };
  if (!process.env.JENY_WEB_DIR) delete env.JENY_WEB_DIR;
  const child = spawn(BINARY, ['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', output, output],
    detached: false,
  });
  child.on('error', (error) => {
    throw new Error(`cannot start ${BINARY}: ${error.message} (set JENY_BIN)`);
  });
  const running = await waitForOutput(logFile, /jeny is running at (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
  const url = running[1] as string;
  const link = await waitForOutput(logFile, /(http:\/\/\S+\/auth\/link\/\S+)/, 10_000);
  const token = execFileSync(BINARY, ['admin', 'token', '--data-dir', dataDir, '--email', 'admin@localhost', '--role', 'admin'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();

  // A local git repository, for projects whose deploys check out a ref.
  const repository = join(dataDir, 'repo');
  mkdirSync(repository);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=e2e@localhost', '-c', 'user.name=e2e', ...args], { cwd: repository, encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(repository, 'README'), 'the e2e repository\n');
  git('add', 'README');
  git('commit', '-q', '-m', 'first commit');
  git('tag', 'v1.0.0');

  const storageState = join(dirname(STATE_FILE), '.e2e-storage.json');
  const info: ServerInfo = {
    url,
    consoleLink: link[1] as string,
    token,
    dataDir,
    pid: child.pid ?? 0,
    storageState,
    binary: BINARY,
    repository,
  };
  writeFileSync(STATE_FILE, JSON.stringify(info, null, 2));
  child.unref();

  // Sign one browser in with a link of its own (the console's link is kept for the sign-in test).
  const signInOutput = execFileSync(BINARY, ['admin', 'sign-in-link', '--data-dir', dataDir], {
    env: { ...process.env, JENY_PUBLIC_URL: url },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const signInLink = /(https?:\/\/\S+\/auth\/link\/\S+)/.exec(signInOutput)?.[1];
  if (!signInLink) throw new Error(`jeny admin sign-in-link printed no link: ${signInOutput}`);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' });
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(signInLink);
  await page.waitForURL(`${url}/`);
  await context.storageState({ path: storageState });
  await browser.close();
}
