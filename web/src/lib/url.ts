/**
 * URL state: filters and selections live in the query string, so a view's URL reproduces it and
 * back/forward restore it. `useQueryState` reads the current query and changes it with a history
 * entry (push) or in place (replace).
 */
import { useSearchParams } from 'wouter-preact';

export interface QueryState {
  params: URLSearchParams;
  get: (key: string) => string;
  getAll: (key: string) => string[];
  /** Set (or, with '' / null / [], remove) some keys; other keys stay. Pushes a history entry. */
  set: (changes: Record<string, string | string[] | null | undefined>, options?: { replace?: boolean }) => void;
}

export function useQueryState(): QueryState {
  const [params, setParams] = useSearchParams();
  return {
    params,
    get: (key) => params.get(key) ?? '',
    getAll: (key) => params.getAll(key),
    set: (changes, options) =>
      setParams(
        (previous) => {
          const next = new URLSearchParams(previous);
          for (const [key, value] of Object.entries(changes)) {
            next.delete(key);
            if (Array.isArray(value)) for (const item of value) next.append(key, item);
            else if (value) next.set(key, value);
          }
          return next;
        },
        { replace: options?.replace ?? false },
      ),
  };
}

/** `/p/{project}/e/{environment}` and friends, in one place. */
export const paths = {
  projects: () => '/',
  project: (project: string) => `/p/${encodeURIComponent(project)}`,
  projectSettings: (project: string) => `/p/${encodeURIComponent(project)}/settings`,
  projectVariables: (project: string) => `/p/${encodeURIComponent(project)}/variables`,
  projectDeploys: (project: string, query?: Record<string, string>) =>
    `/p/${encodeURIComponent(project)}/deploys${query ? `?${new URLSearchParams(query).toString()}` : ''}`,
  deploy: (project: string, id: string) => `/p/${encodeURIComponent(project)}/deploys/${encodeURIComponent(id)}`,
  environment: (project: string, environment: string) =>
    `/p/${encodeURIComponent(project)}/e/${encodeURIComponent(environment)}`,
  environmentSettings: (project: string, environment: string) =>
    `/p/${encodeURIComponent(project)}/e/${encodeURIComponent(environment)}/settings`,
  hosts: (tags?: string[]) =>
    `/hosts${tags && tags.length ? `?${tags.map((tag) => `tag=${encodeURIComponent(tag)}`).join('&')}` : ''}`,
  deploys: () => '/deploys',
};
