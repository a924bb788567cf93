//! One file per action on environments.

pub(super) mod create;
pub(super) mod delete;
pub(super) mod get;
pub(super) mod hosts;
pub(super) mod list;
pub(super) mod update;
