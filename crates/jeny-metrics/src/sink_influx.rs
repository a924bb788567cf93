//! The InfluxDB sink: a project's points go to an external InfluxDB (1.x `POST /write` or 2.x
//! `POST /api/v2/write`) instead of the embedded store. `write` appends the points to an on-disk
//! spool and fsyncs it before it returns, so an acknowledged point survives a crash of jeny and
//! an InfluxDB that is down; one background task sends the spool to InfluxDB in the order it was
//! written, in batches, and forgets what InfluxDB took.
//!
//! The spool, in `spool_dir`:
//! - segments `<number>.wal`, framed as the store's log (`store/wal.rs`: `[length u32][crc32
//!   u32][payload]`), one record per `write`: `[project length u32][project][line count
//!   u32]`, then per line `[length u32][line]` (`Point::to_line`). Each start of the sink opens a
//!   new segment, and so does a write that finds the open one past `segment_bytes`; a torn
//!   record at a segment's end (a crash during a write, which was never acknowledged) is cut off
//!   at start.
//! - `cursor`: the next line to send (segment, offset of its record, lines of that record
//!   already sent, crc32), replaced atomically (`cursor.tmp`, fsync, rename, fsync of the folder)
//!   after each batch InfluxDB has answered; then the segments before the cursor's are deleted. A
//!   crash between InfluxDB's answer and the rename sends that batch again: harmless, InfluxDB
//!   keeps one point per series and time, and it is the same point. Nothing is ever dropped
//!   before InfluxDB has answered for it.
//! - `lock`: held (an exclusive file lock) while a sink uses the folder, so two sinks never send
//!   the same spool.
//!
//! A batch is consecutive lines of one project, at most `batch_max_points`: it goes when it is
//! full, when the next record is another project's, or `flush_interval` after its first line was
//! read. While the spool is empty the task waits on a notify from `write`, not on a timer.
//!
//! What InfluxDB answers decides what happens to a batch:
//! - 2xx: sent; the cursor moves past it.
//! - no answer (connection refused, timeout), 408, 429, 5xx, or anything unexpected (a redirect):
//!   the batch is kept and sent again, after `Retry-After` seconds when a 429 or 503 says so, else
//!   after an exponential backoff (100 ms, doubling, capped at `retry_max_backoff`); nothing after
//!   it is sent before it, so the order holds. The spool grows meanwhile, and once it holds
//!   `spool_max_bytes` a write is refused with `SinkError::SpoolFull`.
//! - any other 4xx (400 a bad line or a partial write, 401/403 credentials, 404 database not
//!   found, 413 too large): the batch is **dropped**, with InfluxDB's answer in the log at error
//!   level. Sent again it would be refused again, and it would hold up every point behind it. (A
//!   400 partial write means InfluxDB kept the batch's other points.)
//!
//! Cancelling the shutdown token (or `stop`, or dropping the sink) ends the task; what it had not
//! sent stays in the spool, and the next `start` on the same folder sends it first.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jeny_core::{DomainError, ErrorChain, ErrorCode, Secret};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::line_protocol::Point;
use crate::store::wal::{self, Wal};

/// Which InfluxDB API the sink writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfluxVersion {
    /// `POST /write?db=<database>&rp=<retention_policy>&precision=ns`
    V1,
    /// `POST /api/v2/write?org=<org>&bucket=<database>&precision=ns`
    V2,
}

/// How the sink proves who it is.
#[derive(Debug, Clone)]
pub enum InfluxAuth {
    None,
    /// `Authorization: Basic base64(username:password)` (1.x users).
    UserPassword {
        username: String,
        password: Secret<String>,
    },
    /// `Authorization: Token <token>` (2.x API tokens, and jeny's own tokens).
    Token(Secret<String>),
}

/// Where and how points go to InfluxDB, and how much the spool may hold meanwhile.
#[derive(Debug, Clone)]
pub struct InfluxSinkConfig {
    /// InfluxDB's base URL, `http://influxdb:8086`; a path after the host is kept as a prefix.
    pub url: String,
    pub version: InfluxVersion,
    /// The database (1.x `db`) or bucket (2.x `bucket`) of a project's points: `{project}` is
    /// replaced with the project's name. Default `{project}`.
    pub database_template: String,
    /// 1.x `rp`: the retention policy written to (the database's default when `None`).
    pub retention_policy: Option<String>,
    /// 2.x `org` (left out of the request when `None`).
    pub org: Option<String>,
    pub auth: InfluxAuth,
    /// The most points in one request. Default 5000.
    pub batch_max_points: usize,
    /// How long a batch that is not full waits for more points. Default 1 s.
    pub flush_interval: Duration,
    /// The spool's folder (created if missing); one sink at a time.
    pub spool_dir: PathBuf,
    /// Once the points waiting in the spool take this much, writes are refused. Default 1 GiB.
    pub spool_max_bytes: u64,
    /// Request bodies gzip-compressed (`Content-Encoding: gzip`). Default true.
    pub gzip: bool,
    /// A request with no complete answer after this is retried. Default 30 s.
    pub request_timeout: Duration,
    /// The longest wait between two attempts at a batch (`Retry-After` aside). Default 30 s.
    pub retry_max_backoff: Duration,
    /// 1.x: the retention policies jeny keeps each project's 5-minute and 1-hour rollups in
    /// (`retention.rs`). Default `jeny_5m` and `jeny_1h`; `None` (2.x, whose InfluxQL cannot
    /// write) keeps none.
    pub rollup_policies: Option<RollupPolicies>,
}

/// The retention policies of a database's rollups on InfluxDB 1.x.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupPolicies {
    pub five_minutes: String,
    pub hour: String,
}

impl Default for RollupPolicies {
    fn default() -> Self {
        RollupPolicies {
            five_minutes: "jeny_5m".to_owned(),
            hour: "jeny_1h".to_owned(),
        }
    }
}

impl InfluxSinkConfig {
    pub const DEFAULT_DATABASE_TEMPLATE: &str = "{project}";
    pub const DEFAULT_BATCH_MAX_POINTS: usize = 5000;
    pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
    pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_RETRY_MAX_BACKOFF: Duration = Duration::from_secs(30);

    /// The defaults for InfluxDB at `url`, spooling in `spool_dir`, with no credentials.
    pub fn new(
        url: impl Into<String>,
        version: InfluxVersion,
        spool_dir: impl Into<PathBuf>,
    ) -> InfluxSinkConfig {
        InfluxSinkConfig {
            url: url.into(),
            version,
            database_template: Self::DEFAULT_DATABASE_TEMPLATE.to_owned(),
            retention_policy: None,
            org: None,
            auth: InfluxAuth::None,
            batch_max_points: Self::DEFAULT_BATCH_MAX_POINTS,
            flush_interval: Self::DEFAULT_FLUSH_INTERVAL,
            spool_dir: spool_dir.into(),
            spool_max_bytes: Self::DEFAULT_SPOOL_MAX_BYTES,
            gzip: true,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            retry_max_backoff: Self::DEFAULT_RETRY_MAX_BACKOFF,
            rollup_policies: (version == InfluxVersion::V1).then(RollupPolicies::default),
        }
    }

    /// The database (1.x) or bucket (2.x) that `project`'s points go to.
    pub fn database(&self, project: &str) -> String {
        self.database_template.replace("{project}", project)
    }
}

/// What the sink cannot do. Writes are refused only for the spool's sake: InfluxDB being down
/// is not an error of `write` (the spool holds the points) until the spool is full.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "the influxdb spool is full: {pending_bytes} bytes wait for influxdb and a write of {write_bytes} more would pass spool_max_bytes ({max_bytes})"
    )]
    SpoolFull {
        pending_bytes: u64,
        write_bytes: u64,
        max_bytes: u64,
    },
    #[error("the influxdb spool in {dir} cannot be used")]
    Spool {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the influxdb spool in {0} is in use by another sink")]
    SpoolInUse(PathBuf),
    #[error(
        "the influxdb spool stopped taking writes after it could not be synced ({0}); restart jeny once the disk is fixed"
    )]
    Failed(String),
    #[error("the influxdb sink's configuration: {0}")]
    InvalidConfig(String),
}

impl DomainError for SinkError {
    fn code(&self) -> ErrorCode {
        match self {
            SinkError::SpoolFull { .. } | SinkError::Spool { .. } | SinkError::Failed(_) => {
                ErrorCode::Unavailable
            }
            SinkError::SpoolInUse(_) | SinkError::InvalidConfig(_) => ErrorCode::Internal,
        }
    }
}

/// The first wait after a failed attempt; each failure doubles it up to `retry_max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// A `Retry-After` longer than this is taken as this.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// How much of a refusal's body goes to the log.
const LOGGED_BODY_CHARS: usize = 2000;
const CURSOR_FILE: &str = "cursor";
const CURSOR_TMP_FILE: &str = "cursor.tmp";
const LOCK_FILE: &str = "lock";

/// The InfluxDB sink: a spool on disk and the task that empties it into InfluxDB.
pub struct InfluxSink {
    shared: Arc<Shared>,
    stop: CancellationToken,
    sender: Option<tokio::task::JoinHandle<()>>,
}

/// What `write` and the sending task share.
struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    /// a write that finds the open segment this long starts a new one
    segment_bytes: u64,
    appender: Mutex<Appender>,
    /// bytes of the records not wholly sent yet
    pending_bytes: AtomicU64,
    /// `write` wakes the sending task
    written: Notify,
    /// held while this sink uses the folder
    _lock: File,
}

struct Appender {
    wal: Wal,
    /// the end of what is synced, (segment, length): the sending task reads no further
    durable: (u64, u64),
    /// why writes stopped: a failed fsync leaves the file in a state nobody can tell
    failed: Option<String>,
}

/// A place in the spool: the record at `offset` of `segment`, its first `lines` lines sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    segment: u64,
    offset: u64,
    lines: u32,
}

impl InfluxSink {
    /// Opens (or creates) the spool in `config.spool_dir`, and starts the task that sends it:
    /// what an earlier sink spooled and did not send goes first. The task ends when `shutdown` is
    /// cancelled, on `stop`, or when the sink is dropped.
    pub async fn start(
        config: InfluxSinkConfig,
        shutdown: CancellationToken,
    ) -> Result<InfluxSink, SinkError> {
        if config.batch_max_points == 0 {
            return Err(SinkError::InvalidConfig(
                "batch_max_points must be at least 1".into(),
            ));
        }
        let base_url = reqwest::Url::parse(&config.url)
            .map_err(|e| SinkError::InvalidConfig(format!("url {:?}: {e}", config.url)))?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(SinkError::InvalidConfig(format!(
                "url {:?}: use http or https",
                config.url
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SinkError::InvalidConfig(format!("the http client: {e}")))?;
        let dir = config.spool_dir.clone();
        let max_bytes = config.spool_max_bytes;
        let opened = tokio::task::spawn_blocking(move || open_spool(&dir, max_bytes))
            .await
            .map_err(|e| SinkError::Failed(format!("the spool's opening thread ended: {e}")))??;
        let (shared, position) = opened;
        let shared = Arc::new(shared);
        tracing::info!(
            url = %config.url,
            spool = %shared.dir.display(),
            pending_bytes = shared.pending_bytes.load(Ordering::SeqCst),
            "influxdb sink started"
        );
        let stop = shutdown.child_token();
        let sender = Sender {
            shared: shared.clone(),
            reader: Arc::new(Mutex::new(Reader {
                dir: shared.dir.clone(),
                position,
                file: None,
                record: None,
            })),
            client,
            write_url: write_url(&config),
            config,
            stop: stop.clone(),
        };
        Ok(InfluxSink {
            shared,
            stop,
            sender: Some(tokio::spawn(sender.run())),
        })
    }

    /// Spools `points` of `project` (their `project` tag is the caller's business): they are
    /// durable when this returns, and InfluxDB gets them soon after, in the order they were
    /// written. Refused with `SpoolFull` when the points waiting for InfluxDB would pass
    /// `spool_max_bytes`.
    pub async fn write(&self, project: &str, points: Vec<Point>) -> Result<(), SinkError> {
        if points.is_empty() {
            return Ok(());
        }
        let shared = self.shared.clone();
        let project = project.to_owned();
        tokio::task::spawn_blocking(move || shared.append(&encode_record(&project, &points)))
            .await
            .map_err(|e| SinkError::Failed(format!("the spool's writing thread ended: {e}")))??;
        self.shared.written.notify_one();
        Ok(())
    }

    /// Bytes in the spool that InfluxDB has not taken yet (framing included; a record partly
    /// sent counts whole).
    pub fn pending_bytes(&self) -> u64 {
        self.shared.pending_bytes.load(Ordering::SeqCst)
    }

    /// Stops the sending task and waits for it to end (an unanswered request is abandoned and
    /// will be sent again by the next sink); the spool's lock is released when this returns.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(sender) = self.sender.take() {
            let _ = sender.await;
        }
    }
}

impl Drop for InfluxSink {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn spool_error(&self, source: io::Error) -> SinkError {
        SinkError::Spool {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Appends one framed record and syncs it: the caller may acknowledge its points.
    fn append(&self, record: &[u8]) -> Result<(), SinkError> {
        let mut appender = lock(&self.appender);
        if let Some(why) = &appender.failed {
            return Err(SinkError::Failed(why.clone()));
        }
        let write_bytes = record.len() as u64;
        let pending_bytes = self.pending_bytes.load(Ordering::SeqCst);
        if pending_bytes + write_bytes > self.max_bytes {
            return Err(SinkError::SpoolFull {
                pending_bytes,
                write_bytes,
                max_bytes: self.max_bytes,
            });
        }
        if appender.wal.len >= self.segment_bytes {
            appender.wal.rotate().map_err(|e| self.spool_error(e))?;
            appender.durable = (appender.wal.segment, 0);
        }
        appender
            .wal
            .append(record)
            .map_err(|e| self.spool_error(e))?;
        if let Err(e) = appender.wal.sync() {
            let why = e.to_string();
            tracing::error!(spool = %self.dir.display(), error = %why, "the influxdb spool cannot be synced: it takes no more writes");
            appender.failed = Some(why.clone());
            return Err(SinkError::Failed(why));
        }
        appender.durable = (appender.wal.segment, appender.wal.len);
        self.pending_bytes.fetch_add(write_bytes, Ordering::SeqCst);
        Ok(())
    }

    fn durable(&self) -> (u64, u64) {
        lock(&self.appender).durable
    }
}

/// Opens the spool: takes its lock, reads the cursor, deletes segments already sent, cuts torn
/// ends, counts what waits, and opens a new segment for writes. Returns where sending resumes.
fn open_spool(dir: &Path, max_bytes: u64) -> Result<(Shared, Position), SinkError> {
    let spool_error = |source| SinkError::Spool {
        dir: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(spool_error)?;
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(spool_error)?;
    match lock_file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(SinkError::SpoolInUse(dir.to_owned())),
        Err(fs::TryLockError::Error(e)) => return Err(spool_error(e)),
    }
    let cursor = read_cursor(dir).map_err(spool_error)?;
    let segments = wal::segments(dir).map_err(spool_error)?;
    let mut position = cursor.unwrap_or(Position {
        segment: segments.first().copied().unwrap_or(0),
        offset: 0,
        lines: 0,
    });
    let mut waiting = Vec::new();
    for segment in segments {
        if segment < position.segment {
            fs::remove_file(wal::segment_path(dir, segment)).map_err(spool_error)?;
        } else {
            waiting.push(segment);
        }
    }
    if waiting.first() != Some(&position.segment) {
        position = Position {
            segment: waiting.first().copied().unwrap_or(0),
            offset: 0,
            lines: 0,
        };
    }
    let mut pending_bytes = 0;
    for &segment in &waiting {
        let buf = wal::read_segment(dir, segment).map_err(spool_error)?;
        let mut boundaries = vec![0];
        let mut offset = 0;
        while let Some((_, next)) = wal::next_record(&buf, offset) {
            boundaries.push(next);
            offset = next;
        }
        let mut from = 0;
        if segment == position.segment {
            match boundaries.binary_search(&(position.offset as usize)) {
                Ok(_) => from = position.offset as usize,
                Err(_) => {
                    tracing::warn!(spool = %dir.display(), segment, offset = position.offset, "the influxdb spool's cursor is not at a record: its segment is sent again from the start");
                    position.offset = 0;
                    position.lines = 0;
                }
            }
        }
        pending_bytes += (offset - from) as u64;
    }
    if pending_bytes == 0 {
        // all sent: the segments go now, or each start would leave one more empty file
        for segment in waiting.drain(..) {
            fs::remove_file(wal::segment_path(dir, segment)).map_err(spool_error)?;
        }
    }
    let wal = Wal::open(dir).map_err(spool_error)?;
    if waiting.is_empty() {
        position = Position {
            segment: wal.segment,
            offset: 0,
            lines: 0,
        };
        // with no segment left, numbering starts again at 1: a cursor still saying where the
        // old segments ended would take the new ones as sent
        save_cursor(dir, position).map_err(spool_error)?;
    }
    let durable = (wal.segment, 0);
    let shared = Shared {
        dir: dir.to_owned(),
        max_bytes,
        segment_bytes: (max_bytes / 16).clamp(64 << 10, 64 << 20),
        appender: Mutex::new(Appender {
            wal,
            durable,
            failed: None,
        }),
        pending_bytes: AtomicU64::new(pending_bytes),
        written: Notify::new(),
        _lock: lock_file,
    };
    Ok((shared, position))
}

/// The saved cursor; `None` when there is none or it is damaged (then everything left is sent
/// again, which InfluxDB takes as the same points).
fn read_cursor(dir: &Path) -> io::Result<Option<Position>> {
    let bytes = match fs::read(dir.join(CURSOR_FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let decoded = decode_cursor(&bytes);
    if decoded.is_none() {
        tracing::warn!(spool = %dir.display(), "the influxdb spool's cursor is damaged: what is left is sent again");
    }
    Ok(decoded)
}

fn decode_cursor(bytes: &[u8]) -> Option<Position> {
    let bytes: &[u8; 24] = bytes.try_into().ok()?;
    let crc = u32::from_le_bytes(bytes[20..24].try_into().ok()?);
    if crc32fast::hash(&bytes[..20]) != crc {
        return None;
    }
    Some(Position {
        segment: u64::from_le_bytes(bytes[0..8].try_into().ok()?),
        offset: u64::from_le_bytes(bytes[8..16].try_into().ok()?),
        lines: u32::from_le_bytes(bytes[16..20].try_into().ok()?),
    })
}

/// Replaces the cursor atomically: the old one or the new one survives a crash, whole.
fn save_cursor(dir: &Path, position: Position) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(24);
    bytes.extend_from_slice(&position.segment.to_le_bytes());
    bytes.extend_from_slice(&position.offset.to_le_bytes());
    bytes.extend_from_slice(&position.lines.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(CURSOR_TMP_FILE);
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(CURSOR_FILE))?;
    File::open(dir)?.sync_all()
}

/// One write's points as a framed spool record.
fn encode_record(project: &str, points: &[Point]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(project.len() + 8 + points.len() * 80);
    payload.extend_from_slice(&(project.len() as u32).to_le_bytes());
    payload.extend_from_slice(project.as_bytes());
    payload.extend_from_slice(&(points.len() as u32).to_le_bytes());
    let mut line = String::with_capacity(128);
    for point in points {
        line.clear();
        point.write_line(&mut line);
        payload.extend_from_slice(&(line.len() as u32).to_le_bytes());
        payload.extend_from_slice(line.as_bytes());
    }
    let mut framed = Vec::with_capacity(payload.len() + 8);
    wal::push_record(&mut framed, &payload);
    framed
}

/// A spool record read back: whose points, and where each line is in `payload`.
struct Record {
    project: String,
    payload: Vec<u8>,
    lines: Vec<Range<usize>>,
    /// where the next record starts
    end: u64,
}

fn decode_record(payload: Vec<u8>, end: u64) -> Option<Record> {
    let mut at: usize = 0;
    let mut take = |len: usize| {
        let range = at..at.checked_add(len)?;
        payload.get(range.clone())?;
        at = range.end;
        Some(range)
    };
    let u32_at = |payload: &[u8], range: Range<usize>| {
        Some(u32::from_le_bytes(payload.get(range)?.try_into().ok()?) as usize)
    };
    let project_len = u32_at(&payload, take(4)?)?;
    let project = std::str::from_utf8(&payload[take(project_len)?])
        .ok()?
        .to_owned();
    let count = u32_at(&payload, take(4)?)?;
    let mut lines = Vec::with_capacity(count.min(payload.len()));
    for _ in 0..count {
        let len = u32_at(&payload, take(4)?)?;
        lines.push(take(len)?);
    }
    Some(Record {
        project,
        payload,
        lines,
        end,
    })
}

/// Reads the spool from the cursor on, never past what is synced.
struct Reader {
    dir: PathBuf,
    /// the next line not yet in a batch
    position: Position,
    file: Option<(u64, File)>,
    /// the record at `position`, once read
    record: Option<Record>,
}

impl Reader {
    /// Reads the record at `position` into `record`, moving to the next segment at a closed
    /// segment's end; `false` when everything synced has been read.
    fn load(&mut self, durable: (u64, u64)) -> io::Result<bool> {
        while self.record.is_none() {
            let Position {
                segment, offset, ..
            } = self.position;
            if segment > durable.0 {
                return Ok(false);
            }
            if self.file.as_ref().map(|(n, _)| *n) != Some(segment) {
                match File::open(wal::segment_path(&self.dir, segment)) {
                    Ok(file) => self.file = Some((segment, file)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound && segment < durable.0 => {
                        self.next_segment();
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let Some((_, file)) = &self.file else {
                return Ok(false);
            };
            let end = if segment == durable.0 {
                durable.1
            } else {
                file.metadata()?.len()
            };
            if offset >= end {
                if segment == durable.0 {
                    return Ok(false);
                }
                self.next_segment();
                continue;
            }
            match read_record_at(file, offset, end)? {
                Some(record) => self.record = Some(record),
                None => {
                    // only a disk that changed the file under the spool gets here: what is left
                    // of this segment cannot be read
                    tracing::error!(spool = %self.dir.display(), segment, offset, "a damaged record in the influxdb spool: the rest of its segment is skipped");
                    if segment == durable.0 {
                        return Ok(false);
                    }
                    self.next_segment();
                }
            }
        }
        Ok(true)
    }

    fn next_segment(&mut self) {
        self.position = Position {
            segment: self.position.segment + 1,
            offset: 0,
            lines: 0,
        };
        self.file = None;
        self.record = None;
    }

    /// Adds lines to `batch` (started if `None`) until it holds `max_points`, the next record is
    /// another project's, or the synced spool has been read.
    fn fill(
        &mut self,
        batch: &mut Option<Batch>,
        max_points: usize,
        durable: (u64, u64),
    ) -> io::Result<Fill> {
        loop {
            if batch.as_ref().is_some_and(|b| b.lines >= max_points) {
                return Ok(Fill::Full);
            }
            if !self.load(durable)? {
                return Ok(Fill::Drained);
            }
            let record_start = self.position;
            let Some(record) = self.record.take() else {
                return Ok(Fill::Drained);
            };
            if batch.as_ref().is_some_and(|b| b.project != record.project) {
                self.record = Some(record);
                return Ok(Fill::ProjectChanged);
            }
            let batch = batch.get_or_insert_with(|| Batch {
                project: record.project.clone(),
                body: Vec::new(),
                lines: 0,
                end: record_start,
                records_bytes: 0,
                started: Instant::now(),
            });
            let from = (record_start.lines as usize).min(record.lines.len());
            let taken = (record.lines.len() - from).min(max_points - batch.lines);
            for line in &record.lines[from..from + taken] {
                if batch.lines > 0 {
                    batch.body.push(b'\n');
                }
                batch.body.extend_from_slice(&record.payload[line.clone()]);
                batch.lines += 1;
            }
            if from + taken == record.lines.len() {
                batch.records_bytes += record.end - record_start.offset;
                self.position = Position {
                    segment: record_start.segment,
                    offset: record.end,
                    lines: 0,
                };
            } else {
                self.position.lines = (from + taken) as u32;
                self.record = Some(record);
            }
            batch.end = self.position;
        }
    }
}

/// The framed record at `offset` (which must end by `end`); `None` if it is torn or damaged.
fn read_record_at(file: &File, offset: u64, end: u64) -> io::Result<Option<Record>> {
    let mut head = [0u8; 8];
    if offset + 8 > end {
        return Ok(None);
    }
    file.read_exact_at(&mut head, offset)?;
    let len = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let record_end = offset + 8 + len;
    if record_end > end {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, offset + 8)?;
    if crc32fast::hash(&payload) != crc {
        return Ok(None);
    }
    Ok(decode_record(payload, record_end))
}

/// Lines of one project on their way to InfluxDB.
struct Batch {
    project: String,
    /// the lines, `\n` between them
    body: Vec<u8>,
    lines: usize,
    /// the position after the batch's last line: the cursor once InfluxDB has answered
    end: Position,
    /// bytes of the records the batch finishes
    records_bytes: u64,
    /// when its first line was read: it goes `flush_interval` after
    started: Instant,
}

enum Fill {
    Full,
    ProjectChanged,
    Drained,
}

/// What InfluxDB made of a request.
enum Answer {
    Taken,
    /// never to be taken: dropped
    Refused {
        status: reqwest::StatusCode,
        body: String,
    },
    /// to be sent again, after `after` if InfluxDB said
    Retry {
        why: String,
        after: Option<Duration>,
    },
}

/// The background task: reads batches from the spool, sends them, moves the cursor.
struct Sender {
    shared: Arc<Shared>,
    /// only this task reads; the lock lets a blocking thread have it
    reader: Arc<Mutex<Reader>>,
    client: reqwest::Client,
    write_url: String,
    config: InfluxSinkConfig,
    stop: CancellationToken,
}

/// `/write` (1.x) or `/api/v2/write` (2.x) after the base URL, query aside.
fn write_url(config: &InfluxSinkConfig) -> String {
    let base = config.url.trim_end_matches('/');
    match config.version {
        InfluxVersion::V1 => format!("{base}/write"),
        InfluxVersion::V2 => format!("{base}/api/v2/write"),
    }
}

impl Sender {
    async fn run(self) {
        let mut batch: Option<Batch> = None;
        loop {
            if self.stop.is_cancelled() {
                return;
            }
            let fill = match self.fill(&mut batch).await {
                Ok(fill) => fill,
                Err(e) => {
                    tracing::error!(spool = %self.shared.dir.display(), error = %ErrorChain(&e), "the influxdb spool cannot be read");
                    tokio::select! {
                        () = tokio::time::sleep(self.config.retry_max_backoff) => continue,
                        () = self.stop.cancelled() => return,
                    }
                }
            };
            let send_now = match (&fill, &batch) {
                (Fill::Full | Fill::ProjectChanged, _) => true,
                (Fill::Drained, None) => {
                    tokio::select! {
                        () = self.shared.written.notified() => continue,
                        () = self.stop.cancelled() => return,
                    }
                }
                (Fill::Drained, Some(pending)) => {
                    let deadline = pending.started + self.config.flush_interval;
                    if Instant::now() >= deadline {
                        true
                    } else {
                        tokio::select! {
                            () = self.shared.written.notified() => continue,
                            () = tokio::time::sleep_until(deadline) => true,
                            () = self.stop.cancelled() => return,
                        }
                    }
                }
            };
            if send_now && let Some(mut full) = batch.take() {
                if !self.send(&mut full).await {
                    return;
                }
                self.acknowledge(&full).await;
            }
        }
    }

    /// Reads on from the spool into `batch`, off the async threads.
    async fn fill(&self, batch: &mut Option<Batch>) -> io::Result<Fill> {
        let durable = self.shared.durable();
        let max_points = self.config.batch_max_points;
        let reader = self.reader.clone();
        let mut filled = batch.take();
        let (filled, fill) = tokio::task::spawn_blocking(move || {
            let fill = lock(&reader).fill(&mut filled, max_points, durable);
            (filled, fill)
        })
        .await
        .map_err(|e| io::Error::other(format!("the spool's reading thread ended: {e}")))?;
        *batch = filled;
        fill
    }

    /// Sends `batch` until InfluxDB takes or refuses it; `false` if the sink stopped first.
    async fn send(&self, batch: &mut Batch) -> bool {
        let database = self.config.database(&batch.project);
        let plain = std::mem::take(&mut batch.body);
        let (body, compressed) = if self.config.gzip {
            let copy = plain.clone();
            match tokio::task::spawn_blocking(move || gzip(&copy)).await {
                Ok(Ok(compressed)) => (compressed, true),
                // a Vec takes every write: only a panicking thread gets here; plain is fine
                _ => (plain, false),
            }
        } else {
            (plain, false)
        };
        let mut backoff = FIRST_BACKOFF;
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let answer = tokio::select! {
                answer = self.post(&database, body.clone(), compressed) => answer,
                () = self.stop.cancelled() => return false,
            };
            let (why, after) = match answer {
                Answer::Taken => {
                    if attempts > 1 {
                        tracing::info!(url = %self.config.url, database = %database, attempts, "influxdb takes points again");
                    }
                    return true;
                }
                Answer::Refused { status, body } => {
                    tracing::error!(
                        url = %self.config.url,
                        database = %database,
                        points = batch.lines,
                        status = status.as_u16(),
                        answer = %body,
                        "influxdb refused a batch of points: it is dropped"
                    );
                    return true;
                }
                Answer::Retry { why, after } => (why, after),
            };
            let wait = after.unwrap_or(backoff);
            backoff = (backoff * 2).min(self.config.retry_max_backoff);
            if attempts == 1 || attempts.is_multiple_of(10) {
                tracing::warn!(url = %self.config.url, database = %database, attempts, error = %why, wait_ms = wait.as_millis() as u64, "influxdb did not take points: they stay in the spool and are sent again");
            } else {
                tracing::debug!(url = %self.config.url, database = %database, attempts, error = %why, "influxdb did not take points");
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.stop.cancelled() => return false,
            }
        }
    }

    async fn post(&self, database: &str, body: Vec<u8>, compressed: bool) -> Answer {
        let mut query: Vec<(&str, &str)> = Vec::with_capacity(3);
        match self.config.version {
            InfluxVersion::V1 => {
                query.push(("db", database));
                if let Some(rp) = &self.config.retention_policy {
                    query.push(("rp", rp));
                }
            }
            InfluxVersion::V2 => {
                if let Some(org) = &self.config.org {
                    query.push(("org", org));
                }
                query.push(("bucket", database));
            }
        }
        query.push(("precision", "ns"));
        let mut request = self
            .client
            .post(&self.write_url)
            .query(&query)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body);
        if compressed {
            request = request.header(http::header::CONTENT_ENCODING, "gzip");
        }
        request = match &self.config.auth {
            InfluxAuth::None => request,
            InfluxAuth::UserPassword { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            InfluxAuth::Token(token) => request.header(
                http::header::AUTHORIZATION,
                format!("Token {}", token.expose()),
            ),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Answer::Retry {
                    why: ErrorChain(&e).to_string(),
                    after: None,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Taken;
        }
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds).min(LONGEST_RETRY_AFTER));
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(LOGGED_BODY_CHARS)
            .collect();
        let why = format!("{status}: {}", body.trim());
        match status.as_u16() {
            429 | 503 => Answer::Retry {
                why,
                after: retry_after,
            },
            408 => Answer::Retry { why, after: None },
            400..=499 => Answer::Refused { status, body },
            _ => Answer::Retry { why, after: None },
        }
    }

    /// Moves the saved cursor past `batch` and deletes the segments wholly before it. A cursor
    /// that cannot be saved only means the batch is sent again after a restart.
    async fn acknowledge(&self, batch: &Batch) {
        self.shared
            .pending_bytes
            .fetch_sub(batch.records_bytes, Ordering::SeqCst);
        let dir = self.shared.dir.clone();
        let end = batch.end;
        let saved = tokio::task::spawn_blocking(move || -> io::Result<()> {
            save_cursor(&dir, end)?;
            for segment in wal::segments(&dir)? {
                if segment < end.segment {
                    fs::remove_file(wal::segment_path(&dir, segment))?;
                }
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        if let Err(e) = saved {
            tracing::warn!(spool = %self.shared.dir.display(), error = %ErrorChain(&e), "the influxdb spool's cursor cannot be saved: a restart sends points again");
        }
    }
}

fn gzip(plain: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(plain)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_protocol::{Precision, parse};

    fn points(body: &str) -> Vec<Point> {
        parse(body.as_bytes(), Precision::Nanoseconds, 0).points
    }

    #[test]
    fn a_record_reads_back_as_its_lines() {
        let written = points("m,host=a v=1 1\nm,host=b v=\"x y\" 2\n");
        let framed = encode_record("shop", &written);
        let (payload, end) = wal::next_record(&framed, 0).unwrap();
        let record = decode_record(payload.to_vec(), end as u64).unwrap();
        assert_eq!(record.project, "shop");
        assert_eq!(end, framed.len());
        let lines: Vec<&[u8]> = record
            .lines
            .iter()
            .map(|r| &record.payload[r.clone()])
            .collect();
        assert_eq!(
            lines,
            [&b"m,host=a v=1 1"[..], &b"m,host=b v=\"x y\" 2"[..]]
        );
    }

    #[test]
    fn a_damaged_cursor_is_none_and_a_saved_one_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let position = Position {
            segment: 7,
            offset: 1234,
            lines: 5,
        };
        save_cursor(dir.path(), position).unwrap();
        assert_eq!(read_cursor(dir.path()).unwrap(), Some(position));
        let mut bytes = fs::read(dir.path().join(CURSOR_FILE)).unwrap();
        bytes[3] ^= 1;
        fs::write(dir.path().join(CURSOR_FILE), bytes).unwrap();
        assert_eq!(read_cursor(dir.path()).unwrap(), None);
    }

    #[test]
    fn the_database_is_the_template_with_the_project() {
        let mut config = InfluxSinkConfig::new("http://x", InfluxVersion::V1, "/tmp/s");
        assert_eq!(config.database("shop"), "shop");
        config.database_template = "jeny_{project}".into();
        assert_eq!(config.database("shop"), "jeny_shop");
    }
}
