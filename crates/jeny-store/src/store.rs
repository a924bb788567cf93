//! `Store`: the pools, the backend, write transactions and wake-ups.
//!
//! SQLite keeps one writer connection (SQLite allows one writer at a time anyway; queuing in the
//! pool is cheaper than retrying `SQLITE_BUSY`) and a few reader connections in WAL mode, and
//! every write transaction starts with `BEGIN IMMEDIATE` so a read-then-write transaction can
//! never fail to upgrade its lock. WAL checkpoints run in the background on a connection of
//! their own, so that the checkpoint a commit still runs now and then (to bound the WAL and let it restart)
//! finds little left to copy; commits doing all of it stalled writes for 15 ms at a time.
//! PostgreSQL uses one pool for both.

use crate::cache::ReadCache;
use crate::wakeups::{Channel, Wakeups};
use crate::{MaybeContention, StoreError, migrate};
use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A SQL expression for the database's clock now, in Unix microseconds (BIGINT). Leases,
    /// queue order and anything else compared across nodes are written and compared with it,
    /// never with a node's own clock, which may be off. PostgreSQL's `clock_timestamp()` moves
    /// within a transaction (so a time read after a lock follows the lock's order); SQLite's
    /// `'now'` has millisecond resolution.
    pub fn now_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
        }
    }

    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL pool size; SQLite reader connections.
    pub max_connections: u32,
    /// How long a request waits for a connection before the store reports `Unavailable`.
    pub acquire_timeout: Duration,
    /// SQLite: how often to look for commits made by other processes (deploy supervisors) and
    /// wake every channel when there are some; `None` to not look. Ignored on PostgreSQL, where
    /// notifications cross processes.
    pub watch_other_writers: Option<Duration>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            watch_other_writers: Some(Duration::from_millis(2)),
        }
    }
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Live readers that want other processes' commits noticed at once (see `Store::follow_closely`).
    close_followers: Arc<CloseFollowers>,
    backend: Backend,
    reader: AnyPool,
    writer: AnyPool,
    wakeups: Wakeups,
    cache: ReadCache,
    /// SQLite: connections the writer pool has opened, the first included.
    writer_connects: Arc<std::sync::atomic::AtomicU64>,
    /// The PostgreSQL notification relay, or the SQLite checkpointer.
    background: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.background.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish()
    }
}

static INSTALL_DRIVERS: Once = Once::new();

/// How many times `Store::write` runs a transaction that keeps colliding with others.
const WRITE_ATTEMPTS: u32 = 6;

/// A pause before running a collided transaction again: growing, and random so that the two
/// transactions that collided do not collide again.
fn contention_pause(attempt: u32) -> Duration {
    let ceiling_ms = 5u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    Duration::from_millis(1 + u64::from(nanos) % ceiling_ms)
}

const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    // With WAL, NORMAL loses no committed transaction when the process dies (kill -9); only an
    // OS crash or power loss may roll back the last transactions.
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
];

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`) and applies pending migrations.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let store = Store::connect(url, options).await?;
        migrate::run(&store).await?;
        store.settle_watcher().await;
        Ok(store)
    }

    /// Has the SQLite change watcher take the database as it is now as its starting point, so
    /// that the migrations just committed do not wake anyone after `open` returns.
    async fn settle_watcher(&self) {
        let followers = &self.inner.close_followers;
        if !followers.watched.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let settled = followers.settled.notified();
        followers.settle.notify_one();
        // never hang a start on it: at worst a waiter is woken once for nothing
        let _ = tokio::time::timeout(Duration::from_secs(1), settled).await;
    }

    /// Connects without migrating.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend =
            Backend::of_url(url).ok_or_else(|| StoreError::UnsupportedUrl(url.to_owned()))?;
        let inner = match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                let writer_connects = Arc::new(std::sync::atomic::AtomicU64::new(0));
                let writer = sqlite_pool(1, &options, SqliteRole::Writer(writer_connects.clone()))
                    .connect(&url)
                    .await?;
                let reader =
                    sqlite_pool(options.max_connections.max(1), &options, SqliteRole::Reader)
                        .connect(&url)
                        .await?;
                let checkpointer = sqlite_pool(1, &options, SqliteRole::Checkpointer)
                    .connect(&url)
                    .await?;
                let wakeups = Wakeups::new();
                let watcher = match options.watch_other_writers {
                    Some(every) => Some(
                        sqlite_pool(1, &options, SqliteRole::Checkpointer)
                            .connect(&url)
                            .await
                            .map(|pool| (pool, every))?,
                    ),
                    None => None,
                };
                let wake = wakeups.clone();
                let close_followers = Arc::new(CloseFollowers::default());
                close_followers
                    .watched
                    .store(watcher.is_some(), std::sync::atomic::Ordering::SeqCst);
                let followers = close_followers.clone();
                let background = tokio::spawn(async move {
                    match watcher {
                        Some((pool, every)) => {
                            tokio::join!(
                                checkpoint_wal(checkpointer),
                                watch_data_version(pool, every, wake, followers)
                            );
                        }
                        None => checkpoint_wal(checkpointer).await,
                    }
                });
                Inner {
                    close_followers,
                    backend,
                    reader,
                    writer,
                    wakeups,
                    cache: ReadCache::new(true),
                    writer_connects,
                    background: Some(background),
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(2))
                    .acquire_timeout(options.acquire_timeout)
                    .connect(url)
                    .await?;
                let wakeups = Wakeups::new();
                let listener =
                    tokio::spawn(relay_pg_notifications(url.to_owned(), wakeups.clone()));
                Inner {
                    close_followers: Arc::default(),
                    backend,
                    reader: pool.clone(),
                    writer: pool,
                    wakeups,
                    cache: ReadCache::new(false),
                    writer_connects: Arc::default(),
                    background: Some(listener),
                }
            }
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The database's clock, as a SQL expression (`Backend::now_sql`).
    pub fn now_sql(&self) -> &'static str {
        self.inner.backend.now_sql()
    }

    /// The database's clock now, in Unix microseconds.
    pub async fn now(&self) -> Result<jeny_core::Timestamp, StoreError> {
        let micros: i64 = sqlx::query_scalar(&format!("SELECT {}", self.now_sql()))
            .fetch_one(&self.inner.reader)
            .await?;
        Ok(jeny_core::Timestamp::from_micros(micros))
    }

    /// Runs `body` in a write transaction and commits it; when PostgreSQL aborts it to resolve a
    /// collision with another transaction (a deadlock or serialization failure), runs it again,
    /// a few times, after a short random pause. `body` takes the transaction and hands it back
    /// with its result (`|mut tx| async move { ...; Ok((value, tx)) }`); it must do nothing
    /// outside the transaction that it cannot repeat. An error from `body` rolls back.
    pub async fn write<T, E, F, Fut>(&self, mut body: F) -> Result<T, E>
    where
        F: FnMut(WriteTx) -> Fut,
        Fut: std::future::Future<Output = Result<(T, WriteTx), E>>,
        E: From<StoreError> + MaybeContention,
    {
        let mut attempt = 1;
        loop {
            let result = async {
                let tx = self.begin().await?;
                let (value, tx) = body(tx).await?;
                tx.commit().await?;
                Ok::<T, E>(value)
            }
            .await;
            match result {
                Err(error) if error.is_contention() && attempt < WRITE_ATTEMPTS => {
                    tracing::debug!(
                        attempt,
                        "a transaction collided with another; running it again"
                    );
                    attempt += 1;
                    tokio::time::sleep(contention_pause(attempt)).await;
                }
                result => return result,
            }
        }
    }

    /// SQLite: how many times the writer connection was opened again after the first (a
    /// transaction that failed to commit closes it); 0 on PostgreSQL. `/metrics` shows it.
    pub fn writer_reconnects(&self) -> u64 {
        self.inner
            .writer_connects
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(1)
    }

    /// The pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.inner.reader
    }

    /// Begins a write transaction.
    pub async fn begin(&self) -> Result<WriteTx, StoreError> {
        let held = match self.inner.backend {
            Backend::Sqlite => Held::Sqlite(self.begin_sqlite().await?),
            Backend::Postgres => {
                let mut connection = self.inner.writer.acquire().await?;
                // A task cancelled while it was beginning can return the connection to the pool
                // inside the transaction it opened, which sqlx cannot roll back because the
                // transaction object was never made. Such a connection is closed, not reused:
                // reused, it would fail every later write.
                while connection.is_in_transaction() {
                    tracing::warn!(
                        "closing a database connection left inside a transaction by a cancelled task"
                    );
                    connection.close_on_drop();
                    drop(connection);
                    connection = self.inner.writer.acquire().await?;
                }
                Held::Postgres(Transaction::begin(connection, None).await?)
            }
        };
        Ok(WriteTx {
            held: Some(held),
            store: self.clone(),
            wake_after_commit: Vec::new(),
            wake_keys_after_commit: Vec::new(),
        })
    }

    /// SQLite's write transactions are run by hand rather than through sqlx's `Transaction`:
    /// sqlx follows a custom `BEGIN IMMEDIATE` with a second hand-off to the connection's worker
    /// thread to check it, which cost writes about a sixth of their throughput. A connection
    /// whose transaction did not commit is closed instead of returned (SQLite rolls back what a
    /// closing connection leaves open), so a failed or cancelled write never leaks a transaction.
    async fn begin_sqlite(&self) -> Result<PoolConnection<Any>, StoreError> {
        let mut connection = self.inner.writer.acquire().await?;
        match sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *connection)
            .await
        {
            Ok(_) => Ok(connection),
            // Only possible if a commit was cancelled before it reached SQLite.
            Err(error) if error.to_string().contains("within a transaction") => {
                tracing::warn!(
                    "closing a database connection left inside a transaction by a cancelled task"
                );
                connection.close_on_drop();
                drop(connection);
                let mut connection = self.inner.writer.acquire().await?;
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *connection)
                    .await?;
                Ok(connection)
            }
            Err(error) => {
                connection.close_on_drop();
                Err(error.into())
            }
        }
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.inner.reader).await?;
        Ok(())
    }

    /// While the returned guard lives, commits by other processes are noticed within the
    /// watcher's shortest interval, even after a quiet spell (SQLite; a no-op on PostgreSQL,
    /// whose notifications are immediate). Live output streams hold one.
    pub fn follow_closely(&self) -> CloseFollowGuard {
        let followers = self.inner.close_followers.clone();
        followers
            .count
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        followers.arrived.notify_one();
        CloseFollowGuard { followers }
    }

    /// A receiver that changes whenever something is committed on `channel`.
    /// Waits on one key of a keyed channel (`Channel::DeployOutput` and a deploy id): woken by
    /// `WriteTx::wake_key_on_commit` of that key, and by any wake-up of the whole channel.
    pub fn subscribe_key(&self, channel: Channel, key: &str) -> crate::wakeups::KeyedWake {
        self.inner.wakeups.subscribe_key(channel, key)
    }

    pub fn subscribe(&self, channel: Channel) -> watch::Receiver<u64> {
        self.inner.wakeups.subscribe(channel)
    }

    /// `load`'s result for `key`, from the read cache when no write has committed since it was
    /// loaded (SQLite only; on PostgreSQL this always loads). Only a found value is cached.
    pub async fn cached<T, F>(
        &self,
        key: impl Into<String>,
        load: F,
    ) -> Result<Option<T>, StoreError>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<Option<T>, StoreError>>,
    {
        let key = key.into();
        if let Some(hit) = self.inner.cache.get::<T>(&key) {
            return Ok(Some(hit));
        }
        let generation = self.inner.cache.generation();
        let loaded = load.await?;
        if let Some(value) = &loaded {
            self.inner.cache.put(key, generation, value.clone());
        }
        Ok(loaded)
    }

    /// Closes the pools; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.inner.reader.close().await;
        self.inner.writer.close().await;
    }
}

fn sqlite_url(url: &str) -> String {
    if url.contains('?') {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    }
}

#[derive(Debug, Clone)]
enum SqliteRole {
    /// Counts the connections it opens.
    Writer(Arc<std::sync::atomic::AtomicU64>),
    Reader,
    Checkpointer,
}

fn sqlite_pool(connections: u32, options: &StoreOptions, role: SqliteRole) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .min_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(None)
        .max_lifetime(None)
        // A file connection does not drop like a network one; pinging it before every use
        // (sqlx's default) costs a round trip to its worker thread per query.
        .test_before_acquire(false)
        .after_connect(move |connection, _| {
            let role = role.clone();
            Box::pin(async move {
                for pragma in SQLITE_PRAGMAS {
                    connection.execute(pragma).await?;
                }
                match role {
                    // A commit still checkpoints past 1000 pages of WAL (SQLite's default), by when
                    // `checkpoint_wal` has copied most of it; that commit's checkpoint lets the WAL
                    // restart, keeping it bounded under a sustained write load. (Background
                    // checkpoints alone never catch up with a busy writer: with autocheckpoint off
                    // the WAL grew past a gigabyte in a ten-second benchmark.)
                    SqliteRole::Writer(connects) => {
                        connects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        connection
                            .execute("PRAGMA wal_autocheckpoint = 1000")
                            .await?
                    }
                    SqliteRole::Reader => connection.execute("PRAGMA query_only = ON").await?,
                    SqliteRole::Checkpointer => return Ok(()),
                };
                Ok(())
            })
        })
}

/// How often the WAL is copied back into the database file. Between checkpoints the WAL grows by
/// whatever was written meanwhile; a crash loses nothing either way (the WAL is the log).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies committed WAL frames into the database file in the background (`PASSIVE`: never waits
/// for, nor blocks, readers and the writer), so the WAL stays small without a commit ever doing it.
async fn checkpoint_wal(checkpointer: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&checkpointer)
            .await
        {
            tracing::debug!(error = %jeny_core::ErrorChain(&error), "wal checkpoint failed; retrying at the next tick");
        }
    }
}

/// Wakes every channel when another connection commits: `PRAGMA data_version` changes on a
/// connection when any other connection (this process's writer, or another process) commits.
/// This is how a server hears of a supervisor's output on SQLite. Own commits also wake it, which
/// is harmless (waiters re-read from their cursor). It polls every `every` while commits come,
/// and backs off to `WATCH_IDLE_MAX` after a quiet moment, so an idle server costs nearly nothing.
async fn watch_data_version(
    pool: AnyPool,
    every: Duration,
    wakeups: Wakeups,
    followers: Arc<CloseFollowers>,
) {
    let mut last: Option<i64> = None;
    let mut interval = every;
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = followers.arrived.notified() => interval = every,
            _ = followers.settle.notified() => {
                if let Ok(version) = sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                    .fetch_one(&pool)
                    .await
                {
                    last = Some(version);
                }
                followers.settled.notify_one();
                continue;
            }
        }
        let version: Result<i64, _> = sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&pool)
            .await;
        match version {
            Ok(version) if last.is_some_and(|last| last != version) => {
                wakeups.wake_all();
                last = Some(version);
                interval = every;
                quiet_since = tokio::time::Instant::now();
            }
            Ok(version) => {
                last = Some(version);
                let followed = followers.count.load(std::sync::atomic::Ordering::SeqCst) > 0;
                if !followed && quiet_since.elapsed() >= WATCH_QUIET {
                    interval = (interval * 2).min(WATCH_IDLE_MAX.max(every));
                }
            }
            Err(error) => {
                tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot read data_version; retrying")
            }
        }
    }
}

/// How many live readers want commits noticed at once, and a wake-up for the watcher when one
/// arrives; and the handshake by which `open` has the watcher start from the migrated database.
#[derive(Default)]
struct CloseFollowers {
    count: std::sync::atomic::AtomicUsize,
    arrived: tokio::sync::Notify,
    /// Whether a watcher runs (SQLite with `watch_other_writers`).
    watched: std::sync::atomic::AtomicBool,
    settle: tokio::sync::Notify,
    settled: tokio::sync::Notify,
}

/// Held by a live reader; see `Store::follow_closely`.
pub struct CloseFollowGuard {
    followers: Arc<CloseFollowers>,
}

impl std::fmt::Debug for CloseFollowGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloseFollowGuard")
    }
}

impl Drop for CloseFollowGuard {
    fn drop(&mut self) {
        self.followers
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// After this long without a commit, the data_version watcher starts backing off.
const WATCH_QUIET: Duration = Duration::from_millis(500);
/// The longest the data_version watcher sleeps between two looks.
const WATCH_IDLE_MAX: Duration = Duration::from_millis(100);

/// Follows PostgreSQL notifications from every node and wakes local waiters. After a lost
/// connection it wakes everything, since notifications sent meanwhile are gone.
async fn relay_pg_notifications(url: String, wakeups: Wakeups) {
    let channels: Vec<&str> = Channel::ALL.iter().map(|c| c.pg_name()).collect();
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot listen for notifications, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen_all(channels.iter().copied()).await {
            tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot listen for notifications, retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        wakeups.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(channel) = Channel::from_pg_name(notification.channel()) {
                        match notification.payload() {
                            "" => wakeups.wake(channel),
                            key => wakeups.wake_key(channel, key),
                        }
                    }
                }
                Ok(None) => wakeups.wake_all(),
                Err(error) => {
                    tracing::debug!(error = %jeny_core::ErrorChain(&error), "notification listener lost its connection");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

/// What a write transaction holds.
enum Held {
    /// A pooled connection that ran `BEGIN IMMEDIATE` (see `Store::begin_sqlite`).
    Sqlite(PoolConnection<Any>),
    Postgres(Transaction<'static, Any>),
}

/// A write transaction. Dropping it without `commit` rolls back.
pub struct WriteTx {
    /// `None` only once `commit` has taken it.
    held: Option<Held>,
    store: Store,
    wake_after_commit: Vec<Channel>,
    /// Keys to wake once committed (`wake_key_on_commit`).
    wake_keys_after_commit: Vec<(Channel, String)>,
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        // Not committed. sqlx's PostgreSQL `Transaction` rolls itself back when dropped. A SQLite
        // connection is rolled back and returned to the pool by a task, rather than closed: the
        // writer is one connection, and reopening it (pragmas, page cache) for every transaction
        // that ends early would churn it. If the rollback cannot run, the connection is closed,
        // which rolls back too; one returned still inside a transaction is closed by the next
        // `begin` (see `begin_sqlite`).
        if let Some(Held::Sqlite(mut connection)) = self.held.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        if sqlx::query("ROLLBACK")
                            .execute(&mut *connection)
                            .await
                            .is_err()
                        {
                            connection.close_on_drop();
                        }
                    });
                }
                Err(_) => connection.close_on_drop(),
            }
        }
    }
}

impl WriteTx {
    /// The connection to run statements on: `query.execute(tx.conn())`.
    pub fn conn(&mut self) -> &mut AnyConnection {
        match self
            .held
            .as_mut()
            .expect("a transaction is held until it commits")
        {
            Held::Sqlite(connection) => connection,
            Held::Postgres(transaction) => transaction,
        }
    }
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// The clause that locks the rows a `SELECT` reads until this transaction ends: `FOR UPDATE`
    /// on PostgreSQL; nothing on SQLite, where `BEGIN IMMEDIATE` already excludes other writers.
    pub fn for_update(&self) -> &'static str {
        match self.store.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// The database's clock, as a SQL expression (`Backend::now_sql`).
    pub fn now_sql(&self) -> &'static str {
        self.store.backend().now_sql()
    }

    /// Takes the named lock until this transaction ends (PostgreSQL's transaction-scoped advisory
    /// lock on a 64-bit hash of `name`); nothing on SQLite, whose write transactions already
    /// exclude each other. Transactions that take several locks take them in one documented
    /// order, so they cannot deadlock (the event-order lock last).
    pub async fn lock_named(&mut self, name: &str) -> Result<(), StoreError> {
        if self.store.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(named_lock_key(name))
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Wakes `channel`'s waiters, here and on other nodes, once this transaction commits.
    pub async fn wake_on_commit(&mut self, channel: Channel) -> Result<(), StoreError> {
        if self.wake_after_commit.contains(&channel) {
            return Ok(());
        }
        if self.store.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(channel.pg_name())
                .execute(self.conn())
                .await?;
        }
        self.wake_after_commit.push(channel);
        Ok(())
    }

    /// Wakes the waiters of `key` on `channel` (`Store::subscribe_key`), here and on other nodes,
    /// once this transaction commits. On PostgreSQL the notification is sent after the commit,
    /// in a statement of its own, rather than inside the transaction: a transaction that
    /// notifies takes a lock that serialises the commits of every notifying transaction of the
    /// cluster, which output batches, the most frequent commits, must not pay for.
    pub fn wake_key_on_commit(&mut self, channel: Channel, key: &str) {
        let entry = (channel, key.to_owned());
        if !self.wake_keys_after_commit.contains(&entry) {
            self.wake_keys_after_commit.push(entry);
        }
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        // Invalidate on both sides of the commit: before, so no load that starts during the
        // commit is cached under the old generation; after, so none that read pre-commit data
        // slipped in between.
        self.store.inner.cache.invalidate();
        match self
            .held
            .take()
            .expect("a transaction is held until it commits")
        {
            Held::Sqlite(mut connection) => {
                if let Err(error) = sqlx::query("COMMIT").execute(&mut *connection).await {
                    connection.close_on_drop();
                    return Err(error.into());
                }
            }
            Held::Postgres(transaction) => transaction.commit().await?,
        }
        self.store.inner.cache.invalidate();
        for channel in std::mem::take(&mut self.wake_after_commit) {
            self.store.inner.wakeups.wake(channel);
        }
        for (channel, key) in std::mem::take(&mut self.wake_keys_after_commit) {
            self.store.inner.wakeups.wake_key(channel, &key);
            if self.store.backend() == Backend::Postgres {
                let notified = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel.pg_name())
                    .bind(&key)
                    .execute(&self.store.inner.writer)
                    .await;
                if let Err(error) = notified {
                    // Committed all the same; other nodes' waiters catch up at their next wake-up
                    // or poll.
                    tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot notify other nodes of a commit");
                }
            }
        }
        Ok(())
    }
}

/// A lock's key among PostgreSQL's advisory locks: FNV-1a (64 bits) of its name.
fn named_lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}
