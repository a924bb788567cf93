import { describe, expect, it } from 'vitest';
import {
  BOLD,
  DIM,
  INVERSE,
  ITALIC,
  PLAIN,
  TRUE,
  UNDERLINE,
  advanceStyle,
  cssColour,
  parseLine,
  spanLook,
  stripAnsi,
  type Style,
} from './ansi';

const E = '\x1b';

/** The spans as [text, fg, bg, flags] for short assertions. */
function spans(line: string, start: Style = PLAIN): [string, number, number, number][] {
  return parseLine(line, start).spans.map((s) => [s.text, s.fg, s.bg, s.flags]);
}

describe('parseLine', () => {
  it('keeps plain text as one plain span', () => {
    expect(spans('hello world')).toEqual([['hello world', -1, -1, 0]]);
    expect(spans('')).toEqual([]);
  });

  it('applies the 16 colours and resets', () => {
    expect(spans(`a${E}[31mred${E}[0mb${E}[92mgreen${E}[39mc`)).toEqual([
      ['a', -1, -1, 0],
      ['red', 1, -1, 0],
      ['b', -1, -1, 0],
      ['green', 10, -1, 0],
      ['c', -1, -1, 0],
    ]);
    expect(spans(`${E}[44mx${E}[103my${E}[49mz`)).toEqual([
      ['x', -1, 4, 0],
      ['y', -1, 11, 0],
      ['z', -1, -1, 0],
    ]);
  });

  it('treats ESC[m and an empty parameter as a reset', () => {
    expect(spans(`${E}[1;31mx${E}[my`)).toEqual([
      ['x', 1, -1, BOLD],
      ['y', -1, -1, 0],
    ]);
    expect(spans(`${E}[31mx${E}[;1my`)).toEqual([
      ['x', 1, -1, 0],
      ['y', -1, -1, BOLD],
    ]);
  });

  it('applies bold, dim, italic, underline and their ends', () => {
    expect(spans(`${E}[1;2;3;4mx${E}[22my${E}[23;24mz`)).toEqual([
      ['x', -1, -1, BOLD | DIM | ITALIC | UNDERLINE],
      ['y', -1, -1, ITALIC | UNDERLINE],
      ['z', -1, -1, 0],
    ]);
    expect(spans(`${E}[4:0mx`)).toEqual([['x', -1, -1, 0]]);
    expect(spans(`${E}[7mx${E}[27my`)).toEqual([
      ['x', -1, -1, INVERSE],
      ['y', -1, -1, 0],
    ]);
  });

  it('applies 256 colours and truecolor, with ; and : separators', () => {
    expect(spans(`${E}[38;5;208mx`)).toEqual([['x', 208, -1, 0]]);
    expect(spans(`${E}[48;5;17mx`)).toEqual([['x', -1, 17, 0]]);
    expect(spans(`${E}[38;2;255;128;0mx`)).toEqual([['x', TRUE | 0xff8000, -1, 0]]);
    expect(spans(`${E}[48:2::1:2:3mx`)).toEqual([['x', -1, TRUE | 0x010203, 0]]);
    expect(spans(`${E}[38:5:9mx`)).toEqual([['x', 9, -1, 0]]);
    // The parameters after an extended colour are still read.
    expect(spans(`${E}[38;5;208;1mx`)).toEqual([['x', 208, -1, BOLD]]);
    // An incomplete one changes nothing.
    expect(spans(`${E}[38;5mx`)).toEqual([['x', -1, -1, 0]]);
  });

  it('strips other escape sequences and control characters', () => {
    expect(spans(`${E}[2K${E}[1Gdone${E}[?25l!`)).toEqual([['done!', -1, -1, 0]]);
    expect(spans(`${E}]0;title${E}\\a${E}]8;;http://x${E}\\link${E}]8;;${E}\\b`)).toEqual([['alinkb', -1, -1, 0]]);
    expect(spans(`${E}(Bx\x07y\bz`)).toEqual([['xyz', -1, -1, 0]]);
    expect(spans('a\tb')).toEqual([['a\tb', -1, -1, 0]]);
    // A private sequence ending in m is not SGR.
    expect(spans(`${E}[>4;2mx`)).toEqual([['x', -1, -1, 0]]);
  });

  it('drops an incomplete or broken sequence at the end of the line', () => {
    expect(spans(`ok${E}[3`)).toEqual([['ok', -1, -1, 0]]);
    expect(spans(`ok${E}`)).toEqual([['ok', -1, -1, 0]]);
    expect(spans(`ok${E}]0;unterminated`)).toEqual([['ok', -1, -1, 0]]);
    // A control character breaks a CSI sequence; the text after it stays.
    expect(spans(`${E}[31\x07x`)).toEqual([['x', -1, -1, 0]]);
  });

  it('carries the style in and out of a line', () => {
    const first = parseLine(`${E}[1;32mstart`);
    expect(first.end).toEqual({ fg: 2, bg: -1, flags: BOLD });
    expect(spans('next', first.end)).toEqual([['next', 2, -1, BOLD]]);
    expect(parseLine(`x${E}[0m`, first.end).end).toEqual({ fg: -1, bg: -1, flags: 0 });
  });

  it('does not change the start style it is given', () => {
    const start = { fg: 3, bg: -1, flags: 0 };
    parseLine(`${E}[0mx`, start);
    expect(start).toEqual({ fg: 3, bg: -1, flags: 0 });
  });
});

describe('stripAnsi', () => {
  it('leaves the visible text', () => {
    expect(stripAnsi(`${E}[1;31merror${E}[0m: ${E}[4mfile${E}[24m`)).toBe('error: file');
    expect(stripAnsi('plain')).toBe('plain');
  });

  it('agrees with parseLine', () => {
    const line = `a${E}[38;2;1;2;3mb${E}[?1hc${E}]0;t\x07d${E}[`;
    const joined = parseLine(line).spans.map((s) => s.text).join('');
    expect(stripAnsi(line)).toBe(joined);
    expect(joined).toBe('abcd');
  });
});

describe('advanceStyle', () => {
  it('applies the SGR codes of a range', () => {
    const style = { ...PLAIN };
    advanceStyle(style, `x${E}[31my${E}[1mz${E}[0m`, 0, 8);
    expect(style).toEqual({ fg: 1, bg: -1, flags: 0 });
  });
});

describe('spanLook', () => {
  it('uses classes for the 16 colours and inline styles for the rest', () => {
    expect(spanLook({ fg: 1, bg: 12, flags: BOLD })).toEqual({ className: 'f1 b12 sb', style: '' });
    expect(spanLook({ fg: 208, bg: TRUE | 0x00ff00, flags: 0 })).toEqual({
      className: '',
      style: 'color:rgb(255,135,0);background:#00ff00;',
    });
  });

  it('swaps colours for inverse', () => {
    expect(spanLook({ fg: -1, bg: -1, flags: INVERSE }).className).toBe('fi bi');
    expect(spanLook({ fg: 2, bg: -1, flags: INVERSE }).className).toBe('fi b2');
  });

  it('computes the 256-colour cube and greys', () => {
    expect(cssColour(16)).toBe('rgb(0,0,0)');
    expect(cssColour(231)).toBe('rgb(255,255,255)');
    expect(cssColour(232)).toBe('rgb(8,8,8)');
    expect(cssColour(255)).toBe('rgb(238,238,238)');
  });
});
