//! AWS: accounts (regions, credentials from the standard chain, a profile, static keys sealed
//! like secret variables, or a role to assume) and the EC2 sync that keeps jeny's hosts in line
//! with the fleet, so that environments' selectors, deploys and the Ansible inventory follow it
//! as it scales. Instances become hosts `managed_by` `aws:<account>/<region>`, tagged with their
//! EC2 tags and `aws:*` facts; terminated ones are marked gone, never deleted.

pub mod api;
mod ec2;
mod error;
mod model;
mod query_protocol;
mod service;
mod store;

pub use error::AwsError;
pub use model::{
    AddressKind, AwsAccount, AwsAccountInput, DEFAULT_SYNC_INTERVAL_SECS, MAX_SYNC_INTERVAL_SECS,
    MIN_SYNC_INTERVAL_SECS, RegionReport, SyncReport,
};
pub use service::Aws;
