/**
 * axe-core in the browser: injects axe's source into a page (through the DevTools protocol, so
 * the app's Content-Security-Policy, which allows only jeny's own scripts, stays in force) and
 * runs the WCAG 2.0 and 2.1 A and AA rules on it, in the light and in the dark theme.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from '@playwright/test';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The rule sets checked: WCAG 2.0 and 2.1, levels A and AA. */
export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

export type Theme = 'light' | 'dark';
export const THEMES: readonly Theme[] = ['light', 'dark'];

/** One failed rule, as axe reports it, with the elements that fail it. */
export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  helpUrl: string;
  nodes: { target: string[]; html: string; failureSummary: string }[];
}

/** Runs axe on the page as it is now; returns the violations of WCAG 2 A/AA. */
export async function axeViolations(page: Page): Promise<Violation[]> {
  const injected = await page.evaluate(() => 'axe' in window);
  if (!injected) await page.evaluate(axeSource);
  return page.evaluate(async (tags) => {
    type Axe = { run: (context: Document, options: unknown) => Promise<{ violations: Violation[] }> };
    const axe = (window as unknown as { axe: Axe }).axe;
    const results = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return results.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      helpUrl: violation.helpUrl,
      nodes: violation.nodes.map((node) => ({ target: node.target, html: node.html, failureSummary: node.failureSummary })),
    }));
  }, WCAG_TAGS);
}

/** The violations as a reader wants them: rule, impact, then each element and why it fails. */
export function describeViolations(violations: Violation[]): string {
  return violations
    .map((violation) => {
      const nodes = violation.nodes
        .map((node) => `    ${node.target.join(' ')}\n      ${node.html.slice(0, 160)}\n      ${node.failureSummary.replace(/\n/g, '\n      ')}`)
        .join('\n');
      return `  [${violation.impact ?? 'unknown'}] ${violation.id}: ${violation.help} (${violation.nodes.length} elements, ${violation.helpUrl})\n${nodes}`;
    })
    .join('\n');
}

/** How many elements fail, over every rule. */
export function failingElements(violations: Violation[]): number {
  return violations.reduce((sum, violation) => sum + violation.nodes.length, 0);
}

/**
 * Puts the page in a theme the way a person's system would: the app follows prefers-color-scheme
 * unless told otherwise. Call it before the page loads, so no colour transition is under way when
 * axe reads the colours; `expectTheme` then checks that <html data-theme> says so.
 */
export async function emulateTheme(page: Page, theme: Theme): Promise<void> {
  await page.emulateMedia({ colorScheme: theme });
}

export async function expectTheme(page: Page, theme: Theme): Promise<void> {
  await page.locator(`html[data-theme="${theme}"]`).waitFor({ state: 'attached' });
}
