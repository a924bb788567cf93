//! The store: one interface over SQLite (the zero-setup default) and PostgreSQL (for teams and
//! several nodes). Concepts write portable SQL once against `sqlx::Any` with `$1` placeholders
//! and the small shared type set (TEXT, BIGINT, BLOB); only coordination primitives differ per
//! backend, and they live here: how a write transaction begins, wake-ups between writers and
//! readers, and migration locking.

mod cache;
mod error;
mod lease;
mod migrate;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod wakeups;

pub use error::{MaybeContention, StoreError};
pub use lease::{hold_lease, release_lease};
pub use migrate::MIGRATIONS;
pub use store::{Backend, CloseFollowGuard, Store, StoreOptions, WriteTx};
pub use wakeups::{Channel, KeyedWake};

/// Re-exported so concept crates name the same sqlx types without depending on sqlx features.
pub use sqlx;
pub use sqlx::AnyConnection;
pub use sqlx::Row;
pub use sqlx::any::AnyRow;
