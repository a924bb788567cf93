/**
 * Times as people read them: "3m ago" with the absolute time on hover, durations as "1m 05s".
 * One shared clock ticks every second for every live time on the page.
 */
import { useEffect, useState } from 'preact/hooks';

const subscribers = new Set<(now: number) => void>();
let clockTimer: number | undefined;

function startClock() {
  if (clockTimer !== undefined) return;
  clockTimer = window.setInterval(() => {
    const now = Date.now();
    for (const subscriber of subscribers) subscriber(now);
  }, 1000);
}

/** The current time, re-rendering the caller every second (or every `everyMs`). */
export function useNow(active = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    subscribers.add(setNow);
    startClock();
    return () => {
      subscribers.delete(setNow);
      if (subscribers.size === 0 && clockTimer !== undefined) {
        window.clearInterval(clockTimer);
        clockTimer = undefined;
      }
    };
  }, [active]);
  return now;
}

export function relativeTime(iso: string, now: number): string {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  const future = seconds < 0;
  const magnitude = Math.abs(seconds);
  let text: string;
  if (magnitude < 10) return future ? 'in a moment' : 'just now';
  else if (magnitude < 60) text = `${magnitude}s`;
  else if (magnitude < 3600) text = `${Math.floor(magnitude / 60)}m`;
  else if (magnitude < 86400) text = `${Math.floor(magnitude / 3600)}h`;
  else if (magnitude < 86400 * 30) text = `${Math.floor(magnitude / 86400)}d`;
  else return new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
  return future ? `in ${text}` : `${text} ago`;
}

export function absoluteTime(iso: string): string {
  const date = new Date(iso);
  return `${date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  })} (${iso})`;
}

export function formatDuration(milliseconds: number): string {
  const totalSeconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (milliseconds < 10_000 && milliseconds >= 0) return `${(milliseconds / 1000).toFixed(1)}s`;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const pad = (value: number) => String(value).padStart(2, '0');
  if (hours > 0) return `${hours}h ${pad(minutes)}m ${pad(seconds)}s`;
  if (minutes > 0) return `${minutes}m ${pad(seconds)}s`;
  return `${seconds}s`;
}
