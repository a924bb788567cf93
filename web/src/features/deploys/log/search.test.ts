import { describe, expect, it } from 'vitest';
import { Search } from './search';
import { LineStore } from './store';

const E = '\x1b';

function storeOf(text: string): LineStore {
  const store = new LineStore();
  store.append(text);
  return store;
}

function matches(search: Search): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < search.count; i++) out.push([search.lines[i] as number, search.cols[i] as number]);
  return out;
}

describe('Search', () => {
  it('finds every match with its line and column', () => {
    const search = new Search(storeOf('error one\nok\nan error, another error\n'), 'error');
    expect(search.step(Infinity)).toBe(true);
    expect(search.count).toBe(3);
    expect(matches(search)).toEqual([
      [0, 0],
      [2, 3],
      [2, 18],
    ]);
  });

  it('is case-insensitive unless asked', () => {
    const store = storeOf('Error\nERROR\nerror\n');
    const loose = new Search(store, 'error');
    loose.step(Infinity);
    expect(loose.count).toBe(3);
    const strict = new Search(store, 'Error', true);
    strict.step(Infinity);
    expect(matches(strict)).toEqual([[0, 0]]);
  });

  it('does not count overlapping matches twice', () => {
    const search = new Search(storeOf('aaaa\n'), 'aa');
    search.step(Infinity);
    expect(search.count).toBe(2);
  });

  it('searches the visible text: escape codes are not matched, columns skip them', () => {
    const store = storeOf(`${E}[31mfail${E}[0med here\n31m\nplain failed\n`);
    const search = new Search(store, 'failed');
    search.step(Infinity);
    expect(matches(search)).toEqual([
      [0, 0],
      [2, 6],
    ]);
    const codes = new Search(store, '31m');
    codes.step(Infinity);
    expect(matches(codes)).toEqual([[1, 0]]);
  });

  it('steps forward and back, wrapping around', () => {
    const search = new Search(storeOf('x\nx\nx\n'), 'x');
    search.step(Infinity);
    expect(search.next(-1)).toBe(0);
    expect(search.next(0)).toBe(1);
    expect(search.next(2)).toBe(0);
    expect(search.previous(0)).toBe(2);
    expect(search.previous(2)).toBe(1);
    expect(search.previous(-1)).toBe(2);
    const none = new Search(storeOf('y\n'), 'x');
    none.step(Infinity);
    expect(none.next(-1)).toBe(-1);
    expect(none.previous(-1)).toBe(-1);
  });

  it('finds the first match at or after a line, and the matches on a line', () => {
    const search = new Search(storeOf('a\nb a a\nb\na\n'), 'a');
    search.step(Infinity);
    expect(search.firstAtOrAfter(0)).toBe(0);
    expect(search.firstAtOrAfter(1)).toBe(1);
    expect(search.firstAtOrAfter(2)).toBe(3);
    expect(search.firstAtOrAfter(4)).toBe(4);
    expect(search.columnsOn(1)).toEqual([2, 4]);
    expect(search.columnsOn(2)).toEqual([]);
  });

  it('goes on with lines appended after it started', () => {
    const store = storeOf('hit\n');
    const search = new Search(store, 'hit');
    search.step(Infinity);
    expect(search.count).toBe(1);
    store.append('miss\nhit again\nhit in the partial line');
    expect(search.done).toBe(false);
    search.step(Infinity);
    expect(matches(search)).toEqual([
      [0, 0],
      [2, 0],
    ]);
  });

  it('counts a million lines in slices of time', () => {
    const store = new LineStore();
    const block = Array.from({ length: 10_000 }, (_, i) => `line ${i} ${i % 10 === 0 ? 'ERROR' : 'ok'}`).join('\n') + '\n';
    for (let i = 0; i < 100; i++) store.append(block);
    expect(store.count).toBe(1_000_000);
    const search = new Search(store, 'error');
    let steps = 0;
    while (!search.step(5)) steps++;
    expect(steps).toBeGreaterThan(0);
    expect(search.count).toBe(100_000);
    expect(search.lines[99_999]).toBe(999_990);
    expect(search.cols[99_999]).toBe('line 9990 '.length);
  });

  it('finds nothing for an empty query', () => {
    const search = new Search(storeOf('a\n'), '');
    expect(search.step()).toBe(true);
    expect(search.count).toBe(0);
  });

  it('handles text whose lower case is longer', () => {
    // 'İ' lower-cases to two code units: columns still point at the visible text.
    const search = new Search(storeOf('İx Needle\nneedle (a.b)\n'), 'NEEDLE');
    search.step(Infinity);
    expect(matches(search)).toEqual([
      [0, 3],
      [1, 0],
    ]);
    // The query is text, not a pattern.
    const dots = new Search(storeOf('İ a.b axb\n'), 'A.B');
    dots.step(Infinity);
    expect(matches(dots)).toEqual([[0, 2]]);
  });
});
