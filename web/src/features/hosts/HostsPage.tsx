/**
 * `/hosts`: every host with its source, address and tags. Tag filters live in the URL
 * (`?tag=role=web&tag=env=prod`), a click on a tag chip adds it; `?q=` narrows by name;
 * `?gone=include|only` shows gone hosts.
 */
import { useState } from 'preact/hooks';
import { api } from '../../lib/api/client';
import type { Host } from '../../lib/api/client';
import { useResource } from '../../lib/resource';
import { useQueryState } from '../../lib/url';
import { Button } from '../../ui/Button';
import { Empty, ErrorState, Loading } from '../../ui/ErrorState';
import { Page } from '../../ui/Page';
import { RelativeTime } from '../../ui/RelativeTime';
import { TagList } from '../../ui/Tag';

export function HostsPage() {
  const query = useQueryState();
  const tags = query.getAll('tag');
  const gone = query.get('gone');
  const nameFilter = query.get('q');
  const cursor = query.get('cursor');
  const hosts = useResource(
    async (signal) =>
      (
        await api.get('/api/v1/hosts', {
          query: { tag: tags, gone: gone || undefined, limit: 200, cursor: cursor || undefined },
          signal,
        })
      ).data,
    [tags, gone, cursor],
  );
  const [draft, setDraft] = useState('');

  const addTag = (tag: string) => {
    const key = tag.split('=')[0];
    const next = tags.filter((existing) => existing.split('=')[0] !== key);
    query.set({ tag: [...next, tag], cursor: null });
  };
  const removeTag = (tag: string) => query.set({ tag: tags.filter((existing) => existing !== tag), cursor: null });
  const shown: Host[] = (hosts.data?.items ?? []).filter(
    (host) => !nameFilter || host.name.toLowerCase().includes(nameFilter.toLowerCase()) || host.address.includes(nameFilter),
  );

  return (
    <Page title="Hosts" documentTitle="Hosts">
      <div class="filters" data-testid="host-filters">
        <form
          class="filter-add"
          onSubmit={(event) => {
            event.preventDefault();
            const value = draft.trim();
            if (!value.includes('=')) return;
            addTag(value);
            setDraft('');
          }}
        >
          <input
            class="input mono"
            placeholder="tag filter: role=web"
            aria-label="Add a tag filter (key=value)"
            value={draft}
            onInput={(event) => setDraft(event.currentTarget.value)}
          />
          <Button type="submit">Filter</Button>
        </form>
        <input
          class="input"
          type="search"
          placeholder="name or address"
          aria-label="Filter by name"
          value={nameFilter}
          onInput={(event) => query.set({ q: event.currentTarget.value }, { replace: true })}
        />
        <select class="input select-small" aria-label="Gone hosts" value={gone} onChange={(event) => query.set({ gone: event.currentTarget.value, cursor: null })}>
          <option value="">present hosts</option>
          <option value="include">with gone hosts</option>
          <option value="only">gone hosts only</option>
        </select>
      </div>
      {tags.length ? (
        <div class="active-filters" data-testid="active-filters">
          {tags.map((tag) => (
            <button type="button" class="tag tag-active" key={tag} onClick={() => removeTag(tag)} title="Remove this filter">
              <span class="mono">{tag}</span> <span aria-hidden="true">×</span>
            </button>
          ))}
          <button type="button" class="link-button small" onClick={() => query.set({ tag: [], cursor: null })}>
            clear
          </button>
        </div>
      ) : null}
      {hosts.error && !hosts.data ? (
        <ErrorState error={hosts.error} onRetry={hosts.reload} noun="hosts" />
      ) : !hosts.data ? (
        <Loading rows={5} label="Loading hosts" />
      ) : shown.length === 0 ? (
        <Empty title={tags.length || nameFilter ? 'No host matches' : 'No host yet'}>
          {tags.length || nameFilter ? (
            <p>Remove a filter to see more.</p>
          ) : (
            <p>
              Hosts come from an AWS account sync, from <code>jeny agent</code> on each machine, or by hand with{' '}
              <code>POST /api/v1/hosts</code>.
            </p>
          )}
        </Empty>
      ) : (
        <>
          <table class="table hosts-table" data-testid="hosts-table">
            <thead>
              <tr>
                <th>Name</th>
                <th class="hide-narrow">Address</th>
                <th class="hide-narrow">Source</th>
                <th>Tags</th>
                <th class="hide-narrow">Seen</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((host) => (
                <tr key={host.name} class={host.gone_at ? 'gone' : ''}>
                  <td class="mono">
                    {host.name}
                    {host.gone_at ? <span class="pill">gone</span> : null}
                  </td>
                  <td class="mono hide-narrow">{host.address}</td>
                  <td class="hide-narrow">
                    <span class={`source source-${host.source}`} title={host.managed_by ?? undefined}>
                      {host.source}
                    </span>
                  </td>
                  <td>
                    <TagList tags={host.tags} onTagClick={(name, value) => addTag(`${name}=${value}`)} />
                  </td>
                  <td class="muted small hide-narrow">
                    <RelativeTime iso={host.last_seen_at ?? null} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            <span class="muted small">
              {shown.length} host{shown.length === 1 ? '' : 's'}
            </span>
            {cursor ? (
              <Button small onClick={() => query.set({ cursor: null })}>
                First page
              </Button>
            ) : null}
            {hosts.data.next_cursor ? (
              <Button small onClick={() => query.set({ cursor: hosts.data?.next_cursor ?? null })}>
                Next page
              </Button>
            ) : null}
          </div>
        </>
      )}
    </Page>
  );
}
