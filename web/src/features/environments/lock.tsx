/** Environment locks: reading one (`{"locked": false}` when unlocked), and the dialogs to lock and unlock. */
import { useState } from 'preact/hooks';
import { api } from '../../lib/api/client';
import type { ApiError, EnvironmentLock } from '../../lib/api/client';
import { toApiError } from '../../lib/resource';
import { Button } from '../../ui/Button';
import { ConfirmDialog, Dialog } from '../../ui/Dialog';
import { InlineError } from '../../ui/ErrorState';
import { RelativeTime } from '../../ui/RelativeTime';

export async function fetchLock(project: string, environment: string, signal?: AbortSignal): Promise<EnvironmentLock | null> {
  const { data } = await api.get('/api/v1/projects/{project}/environments/{environment}/lock', {
    path: { project, environment },
    signal,
  });
  return data.locked ? data : null;
}

export function LockBanner({ lock }: { lock: EnvironmentLock }) {
  return (
    <div class="lock-banner" data-testid="lock-banner">
      <svg class="lock-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
        <rect x="3" y="7" width="10" height="7.5" rx="1.5" fill="currentColor" />
        <path d="M5.5 7V5a2.5 2.5 0 0 1 5 0v2" stroke="currentColor" stroke-width="1.6" fill="none" />
      </svg>
      <div>
        <strong>Locked</strong> by {lock.locked_by} <RelativeTime iso={lock.locked_at} />
        {lock.expires_at ? (
          <>
            {' '}
            · lifts <RelativeTime iso={lock.expires_at} />
          </>
        ) : null}
        <div class="lock-reason">{lock.reason}</div>
      </div>
    </div>
  );
}

/** Lock (or replace the lock) with a reason and an optional expiry; unlock with a confirmation. */
export function LockControls({
  project,
  environment,
  lock,
  onChange,
  small = false,
}: {
  project: string;
  environment: string;
  lock: EnvironmentLock | null;
  onChange: (lock: EnvironmentLock | null) => void;
  small?: boolean;
}) {
  const [lockOpen, setLockOpen] = useState(false);
  const [unlockOpen, setUnlockOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [expires, setExpires] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  return (
    <>
      {lock ? (
        <Button small={small} onClick={() => setUnlockOpen(true)}>
          Unlock
        </Button>
      ) : (
        <Button
          small={small}
          onClick={() => {
            setError(undefined);
            setLockOpen(true);
          }}
        >
          Lock
        </Button>
      )}
      <Dialog open={lockOpen} onClose={() => setLockOpen(false)} title={`Lock ${project}/${environment}`}>
        <form
          class="form"
          onSubmit={(event) => {
            event.preventDefault();
            setBusy(true);
            setError(undefined);
            api
              .put('/api/v1/projects/{project}/environments/{environment}/lock', {
                path: { project, environment },
                body: { reason, expires_at: expires ? new Date(expires).toISOString() : null },
              })
              .then(({ data }) => {
                setBusy(false);
                setLockOpen(false);
                setReason('');
                setExpires('');
                onChange(data);
              })
              .catch((caught: unknown) => {
                setBusy(false);
                setError(toApiError(caught));
              });
          }}
        >
          <p class="muted">New deploys are refused while the lock holds; queued and running ones go on.</p>
          <label class="field">
            <span class="field-label">Reason</span>
            <input
              class="input"
              name="reason"
              required
              maxLength={500}
              value={reason}
              autoFocus
              placeholder="database migration until 14:00"
              onInput={(event) => setReason(event.currentTarget.value)}
            />
          </label>
          <label class="field">
            <span class="field-label">Lifts by itself at (optional)</span>
            <input class="input" type="datetime-local" value={expires} onInput={(event) => setExpires(event.currentTarget.value)} />
          </label>
          {error ? <InlineError error={error} /> : null}
          <div class="form-actions">
            <Button onClick={() => setLockOpen(false)}>Cancel</Button>
            <Button type="submit" variant="primary" busy={busy}>
              Lock
            </Button>
          </div>
        </form>
      </Dialog>
      <ConfirmDialog
        open={unlockOpen}
        onClose={() => setUnlockOpen(false)}
        title={`Unlock ${project}/${environment}?`}
        confirmLabel="Unlock"
        action={async () => {
          try {
            await api.delete('/api/v1/projects/{project}/environments/{environment}/lock', { path: { project, environment } });
          } catch (caught) {
            if (toApiError(caught).status !== 404) throw caught;
          }
          onChange(null);
        }}
      >
        {lock ? (
          <p>
            Locked by {lock.locked_by}: “{lock.reason}”. Deploys will be accepted again.
          </p>
        ) : null}
      </ConfirmDialog>
    </>
  );
}
