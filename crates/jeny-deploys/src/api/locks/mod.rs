//! One file per action on an environment's lock: read it, lock, unlock.

pub(super) mod get;
pub(super) mod lock;
pub(super) mod unlock;
