/**
 * `/p/{project}/e/{environment}/settings`: the environment editor — host selector with its live
 * preview, deploy command, timeouts, queue policy — saved with PUT and If-Match; and deletion.
 */
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'wouter-preact';
import { api } from '../../lib/api/client';
import type { ApiError, Environment, EnvironmentInput } from '../../lib/api/client';
import { toApiError, useResource } from '../../lib/resource';
import { paths } from '../../lib/url';
import { refreshDirectory } from '../../app/directory';
import { Button } from '../../ui/Button';
import { ConfirmDialog } from '../../ui/Dialog';
import { ErrorState, InlineError, Loading } from '../../ui/ErrorState';
import { Page, Section } from '../../ui/Page';
import { useCan } from '../auth/session';
import { HostSelectorEditor, rowsFromSelector, selectorFromRows, selectorProblem } from './HostSelectorEditor';
import type { SelectorRow } from './HostSelectorEditor';
import { environmentTabs } from './EnvironmentPage';

interface Form {
  rows: SelectorRow[];
  overrideCommand: boolean;
  deploy_command: string;
  deploy_timeout_secs: string;
  deploy_grace_secs: string;
  allow_hostless_deploys: boolean;
  queue_policy: 'fifo' | 'newest_wins';
}

function toForm(environment: Environment): Form {
  return {
    rows: rowsFromSelector(environment.host_selector),
    overrideCommand: environment.deploy_command !== null && environment.deploy_command !== undefined,
    deploy_command: environment.deploy_command ?? '',
    deploy_timeout_secs: String(environment.deploy_timeout_secs),
    deploy_grace_secs: String(environment.deploy_grace_secs),
    allow_hostless_deploys: environment.allow_hostless_deploys,
    queue_policy: environment.queue_policy,
  };
}

function toInput(form: Form): EnvironmentInput {
  return {
    host_selector: selectorFromRows(form.rows),
    deploy_command: form.overrideCommand ? form.deploy_command : null,
    deploy_timeout_secs: Number(form.deploy_timeout_secs),
    deploy_grace_secs: Number(form.deploy_grace_secs),
    allow_hostless_deploys: form.allow_hostless_deploys,
    queue_policy: form.queue_policy,
  };
}

export function EnvironmentSettingsPage({ project, environment }: { project: string; environment: string }) {
  const loaded = useResource(
    async (signal) => {
      const { data, etag } = await api.get('/api/v1/projects/{project}/environments/{environment}', {
        path: { project, environment },
        signal,
      });
      return { environment: data, etag };
    },
    [project, environment],
  );
  const canEdit = useCan('deployer', project, environment);
  const [, navigate] = useLocation();
  const [form, setForm] = useState<Form | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [saved, setSaved] = useState(false);
  const [deleteOpen, setDeleteOpen] = useState(false);

  useEffect(() => {
    if (loaded.data) setForm(toForm(loaded.data.environment));
  }, [loaded.data]);

  const change = (patch: Partial<Form>) => {
    setSaved(false);
    setForm((current) => (current ? { ...current, ...patch } : current));
  };

  return (
    <Page
      title={
        <span class="mono">
          {project}/{environment}
        </span>
      }
      documentTitle={`${project}/${environment} settings`}
      crumbs={[
        { label: 'Projects', href: '/' },
        { label: project, href: paths.project(project) },
      ]}
      tabs={environmentTabs(project, environment)}
    >
      {loaded.error && !loaded.data ? (
        <ErrorState error={loaded.error} onRetry={loaded.reload} noun="environment" backHref={paths.project(project)} backLabel={`Back to ${project}`} />
      ) : !loaded.data || !form ? (
        <Loading rows={6} />
      ) : (
        <>
          <form
            class="form settings-form"
            data-testid="environment-settings"
            onSubmit={(event) => {
              event.preventDefault();
              if (!loaded.data || selectorProblem(form.rows)) return;
              setBusy(true);
              setError(undefined);
              api
                .put('/api/v1/projects/{project}/environments/{environment}', {
                  path: { project, environment },
                  body: toInput(form),
                  ifMatch: loaded.data.etag,
                })
                .then(({ data, etag }) => {
                  setBusy(false);
                  setSaved(true);
                  loaded.setData({ environment: data, etag });
                })
                .catch((caught: unknown) => {
                  setBusy(false);
                  setError(toApiError(caught));
                });
            }}
          >
            <Section title="Hosts">
              <p class="muted small section-intro">
                Deploys target the hosts that have every one of these tags, with exactly these values.
              </p>
              <HostSelectorEditor rows={form.rows} onChange={(rows) => change({ rows })} disabled={!canEdit} />
              <label class="checkbox">
                <input
                  type="checkbox"
                  checked={form.allow_hostless_deploys}
                  disabled={!canEdit}
                  onChange={(event) => change({ allow_hostless_deploys: event.currentTarget.checked })}
                />
                Allow deploys that match no host
              </label>
            </Section>
            <Section title="Deploys">
              <label class="checkbox">
                <input
                  type="checkbox"
                  checked={form.overrideCommand}
                  disabled={!canEdit}
                  onChange={(event) => change({ overrideCommand: event.currentTarget.checked })}
                />
                Replace the project's deploy command here
              </label>
              {form.overrideCommand ? (
                <label class="field">
                  <span class="field-label">Deploy command</span>
                  <textarea
                    class="input mono"
                    rows={3}
                    spellcheck={false}
                    value={form.deploy_command}
                    disabled={!canEdit}
                    onInput={(event) => change({ deploy_command: event.currentTarget.value })}
                  />
                </label>
              ) : null}
              <div class="field-row">
                <label class="field">
                  <span class="field-label">Timeout (seconds)</span>
                  <input
                    class="input"
                    type="number"
                    min={1}
                    max={604800}
                    value={form.deploy_timeout_secs}
                    disabled={!canEdit}
                    onInput={(event) => change({ deploy_timeout_secs: event.currentTarget.value })}
                  />
                </label>
                <label class="field">
                  <span class="field-label">Grace before SIGKILL (seconds)</span>
                  <input
                    class="input"
                    type="number"
                    min={0}
                    max={3600}
                    value={form.deploy_grace_secs}
                    disabled={!canEdit}
                    onInput={(event) => change({ deploy_grace_secs: event.currentTarget.value })}
                  />
                </label>
                <label class="field">
                  <span class="field-label">Queue</span>
                  <select
                    class="input"
                    value={form.queue_policy}
                    disabled={!canEdit}
                    onChange={(event) => change({ queue_policy: event.currentTarget.value as Form['queue_policy'] })}
                  >
                    <option value="fifo">run every queued deploy in order</option>
                    <option value="newest_wins">newest wins: cancel older queued deploys</option>
                  </select>
                </label>
              </div>
            </Section>
            {error ? (
              <>
                <InlineError error={error} />
                {error.status === 412 ? (
                  <Button small onClick={() => loaded.reload()}>
                    Reload the current version
                  </Button>
                ) : null}
              </>
            ) : null}
            {canEdit ? (
              <div class="form-actions form-actions-left">
                <Button type="submit" variant="primary" busy={busy} disabled={Boolean(selectorProblem(form.rows))}>
                  Save changes
                </Button>
                {saved ? <span class="saved-note">Saved</span> : null}
              </div>
            ) : (
              <p class="muted">You need the deployer role on {project}/{environment} to change it.</p>
            )}
          </form>
          {canEdit ? (
            <Section title="Danger zone">
              <div class="danger-zone">
                <div>
                  <strong>Delete this environment</strong>
                  <p class="muted small">Its variables, deploys, their output and its lock go with it.</p>
                </div>
                <Button variant="danger" onClick={() => setDeleteOpen(true)}>
                  Delete environment
                </Button>
              </div>
              <ConfirmDialog
                open={deleteOpen}
                onClose={() => setDeleteOpen(false)}
                title={`Delete ${project}/${environment}?`}
                confirmLabel="Delete environment"
                danger
                typeToConfirm={environment}
                action={async () => {
                  await api.delete('/api/v1/projects/{project}/environments/{environment}', { path: { project, environment } });
                  await refreshDirectory();
                  navigate(paths.project(project));
                }}
              >
                <p>This cannot be undone.</p>
              </ConfirmDialog>
            </Section>
          ) : null}
        </>
      )}
    </Page>
  );
}
