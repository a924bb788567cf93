/**
 * What a project's environments look like right now: for each, what is deployed (its newest
 * succeeded deploy), the current deploy (the running one, else the newest finished one), the
 * queue and the lock.
 * Uses `GET /api/v1/deploys/latest`, or the project's recent deploys on a server without it.
 */
import { api, fetchLatestDeploys } from '../../lib/api/client';
import type { Deploy, Environment, EnvironmentLock, Project } from '../../lib/api/client';
import { toApiError } from '../../lib/resource';
import { fetchLock } from './lock';

export interface EnvironmentState {
  environment: Environment;
  deployed: Deploy | undefined;
  current: Deploy | undefined;
  queue: Deploy[];
  lock: EnvironmentLock | null;
}

export interface ProjectState {
  project: Project;
  projectEtag: string | null;
  environments: EnvironmentState[];
}

async function latestPerEnvironment(project: string, signal: AbortSignal): Promise<{ current: Deploy[]; deployed: Deploy[] }> {
  try {
    const [current, deployed] = await Promise.all([
      fetchLatestDeploys({ project }, signal),
      fetchLatestDeploys({ project, status: 'succeeded' }, signal),
    ]);
    return { current, deployed };
  } catch (caught) {
    const error = toApiError(caught);
    if (error.status !== 404 && error.status !== 422 && error.status !== 405) throw caught;
    // An older server without /deploys/latest: derive it from the recent deploys.
    const { data } = await api.get('/api/v1/projects/{project}/deploys', { path: { project }, query: { limit: 200 }, signal });
    const current: Deploy[] = [];
    const deployed: Deploy[] = [];
    for (const deploy of data.items) {
      if (!current.some((item) => item.environment === deploy.environment)) current.push(deploy);
      if (deploy.status === 'succeeded' && !deployed.some((item) => item.environment === deploy.environment)) deployed.push(deploy);
    }
    return { current, deployed };
  }
}

/** The running deploy, else the newest one unless it is only queued (the queue shows those). */
function currentDeploy(running: Deploy | undefined, newest: Deploy | undefined): Deploy | undefined {
  if (running) return running;
  return newest && newest.status !== 'queued' ? newest : undefined;
}

export async function loadProjectState(projectName: string, signal: AbortSignal, onlyEnvironment?: string): Promise<ProjectState> {
  const [projectResponse, environmentPage, latest, queued, running] = await Promise.all([
    api.get('/api/v1/projects/{project}', { path: { project: projectName }, signal }),
    api.get('/api/v1/projects/{project}/environments', { path: { project: projectName }, query: { limit: 500 }, signal }),
    latestPerEnvironment(projectName, signal),
    api.get('/api/v1/projects/{project}/deploys', {
      path: { project: projectName },
      query: { status: 'queued', limit: 500, environment: onlyEnvironment },
      signal,
    }),
    api.get('/api/v1/projects/{project}/deploys', {
      path: { project: projectName },
      query: { status: 'running', limit: 500, environment: onlyEnvironment },
      signal,
    }),
  ]);
  const environments = environmentPage.data.items.filter((environment) => !onlyEnvironment || environment.name === onlyEnvironment);
  const locks = await Promise.all(environments.map((environment) => fetchLock(projectName, environment.name, signal)));
  return {
    project: projectResponse.data,
    projectEtag: projectResponse.etag,
    environments: environments.map((environment, index) => ({
      environment,
      deployed: latest.deployed.find((deploy) => deploy.environment === environment.name),
      current: currentDeploy(
        running.data.items.find((deploy) => deploy.environment === environment.name),
        latest.current.find((deploy) => deploy.environment === environment.name),
      ),
      queue: queued.data.items
        .filter((deploy) => deploy.environment === environment.name)
        .sort((a, b) => (a.queue_position ?? 0) - (b.queue_position ?? 0)),
      lock: locks[index] ?? null,
    })),
  };
}
