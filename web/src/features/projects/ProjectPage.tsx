/**
 * `/p/{project}`: the project's environments as cards. Refreshes when an event of the project
 * arrives (a deploy queued, started or finished, a lock, an environment changed), when the tab
 * comes back into view, and every 30 s in case an event was missed.
 */
import { useLiveRefresh } from '../../lib/live';
import { useResource } from '../../lib/resource';
import { useQueryState } from '../../lib/url';
import { Button } from '../../ui/Button';
import { Empty, ErrorState, Loading } from '../../ui/ErrorState';
import { Page } from '../../ui/Page';
import { useCan } from '../auth/session';
import { CreateEnvironmentDialog } from '../environments/CreateEnvironmentDialog';
import { EnvironmentCard } from '../environments/EnvironmentCard';
import { loadProjectState } from '../environments/state';
import { projectTabs } from './ProjectTabs';

export function ProjectPage({ project }: { project: string }) {
  const state = useResource((signal) => loadProjectState(project, signal), [project]);
  const query = useQueryState();
  const canEdit = useCan('deployer', project);
  const creating = query.get('create') === 'environment';
  // Variables are not on the cards.
  useLiveRefresh(state.reload, { filter: { project }, relevant: (event) => !event.type.startsWith('variable.') });

  const data = state.data;
  return (
    <Page
      title={
        <>
          <span class="mono">{project}</span>
          {data && data.project.title !== project ? <span class="page-subtitle">{data.project.title}</span> : null}
        </>
      }
      documentTitle={project}
      crumbs={[{ label: 'Projects', href: '/' }]}
      tabs={projectTabs(project)}
      actions={
        canEdit && data ? (
          <Button onClick={() => query.set({ create: 'environment' })}>New environment</Button>
        ) : null
      }
    >
      <CreateEnvironmentDialog project={project} open={creating} onClose={() => query.set({ create: null }, { replace: true })} />
      {state.error && !data ? (
        <ErrorState error={state.error} onRetry={state.reload} noun="project" />
      ) : !data ? (
        <Loading rows={3} label="Loading the project" />
      ) : (
        <>
          {data.project.description ? <p class="project-description">{data.project.description}</p> : null}
          {data.environments.length === 0 ? (
            <Empty title="No environment yet">
              <p>An environment (staging, production, …) picks the hosts a deploy targets and holds its own variables.</p>
              {canEdit ? (
                <Button variant="primary" onClick={() => query.set({ create: 'environment' })}>
                  Add an environment
                </Button>
              ) : null}
            </Empty>
          ) : (
            <div class="env-grid">
              {data.environments.map((item, index) => (
                <EnvironmentCard
                  key={item.environment.name}
                  state={item}
                  onChanged={state.reload}
                  onLockChange={(lock) => {
                    const environments = data.environments.slice();
                    environments[index] = { ...item, lock };
                    state.setData({ ...data, environments });
                  }}
                />
              ))}
            </div>
          )}
        </>
      )}
    </Page>
  );
}

