import { describe, expect, it } from 'vitest';
import { formatLineHash, parseLineHash } from './hash';

describe('parseLineHash', () => {
  it('reads one line', () => {
    expect(parseLineHash('#L120')).toEqual({ start: 120, end: 120 });
    expect(parseLineHash('L7')).toEqual({ start: 7, end: 7 });
  });

  it('reads a range, in either order and either form', () => {
    expect(parseLineHash('#L120-L130')).toEqual({ start: 120, end: 130 });
    expect(parseLineHash('#L130-L120')).toEqual({ start: 120, end: 130 });
    expect(parseLineHash('#L120-130')).toEqual({ start: 120, end: 130 });
  });

  it('rejects anything else', () => {
    for (const hash of ['', '#', '#L', '#L0', '#L-5', '#Lx', '#l12', '#L12-', '#L12-L0', '#top', '#L1.5', '#L1234567890']) {
      expect(parseLineHash(hash), hash).toBeNull();
    }
  });
});

describe('formatLineHash', () => {
  it('writes one line or a range, and reads back', () => {
    expect(formatLineHash({ start: 5, end: 5 })).toBe('#L5');
    expect(formatLineHash({ start: 5, end: 9 })).toBe('#L5-L9');
    expect(parseLineHash(formatLineHash({ start: 5, end: 9 }))).toEqual({ start: 5, end: 9 });
  });
});
