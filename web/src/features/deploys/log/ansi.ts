/**
 * ANSI escape sequences in deploy output: SGR (colours and text attributes) is applied, every
 * other escape sequence and control character (except tab) is removed.
 *
 * A style is three numbers: `fg` and `bg` (-1 the default, 0..255 the 256-colour palette,
 * `TRUE | 0xRRGGBB` a 24-bit colour) and `flags` (the bits below). Styles carry over from line to
 * line, as in a terminal; `parseLine` takes the style at the start of a line and returns the style
 * at its end.
 */

export const BOLD = 1;
export const DIM = 2;
export const ITALIC = 4;
export const UNDERLINE = 8;
export const INVERSE = 16;
export const STRIKE = 32;

/** The bit that marks a 24-bit colour in `fg` or `bg`. */
export const TRUE = 0x1000000;

export interface Style {
  fg: number;
  bg: number;
  flags: number;
}

/** A piece of a line's visible text in one style. */
export interface Span extends Style {
  text: string;
}

export const PLAIN: Readonly<Style> = Object.freeze({ fg: -1, bg: -1, flags: 0 });

export function isPlain(style: Style): boolean {
  return style.fg === -1 && style.bg === -1 && style.flags === 0;
}

const ESC = 0x1b;
const BEL = 0x07;

/** Is this code unit a control character that is not shown (every C0 control but tab, and DEL)? */
function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x09) || code === 0x7f;
}

/**
 * Where the escape sequence starting at `at` (an ESC) ends: the index after its last character.
 * An SGR sequence (`ESC [ params m`) is applied to `style`, when given. A sequence that
 * is cut off by the end of the text, or by a control character, ends there (and is dropped).
 */
export function skipEscape(text: string, at: number, end: number, style: Style | null): number {
  let i = at + 1;
  if (i >= end) return end;
  const kind = text.charCodeAt(i);
  if (kind === 0x5b) {
    // CSI: parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, one final byte 0x40-0x7E.
    i++;
    const paramsStart = i;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x3f) break;
      i++;
    }
    const paramsEnd = i;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 0x20 || c > 0x2f) break;
      i++;
    }
    if (i >= end) return end;
    const final = text.charCodeAt(i);
    if (final < 0x40 || final > 0x7e) return i; // broken: drop what was read, go on from here
    if (final === 0x6d && paramsEnd === i && style) applySgrAt(style, text, paramsStart, paramsEnd);
    return i + 1;
  }
  if (kind === 0x5d || kind === 0x50 || kind === 0x58 || kind === 0x5e || kind === 0x5f) {
    // OSC, DCS, SOS, PM, APC: a string up to BEL (OSC) or ST (ESC \).
    i++;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c === BEL) return i + 1;
      if (c === ESC) return i + 1 < end && text.charCodeAt(i + 1) === 0x5c ? i + 2 : i;
      if (c === 0x0a) return i;
      i++;
    }
    return end;
  }
  // nF sequences (ESC ( B and the like): intermediates, then one final byte.
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x2f) break;
    i++;
  }
  if (i >= end) return end;
  const c = text.charCodeAt(i);
  return c >= 0x30 && c <= 0x7e ? i + 1 : i;
}

/** Parsed SGR parameters: values (-1 when empty), and whether each is a `:` sub-parameter. */
const values = new Int32Array(64);
const isSub = new Uint8Array(64);

/**
 * Reads `1;38:2::1:2:3` (text[from..to)) into `values` and `isSub`; returns how many there are,
 * or 0 for a private sequence (`<`, `=`, `>` or `?`), which is not SGR.
 */
function readParams(text: string, from: number, to: number): number {
  let n = 0;
  let current = -1;
  let sub = 0;
  for (let i = from; i < to && n < 63; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x3c) return 0;
    if (c >= 0x30 && c <= 0x39) {
      current = current < 0 ? c - 0x30 : Math.min(current * 10 + c - 0x30, 0xffffff);
    } else {
      values[n] = current;
      isSub[n] = sub;
      n++;
      sub = c === 0x3a ? 1 : 0;
      current = -1;
    }
  }
  values[n] = current;
  isSub[n] = sub;
  return n + 1;
}

/** A colour from `5;n` or `2;r;g;b` at values[at..]; -2 when it is not one. */
function extendedColour(at: number, end: number, colon: boolean): { colour: number; next: number } {
  const kind = at < end ? (values[at] as number) : -1;
  if (kind === 5) {
    const n = at + 1 < end ? (values[at + 1] as number) : -1;
    return { colour: n >= 0 && n <= 255 ? n : -2, next: at + 2 };
  }
  if (kind === 2) {
    // 38:2:<colour space>:r:g:b (the standard) or 38:2:r:g:b (common).
    const first = colon && end - at >= 5 ? at + 2 : at + 1;
    if (first + 2 >= end) return { colour: -2, next: end };
    const r = values[first] as number;
    const g = values[first + 1] as number;
    const b = values[first + 2] as number;
    if (r < 0 || g < 0 || b < 0) return { colour: -2, next: first + 3 };
    return { colour: TRUE | (Math.min(r, 255) << 16) | (Math.min(g, 255) << 8) | Math.min(b, 255), next: first + 3 };
  }
  return { colour: -2, next: at + 1 };
}

/** Applies SGR parameters (`1;31`, `38;5;208`, `38:2::255:0:0`, ``) to a style, in place. */
export function applySgr(style: Style, params: string): void {
  applySgrAt(style, params, 0, params.length);
}

/** Applies the SGR parameters in text[from..to) to a style, in place. */
function applySgrAt(style: Style, text: string, from: number, to: number): void {
  const count = readParams(text, from, to);
  let i = 0;
  while (i < count) {
    const code = values[i] as number;
    // The end of this parameter's `:` sub-parameters.
    let groupEnd = i + 1;
    while (groupEnd < count && isSub[groupEnd]) groupEnd++;
    let next = groupEnd;
    if (code <= 0) {
      style.fg = -1;
      style.bg = -1;
      style.flags = 0;
    } else if (code < 30) {
      switch (code) {
        case 1: style.flags |= BOLD; break;
        case 2: style.flags |= DIM; break;
        case 3: style.flags |= ITALIC; break;
        case 4:
          if (groupEnd > i + 1 && values[i + 1] === 0) style.flags &= ~UNDERLINE;
          else style.flags |= UNDERLINE;
          break;
        case 7: style.flags |= INVERSE; break;
        case 9: style.flags |= STRIKE; break;
        case 21: style.flags |= UNDERLINE; break;
        case 22: style.flags &= ~(BOLD | DIM); break;
        case 23: style.flags &= ~ITALIC; break;
        case 24: style.flags &= ~UNDERLINE; break;
        case 27: style.flags &= ~INVERSE; break;
        case 29: style.flags &= ~STRIKE; break;
        default: break; // blink, fonts...: not shown
      }
    } else if (code <= 37) style.fg = code - 30;
    else if (code === 39) style.fg = -1;
    else if (code >= 40 && code <= 47) style.bg = code - 40;
    else if (code === 49) style.bg = -1;
    else if (code >= 90 && code <= 97) style.fg = code - 90 + 8;
    else if (code >= 100 && code <= 107) style.bg = code - 100 + 8;
    else if (code === 38 || code === 48 || code === 58) {
      const colon = groupEnd > i + 1;
      const found = extendedColour(i + 1, colon ? groupEnd : count, colon);
      if (!colon) next = Math.min(found.next, count);
      // 58 is the underline colour: not shown.
      if (found.colour !== -2 && code === 38) style.fg = found.colour;
      else if (found.colour !== -2 && code === 48) style.bg = found.colour;
    }
    i = next;
  }
}

/**
 * Splits one line into styled spans of visible text, starting in `start` (not changed).
 * Returns the spans and the style at the end of the line.
 */
export function parseLine(text: string, start: Readonly<Style> = PLAIN): { spans: Span[]; end: Style } {
  const style: Style = { fg: start.fg, bg: start.bg, flags: start.flags };
  const spans: Span[] = [];
  let pending = '';
  let pendingStyle: Style = { ...style };
  const flushStyle = () => {
    if (pending) spans.push({ text: pending, ...pendingStyle });
    pending = '';
  };
  const length = text.length;
  let i = 0;
  let runStart = 0;
  const emit = (to: number) => {
    if (to <= runStart) return;
    if (style.fg !== pendingStyle.fg || style.bg !== pendingStyle.bg || style.flags !== pendingStyle.flags) {
      flushStyle();
      pendingStyle = { ...style };
    }
    pending += text.slice(runStart, to);
  };
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c !== 0x7f) {
      i++;
      continue;
    }
    if (c === 0x09) {
      i++;
      continue;
    }
    emit(i);
    i = c === ESC ? skipEscape(text, i, length, style) : i + 1;
    runStart = i;
  }
  emit(length);
  flushStyle();
  return { spans, end: style };
}

/** The visible text of a line: without escape sequences and control characters. */
export function stripAnsi(text: string): string {
  return needsStrip(text) ? strip(text, false) : text;
}

/** The visible text of whole lines with `\n` between them (the `\n`s are kept). */
export function stripLines(text: string): string {
  return linesNeedStrip(text) ? strip(text, true) : text;
}

function strip(text: string, keepNewlines: boolean): string {
  let out = '';
  let runStart = 0;
  let i = 0;
  const length = text.length;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (!isControl(c) || (keepNewlines && c === 0x0a)) {
      i++;
      continue;
    }
    out += text.slice(runStart, i);
    i = c === ESC ? skipEscape(text, i, length, null) : i + 1;
    runStart = i;
  }
  return out + text.slice(runStart);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Does the text hold anything that `stripAnsi` removes? */
export function needsStrip(text: string): boolean {
  return CONTROL.test(text);
}

// eslint-disable-next-line no-control-regex
const CONTROL_BUT_NEWLINE = /[\x00-\x08\x0b-\x1f\x7f]/;

/** Does text of whole lines (with `\n` between them) hold anything that `stripAnsi` removes? */
export function linesNeedStrip(text: string): boolean {
  return CONTROL_BUT_NEWLINE.test(text);
}

/**
 * Applies the SGR sequences in `text[from..to)` to `style`, in place, without building spans.
 * `\n` ends an unfinished sequence, as a line end does in `parseLine`.
 */
export function advanceStyle(style: Style, text: string, from = 0, to = text.length): void {
  let i = text.indexOf('\x1b', from);
  while (i >= 0 && i < to) {
    // Every kind of sequence ends at a newline, as at the end of a line in parseLine.
    i = text.indexOf('\x1b', skipEscape(text, i, to, style));
  }
}

const CUBE = [0, 95, 135, 175, 215, 255];

/** The CSS colour of a palette index 16..255 or a 24-bit colour (0..15 are themed classes). */
export function cssColour(colour: number): string {
  if (colour & TRUE) {
    return `#${(colour & 0xffffff).toString(16).padStart(6, '0')}`;
  }
  if (colour >= 232) {
    const v = 8 + (colour - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const n = colour - 16;
  return `rgb(${CUBE[Math.floor(n / 36)]},${CUBE[Math.floor(n / 6) % 6]},${CUBE[n % 6]})`;
}

/** A span's class names and inline style; the 16 basic colours are themed CSS classes. */
export function spanLook(span: Style): { className: string; style: string } {
  let fg = span.fg;
  let bg = span.bg;
  let className = '';
  let style = '';
  if (span.flags & INVERSE) {
    const swap = fg;
    fg = bg;
    bg = swap;
    // The defaults swap too: the default background as text colour, and the other way.
    if (fg === -1) className += ' fi';
    if (bg === -1) className += ' bi';
  }
  if (fg >= 0 && fg < 16) className += ` f${fg}`;
  else if (fg >= 16) style += `color:${cssColour(fg)};`;
  if (bg >= 0 && bg < 16) className += ` b${bg}`;
  else if (bg >= 16) style += `background:${cssColour(bg)};`;
  const flags = span.flags;
  if (flags & BOLD) className += ' sb';
  if (flags & DIM) className += ' sd';
  if (flags & ITALIC) className += ' si';
  if (flags & UNDERLINE) className += flags & STRIKE ? ' sus' : ' su';
  else if (flags & STRIKE) className += ' ss';
  return { className: className.trim(), style };
}
