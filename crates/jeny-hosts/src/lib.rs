//! Hosts: the machines deploys target. A host has a unique name, an address, tags (key/value
//! pairs such as `role=web`) and a source (added by hand, registered by an agent, or synced from
//! AWS). Environments pick their hosts with a `TagSelector`: every condition must match.
//! Other parts ask `select` for the hosts a selector picks; they never read these tables.

pub mod api;
mod error;
mod model;
mod service;
mod store;

pub use error::HostError;
/// The Ansible inventory formats (`jeny_api::hosts::inventory`, which the CLI also writes).
pub use jeny_api::hosts::inventory;
pub use model::{
    GoneFilter, Host, HostInput, HostName, HostSource, MAX_HOST_TAGS, ObservedHost,
    ReconcileCounts, TagConditionSchema, TagSelector, Tags, TagsSchema, is_valid_tag, parse_tags,
};
pub use service::{
    create_host, delete_host, get_host, list_hosts, list_hosts_filtered, managed_sources,
    reconcile, select, update_host,
};
