/**
 * An environment at a glance: what is deployed, the current deploy when it differs (running, with
 * its live duration, or failed), the lock with its reason, the queue, and the Deploy button.
 */
import { useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import type { Deploy, EnvironmentLock } from '../../lib/api/client';
import { paths } from '../../lib/url';
import { Button } from '../../ui/Button';
import { Duration, RelativeTime } from '../../ui/RelativeTime';
import { StatusBadge } from '../../ui/StatusBadge';
import { useCan } from '../auth/session';
import { CancelDeployButton, DeployDialog } from '../deploys/actions';
import { RefLabel } from '../deploys/DeployCell';
import { LockBanner, LockControls } from './lock';
import type { EnvironmentState } from './state';

export function DeploySummary({ deploy, label }: { deploy: Deploy; label: string }) {
  const live = deploy.status === 'running';
  return (
    <Link href={paths.deploy(deploy.project, deploy.id)} class="deploy-summary" data-testid={`deploy-summary-${label}`}>
      <span class="summary-label">{label}</span>
      <StatusBadge status={deploy.status} />
      <RefLabel deploy={deploy} />
      <span class="summary-meta muted small">
        {deploy.user} ·{' '}
        {live ? (
          <Duration startedAt={deploy.started_at} finishedAt={deploy.finished_at} durationMs={deploy.duration_ms} />
        ) : (
          <RelativeTime iso={deploy.finished_at ?? deploy.started_at ?? deploy.queued_at} />
        )}
      </span>
    </Link>
  );
}

export function QueueList({ queue, onChanged }: { queue: Deploy[]; onChanged: () => void }) {
  if (queue.length === 0) return null;
  return (
    <div class="queue" data-testid="queue">
      <div class="summary-label">Queue</div>
      <ol class="queue-list">
        {queue.map((deploy) => (
          <li key={deploy.id} class="queue-item">
            <span class="queue-position mono">#{deploy.queue_position ?? '?'}</span>
            <Link href={paths.deploy(deploy.project, deploy.id)}>
              <RefLabel deploy={deploy} />
            </Link>
            <span class="muted small">
              {deploy.user} · <RelativeTime iso={deploy.queued_at} />
            </span>
            <CancelDeployButton deploy={deploy} small onDone={onChanged} />
          </li>
        ))}
      </ol>
    </div>
  );
}

export function EnvironmentCard({
  state,
  onChanged,
  onLockChange,
}: {
  state: EnvironmentState;
  onChanged: () => void;
  onLockChange: (lock: EnvironmentLock | null) => void;
}) {
  const { environment, deployed, current, queue, lock } = state;
  const project = environment.project;
  const canDeploy = useCan('deployer', project, environment.name);
  const [deployOpen, setDeployOpen] = useState(false);
  const showCurrent = current && current.id !== deployed?.id;
  const selectorEntries = Object.entries(environment.host_selector);
  return (
    <article class={`env-card card${lock ? ' env-locked' : ''}`} data-testid={`env-card-${environment.name}`}>
      <header class="env-card-head">
        <Link href={paths.environment(project, environment.name)} class="env-card-name mono">
          {environment.name}
        </Link>
        {lock ? <span class="pill pill-locked">locked</span> : null}
        <span class="env-card-selector muted small mono" title="Host selector">
          {selectorEntries.length ? selectorEntries.map(([key, value]) => `${key}=${value}`).join(' ') : 'no hosts'}
        </span>
      </header>
      <div class="env-card-body">
        {deployed ? (
          <DeploySummary deploy={deployed} label="Deployed" />
        ) : (
          <div class="deploy-summary empty-summary">
            <span class="summary-label">Deployed</span>
            <span class="muted small">nothing yet</span>
          </div>
        )}
        {showCurrent ? (
          <div class="summary-with-action">
            <DeploySummary deploy={current} label={current.status === 'running' ? 'Running' : 'Last'} />
            {current.status === 'running' && canDeploy ? <CancelDeployButton deploy={current} small onDone={onChanged} /> : null}
          </div>
        ) : null}
        <QueueList queue={queue} onChanged={onChanged} />
        {lock ? <LockBanner lock={lock} /> : null}
      </div>
      <footer class="env-card-actions">
        {canDeploy ? (
          <Button variant="primary" small onClick={() => setDeployOpen(true)} disabled={Boolean(lock)} title={lock ? 'Locked: unlock it first' : 'Deploy (d on the environment page)'}>
            Deploy
          </Button>
        ) : null}
        {canDeploy ? <LockControls project={project} environment={environment.name} lock={lock} onChange={onLockChange} small /> : null}
        <Link href={paths.projectDeploys(project, { environment: environment.name })} class="btn btn-ghost btn-small">
          History
        </Link>
        <Link href={paths.environmentSettings(project, environment.name)} class="btn btn-ghost btn-small">
          Settings
        </Link>
      </footer>
      <DeployDialog open={deployOpen} onClose={() => setDeployOpen(false)} project={project} environment={environment.name} />
    </article>
  );
}
