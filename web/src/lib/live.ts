/**
 * Live data without polling. A page subscribes to the event log's live stream
 * (`GET /api/v1/events?after=latest` as server-sent events) and refetches what an event changed:
 *
 * - `useLiveEvents(filter, onEvent)`: every event matching `filter` (a project, a type prefix).
 *   Subscribers with the same filter share one `EventSource`, so a page holds one stream however
 *   many of its parts listen.
 * - `useLiveRefresh(refresh, options)`: calls `refresh` when a relevant event arrives, coalesced
 *   (a burst of events makes one refetch), and also every `safetyMs` (a slow safety poll), when
 *   the tab becomes visible again, and when the stream opens again after an error, so a missed
 *   event cannot leave a page stale.
 *
 * A stream is closed a few seconds after its tab is hidden (a browser allows only six
 * connections to a server over HTTP/1.1, shared by every tab) and opened again, with a refetch,
 * when the tab is shown.
 */
import { useEffect, useRef } from 'preact/hooks';
import { buildUrl } from './api/client';
import type { Schemas } from './api/client';

export type LiveEvent = Schemas['Event'];

export interface LiveFilter {
  /** Only this project's events. */
  project?: string | undefined;
  /** Only events whose type starts with this, such as `deploy.`. */
  type?: string | undefined;
}

/**
 * The event types a page may care about. A server-sent event with an `event:` name reaches only
 * listeners of that name, so each is listened to; any other type only counts as a wake-up.
 */
export const LIVE_EVENT_TYPES = [
  'deploy.queued',
  'deploy.started',
  'deploy.cancel_requested',
  'deploy.finished',
  'environment.locked',
  'environment.unlocked',
  'environment.created',
  'environment.updated',
  'environment.deleted',
  'project.created',
  'project.updated',
  'project.deleted',
  'variable.created',
  'variable.updated',
  'variable.deleted',
  'host.created',
  'host.updated',
  'host.deleted',
  'aws.synced',
] as const;

/** The stream's URL: events committed from now on, filtered by project and type prefix. */
export function liveUrl(filter: LiveFilter): string {
  return buildUrl('/api/v1/events', undefined, { after: 'latest', project: filter.project, type: filter.type });
}

/** The deploy id an event is about (`payload.id` of `deploy.*` events), if any. */
export function eventDeployId(event: LiveEvent): string | undefined {
  const payload = event.payload;
  if (!event.type.startsWith('deploy.') || !payload || typeof payload !== 'object') return undefined;
  const id = (payload as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

/** Parses a message's `data`; `undefined` for anything that is not an event. */
export function parseLiveEvent(data: unknown): LiveEvent | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const value = JSON.parse(data) as unknown;
    if (!value || typeof value !== 'object') return undefined;
    const event = value as Partial<LiveEvent>;
    return typeof event.id === 'number' && typeof event.type === 'string' ? (event as LiveEvent) : undefined;
  } catch {
    return undefined;
  }
}

export interface Coalescer {
  /** Asks for a run: within `delayMs`, and no sooner than `minGapMs` after the previous run. */
  poke: () => void;
  cancel: () => void;
}

/**
 * Turns a burst of pokes into one run. The first poke schedules the run and later ones join it
 * (the timer is not pushed back, so a steady flow of events cannot starve the refetch), and runs
 * are at least `minGapMs` apart, so a refetch has time to finish before the next replaces it.
 */
export function createCoalescer(
  run: () => void,
  { delayMs = 150, minGapMs = 1000, now = () => Date.now() }: { delayMs?: number; minGapMs?: number; now?: () => number } = {},
): Coalescer {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastRun = -Infinity;
  return {
    poke() {
      if (timer !== undefined) return;
      const wait = Math.max(delayMs, lastRun + minGapMs - now());
      timer = setTimeout(() => {
        timer = undefined;
        lastRun = now();
        run();
      }, wait);
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

interface Subscriber {
  onEvent: (event: LiveEvent) => void;
  /** The stream opened (first, or again after an error or a hidden tab): events may be missed. */
  onReopen: () => void;
}

interface Stream {
  url: string;
  source: EventSource | null;
  subscribers: Set<Subscriber>;
  failures: number;
  retry: ReturnType<typeof setTimeout> | undefined;
}

const streams = new Map<string, Stream>();
/** How long a hidden tab keeps its streams open. */
const HIDDEN_CLOSE_MS = 5000;
let hiddenTimer: ReturnType<typeof setTimeout> | undefined;
let visibilityWatched = false;

function connect(stream: Stream): void {
  if (stream.source || stream.retry !== undefined) return;
  const source = new EventSource(stream.url);
  stream.source = source;
  source.addEventListener('open', () => {
    stream.failures = 0;
    // Every open refetches, the first included: the stream starts at the server's newest event
    // when it opens, so a change committed between the page's first load and this moment would
    // otherwise wait for the safety poll. One more request per page load buys that.
    for (const subscriber of [...stream.subscribers]) subscriber.onReopen();
  });
  source.addEventListener('error', () => {
    // A network blip: the browser reconnects by itself with Last-Event-ID. An HTTP error (a
    // proxy's 502, a 401): it gives up, so start a new stream later, from now on (the reopen
    // refetches, which covers the gap).
    if (source.readyState !== EventSource.CLOSED || stream.source !== source) return;
    source.close();
    stream.source = null;
    stream.failures += 1;
    const delay = Math.min(60_000, 1000 * 2 ** Math.min(stream.failures, 6));
    stream.retry = setTimeout(() => {
      stream.retry = undefined;
      if (document.visibilityState === 'visible' && stream.subscribers.size > 0) connect(stream);
    }, delay);
  });
  const dispatch = (message: MessageEvent<unknown>) => {
    const event = parseLiveEvent(message.data);
    if (event) for (const subscriber of [...stream.subscribers]) subscriber.onEvent(event);
  };
  for (const type of LIVE_EVENT_TYPES) source.addEventListener(type, dispatch);
  source.addEventListener('message', dispatch);
}

function disconnect(stream: Stream): void {
  stream.source?.close();
  stream.source = null;
  if (stream.retry !== undefined) clearTimeout(stream.retry);
  stream.retry = undefined;
}

function watchVisibility(): void {
  if (visibilityWatched) return;
  visibilityWatched = true;
  document.addEventListener('visibilitychange', () => {
    if (hiddenTimer !== undefined) clearTimeout(hiddenTimer);
    hiddenTimer = undefined;
    if (document.visibilityState === 'hidden') {
      hiddenTimer = setTimeout(() => streams.forEach(disconnect), HIDDEN_CLOSE_MS);
    } else {
      // A stream closed while hidden comes back as a reopen (its subscribers refetch).
      streams.forEach(connect);
    }
  });
}

function subscribe(filter: LiveFilter, subscriber: Subscriber): () => void {
  if (typeof EventSource === 'undefined') return () => undefined;
  watchVisibility();
  const url = liveUrl(filter);
  let stream = streams.get(url);
  if (!stream) {
    stream = { url, source: null, subscribers: new Set(), failures: 0, retry: undefined };
    streams.set(url, stream);
  }
  stream.subscribers.add(subscriber);
  connect(stream);
  if (document.visibilityState === 'hidden' && hiddenTimer === undefined) {
    // Opened in a background tab: it gets the same grace as a tab that was just hidden.
    hiddenTimer = setTimeout(() => streams.forEach(disconnect), HIDDEN_CLOSE_MS);
  }
  const subscribed = stream;
  return () => {
    subscribed.subscribers.delete(subscriber);
    if (subscribed.subscribers.size > 0) return;
    disconnect(subscribed);
    streams.delete(url);
  };
}

/** Calls `onEvent` for each event matching `filter` while `active`; `onReopen` after a gap. */
export function useLiveEvents(
  filter: LiveFilter,
  onEvent: (event: LiveEvent) => void,
  onReopen?: () => void,
  active = true,
): void {
  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;
  const onReopenRef = useRef(onReopen);
  onReopenRef.current = onReopen;
  const url = liveUrl(filter);
  useEffect(() => {
    if (!active) return;
    return subscribe(filter, {
      onEvent: (event) => onEventRef.current(event),
      onReopen: () => onReopenRef.current?.(),
    });
    // The URL stands for the filter.
  }, [url, active]);
}

export interface LiveRefreshOptions {
  filter?: LiveFilter;
  /** Whether an event changes what the page shows (default: every event of the filter). */
  relevant?: (event: LiveEvent) => boolean;
  /** The safety poll's period while the tab is visible; 0 for none. */
  safetyMs?: number;
  /** Off: no stream, no poll (for instance a deploy that has ended). */
  active?: boolean;
}

/** Keeps a view fresh: `refresh` on relevant events, on reopen, on becoming visible, and slowly. */
export function useLiveRefresh(refresh: () => void, options: LiveRefreshOptions = {}): void {
  const { filter = {}, relevant, safetyMs = 30_000, active = true } = options;
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;
  const relevantRef = useRef(relevant);
  relevantRef.current = relevant;
  const coalescer = useRef<Coalescer | null>(null);
  coalescer.current ??= createCoalescer(() => refreshRef.current());
  useEffect(() => () => coalescer.current?.cancel(), []);

  useLiveEvents(
    filter,
    (event) => {
      if (!relevantRef.current || relevantRef.current(event)) coalescer.current?.poke();
    },
    () => coalescer.current?.poke(),
    active,
  );

  useEffect(() => {
    if (!active) return;
    const onVisible = () => {
      if (document.visibilityState === 'visible') coalescer.current?.poke();
    };
    document.addEventListener('visibilitychange', onVisible);
    const timer =
      safetyMs > 0
        ? window.setInterval(() => {
            if (document.visibilityState === 'visible') coalescer.current?.poke();
          }, safetyMs)
        : undefined;
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      if (timer !== undefined) window.clearInterval(timer);
    };
  }, [active, safetyMs]);
}
