/** One deploy in a line: status, ref, short sha, who and when, linking to its page. */
import { Link } from 'wouter-preact';
import type { Deploy } from '../../lib/api/client';
import { paths } from '../../lib/url';
import { Duration, RelativeTime } from '../../ui/RelativeTime';
import { StatusBadge } from '../../ui/StatusBadge';

export function shortSha(sha: string | null | undefined): string | null {
  return sha ? sha.slice(0, 7) : null;
}

export function RefLabel({ deploy }: { deploy: Deploy }) {
  return (
    <span class="ref">
      <span class="mono ref-name">{deploy.ref ?? 'default branch'}</span>
      {deploy.sha ? <span class="mono sha muted">{shortSha(deploy.sha)}</span> : null}
    </span>
  );
}

export function DeployLine({ deploy, showUser = true }: { deploy: Deploy; showUser?: boolean }) {
  const when = deploy.finished_at ?? deploy.started_at ?? deploy.queued_at;
  return (
    <Link href={paths.deploy(deploy.project, deploy.id)} class="deploy-line" data-testid="deploy-line">
      <StatusBadge status={deploy.status} />
      <RefLabel deploy={deploy} />
      {showUser ? <span class="muted small user">{deploy.user}</span> : null}
      <span class="muted small when">
        {deploy.status === 'running' ? (
          <Duration startedAt={deploy.started_at} finishedAt={deploy.finished_at} durationMs={deploy.duration_ms} />
        ) : deploy.status === 'queued' && deploy.queue_position ? (
          `#${deploy.queue_position} in queue`
        ) : (
          <RelativeTime iso={when} />
        )}
      </span>
    </Link>
  );
}
