import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCoalescer, eventDeployId, liveUrl, parseLiveEvent } from './live';
import type { LiveEvent } from './live';

function event(type: string, payload: unknown = {}): LiveEvent {
  return { id: 7, type, project: 'shop', environment: 'staging', actor: 'you@example.com', time: '2026-11-30T04:52:37Z', payload };
}

describe('liveUrl', () => {
  it('asks for the events from now on, with the filters given', () => {
    expect(liveUrl({})).toBe('/api/v1/events?after=latest');
    expect(liveUrl({ project: 'shop', type: 'deploy.' })).toBe('/api/v1/events?after=latest&project=shop&type=deploy.');
    expect(liveUrl({ project: undefined, type: 'deploy.' })).toBe('/api/v1/events?after=latest&type=deploy.');
  });
});

describe('parseLiveEvent', () => {
  it('reads an event and refuses anything else', () => {
    const parsed = parseLiveEvent(JSON.stringify(event('deploy.queued', { id: 'a' })));
    expect(parsed?.type).toBe('deploy.queued');
    expect(parseLiveEvent('not json')).toBeUndefined();
    expect(parseLiveEvent('{"type":"x"}')).toBeUndefined();
    expect(parseLiveEvent(undefined)).toBeUndefined();
  });
});

describe('eventDeployId', () => {
  it('is the payload id of deploy events only', () => {
    expect(eventDeployId(event('deploy.finished', { id: 'abc', status: 'succeeded' }))).toBe('abc');
    expect(eventDeployId(event('environment.locked', { id: 'abc' }))).toBeUndefined();
    expect(eventDeployId(event('deploy.queued', null))).toBeUndefined();
  });
});

describe('createCoalescer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('turns a burst into one run after the delay', () => {
    const run = vi.fn();
    const coalescer = createCoalescer(run, { delayMs: 150, minGapMs: 1000 });
    coalescer.poke();
    vi.advanceTimersByTime(100);
    coalescer.poke();
    coalescer.poke();
    expect(run).not.toHaveBeenCalled();
    vi.advanceTimersByTime(50);
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(5000);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('keeps runs apart and is not starved by a steady flow of pokes', () => {
    const run = vi.fn();
    const coalescer = createCoalescer(run, { delayMs: 150, minGapMs: 1000 });
    for (let elapsed = 0; elapsed < 3000; elapsed += 50) {
      coalescer.poke();
      vi.advanceTimersByTime(50);
    }
    // At 150 ms, 1150 ms and 2150 ms.
    expect(run).toHaveBeenCalledTimes(3);
  });

  it('runs nothing once cancelled', () => {
    const run = vi.fn();
    const coalescer = createCoalescer(run);
    coalescer.poke();
    coalescer.cancel();
    vi.advanceTimersByTime(2000);
    expect(run).not.toHaveBeenCalled();
  });
});
