/**
 * Dark and light themes. The system's preference is the default; a choice made in the person menu
 * is kept in localStorage ("jeny.theme"). The theme in effect is always <html data-theme>, set
 * before the first paint by public/theme.js and kept here (following the system while the choice
 * is "system"); the CSS keys off that attribute alone.
 */
import { useEffect, useState } from 'preact/hooks';

export type ThemeChoice = 'system' | 'light' | 'dark';
const STORAGE_KEY = 'jeny.theme';

export function readThemeChoice(): ThemeChoice {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return stored === 'light' || stored === 'dark' ? stored : 'system';
  } catch {
    return 'system';
  }
}

export function applyThemeChoice(choice: ThemeChoice): void {
  try {
    if (choice === 'system') localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // Private mode without storage: the choice lasts for this page only.
  }
  document.documentElement.dataset.theme = resolve(choice);
}

const systemDark = (): MediaQueryList => window.matchMedia('(prefers-color-scheme: dark)');

function resolve(choice: ThemeChoice): 'light' | 'dark' {
  if (choice !== 'system') return choice;
  return systemDark().matches ? 'dark' : 'light';
}

export function useTheme(): [ThemeChoice, (choice: ThemeChoice) => void] {
  const [choice, setChoice] = useState<ThemeChoice>(readThemeChoice);
  useEffect(() => {
    applyThemeChoice(choice);
    if (choice !== 'system') return undefined;
    // Follow the system while the choice is "system".
    const query = systemDark();
    const follow = (): void => applyThemeChoice('system');
    query.addEventListener('change', follow);
    return () => query.removeEventListener('change', follow);
  }, [choice]);
  return [choice, setChoice];
}
