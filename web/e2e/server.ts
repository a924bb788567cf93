/**
 * The jeny server the tests run against: where it is, the one-time link it printed, an admin API
 * token for seeding, and helpers that seed data through the public API.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServerInfo {
  url: string;
  consoleLink: string;
  token: string;
  dataDir: string;
  pid: number;
  storageState: string;
  binary: string;
  repository: string;
}

export const STATE_FILE = join(import.meta.dirname, '..', 'test-results', '.e2e-server.json');

export function server(): ServerInfo {
  return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as ServerInfo;
}

/** A new one-time sign-in link, made by the CLI directly on the server's database. */
export function newSignInLink(): string {
  const info = server();
  const output = execFileSync(info.binary, ['admin', 'sign-in-link', '--data-dir', info.dataDir], {
    env: { ...process.env, JENY_PUBLIC_URL: info.url },
    encoding: 'utf8',
  });
  const match = /(https?:\/\/\S+\/auth\/link\/\S+)/.exec(output);
  if (!match?.[1]) throw new Error(`no sign-in link in: ${output}`);
  return match[1];
}

/** Calls the API with the admin token; throws with the problem's detail on an error. */
export async function seed<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const info = server();
  const response = await fetch(`${info.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${info.token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

let counter = 0;
/** A project name no other test uses. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export interface SeededDeploy {
  id: string;
  project: string;
  environment: string;
  status: string;
}

/** A project with one environment (no hosts, so deploys run host-less) and a deploy command. */
export async function seedProject(name: string, command: string, environment = 'staging'): Promise<void> {
  await seed('POST', '/api/v1/projects', { name, deploy_command: command });
  await seed('POST', `/api/v1/projects/${name}/environments`, { name: environment });
}

export async function startDeploy(project: string, environment: string, ref?: string): Promise<SeededDeploy> {
  return seed<SeededDeploy>('POST', `/api/v1/projects/${project}/environments/${environment}/deploys`, ref ? { ref } : {});
}

export async function waitForDeploy(id: string, done: (status: string) => boolean, timeoutMs = 30_000): Promise<SeededDeploy> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const deploy = await seed<SeededDeploy>('GET', `/api/v1/deploys/${id}`);
    if (done(deploy.status)) return deploy;
    if (Date.now() > deadline) throw new Error(`deploy ${id} is still ${deploy.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
