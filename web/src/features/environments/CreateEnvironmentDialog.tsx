/** Creating an environment of a project; its host selector and the rest are set on its settings page. */
import { useState } from 'preact/hooks';
import { useLocation } from 'wouter-preact';
import { api } from '../../lib/api/client';
import type { ApiError } from '../../lib/api/client';
import { toApiError } from '../../lib/resource';
import { paths } from '../../lib/url';
import { refreshDirectory } from '../../app/directory';
import { Button } from '../../ui/Button';
import { Dialog } from '../../ui/Dialog';
import { InlineError } from '../../ui/ErrorState';
import { NAME_PATTERN } from '../projects/CreateProjectDialog';

export function CreateEnvironmentDialog({ project, open, onClose }: { project: string; open: boolean; onClose: () => void }) {
  const [, navigate] = useLocation();
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  return (
    <Dialog open={open} onClose={onClose} title={`New environment of ${project}`}>
      <form
        class="form"
        data-testid="create-environment"
        onSubmit={(event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          api
            .post('/api/v1/projects/{project}/environments', { path: { project }, body: { name } })
            .then(({ data }) => {
              setBusy(false);
              setName('');
              onClose();
              void refreshDirectory();
              navigate(paths.environmentSettings(project, data.name));
            })
            .catch((caught: unknown) => {
              setBusy(false);
              setError(toApiError(caught));
            });
        }}
      >
        <label class="field">
          <span class="field-label">Name</span>
          <input
            class="input mono"
            name="name"
            required
            pattern={NAME_PATTERN}
            value={name}
            autoFocus
            autoComplete="off"
            spellcheck={false}
            placeholder="staging"
            onInput={(event) => setName(event.currentTarget.value)}
          />
          <span class="field-hint">Next, choose the hosts it targets with a host selector.</span>
        </label>
        {error ? <InlineError error={error} /> : null}
        <div class="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Create environment
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
