//! AWS: accounts (regions, credentials from the standard chain, a profile, static keys sealed
//! like secret variables, or a role to assume) and the EC2 sync that keeps jeny's hosts in line
//! with the fleet, so that environments' selectors, deploys and the Ansible inventory follow it
//! as it scales. Instances become hosts `managed_by` `aws:<account>/<region>`, tagged with their
//! EC2 tags and `aws:*` facts; terminated ones are marked gone, never deleted.

pub mod api;
mod cloudwatch;
mod ec2;
mod elb;
mod error;
pub mod metrics_import;
mod model;
mod query_protocol;
mod service;
mod store;

pub use error::AwsError;
pub use model::{
    AddressKind, AwsAccount, AwsAccountInput, DEFAULT_METRICS_PERIOD_SECS,
    DEFAULT_SYNC_INTERVAL_SECS, MAX_SYNC_INTERVAL_SECS, METRICS_PERIODS_SECS,
    MIN_SYNC_INTERVAL_SECS, MetricsImportReport, RegionImportReport, RegionReport, SyncReport,
};
pub use service::Aws;
