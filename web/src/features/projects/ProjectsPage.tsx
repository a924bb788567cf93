/**
 * `/`: every project with its environments and the last deploy of each (status, ref, when).
 * Refreshes when a project, an environment or a deploy changes (the live event stream).
 */
import { Link } from 'wouter-preact';
import { api, fetchLatestDeploys } from '../../lib/api/client';
import type { Deploy, Environment, Project } from '../../lib/api/client';
import { useLiveRefresh } from '../../lib/live';
import type { LiveEvent } from '../../lib/live';
import { useResource } from '../../lib/resource';
import { paths, useQueryState } from '../../lib/url';
import { Button } from '../../ui/Button';
import { Empty, ErrorState, Loading } from '../../ui/ErrorState';
import { Page } from '../../ui/Page';
import { useCan } from '../auth/session';
import { DeployLine } from '../deploys/DeployCell';
import { CreateProjectDialog } from './CreateProjectDialog';

interface Overview {
  projects: Project[];
  environments: Record<string, Environment[]>;
  latest: Deploy[];
}

async function loadOverview(signal: AbortSignal): Promise<Overview> {
  const [{ data: projectPage }, latest] = await Promise.all([
    api.get('/api/v1/projects', { query: { limit: 500 }, signal }),
    fetchLatestDeploys({}, signal).catch(() => [] as Deploy[]),
  ]);
  const lists = await Promise.all(
    projectPage.items.map((project) =>
      api
        .get('/api/v1/projects/{project}/environments', { path: { project: project.name }, query: { limit: 500 }, signal })
        .then(({ data }) => data.items),
    ),
  );
  const environments: Record<string, Environment[]> = {};
  projectPage.items.forEach((project, index) => (environments[project.name] = lists[index] ?? []));
  return { projects: projectPage.items, environments, latest };
}

/** Projects, environments and deploy statuses: what the list shows (a cancel request changes none). */
function changesOverview(event: LiveEvent): boolean {
  return /^(project|environment|deploy)\./.test(event.type) && event.type !== 'deploy.cancel_requested';
}

export function ProjectsPage() {
  const overview = useResource(loadOverview, ['projects']);
  const query = useQueryState();
  const canCreate = useCan('deployer');
  const creating = query.get('create') === 'project';
  useLiveRefresh(overview.reload, { relevant: changesOverview });

  return (
    <Page
      title="Projects"
      documentTitle="Projects"
      actions={
        canCreate ? (
          <Button variant="primary" onClick={() => query.set({ create: 'project' })}>
            New project
          </Button>
        ) : null
      }
    >
      <CreateProjectDialog open={creating} onClose={() => query.set({ create: null }, { replace: true })} />
      {overview.error && !overview.data ? (
        <ErrorState error={overview.error} onRetry={overview.reload} noun="projects" />
      ) : !overview.data ? (
        <Loading rows={4} label="Loading projects" />
      ) : overview.data.projects.length === 0 ? (
        <Empty title="No project yet">
          <p>A project is one app or repository. Create one, give it environments, and deploy.</p>
          {canCreate ? (
            <Button variant="primary" onClick={() => query.set({ create: 'project' })}>
              Create the first project
            </Button>
          ) : null}
        </Empty>
      ) : (
        <ul class="project-list" data-testid="project-list">
          {overview.data.projects.map((project) => (
            <ProjectRow
              key={project.name}
              project={project}
              environments={overview.data?.environments[project.name] ?? []}
              latest={overview.data?.latest.filter((deploy) => deploy.project === project.name) ?? []}
            />
          ))}
        </ul>
      )}
    </Page>
  );
}

function ProjectRow({ project, environments, latest }: { project: Project; environments: Environment[]; latest: Deploy[] }) {
  return (
    <li class="project-row card">
      <div class="project-row-head">
        <Link href={paths.project(project.name)} class="project-name">
          <span class="mono">{project.name}</span>
          {project.title !== project.name ? <span class="project-title">{project.title}</span> : null}
        </Link>
        <span class="muted small">
          {environments.length} environment{environments.length === 1 ? '' : 's'}
        </span>
      </div>
      {environments.length === 0 ? (
        <p class="muted small project-row-empty">
          No environment yet. <Link href={`${paths.project(project.name)}?create=environment`}>Add one</Link>
        </p>
      ) : (
        <table class="env-table">
          <tbody>
            {environments.map((environment) => {
              const deploy = latest.find((item) => item.environment === environment.name);
              return (
                <tr key={environment.name}>
                  <td class="env-name">
                    <Link href={paths.environment(project.name, environment.name)} class="mono">
                      {environment.name}
                    </Link>
                  </td>
                  <td class="env-deploy">{deploy ? <DeployLine deploy={deploy} /> : <span class="muted small">never deployed</span>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </li>
  );
}
