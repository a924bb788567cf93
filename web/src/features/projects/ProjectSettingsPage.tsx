/**
 * `/p/{project}/settings`: edit the project (a merge patch with If-Match, so a concurrent change
 * is never overwritten unseen) and, for admins, delete it after typing its name.
 */
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'wouter-preact';
import { api } from '../../lib/api/client';
import type { ApiError, Project, ProjectInput } from '../../lib/api/client';
import { toApiError, useResource } from '../../lib/resource';
import { refreshDirectory } from '../../app/directory';
import { Button } from '../../ui/Button';
import { ConfirmDialog } from '../../ui/Dialog';
import { ErrorState, InlineError, Loading } from '../../ui/ErrorState';
import { Page, Section } from '../../ui/Page';
import { useCan } from '../auth/session';
import { projectTabs } from './ProjectTabs';

interface Form {
  title: string;
  description: string;
  repository: string;
  deploy_command: string;
  output_retention_days: string;
  output_retention_bytes: string;
  metrics_raw_days: string;
  metrics_5m_days: string;
  metrics_1h_days: string;
}

/** A days field: blank is null (the server's setting), a number as it is (0 is forever). */
const days = (text: string): number | null => (text.trim() ? Number(text) : null);

function toForm(project: Project): Form {
  return {
    title: project.title,
    description: project.description,
    repository: project.repository ?? '',
    deploy_command: project.deploy_command,
    output_retention_days: project.output_retention_days?.toString() ?? '',
    output_retention_bytes: project.output_retention_bytes?.toString() ?? '',
    metrics_raw_days: project.metrics_retention.raw_days?.toString() ?? '',
    metrics_5m_days: project.metrics_retention.rollup_5m_days?.toString() ?? '',
    metrics_1h_days: project.metrics_retention.rollup_1h_days?.toString() ?? '',
  };
}

function toPatch(form: Form): ProjectInput {
  return {
    title: form.title.trim() || null,
    description: form.description,
    repository: form.repository.trim() || null,
    deploy_command: form.deploy_command,
    output_retention_days: form.output_retention_days.trim() ? Number(form.output_retention_days) : null,
    output_retention_bytes: form.output_retention_bytes.trim() ? Number(form.output_retention_bytes) : null,
    metrics_retention: {
      raw_days: days(form.metrics_raw_days),
      rollup_5m_days: days(form.metrics_5m_days),
      rollup_1h_days: days(form.metrics_1h_days),
    },
  };
}

export function ProjectSettingsPage({ project }: { project: string }) {
  const loaded = useResource(
    async (signal) => {
      const { data, etag } = await api.get('/api/v1/projects/{project}', { path: { project }, signal });
      return { project: data, etag };
    },
    [project],
  );
  const canEdit = useCan('deployer', project);
  const canDelete = useCan('admin', project);
  const [, navigate] = useLocation();
  const [form, setForm] = useState<Form | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [saved, setSaved] = useState(false);
  const [deleteOpen, setDeleteOpen] = useState(false);

  useEffect(() => {
    if (loaded.data) setForm(toForm(loaded.data.project));
  }, [loaded.data]);

  const field = (name: keyof Form) => ({
    value: form?.[name] ?? '',
    disabled: !canEdit,
    onInput: (event: Event) => {
      setSaved(false);
      setForm((current) => (current ? { ...current, [name]: (event.currentTarget as HTMLInputElement).value } : current));
    },
  });

  return (
    <Page title={<span class="mono">{project}</span>} documentTitle={`${project} settings`} crumbs={[{ label: 'Projects', href: '/' }]} tabs={projectTabs(project)}>
      {loaded.error && !loaded.data ? (
        <ErrorState error={loaded.error} onRetry={loaded.reload} noun="project" />
      ) : !loaded.data || !form ? (
        <Loading rows={5} />
      ) : (
        <>
          <form
            class="form settings-form"
            data-testid="project-settings"
            onSubmit={(event) => {
              event.preventDefault();
              if (!loaded.data) return;
              setBusy(true);
              setError(undefined);
              api
                .patch('/api/v1/projects/{project}', { path: { project }, body: toPatch(form), ifMatch: loaded.data.etag })
                .then(({ data, etag }) => {
                  setBusy(false);
                  setSaved(true);
                  loaded.setData({ project: data, etag });
                  void refreshDirectory();
                })
                .catch((caught: unknown) => {
                  setBusy(false);
                  setError(toApiError(caught));
                });
            }}
          >
            <label class="field">
              <span class="field-label">Title</span>
              <input class="input" name="title" maxLength={200} {...field('title')} />
            </label>
            <label class="field">
              <span class="field-label">Description</span>
              <textarea class="input" name="description" rows={3} maxLength={10000} {...field('description')} />
            </label>
            <label class="field">
              <span class="field-label">Repository</span>
              <input class="input mono" name="repository" spellcheck={false} placeholder="none: deploys run in an empty folder" {...field('repository')} />
              <span class="field-hint">A git URL (https://, ssh://, git@host:path) or a path on the server.</span>
            </label>
            <label class="field">
              <span class="field-label">Deploy command</span>
              <textarea class="input mono" name="deploy_command" rows={4} spellcheck={false} {...field('deploy_command')} />
              <span class="field-hint">Run with sh -c in the checkout, unless the environment replaces it.</span>
            </label>
            <div class="field-row">
              <label class="field">
                <span class="field-label">Keep output for (days)</span>
                <input class="input" name="output_retention_days" type="number" min={1} max={3650} placeholder="forever" {...field('output_retention_days')} />
              </label>
              <label class="field">
                <span class="field-label">Keep at most (bytes of output)</span>
                <input class="input" name="output_retention_bytes" type="number" min={1048576} placeholder="no limit" {...field('output_retention_bytes')} />
              </label>
            </div>
            <div class="field-row">
              <label class="field">
                <span class="field-label">Keep metrics points (days)</span>
                <input class="input" name="metrics_raw_days" type="number" min={0} max={36500} placeholder="server's setting" {...field('metrics_raw_days')} />
              </label>
              <label class="field">
                <span class="field-label">5-minute rollups (days)</span>
                <input class="input" name="metrics_5m_days" type="number" min={0} max={36500} placeholder="server's setting" {...field('metrics_5m_days')} />
              </label>
              <label class="field">
                <span class="field-label">1-hour rollups (days)</span>
                <input class="input" name="metrics_1h_days" type="number" min={0} max={36500} placeholder="server's setting" {...field('metrics_1h_days')} />
              </label>
            </div>
            <span class="field-hint">Metrics: 0 keeps a resolution forever; blank takes the server's setting.</span>
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
                <Button type="submit" variant="primary" busy={busy}>
                  Save changes
                </Button>
                {saved ? <span class="saved-note">Saved</span> : null}
              </div>
            ) : (
              <p class="muted">You need the deployer role on {project} to change it.</p>
            )}
          </form>
          {canDelete ? (
            <Section title="Danger zone">
              <div class="danger-zone">
                <div>
                  <strong>Delete this project</strong>
                  <p class="muted small">Its environments, variables, deploys and their output go with it.</p>
                </div>
                <Button variant="danger" onClick={() => setDeleteOpen(true)}>
                  Delete project
                </Button>
              </div>
              <ConfirmDialog
                open={deleteOpen}
                onClose={() => setDeleteOpen(false)}
                title={`Delete ${project}?`}
                confirmLabel="Delete project"
                danger
                typeToConfirm={project}
                action={async () => {
                  await api.delete('/api/v1/projects/{project}', { path: { project } });
                  await refreshDirectory();
                  navigate('/');
                }}
              >
                <p>This deletes {project} with every environment, variable and deploy. It cannot be undone.</p>
              </ConfirmDialog>
            </Section>
          ) : null}
        </>
      )}
    </Page>
  );
}
