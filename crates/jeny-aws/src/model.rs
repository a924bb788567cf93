//! AWS accounts as the API shows and takes them, and the reports of syncs.

use crate::AwsError;
use jeny_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The least time between two periodic syncs of an account.
pub const MIN_SYNC_INTERVAL_SECS: u64 = 30;
/// The default time between two periodic syncs of an account.
pub const DEFAULT_SYNC_INTERVAL_SECS: u64 = 120;
/// The most time between two periodic syncs of an account (a week).
pub const MAX_SYNC_INTERVAL_SECS: u64 = 7 * 24 * 3600;
/// The CloudWatch periods an import reads at: 1 or 5 minutes (the default).
pub const METRICS_PERIODS_SECS: [u64; 2] = [60, 300];
pub const DEFAULT_METRICS_PERIOD_SECS: u64 = 300;

/// Which of an instance's addresses Ansible connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// The private IP (jeny runs in the VPC, or reaches it).
    #[default]
    Private,
    /// The public IP, when the instance has one (else the private one).
    Public,
}

impl AddressKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Private => "private",
            AddressKind::Public => "public",
        }
    }

    pub(crate) fn parse(raw: &str) -> AddressKind {
        if raw == "public" {
            AddressKind::Public
        } else {
            AddressKind::Private
        }
    }
}

/// An AWS account as the API shows it: never its secret key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AwsAccount {
    pub id: String,
    /// Unique, URL-safe; never changes. Hosts synced from it are `managed_by`
    /// `aws:<name>/<region>` and tagged `aws:account=<name>`.
    pub name: String,
    pub regions: Vec<String>,
    /// Where credentials come from: `static` (an access key given here), `profile` (a profile
    /// of the shared AWS config on the server) or `default_chain` (the environment, shared
    /// config, web identity, the instance's role).
    pub credentials: String,
    pub profile: Option<String>,
    pub access_key_id: Option<String>,
    /// Whether a secret access key is stored (it is never shown).
    pub secret_access_key_set: bool,
    /// A role to assume with those credentials.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// Only instances with these tags: key -> value, `*` for any value.
    pub tag_filters: BTreeMap<String, String>,
    /// Another EC2 endpoint (an AWS-compatible cloud, or an emulator).
    pub endpoint_url: Option<String>,
    pub address: AddressKind,
    pub sync_interval_secs: u64,
    /// Whether it is synced periodically (a sync on demand works either way).
    pub enabled: bool,
    /// Whether its CloudWatch and load balancer metrics are imported periodically (when
    /// `enabled` too; an import on demand works either way).
    pub metrics_import: bool,
    /// The CloudWatch period imported: 60 or 300 seconds.
    pub metrics_period_secs: u64,
    pub last_sync: Option<SyncReport>,
    /// What the last metrics import did.
    pub last_metrics_import: Option<MetricsImportReport>,
    pub next_sync_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip)]
    pub version: i64,
}

/// What `POST /api/v1/aws/accounts` takes; `PATCH` takes any part of it (a merge patch).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsAccountInput {
    /// Required to create; on update it may be left out, and must equal the current name.
    #[schema(value_type = Option<jeny_core::Name>)]
    pub name: Option<String>,
    /// AWS regions such as `eu-west-1`: at least one.
    #[schema(min_items = 1, inline, value_type = Vec<RegionName>)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Write-only; sealed with the server's key like a secret variable.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// A role to assume: `arn:...:role/...`.
    #[serde(default)]
    #[schema(pattern = "^(arn:.*:role/.*)?$")]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    /// Tag key -> value (or `*`, any value) an instance must have: a key of 1 to 128
    /// characters, not only spaces; a value of at most 256.
    #[serde(default)]
    #[schema(value_type = TagFiltersSchema)]
    pub tag_filters: BTreeMap<String, String>,
    /// Another endpoint that speaks EC2's API: an http(s) URL.
    #[serde(default)]
    #[schema(pattern = "^(https?://.*)?$")]
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub address: AddressKind,
    /// [default: 120, at least 30, at most 604800]
    #[serde(default)]
    #[schema(minimum = 30, maximum = 604800)]
    pub sync_interval_secs: Option<u64>,
    /// [default: true]
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Import the account's CloudWatch and load balancer metrics into its hosts' projects
    /// [default: false]
    #[serde(default)]
    pub metrics_import: Option<bool>,
    /// The CloudWatch period imported, 60 or 300 seconds [default: 300]
    #[serde(default)]
    #[schema(minimum = 60, maximum = 300)]
    pub metrics_period_secs: Option<u64>,
}

jeny_http::create_request_schema!(
    /// What `POST /api/v1/aws/accounts` takes.
    NewAwsAccount = AwsAccountInput, "name": jeny_core::Name,
    "An AWS account's settings, with its name."
);

/// A region's name in the OpenAPI document: what `validate` takes.
struct RegionName;

impl utoipa::PartialSchema for RegionName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(MIN_REGION))
            .max_length(Some(MAX_REGION))
            .pattern(Some("^[a-z0-9-]*-[a-z0-9-]*$"))
            .into()
    }
}

impl utoipa::ToSchema for RegionName {}

/// `tag_filters` in the OpenAPI document: the limits `validate` applies.
struct TagFiltersSchema;

impl utoipa::PartialSchema for TagFiltersSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_TAG_FILTER_KEY))
                    .pattern(Some("[^\\u0009-\\u000d\\u0085 \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]")),
            ))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(MAX_TAG_FILTER_VALUE)),
            ))
            .into()
    }
}

impl utoipa::ToSchema for TagFiltersSchema {}

const MIN_REGION: usize = 4;
const MAX_REGION: usize = 30;
const MAX_TAG_FILTER_KEY: usize = 128;
const MAX_TAG_FILTER_VALUE: usize = 256;

/// An account's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValidAccount {
    pub name: String,
    pub regions: Vec<String>,
    pub profile: Option<String>,
    pub access_key_id: Option<String>,
    /// `None` keeps what is stored (on update), `Some(None)` clears it.
    pub secret_access_key: Option<Option<String>>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub tag_filters: BTreeMap<String, String>,
    pub endpoint_url: Option<String>,
    pub address: AddressKind,
    pub sync_interval_secs: u64,
    pub enabled: bool,
    pub metrics_import: bool,
    pub metrics_period_secs: u64,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

impl AwsAccountInput {
    /// Checks the input; `name_in_url` is the account's name when it already exists.
    pub(crate) fn validate(self, name_in_url: Option<&str>) -> Result<ValidAccount, AwsError> {
        let name = match (self.name, name_in_url) {
            (Some(name), Some(existing)) if name != existing => {
                return Err(AwsError::invalid("name", "an account's name never changes"));
            }
            (_, Some(existing)) => existing.to_owned(),
            (Some(name), None) => name,
            (None, None) => return Err(AwsError::invalid("name", "an account needs a name")),
        };
        let valid_name = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_name {
            return Err(AwsError::invalid(
                "name",
                "a name has 1 to 63 lowercase letters, digits and '-', starting with a letter or digit",
            ));
        }
        if self.regions.is_empty() {
            return Err(AwsError::invalid(
                "regions",
                "name at least one region, such as eu-west-1",
            ));
        }
        let mut regions: Vec<String> = Vec::new();
        for (index, region) in self.regions.iter().enumerate() {
            let region = region.trim().to_owned();
            let valid = (MIN_REGION..=MAX_REGION).contains(&region.len())
                && region.contains('-')
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(AwsError::invalid(
                    format!("regions[{index}]"),
                    format!("{region:?} is not a region name such as eu-west-1"),
                ));
            }
            if !regions.contains(&region) {
                regions.push(region);
            }
        }
        let access_key_id = non_empty(self.access_key_id);
        let secret_access_key = non_empty(self.secret_access_key);
        let profile = non_empty(self.profile);
        if profile.is_some() && access_key_id.is_some() {
            return Err(AwsError::invalid(
                "profile",
                "give either a profile or an access key, not both",
            ));
        }
        if access_key_id.is_none() && secret_access_key.is_some() {
            return Err(AwsError::invalid(
                "access_key_id",
                "a secret access key needs its access key id",
            ));
        }
        let role_arn = non_empty(self.role_arn);
        if let Some(role) = &role_arn
            && !(role.starts_with("arn:") && role.contains(":role/"))
        {
            return Err(AwsError::invalid(
                "role_arn",
                format!("{role:?} is not a role ARN (arn:aws:iam::123456789012:role/name)"),
            ));
        }
        let external_id = non_empty(self.external_id);
        if external_id.is_some() && role_arn.is_none() {
            return Err(AwsError::invalid(
                "external_id",
                "an external id goes with a role to assume (role_arn)",
            ));
        }
        for (key, value) in &self.tag_filters {
            if key.trim().is_empty()
                || key.chars().count() > MAX_TAG_FILTER_KEY
                || value.chars().count() > MAX_TAG_FILTER_VALUE
            {
                return Err(AwsError::invalid(
                    format!("tag_filters.{key}"),
                    "a tag filter is a key of 1 to 128 characters and a value (or *)",
                ));
            }
        }
        let endpoint_url = non_empty(self.endpoint_url);
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(AwsError::invalid(
                "endpoint_url",
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        let sync_interval_secs = self
            .sync_interval_secs
            .unwrap_or(DEFAULT_SYNC_INTERVAL_SECS);
        if !(MIN_SYNC_INTERVAL_SECS..=MAX_SYNC_INTERVAL_SECS).contains(&sync_interval_secs) {
            return Err(AwsError::invalid(
                "sync_interval_secs",
                format!("sync every {MIN_SYNC_INTERVAL_SECS} to {MAX_SYNC_INTERVAL_SECS} seconds"),
            ));
        }
        let metrics_period_secs = self
            .metrics_period_secs
            .unwrap_or(DEFAULT_METRICS_PERIOD_SECS);
        if !METRICS_PERIODS_SECS.contains(&metrics_period_secs) {
            return Err(AwsError::invalid(
                "metrics_period_secs",
                "import CloudWatch metrics at a period of 60 or 300 seconds",
            ));
        }
        Ok(ValidAccount {
            name,
            regions,
            profile,
            secret_access_key: match (&access_key_id, secret_access_key) {
                (_, Some(secret)) => Some(Some(secret)),
                (None, None) => Some(None),
                (Some(_), None) => None,
            },
            access_key_id,
            role_arn,
            external_id,
            tag_filters: self.tag_filters,
            endpoint_url,
            address: self.address,
            sync_interval_secs,
            enabled: self.enabled.unwrap_or(true),
            metrics_import: self.metrics_import.unwrap_or(false),
            metrics_period_secs,
        })
    }
}

impl AwsAccount {
    pub fn etag(&self) -> String {
        jeny_core::etag_for(&self.id, self.version)
    }

    /// The writable fields, for a merge patch (the secret is never read back).
    pub fn to_input(&self) -> AwsAccountInput {
        AwsAccountInput {
            name: Some(self.name.clone()),
            regions: self.regions.clone(),
            profile: self.profile.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: None,
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            tag_filters: self.tag_filters.clone(),
            endpoint_url: self.endpoint_url.clone(),
            address: self.address,
            sync_interval_secs: Some(self.sync_interval_secs),
            enabled: Some(self.enabled),
            metrics_import: Some(self.metrics_import),
            metrics_period_secs: Some(self.metrics_period_secs),
        }
    }
}

/// One region's part of a sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegionReport {
    pub region: String,
    /// `ok`, or `error` (its hosts were left as they were).
    pub status: String,
    /// Instances seen (terminated ones included).
    pub instances: usize,
    /// AWS's error, as it said it.
    pub error: Option<String>,
    /// Time spent waiting for AWS, in milliseconds.
    pub fetch_ms: u64,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncReport {
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// `ok`, `partial` (some regions failed) or `error` (all failed).
    pub status: String,
    pub added: usize,
    pub changed: usize,
    pub gone: usize,
    pub unchanged: usize,
    pub regions: Vec<RegionReport>,
    /// Tags an instance had that jeny cannot keep (`=` or `,` in a key, too many), skipped.
    pub skipped_tags: usize,
    /// jeny's own time (mapping and storing), in milliseconds, without waiting for AWS.
    pub own_ms: u64,
    /// Which node ran it.
    pub node: String,
}

/// What a metrics import did, per region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricsImportReport {
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// `ok`, `partial` (some regions failed) or `error` (all failed).
    pub status: String,
    pub regions: Vec<RegionImportReport>,
    /// Points written, over every region and project.
    pub points: usize,
    /// Datapoints of no project (an instance no environment picks, a load balancer with
    /// neither targets in one nor `jeny:project` tags): dropped.
    pub unattributed: usize,
    /// jeny's own time (naming, joining, writing), in milliseconds, without waiting for AWS.
    pub own_ms: u64,
    /// Which node ran it.
    pub node: String,
}

/// One region's part of a metrics import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegionImportReport {
    pub region: String,
    /// `ok`, `idle` (no whole period was due), or `error` (its cursor stays: the next import
    /// reads the same window again).
    pub status: String,
    /// The window read: from (included) and to (excluded), whole periods ending at least five
    /// minutes ago.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Metric queries asked, and the GetMetricData calls they took (at most 500 a call).
    pub queries: usize,
    pub calls: usize,
    /// Datapoints received.
    pub datapoints: usize,
    /// Points written (one per environment when several pick a host).
    pub points: usize,
    /// Datapoints dropped because no project is theirs.
    pub unattributed: usize,
    /// Points the metrics store refused (a field written before with another type, the series
    /// limit).
    pub refused: usize,
    /// AWS's error, as it said it; also a load balancer listing that failed (the instances'
    /// metrics are imported all the same).
    pub error: Option<String>,
    /// Time spent waiting for AWS, in milliseconds.
    pub fetch_ms: u64,
}
