/** Creating a project: its name (never changes), title, repository and deploy command. */
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

export const NAME_PATTERN = '[a-z0-9][a-z0-9\\-]{0,62}';

export function CreateProjectDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const [, navigate] = useLocation();
  const [name, setName] = useState('');
  const [title, setTitle] = useState('');
  const [repository, setRepository] = useState('');
  const [deployCommand, setDeployCommand] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  return (
    <Dialog open={open} onClose={onClose} title="New project" wide>
      <form
        class="form"
        data-testid="create-project"
        onSubmit={(event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          api
            .post('/api/v1/projects', {
              body: {
                name,
                title: title.trim() || null,
                repository: repository.trim() || null,
                deploy_command: deployCommand,
              },
            })
            .then(({ data }) => {
              setBusy(false);
              onClose();
              void refreshDirectory();
              navigate(paths.project(data.name));
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
            placeholder="shop"
            onInput={(event) => setName(event.currentTarget.value)}
          />
          <span class="field-hint">Lowercase letters, digits and dashes. It is in every URL and never changes.</span>
        </label>
        <label class="field">
          <span class="field-label">Title</span>
          <input class="input" name="title" value={title} placeholder={name || 'Shop'} onInput={(event) => setTitle(event.currentTarget.value)} />
        </label>
        <label class="field">
          <span class="field-label">Repository</span>
          <input
            class="input mono"
            name="repository"
            value={repository}
            placeholder="https://github.com/example/shop.git (optional)"
            spellcheck={false}
            onInput={(event) => setRepository(event.currentTarget.value)}
          />
          <span class="field-hint">A deploy checks out its ref from here. Leave it empty to run without a checkout.</span>
        </label>
        <label class="field">
          <span class="field-label">Deploy command</span>
          <textarea
            class="input mono"
            name="deploy_command"
            rows={3}
            value={deployCommand}
            placeholder="ansible-playbook deploy.yml"
            spellcheck={false}
            onInput={(event) => setDeployCommand(event.currentTarget.value)}
          />
          <span class="field-hint">Run with sh -c in the checkout. An environment can replace it.</span>
        </label>
        {error ? <InlineError error={error} /> : null}
        <div class="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Create project
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
