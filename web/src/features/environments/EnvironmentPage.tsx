/**
 * `/p/{project}/e/{environment}`: one environment — what is deployed and running, its queue and
 * lock, its recent deploys, the hosts it targets and its variables. `d` opens the Deploy form.
 * The state and the hosts follow the live event stream (one stream for both).
 */
import { useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import { api, ApiError } from '../../lib/api/client';
import { useLiveRefresh } from '../../lib/live';
import type { LiveEvent } from '../../lib/live';
import { useResource } from '../../lib/resource';
import { paths } from '../../lib/url';
import { Button, Kbd } from '../../ui/Button';
import { Empty, ErrorState, Loading } from '../../ui/ErrorState';
import { Page, Section } from '../../ui/Page';
import { TagList } from '../../ui/Tag';
import { useShortcut } from '../../app/shortcuts';
import { useCan } from '../auth/session';
import { DeployDialog } from '../deploys/actions';
import { DeployLine } from '../deploys/DeployCell';
import { VariablesEditor } from '../variables/VariablesEditor';
import { DeploySummary, QueueList } from './EnvironmentCard';
import { LockBanner, LockControls } from './lock';
import { loadProjectState } from './state';

export function environmentTabs(project: string, environment: string) {
  return [
    { label: 'Overview', href: paths.environment(project, environment), exact: true },
    { label: 'Settings', href: paths.environmentSettings(project, environment) },
  ];
}

/** An event of this environment, or of its project as a whole (not a variable: the editor has its own). */
function changesEnvironment(event: LiveEvent, project: string, environment: string): boolean {
  if (event.project !== project || event.type.startsWith('variable.')) return false;
  return !event.environment || event.environment === environment;
}

/** A host changed (or an AWS sync changed some), or the environment's selector may have. */
function changesHosts(event: LiveEvent, project: string, environment: string): boolean {
  if (event.type.startsWith('host.') || event.type === 'aws.synced') return true;
  return event.type === 'environment.updated' && event.project === project && event.environment === environment;
}

export function EnvironmentPage({ project, environment }: { project: string; environment: string }) {
  const state = useResource(
    async (signal) => {
      const [projectState, deploys] = await Promise.all([
        loadProjectState(project, signal, environment),
        api.get('/api/v1/projects/{project}/environments/{environment}/deploys', {
          path: { project, environment },
          query: { limit: 15 },
          signal,
        }),
      ]);
      return { ...projectState, recent: deploys.data.items };
    },
    [project, environment],
  );
  const hosts = useResource(
    async (signal) =>
      (
        await api.get('/api/v1/projects/{project}/environments/{environment}/hosts', {
          path: { project, environment },
          query: { limit: 100 },
          signal,
        })
      ).data,
    [project, environment],
  );
  const canDeploy = useCan('deployer', project, environment);
  const [deployOpen, setDeployOpen] = useState(false);
  useShortcut('d', () => setDeployOpen(true), canDeploy);

  const item = state.data?.environments[0];
  // Host events belong to no project, so both listen to the unfiltered stream (the same one).
  useLiveRefresh(state.reload, { relevant: (event) => changesEnvironment(event, project, environment) });
  useLiveRefresh(hosts.reload, { relevant: (event) => changesHosts(event, project, environment), safetyMs: 60_000 });
  const notFound = state.data && !item;

  return (
    <Page
      title={
        <span class="mono">
          {project}/{environment}
        </span>
      }
      documentTitle={`${project}/${environment}`}
      crumbs={[
        { label: 'Projects', href: '/' },
        { label: project, href: paths.project(project) },
      ]}
      tabs={environmentTabs(project, environment)}
      actions={
        item && canDeploy ? (
          <>
            <LockControls
              project={project}
              environment={environment}
              lock={item.lock}
              onChange={(lock) => state.data && state.setData({ ...state.data, environments: [{ ...item, lock }] })}
            />
            <Button variant="primary" onClick={() => setDeployOpen(true)} disabled={Boolean(item.lock)} title="Deploy (d)">
              Deploy <Kbd>d</Kbd>
            </Button>
          </>
        ) : null
      }
    >
      <DeployDialog open={deployOpen} onClose={() => setDeployOpen(false)} project={project} environment={environment} />
      {state.error && !state.data ? (
        <ErrorState error={state.error} onRetry={state.reload} noun="environment" backHref={paths.project(project)} backLabel={`Back to ${project}`} />
      ) : !state.data ? (
        <Loading rows={4} />
      ) : notFound || !item ? (
        <ErrorState
          error={new ApiError({ status: 404, code: 'not_found', detail: `${project} has no environment ${environment}` })}
          noun="environment"
          backHref={paths.project(project)}
          backLabel={`Back to ${project}`}
        />
      ) : (
        <>
          {item.lock ? <LockBanner lock={item.lock} /> : null}
          <div class="env-overview">
            {item.deployed ? (
              <DeploySummary deploy={item.deployed} label="Deployed" />
            ) : (
              <div class="deploy-summary empty-summary">
                <span class="summary-label">Deployed</span>
                <span class="muted small">nothing yet</span>
              </div>
            )}
            {item.current && item.current.id !== item.deployed?.id ? (
              <DeploySummary deploy={item.current} label={item.current.status === 'running' ? 'Running' : 'Last'} />
            ) : null}
            <QueueList queue={item.queue} onChanged={state.reload} />
          </div>
          <div class="two-columns">
            <Section
              title="Recent deploys"
              actions={
                <Link href={paths.projectDeploys(project, { environment })} class="btn btn-ghost btn-small">
                  All deploys
                </Link>
              }
            >
              {state.data.recent.length === 0 ? (
                <Empty title="No deploy yet">{canDeploy ? <p>Press <Kbd>d</Kbd> to deploy.</p> : null}</Empty>
              ) : (
                <ul class="deploy-list">
                  {state.data.recent.map((deploy) => (
                    <li key={deploy.id}>
                      <DeployLine deploy={deploy} />
                    </li>
                  ))}
                </ul>
              )}
            </Section>
            <Section
              title={`Hosts${hosts.data ? ` (${hosts.data.items.length}${hosts.data.next_cursor ? '+' : ''})` : ''}`}
              actions={
                <Link href={paths.environmentSettings(project, environment)} class="btn btn-ghost btn-small">
                  Edit selector
                </Link>
              }
            >
              <p class="muted small mono">
                {Object.entries(item.environment.host_selector)
                  .map(([key, value]) => `${key}=${value}`)
                  .join(' ') || 'empty selector: targets no host'}
              </p>
              {hosts.error ? (
                <ErrorState error={hosts.error} onRetry={hosts.reload} noun="hosts" />
              ) : !hosts.data ? (
                <Loading rows={2} />
              ) : hosts.data.items.length === 0 ? (
                <p class="muted small">No host is targeted.</p>
              ) : (
                <ul class="host-mini-list">
                  {hosts.data.items.map((host) => (
                    <li key={host.name}>
                      <span class="mono">{host.name}</span> <span class="muted small mono">{host.address}</span>
                      <TagList tags={host.tags} />
                    </li>
                  ))}
                </ul>
              )}
            </Section>
          </div>
          <Section title="Variables">
            <p class="muted small section-intro">
              Passed to deploys of {environment}; they override <Link href={paths.projectVariables(project)}>the project's variables</Link> with the same key.
            </p>
            <VariablesEditor scope={{ project, environment }} canEdit={canDeploy} />
          </Section>
        </>
      )}
    </Page>
  );
}
