import { describe, expect, it } from 'vitest';
import { BOLD } from './ansi';
import { JENY, LineStore, STDERR, STDOUT, resolveCr } from './store';

const E = '\x1b';

function lines(store: LineStore): string[] {
  const out: string[] = [];
  for (let i = 0; i < store.rows; i++) out.push(store.line(i));
  return out;
}

describe('LineStore', () => {
  it('splits text into lines and keeps the unfinished one apart', () => {
    const store = new LineStore();
    store.append('one\ntwo\nthr');
    expect(store.count).toBe(2);
    expect(store.rows).toBe(3);
    expect(store.partial).toBe('thr');
    expect(lines(store)).toEqual(['one', 'two', 'thr']);
    store.append('ee\n');
    expect(store.count).toBe(3);
    expect(store.rows).toBe(3);
    expect(lines(store)).toEqual(['one', 'two', 'three']);
  });

  it('joins a line split over many chunks', () => {
    const store = new LineStore();
    for (const piece of ['a', 'b', 'c', '\n', 'd', 'e\nf', '\n']) store.append(piece);
    expect(lines(store)).toEqual(['abc', 'de', 'f']);
    expect(store.partial).toBe('');
  });

  it('keeps empty lines', () => {
    const store = new LineStore();
    store.append('\n\nx\n\n');
    expect(lines(store)).toEqual(['', '', 'x', '']);
  });

  it('treats CRLF as a line end, also when split between chunks', () => {
    const store = new LineStore();
    store.append('one\r\ntwo\r');
    store.append('\nthree\r\n');
    expect(lines(store)).toEqual(['one', 'two', 'three']);
  });

  it('keeps what follows the last carriage return (progress lines)', () => {
    const store = new LineStore();
    store.append('10%\r20%\r');
    expect(store.line(0)).toBe('20%');
    store.append('100%\ndone\n');
    expect(lines(store)).toEqual(['100%', 'done']);
    store.append('a\rb\nc\rd\ne\n');
    expect(lines(store)).toEqual(['100%', 'done', 'b', 'd', 'e']);
  });

  it('keeps the colour codes of text a carriage return replaced', () => {
    expect(resolveCr(`${E}[32mold\rnew`)).toBe(`${E}[32mnew`);
    expect(resolveCr('plain\rnew')).toBe('new');
    expect(resolveCr('x\r\r')).toBe('x');
  });

  it('keeps a progress bar that never ends its line small', () => {
    const store = new LineStore();
    for (let i = 0; i < 10_000; i++) store.append(`\rprogress ${i}`);
    expect(store.partial.length).toBeLessThan(5000);
    expect(store.line(0)).toBe('progress 9999');
    store.append('\n');
    expect(lines(store)).toEqual(['progress 9999']);
  });

  it('finish() turns the partial line into a line', () => {
    const store = new LineStore();
    store.append('a\nb');
    store.finish();
    expect(store.count).toBe(2);
    expect(store.partial).toBe('');
    expect(lines(store)).toEqual(['a', 'b']);
  });

  it('stores line starts in chunks of whole lines', () => {
    const store = new LineStore();
    const text = Array.from({ length: 100_000 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
    // Feed in uneven pieces, splitting lines.
    for (let at = 0; at < text.length; at += 65_521) store.append(text.slice(at, at + 65_521));
    expect(store.count).toBe(100_000);
    expect(store.line(0)).toBe('line 1');
    expect(store.line(49_999)).toBe('line 50000');
    expect(store.line(99_999)).toBe('line 100000');
    // Every chunk holds whole lines: each ends with a newline.
    for (const chunk of store.chunks) expect(chunk.endsWith('\n')).toBe(true);
    expect(store.chunks.join('')).toBe(text);
    for (let c = 0; c < store.chunks.length; c++) {
      const first = store.chunkFirst[c] as number;
      expect(store.startOf(first)).toBe(0);
      expect(store.chunkIndex(first)).toBe(c);
    }
    expect(store.maxLength).toBe('line 100000'.length);
  });

  it('knows the stream of each line: given, or [jeny] for plain text', () => {
    const plain = new LineStore();
    plain.append('out\n[jeny] deploy succeeded in 1s\n');
    expect([plain.stream(0), plain.stream(1)]).toEqual([STDOUT, JENY]);
    const live = new LineStore();
    live.append('err\n', STDERR, 1000);
    live.append('[jeny] x\n', JENY, 2000);
    live.append('par', STDOUT, 3000);
    live.append('tial\n', STDERR, 4000);
    expect([0, 1, 2].map((i) => live.stream(i))).toEqual([STDERR, JENY, STDOUT]);
    // A line's time is when its first piece arrived.
    expect([0, 1, 2].map((i) => live.time(i))).toEqual([1000, 2000, 3000]);
    expect(plain.hasTimes).toBe(false);
    expect(Number.isNaN(plain.time(0))).toBe(true);
  });

  it('gives a line overwritten after a carriage return to the stream that overwrote it', () => {
    const store = new LineStore();
    store.append('progress 10%\r', STDOUT, 1000);
    store.append('warning\n', STDERR, 2000);
    store.append('half', STDOUT, 3000);
    store.append(' and half\n', STDERR, 4000);
    expect(lines(store)).toEqual(['warning', 'half and half']);
    expect([store.stream(0), store.stream(1)]).toEqual([STDERR, STDOUT]);
    expect([store.time(0), store.time(1)]).toEqual([2000, 3000]);
  });

  it('carries colours across lines, with checkpoints', () => {
    const store = new LineStore();
    store.append(`${E}[31mred starts\nstill red\n${E}[0mplain\n${E}[1mbold\n`);
    expect(store.styleAt(0)).toEqual({ fg: -1, bg: -1, flags: 0 });
    expect(store.styleAt(1)).toEqual({ fg: 1, bg: -1, flags: 0 });
    expect(store.styleAt(2)).toEqual({ fg: 1, bg: -1, flags: 0 });
    expect(store.styleAt(3)).toEqual({ fg: -1, bg: -1, flags: 0 });
    expect(store.styleAt(4)).toEqual({ fg: -1, bg: -1, flags: BOLD });
    // Far past the last escape code, across many checkpoints and chunks.
    const many = Array.from({ length: 5000 }, (_, i) => `l${i}`).join('\n') + '\n';
    for (let at = 0; at < many.length; at += 9999) store.append(many.slice(at, at + 9999));
    store.append(`${E}[32mgreen\n`);
    store.append(many);
    expect(store.styleAt(3000)).toEqual({ fg: -1, bg: -1, flags: BOLD });
    expect(store.styleAt(5004)).toEqual({ fg: -1, bg: -1, flags: BOLD });
    expect(store.styleAt(5005)).toEqual({ fg: 2, bg: -1, flags: BOLD });
    expect(store.styleAt(store.count)).toEqual({ fg: 2, bg: -1, flags: BOLD });
  });

  it('counts a version on every change', () => {
    const store = new LineStore();
    const v0 = store.version;
    store.append('x');
    const v1 = store.version;
    store.append('\n');
    expect(v1).toBeGreaterThan(v0);
    expect(store.version).toBeGreaterThan(v1);
  });
});
