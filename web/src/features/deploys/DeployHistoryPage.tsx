/**
 * Deploy history: `/p/{project}/deploys` or `/deploys` for every project. Filters (environment,
 * status, user) and the page (`cursor`) live in the URL, so back/forward walk through them.
 * Follows the live `deploy.` events: the first page refetches when a deploy of the filtered
 * environment changes, an older page when one of its own deploys does.
 */
import { useEffect, useState } from 'preact/hooks';
import { Link, useLocation } from 'wouter-preact';
import { api, DEPLOY_STATUSES } from '../../lib/api/client';
import type { DeployStatus } from '../../lib/api/client';
import { eventDeployId, useLiveRefresh } from '../../lib/live';
import { useResource } from '../../lib/resource';
import { paths, useQueryState } from '../../lib/url';
import { Button } from '../../ui/Button';
import { Empty, ErrorState, Loading } from '../../ui/ErrorState';
import { Page } from '../../ui/Page';
import { Duration, RelativeTime } from '../../ui/RelativeTime';
import { StatusBadge, statusLabel } from '../../ui/StatusBadge';
import { useDirectory } from '../../app/directory';
import { projectTabs } from '../projects/ProjectTabs';
import { RefLabel } from './DeployCell';

export function DeployHistoryPage({ project }: { project?: string }) {
  const query = useQueryState();
  const environment = query.get('environment');
  const status = query.get('status');
  const user = query.get('user');
  const cursor = query.get('cursor');
  const directory = useDirectory();
  const [, navigate] = useLocation();
  const [userDraft, setUserDraft] = useState(user);
  useEffect(() => setUserDraft(user), [user]);

  const page = useResource(
    async (signal) => {
      const filters = {
        environment: environment || undefined,
        status: (status || undefined) as DeployStatus | undefined,
        user: user || undefined,
        cursor: cursor || undefined,
        limit: 50,
      };
      const { data } = project
        ? await api.get('/api/v1/projects/{project}/deploys', { path: { project }, query: filters, signal })
        : await api.get('/api/v1/deploys', { query: filters, signal });
      return data;
    },
    [project ?? '', environment, status, user, cursor],
  );
  const items = page.data?.items;
  useLiveRefresh(page.reload, {
    filter: { project, type: 'deploy.' },
    relevant: (event) => {
      if (event.type === 'deploy.cancel_requested') return false;
      if (cursor) return items?.some((deploy) => deploy.id === eventDeployId(event)) ?? false;
      return !environment || event.environment === environment;
    },
  });

  const environmentNames = project
    ? (directory.environments[project] ?? []).map((item) => item.name)
    : [...new Set(Object.values(directory.environments).flatMap((list) => list.map((item) => item.name)))].sort();

  const filtered = Boolean(environment || status || user);
  const body = (
    <>
      <form
        class="filters"
        data-testid="history-filters"
        onSubmit={(event) => {
          event.preventDefault();
          query.set({ user: userDraft.trim(), cursor: null });
        }}
      >
        <div class="filter">
          <label class="filter-label" for="history-environment">
            Environment
          </label>
          <select
            id="history-environment"
            class="input select-small"
            name="environment"
            value={environment}
            onChange={(event) => query.set({ environment: event.currentTarget.value, cursor: null })}
          >
            <option value="">all</option>
            {environmentNames.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
            {environment && !environmentNames.includes(environment) ? <option value={environment}>{environment}</option> : null}
          </select>
        </div>
        <div class="filter">
          <label class="filter-label" for="history-status">
            Status
          </label>
          <select id="history-status" class="input select-small" name="status" value={status} onChange={(event) => query.set({ status: event.currentTarget.value, cursor: null })}>
            <option value="">all</option>
            {DEPLOY_STATUSES.map((item) => (
              <option key={item} value={item}>
                {item.replace('_', ' ')}
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label class="filter-label" for="history-user">
            User
          </label>
          <input
            id="history-user"
            class="input"
            name="user"
            type="search"
            placeholder="email"
            value={userDraft}
            onInput={(event) => setUserDraft(event.currentTarget.value)}
            onBlur={() => userDraft.trim() !== user && query.set({ user: userDraft.trim(), cursor: null })}
          />
        </div>
        {filtered ? (
          <button type="button" class="link-button small" onClick={() => query.set({ environment: null, status: null, user: null, cursor: null })}>
            clear filters
          </button>
        ) : null}
      </form>
      {page.error && !page.data ? (
        <ErrorState error={page.error} onRetry={page.reload} noun={project ? 'project' : 'deploys'} />
      ) : !page.data ? (
        <Loading rows={8} label="Loading deploys" />
      ) : page.data.items.length === 0 ? (
        <Empty title={filtered ? 'No deploy matches these filters' : 'No deploy yet'} />
      ) : (
        <>
          <table class="table deploys-table" data-testid="history-table">
            <thead>
              <tr>
                <th>Status</th>
                <th>{project ? 'Environment' : 'Project / environment'}</th>
                <th>Ref</th>
                <th class="hide-narrow">Description</th>
                <th class="hide-narrow">User</th>
                <th>When</th>
                <th class="hide-narrow">Duration</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((deploy) => (
                <tr
                  key={deploy.id}
                  class="clickable-row"
                  onClick={(event) => {
                    // The whole row opens the deploy; links and selected text keep their own behaviour.
                    if ((event.target as HTMLElement).closest('a') || getSelection()?.toString()) return;
                    navigate(paths.deploy(deploy.project, deploy.id));
                  }}
                >
                  <td>
                    <Link href={paths.deploy(deploy.project, deploy.id)} class="row-link" aria-label={`${statusLabel(deploy.status)}: deploy ${deploy.id}`}>
                      <StatusBadge status={deploy.status} />
                    </Link>
                  </td>
                  <td class="mono">
                    {project ? deploy.environment : `${deploy.project}/${deploy.environment}`}
                  </td>
                  <td>
                    <Link href={paths.deploy(deploy.project, deploy.id)}>
                      <RefLabel deploy={deploy} />
                    </Link>
                  </td>
                  <td class="hide-narrow description-cell" title={deploy.description}>
                    {deploy.description}
                  </td>
                  <td class="hide-narrow small">{deploy.user}</td>
                  <td class="small">
                    <RelativeTime iso={deploy.started_at ?? deploy.queued_at} />
                  </td>
                  <td class="hide-narrow small">
                    <Duration startedAt={deploy.started_at} finishedAt={deploy.finished_at} durationMs={deploy.duration_ms} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            {cursor ? (
              <Button small onClick={() => query.set({ cursor: null })}>
                Newest
              </Button>
            ) : null}
            {page.data.next_cursor ? (
              <Button small onClick={() => query.set({ cursor: page.data?.next_cursor ?? null })}>
                Older
              </Button>
            ) : null}
          </div>
        </>
      )}
    </>
  );

  if (project)
    return (
      <Page title={<span class="mono">{project}</span>} documentTitle={`${project} deploys`} crumbs={[{ label: 'Projects', href: '/' }]} tabs={projectTabs(project)}>
        {body}
      </Page>
    );
  return (
    <Page title="Deploys" documentTitle="Deploys">
      {body}
    </Page>
  );
}

