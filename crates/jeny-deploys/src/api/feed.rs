//! Live output, read once per deploy and encoded once for all its viewers on this server.
//!
//! The first SSE viewer of a deploy starts its `Feed`: a task that follows the deploy's output in
//! the store from where it is now, encodes each new batch as an SSE message, and keeps the recent
//! ones in a ring for every viewer to send as they are. A viewer reads what came
//! before the feed started (or what it fell behind on) from the store itself, then follows the
//! ring. The feed ends with its last viewer, or with the deploy.
//!
//! Each ring entry knows the seq of the batch before it (`prev`), so a viewer at `cursor` can
//! continue from the ring exactly when an entry has `prev <= cursor < seq`; otherwise it is
//! behind the ring and reads the store. (Seqs can jump: past the output cap, old tail batches are
//! deleted.)

use crate::output::{OutputBatch, OutputChunk, read_after};
use crate::{Deploy, Links};
use bytes::Bytes;
use jeny_core::Timestamp;
use jeny_store::{Channel, Store, StoreError};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How much output a read takes from the store at once.
const READ_BYTES: i64 = 4 * 1024 * 1024;
/// The most encoded output a feed keeps for viewers that are slightly behind.
const RING_BYTES: usize = 48 * 1024 * 1024;
/// The most encoded output all the feeds of this server keep together: with many deploys watched
/// at once, each feed's ring shrinks to its share (viewers further behind read the store, a few
/// at a time), so 50 watched deploys take about as much memory as three.
pub(crate) const SERVER_RING_BYTES: usize = 128 * 1024 * 1024;
/// The most batches a viewer takes from the ring at once.
const READY_AT_ONCE: usize = 2;
/// How many viewers of this server read the store at once when behind their feed (each holds
/// about one batch, decoded and encoded, while it does): memory stays bounded however many
/// viewers fall behind.
const BEHIND_READERS: usize = 4;

/// How far a viewer that skips may fall behind the newest batch of its feed before it skips to
/// it: in the command's own time (`at`), or in the time its next batch has waited in the feed.
const SKIP_BEHIND_MICROS: i64 = 100_000;
const SKIP_WAITED: Duration = Duration::from_millis(100);

/// The most a viewer that skips gets of a batch: its last lines, a few screens of them (about
/// 160 lines of 100 characters). 100 viewers of a command printing 100 MB/s get 64 KiB tails
/// of 80 batches a second: 500 MB/s, lagging up to 380 ms on 2 cores; 16 KiB, up to 230 ms.
const TAIL_BYTES: usize = 16 * 1024;

/// One batch, encoded as an SSE message once a viewer needs it: the whole batch for viewers
/// that read everything, its tail for those that skip. Each is made once, by the first viewer
/// that asks, and shared: when every viewer skips, no whole batch is ever encoded.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub prev: i64,
    pub seq: i64,
    /// When its newest chunk was captured.
    pub at: Timestamp,
    /// When the feed took it in (this node's monotonic clock).
    pub received: Instant,
    /// More than `TAIL_BYTES`: a viewer that skips gets its tail only.
    pub large: bool,
    /// What it counts for in the ring: the batch, and as much again for its encoding.
    pub weight: usize,
    batch: OutputBatch,
    sse: OnceLock<Bytes>,
    tail: OnceLock<Bytes>,
}

impl Encoded {
    pub(crate) fn of(prev: i64, batch: OutputBatch) -> Encoded {
        let bytes = batch.byte_len();
        Encoded {
            prev,
            seq: batch.seq,
            at: batch
                .chunks
                .iter()
                .map(|chunk| chunk.at)
                .max()
                .unwrap_or(Timestamp::from_micros(0)),
            received: Instant::now(),
            large: bytes > TAIL_BYTES,
            weight: 2 * bytes + 256,
            batch,
            sse: OnceLock::new(),
            tail: OnceLock::new(),
        }
    }

    /// The whole batch as an SSE `output` event.
    pub(crate) fn sse(&self) -> Bytes {
        self.sse
            .get_or_init(|| Bytes::from(sse_of(&self.batch)))
            .clone()
    }

    /// Its last lines (at most `TAIL_BYTES`) as an SSE `output` event: the whole batch when it
    /// is that small.
    pub(crate) fn tail(&self) -> Bytes {
        if !self.large {
            return self.sse();
        }
        self.tail
            .get_or_init(|| Bytes::from(sse_of(&tail_of(&self.batch))))
            .clone()
    }
}

fn sse_of(batch: &OutputBatch) -> String {
    let event = super::output::OutputEvent::of(batch);
    let data = serde_json::to_string(&event).unwrap_or_default();
    format!("id: {}\nevent: output\ndata: {data}\n\n", batch.seq)
}

/// The last lines of a batch, at most `TAIL_BYTES`: from the first line that starts in its last
/// `TAIL_BYTES` (chunks are reads, not lines, so a line can run across them), or, when one line
/// is longer than that, its end (never inside a UTF-8 character).
fn tail_of(batch: &OutputBatch) -> OutputBatch {
    let total = batch.byte_len();
    let mut skip = total.saturating_sub(TAIL_BYTES);
    // to the next line start, if there is one before the end
    let mut seen = 0;
    let mut line_start = None;
    for chunk in &batch.chunks {
        let end = seen + chunk.bytes.len();
        if end > skip.saturating_sub(1) && line_start.is_none() {
            let from = skip.saturating_sub(1).max(seen) - seen;
            if skip == 0 {
                line_start = Some(0);
            } else if let Some(newline) = chunk.bytes[from..].iter().position(|b| *b == b'\n') {
                line_start = Some(seen + from + newline + 1);
            }
        }
        seen = end;
    }
    if let Some(start) = line_start.filter(|start| *start < total) {
        skip = start;
    }
    let mut chunks = Vec::new();
    let mut seen = 0;
    for chunk in &batch.chunks {
        let end = seen + chunk.bytes.len();
        if end > skip {
            let mut from = skip.saturating_sub(seen);
            while from < chunk.bytes.len() && (chunk.bytes[from] & 0xC0) == 0x80 {
                from += 1;
            }
            if from < chunk.bytes.len() {
                chunks.push(OutputChunk {
                    stream: chunk.stream,
                    at: chunk.at,
                    bytes: chunk.bytes[from..].to_vec(),
                });
            }
        }
        seen = end;
    }
    OutputBatch {
        seq: batch.seq,
        chunks,
    }
}

#[derive(Debug, Default)]
struct FeedState {
    /// The seq the feed started after: older output is read from the store.
    start: i64,
    batches: VecDeque<Arc<Encoded>>,
    bytes: usize,
    /// The finished deploy, once all its output is in the ring.
    end: Option<Arc<Deploy>>,
    /// The feed stopped without reaching the end (shutdown, the deploy is gone).
    stopped: bool,
}

/// The live output of one deploy on this server.
#[derive(Debug)]
pub(crate) struct Feed {
    pub id: String,
    state: Mutex<FeedState>,
    changed: tokio::sync::watch::Sender<u64>,
}

/// Where a viewer at `cursor` stands against a feed.
pub(crate) enum Next {
    /// Batches to send, from the ring.
    Ready(Vec<Arc<Encoded>>),
    /// Behind the ring: read the store after `cursor`. When the store has nothing there (the
    /// rows were removed past the cap), continue from `until`.
    Behind {
        until: i64,
    },
    /// Far behind the newest batch, for a viewer that skips (`?behind=skip`): send the newest
    /// batch's tail and continue after it (the batches between are not sent).
    Skip(Arc<Encoded>),
    /// Up to date: wait for more.
    Wait,
    /// The deploy ended and the viewer has all of it.
    End(Arc<Deploy>),
    Stopped,
}

impl Feed {
    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// What a viewer at `cursor` does next. One that `skip`s jumps to the newest batch when the
    /// next one it would get is more than `SKIP_BEHIND_MICROS` older or has waited in the ring
    /// longer than `SKIP_WAITED`, or was already dropped from the ring; what came before the feed started (the history of a deploy opened late) is
    /// always read.
    pub(crate) fn next(&self, cursor: i64, skip: bool) -> Next {
        let state = self.lock();
        if cursor < state.start {
            return Next::Behind { until: state.start };
        }
        let from = state.batches.partition_point(|batch| batch.seq <= cursor);
        if skip
            && let (Some(first), Some(newest)) = (state.batches.get(from), state.batches.back())
            && first.seq != newest.seq
            && (first.prev > cursor
                || newest.at.as_micros() - first.at.as_micros() > SKIP_BEHIND_MICROS
                || first.received.elapsed() > SKIP_WAITED)
        {
            return Next::Skip(newest.clone());
        }
        match state.batches.get(from) {
            // A few at a time: a slow viewer then holds on to little of what the ring dropped.
            // One at a time for a viewer that skips: each is checked against the newest.
            Some(first) if first.prev <= cursor => Next::Ready(
                state
                    .batches
                    .range(from..)
                    .take(if skip { 1 } else { READY_AT_ONCE })
                    .cloned()
                    .collect(),
            ),
            Some(first) => Next::Behind { until: first.prev },
            None => match &state.end {
                Some(deploy) => Next::End(deploy.clone()),
                None if state.stopped => Next::Stopped,
                None => Next::Wait,
            },
        }
    }
}

/// The feeds of this server, by deploy.
#[derive(Debug)]
pub(crate) struct Hub {
    feeds: Mutex<HashMap<String, Weak<Feed>>>,
    /// Feeds following a deploy right now: they share `SERVER_RING_BYTES`.
    live_feeds: Arc<std::sync::atomic::AtomicUsize>,
    /// Permits to read the store for a viewer that is behind its feed.
    pub(crate) behind_readers: Arc<tokio::sync::Semaphore>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub {
            feeds: Mutex::default(),
            live_feeds: Arc::default(),
            behind_readers: Arc::new(tokio::sync::Semaphore::new(BEHIND_READERS)),
        }
    }
}

impl Hub {
    /// The deploy's feed, started if no viewer has it yet.
    pub(crate) async fn feed(
        &self,
        store: &Store,
        links: &Links,
        shutdown: &CancellationToken,
        id: &str,
    ) -> Result<Arc<Feed>, StoreError> {
        if let Some(feed) = self.existing(id) {
            return Ok(feed);
        }
        let start: i64 = jeny_store::sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM deploy_output WHERE deploy_id = $1",
        )
        .bind(id)
        .fetch_one(store.reader())
        .await?;
        let mut feeds = self
            .feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        feeds.retain(|_, feed| feed.strong_count() > 0);
        if let Some(feed) = feeds.get(id).and_then(Weak::upgrade) {
            return Ok(feed);
        }
        let feed = Arc::new(Feed {
            id: id.to_owned(),
            state: Mutex::new(FeedState {
                start,
                ..FeedState::default()
            }),
            changed: tokio::sync::watch::channel(0).0,
        });
        feeds.insert(id.to_owned(), Arc::downgrade(&feed));
        tokio::spawn(follow(
            Arc::downgrade(&feed),
            store.clone(),
            links.clone(),
            shutdown.clone(),
            start,
            LiveFeed::new(self.live_feeds.clone()),
        ));
        Ok(feed)
    }

    fn existing(&self, id: &str) -> Option<Arc<Feed>> {
        self.feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .and_then(Weak::upgrade)
    }
}

/// Counts a following feed for as long as it lives.
struct LiveFeed(Arc<std::sync::atomic::AtomicUsize>);

impl LiveFeed {
    fn new(count: Arc<std::sync::atomic::AtomicUsize>) -> LiveFeed {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        LiveFeed(count)
    }

    /// The ring bytes this feed may keep: its share of the server's, at most `RING_BYTES`.
    fn ring_bytes(&self) -> usize {
        ring_share(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A feed's ring when `feeds` feeds follow deploys at once.
fn ring_share(feeds: usize) -> usize {
    (SERVER_RING_BYTES / feeds.max(1)).min(RING_BYTES)
}

/// Drops the oldest batches while the ring holds more than `limit` bytes (always keeping the
/// newest batch, which viewers that are up to date need).
fn evict(state: &mut FeedState, limit: usize) {
    while state.bytes > limit && state.batches.len() > 1 {
        if let Some(old) = state.batches.pop_front() {
            state.bytes -= old.weight;
        }
    }
}

/// The feed's task: reads new batches once for every viewer, until the deploy ends or the last
/// viewer leaves. Status is read before output: a deploy seen finished has all its output
/// stored, so an empty read after that is the end.
async fn follow(
    weak: Weak<Feed>,
    store: Store,
    links: Links,
    shutdown: CancellationToken,
    start: i64,
    live: LiveFeed,
) {
    let _close = store.follow_closely();
    let mut wake = store.subscribe(Channel::Deploys);
    let Some(id) = weak.upgrade().map(|feed| feed.id.clone()) else {
        return;
    };
    let mut output_wake = store.subscribe_key(Channel::DeployOutput, &id);
    let mut after = start;
    loop {
        let Some(feed) = weak.upgrade() else { return };
        wake.borrow_and_update();
        output_wake.borrow_and_update();
        let deploy = crate::get_deploy(&store, &links, &feed.id).await;
        let read = read_after(&store, &feed.id, after, READ_BYTES).await;
        match (deploy, read) {
            (Ok(_), Ok(batches)) if !batches.is_empty() => {
                let mut prev = after;
                let encoded: Vec<Arc<Encoded>> = batches
                    .into_iter()
                    .map(|batch| {
                        let seq = batch.seq;
                        let encoded = Arc::new(Encoded::of(prev, batch));
                        prev = seq;
                        encoded
                    })
                    .collect();
                after = prev;
                let mut state = feed.lock();
                for batch in encoded {
                    state.bytes += batch.weight;
                    state.batches.push_back(batch);
                }
                evict(&mut state, live.ring_bytes());
                drop(state);
                feed.changed.send_modify(|n| *n = n.wrapping_add(1));
                continue;
            }
            (Ok(deploy), Ok(_)) if deploy.status.is_finished() => {
                feed.lock().end = Some(Arc::new(deploy));
                feed.changed.send_modify(|n| *n = n.wrapping_add(1));
                return;
            }
            (Ok(_), Ok(_)) => {}
            (Err(error), _) => {
                tracing::debug!(%error, "the output feed cannot read its deploy");
                feed.lock().stopped = true;
                feed.changed.send_modify(|n| *n = n.wrapping_add(1));
                return;
            }
            (_, Err(error)) => {
                tracing::debug!(%error, "the output feed cannot read, retrying");
                drop(feed);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        drop(feed);
        tokio::select! {
            _ = wake.changed() => {}
            _ = output_wake.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.cancelled() => {
                if let Some(feed) = weak.upgrade() {
                    feed.lock().stopped = true;
                    feed.changed.send_modify(|n| *n = n.wrapping_add(1));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Encoded, Feed, FeedState, Next, RING_BYTES, SERVER_RING_BYTES, evict, ring_share};
    use crate::OutputStream;
    use crate::output::{OutputBatch, OutputChunk};
    use jeny_core::Timestamp;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Batch `seq` after `prev`: `bytes` bytes of stdout captured at `at_micros`.
    fn encoded(prev: i64, seq: i64, at_micros: i64, bytes: usize) -> Encoded {
        Encoded::of(
            prev,
            OutputBatch {
                seq,
                chunks: vec![OutputChunk {
                    stream: OutputStream::Stdout,
                    at: Timestamp::from_micros(at_micros),
                    bytes: vec![b'x'; bytes],
                }],
            },
        )
    }

    /// A feed that started after seq `start` and holds `seqs` (each after the one before it),
    /// batch `seq` captured at `seq` × 50 ms.
    fn feed_of(start: i64, seqs: &[i64]) -> Feed {
        let mut state = FeedState {
            start,
            ..FeedState::default()
        };
        let mut prev = start;
        for &seq in seqs {
            state
                .batches
                .push_back(Arc::new(encoded(prev, seq, seq * 50_000, 1)));
            prev = seq;
        }
        Feed {
            id: "d".to_owned(),
            state: Mutex::new(state),
            changed: tokio::sync::watch::channel(0).0,
        }
    }

    fn ready(next: Next) -> Vec<i64> {
        match next {
            Next::Ready(batches) => batches.iter().map(|batch| batch.seq).collect(),
            Next::Behind { until } => vec![-1, until],
            Next::Skip(newest) => vec![-2, newest.seq],
            Next::Wait => vec![-3],
            Next::End(_) | Next::Stopped => vec![-4],
        }
    }

    #[test]
    fn a_viewer_that_skips_jumps_to_the_newest_batch_only_when_far_behind() {
        // batches 11..=14, 50 ms apart: 14 is 150 ms after 11
        let feed = feed_of(10, &[11, 12, 13, 14]);
        // A viewer that reads everything gets every batch, a few at a time.
        assert_eq!(ready(feed.next(10, false)), vec![11, 12]);
        // One that skips: 150 ms behind, so on to the newest (after 13).
        assert_eq!(ready(feed.next(10, true)), vec![-2, 14]);
        assert_eq!(ready(feed.next(13, true)), vec![14]);
        // 100 ms behind or less: no skip, one batch at a time.
        assert_eq!(ready(feed.next(11, true)), vec![12]);
        assert_eq!(ready(feed.next(12, true)), vec![13]);
        assert_eq!(ready(feed.next(14, true)), vec![-3]);
        // The history before the feed started is read, never skipped.
        assert_eq!(ready(feed.next(3, true)), vec![-1, 10]);
        // Behind what the ring kept: a skipping viewer goes to the newest, the others read.
        let evicted = {
            let feed = feed_of(10, &[11, 12, 13, 14]);
            feed.lock().batches.pop_front();
            feed
        };
        assert_eq!(ready(evicted.next(10, false)), vec![-1, 11]);
        assert_eq!(ready(evicted.next(10, true)), vec![-2, 14]);
        // A batch that waited in the ring past SKIP_WAITED (the viewer could not take it in
        // time, whatever the command's clock says) is skipped too.
        let waited = feed_of(10, &[11, 12]);
        {
            let mut state = waited.lock();
            state.batches.pop_front();
            let mut old = encoded(10, 11, 12 * 50_000, 1);
            old.received = Instant::now()
                .checked_sub(Duration::from_millis(150))
                .unwrap();
            state.batches.push_front(Arc::new(old));
        }
        assert_eq!(ready(waited.next(10, false)), vec![11, 12]);
        assert_eq!(ready(waited.next(10, true)), vec![-2, 12]);
        assert_eq!(ready(waited.next(11, true)), vec![12]);
    }

    #[test]
    fn encodings_are_made_when_asked_and_a_small_batch_is_its_own_tail() {
        use super::TAIL_BYTES;
        let small = encoded(0, 1, 5, 10);
        assert!(!small.large);
        assert_eq!(small.tail(), small.sse());
        assert!(
            small
                .sse()
                .starts_with(b"id: 1\nevent: output\ndata: {\"seq\":1,")
        );
        let large = encoded(1, 2, 5, TAIL_BYTES + 1);
        assert!(large.large);
        assert!(large.tail().len() < large.sse().len());
        assert!(large.sse().len() > TAIL_BYTES);
    }

    #[test]
    fn the_tail_of_a_large_batch_is_its_last_whole_lines() {
        use super::{TAIL_BYTES, tail_of};
        let chunk = |stream, text: String| OutputChunk {
            stream,
            at: Timestamp::from_micros(1),
            bytes: text.into_bytes(),
        };
        let lines: String = (0..20_000).map(|n| format!("line {n:05}\n")).collect();
        let batch = OutputBatch {
            seq: 7,
            chunks: vec![
                chunk(OutputStream::Stdout, lines.clone()),
                chunk(OutputStream::Stderr, "é warning\n".to_owned()),
            ],
        };
        let tail = tail_of(&batch);
        assert_eq!(tail.seq, 7);
        assert!(tail.byte_len() <= TAIL_BYTES);
        assert_eq!(tail.chunks.len(), 2, "both streams' last pieces");
        assert_eq!(tail.chunks[1].bytes, "é warning\n".as_bytes());
        let kept = String::from_utf8(tail.chunks[0].bytes.clone()).unwrap();
        assert!(
            kept.starts_with("line "),
            "starts at a line: {}",
            &kept[..20]
        );
        assert!(lines.ends_with(&kept));
        assert!(kept.len() > TAIL_BYTES - 32, "keeps as much as fits");
        // a line that runs across chunks is not cut: the tail starts at the next line
        let across = OutputBatch {
            seq: 9,
            chunks: vec![
                chunk(OutputStream::Stdout, "a".repeat(70_000)),
                chunk(OutputStream::Stdout, "bbb\nccc\n".to_owned()),
            ],
        };
        let tail = tail_of(&across);
        assert_eq!(tail.chunks.len(), 1);
        assert_eq!(tail.chunks[0].bytes, b"ccc\n");
        // one huge line: its end, never inside a character
        let long = OutputBatch {
            seq: 8,
            chunks: vec![chunk(OutputStream::Stdout, "é".repeat(50_000))],
        };
        let tail = tail_of(&long);
        assert!(String::from_utf8(tail.chunks[0].bytes.clone()).is_ok());
        assert!(tail.byte_len() <= TAIL_BYTES);
    }

    #[test]
    fn feeds_share_the_servers_ring_bytes() {
        assert_eq!(ring_share(1), RING_BYTES);
        assert_eq!(ring_share(0), RING_BYTES);
        for feeds in [2, 3, 10, 50, 1000] {
            assert!(
                feeds * ring_share(feeds) <= SERVER_RING_BYTES.max(RING_BYTES),
                "{feeds} feeds may keep {} bytes",
                feeds * ring_share(feeds)
            );
        }
        assert_eq!(ring_share(50), SERVER_RING_BYTES / 50);
    }

    #[test]
    fn a_ring_over_its_share_drops_its_oldest_batches_but_keeps_the_newest() {
        let mut state = FeedState::default();
        for seq in 1..=10 {
            let batch = encoded(seq - 1, seq, seq, 372);
            assert_eq!(batch.weight, 1000);
            state.bytes += batch.weight;
            state.batches.push_back(Arc::new(batch));
        }
        evict(&mut state, 3500);
        assert_eq!(state.bytes, 3000);
        assert_eq!(state.batches.front().map(|batch| batch.seq), Some(8));
        evict(&mut state, 10);
        assert_eq!(state.batches.len(), 1, "the newest batch stays");
        assert_eq!(state.batches.back().map(|batch| batch.seq), Some(10));
    }
}
