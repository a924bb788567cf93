/** A deploy's status as a coloured badge: grey queued, blue running (animated), green, red, amber. */
import type { DeployStatus } from '../lib/api/client';

const LABELS: Record<DeployStatus, string> = {
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  timed_out: 'timed out',
  errored: 'errored',
  interrupted: 'interrupted',
};

/** The status as the badge says it ("timed out"), for labels that must contain the badge's text. */
export function statusLabel(status: DeployStatus): string {
  return LABELS[status];
}

export function StatusBadge({ status, compact = false }: { status: DeployStatus; compact?: boolean }) {
  return (
    <span class={`st st-${status}${compact ? ' st-compact' : ''}`} data-status={status} title={LABELS[status]}>
      <span class="st-dot" aria-hidden="true" />
      {compact ? null : <span class="st-label">{LABELS[status]}</span>}
    </span>
  );
}
