/**
 * A deploy's output: streamed live (SSE) or loaded (plain text), in ANSI colours, with line
 * numbers, arrival times on hover, follow mode, search, links to lines and a raw download.
 *
 * Only the rows in view are in the DOM (fixed row height, a spacer of the full height), the
 * text lives in a LineStore and is parsed for colours only when a row is shown, so a million
 * lines load and scroll without freezing the page.
 */

import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { advanceStyle, parseLine, spanLook, type Span, type Style } from './ansi';
import { formatLineHash, parseLineHash, type LineRange } from './hash';
import { Search } from './search';
import { JENY, LineStore, STDERR, STDOUT } from './store';
import './log.css';

export interface LogViewProps {
  /** The deploy whose output to show. */
  deployId: string;
  /** Is the deploy still running? Then the output streams live until it ends. Read on mount. */
  live: boolean;
  /** Called once with the finished deploy (the `end` event's JSON) when a live stream ends. */
  onEnd?: (deploy: unknown) => void;
}

/** Row height in px: the same as `--log-row` in log.css. */
const ROW = 18;
/** The spacer is never higher than this (Firefox caps element heights near 17.9M px, Chrome near
 * 33.5M); past it (833,333 rows), scroll positions are scaled. */
const MAX_PX = 15_000_000;
/** Rows rendered above and below the view. */
const OVERSCAN = 10;
/** Characters of one line that are shown (the download has them all). */
const MAX_CHARS = 20_000;
/** Text appended at once while loading (more is split, to keep tasks short). */
const APPEND_PIECE = 1 << 18;
/** Parsed rows kept for reuse. */
const CACHE_ROWS = 4000;

type Status = 'loading' | 'live' | 'reconnecting' | 'done' | 'error';

interface Parsed {
  spans: Span[];
  end: Style;
  more: number;
}

/** What the component keeps outside Preact's state: it changes too often to re-render on. */
interface Controller {
  store: LineStore;
  cache: Map<number, Parsed>;
  search: Search | null;
  current: number;
  follow: boolean;
  /** A line to scroll into view after the next render, or -1. */
  scrollTo: number;
  /** A linked line that has not arrived yet, or -1. */
  waitFor: number;
  anchor: number;
  frame: number;
  pump: number;
  topLine: number;
  /** The virtual offset shown at the top, and the scale, in the last render. */
  shownTop: number;
  shownScale: number;
}

function streamCode(stream: string): number {
  return stream === 'stderr' ? STDERR : stream === 'jeny' ? JENY : STDOUT;
}

/** RFC 3339 to ms; the server sends microseconds, which Date.parse may not take. */
function parseTime(at: string): number {
  return Date.parse(at.replace(/(\.\d{3})\d+/, '$1'));
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

async function problemText(response: Response): Promise<string> {
  try {
    const problem = (await response.json()) as { title?: string; detail?: string };
    return problem.detail ?? problem.title ?? response.statusText;
  } catch {
    return response.statusText || `HTTP ${response.status}`;
  }
}

/** A row's visible text, in its spans, with search matches marked. */
function renderText(spans: Span[], columns: number[], length: number, currentCol: number): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  let pos = 0;
  let m = 0;
  for (const span of spans) {
    const spanEnd = pos + span.text.length;
    const look = span.fg === -1 && span.bg === -1 && span.flags === 0 ? null : spanLook(span);
    let p = pos;
    while (p < spanEnd) {
      while (m < columns.length && (columns[m] as number) + length <= p) m++;
      const col = columns[m];
      const inMatch = col !== undefined && col <= p;
      const q = inMatch ? Math.min(spanEnd, col + length) : Math.min(spanEnd, col ?? spanEnd);
      const piece = span.text.slice(p - pos, q - pos);
      let node: ComponentChildren = look ? (
        <span class={look.className || undefined} style={look.style || undefined}>
          {piece}
        </span>
      ) : (
        piece
      );
      if (inMatch) node = <mark class={col === currentCol ? 'cur' : undefined}>{node}</mark>;
      out.push(node);
      p = q;
    }
    pos = spanEnd;
  }
  return out;
}

export function LogView(props: LogViewProps): JSX.Element {
  const { deployId } = props;
  const liveRef = useRef(props.live);
  liveRef.current = props.live;
  const onEndRef = useRef(props.onEnd);
  onEndRef.current = props.onEnd;

  const scrollRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const ctlRef = useRef<Controller | null>(null);
  if (!ctlRef.current) {
    ctlRef.current = {
      store: new LineStore(),
      cache: new Map(),
      search: null,
      current: -1,
      follow: props.live,
      scrollTo: -1,
      waitFor: -1,
      anchor: -1,
      frame: 0,
      pump: 0,
      topLine: 0,
      shownTop: 0,
      shownScale: 1,
    };
  }
  const ctl = ctlRef.current;

  const [, setTick] = useState(0);
  const [status, setStatus] = useState<Status>('loading');
  const [error, setError] = useState('');
  const [view, setView] = useState({ top: 0, height: 600 });
  const [follow, setFollowState] = useState(props.live);
  const [query, setQuery] = useState('');
  const [caseSensitive, setCaseSensitive] = useState(false);
  const [selected, setSelected] = useState<LineRange | null>(null);
  const [hover, setHover] = useState(-1);

  const redraw = () => {
    if (ctl.frame) return;
    ctl.frame = requestAnimationFrame(() => {
      ctl.frame = 0;
      setTick((t) => t + 1);
    });
  };

  const setFollow = (on: boolean) => {
    ctl.follow = on;
    setFollowState(on);
  };

  /** Searches on in slices of time while there are lines left to search. */
  const pumpSearch = () => {
    if (ctl.pump) return;
    const run = () => {
      ctl.pump = 0;
      const search = ctl.search;
      if (!search) return;
      const done = search.step(12);
      if (ctl.current < 0 && search.count > 0) {
        const after = search.firstAtOrAfter(ctl.topLine);
        if (after < search.count || done) {
          ctl.current = after < search.count ? after : 0;
          ctl.scrollTo = search.lines[ctl.current] as number;
          if (ctl.follow) setFollow(false);
        }
      }
      redraw();
      if (!done) ctl.pump = window.setTimeout(run, 0);
    };
    ctl.pump = window.setTimeout(run, 0);
  };

  /** New output arrived. */
  const changed = () => {
    const store = ctl.store;
    store.catchUpStyle();
    if (ctl.waitFor >= 0 && store.rows > ctl.waitFor) {
      ctl.scrollTo = ctl.waitFor;
      ctl.waitFor = -1;
      setFollow(false);
    }
    if (ctl.search && !ctl.search.done) pumpSearch();
    redraw();
  };

  // Load the output: live over SSE, or as plain text streamed in.
  useEffect(() => {
    const store = new LineStore();
    ctl.store = store;
    ctl.cache = new Map();
    if (ctl.search) ctl.search = new Search(store, ctl.search.query, ctl.search.caseSensitive);
    ctl.current = -1;
    setStatus('loading');
    setError('');
    const url = `/api/v1/deploys/${encodeURIComponent(deployId)}/output`;

    /** Streams the whole output as plain text into `into`, then ends it. */
    const loadText = async (into: LineStore, signal: AbortSignal) => {
      const response = await fetch(url, { signal, headers: { Accept: 'text/plain' } });
      if (!response.ok || !response.body) throw new Error(await problemText(response));
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let slice = performance.now();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        // Large reads go in pieces, and reads of buffered data resolve at once: let the page
        // breathe between them.
        for (let at = 0; at < text.length; at += APPEND_PIECE) {
          into.append(at === 0 && text.length <= APPEND_PIECE ? text : text.slice(at, at + APPEND_PIECE));
          if (into === ctl.store) changed();
          if (performance.now() - slice > 25) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            slice = performance.now();
          }
        }
      }
      into.append(decoder.decode());
      into.finish();
    };

    if (liveRef.current) {
      // A command may print faster than a page can show: the server then skips to the newest
      // output (a `skipped` event), and the whole output is loaded once the deploy ends.
      const source = new EventSource(`${url}?behind=skip`);
      const abort = new AbortController();
      let skipped = false;
      source.addEventListener('open', () => setStatus('live'));
      source.addEventListener('skipped', () => {
        skipped = true;
        const marker = '… output skipped here: it came faster than this page can show; all of it loads when the deploy ends\n';
        store.append(store.partial ? `\n${marker}` : marker, JENY, Date.now());
        changed();
      });
      source.addEventListener('output', (event) => {
        const batch = JSON.parse((event as MessageEvent<string>).data) as {
          chunks: { stream: string; at: string; text: string }[];
        };
        for (const chunk of batch.chunks) store.append(chunk.text, streamCode(chunk.stream), parseTime(chunk.at));
        changed();
      });
      source.addEventListener('end', (event) => {
        source.close();
        store.finish();
        let deploy: unknown = null;
        try {
          deploy = JSON.parse((event as MessageEvent<string>).data);
        } catch {
          // An end without a readable deploy still ends the stream.
        }
        onEndRef.current?.(deploy);
        if (!skipped) {
          setStatus('done');
          changed();
          return;
        }
        // Load all of it; the skipping view stays until it is in.
        setStatus('loading');
        const whole = new LineStore();
        loadText(whole, abort.signal)
          .then(() => {
            ctl.store = whole;
            ctl.cache = new Map();
            if (ctl.search) ctl.search = new Search(whole, ctl.search.query, ctl.search.caseSensitive);
            setStatus('done');
            changed();
          })
          .catch((reason: unknown) => {
            if (abort.signal.aborted) return;
            setStatus('error');
            setError(reason instanceof Error ? reason.message : String(reason));
          });
      });
      source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED) {
          setStatus('error');
          setError('The output stream could not be opened');
        } else {
          setStatus('reconnecting');
        }
      });
      return () => {
        source.close();
        abort.abort();
      };
    }

    const abort = new AbortController();
    void (async () => {
      await loadText(store, abort.signal);
      setStatus('done');
      changed();
    })().catch((reason: unknown) => {
      if (abort.signal.aborted) return;
      setStatus('error');
      setError(reason instanceof Error ? reason.message : String(reason));
    });
    return () => abort.abort();
  }, [deployId]);

  // Links to lines: the hash on load and whenever it changes.
  useEffect(() => {
    const fromHash = () => {
      const range = parseLineHash(location.hash);
      if (!range) return;
      setSelected(range);
      ctl.anchor = range.start;
      setFollow(false);
      if (ctl.store.rows >= range.start) ctl.scrollTo = range.start - 1;
      else ctl.waitFor = range.start - 1;
      redraw();
    };
    fromHash();
    window.addEventListener('hashchange', fromHash);
    return () => window.removeEventListener('hashchange', fromHash);
  }, [deployId]);

  /** Starts searching for the query in the box, unless that search is already on. */
  const startSearch = () => {
    const search = ctl.search;
    if (search ? search.query === query && search.caseSensitive === caseSensitive : !query) return;
    window.clearTimeout(ctl.pump);
    ctl.pump = 0;
    ctl.current = -1;
    ctl.search = query ? new Search(ctl.store, query, caseSensitive) : null;
    if (ctl.search) pumpSearch();
    redraw();
  };

  // Search: a new Search when the query changes (after a pause in typing, or on Enter).
  useEffect(() => {
    const timer = window.setTimeout(startSearch, query ? 120 : 0);
    return () => window.clearTimeout(timer);
  }, [query, caseSensitive]);

  // The view's height.
  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const measure = () => setView({ top: el.scrollTop, height: el.clientHeight });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => {
      observer.disconnect();
      cancelAnimationFrame(ctl.frame);
      window.clearTimeout(ctl.pump);
      ctl.frame = 0;
      ctl.pump = 0;
    };
  }, []);

  const store = ctl.store;
  const rows = store.rows;
  const height = Math.max(view.height, ROW);
  const virtual = rows * ROW;
  const physical = Math.min(virtual, MAX_PX);
  const scaled = virtual > physical && physical > height;

  /** Virtual px per physical px of scrolling. */
  const scale = scaled ? (virtual - height) / (physical - height) : 1;
  /** The virtual offset (px from the first row) shown at the top for a scrollTop. */
  const virtualTop = (top: number) => (scaled ? (top * (virtual - height)) / (physical - height) : top);
  /** The scrollTop that puts a virtual offset at the top. */
  const physicalTop = (v: number) => (scaled ? (v * (physical - height)) / (virtual - height) : v);

  // The rows in view. When output arrives past the height cap, the scale changes: the same rows
  // stay in view (the scroll position moves).
  let top = view.top;
  let v = virtualTop(top);
  const rescaled = scale !== ctl.shownScale && !ctl.follow && ctl.scrollTo < 0;
  if (rescaled) {
    v = ctl.shownTop;
    top = physicalTop(v);
  }
  ctl.shownScale = scale;
  ctl.shownTop = v;
  ctl.topLine = Math.floor(v / ROW);

  // After each render: scroll to a requested line, or stay at the bottom when following.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    if (ctl.scrollTo >= 0) {
      const line = ctl.scrollTo;
      ctl.scrollTo = -1;
      const target = Math.max(0, Math.min(line * ROW - (height - ROW) / 2, virtual - height));
      el.scrollTop = physicalTop(target);
      ctl.shownTop = target;
    } else if (ctl.follow) {
      el.scrollTop = el.scrollHeight;
    } else if (rescaled) {
      el.scrollTop = top;
    }
  });

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW / 2;
    if (atBottom !== ctl.follow && (atBottom || rows * ROW > el.clientHeight)) setFollow(atBottom);
    setView({ top: el.scrollTop, height: el.clientHeight });
  };

  const scrollToEnd = () => {
    setFollow(true);
    const el = scrollRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  };

  const goToMatch = (index: number) => {
    const search = ctl.search;
    if (!search || index < 0) return;
    ctl.current = index;
    ctl.scrollTo = search.lines[index] as number;
    setFollow(false);
    redraw();
  };

  const onKeyDown = (event: KeyboardEvent) => {
    const target = event.target as HTMLElement;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'f') {
      event.preventDefault();
      searchRef.current?.focus();
      searchRef.current?.select();
      return;
    }
    if (target !== scrollRef.current) return;
    const search = ctl.search;
    switch (event.key) {
      case 'End':
        event.preventDefault();
        scrollToEnd();
        break;
      case 'Home':
        event.preventDefault();
        setFollow(false);
        ctl.scrollTo = 0;
        redraw();
        break;
      case 'PageUp':
      case 'PageDown':
      case ' ': {
        // By pages of rows (scaled scrolling would skip rows with the browser's own paging).
        event.preventDefault();
        const el = scrollRef.current;
        if (!el) break;
        const up = event.key === 'PageUp' || (event.key === ' ' && event.shiftKey);
        const page = Math.max(ROW, (Math.floor(height / ROW) - 1) * ROW);
        const v = virtualTop(el.scrollTop) + (up ? -page : page);
        el.scrollTop = physicalTop(Math.max(0, Math.min(v, virtual - height)));
        if (up) setFollow(false);
        break;
      }
      case 'ArrowUp':
        setFollow(false);
        break;
      case 'n':
      case 'N':
        if (search) {
          event.preventDefault();
          goToMatch(event.key === 'n' ? search.next(ctl.current) : search.previous(ctl.current));
        }
        break;
      case '/':
        event.preventDefault();
        searchRef.current?.focus();
        break;
    }
  };

  const onSearchKey = (event: KeyboardEvent) => {
    const search = ctl.search;
    if (event.key === 'Enter') {
      event.preventDefault();
      if (!search || search.query !== query || search.caseSensitive !== caseSensitive) startSearch();
      else goToMatch(event.shiftKey ? search.previous(ctl.current) : search.next(ctl.current));
    } else if (event.key === 'Escape') {
      event.preventDefault();
      scrollRef.current?.focus();
    }
  };

  const onRowsClick = (event: MouseEvent) => {
    const link = (event.target as Element).closest<HTMLElement>('a.n');
    if (!link) return;
    event.preventDefault();
    const line = Number(link.dataset.line) + 1;
    const range: LineRange =
      event.shiftKey && ctl.anchor > 0
        ? { start: Math.min(ctl.anchor, line), end: Math.max(ctl.anchor, line) }
        : { start: line, end: line };
    if (!event.shiftKey) ctl.anchor = line;
    setSelected(range);
    setFollow(false);
    history.replaceState(history.state, '', `${location.pathname}${location.search}${formatLineHash(range)}`);
  };

  const first = Math.max(0, Math.floor(v / ROW) - OVERSCAN);
  const last = Math.min(rows, Math.ceil((v + height) / ROW) + OVERSCAN);
  const offset = top + first * ROW - v;
  const search = ctl.search;
  const current = search && ctl.current >= 0 && ctl.current < search.count ? ctl.current : -1;
  const currentLine = current >= 0 ? (search?.lines[current] as number) : -1;
  const currentCol = current >= 0 ? (search?.cols[current] as number) : -1;
  if (ctl.cache.size > CACHE_ROWS) ctl.cache.clear();

  const rowNodes: JSX.Element[] = [];
  let style: Style | null = null;
  for (let i = first; i < last; i++) {
    let parsed = i < store.count ? ctl.cache.get(i) : undefined;
    if (!parsed) {
      const start: Style = style ?? store.styleAt(i);
      const raw = store.line(i);
      const cut = raw.length > MAX_CHARS ? raw.slice(0, MAX_CHARS) : raw;
      const { spans, end } = parseLine(cut, start);
      if (cut !== raw) advanceStyle(end, raw, MAX_CHARS);
      parsed = { spans, end, more: raw.length - cut.length };
      if (i < store.count) ctl.cache.set(i, parsed);
    }
    style = parsed.end;
    const columns = search ? search.columnsOn(i) : [];
    const text = renderText(parsed.spans, columns, search?.length ?? 0, i === currentLine ? currentCol : -1);
    const isSelected = selected !== null && i + 1 >= selected.start && i + 1 <= selected.end;
    const kind = store.stream(i);
    rowNodes.push(
      <div key={i} class={`r s${kind}${isSelected ? ' sel' : ''}`}>
        <a class="n" href={`#L${i + 1}`} data-line={i}>
          {i + 1}
        </a>
        <span class="t">
          {text}
          {parsed.more > 0 && <span class="more"> … {parsed.more} more characters: download to see all</span>}
        </span>
      </div>,
    );
  }

  const hoverTime = hover >= 0 && hover < rows ? store.time(hover) : NaN;
  const digits = String(Math.max(rows, 1)).length;
  const matchText = !search
    ? ''
    : search.count === 0
      ? search.done
        ? 'No matches'
        : 'Searching…'
      : `${current + 1} of ${search.count}${search.done ? '' : '+'}`;
  const statusText =
    status === 'error'
      ? error
      : status === 'loading'
        ? 'Loading…'
        : status === 'reconnecting'
          ? 'Reconnecting…'
          : status === 'live'
            ? 'Live'
            : '';

  const onMouseMove = (event: MouseEvent) => {
    const el = scrollRef.current;
    if (!el || !store.hasTimes) return;
    const y = event.clientY - el.getBoundingClientRect().top;
    const line = Math.floor((virtualTop(el.scrollTop) + y) / ROW);
    if (line !== hover) setHover(line);
  };

  return (
    <div class="jeny-log" data-lines={rows} data-state={status} onKeyDown={onKeyDown}>
      <div class="bar">
        <input
          ref={searchRef}
          class="find"
          type="search"
          placeholder="Search the output"
          aria-label="Search the output"
          value={query}
          onInput={(event) => setQuery((event.target as HTMLInputElement).value)}
          onKeyDown={onSearchKey}
        />
        <span class="count" aria-live="polite">
          {matchText}
        </span>
        <button type="button" title="Previous match (Shift+Enter, N)" aria-label="Previous match" disabled={!search?.count} onClick={() => search && goToMatch(search.previous(ctl.current))}>
          ↑
        </button>
        <button type="button" title="Next match (Enter, n)" aria-label="Next match" disabled={!search?.count} onClick={() => search && goToMatch(search.next(ctl.current))}>
          ↓
        </button>
        <button
          type="button"
          title="Match case"
          aria-label="Match case"
          aria-pressed={caseSensitive}
          class={caseSensitive ? 'on' : undefined}
          onClick={() => setCaseSensitive(!caseSensitive)}
        >
          Aa
        </button>
        <span class="grow" />
        <span class={`status ${status}`}>{statusText}</span>
        <span class="lines">
          {rows.toLocaleString('en')} {rows === 1 ? 'line' : 'lines'}
        </span>
        <button
          type="button"
          class={follow ? 'on' : undefined}
          aria-pressed={follow}
          title="Follow the end of the output (End)"
          onClick={() => (follow ? setFollow(false) : scrollToEnd())}
        >
          Follow
        </button>
        <a class="download" href={`/api/v1/deploys/${encodeURIComponent(deployId)}/output`} download={`deploy-${deployId}.log`}>
          Download raw
        </a>
      </div>
      <div class="body">
        <div
          ref={scrollRef}
          class="scroll"
          tabIndex={0}
          role="region"
          aria-label="Deploy output"
          onScroll={onScroll}
          onWheel={(event) => {
            if (event.deltaY < 0 && ctl.follow) setFollow(false);
          }}
          onMouseMove={onMouseMove}
          onMouseLeave={() => setHover(-1)}
        >
          <div
            class="spacer"
            style={`height:${physical}px;width:calc(${digits + 2}ch + ${Math.min(store.maxLength, MAX_CHARS) + 2}ch);--gutter:${digits + 1}ch`}
          >
            <div class="rows" style={`transform:translateY(${offset}px)`} onClick={onRowsClick}>
              {rowNodes}
            </div>
          </div>
        </div>
        {!Number.isNaN(hoverTime) && (
          <time class="when" aria-hidden="true" style={`top:${hover * ROW - v}px`} dateTime={new Date(hoverTime).toISOString()}>
            {formatTime(hoverTime)}
          </time>
        )}
        {rows === 0 && status === 'done' && <p class="empty">No output.</p>}
      </div>
    </div>
  );
}
