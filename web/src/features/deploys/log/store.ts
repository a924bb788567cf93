/**
 * The lines of a deploy's output, stored compactly for a million lines and more.
 *
 * Text is kept in a few large strings ("chunks") of whole lines, each line followed by `\n`;
 * a line is its chunk plus a start offset (one Uint32Array for all lines). Appending text that
 * arrives in pieces keeps the unfinished last line apart (`partial`) until its `\n` comes.
 * A carriage return inside a line means the later text replaces the earlier (progress bars): the
 * line keeps what follows its last `\r`, plus the colour codes of what it replaced. `\r\n` is a
 * plain line end.
 */

import { advanceStyle, PLAIN, skipEscape, type Style } from './ansi';

export const STDOUT = 0;
export const STDERR = 1;
export const JENY = 2;
/** The stream is not known (plain text): lines starting with `[jeny]` are jeny's. */
export const UNKNOWN = -1;

/** A chunk grows by small appends until it is this long; then a new one starts. */
const CHUNK_TARGET = 1 << 16;
/** Appends shorter than this join the last chunk (joining flattens it: a copy). */
const MERGE_BELOW = 1 << 14;
/** Lines per style checkpoint. */
const BLOCK_SHIFT = 8;

/** The SGR sequences of a text, in order (to keep the colours of overwritten text). */
const SGR_ALL = /\x1b\[[0-9;:]*m/g; // eslint-disable-line no-control-regex

/** A line with its carriage returns resolved: what follows the last `\r` wins. */
export function resolveCr(line: string): string {
  if (line.indexOf('\r') < 0) return line;
  let end = line.length;
  while (end > 0 && line.charCodeAt(end - 1) === 13) end--;
  const cut = line.lastIndexOf('\r', end - 1);
  if (cut < 0) return line.slice(0, end);
  const kept = line.slice(cut + 1, end);
  const replaced = line.slice(0, cut);
  if (replaced.indexOf('\x1b') >= 0) {
    const codes = replaced.match(SGR_ALL);
    if (codes) return codes.join('') + kept;
  }
  return kept;
}

function grow<T extends Uint32Array | Uint8Array | Float64Array>(array: T, need: number): T {
  if (need <= array.length) return array;
  let size = array.length * 2;
  while (size < need) size *= 2;
  const bigger = new (array.constructor as new (n: number) => T)(size);
  bigger.set(array);
  return bigger;
}

export class LineStore {
  /** Strings of whole lines, each line followed by `\n`. */
  chunks: string[] = [];
  /** The first line of each chunk. */
  chunkFirst: number[] = [];
  /** Each line's start in its chunk. */
  private starts = new Uint32Array(1024);
  /** Each line's stream (STDOUT, STDERR, JENY). */
  private streams = new Uint8Array(1024);
  /** Each line's arrival time (ms since the epoch), when known. */
  private times: Float64Array | null = null;
  /** Lines complete so far. */
  count = 0;
  /** The unfinished last line, as received (with its `\r`s). */
  partial = '';
  private partialStream = STDOUT;
  private partialTime = NaN;
  /** The longest line, in UTF-16 code units (escape codes included). */
  maxLength = 0;
  /** Changes whenever lines or the partial line change. */
  version = 0;

  /** Style checkpoints: the style at the start of line `k << BLOCK_SHIFT`. */
  private blockFg = new Uint32Array(64);
  private blockBg = new Uint32Array(64);
  private blockFlags = new Uint8Array(64);
  private styleCursor = 0;
  private cursorStyle: Style = { ...PLAIN };

  /** Rows to show: the complete lines, and the partial one if any. */
  get rows(): number {
    return this.partial ? this.count + 1 : this.count;
  }

  /** Adds text as it arrived; `at` is its arrival time in ms (NaN when unknown). */
  append(text: string, stream: number = UNKNOWN, at = NaN): void {
    if (!text) return;
    if (!Number.isNaN(at) && !this.times) {
      this.times = new Float64Array(this.starts.length).fill(NaN);
    }
    const firstNl = text.indexOf('\n');
    // A line belongs to the stream (and time) of its first write; after a carriage return the
    // next write replaces the line, and so takes it over.
    if (!this.partial || this.partial.charCodeAt(this.partial.length - 1) === 13) {
      this.partialStream = stream;
      this.partialTime = at;
    }
    if (firstNl < 0) {
      this.partial = compactPartial(this.partial + text);
      this.maxLength = Math.max(this.maxLength, this.partial.length);
      this.version++;
      return;
    }
    const lastNl = text.lastIndexOf('\n');
    const pieces: string[] = [];
    // The chunk this text goes into: the last one while it is small, or a new one.
    const last = this.chunks.length - 1;
    // Small pieces (live output) join the last chunk while it is small; large ones make their own.
    const reuse = last >= 0 && text.length < MERGE_BELOW && (this.chunks[last] as string).length < CHUNK_TARGET;
    const base = reuse ? (this.chunks[last] as string).length : 0;
    let length = 0; // of the pieces so far
    const firstLine = this.count;

    // The first line: the partial one and the start of this text.
    const head = resolveCr(this.partial + text.slice(0, firstNl));
    this.pushLine(base + length, head.length, this.partialStream, this.partialTime, head);
    pieces.push(head, '\n');
    length += head.length + 1;

    // The whole lines after it: copied as one slice, except those with a `\r`.
    let runStart = firstNl + 1;
    let lineStart = firstNl + 1;
    let cr = text.indexOf('\r', lineStart);
    while (lineStart <= lastNl) {
      const nl = text.indexOf('\n', lineStart);
      if (cr >= 0 && cr < nl) {
        if (lineStart > runStart) {
          pieces.push(text.slice(runStart, lineStart));
          length += lineStart - runStart;
        }
        const line = resolveCr(text.slice(lineStart, nl));
        this.pushLine(base + length, line.length, stream, at, line);
        pieces.push(line, '\n');
        length += line.length + 1;
        runStart = nl + 1;
        cr = text.indexOf('\r', nl + 1);
      } else {
        this.pushLine(base + length + (lineStart - runStart), nl - lineStart, stream, at, text, lineStart);
      }
      lineStart = nl + 1;
    }
    if (lastNl + 1 > runStart) {
      pieces.push(text.slice(runStart, lastNl + 1));
    }
    const added = pieces.length === 1 ? (pieces[0] as string) : pieces.join('');
    if (reuse) {
      this.chunks[last] = (this.chunks[last] as string) + added;
    } else {
      this.chunks.push(added);
      this.chunkFirst.push(firstLine);
    }
    const rest = text.slice(lastNl + 1);
    this.partial = compactPartial(rest);
    this.partialStream = stream;
    this.partialTime = at;
    this.maxLength = Math.max(this.maxLength, this.partial.length);
    this.version++;
  }

  /** Ends the output: the partial line becomes a line. */
  finish(): void {
    if (this.partial) this.append('\n', this.partialStream, this.partialTime);
  }

  private pushLine(start: number, length: number, stream: number, at: number, text: string, from = 0): void {
    const i = this.count;
    if (i >= this.starts.length) {
      this.starts = grow(this.starts, i + 1);
      this.streams = grow(this.streams, i + 1);
      if (this.times) {
        const size = this.starts.length;
        const times = new Float64Array(size).fill(NaN);
        times.set(this.times);
        this.times = times;
      }
    }
    this.starts[i] = start;
    let kind = stream;
    if (kind === UNKNOWN) kind = text.startsWith('[jeny]', from) ? JENY : STDOUT;
    this.streams[i] = kind;
    if (this.times) this.times[i] = at;
    if (length > this.maxLength) this.maxLength = length;
    this.count = i + 1;
  }

  /** The chunk holding line `i` (a complete line). */
  chunkIndex(i: number): number {
    const first = this.chunkFirst;
    let lo = 0;
    let hi = first.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((first[mid] as number) <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Where line `i` is: its chunk's text, and its start and end there. */
  locate(i: number, chunk = this.chunkIndex(i)): { text: string; start: number; end: number } {
    const text = this.chunks[chunk] as string;
    const start = this.starts[i] as number;
    const next = this.chunkFirst[chunk + 1] ?? this.count;
    const end = i + 1 < next ? (this.starts[i + 1] as number) - 1 : text.length - 1;
    return { text, start, end };
  }

  /** Line `i`'s text, with its escape codes (rows: the partial line is `count`). */
  line(i: number): string {
    if (i >= this.count) return i === this.count ? resolveCr(this.partial) : '';
    const { text, start, end } = this.locate(i);
    return text.slice(start, end);
  }

  /** Line `i`'s start offset in its chunk. */
  startOf(i: number): number {
    return this.starts[i] as number;
  }

  stream(i: number): number {
    if (i >= this.count) {
      if (this.partialStream === UNKNOWN) return this.partial.startsWith('[jeny]') ? JENY : STDOUT;
      return this.partialStream;
    }
    return this.streams[i] as number;
  }

  /** Line `i`'s arrival time in ms since the epoch, or NaN. */
  time(i: number): number {
    if (i >= this.count) return this.partialTime;
    return this.times ? (this.times[i] as number) : NaN;
  }

  get hasTimes(): boolean {
    return this.times !== null;
  }

  /**
   * The style at the start of line `i`: colours carry over from line to line, as in a terminal.
   * Checkpoints every 256 lines are kept up to date as lines arrive (only text with escape codes
   * is scanned); from the checkpoint, at most 255 lines are scanned.
   */
  styleAt(i: number): Style {
    this.catchUpStyle();
    const target = Math.min(i, this.count);
    const block = target >> BLOCK_SHIFT;
    const style: Style = {
      fg: (this.blockFg[block] as number) - 1,
      bg: (this.blockBg[block] as number) - 1,
      flags: this.blockFlags[block] as number,
    };
    let line = block << BLOCK_SHIFT;
    while (line < target) {
      const chunk = this.chunkIndex(line);
      const chunkEnd = Math.min(target, this.chunkFirst[chunk + 1] ?? this.count);
      const text = this.chunks[chunk] as string;
      const end = chunkEnd < this.count && chunkEnd < (this.chunkFirst[chunk + 1] ?? Infinity)
        ? (this.starts[chunkEnd] as number)
        : text.length;
      advanceStyle(style, text, this.starts[line] as number, end);
      line = chunkEnd;
    }
    return style;
  }

  /**
   * Brings the style checkpoints up to the last complete line. styleAt() does it when needed;
   * calling it after each batch of appends spreads the work out.
   */
  catchUpStyle(): void {
    while (this.styleCursor < this.count) {
      const line = this.styleCursor;
      const chunk = this.chunkIndex(line);
      const chunkEnd = this.chunkFirst[chunk + 1] ?? this.count;
      const text = this.chunks[chunk] as string;
      let at = line;
      for (let pos = text.indexOf('\x1b', this.starts[line] as number); pos >= 0; ) {
        // The line holding the code: the last one that starts at or before it.
        let lo = at;
        let hi = chunkEnd - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if ((this.starts[mid] as number) <= pos) lo = mid;
          else hi = mid - 1;
        }
        this.checkpoint(at, lo);
        at = lo;
        pos = text.indexOf('\x1b', skipEscape(text, pos, text.length, this.cursorStyle));
      }
      this.checkpoint(at, chunkEnd);
      this.styleCursor = chunkEnd;
    }
  }

  /** Records the current style as the checkpoint of every block starting in (from, to]. */
  private checkpoint(from: number, to: number): void {
    const first = (from >> BLOCK_SHIFT) + 1;
    const last = to >> BLOCK_SHIFT;
    if (last < first) return;
    if (last >= this.blockFg.length) {
      this.blockFg = grow(this.blockFg, last + 1);
      this.blockBg = grow(this.blockBg, last + 1);
      this.blockFlags = grow(this.blockFlags, last + 1);
    }
    const { fg, bg, flags } = this.cursorStyle;
    this.blockFg.fill(fg + 1, first, last + 1);
    this.blockBg.fill(bg + 1, first, last + 1);
    this.blockFlags.fill(flags, first, last + 1);
  }
}

/** Keeps a partial line that is redrawn again and again (a progress bar) from growing forever. */
function compactPartial(partial: string): string {
  if (partial.length < 4096 || partial.indexOf('\r') < 0) return partial;
  const trailing = partial.endsWith('\r');
  const resolved = resolveCr(partial);
  return trailing ? resolved + '\r' : resolved;
}
