/**
 * `/p/{project}/deploys/{id}`: one deploy. The header says where it is (status, ref, sha, who,
 * live duration, targeted hosts, why it ended) with Cancel and Redeploy; the body is the output
 * viewer, streaming while the deploy runs. Loaded on demand: it carries the log viewer.
 */
import { useCallback, useEffect } from 'preact/hooks';
import { Link } from 'wouter-preact';
import { api, isLive } from '../../lib/api/client';
import type { Deploy } from '../../lib/api/client';
import { eventDeployId, useLiveRefresh } from '../../lib/live';
import { useResource } from '../../lib/resource';
import { paths } from '../../lib/url';
import { ErrorState, Loading } from '../../ui/ErrorState';
import { Duration, RelativeTime } from '../../ui/RelativeTime';
import { StatusBadge } from '../../ui/StatusBadge';
import { TagList } from '../../ui/Tag';
import { useCan } from '../auth/session';
import { CancelDeployButton, RedeployButton } from './actions';
import { shortSha } from './DeployCell';
import { LogView } from './log/index';

export function DeployPage({ project, id }: { project: string; id: string }) {
  const deploy = useResource(async (signal) => (await api.get('/api/v1/deploys/{id}', { path: { id }, signal })).data, [id]);
  const data = deploy.data;
  const live = data ? isLive(data.status) : false;
  // The header follows the deploy's events while it is queued or running (the output has its
  // own stream); an ended deploy does not change, so the stream closes.
  useLiveRefresh(deploy.reload, {
    filter: { project: data?.project ?? project, type: 'deploy.' },
    relevant: (event) => eventDeployId(event) === id,
    active: data ? live : !deploy.error,
  });
  const canDeploy = useCan('deployer', data?.project ?? project, data?.environment);
  const onEnd = useCallback(
    (finished: unknown) => {
      if (finished && typeof finished === 'object' && 'status' in finished) deploy.setData(finished as Deploy);
      else deploy.reload();
    },
    [deploy.setData, deploy.reload],
  );
  useEffect(() => {
    document.title = data ? `${data.status} · ${data.project}/${data.environment} · jeny` : 'Deploy · jeny';
  }, [data?.status, data?.project, data?.environment]);

  if (deploy.error && !data)
    return (
      <div class="page">
        <ErrorState
          error={deploy.error}
          onRetry={deploy.reload}
          noun="deploy"
          backHref={paths.projectDeploys(project)}
          backLabel={`Back to ${project}'s deploys`}
        />
      </div>
    );
  if (!data) return <Loading rows={6} label="Loading the deploy" />;
  return (
    <div class="page deploy-page" data-testid="deploy-page" data-status={data.status}>
      <header class="deploy-header">
        <nav class="crumbs" aria-label="Breadcrumbs">
          <span class="crumb">
            <Link href="/">Projects</Link>
            <span class="crumb-sep">/</span>
          </span>
          <span class="crumb">
            <Link href={paths.project(data.project)}>{data.project}</Link>
            <span class="crumb-sep">/</span>
          </span>
          <span class="crumb">
            <Link href={paths.environment(data.project, data.environment)}>{data.environment}</Link>
            <span class="crumb-sep">/</span>
          </span>
          <span class="crumb">
            <Link href={paths.projectDeploys(data.project, { environment: data.environment })}>deploys</Link>
          </span>
        </nav>
        <div class="deploy-title-row">
          <StatusBadge status={data.status} />
          <h1 class="deploy-title">
            <span class="mono">{data.ref ?? 'default branch'}</span>
            <span class="muted"> to </span>
            <span class="mono">{data.environment}</span>
          </h1>
          <div class="page-actions">
            {canDeploy && live ? <CancelDeployButton deploy={data} onDone={(updated) => deploy.setData(updated)} /> : null}
            {canDeploy && !live ? <RedeployButton deploy={data} /> : null}
          </div>
        </div>
        <dl class="deploy-facts">
          <div>
            <dt>Commit</dt>
            <dd class="mono" title={data.sha ?? undefined}>
              {shortSha(data.sha) ?? <span class="muted">—</span>}
            </dd>
          </div>
          <div>
            <dt>By</dt>
            <dd>{data.user}</dd>
          </div>
          <div>
            <dt>{data.started_at ? 'Started' : 'Queued'}</dt>
            <dd>
              <RelativeTime iso={data.started_at ?? data.queued_at} />
              {data.status === 'queued' && data.queue_position ? <span class="muted"> · #{data.queue_position} in queue</span> : null}
              {data.node ? (
                <span class="muted" data-testid="deploy-node">
                  {' '}
                  · on node <span class="mono">{data.node}</span>
                </span>
              ) : null}
            </dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd data-testid="deploy-duration">
              <Duration startedAt={data.started_at} finishedAt={data.finished_at} durationMs={data.duration_ms} />
            </dd>
          </div>
          {data.exit_code !== null && data.exit_code !== undefined ? (
            <div>
              <dt>Exit code</dt>
              <dd class="mono">{data.exit_code}</dd>
            </div>
          ) : null}
          <div class="deploy-hosts">
            <dt>Hosts</dt>
            <dd>
              {data.hosts.length === 0 ? (
                <span class="muted">{data.started_at ? 'none' : 'chosen when it starts'}</span>
              ) : (
                <details>
                  <summary>
                    {data.hosts.length} host{data.hosts.length === 1 ? '' : 's'}:{' '}
                    <span class="mono">
                      {data.hosts
                        .slice(0, 4)
                        .map((host) => host.name)
                        .join(', ')}
                      {data.hosts.length > 4 ? ', …' : ''}
                    </span>
                  </summary>
                  <ul class="host-mini-list">
                    {data.hosts.map((host) => (
                      <li key={host.name}>
                        <span class="mono">{host.name}</span> <span class="muted small mono">{host.address}</span> <TagList tags={host.tags} />
                      </li>
                    ))}
                  </ul>
                </details>
              )}
              {Object.keys(data.host_filter).length ? (
                <span class="muted small">
                  {' '}
                  filter <TagList tags={data.host_filter} />
                </span>
              ) : null}
            </dd>
          </div>
        </dl>
        {data.description ? <p class="deploy-description">{data.description}</p> : null}
        {data.reason ? (
          <p class={`deploy-reason reason-${data.status}`} data-testid="deploy-reason">
            {data.reason}
          </p>
        ) : null}
        {data.redeploy_of ? (
          <p class="muted small">
            Redeploy of <Link href={paths.deploy(data.project, data.redeploy_of)}>{data.redeploy_of.slice(0, 13)}…</Link>
          </p>
        ) : null}
      </header>
      <div class="deploy-log">
        <LogView key={data.id} deployId={data.id} live={live} onEnd={onEnd} />
      </div>
    </div>
  );
}
