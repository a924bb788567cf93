/**
 * Starting, cancelling and redeploying, with the dialogs that confirm them. Used by the project
 * page, the environment page and the deploy page.
 */
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'wouter-preact';
import { api } from '../../lib/api/client';
import type { ApiError, Deploy } from '../../lib/api/client';
import { toApiError } from '../../lib/resource';
import { paths } from '../../lib/url';
import { Button } from '../../ui/Button';
import { ConfirmDialog, Dialog } from '../../ui/Dialog';
import { InlineError } from '../../ui/ErrorState';

/** The refs deployed recently, newest first, without repeats: the Deploy form offers them. */
export async function recentRefs(project: string, environment?: string): Promise<string[]> {
  const { data } = environment
    ? await api.get('/api/v1/projects/{project}/environments/{environment}/deploys', {
        path: { project, environment },
        query: { limit: 100 },
      })
    : await api.get('/api/v1/projects/{project}/deploys', { path: { project }, query: { limit: 100 } });
  const refs: string[] = [];
  for (const deploy of data.items) if (deploy.ref && !refs.includes(deploy.ref)) refs.push(deploy.ref);
  return refs.slice(0, 20);
}

export function DeployDialog({
  open,
  onClose,
  project,
  environment,
  onStarted,
}: {
  open: boolean;
  onClose: () => void;
  project: string;
  environment: string;
  onStarted?: (deploy: Deploy) => void;
}) {
  const [, navigate] = useLocation();
  const [ref, setRef] = useState('');
  const [description, setDescription] = useState('');
  const [refs, setRefs] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [loadedFor, setLoadedFor] = useState('');

  const key = `${project}/${environment}`;
  useEffect(() => {
    if (!open || loadedFor === key) return;
    setLoadedFor(key);
    setError(undefined);
    recentRefs(project)
      .then((found) => {
        setRefs(found);
        setRef((current) => current || found[0] || '');
      })
      .catch(() => setRefs([]));
  }, [open, key, loadedFor, project]);
  const datalistId = `refs-${project}-${environment}`;
  return (
    <Dialog open={open} onClose={onClose} title={`Deploy ${project}/${environment}`}>
      <form
        class="form"
        data-testid="deploy-form"
        onSubmit={(event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          api
            .post('/api/v1/projects/{project}/environments/{environment}/deploys', {
              path: { project, environment },
              body: { ref: ref.trim() || null, description: description.trim() || null },
            })
            .then(({ data }) => {
              setBusy(false);
              setLoadedFor('');
              setDescription('');
              onClose();
              onStarted?.(data);
              navigate(paths.deploy(data.project, data.id));
            })
            .catch((caught: unknown) => {
              setBusy(false);
              setError(toApiError(caught));
            });
        }}
      >
        <label class="field">
          <span class="field-label">Ref</span>
          <input
            class="input mono"
            name="ref"
            list={datalistId}
            value={ref}
            placeholder="the repository's default branch"
            autoFocus
            autoComplete="off"
            spellcheck={false}
            onInput={(event) => setRef(event.currentTarget.value)}
          />
          <datalist id={datalistId}>
            {refs.map((item) => (
              <option key={item} value={item} />
            ))}
          </datalist>
          <span class="field-hint">A branch, tag, commit or version label. Recent refs are suggested.</span>
        </label>
        <label class="field">
          <span class="field-label">Description</span>
          <textarea
            class="input"
            name="description"
            rows={2}
            value={description}
            placeholder="optional: why this deploy"
            onInput={(event) => setDescription(event.currentTarget.value)}
          />
        </label>
        {error ? <InlineError error={error} /> : null}
        <div class="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Deploy {ref.trim() ? <span class="mono">{ref.trim()}</span> : 'default branch'} to {environment}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

/** A Cancel button that asks first; `onDone` gets the deploy as the cancel answered it. */
export function CancelDeployButton({ deploy, onDone, small = false }: { deploy: Deploy; onDone?: (deploy: Deploy) => void; small?: boolean }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button variant="danger" small={small} onClick={() => setOpen(true)}>
        Cancel
      </Button>
      <ConfirmDialog
        open={open}
        onClose={() => setOpen(false)}
        title="Cancel this deploy?"
        confirmLabel="Cancel deploy"
        danger
        action={async () => {
          const { data } = await api.post('/api/v1/deploys/{id}/cancel', { path: { id: deploy.id } });
          onDone?.(data);
        }}
      >
        {deploy.status === 'running' ? (
          <p>
            The command of <span class="mono">{deploy.project}/{deploy.environment}</span> gets SIGTERM, then SIGKILL after
            the environment's grace period. What it already did stays done.
          </p>
        ) : (
          <p>
            This queued deploy of <span class="mono">{deploy.project}/{deploy.environment}</span> will not run.
          </p>
        )}
      </ConfirmDialog>
    </>
  );
}

export function RedeployButton({ deploy }: { deploy: Deploy }) {
  const [open, setOpen] = useState(false);
  const [, navigate] = useLocation();
  const what = deploy.sha ? deploy.sha.slice(0, 10) : (deploy.ref ?? 'the default branch');
  return (
    <>
      <Button onClick={() => setOpen(true)}>Redeploy</Button>
      <ConfirmDialog
        open={open}
        onClose={() => setOpen(false)}
        title="Redeploy?"
        confirmLabel="Redeploy"
        action={async () => {
          const { data } = await api.post('/api/v1/deploys/{id}/redeploy', { path: { id: deploy.id } });
          navigate(paths.deploy(data.project, data.id));
        }}
      >
        <p>
          Queue <span class="mono">{what}</span> again on <span class="mono">{deploy.project}/{deploy.environment}</span>, with
          the same host filter. Redeploying an older deploy is how to roll back.
        </p>
      </ConfirmDialog>
    </>
  );
}
