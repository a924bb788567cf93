/**
 * The typed fetch wrapper over jeny's HTTP API. Paths, parameters, bodies and answers are checked
 * against `schema.d.ts`, generated from the repository's `openapi.json` (`npm run gen:api`).
 * Requests go same-origin with the session cookie; errors become an `ApiError` holding the
 * problem+json body, so every view can say what went wrong and what to do.
 */
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Project = Schemas['Project'];
export type ProjectInput = Schemas['ProjectInput'];
export type Environment = Schemas['Environment'];
export type EnvironmentInput = Schemas['EnvironmentInput'];
export type Variable = Schemas['Variable'];
export type VariableInput = Schemas['VariableInput'];
export type Host = Schemas['Host'];
export type Deploy = Schemas['Deploy'];
export type DeployStatus = Schemas['DeployStatus'];
export type EnvironmentLock = Schemas['EnvironmentLock'];
export type Me = Schemas['Me'];
export type Role = Schemas['Role'];
export type Problem = Schemas['Problem'];

export const DEPLOY_STATUSES: readonly DeployStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'errored',
  'interrupted',
];

export function isLive(status: DeployStatus): boolean {
  return status === 'queued' || status === 'running';
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type PathsWith<M extends Method> = {
  [P in keyof paths]: paths[P] extends Record<M, infer O> ? (O extends undefined | never ? never : P) : never;
}[keyof paths];
type Operation<P extends keyof paths, M extends Method> = paths[P] extends Record<M, infer O> ? O : never;

type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : undefined;
type SuccessOf<O> = O extends { responses: infer R }
  ? 200 extends keyof R
    ? JsonOf<R[200]>
    : 201 extends keyof R
      ? JsonOf<R[201]>
      : undefined
  : never;
type ParametersOf<O> = O extends { parameters: infer P } ? P : Record<string, never>;
type PathParamsOf<O> = ParametersOf<O> extends { path: infer A } ? A : never;
type QueryOf<O> = ParametersOf<O> extends { query?: infer Q } ? Q : never;
type BodyOf<O> = O extends { requestBody: { content: infer C } }
  ? C[keyof C]
  : O extends { requestBody?: { content: infer C } }
    ? C[keyof C]
    : never;

type QueryValue = string | number | boolean | null | undefined | readonly string[];

export interface RequestOptions<O> {
  path?: PathParamsOf<O>;
  query?: QueryOf<O> | Record<string, QueryValue>;
  body?: BodyOf<O>;
  /** The ETag read earlier: the change applies only if nothing changed since (412 otherwise). */
  ifMatch?: string | null;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  data: T;
  etag: string | null;
  status: number;
}

/** A failed request: the problem+json the server answered, or one made up for a network error. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly field: string | null;
  readonly requestId: string | null;

  constructor(problem: { status: number; code?: string; detail?: string; title?: string; field?: string | null; request_id?: string | null }) {
    super(problem.detail ?? problem.title ?? `request failed with status ${problem.status}`);
    this.name = 'ApiError';
    this.status = problem.status;
    this.code = problem.code ?? 'unknown';
    this.detail = problem.detail ?? problem.title ?? `request failed with status ${problem.status}`;
    this.field = problem.field ?? null;
    this.requestId = problem.request_id ?? null;
  }
}

/** Listeners told when any request answers 401, so the shell can show the sign-in page. */
const unauthenticatedListeners = new Set<() => void>();
export function onUnauthenticated(listener: () => void): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

export function buildUrl(template: string, pathParams?: object, query?: object): string {
  let url = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = (pathParams as Record<string, unknown> | undefined)?.[name];
    if (value === undefined || value === null) throw new Error(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(String(value));
  });
  if (query) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query as Record<string, QueryValue>)) {
      if (value === undefined || value === null || value === '') continue;
      if (Array.isArray(value)) for (const item of value) search.append(key, item);
      else search.append(key, String(value));
    }
    const text = search.toString();
    if (text) url += `?${text}`;
  }
  return url;
}

export async function rawRequest<T>(
  method: string,
  url: string,
  options: { body?: unknown; ifMatch?: string | null; signal?: AbortSignal; contentType?: string } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = options.contentType ?? 'application/json';
  if (options.ifMatch) headers['If-Match'] = options.ifMatch;
  let response: Response;
  try {
    response = await fetch(url, {
      method: method.toUpperCase(),
      headers,
      credentials: 'same-origin',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError({
      status: 0,
      code: 'network',
      detail: 'jeny could not be reached: the server may be restarting or the network is down',
    });
  }
  const etag = response.headers.get('etag');
  if (!response.ok) {
    let problem: Record<string, unknown>;
    try {
      problem = (await response.json()) as Record<string, unknown>;
    } catch {
      problem = { detail: `${response.status} ${response.statusText}`.trim() };
    }
    const error = new ApiError({ ...problem, status: response.status } as ConstructorParameters<typeof ApiError>[0]);
    if (response.status === 401) for (const listener of unauthenticatedListeners) listener();
    throw error;
  }
  const text = response.status === 204 ? '' : await response.text();
  const data = (text ? JSON.parse(text) : undefined) as T;
  return { data, etag, status: response.status };
}

function call<M extends Method>(method: M) {
  return <P extends PathsWith<M>>(
    path: P,
    options: RequestOptions<Operation<P, M>> = {},
  ): Promise<ApiResponse<SuccessOf<Operation<P, M>>>> =>
    rawRequest<SuccessOf<Operation<P, M>>>(method, buildUrl(path as string, options.path ?? undefined, options.query as object | undefined), {
      body: options.body,
      ifMatch: options.ifMatch ?? null,
      signal: options.signal,
      contentType: method === 'patch' ? 'application/merge-patch+json' : 'application/json',
    });
}

/** `api.get('/api/v1/projects/{project}', { path: { project } })` and so on, typed from the schema. */
export const api = {
  get: call('get'),
  post: call('post'),
  put: call('put'),
  patch: call('patch'),
  delete: call('delete'),
};

/** `GET /auth/providers`: whether an identity provider is configured, and its name. */
export interface Providers {
  oidc: boolean;
  name?: string | null;
}

export async function fetchProviders(): Promise<Providers> {
  try {
    const { data } = await rawRequest<Providers>('get', '/auth/providers');
    return data ?? { oidc: false };
  } catch {
    return { oidc: false };
  }
}

/** `GET /api/v1/deploys/latest`: the newest deploy of each environment (optionally with a status). */
export async function fetchLatestDeploys(
  query: { project?: string; status?: DeployStatus },
  signal?: AbortSignal,
): Promise<Deploy[]> {
  const { data } = await api.get('/api/v1/deploys/latest', { query, signal });
  return data.items;
}

export async function signOut(): Promise<void> {
  await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin' });
}
