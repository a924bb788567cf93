/**
 * The shell around every page: the top bar (logo, project switcher, navigation, search, person
 * menu) and the global keyboard shortcuts. On a phone the bar collapses to the essentials.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Link, useLocation, useRoute } from 'wouter-preact';
import { signOut } from '../lib/api/client';
import { paths } from '../lib/url';
import { Kbd } from '../ui/Button';
import { Dialog } from '../ui/Dialog';
import { Logo } from '../features/auth/SignInPage';
import { useMe } from '../features/auth/session';
import { loadDirectoryHosts, useDirectory } from './directory';
import { GLOBAL_SHORTCUTS, installShortcuts } from './shortcuts';
import { useTheme } from './theme';
import type { ThemeChoice } from './theme';

export function Shell({ children }: { children: ComponentChildren }) {
  const [, navigate] = useLocation();
  const [helpOpen, setHelpOpen] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);

  useEffect(
    () =>
      installShortcuts({
        '/': () => searchRef.current?.focus(),
        '?': () => setHelpOpen(true),
        'g p': () => navigate(paths.projects()),
        'g h': () => navigate(paths.hosts()),
        'g d': () => navigate(paths.deploys()),
      }),
    [navigate],
  );

  return (
    <div class="shell">
      <header class="topbar">
        <Link href="/" class="topbar-logo" aria-label="jeny: projects">
          <Logo />
          <span class="topbar-name">jeny</span>
        </Link>
        <ProjectSwitcher />
        <nav class="topbar-nav" aria-label="Main">
          <NavLink href="/" match={['/', '/projects']}>
            Projects
          </NavLink>
          <NavLink href="/deploys" match={['/deploys']}>
            Deploys
          </NavLink>
          <NavLink href="/hosts" match={['/hosts']}>
            Hosts
          </NavLink>
        </nav>
        <div class="topbar-spacer" />
        <Search inputRef={searchRef} />
        <button type="button" class="icon-button topbar-help" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={() => setHelpOpen(true)}>
          ?
        </button>
        <PersonMenu />
      </header>
      <main class="main" id="main">
        {children}
      </main>
      <Dialog open={helpOpen} onClose={() => setHelpOpen(false)} title="Keyboard shortcuts">
        <table class="shortcut-table" data-testid="shortcuts">
          <tbody>
            {GLOBAL_SHORTCUTS.map((shortcut) => (
              <tr key={shortcut.keys}>
                <td>
                  {shortcut.keys.split(' ').map((key) => (
                    <Kbd key={key}>{key}</Kbd>
                  ))}
                </td>
                <td>{shortcut.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Dialog>
    </div>
  );
}

function NavLink({ href, match, children }: { href: string; match: string[]; children: ComponentChildren }) {
  const [location] = useLocation();
  const active = match.includes(location);
  return (
    <Link href={href} class={`topbar-link${active ? ' active' : ''}`} aria-current={active ? 'page' : undefined}>
      {children}
    </Link>
  );
}

/** A dropdown that closes on Escape and on a click outside it. */
function useDropdown(): { open: boolean; setOpen: (open: boolean) => void; ref: { current: HTMLDivElement | null } } {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onPointer = (event: MouseEvent) => {
      if (ref.current && !ref.current.contains(event.target as Node)) setOpen(false);
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') setOpen(false);
    };
    document.addEventListener('mousedown', onPointer);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onPointer);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);
  return { open, setOpen, ref };
}

function ProjectSwitcher() {
  const [, params] = useRoute('/p/:project/*?');
  const current = params?.project;
  const directory = useDirectory();
  const [, navigate] = useLocation();
  const { open, setOpen, ref } = useDropdown();
  const [filter, setFilter] = useState('');
  const [highlighted, setHighlighted] = useState(0);
  const matches = directory.projects.filter(
    (project) => project.name.includes(filter.toLowerCase()) || project.title.toLowerCase().includes(filter.toLowerCase()),
  );
  const choose = (name: string) => {
    setOpen(false);
    setFilter('');
    navigate(paths.project(name));
  };
  return (
    <div class="switcher" ref={ref}>
      <button
        type="button"
        class="switcher-button"
        aria-haspopup="listbox"
        aria-expanded={open}
        onClick={() => {
          setOpen(!open);
          setHighlighted(0);
        }}
      >
        <span class={current ? 'mono' : 'muted'}>{current ?? 'Select a project'}</span>
        <span class="caret" aria-hidden="true">
          ▾
        </span>
      </button>
      {open ? (
        <div class="dropdown switcher-menu">
          <input
            class="input"
            placeholder="Filter projects"
            value={filter}
            autoFocus
            onInput={(event) => {
              setFilter(event.currentTarget.value);
              setHighlighted(0);
            }}
            onKeyDown={(event) => {
              if (event.key === 'ArrowDown') setHighlighted((value) => Math.min(value + 1, matches.length - 1));
              else if (event.key === 'ArrowUp') setHighlighted((value) => Math.max(value - 1, 0));
              else if (event.key === 'Enter' && matches[highlighted]) choose(matches[highlighted].name);
              else return;
              event.preventDefault();
            }}
          />
          <ul class="menu-list" role="listbox">
            {matches.length === 0 ? <li class="menu-empty muted">{directory.loaded ? 'No project matches' : 'Loading…'}</li> : null}
            {matches.map((project, index) => (
              <li key={project.name} role="option" aria-selected={index === highlighted}>
                <button
                  type="button"
                  class={`menu-item${index === highlighted ? ' highlighted' : ''}${project.name === current ? ' current' : ''}`}
                  onMouseEnter={() => setHighlighted(index)}
                  onClick={() => choose(project.name)}
                >
                  <span class="mono">{project.name}</span>
                  {project.title !== project.name ? <span class="muted small">{project.title}</span> : null}
                </button>
              </li>
            ))}
          </ul>
          <Link href="/?create=project" class="menu-footer" onClick={() => setOpen(false)}>
            + New project
          </Link>
        </div>
      ) : null}
    </div>
  );
}

interface SearchResult {
  kind: 'project' | 'environment' | 'host';
  label: string;
  detail: string;
  href: string;
}

function Search({ inputRef }: { inputRef: { current: HTMLInputElement | null } }) {
  const directory = useDirectory();
  const [, navigate] = useLocation();
  const { open, setOpen, ref } = useDropdown();
  const [query, setQuery] = useState('');
  const [highlighted, setHighlighted] = useState(0);

  const results = useMemo<SearchResult[]>(() => {
    const needle = query.trim().toLowerCase();
    if (!needle) return [];
    const found: SearchResult[] = [];
    for (const project of directory.projects) {
      if (project.name.includes(needle) || project.title.toLowerCase().includes(needle))
        found.push({ kind: 'project', label: project.name, detail: project.title, href: paths.project(project.name) });
      for (const environment of directory.environments[project.name] ?? []) {
        if (environment.name.includes(needle) || `${project.name}/${environment.name}`.includes(needle))
          found.push({
            kind: 'environment',
            label: `${project.name}/${environment.name}`,
            detail: 'environment',
            href: paths.environment(project.name, environment.name),
          });
      }
    }
    for (const host of directory.hosts ?? []) {
      if (host.name.toLowerCase().includes(needle) || host.address.toLowerCase().includes(needle))
        found.push({ kind: 'host', label: host.name, detail: host.address, href: `/hosts?q=${encodeURIComponent(host.name)}` });
    }
    return found.slice(0, 30);
  }, [query, directory]);

  const choose = (result: SearchResult) => {
    setOpen(false);
    setQuery('');
    inputRef.current?.blur();
    navigate(result.href);
  };

  return (
    <div class="search" ref={ref}>
      <input
        ref={inputRef}
        class="input search-input"
        type="search"
        placeholder="Search"
        aria-label="Search projects, environments and hosts"
        value={query}
        onFocus={() => {
          setOpen(true);
          void loadDirectoryHosts();
        }}
        onInput={(event) => {
          setQuery(event.currentTarget.value);
          setHighlighted(0);
          setOpen(true);
        }}
        onKeyDown={(event) => {
          if (event.key === 'Escape') {
            setOpen(false);
            event.currentTarget.blur();
          } else if (event.key === 'ArrowDown') setHighlighted((value) => Math.min(value + 1, results.length - 1));
          else if (event.key === 'ArrowUp') setHighlighted((value) => Math.max(value - 1, 0));
          else if (event.key === 'Enter' && results[highlighted]) choose(results[highlighted]);
          else return;
          event.preventDefault();
        }}
      />
      <Kbd>/</Kbd>
      {open && query.trim() ? (
        <div class="dropdown search-menu" data-testid="search-results">
          {results.length === 0 ? <p class="menu-empty muted">Nothing matches “{query}”</p> : null}
          <ul class="menu-list">
            {results.map((result, index) => (
              <li key={`${result.kind}:${result.label}`}>
                <button
                  type="button"
                  class={`menu-item${index === highlighted ? ' highlighted' : ''}`}
                  onMouseEnter={() => setHighlighted(index)}
                  onClick={() => choose(result)}
                >
                  <span class={`kind kind-${result.kind}`}>{result.kind}</span>
                  <span class="mono">{result.label}</span>
                  <span class="muted small">{result.detail}</span>
                </button>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

function PersonMenu() {
  const me = useMe();
  const { open, setOpen, ref } = useDropdown();
  const [theme, setTheme] = useTheme();
  const initial = (me?.email ?? '?').charAt(0).toUpperCase();
  const themes: ThemeChoice[] = ['system', 'light', 'dark'];
  return (
    <div class="person" ref={ref}>
      <button type="button" class="avatar" aria-label="Your account" aria-expanded={open} onClick={() => setOpen(!open)}>
        {initial}
      </button>
      {open ? (
        <div class="dropdown person-menu" data-testid="person-menu">
          <div class="person-who">
            <div class="mono">{me?.email}</div>
            <div class="muted small">
              {me?.role}
              {me?.grants?.length ? ` · ${me.grants.length} grant${me.grants.length === 1 ? '' : 's'}` : ''}
            </div>
          </div>
          <div class="person-theme" role="radiogroup" aria-label="Theme">
            {themes.map((choice) => (
              <button
                type="button"
                key={choice}
                role="radio"
                aria-checked={theme === choice}
                class={`segment${theme === choice ? ' active' : ''}`}
                onClick={() => setTheme(choice)}
              >
                {choice}
              </button>
            ))}
          </div>
          <nav class="narrow-only person-nav" aria-label="Main">
            <Link href="/" class="menu-item" onClick={() => setOpen(false)}>
              Projects
            </Link>
            <Link href="/deploys" class="menu-item" onClick={() => setOpen(false)}>
              Deploys
            </Link>
            <Link href="/hosts" class="menu-item" onClick={() => setOpen(false)}>
              Hosts
            </Link>
          </nav>
          <button
            type="button"
            class="menu-item"
            onClick={() => {
              void signOut().finally(() => {
                location.assign('/');
              });
            }}
          >
            Sign out
          </button>
        </div>
      ) : null}
    </div>
  );
}
