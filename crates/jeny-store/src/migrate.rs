//! Migrations: numbered SQL files, one folder per backend with matching names, embedded in the
//! binary and applied at start. Each is applied in its own transaction and recorded with a
//! checksum; a landed migration is never edited (a changed checksum stops the server). On
//! PostgreSQL an advisory lock makes nodes that start together migrate one at a time.

use crate::StoreError;
use crate::store::{Backend, Store};
use jeny_core::Timestamp;
use sqlx::Row;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../migrations/postgres/", $file)),
        }
    };
}

/// Every migration, in order. A test checks this list against the two folders.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "foundation", "0001_foundation.sql"),
    migration!(2, "deploys", "0002_deploys.sql"),
    migration!(3, "sign_in", "0003_sign_in.sql"),
    migration!(4, "aws", "0004_aws.sql"),
    migration!(5, "chat", "0005_chat.sql"),
    migration!(6, "deploys_cluster", "0006_deploys_cluster.sql"),
    migration!(7, "chat_seen", "0007_chat_seen.sql"),
    migration!(8, "aws_metrics", "0008_aws_metrics.sql"),
    migration!(9, "metrics_retention", "0009_metrics_retention.sql"),
];

/// Arbitrary constant naming jeny's migration lock among PostgreSQL advisory locks.
const MIGRATION_LOCK_KEY: i64 = 0x006a_656e_796d_6967;

pub(crate) async fn run(store: &Store) -> Result<(), StoreError> {
    if store.backend() == Backend::Sqlite {
        // One writer connection: nothing else can migrate concurrently.
        return apply_pending(store).await;
    }
    let mut lock_holder = store.reader().acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *lock_holder)
        .await?;
    let outcome = apply_pending(store).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *lock_holder)
        .await?;
    outcome
}

async fn apply_pending(store: &Store) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS jeny_migrations (version BIGINT PRIMARY KEY, \
         name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(tx.conn())
    .await?;
    let applied = sqlx::query("SELECT version, checksum FROM jeny_migrations ORDER BY version")
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;

    for row in &applied {
        let version: i64 = row.try_get("version")?;
        let checksum: String = row.try_get("checksum")?;
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == version) else {
            return Err(StoreError::MigrationFromTheFuture(version));
        };
        if checksum != checksum_of(sql_for(store.backend(), known)) {
            return Err(StoreError::MigrationChanged {
                version,
                name: known.name.to_owned(),
            });
        }
    }

    let newest_applied = applied
        .iter()
        .filter_map(|row| row.try_get::<i64, _>("version").ok())
        .max()
        .unwrap_or(0);
    for migration in MIGRATIONS.iter().filter(|m| m.version > newest_applied) {
        let sql = sql_for(store.backend(), migration);
        let mut tx = store.begin().await?;
        sqlx::raw_sql(sql).execute(tx.conn()).await?;
        sqlx::query(
            "INSERT INTO jeny_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(checksum_of(sql))
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    Ok(())
}

fn sql_for(backend: Backend, migration: &Migration) -> &'static str {
    match backend {
        Backend::Sqlite => migration.sqlite,
        Backend::Postgres => migration.postgres,
    }
}

/// FNV-1a, 64 bits: stable across Rust versions, enough to notice an edited file.
fn checksum_of(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
