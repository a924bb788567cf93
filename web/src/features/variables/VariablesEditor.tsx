/**
 * Variables of a project or of one environment. Secret values are write-only: the list says
 * "set" or "not set", the form takes a new value in a password field and never shows the old one.
 */
import { useState } from 'preact/hooks';
import { api, rawRequest } from '../../lib/api/client';
import type { ApiError, Variable, VariableInput } from '../../lib/api/client';
import { toApiError, useResource } from '../../lib/resource';
import { Button } from '../../ui/Button';
import { ConfirmDialog, Dialog } from '../../ui/Dialog';
import { Empty, ErrorState, InlineError, Loading } from '../../ui/ErrorState';
import { RelativeTime } from '../../ui/RelativeTime';

export interface VariableScope {
  project: string;
  environment?: string;
}

function collectionUrl(scope: VariableScope): string {
  const project = encodeURIComponent(scope.project);
  return scope.environment
    ? `/api/v1/projects/${project}/environments/${encodeURIComponent(scope.environment)}/variables`
    : `/api/v1/projects/${project}/variables`;
}

async function listVariables(scope: VariableScope, signal: AbortSignal): Promise<Variable[]> {
  const { data } = scope.environment
    ? await api.get('/api/v1/projects/{project}/environments/{environment}/variables', {
        path: { project: scope.project, environment: scope.environment },
        query: { limit: 500 },
        signal,
      })
    : await api.get('/api/v1/projects/{project}/variables', { path: { project: scope.project }, query: { limit: 500 }, signal });
  return data.items;
}

export const KEY_PATTERN = '[A-Z_][A-Z0-9_]*';

export function VariablesEditor({ scope, canEdit }: { scope: VariableScope; canEdit: boolean }) {
  const variables = useResource((signal) => listVariables(scope, signal), [scope.project, scope.environment ?? '']);
  const [editing, setEditing] = useState<Variable | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Variable | null>(null);
  const where = scope.environment ? `${scope.project}/${scope.environment}` : scope.project;

  if (variables.error && !variables.data) return <ErrorState error={variables.error} onRetry={variables.reload} noun="variables" />;
  if (!variables.data) return <Loading rows={3} label="Loading variables" />;
  return (
    <div class="variables" data-testid="variables">
      {variables.data.length === 0 ? (
        <Empty title="No variable">
          <p>
            Variables are passed to every deploy of {where} as environment variables.
            {scope.environment ? ' They override the project’s variables with the same key.' : ''}
          </p>
        </Empty>
      ) : (
        <table class="table variables-table">
          <thead>
            <tr>
              <th>Key</th>
              <th>Value</th>
              <th class="hide-narrow">Updated</th>
              {canEdit ? <th aria-label="Actions" /> : null}
            </tr>
          </thead>
          <tbody>
            {variables.data.map((variable) => (
              <tr key={variable.key} data-testid={`variable-${variable.key}`}>
                <td class="mono">{variable.key}</td>
                <td class="variable-value">
                  {variable.secret ? (
                    <span class={`secret-state ${variable.is_set ? 'is-set' : 'not-set'}`}>
                      <span class="pill pill-secret">secret</span> {variable.is_set ? 'set' : 'not set'}
                    </span>
                  ) : (
                    <code class="value">{variable.value === '' ? <span class="muted">(empty)</span> : variable.value}</code>
                  )}
                </td>
                <td class="hide-narrow muted small">
                  <RelativeTime iso={variable.updated_at} />
                </td>
                {canEdit ? (
                  <td class="row-actions">
                    <Button small variant="ghost" onClick={() => setEditing(variable)}>
                      {variable.secret ? 'Replace' : 'Edit'}
                    </Button>
                    <Button small variant="ghost" onClick={() => setDeleting(variable)}>
                      Delete
                    </Button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canEdit ? (
        <div class="section-footer">
          <Button onClick={() => setEditing('new')}>Add variable</Button>
        </div>
      ) : null}
      <VariableDialog
        scope={scope}
        variable={editing}
        onClose={() => setEditing(null)}
        onSaved={() => {
          setEditing(null);
          variables.reload();
        }}
      />
      <ConfirmDialog
        open={deleting !== null}
        onClose={() => setDeleting(null)}
        title={`Delete ${deleting?.key ?? ''}?`}
        confirmLabel="Delete variable"
        danger
        action={async () => {
          if (!deleting) return;
          await rawRequest('delete', `${collectionUrl(scope)}/${encodeURIComponent(deleting.key)}`);
          variables.reload();
        }}
      >
        <p>
          Deploys of {where} will no longer get <code>{deleting?.key}</code>.
        </p>
      </ConfirmDialog>
    </div>
  );
}

function VariableDialog({
  scope,
  variable,
  onClose,
  onSaved,
}: {
  scope: VariableScope;
  variable: Variable | 'new' | null;
  onClose: () => void;
  onSaved: () => void;
}) {
  const isNew = variable === 'new';
  const existing = variable && variable !== 'new' ? variable : null;
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [secret, setSecret] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [openedFor, setOpenedFor] = useState<Variable | 'new' | null>(null);
  if (variable !== openedFor) {
    // A new dialog: start from the variable (never a secret's value, which the API never gives).
    setOpenedFor(variable);
    setKey(existing?.key ?? '');
    setValue(existing && !existing.secret ? (existing.value ?? '') : '');
    setSecret(existing?.secret ?? false);
    setError(undefined);
  }
  const title = isNew ? 'Add variable' : existing?.secret ? `Replace the value of ${existing.key}` : `Edit ${existing?.key ?? ''}`;
  return (
    <Dialog open={variable !== null} onClose={onClose} title={title}>
      <form
        class="form"
        data-testid="variable-form"
        onSubmit={(event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          const body: VariableInput = { secret };
          // A secret left blank keeps its stored value (or stays declared without one).
          if (!(secret && existing?.secret && value === '')) body.value = secret && value === '' && isNew ? null : value;
          const request = isNew
            ? rawRequest('post', collectionUrl(scope), { body: { ...body, key } })
            : rawRequest('put', `${collectionUrl(scope)}/${encodeURIComponent(key)}`, { body });
          request
            .then(() => {
              setBusy(false);
              onSaved();
            })
            .catch((caught: unknown) => {
              setBusy(false);
              setError(toApiError(caught));
            });
        }}
      >
        <label class="field">
          <span class="field-label">Key</span>
          <input
            class="input mono"
            name="key"
            required
            pattern={KEY_PATTERN}
            maxLength={128}
            value={key}
            readOnly={!isNew}
            autoFocus={isNew}
            autoComplete="off"
            spellcheck={false}
            placeholder="DATABASE_URL"
            onInput={(event) => setKey(event.currentTarget.value.toUpperCase())}
          />
        </label>
        <label class="field">
          <span class="field-label">{secret ? 'Secret value' : 'Value'}</span>
          {secret ? (
            <input
              class="input mono"
              name="value"
              type="password"
              autoComplete="new-password"
              value={value}
              autoFocus={!isNew}
              placeholder={existing?.secret && existing.is_set ? 'set: type a new value to replace it' : 'the value'}
              onInput={(event) => setValue(event.currentTarget.value)}
            />
          ) : (
            <textarea
              class="input mono"
              name="value"
              rows={2}
              value={value}
              autoFocus={!isNew}
              spellcheck={false}
              onInput={(event) => setValue(event.currentTarget.value)}
            />
          )}
          {secret ? (
            <span class="field-hint">
              Encrypted at rest and masked in deploy output. It can be replaced, never read back.
              {existing?.secret ? ' Leave it empty to keep the current value.' : ''}
            </span>
          ) : null}
        </label>
        <label class="checkbox">
          <input type="checkbox" name="secret" checked={secret} onChange={(event) => setSecret(event.currentTarget.checked)} />
          Secret
          {existing?.secret && !secret ? <span class="muted small"> — give the new plain value: the secret one cannot be read back</span> : null}
        </label>
        {error ? <InlineError error={error} /> : null}
        <div class="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            {isNew ? 'Add variable' : 'Save'}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
