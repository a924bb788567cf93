//! A read cache for hot lookups by key (a project by name, ...), used only on SQLite, where every
//! writer is in this process. Every committed write transaction bumps a generation number, and
//! an entry is only served while the generation it was loaded under is current, so a write is
//! visible to the very next read: there is no staleness window to reason about. Coarse on purpose
//! (any write empties the cache): reads outnumber writes by far, and being exact about which
//! write touches which key would be a second copy of every query's logic.
//!
//! On PostgreSQL other nodes write too, and their commits reach this node only later through
//! notifications, so the cache is off and every lookup goes to the database.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

const MAX_ENTRIES: usize = 10_000;

/// A cached value and the generation it was loaded under.
type Entry = (u64, Arc<dyn Any + Send + Sync>);

pub(crate) struct ReadCache {
    enabled: bool,
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Entry>>,
}

impl ReadCache {
    pub(crate) fn new(enabled: bool) -> ReadCache {
        ReadCache {
            enabled,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Called after every commit.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation to tag a load with; read before the load starts, so a write committed
    /// while the load runs makes its result stale rather than wrongly fresh.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        if !self.enabled {
            return None;
        }
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (generation, value) = entries.get(key)?;
        if *generation != self.generation() {
            return None;
        }
        value.downcast_ref::<T>().cloned()
    }

    pub(crate) fn put<T: Clone + Send + Sync + 'static>(
        &self,
        key: String,
        generation: u64,
        value: T,
    ) {
        if !self.enabled || generation != self.generation() {
            return;
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let current = self.generation();
            entries.retain(|_, (entry_generation, _)| *entry_generation == current);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (generation, Arc::new(value)));
    }
}
