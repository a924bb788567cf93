/**
 * Keyboard shortcuts: `/` search, `g p` projects, `g h` hosts, `g d` deploys, `?` this list, and
 * page shortcuts a page registers while it is shown (`d` deploy on an environment page).
 * Keys typed into a field are the field's, except Escape.
 */
import { useEffect, useRef } from 'preact/hooks';

export interface ShortcutHelp {
  keys: string;
  description: string;
}

export const GLOBAL_SHORTCUTS: ShortcutHelp[] = [
  { keys: '/', description: 'Search projects, environments and hosts' },
  { keys: 'g p', description: 'Go to projects' },
  { keys: 'g h', description: 'Go to hosts' },
  { keys: 'g d', description: 'Go to deploy history' },
  { keys: 'd', description: 'Deploy (on an environment page or card)' },
  { keys: '?', description: 'Show these shortcuts' },
  { keys: 'Esc', description: 'Close a dialog or menu' },
];

type Handler = (event: KeyboardEvent) => void;
const pageShortcuts = new Map<string, Handler[]>();

export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const type = (target as HTMLInputElement).type;
    return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(type);
  }
  return false;
}

/** Registers a single-key shortcut while the calling component is mounted. */
export function useShortcut(key: string, handler: Handler, active = true): void {
  const handlerRef = useRef(handler);
  handlerRef.current = handler;
  useEffect(() => {
    if (!active) return;
    const wrapped: Handler = (event) => handlerRef.current(event);
    const list = pageShortcuts.get(key) ?? [];
    list.push(wrapped);
    pageShortcuts.set(key, list);
    return () => {
      const current = pageShortcuts.get(key) ?? [];
      pageShortcuts.set(
        key,
        current.filter((item) => item !== wrapped),
      );
    };
  }, [key, active]);
}

/** Installs the one keydown listener; `global` maps sequences ("g p", "/", "?") to actions. */
export function installShortcuts(global: Record<string, () => void>): () => void {
  let pendingPrefix: string | null = null;
  let prefixTimer: number | undefined;
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return;
    if (isTypingTarget(event.target)) return;
    if (document.querySelector('dialog[open]')) return;
    const key = event.key;
    if (pendingPrefix) {
      const sequence = `${pendingPrefix} ${key}`;
      pendingPrefix = null;
      window.clearTimeout(prefixTimer);
      const action = global[sequence];
      if (action) {
        event.preventDefault();
        action();
      }
      return;
    }
    if (key === 'g') {
      pendingPrefix = 'g';
      prefixTimer = window.setTimeout(() => (pendingPrefix = null), 1500);
      return;
    }
    const pageHandlers = pageShortcuts.get(key);
    const last = pageHandlers?.[pageHandlers.length - 1];
    if (last) {
      event.preventDefault();
      last(event);
      return;
    }
    const action = global[key];
    if (action) {
      event.preventDefault();
      action();
    }
  };
  window.addEventListener('keydown', onKeyDown);
  return () => window.removeEventListener('keydown', onKeyDown);
}
