/**
 * Search in a LineStore: over the stored strings, never the DOM, in slices of time so a million
 * lines never block the page. Matches are on the visible text (escape codes removed); each is
 * a line and a column there, in two growing Uint32Arrays. Matches do not overlap.
 */

import { stripLines } from './ansi';
import type { LineStore } from './store';

/** Lines scanned before the clock is checked. */
const LINES_PER_STEP = 16384;

export class Search {
  readonly query: string;
  readonly caseSensitive: boolean;
  private readonly needle: string;
  /** The line of each match, in order. */
  lines = new Uint32Array(256);
  /** The column of each match in its line's visible text. */
  cols = new Uint32Array(256);
  count = 0;
  /** Complete lines scanned so far. */
  scanned = 0;

  constructor(
    private readonly store: LineStore,
    query: string,
    caseSensitive = false,
  ) {
    this.query = query;
    this.caseSensitive = caseSensitive;
    this.needle = caseSensitive ? query : query.toLowerCase();
  }

  get length(): number {
    return this.needle.length;
  }

  /** Have all the store's complete lines been searched? */
  get done(): boolean {
    return this.scanned >= this.store.count;
  }

  /**
   * Searches more lines, for about `budgetMs` (Infinity: all of them). Returns true when all
   * the complete lines are searched.
   */
  step(budgetMs = 12): boolean {
    const store = this.store;
    if (!this.needle) {
      this.scanned = store.count;
      return true;
    }
    const deadline = performance.now() + budgetMs;
    while (this.scanned < store.count) {
      const from = this.scanned;
      const chunk = store.chunkIndex(from);
      const chunkEnd = store.chunkFirst[chunk + 1] ?? store.count;
      const to = Math.min(chunkEnd, from + LINES_PER_STEP);
      this.scanRange(chunk, from, to, chunkEnd);
      this.scanned = to;
      if (performance.now() > deadline) break;
    }
    return this.done;
  }

  /** Searches lines [from, to) of one chunk. */
  private scanRange(chunk: number, from: number, to: number, chunkEnd: number): void {
    const store = this.store;
    const text = store.chunks[chunk] as string;
    const start = store.startOf(from);
    const end = to < chunkEnd ? store.startOf(to) : text.length;
    // The visible text of the lines, with their `\n`s: one indexOf over all of it.
    let region = stripLines(text.slice(start, end));
    if (!this.caseSensitive) {
      const lower = region.toLowerCase();
      // Lower-casing a few characters changes the length: search those lines one by one.
      if (lower.length !== region.length) return this.scanLines(region, from);
      region = lower;
    }
    this.scanText(region, from);
  }

  /** Finds the matches in `text`, lines with `\n` between them, the first being `line`. */
  private scanText(text: string, line: number): void {
    const needle = this.needle;
    let lineStart = 0;
    let nl = text.indexOf('\n');
    for (let pos = text.indexOf(needle); pos >= 0; pos = text.indexOf(needle, pos + needle.length)) {
      while (nl >= 0 && nl < pos) {
        line++;
        lineStart = nl + 1;
        nl = text.indexOf('\n', lineStart);
      }
      this.push(line, pos - lineStart);
    }
  }

  /**
   * Searches lines one by one, ignoring case with a regular expression: lower-casing some
   * characters (`İ`) changes their length, and the columns with it.
   */
  private scanLines(text: string, first: number): void {
    const pattern = new RegExp(this.query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      pattern.lastIndex = 0;
      for (let match = pattern.exec(line); match; match = pattern.exec(line)) this.push(first + i, match.index);
    }
  }

  private push(line: number, col: number): void {
    const i = this.count;
    if (i >= this.lines.length) {
      const lines = new Uint32Array(this.lines.length * 2);
      lines.set(this.lines);
      this.lines = lines;
      const cols = new Uint32Array(this.cols.length * 2);
      cols.set(this.cols);
      this.cols = cols;
    }
    this.lines[i] = line;
    this.cols[i] = col;
    this.count = i + 1;
  }

  /** The index of the first match on or after `line` (count when there is none). */
  firstAtOrAfter(line: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.lines[mid] as number) < line) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The matches on one line, as [column, column, ...]. */
  columnsOn(line: number): number[] {
    const columns: number[] = [];
    for (let i = this.firstAtOrAfter(line); i < this.count && this.lines[i] === line; i++) {
      columns.push(this.cols[i] as number);
    }
    return columns;
  }

  /** The match after `current` (wrapping around), or -1 when there is none. */
  next(current: number): number {
    if (this.count === 0) return -1;
    return current < 0 || current + 1 >= this.count ? 0 : current + 1;
  }

  /** The match before `current` (wrapping around), or -1 when there is none. */
  previous(current: number): number {
    if (this.count === 0) return -1;
    return current <= 0 || current > this.count ? this.count - 1 : current - 1;
  }
}

