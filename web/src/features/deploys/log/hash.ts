/** Links to lines of the output: `#L120` for one line, `#L120-L130` for a range (1-based). */

export interface LineRange {
  /** The first line, 1-based. */
  start: number;
  /** The last line, 1-based, >= start. */
  end: number;
}

const HASH = /^#?L(\d{1,9})(?:-L?(\d{1,9}))?$/;

/** The lines a URL hash points at, or null when it points at none. */
export function parseLineHash(hash: string): LineRange | null {
  const match = HASH.exec(hash);
  if (!match) return null;
  const a = Number(match[1]);
  const b = match[2] === undefined ? a : Number(match[2]);
  if (a < 1 || b < 1) return null;
  return { start: Math.min(a, b), end: Math.max(a, b) };
}

/** The hash for a range of lines: `#L120`, or `#L120-L130`. */
export function formatLineHash(range: LineRange): string {
  return range.start === range.end ? `#L${range.start}` : `#L${range.start}-L${range.end}`;
}
