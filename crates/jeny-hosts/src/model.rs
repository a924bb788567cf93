//! Hosts' wire types, names, tags and selectors are `jeny_api::hosts` (shared with the clients);
//! this room re-exports them and adds what only the server uses: which hosts a list includes by
//! whether they are gone (with its SQL condition), and a host as a sync observes it.

pub use jeny_api::hosts::*;

/// Which hosts a list includes, by whether they are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GoneFilter {
    /// Only the hosts still there (what selectors pick).
    #[default]
    Exclude,
    /// Every host.
    Include,
    /// Only the gone ones.
    Only,
}

impl GoneFilter {
    pub fn parse(raw: &str) -> Option<GoneFilter> {
        match raw {
            "exclude" => Some(GoneFilter::Exclude),
            "include" => Some(GoneFilter::Include),
            "only" => Some(GoneFilter::Only),
            _ => None,
        }
    }

    /// The condition on `hosts h` that keeps the hosts this filter includes.
    pub(crate) fn condition(self) -> &'static str {
        match self {
            GoneFilter::Exclude => " AND h.gone_at IS NULL",
            GoneFilter::Include => "",
            GoneFilter::Only => " AND h.gone_at IS NOT NULL",
        }
    }
}

/// A host as a sync sees it where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedHost {
    /// Its id there (the EC2 instance id): how it is recognised from one sync to the next.
    pub external_id: String,
    /// The name it should get when it is new (its `Name` tag); made valid and unique, or the
    /// external id. A host's name never changes afterwards.
    pub preferred_name: String,
    pub address: String,
    /// Already valid (see `is_valid_tag`, `MAX_HOST_TAGS`).
    pub tags: Tags,
}
