//! The store's own contract, on both backends: migrations, portable placeholders, transactions,
//! error classification and wake-ups.

use jeny_store::testing::TestDatabase;
use jeny_store::{
    Backend, Channel, MIGRATIONS, Row, Store, StoreError, StoreOptions, both_backends,
};

async fn migrations_apply_once_and_are_recorded(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    store.close().await;
    // A second open finds everything applied and changes nothing.
    let store = database.open().await;
    let versions: Vec<i64> =
        jeny_store::sqlx::query("SELECT version FROM jeny_migrations ORDER BY version")
            .fetch_all(store.reader())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<i64, _>("version"))
            .collect();
    let expected: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
}

async fn an_edited_migration_stops_the_start(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let mut tx = store.begin().await.unwrap();
    jeny_store::sqlx::query("UPDATE jeny_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    let refused = Store::open(&database.url, StoreOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::MigrationChanged { version: 1, .. }),
        "{refused:?}"
    );
}

async fn numbered_placeholders_bind_by_number_not_position(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let row = jeny_store::sqlx::query("SELECT $2 AS second, $1 AS first, $2 AS again")
        .bind("one")
        .bind("two")
        .fetch_one(store.reader())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("first"), "one");
    assert_eq!(row.get::<String, _>("second"), "two");
    assert_eq!(row.get::<String, _>("again"), "two");
}

async fn a_dropped_transaction_leaves_nothing(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    {
        let mut tx = store.begin().await.unwrap();
        insert_cursor(&mut tx, "dropped").await.unwrap();
        // dropped without commit
    }
    let mut tx = store.begin().await.unwrap();
    insert_cursor(&mut tx, "kept").await.unwrap();
    tx.commit().await.unwrap();
    let names: Vec<String> = jeny_store::sqlx::query("SELECT consumer FROM event_cursors")
        .fetch_all(store.reader())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("consumer"))
        .collect();
    assert_eq!(names, vec!["kept".to_owned()]);
}

async fn unique_violations_become_conflicts(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let mut tx = store.begin().await.unwrap();
    insert_cursor(&mut tx, "same").await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let error = insert_cursor(&mut tx, "same").await.unwrap_err();
    assert!(error.is_conflict(), "{error:?}");
}

async fn a_commit_wakes_subscribers(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let mut woken = store.subscribe(Channel::Events);
    woken.borrow_and_update();
    let mut tx = store.begin().await.unwrap();
    tx.wake_on_commit(Channel::Events).await.unwrap();
    assert!(!woken.has_changed().unwrap(), "woken before the commit");
    tx.commit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), woken.changed())
        .await
        .expect("no wake-up after the commit")
        .unwrap();
}

async fn a_closed_store_is_unavailable(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    store.close().await;
    let error = store.ping().await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

async fn a_cached_read_never_outlives_a_write(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let mut tx = store.begin().await.unwrap();
    insert_cursor(&mut tx, "cached").await.unwrap();
    tx.commit().await.unwrap();
    let read = |store: Store| async move {
        let row =
            jeny_store::sqlx::query("SELECT position FROM event_cursors WHERE consumer = 'cached'")
                .fetch_optional(store.reader())
                .await?;
        Ok(row.map(|row| row.get::<i64, _>("position")))
    };
    assert_eq!(
        store.cached("k", read(store.clone())).await.unwrap(),
        Some(0)
    );
    set_position(&store, 1).await;
    assert_eq!(
        store.cached("k", read(store.clone())).await.unwrap(),
        Some(1),
        "a committed write was hidden by the cache"
    );
    // A rolled-back write changes nothing, cached or not.
    {
        let mut tx = store.begin().await.unwrap();
        jeny_store::sqlx::query("UPDATE event_cursors SET position = 99")
            .execute(tx.conn())
            .await
            .unwrap();
    }
    assert_eq!(
        store.cached("k", read(store.clone())).await.unwrap(),
        Some(1)
    );
    if backend == Backend::Postgres {
        // Another node's write is seen at once: PostgreSQL never serves from the cache.
        let other_node = database.open().await;
        set_position(&other_node, 2).await;
        assert_eq!(
            store.cached("k", read(store.clone())).await.unwrap(),
            Some(2)
        );
    }
}

/// A task cancelled while it begins a transaction (a request whose client went away) must not
/// leave the writer connection inside that transaction, which would fail every later write.
async fn a_cancelled_begin_never_poisons_later_writes(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    for attempt in 0..300u64 {
        let budget = std::time::Duration::from_micros(attempt % 60);
        let _ = tokio::time::timeout(budget, async {
            let mut tx = store.begin().await?;
            insert_cursor(&mut tx, &format!("c{attempt}")).await?;
            tx.commit().await
        })
        .await;
    }
    let mut tx = store
        .begin()
        .await
        .expect("a write after cancelled ones must begin");
    insert_cursor(&mut tx, "after").await.unwrap();
    tx.commit().await.unwrap();
}

async fn set_position(store: &Store, position: i64) {
    let mut tx = store.begin().await.unwrap();
    jeny_store::sqlx::query("UPDATE event_cursors SET position = $1")
        .bind(position)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn insert_cursor(tx: &mut jeny_store::WriteTx, name: &str) -> Result<(), StoreError> {
    jeny_store::sqlx::query(
        "INSERT INTO event_cursors (consumer, position, updated_at) VALUES ($1, 0, 0)",
    )
    .bind(name)
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn a_lease_has_one_holder_until_released_or_expired(backend: Backend) {
    use jeny_store::{hold_lease, release_lease};
    use std::time::Duration;
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let long = Duration::from_secs(60);
    assert!(hold_lease(&store, "work", "node-a", long).await.unwrap());
    assert!(
        hold_lease(&store, "work", "node-a", long).await.unwrap(),
        "renewed"
    );
    assert!(
        !hold_lease(&store, "work", "node-b", long).await.unwrap(),
        "held by a"
    );
    assert!(
        hold_lease(&store, "other", "node-b", long).await.unwrap(),
        "leases are independent"
    );
    release_lease(&store, "work", "node-b").await.unwrap();
    assert!(
        !hold_lease(&store, "work", "node-b", long).await.unwrap(),
        "only the holder releases"
    );
    release_lease(&store, "work", "node-a").await.unwrap();
    assert!(
        hold_lease(&store, "work", "node-b", Duration::ZERO)
            .await
            .unwrap(),
        "free once released"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        hold_lease(&store, "work", "node-a", long).await.unwrap(),
        "taken over once expired"
    );
}

/// A keyed wake-up (a deploy's output) wakes the waiters of its key, and on PostgreSQL only them,
/// on another node too, through the notification's payload.
async fn a_keyed_wake_wakes_its_key_only_on_every_node(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let writer = match backend {
        Backend::Postgres => database.open().await,
        Backend::Sqlite => store.clone(),
    };
    let mut mine = store.subscribe_key(Channel::DeployOutput, "deploy-a");
    let mut other = store.subscribe_key(Channel::DeployOutput, "deploy-b");
    let mut deploys = store.subscribe(Channel::Deploys);
    mine.borrow_and_update();
    other.borrow_and_update();
    deploys.borrow_and_update();

    let mut tx = writer.begin().await.unwrap();
    insert_cursor(&mut tx, "output").await.unwrap();
    tx.wake_key_on_commit(Channel::DeployOutput, "deploy-a");
    assert!(!mine.has_changed(), "woken before the commit");
    tx.commit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), mine.changed())
        .await
        .expect("the key's waiter was not woken");
    if backend == Backend::Postgres {
        // (On SQLite the change watcher sees every commit, this process's writer's included,
        // without its key, and wakes everyone a moment later.)
        assert!(!other.has_changed(), "another key's waiter was woken");
        assert!(
            !deploys.has_changed().unwrap(),
            "the whole deploys channel was woken"
        );
    }

    // A wake-up of the whole channel reaches keyed waiters too.
    mine.borrow_and_update();
    let mut tx = writer.begin().await.unwrap();
    tx.wake_on_commit(Channel::DeployOutput).await.unwrap();
    tx.commit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), other.changed())
        .await
        .expect("a channel-wide wake-up missed a keyed waiter");
    if backend == Backend::Postgres {
        writer.close().await;
    }
}

/// SQLite: a transaction dropped without commit gives the writer connection back, rolled back,
/// instead of closing it (reopening it for every failed write churned it).
async fn a_dropped_transaction_keeps_the_writer_connection(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    for round in 0..20 {
        let mut tx = store.begin().await.unwrap();
        insert_cursor(&mut tx, &format!("dropped-{round}"))
            .await
            .unwrap();
    }
    let mut tx = store.begin().await.unwrap();
    insert_cursor(&mut tx, "kept").await.unwrap();
    tx.commit().await.unwrap();
    let count: i64 = jeny_store::sqlx::query_scalar("SELECT COUNT(*) FROM event_cursors")
        .fetch_one(store.reader())
        .await
        .unwrap();
    assert_eq!(count, 1, "a dropped transaction left rows");
    assert_eq!(store.writer_reconnects(), 0);
}

/// Two transactions that lock two rows in opposite orders deadlock on PostgreSQL; `Store::write`
/// runs the one PostgreSQL aborts again, so both succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_write_is_run_again() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let store = database.open().await;
    let mut tx = store.begin().await.unwrap();
    insert_cursor(&mut tx, "first").await.unwrap();
    insert_cursor(&mut tx, "second").await.unwrap();
    tx.commit().await.unwrap();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let lock_both = |store: Store, order: [&'static str; 2]| {
        let barrier = barrier.clone();
        let attempts = attempts.clone();
        tokio::spawn(async move {
            store
                .write(|mut tx| {
                    let barrier = barrier.clone();
                    let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async move {
                        for (index, name) in order.iter().enumerate() {
                            jeny_store::sqlx::query(
                                "UPDATE event_cursors SET position = position + 1 WHERE consumer = $1",
                            )
                            .bind(*name)
                            .execute(tx.conn())
                            .await?;
                            // Both first attempts hold their first row before taking the second.
                            if index == 0 && attempt < 2 {
                                barrier.wait().await;
                            }
                        }
                        Ok::<_, StoreError>(((), tx))
                    }
                })
                .await
        })
    };
    let one = lock_both(store.clone(), ["first", "second"]);
    let two = lock_both(store.clone(), ["second", "first"]);
    one.await.unwrap().expect("the first write failed");
    two.await.unwrap().expect("the second write failed");
    assert!(
        attempts.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "no transaction was run again"
    );
    let positions: Vec<i64> =
        jeny_store::sqlx::query_scalar("SELECT position FROM event_cursors ORDER BY consumer")
            .fetch_all(store.reader())
            .await
            .unwrap();
    assert_eq!(positions, vec![2, 2], "each write applied once");
}

both_backends!(
    a_keyed_wake_wakes_its_key_only_on_every_node,
    a_dropped_transaction_keeps_the_writer_connection,
    a_lease_has_one_holder_until_released_or_expired,
    migrations_apply_once_and_are_recorded,
    an_edited_migration_stops_the_start,
    numbered_placeholders_bind_by_number_not_position,
    a_dropped_transaction_leaves_nothing,
    unique_violations_become_conflicts,
    a_commit_wakes_subscribers,
    a_closed_store_is_unavailable,
    a_cached_read_never_outlives_a_write,
    a_cancelled_begin_never_poisons_later_writes,
);

#[test]
fn both_migration_folders_hold_the_listed_files() {
    for backend in ["sqlite", "postgres"] {
        // The package folder as cargo gives it at run time, not the one compiled in (a binary
        // reused from a build cache of another checkout carries that checkout's).
        let package = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        let folder = format!("{package}/migrations/{backend}");
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed, "{folder} and MIGRATIONS disagree");
    }
}
