//! The embedded metrics store: jeny's own time-series engine, in its own files in the data dir
//! (points never pass through the main store's writer, DESIGN.md decision 10). Chosen by
//! measurement against tsink: `docs/performance.md`, "Metrics engine choice".
//!
//! - A **series** is a database (a project), a measurement, its sorted tags and one field; the
//!   catalog (`catalog.rs`, `series.dat`) numbers them and indexes them by tag.
//! - A **write** is checked as InfluxDB 1.x checks it (a field's first type wins, the `time`
//!   key rules, the series limit), appended to the write-ahead log (`wal.rs`) and fsynced before
//!   it is acknowledged. Writers that arrive while a sync runs share the next one (group commit).
//!   Then its points go to the **heads**, per-series columns in memory; the same series and time
//!   keeps the last value written.
//! - A **flush** (on a background thread, when the log passes `flush_wal_bytes` or its oldest
//!   point `flush_after`) compresses the heads into blocks (`block.rs`) in `blocks.redb`, keyed
//!   (day, series, flush number), and deletes the log segments they covered.
//! - A **compaction** (once a day has ended and `compact_grace` has passed) merges a day's blocks
//!   of a series into one, later flushes winning, and writes its 5-minute and 1-hour rollups
//!   beside it.
//! - A **read** merges blocks, the heads being flushed and the heads, by time, the latest write
//!   winning; an aggregation over whole buckets reads the coarsest rollup that serves its
//!   interval where a day has one.
//! - **Retention** (`Retention`, per database) deletes whole days of raw blocks, 5-minute and
//!   1-hour rollups once they are older than each resolution keeps; a write older than the raw
//!   retention is refused as InfluxDB refuses it (`points beyond retention policy`).
//!
//! Restarting loads the catalog and replays the log into the heads. The background thread
//! sleeps until a flush, a compaction or an expiry is due: an idle store does nothing
//! (decision 11).

mod block;
mod catalog;
pub(crate) mod wal;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::line_protocol::{FieldValue, Point};
pub use block::{
    Bucket, Corrupt, HOUR_NS, ROLLUP_NS, Values, coarsen, floor_to, next_day, rollup, rollup_at,
};
use catalog::Catalog;
use wal::Wal;

/// One UTC day in nanoseconds: a block's span.
pub const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// (day, series, flush number) → a block
const BLOCKS: TableDefinition<(i64, u32, u64), &[u8]> = TableDefinition::new("blocks");
/// (day, series) → the day's 5-minute rollup, written by compaction
const ROLLUPS: TableDefinition<(i64, u32), &[u8]> = TableDefinition::new("rollups");
/// (day, series) → the day's 1-hour rollup, written by compaction
const HOURLY: TableDefinition<(i64, u32), &[u8]> = TableDefinition::new("hourly");
/// (day, series) → () for each day with blocks not yet compacted
const PENDING: TableDefinition<(i64, u32), ()> = TableDefinition::new("pending");
/// counters: "flush" is the next flush number
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// A field's type, fixed by its first write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FieldType {
    Float = 0,
    Integer = 1,
    Unsigned = 2,
    String = 3,
    Boolean = 4,
}

impl FieldType {
    fn from_u8(b: u8) -> Option<FieldType> {
        Some(match b {
            0 => FieldType::Float,
            1 => FieldType::Integer,
            2 => FieldType::Unsigned,
            3 => FieldType::String,
            4 => FieldType::Boolean,
            _ => return None,
        })
    }

    /// The type of a value.
    pub fn of(v: &FieldValue) -> FieldType {
        match v {
            FieldValue::Float(_) => FieldType::Float,
            FieldValue::Integer(_) => FieldType::Integer,
            FieldValue::Unsigned(_) => FieldType::Unsigned,
            FieldValue::String(_) => FieldType::String,
            FieldValue::Boolean(_) => FieldType::Boolean,
        }
    }

    /// The name InfluxDB gives it (`SHOW FIELD KEYS`, type conflicts).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::Unsigned => "unsigned",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
        }
    }

    /// Whether values of this type can be aggregated as numbers.
    pub fn is_numeric(self) -> bool {
        !matches!(self, FieldType::String)
    }
}

/// A value as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bits(u64),
    Text(Box<str>),
}

impl Value {
    fn of(v: &FieldValue) -> Value {
        match v {
            FieldValue::Float(f) => Value::Bits(f.to_bits()),
            FieldValue::Integer(i) => Value::Bits(*i as u64),
            FieldValue::Unsigned(u) => Value::Bits(*u),
            FieldValue::Boolean(b) => Value::Bits(u64::from(*b)),
            FieldValue::String(s) => Value::Text(s.as_str().into()),
        }
    }

    /// The value typed back.
    pub fn typed(&self, ty: FieldType) -> FieldValue {
        match (self, ty) {
            (Value::Text(s), _) => FieldValue::String(s.to_string()),
            (Value::Bits(b), FieldType::Float) => FieldValue::Float(f64::from_bits(*b)),
            (Value::Bits(b), FieldType::Integer) => FieldValue::Integer(*b as i64),
            (Value::Bits(b), FieldType::Unsigned) => FieldValue::Unsigned(*b),
            (Value::Bits(b), FieldType::Boolean) => FieldValue::Boolean(*b != 0),
            (Value::Bits(_), FieldType::String) => FieldValue::String(String::new()),
        }
    }
}

/// The store's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Flush the heads when the log holds this many bytes.
    pub flush_wal_bytes: u64,
    /// Flush the heads when their oldest point was written this long ago.
    pub flush_after: Duration,
    /// Compact a day this long after it ended (late points still arrive).
    pub compact_grace: Duration,
    /// A database refuses new series past this many.
    pub max_series_per_database: u64,
    /// Run flushes, compactions and expiries on a background thread (tests call them instead).
    pub background: bool,
    /// How long each database keeps each resolution (`Store::set_retention` changes it).
    pub retention: Retentions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flush_wal_bytes: 64 << 20,
            flush_after: Duration::from_secs(3600),
            compact_grace: Duration::from_secs(3600),
            max_series_per_database: 100_000,
            background: true,
            retention: Retentions::default(),
        }
    }
}

/// How long a database keeps its points and rollups, in whole days; `None` keeps them forever
/// (the default, as InfluxDB's `autogen`; jeny's server sets its own defaults). A day goes once
/// all of it is older than that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub raw_days: Option<u32>,
    pub rollup_5m_days: Option<u32>,
    pub rollup_1h_days: Option<u32>,
}

/// The three resolutions a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Raw,
    FiveMinutes,
    Hour,
}

const TIERS: [Tier; 3] = [Tier::Raw, Tier::FiveMinutes, Tier::Hour];

impl Retention {
    fn days(&self, tier: Tier) -> Option<u32> {
        match tier {
            Tier::Raw => self.raw_days,
            Tier::FiveMinutes => self.rollup_5m_days,
            Tier::Hour => self.rollup_1h_days,
        }
    }

    /// The start of the oldest day `tier` keeps at `now` (every earlier day is gone).
    fn keeps_from(&self, tier: Tier, now: i64) -> Option<i64> {
        let days = self.days(tier)?;
        Some(floor_to(
            now.saturating_sub(i64::from(days).saturating_mul(DAY_NS)),
            DAY_NS,
        ))
    }

    /// The earliest time a write may carry at `now`: InfluxDB's shard groups end with their
    /// retention, so a point older than the raw retention has nowhere to go.
    fn writes_from(&self, now: i64) -> Option<i64> {
        self.raw_days
            .map(|days| now.saturating_sub(i64::from(days).saturating_mul(DAY_NS)))
    }
}

/// Retention for every database: a default, and the databases that differ from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retentions {
    pub default: Retention,
    pub databases: HashMap<String, Retention>,
}

impl Retentions {
    pub fn of(&self, db: &str) -> Retention {
        self.databases.get(db).copied().unwrap_or(self.default)
    }

    /// The shortest time any database keeps `tier`.
    fn shortest(&self, tier: Tier) -> Option<u32> {
        std::iter::once(&self.default)
            .chain(self.databases.values())
            .filter_map(|r| r.days(tier))
            .min()
    }
}

/// What an expiry deleted: (day, series) pieces of each resolution.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub raw: u64,
    pub rollups_5m: u64,
    pub rollups_1h: u64,
}

/// What the store cannot do: its files cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the metrics store cannot write to its files: {0}")]
    Io(#[from] io::Error),
    #[error("the metrics store's block file: {0}")]
    Blocks(String),
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    #[error(
        "the metrics store stopped writing after its log could not be synced ({0}); restart jeny once the disk is fixed"
    )]
    Failed(String),
}

impl StoreError {
    fn blocks(e: impl std::fmt::Display) -> StoreError {
        StoreError::Blocks(e.to_string())
    }
}

/// What a write kept and refused, for an answer in InfluxDB's words.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Written {
    /// points stored
    pub points: usize,
    /// points refused by the write path (not the parser)
    pub dropped: usize,
    /// why, as InfluxDB says it: `partial write: <reason> dropped=<n>` is the answer
    pub reason: Option<String>,
    /// one new field met with two types in one write: InfluxDB refuses the whole write with
    /// `field type conflict`, and so does the store (the field keeps the type met first)
    pub refused_whole: bool,
}

/// Which series a query keeps, by their tags (sorted by key).
pub type TagFilter<'a> = dyn Fn(&[(String, String)]) -> bool + 'a;

/// One series as a query sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    pub id: u32,
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub field: String,
    pub ty: FieldType,
}

/// A series' points in a time range, sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    pub ty: FieldType,
    pub times: Vec<i64>,
    pub values: Values,
}

/// A series' points of one day still in memory.
#[derive(Debug, Clone)]
struct Chunk {
    day: i64,
    times: Vec<i64>,
    values: Values,
}

impl Chunk {
    /// Puts a point in time order; the same time keeps the last value.
    fn put(&mut self, t: i64, v: Value) {
        let at = match self.times.last() {
            Some(&last) if last < t => None,
            None => None,
            Some(_) => Some(self.times.binary_search(&t)),
        };
        match (at, &mut self.values, v) {
            (None, Values::Bits(vs), Value::Bits(b)) => {
                self.times.push(t);
                vs.push(b)
            }
            (None, Values::Text(vs), Value::Text(s)) => {
                self.times.push(t);
                vs.push(s)
            }
            (Some(Ok(i)), Values::Bits(vs), Value::Bits(b)) => vs[i] = b,
            (Some(Ok(i)), Values::Text(vs), Value::Text(s)) => vs[i] = s,
            (Some(Err(i)), Values::Bits(vs), Value::Bits(b)) => {
                self.times.insert(i, t);
                vs.insert(i, b)
            }
            (Some(Err(i)), Values::Text(vs), Value::Text(s)) => {
                self.times.insert(i, t);
                vs.insert(i, s)
            }
            // the catalog fixed the series' type: a value of another kind never reaches it
            _ => {}
        }
    }
}

/// The heads: each series' chunks in memory, and the chunks a running flush is writing.
#[derive(Default)]
struct Heads {
    series: Vec<Vec<Chunk>>,
    /// series with chunks, for the flush
    dirty: Vec<u32>,
    flushing: Option<Arc<HashMap<u32, Vec<Chunk>>>>,
    /// when the oldest unflushed point was written
    oldest: Option<Instant>,
}

impl Heads {
    fn put(&mut self, sid: u32, ty: FieldType, t: i64, v: Value) {
        let i = sid as usize;
        if self.series.len() <= i {
            self.series.resize_with(i + 1, Vec::new);
        }
        let chunks = &mut self.series[i];
        if chunks.is_empty() {
            self.dirty.push(sid);
        }
        let day = floor_to(t, DAY_NS);
        let chunk = match chunks.iter().position(|c| c.day == day) {
            Some(p) => &mut chunks[p],
            None => {
                chunks.push(Chunk {
                    day,
                    times: Vec::new(),
                    values: Values::empty(ty),
                });
                chunks.last_mut().expect("just pushed")
            }
        };
        chunk.put(t, v);
    }
}

/// One waiting write in a group commit.
type Slot = Arc<OnceLock<Result<(), CommitFailure>>>;

/// Why a group's commit failed: its append (cut back, the store goes on) or a sync (the store
/// stops writing until a restart).
#[derive(Debug, Clone)]
enum CommitFailure {
    Write(io::ErrorKind, String),
    Failed(String),
}

impl From<CommitFailure> for StoreError {
    fn from(f: CommitFailure) -> StoreError {
        match f {
            CommitFailure::Write(kind, why) => StoreError::Io(io::Error::new(kind, why)),
            CommitFailure::Failed(why) => StoreError::Failed(why),
        }
    }
}

/// Writes waiting for the next sync, and who is syncing.
#[derive(Default)]
struct Queue {
    records: Vec<u8>,
    entries: Vec<(u32, FieldType, i64, Value)>,
    slots: Vec<Slot>,
    leader: bool,
}

struct Inner {
    dir: PathBuf,
    options: Options,
    blocks: redb::Database,
    catalog: RwLock<Catalog>,
    queue: Mutex<Queue>,
    committed: Condvar,
    /// the log; held by the write leader from append to heads, and by a flush to cut a segment
    wal: Mutex<Wal>,
    heads: Mutex<Heads>,
    /// a sync failed: the log's state on disk is unknown, writes stop until a restart
    failed: OnceLock<String>,
    /// one flush or compaction at a time
    maintenance: Mutex<()>,
    /// the earliest day with blocks not compacted
    pending_day: Mutex<Option<i64>>,
    /// the first and last day with blocks: reads over open ranges stop there
    block_days: Mutex<Option<(i64, i64)>>,
    wake: Mutex<Option<mpsc::Sender<()>>>,
    retention: RwLock<Retentions>,
    /// the oldest day each resolution holds (raw, 5 minutes, 1 hour), for the next expiry
    oldest_days: Mutex<[Option<i64>; 3]>,
    /// when the last expiry ran: the next waits at least `EXPIRY_PAUSE` after it
    expired_at: Mutex<Option<Instant>>,
    /// the last day with a rollup: reads of rollups over open ranges stop there
    last_rollup_day: Mutex<Option<i64>>,
}

/// The least time between two expiries (a day is the unit, so an hour late is nothing).
const EXPIRY_PAUSE: Duration = Duration::from_secs(3600);

/// The embedded store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    _background: Option<Arc<Background>>,
}

struct Background {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic elsewhere must not stop the store: its data is consistent between statements
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// Opens (or creates) the store in `dir`: loads the catalog and replays the log.
    pub fn open(dir: &Path, options: Options) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        let catalog = Catalog::open(dir)?;
        let blocks = redb::Database::create(dir.join("blocks.redb")).map_err(StoreError::blocks)?;
        let (pending_day, block_days, (oldest_days, last_rollup_day)) = {
            let w = blocks.begin_write().map_err(StoreError::blocks)?;
            w.open_table(BLOCKS).map_err(StoreError::blocks)?;
            w.open_table(ROLLUPS).map_err(StoreError::blocks)?;
            w.open_table(HOURLY).map_err(StoreError::blocks)?;
            w.open_table(META).map_err(StoreError::blocks)?;
            let first = w
                .open_table(PENDING)
                .map_err(StoreError::blocks)?
                .first()
                .map_err(StoreError::blocks)?
                .map(|(k, _)| k.value().0);
            let blocks_table = w.open_table(BLOCKS).map_err(StoreError::blocks)?;
            let lo = blocks_table.first().map_err(StoreError::blocks)?;
            let hi = blocks_table.last().map_err(StoreError::blocks)?;
            let days = lo
                .zip(hi)
                .map(|((lo, _), (hi, _))| (lo.value().0, hi.value().0));
            drop(blocks_table);
            let oldest = oldest_days(&w)?;
            let last_rollup = w
                .open_table(ROLLUPS)
                .map_err(StoreError::blocks)?
                .last()
                .map_err(StoreError::blocks)?
                .map(|(k, _)| k.value().0);
            w.commit().map_err(StoreError::blocks)?;
            (first, days, (oldest, last_rollup))
        };
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir)?;
        let mut heads = Heads::default();
        for n in wal::segments(&wal_dir)? {
            let buf = wal::read_segment(&wal_dir, n)?;
            replay(&buf, &catalog, &mut heads);
        }
        if !heads.dirty.is_empty() {
            heads.oldest = Some(Instant::now());
        }
        let wal = Wal::open(&wal_dir)?;
        let retention = options.retention.clone();
        let inner = Arc::new(Inner {
            dir: dir.to_owned(),
            options,
            blocks,
            catalog: RwLock::new(catalog),
            queue: Mutex::new(Queue::default()),
            committed: Condvar::new(),
            wal: Mutex::new(wal),
            heads: Mutex::new(heads),
            failed: OnceLock::new(),
            maintenance: Mutex::new(()),
            pending_day: Mutex::new(pending_day),
            block_days: Mutex::new(block_days),
            wake: Mutex::new(None),
            retention: RwLock::new(retention),
            oldest_days: Mutex::new(oldest_days),
            expired_at: Mutex::new(None),
            last_rollup_day: Mutex::new(last_rollup_day),
        });
        let background = inner.options.background.then(|| {
            let (wake, woken) = mpsc::channel();
            *lock(&inner.wake) = Some(wake.clone());
            let weak = Arc::downgrade(&inner);
            let thread = std::thread::Builder::new()
                .name("jeny-metrics".into())
                .spawn(move || background(weak, woken))
                .expect("a thread for the metrics store");
            Arc::new(Background {
                stop: Some(wake),
                thread: Some(thread),
            })
        });
        Ok(Store {
            inner,
            _background: background,
        })
    }

    /// The directory the store keeps its files in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Writes points into database `db`, checked as InfluxDB 1.x checks them; returns once they
    /// are durable. A point may carry several fields: each is a series.
    pub fn write(&self, db: &str, points: &[Point]) -> Result<Written, StoreError> {
        if let Some(why) = self.inner.failed.get() {
            return Err(StoreError::Failed(why.clone()));
        }
        let mut written = Written::default();
        let mut records = Vec::new();
        let mut entries = Vec::new();
        self.resolve(db, points, &mut written, &mut records, &mut entries)?;
        if written.refused_whole || entries.is_empty() {
            return Ok(written);
        }
        self.commit(records, entries)?;
        Ok(written)
    }

    /// Checks points against the catalog, creates their new series, and encodes the log record.
    fn resolve(
        &self,
        db: &str,
        points: &[Point],
        written: &mut Written,
        records: &mut Vec<u8>,
        entries: &mut Vec<(u32, FieldType, i64, Value)>,
    ) -> Result<(), StoreError> {
        let mut catalog = self
            .inner
            .catalog
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let mut tag_reason: Option<String> = None;
        let mut field_reason: Option<String> = None;
        // fields this write meets first, with the type met first
        let mut new_fields: HashMap<(&str, &str), FieldType> = HashMap::new();
        let mut key = Vec::new();
        let mut payload = Vec::new();
        let limit = self.inner.options.max_series_per_database;
        let writes_from = self
            .inner
            .retention
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .of(db)
            .writes_from(now_ns());
        // points older than the raw retention: InfluxDB drops them before any other check, and
        // names them only when nothing else was refused
        let mut beyond = 0;
        'points: for p in points {
            if writes_from.is_some_and(|from| p.time_ns < from) {
                beyond += 1;
                continue;
            }
            let m = p.measurement.as_str();
            if p.tags.iter().any(|(k, _)| k == "time") {
                written.dropped += 1;
                tag_reason.get_or_insert_with(|| {
                    format!("invalid tag key: input tag \"time\" on measurement \"{m}\" is invalid")
                });
                continue;
            }
            if p.fields.iter().all(|(k, _)| k == "time") {
                written.dropped += 1;
                field_reason.get_or_insert_with(|| {
                    format!(
                        "invalid field name: input field \"time\" on measurement \"{m}\" is invalid"
                    )
                });
                continue;
            }
            let ids: Vec<u32> = 'resolved: {
                // the common case: every field's series exists, with the value's type
                catalog::key(&mut key, db, m, &p.tags);
                let prefix = key.len();
                let mut known = Vec::with_capacity(p.fields.len());
                for (f, v) in p.fields.iter().filter(|(k, _)| k != "time") {
                    catalog::with_field(&mut key, prefix, f);
                    match catalog.lookup(&key) {
                        Some(id) if catalog.series[id as usize].ty == FieldType::of(v) => {
                            known.push(id)
                        }
                        _ => {
                            known.clear();
                            break;
                        }
                    }
                }
                if !known.is_empty() {
                    break 'resolved known;
                }
                for (f, v) in p.fields.iter().filter(|(k, _)| k != "time") {
                    let ty = FieldType::of(v);
                    let met_here = new_fields.get(&(m, f.as_str())).copied();
                    match met_here.or_else(|| catalog.field_type(db, m, f)) {
                        Some(existing) if existing != ty => {
                            if met_here.is_some() {
                                // met twice with two types in this write: InfluxDB refuses it all
                                written.refused_whole = true;
                                written.reason = Some("field type conflict".into());
                                written.points = 0;
                                return Ok(());
                            }
                            written.dropped += 1;
                            field_reason.get_or_insert_with(|| {
                            format!(
                                "field type conflict: input field \"{f}\" on measurement \"{m}\" is type {}, already exists as type {}",
                                ty.name(),
                                existing.name()
                            )
                        });
                            continue 'points;
                        }
                        Some(_) => {}
                        None => {
                            new_fields.insert((m, f.as_str()), ty);
                        }
                    }
                }
                catalog::key(&mut key, db, m, &p.tags);
                let prefix = key.len();
                let mut ids = Vec::with_capacity(p.fields.len());
                for (f, v) in p.fields.iter().filter(|(k, _)| k != "time") {
                    catalog::with_field(&mut key, prefix, f);
                    let id = match catalog.lookup(&key) {
                        Some(id) => id,
                        None if catalog.series_count(db) >= limit => {
                            written.dropped += 1;
                            let tag = catalog
                                .widest_tag(db, m)
                                .map(|t| format!(": the tag with the most values is \"{t}\""))
                                .unwrap_or_default();
                            field_reason.get_or_insert_with(|| {
                            format!(
                                "max-series-per-database limit exceeded: ({limit}) on database \"{db}\"{tag}"
                            )
                        });
                            continue 'points;
                        }
                        None => catalog.create(&key, db, m, &p.tags, f, FieldType::of(v))?,
                    };
                    ids.push(id);
                }
                ids
            };
            for (id, (_, v)) in ids
                .into_iter()
                .zip(p.fields.iter().filter(|(k, _)| k != "time"))
            {
                payload.extend_from_slice(&id.to_le_bytes());
                payload.extend_from_slice(&p.time_ns.to_le_bytes());
                let value = Value::of(v);
                match &value {
                    Value::Bits(b) => payload.extend_from_slice(&b.to_le_bytes()),
                    Value::Text(s) => {
                        payload.extend_from_slice(&(s.len() as u32).to_le_bytes());
                        payload.extend_from_slice(s.as_bytes());
                    }
                }
                entries.push((id, FieldType::of(v), p.time_ns, value));
            }
            written.points += 1;
        }
        if written.dropped > 0 {
            let reason = tag_reason.or(field_reason).unwrap_or_default();
            written.reason = Some(format!(
                "partial write: {reason} dropped={}",
                written.dropped
            ));
        } else if beyond > 0 {
            written.reason = Some(format!(
                "partial write: points beyond retention policy dropped={beyond}"
            ));
        }
        written.dropped += beyond;
        if !payload.is_empty() {
            wal::push_record(records, &payload);
        }
        Ok(())
    }

    /// Group commit: the first writer to find no sync running syncs everything queued so far,
    /// then applies it to the heads in log order; the others wait for it.
    fn commit(
        &self,
        records: Vec<u8>,
        entries: Vec<(u32, FieldType, i64, Value)>,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let slot: Slot = Arc::default();
        let mut q = lock(&inner.queue);
        q.records.extend_from_slice(&records);
        q.entries.extend(entries);
        q.slots.push(slot.clone());
        loop {
            if let Some(result) = slot.get() {
                return result.clone().map_err(StoreError::from);
            }
            if q.leader {
                q = inner.committed.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            q.leader = true;
            let records = std::mem::take(&mut q.records);
            let entries = std::mem::take(&mut q.entries);
            let slots = std::mem::take(&mut q.slots);
            drop(q);
            // a panic while the leader syncs must not leave every later writer waiting for it
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.sync_and_apply(&records, entries)
            }))
            .unwrap_or_else(|_| {
                let why = "the metrics store's writer failed (a bug: see the log)".to_owned();
                let _ = inner.failed.set(why.clone());
                Err(CommitFailure::Failed(why))
            });
            for s in &slots {
                let _ = s.set(result.clone());
            }
            q = lock(&inner.queue);
            q.leader = false;
            inner.committed.notify_all();
        }
    }

    fn sync_and_apply(
        &self,
        records: &[u8],
        entries: Vec<(u32, FieldType, i64, Value)>,
    ) -> Result<(), CommitFailure> {
        let inner = &self.inner;
        if let Some(why) = inner.failed.get() {
            return Err(CommitFailure::Failed(why.clone()));
        }
        let mut wal = lock(&inner.wal);
        // the series these records name are durable before the records
        let synced = inner
            .catalog
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .sync();
        if let Err(e) = synced {
            let _ = inner.failed.set(e.to_string());
            return Err(CommitFailure::Failed(e.to_string()));
        }
        // a failed append is cut back and refused: nothing of it is kept or applied
        wal.append(records)
            .map_err(|e| CommitFailure::Write(e.kind(), e.to_string()))?;
        if let Err(e) = wal.sync() {
            let _ = inner.failed.set(e.to_string());
            return Err(CommitFailure::Failed(e.to_string()));
        }
        let wal_len = wal.len;
        let mut heads = lock(&inner.heads);
        let was_clean = heads.dirty.is_empty();
        for (sid, ty, t, v) in entries {
            heads.put(sid, ty, t, v);
        }
        if was_clean && !heads.dirty.is_empty() {
            heads.oldest = Some(Instant::now());
        }
        drop(heads);
        drop(wal);
        if was_clean || wal_len >= inner.options.flush_wal_bytes {
            // the background thread sets its next deadline, or flushes now
            if let Some(wake) = lock(&inner.wake).as_ref() {
                let _ = wake.send(());
            }
        }
        Ok(())
    }

    /// Writes the heads into blocks and deletes the log they came from. The background thread
    /// calls it; tests and shutdown may too.
    pub fn flush(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let _one = lock(&inner.maintenance);
        let (frozen, through) = {
            let mut wal = lock(&inner.wal);
            let mut heads = lock(&inner.heads);
            if heads.dirty.is_empty() {
                return Ok(());
            }
            let through = wal.rotate()?;
            let dirty = std::mem::take(&mut heads.dirty);
            let mut frozen = HashMap::with_capacity(dirty.len());
            for sid in dirty {
                frozen.insert(sid, std::mem::take(&mut heads.series[sid as usize]));
            }
            let frozen = Arc::new(frozen);
            heads.flushing = Some(frozen.clone());
            heads.oldest = None;
            (frozen, through)
        };
        let result = self.write_blocks(&frozen);
        if let Err(e) = result {
            // put the chunks back in front of what came since, so nothing is lost or reordered
            let mut heads = lock(&inner.heads);
            heads.flushing = None;
            for (&sid, chunks) in frozen.iter() {
                let newer = std::mem::take(&mut heads.series[sid as usize]);
                if newer.is_empty() {
                    heads.dirty.push(sid);
                }
                heads.series[sid as usize] = chunks.clone();
                let ty = self.series_type(sid);
                for c in newer {
                    match c.values {
                        Values::Bits(vs) => {
                            for (t, b) in c.times.into_iter().zip(vs) {
                                heads.put(sid, ty, t, Value::Bits(b));
                            }
                        }
                        Values::Text(vs) => {
                            for (t, s) in c.times.into_iter().zip(vs) {
                                heads.put(sid, ty, t, Value::Text(s));
                            }
                        }
                    }
                }
            }
            heads.oldest.get_or_insert_with(Instant::now);
            return Err(e);
        }
        lock(&inner.heads).flushing = None;
        lock(&inner.wal).remove_through(through)?;
        Ok(())
    }

    fn series_type(&self, sid: u32) -> FieldType {
        self.inner
            .catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .series[sid as usize]
            .ty
    }

    fn write_blocks(&self, frozen: &HashMap<u32, Vec<Chunk>>) -> Result<(), StoreError> {
        let inner = &self.inner;
        let types: HashMap<u32, FieldType> = {
            let catalog = inner.catalog.read().unwrap_or_else(|e| e.into_inner());
            frozen
                .keys()
                .map(|&sid| (sid, catalog.series[sid as usize].ty))
                .collect()
        };
        let mut first_day = None;
        let mut day_span = None;
        let w = inner.blocks.begin_write().map_err(StoreError::blocks)?;
        {
            let mut meta = w.open_table(META).map_err(StoreError::blocks)?;
            let seq = meta
                .get("flush")
                .map_err(StoreError::blocks)?
                .map_or(1, |v| v.value());
            meta.insert("flush", seq + 1).map_err(StoreError::blocks)?;
            let mut blocks = w.open_table(BLOCKS).map_err(StoreError::blocks)?;
            let mut pending = w.open_table(PENDING).map_err(StoreError::blocks)?;
            let mut sids: Vec<&u32> = frozen.keys().collect();
            sids.sort_unstable();
            for &sid in sids {
                for c in &frozen[&sid] {
                    if c.times.is_empty() {
                        continue;
                    }
                    let b = block::encode(types[&sid], &c.times, &c.values);
                    blocks
                        .insert((c.day, sid, seq), b.as_slice())
                        .map_err(StoreError::blocks)?;
                    pending
                        .insert((c.day, sid), ())
                        .map_err(StoreError::blocks)?;
                    first_day = Some(first_day.map_or(c.day, |d: i64| d.min(c.day)));
                    day_span = Some(day_span.map_or((c.day, c.day), |(a, b): (i64, i64)| {
                        (a.min(c.day), b.max(c.day))
                    }));
                }
            }
        }
        w.commit().map_err(StoreError::blocks)?;
        if let Some(day) = first_day {
            let mut p = lock(&inner.pending_day);
            *p = Some(p.map_or(day, |d| d.min(day)));
        }
        if let Some((lo, hi)) = day_span {
            let mut d = lock(&inner.block_days);
            *d = Some(d.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            let mut oldest = lock(&inner.oldest_days);
            oldest[0] = Some(oldest[0].map_or(lo, |d| d.min(lo)));
        }
        Ok(())
    }

    /// Compacts every day that ended before `before` (nanoseconds): one block per series and
    /// day, later flushes winning, and its rollup. The background thread calls it with the
    /// current time less the grace.
    pub fn compact(&self, before: i64) -> Result<(), StoreError> {
        let inner = &self.inner;
        let _one = lock(&inner.maintenance);
        loop {
            let w = inner.blocks.begin_write().map_err(StoreError::blocks)?;
            let more = {
                let mut pending = w.open_table(PENDING).map_err(StoreError::blocks)?;
                let mut blocks = w.open_table(BLOCKS).map_err(StoreError::blocks)?;
                let mut rollups = w.open_table(ROLLUPS).map_err(StoreError::blocks)?;
                let mut hourly = w.open_table(HOURLY).map_err(StoreError::blocks)?;
                let due: Vec<(i64, u32)> = pending
                    .iter()
                    .map_err(StoreError::blocks)?
                    .take(1000)
                    .map(|e| e.map(|(k, _)| k.value()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::blocks)?
                    .into_iter()
                    .filter(|&(day, _)| next_day(day, DAY_NS) <= before)
                    .collect();
                for &(day, sid) in &due {
                    let mut pieces = Vec::new();
                    let mut last_seq = 0;
                    for e in blocks
                        .range((day, sid, 0)..=(day, sid, u64::MAX))
                        .map_err(StoreError::blocks)?
                    {
                        let (k, v) = e.map_err(StoreError::blocks)?;
                        last_seq = k.value().2;
                        let (ty, times, values) = block::decode(v.value())?;
                        pieces.push(Points { ty, times, values });
                    }
                    blocks
                        .retain_in((day, sid, 0)..=(day, sid, u64::MAX), |_, _| false)
                        .map_err(StoreError::blocks)?;
                    if let Some(merged) = merge(pieces, i64::MIN, i64::MAX) {
                        let b = block::encode(merged.ty, &merged.times, &merged.values);
                        blocks
                            .insert((day, sid, last_seq), b.as_slice())
                            .map_err(StoreError::blocks)?;
                        if let Values::Bits(bits) = &merged.values
                            && merged.ty.is_numeric()
                        {
                            let r = block::rollup(merged.ty, &merged.times, bits);
                            rollups
                                .insert((day, sid), block::encode_rollup(&r).as_slice())
                                .map_err(StoreError::blocks)?;
                            let h = block::coarsen(&r, HOUR_NS);
                            hourly
                                .insert((day, sid), block::encode_rollup(&h).as_slice())
                                .map_err(StoreError::blocks)?;
                        }
                    }
                    pending.remove((day, sid)).map_err(StoreError::blocks)?;
                }
                let next = pending
                    .first()
                    .map_err(StoreError::blocks)?
                    .map(|(k, _)| k.value().0);
                *lock(&inner.pending_day) = next;
                if let (Some(&(first, _)), Some(&(last, _))) = (due.first(), due.last()) {
                    let mut oldest = lock(&inner.oldest_days);
                    for slot in &mut oldest[1..] {
                        *slot = Some(slot.map_or(first, |d| d.min(first)));
                    }
                    let mut newest = lock(&inner.last_rollup_day);
                    *newest = Some(newest.map_or(last, |d| d.max(last)));
                }
                !due.is_empty() && next.is_some_and(|d| next_day(d, DAY_NS) <= before)
            };
            w.commit().map_err(StoreError::blocks)?;
            if !more {
                return Ok(());
            }
        }
    }

    /// Sets how long each database keeps each resolution: writes are checked against it at
    /// once, and the next expiry deletes by it.
    pub fn set_retention(&self, retention: Retentions) {
        let changed = {
            let mut current = self
                .inner
                .retention
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let changed = *current != retention;
            *current = retention;
            changed
        };
        if changed {
            *lock(&self.inner.expired_at) = None;
            if let Some(wake) = lock(&self.inner.wake).as_ref() {
                let _ = wake.send(());
            }
        }
    }

    /// Deletes every day of every resolution that its database no longer keeps at `now`
    /// (nanoseconds): raw blocks, 5-minute and 1-hour rollups. The background thread calls it
    /// when the oldest day of a resolution may have aged out; tests call it with their clock.
    pub fn expire(&self, now: i64) -> Result<Expired, StoreError> {
        let inner = &self.inner;
        let _one = lock(&inner.maintenance);
        let retention = inner
            .retention
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // each series' database, and the first day it keeps of each resolution
        let keeps: Vec<[Option<i64>; 3]> = {
            let catalog = inner.catalog.read().unwrap_or_else(|e| e.into_inner());
            let mut by_db: HashMap<&str, [Option<i64>; 3]> = HashMap::new();
            (0..catalog.series.len() as u32)
                .map(|sid| {
                    let db = catalog.syms.name(catalog.series[sid as usize].db);
                    *by_db.entry(db).or_insert_with(|| {
                        let r = retention.of(db);
                        TIERS.map(|tier| r.keeps_from(tier, now))
                    })
                })
                .collect()
        };
        // no day at or after the latest cutoff can go: scan only the days before it
        let mut latest = [None; 3];
        for k in &keeps {
            for (i, cut) in k.iter().enumerate() {
                if let Some(cut) = cut {
                    latest[i] = Some(latest[i].map_or(*cut, |l: i64| l.max(*cut)));
                }
            }
        }
        let mut expired = Expired::default();
        let w = inner.blocks.begin_write().map_err(StoreError::blocks)?;
        {
            let gone = |sid: u32, day: i64, tier: usize| -> bool {
                keeps
                    .get(sid as usize)
                    .and_then(|k| k[tier])
                    .is_some_and(|cut| day < cut)
            };
            if let Some(cut) = latest[0] {
                let mut blocks = w.open_table(BLOCKS).map_err(StoreError::blocks)?;
                let mut pending = w.open_table(PENDING).map_err(StoreError::blocks)?;
                let mut days = std::collections::HashSet::new();
                blocks
                    .retain_in((i64::MIN, 0, 0)..(cut, 0, 0), |(day, sid, _), _| {
                        let go = gone(sid, day, 0);
                        if go {
                            days.insert((day, sid));
                        }
                        !go
                    })
                    .map_err(StoreError::blocks)?;
                pending
                    .retain_in((i64::MIN, 0)..(cut, 0), |(day, sid), _| !gone(sid, day, 0))
                    .map_err(StoreError::blocks)?;
                expired.raw = days.len() as u64;
            }
            for (tier, table, count) in [
                (1, ROLLUPS, &mut expired.rollups_5m),
                (2, HOURLY, &mut expired.rollups_1h),
            ] {
                if let Some(cut) = latest[tier] {
                    let mut t = w.open_table(table).map_err(StoreError::blocks)?;
                    t.retain_in((i64::MIN, 0)..(cut, 0), |(day, sid), _| {
                        let go = gone(sid, day, tier);
                        *count += u64::from(go);
                        !go
                    })
                    .map_err(StoreError::blocks)?;
                }
            }
        }
        let oldest = oldest_days(&w)?;
        let (first_pending, span) = {
            let pending = w.open_table(PENDING).map_err(StoreError::blocks)?;
            let blocks = w.open_table(BLOCKS).map_err(StoreError::blocks)?;
            let first = pending
                .first()
                .map_err(StoreError::blocks)?
                .map(|(k, _)| k.value().0);
            let lo = blocks.first().map_err(StoreError::blocks)?;
            let hi = blocks.last().map_err(StoreError::blocks)?;
            let span = lo
                .zip(hi)
                .map(|((lo, _), (hi, _))| (lo.value().0, hi.value().0));
            (first, span)
        };
        w.commit().map_err(StoreError::blocks)?;
        *lock(&inner.oldest_days) = oldest;
        *lock(&inner.pending_day) = first_pending;
        *lock(&inner.block_days) = span;
        *lock(&inner.expired_at) = Some(Instant::now());
        Ok(expired)
    }

    /// The series of a measurement in `db` (all fields, or `field`) whose tags `keep` accepts.
    pub fn series(
        &self,
        db: &str,
        measurement: &str,
        field: Option<&str>,
        keep: &TagFilter<'_>,
    ) -> Vec<SeriesInfo> {
        let catalog = self.inner.catalog.read().unwrap_or_else(|e| e.into_inner());
        let Some(m) = catalog
            .databases
            .get(db)
            .and_then(|d| d.measurements.get(measurement))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &id in &m.series {
            let s = &catalog.series[id as usize];
            let f = catalog.syms.name(s.field);
            if field.is_some_and(|want| want != f) {
                continue;
            }
            let tags = catalog.tags(id);
            if keep(&tags) {
                out.push(SeriesInfo {
                    id,
                    measurement: measurement.to_owned(),
                    tags,
                    field: f.to_owned(),
                    ty: s.ty,
                });
            }
        }
        out
    }

    /// The measurements of `db`, sorted.
    pub fn measurements(&self, db: &str) -> Vec<String> {
        let catalog = self.inner.catalog.read().unwrap_or_else(|e| e.into_inner());
        catalog
            .databases
            .get(db)
            .map(|d| d.measurements.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// A measurement's fields and their types, sorted by name.
    pub fn field_keys(&self, db: &str, measurement: &str) -> Vec<(String, FieldType)> {
        let catalog = self.inner.catalog.read().unwrap_or_else(|e| e.into_inner());
        catalog
            .databases
            .get(db)
            .and_then(|d| d.measurements.get(measurement))
            .map(|m| m.fields.iter().map(|(k, t)| (k.to_string(), *t)).collect())
            .unwrap_or_default()
    }

    /// A measurement's tag keys, sorted.
    pub fn tag_keys(&self, db: &str, measurement: &str) -> Vec<String> {
        let catalog = self.inner.catalog.read().unwrap_or_else(|e| e.into_inner());
        catalog
            .databases
            .get(db)
            .and_then(|d| d.measurements.get(measurement))
            .map(|m| m.tags.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// A tag's values in a measurement, sorted.
    pub fn tag_values(&self, db: &str, measurement: &str, key: &str) -> Vec<String> {
        let catalog = self.inner.catalog.read().unwrap_or_else(|e| e.into_inner());
        catalog
            .databases
            .get(db)
            .and_then(|d| d.measurements.get(measurement))
            .and_then(|m| m.tags.get(key))
            .map(|vs| vs.keys().map(|v| v.to_string()).collect())
            .unwrap_or_default()
    }

    /// How many series `db` has.
    pub fn series_count(&self, db: &str) -> u64 {
        self.inner
            .catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .series_count(db)
    }

    /// A series' points with `start <= time < end`, the latest write of a time winning.
    pub fn read(&self, sid: u32, start: i64, end: i64) -> Result<Points, StoreError> {
        let ty = self.series_type(sid);
        let pieces = self.pieces(sid, start, end)?;
        Ok(merge(pieces, start, end).unwrap_or(Points {
            ty,
            times: Vec::new(),
            values: Values::empty(ty),
        }))
    }

    /// A numeric series' buckets of `width` (`ROLLUP_NS` or `HOUR_NS`) over `[start, end)`: from
    /// the day's rollup where the day is compacted with nothing newer in memory, for the whole
    /// buckets inside the range; from points elsewhere. A bucket cut by `start` or `end` holds
    /// only the points inside. Once a day's points are past their retention, its rollups still
    /// answer; a 5-minute rollup past its own retention does not (the hourly one answers 1-hour
    /// widths).
    pub fn buckets(
        &self,
        sid: u32,
        start: i64,
        end: i64,
        width: i64,
    ) -> Result<Vec<Bucket>, StoreError> {
        let ty = self.series_type(sid);
        let Some((start, end)) = self.clamp(sid, start, end).filter(|_| ty.is_numeric()) else {
            return Ok(Vec::new());
        };
        let hourly = width == HOUR_NS;
        let mut rolled: HashMap<i64, Vec<Bucket>> = HashMap::new();
        let (memory_days, r) = {
            let heads = lock(&self.inner.heads);
            let mut days: Vec<i64> = chunks_of(&heads, sid).map(|c| c.day).collect();
            days.sort_unstable();
            (
                days,
                self.inner.blocks.begin_read().map_err(StoreError::blocks)?,
            )
        };
        let fine = r.open_table(ROLLUPS).map_err(StoreError::blocks)?;
        let coarse = r.open_table(HOURLY).map_err(StoreError::blocks)?;
        let pending = r.open_table(PENDING).map_err(StoreError::blocks)?;
        let mut day = floor_to(start, DAY_NS);
        while day < end {
            let clean = memory_days.binary_search(&day).is_err()
                && pending
                    .get((day, sid))
                    .map_err(StoreError::blocks)?
                    .is_none();
            if clean {
                let found = if hourly {
                    match coarse.get((day, sid)).map_err(StoreError::blocks)? {
                        Some(v) => Some(block::decode_rollup(v.value())?),
                        // a day compacted before hourly rollups were kept
                        None => match fine.get((day, sid)).map_err(StoreError::blocks)? {
                            Some(v) => Some(coarsen(&block::decode_rollup(v.value())?, HOUR_NS)),
                            None => None,
                        },
                    }
                } else {
                    match fine.get((day, sid)).map_err(StoreError::blocks)? {
                        Some(v) => Some(block::decode_rollup(v.value())?),
                        None => None,
                    }
                };
                if let Some(b) = found {
                    rolled.insert(day, b);
                }
            }
            if next_day(day, DAY_NS) <= day {
                break;
            }
            day = next_day(day, DAY_NS);
        }
        drop((fine, coarse, pending));
        let mut out = Vec::new();
        let from_points = |out: &mut Vec<Bucket>, a: i64, b: i64| -> Result<(), StoreError> {
            if a >= b {
                return Ok(());
            }
            let pieces = self.pieces(sid, a, b)?;
            if let Some(p) = merge(pieces, a, b)
                && let Values::Bits(bits) = &p.values
            {
                out.extend(block::rollup_at(p.ty, &p.times, bits, width));
            }
            Ok(())
        };
        let mut t = start;
        while t < end {
            let day = floor_to(t, DAY_NS);
            let until = next_day(day, DAY_NS).min(end);
            match rolled.remove(&day) {
                Some(buckets) => {
                    // whole buckets from the rollup, the cut ones at either edge from points
                    let whole_from = ceil_to(t, width).min(until);
                    let whole_to = floor_to(until, width).max(whole_from);
                    from_points(&mut out, t, whole_from)?;
                    out.extend(
                        buckets
                            .into_iter()
                            .filter(|b| b.time >= whole_from && b.time < whole_to),
                    );
                    from_points(&mut out, whole_to, until)?;
                }
                None => from_points(&mut out, t, until)?,
            }
            t = until;
        }
        Ok(out)
    }

    /// The pieces that may hold a series' points in `[start, end)`, oldest write first.
    fn pieces(&self, sid: u32, start: i64, end: i64) -> Result<Vec<Points>, StoreError> {
        // memory first, then the blocks' snapshot: a flush that ends in between has moved its
        // chunks into blocks, so they are seen in one place or both (the same points), never
        // in neither
        let memory: Vec<Chunk> = {
            let heads = lock(&self.inner.heads);
            chunks_of(&heads, sid)
                .filter(|c| c.day < end && next_day(c.day, DAY_NS) > start)
                .cloned()
                .collect()
        };
        let r = self.inner.blocks.begin_read().map_err(StoreError::blocks)?;
        let table = r.open_table(BLOCKS).map_err(StoreError::blocks)?;
        let mut pieces = Vec::new();
        let Some((lo, hi)) = *lock(&self.inner.block_days) else {
            return Ok(memory_points(memory, self.series_type(sid)));
        };
        let mut day = floor_to(start.max(lo), DAY_NS);
        while day < end && day <= hi {
            for e in table
                .range((day, sid, 0)..=(day, sid, u64::MAX))
                .map_err(StoreError::blocks)?
            {
                let (_, v) = e.map_err(StoreError::blocks)?;
                let (ty, times, values) = block::decode(v.value())?;
                pieces.push(Points { ty, times, values });
            }
            if next_day(day, DAY_NS) <= day {
                break;
            }
            day = next_day(day, DAY_NS);
        }
        // memory is newer than any block
        pieces.extend(memory_points(memory, self.series_type(sid)));
        Ok(pieces)
    }

    /// `[start, end)` narrowed to the days a series may have points on; `None` when empty.
    fn clamp(&self, sid: u32, start: i64, end: i64) -> Option<(i64, i64)> {
        let mut span = *lock(&self.inner.block_days);
        // rollups outlive the blocks they came from
        let oldest = *lock(&self.inner.oldest_days);
        let rolled = oldest[1]
            .into_iter()
            .chain(oldest[2])
            .min()
            .zip(*lock(&self.inner.last_rollup_day));
        if let Some((lo, hi)) = rolled {
            span = Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
        for c in chunks_of(&lock(&self.inner.heads), sid) {
            span = Some(span.map_or((c.day, c.day), |(a, b)| (a.min(c.day), b.max(c.day))));
        }
        let (lo, hi) = span?;
        let (start, end) = (start.max(lo), end.min(next_day(hi, DAY_NS)));
        (start < end).then_some((start, end))
    }
}

/// `t` rounded up to a multiple of `unit` (at most `i64::MAX`).
fn ceil_to(t: i64, unit: i64) -> i64 {
    let floor = floor_to(t, unit);
    if floor == t {
        t
    } else {
        (i128::from(floor) + i128::from(unit)).min(i128::from(i64::MAX)) as i64
    }
}

/// The oldest day each resolution holds: raw blocks, 5-minute and 1-hour rollups.
fn oldest_days(w: &redb::WriteTransaction) -> Result<[Option<i64>; 3], StoreError> {
    let blocks = w.open_table(BLOCKS).map_err(StoreError::blocks)?;
    let raw = blocks
        .first()
        .map_err(StoreError::blocks)?
        .map(|(k, _)| k.value().0);
    let mut out = [raw, None, None];
    for (slot, table) in [(1, ROLLUPS), (2, HOURLY)] {
        out[slot] = w
            .open_table(table)
            .map_err(StoreError::blocks)?
            .first()
            .map_err(StoreError::blocks)?
            .map(|(k, _)| k.value().0);
    }
    Ok(out)
}

fn memory_points(memory: Vec<Chunk>, ty: FieldType) -> Vec<Points> {
    memory
        .into_iter()
        .map(|c| Points {
            ty,
            times: c.times,
            values: c.values,
        })
        .collect()
}

/// A series' chunks in memory: those being flushed (older) then the heads (newer).
fn chunks_of(heads: &Heads, sid: u32) -> impl Iterator<Item = &Chunk> {
    let flushing = heads
        .flushing
        .as_ref()
        .and_then(|f| f.get(&sid))
        .into_iter()
        .flatten();
    let current = heads.series.get(sid as usize).into_iter().flatten();
    flushing.chain(current)
}

/// Merges pieces (each sorted by time, later pieces newer) into one, keeping `[start, end)` and
/// for each time the newest value.
fn merge(pieces: Vec<Points>, start: i64, end: i64) -> Option<Points> {
    let ty = pieces.first()?.ty;
    let mut times = Vec::new();
    let mut values = Values::empty(ty);
    // the common case: pieces in time order, none overlapping
    let disjoint = pieces
        .windows(2)
        .all(|w| match (w[0].times.last(), w[1].times.first()) {
            (Some(a), Some(b)) => a < b,
            _ => true,
        });
    if disjoint {
        for p in pieces {
            let lo = p.times.partition_point(|&t| t < start);
            let hi = p.times.partition_point(|&t| t < end);
            times.extend_from_slice(&p.times[lo..hi]);
            match (&mut values, p.values) {
                (Values::Bits(out), Values::Bits(v)) => out.extend_from_slice(&v[lo..hi]),
                (Values::Text(out), Values::Text(mut v)) => {
                    out.extend(v.drain(lo..hi));
                }
                _ => {}
            }
        }
        return Some(Points { ty, times, values });
    }
    // otherwise: every point with its piece, sorted by time then piece; the last of a time wins
    let mut order: Vec<(i64, u32, u32)> = Vec::new();
    for (pi, p) in pieces.iter().enumerate() {
        for (i, &t) in p.times.iter().enumerate() {
            if t >= start && t < end {
                order.push((t, pi as u32, i as u32));
            }
        }
    }
    order.sort_unstable();
    for (k, &(t, pi, i)) in order.iter().enumerate() {
        if order.get(k + 1).is_some_and(|next| next.0 == t) {
            continue;
        }
        times.push(t);
        match (&mut values, &pieces[pi as usize].values) {
            (Values::Bits(out), Values::Bits(v)) => out.push(v[i as usize]),
            (Values::Text(out), Values::Text(v)) => out.push(v[i as usize].clone()),
            _ => {}
        }
    }
    Some(Points { ty, times, values })
}

/// Replays a log segment's records into the heads.
fn replay(buf: &[u8], catalog: &Catalog, heads: &mut Heads) {
    let mut off = 0;
    while let Some((payload, next)) = wal::next_record(buf, off) {
        let mut p = payload;
        while p.len() >= 12 {
            let sid = u32::from_le_bytes(p[..4].try_into().expect("4 bytes"));
            let t = i64::from_le_bytes(p[4..12].try_into().expect("8 bytes"));
            p = &p[12..];
            // the catalog is synced before the records that name its series
            let Some(s) = catalog.series.get(sid as usize) else {
                return;
            };
            let v = if s.ty == FieldType::String {
                let Some(n) = p.get(..4) else { return };
                let n = u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize;
                let Some(text) = p.get(4..4 + n).and_then(|b| std::str::from_utf8(b).ok()) else {
                    return;
                };
                p = &p[4 + n..];
                Value::Text(text.into())
            } else {
                let Some(b) = p.get(..8) else { return };
                p = &p[8..];
                Value::Bits(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            };
            heads.put(sid, s.ty, t, v);
        }
        off = next;
    }
}

/// The background thread: sleeps until a flush or a compaction is due, or a write wakes it.
fn background(inner: std::sync::Weak<Inner>, woken: mpsc::Receiver<()>) {
    loop {
        let deadline = {
            let Some(inner) = inner.upgrade() else { return };
            let store = Store {
                inner,
                _background: None,
            };
            if let Err(e) = store.maintain() {
                tracing::warn!(error = %e, "metrics store: flush or compaction failed; retrying in a minute");
                Some(Duration::from_secs(60))
            } else {
                store.next_due()
            }
        };
        let got = match deadline {
            Some(d) => woken.recv_timeout(d),
            None => woken
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        if let Err(mpsc::RecvTimeoutError::Disconnected) = got {
            return;
        }
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Store {
    /// Flushes and compacts what is due.
    fn maintain(&self) -> Result<(), StoreError> {
        let o = &self.inner.options;
        let (oldest, wal_len) = {
            let wal_len = lock(&self.inner.wal).len;
            (lock(&self.inner.heads).oldest, wal_len)
        };
        if oldest.is_some_and(|t| t.elapsed() >= o.flush_after) || wal_len >= o.flush_wal_bytes {
            self.flush()?;
        }
        let before = now_ns() - o.compact_grace.as_nanos() as i64;
        if lock(&self.inner.pending_day).is_some_and(|d| next_day(d, DAY_NS) <= before) {
            self.compact(before)?;
        }
        if self.expiry_due().is_some_and(|d| d.is_zero()) {
            let expired = self.expire(now_ns())?;
            if expired != Expired::default() {
                tracing::info!(?expired, "metrics store: days past their retention deleted");
            }
        }
        Ok(())
    }

    /// How long until the oldest day of some resolution may have aged out (at least
    /// `EXPIRY_PAUSE` after the last expiry); `None` when no resolution has a day that can.
    fn expiry_due(&self) -> Option<Duration> {
        let oldest = *lock(&self.inner.oldest_days);
        let retention = self
            .inner
            .retention
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let due = TIERS
            .iter()
            .zip(oldest)
            .filter_map(|(&tier, day)| {
                let days = i64::from(retention.shortest(tier)?);
                Some(day?.saturating_add(days.saturating_add(1).saturating_mul(DAY_NS)))
            })
            .min()?;
        let wait = Duration::from_nanos(due.saturating_sub(now_ns()).max(0) as u64);
        let pause = lock(&self.inner.expired_at).map_or(Duration::ZERO, |at| {
            EXPIRY_PAUSE.saturating_sub(at.elapsed())
        });
        Some(wait.max(pause))
    }

    /// How long until a flush, a compaction or an expiry is due; `None` when nothing is
    /// waiting.
    fn next_due(&self) -> Option<Duration> {
        let o = &self.inner.options;
        let flush = lock(&self.inner.heads)
            .oldest
            .map(|t| o.flush_after.saturating_sub(t.elapsed()));
        let compact = lock(&self.inner.pending_day).map(|d| {
            let due = next_day(d, DAY_NS).saturating_add(o.compact_grace.as_nanos() as i64);
            Duration::from_nanos((due - now_ns()).max(0) as u64)
        });
        [flush, compact, self.expiry_due()]
            .into_iter()
            .flatten()
            .min()
    }
}
