/**
 * The host selector editor: key=value rows, and a live preview of the hosts they pick. A host is
 * picked when it has every tag of the selector with exactly that value (there is no wildcard);
 * an empty selector picks no host. The preview asks `GET /api/v1/hosts?tag=k=v&...`, debounced.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../../lib/api/client';
import type { ApiError, Host } from '../../lib/api/client';
import { toApiError } from '../../lib/resource';
import { Button } from '../../ui/Button';
import { InlineError } from '../../ui/ErrorState';
import { TagList } from '../../ui/Tag';

export interface SelectorRow {
  key: string;
  value: string;
}

export function rowsFromSelector(selector: Record<string, string>): SelectorRow[] {
  return Object.entries(selector)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => ({ key, value }));
}

export function selectorFromRows(rows: SelectorRow[]): Record<string, string> {
  const selector: Record<string, string> = {};
  for (const row of rows) if (row.key.trim()) selector[row.key.trim()] = row.value;
  return selector;
}

/** What is wrong with the rows, if anything, before the server is asked. */
export function selectorProblem(rows: SelectorRow[]): string | null {
  const seen = new Set<string>();
  for (const row of rows) {
    const key = row.key.trim();
    if (!key) {
      if (row.value) return 'a condition has a value but no tag key';
      continue;
    }
    if (/[=,]/.test(key)) return `the tag key "${key}" may not contain = or ,`;
    if (seen.has(key)) return `the tag key "${key}" is there twice: a host has one value per key`;
    seen.add(key);
  }
  return null;
}

interface Preview {
  hosts: Host[];
  more: boolean;
}

export function HostSelectorEditor({
  rows,
  onChange,
  disabled = false,
}: {
  rows: SelectorRow[];
  onChange: (rows: SelectorRow[]) => void;
  disabled?: boolean;
}) {
  const problem = selectorProblem(rows);
  const selector = selectorFromRows(rows);
  const selectorKey = JSON.stringify(selector);
  const [preview, setPreview] = useState<Preview | undefined>();
  const [previewError, setPreviewError] = useState<ApiError | undefined>();
  const [pending, setPending] = useState(false);

  useEffect(() => {
    if (problem) return;
    const tags = Object.entries(JSON.parse(selectorKey) as Record<string, string>).map(([key, value]) => `${key}=${value}`);
    if (tags.length === 0) {
      setPreview({ hosts: [], more: false });
      setPreviewError(undefined);
      setPending(false);
      return;
    }
    const controller = new AbortController();
    setPending(true);
    const timer = window.setTimeout(() => {
      api
        .get('/api/v1/hosts', { query: { tag: tags, limit: 100 }, signal: controller.signal })
        .then(({ data }) => {
          setPreview({ hosts: data.items, more: Boolean(data.next_cursor) });
          setPreviewError(undefined);
          setPending(false);
        })
        .catch((caught: unknown) => {
          if (controller.signal.aborted) return;
          setPreviewError(toApiError(caught));
          setPending(false);
        });
    }, 250);
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [selectorKey, problem]);

  const update = (index: number, change: Partial<SelectorRow>) =>
    onChange(rows.map((row, rowIndex) => (rowIndex === index ? { ...row, ...change } : row)));

  const count = preview?.hosts.length ?? 0;
  return (
    <div class="selector-editor" data-testid="selector-editor">
      <div class="selector-rows">
        {rows.length === 0 ? <p class="muted small">No condition: this environment targets no host.</p> : null}
        {rows.map((row, index) => (
          <div class="selector-row" key={index} data-testid="selector-row">
            <input
              class="input mono"
              aria-label="Tag key"
              placeholder="role"
              value={row.key}
              disabled={disabled}
              spellcheck={false}
              onInput={(event) => update(index, { key: event.currentTarget.value })}
            />
            <span class="selector-eq">=</span>
            <input
              class="input mono"
              aria-label="Tag value"
              placeholder="web"
              value={row.value}
              disabled={disabled}
              spellcheck={false}
              onInput={(event) => update(index, { value: event.currentTarget.value })}
            />
            <button
              type="button"
              class="icon-button"
              aria-label={`Remove the condition ${row.key || index + 1}`}
              disabled={disabled}
              onClick={() => onChange(rows.filter((_, rowIndex) => rowIndex !== index))}
            >
              ×
            </button>
          </div>
        ))}
        <Button small disabled={disabled} onClick={() => onChange([...rows, { key: '', value: '' }])}>
          Add condition
        </Button>
      </div>
      <div class="selector-preview" aria-live="polite" data-testid="selector-preview">
        <div class="selector-preview-head">
          <strong data-testid="selector-count">
            {problem
              ? 'Fix the selector'
              : Object.keys(selector).length === 0
                ? 'Targets no host'
                : `${count}${preview?.more ? '+' : ''} host${count === 1 ? '' : 's'} match`}
          </strong>
          {pending ? <span class="spinner" aria-label="Updating" /> : null}
        </div>
        {problem ? <p class="field-error">{problem}</p> : null}
        {previewError ? <InlineError error={previewError} /> : null}
        {!problem && preview && preview.hosts.length > 0 ? (
          <ul class={`preview-hosts${pending ? ' stale' : ''}`}>
            {preview.hosts.map((host) => (
              <li key={host.name} class="preview-host">
                <span class="mono">{host.name}</span>
                <span class="muted small mono">{host.address}</span>
                <TagList tags={host.tags} />
              </li>
            ))}
            {preview.more ? <li class="muted small">and more…</li> : null}
          </ul>
        ) : null}
        {!problem && preview && preview.hosts.length === 0 && Object.keys(selector).length > 0 ? (
          <p class="muted small">No host has all these tags. Deploys would be refused unless host-less deploys are allowed.</p>
        ) : null}
      </div>
    </div>
  );
}
