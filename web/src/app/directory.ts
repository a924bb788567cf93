/**
 * The directory: every project with its environments, loaded once and refreshed on demand. The
 * project switcher and the search read it; pages that change projects or environments call
 * `refreshDirectory()`. Hosts are loaded only when the search first needs them.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api/client';
import type { Environment, Host, Project } from '../lib/api/client';

export interface DirectoryState {
  projects: Project[];
  environments: Record<string, Environment[]>;
  hosts: Host[] | undefined;
  loaded: boolean;
}

let state: DirectoryState = { projects: [], environments: {}, hosts: undefined, loaded: false };
const listeners = new Set<(next: DirectoryState) => void>();
let inflight: Promise<void> | null = null;

function publish(next: DirectoryState) {
  state = next;
  for (const listener of listeners) listener(state);
}

async function listAllProjects(): Promise<Project[]> {
  const projects: Project[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page += 1) {
    const { data } = await api.get('/api/v1/projects', { query: { limit: 500, cursor } });
    projects.push(...data.items);
    if (!data.next_cursor) break;
    cursor = data.next_cursor;
  }
  return projects;
}

export function refreshDirectory(): Promise<void> {
  if (inflight) return inflight;
  inflight = (async () => {
    try {
      const projects = await listAllProjects();
      const environmentLists = await Promise.all(
        projects.map((project) =>
          api
            .get('/api/v1/projects/{project}/environments', { path: { project: project.name }, query: { limit: 500 } })
            .then(({ data }) => data.items)
            .catch(() => [] as Environment[]),
        ),
      );
      const environments: Record<string, Environment[]> = {};
      projects.forEach((project, index) => (environments[project.name] = environmentLists[index] ?? []));
      publish({ ...state, projects, environments, loaded: true });
    } catch {
      publish({ ...state, loaded: true });
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

export async function loadDirectoryHosts(): Promise<void> {
  if (state.hosts) return;
  try {
    const { data } = await api.get('/api/v1/hosts', { query: { limit: 500 } });
    publish({ ...state, hosts: data.items });
  } catch {
    publish({ ...state, hosts: [] });
  }
}

export function useDirectory(): DirectoryState {
  const [current, setCurrent] = useState(state);
  useEffect(() => {
    listeners.add(setCurrent);
    setCurrent(state);
    if (!state.loaded) void refreshDirectory();
    return () => {
      listeners.delete(setCurrent);
    };
  }, []);
  return current;
}
