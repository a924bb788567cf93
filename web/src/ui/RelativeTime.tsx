/** "3m ago", with the absolute time on hover; live, ticking with the shared clock. */
import { absoluteTime, formatDuration, relativeTime, useNow } from '../lib/time';

export function RelativeTime({ iso }: { iso: string | null | undefined }) {
  const now = useNow();
  if (!iso) return <span class="muted">—</span>;
  return (
    <time dateTime={iso} title={absoluteTime(iso)}>
      {relativeTime(iso, now)}
    </time>
  );
}

/** A deploy's duration: final once it finished, ticking every second while it runs. */
export function Duration({
  startedAt,
  finishedAt,
  durationMs,
}: {
  startedAt: string | null | undefined;
  finishedAt: string | null | undefined;
  durationMs: number | null | undefined;
}) {
  const running = Boolean(startedAt) && !finishedAt;
  const now = useNow(running);
  if (durationMs !== null && durationMs !== undefined) return <span class="mono duration">{formatDuration(durationMs)}</span>;
  if (!startedAt) return <span class="muted">—</span>;
  return <span class="mono duration live">{formatDuration(now - Date.parse(startedAt))}</span>;
}
