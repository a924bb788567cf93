//! Projects, environments and variables: their wire types and the validation of what a client
//! may write.

use crate::Invalid;
use crate::hosts::{TagSelector, Tags};
use jeny_core::{Name, Timestamp};
use serde::{Deserialize, Serialize};

pub const DEFAULT_DEPLOY_TIMEOUT_SECS: u32 = 3600;
const MAX_DEPLOY_TIMEOUT_SECS: u32 = 7 * 24 * 3600;
pub const DEFAULT_DEPLOY_GRACE_SECS: u32 = 10;
const MAX_DEPLOY_GRACE_SECS: u32 = 3600;
const MAX_OUTPUT_RETENTION_DAYS: u32 = 3650;
/// A hundred years: the longest metrics retention that is not "forever" (0).
pub const MAX_METRICS_RETENTION_DAYS: u32 = 36_500;
const MIN_OUTPUT_RETENTION_BYTES: u64 = 1024 * 1024;
/// The column is a signed 64-bit integer on both backends.
const MAX_OUTPUT_RETENTION_BYTES: u64 = i64::MAX as u64;
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 10_000;
const MAX_COMMAND: usize = 10_000;
const MAX_REPOSITORY: usize = 2048;
const MAX_VARIABLE_VALUE: usize = 64 * 1024;

fn parse_name(field: &str, raw: &str, what: &str) -> Result<Name, Invalid> {
    Name::parse(raw)
        .map_err(|error| Invalid::new(field, format!("bad {what} name {raw:?}: {error}")))
}

/// The name in the body must be absent or equal to the name in the URL: names never change,
/// since they are in every URL and event that mentions the thing.
fn name_for_update(
    given: Option<&str>,
    name_in_url: Option<&str>,
    what: &str,
) -> Result<Name, Invalid> {
    match (given, name_in_url) {
        (Some(given), Some(current)) if given != current => Err(Invalid::new(
            "name",
            format!("a {what} cannot be renamed: the name must stay {current:?}"),
        )),
        (Some(given), _) => parse_name("name", given, what),
        (None, Some(current)) => parse_name("name", current, what),
        (None, None) => Err(Invalid::new("name", format!("a {what} needs a name"))),
    }
}

fn check_text(field: &str, value: &str, max: usize, single_line: bool) -> Result<(), Invalid> {
    if value.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("{field} is at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && (single_line || !matches!(c, '\n' | '\t' | '\r')))
    {
        return Err(Invalid::new(
            field,
            format!("{field} may not contain control characters"),
        ));
    }
    Ok(())
}

/// A project as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Project {
    pub id: String,
    /// Unique, URL-safe: `[a-z0-9][a-z0-9-]{0,62}`. Never changes.
    pub name: String,
    pub title: String,
    pub description: String,
    /// Git repository to check out for deploys (URL or path), if any.
    pub repository: Option<String>,
    /// The shell command a deploy runs, unless the environment overrides it.
    pub deploy_command: String,
    /// Deploy output older than this many days is removed (the deploy record stays); null keeps
    /// it forever.
    pub output_retention_days: Option<u32>,
    /// When this project's stored deploy output exceeds this many bytes, the output of its oldest
    /// finished deploys is removed; null sets no size limit.
    pub output_retention_bytes: Option<u64>,
    pub metrics_retention: MetricsRetention,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip)]
    pub version: i64,
}

impl Project {
    pub fn etag(&self) -> String {
        jeny_core::etag_for(&self.id, self.version)
    }

    pub fn to_input(&self) -> ProjectInput {
        ProjectInput {
            name: Some(self.name.clone()),
            title: Some(self.title.clone()),
            description: self.description.clone(),
            repository: self.repository.clone(),
            deploy_command: self.deploy_command.clone(),
            output_retention_days: self.output_retention_days,
            output_retention_bytes: self.output_retention_bytes,
            metrics_retention: self.metrics_retention,
        }
    }
}

/// How long a project keeps its metrics, per resolution, in days: null takes the server's
/// setting (`metrics_retention_*_days`), 0 keeps that resolution forever. A write of points older
/// than the raw retention is refused; the rollups keep count, sum, min, max, first and last, so
/// those aggregations stay exact once the raw points are gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsRetention {
    /// Raw points: 0 (forever) to 36500; null for the server's setting (30 unless configured).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 36500)]
    pub raw_days: Option<u32>,
    /// 5-minute rollups: 0 (forever) to 36500; null for the server's setting (365 unless
    /// configured).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 36500)]
    pub rollup_5m_days: Option<u32>,
    /// 1-hour rollups: 0 (forever) to 36500; null for the server's setting (forever unless
    /// configured).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 36500)]
    pub rollup_1h_days: Option<u32>,
}

impl MetricsRetention {
    fn validate(&self) -> Result<(), Invalid> {
        for (field, days) in [
            ("metrics_retention.raw_days", self.raw_days),
            ("metrics_retention.rollup_5m_days", self.rollup_5m_days),
            ("metrics_retention.rollup_1h_days", self.rollup_1h_days),
        ] {
            if days.is_some_and(|d| d > MAX_METRICS_RETENTION_DAYS) {
                return Err(Invalid::new(
                    field,
                    format!(
                        "{field} must be between 0 (forever) and {MAX_METRICS_RETENTION_DAYS} days, or null for the server's setting"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The writable fields of a project. On `PUT`, a field left out takes its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    /// Required to create; on update it may be left out, and must equal the current name.
    #[serde(default)]
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// Defaults to the name. At most 200 characters, on one line.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub title: Option<String>,
    /// At most 10000 characters; no control characters but tabs and line breaks.
    #[serde(default)]
    #[schema(
        max_length = 10000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub description: String,
    /// A git URL (`https://...`, `ssh://...`, `git@host:path`) or a path: at most 2048
    /// characters, no spaces, not starting with `-`. Empty or null: none.
    #[serde(default)]
    #[schema(
        max_length = 2048,
        pattern = "^([^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000-][^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*)?$"
    )]
    pub repository: Option<String>,
    /// At most 10000 characters; no control characters but tabs and line breaks.
    #[serde(default)]
    #[schema(
        max_length = 10000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub deploy_command: String,
    /// Deploy output older than this many days is removed (the deploy record stays): 1 to 3650;
    /// default null, which keeps it forever.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub output_retention_days: Option<u32>,
    /// When this project's stored deploy output exceeds this many bytes, the output of its oldest
    /// finished deploys is removed: at least 1048576 (1 MiB); default null, no size limit.
    #[serde(default)]
    #[schema(minimum = 1048576, maximum = 9223372036854775807i64)]
    pub output_retention_bytes: Option<u64>,
    /// How long the project's metrics are kept; left out, the server's settings.
    #[serde(default)]
    pub metrics_retention: MetricsRetention,
}

crate::create_request_schema!(
    /// What `POST /api/v1/projects` takes.
    NewProject = ProjectInput, "name": Name,
    "The writable fields of a project, with its name."
);

/// A project's writable fields after validation (`ProjectInput::validate`), as the server
/// stores them.
pub struct ValidProject {
    pub name: Name,
    pub title: String,
    pub description: String,
    pub repository: Option<String>,
    pub deploy_command: String,
    pub output_retention_days: Option<u32>,
    /// At most `i64::MAX`, so it fits the column.
    pub output_retention_bytes: Option<u64>,
    pub metrics_retention: MetricsRetention,
}

impl ProjectInput {
    /// Whether `self` changes, compared with `current`, what the project's environments run or
    /// keep: its repository, command or output retention (not its title or description).
    pub fn changes_what_deploys_run(&self, current: &ProjectInput) -> bool {
        let reaching = |input: &ProjectInput| {
            (
                input.repository.clone().filter(|url| !url.is_empty()),
                input.deploy_command.clone(),
                input.output_retention_days,
                input.output_retention_bytes,
            )
        };
        reaching(self) != reaching(current)
    }

    /// Checks the fields and fills in the defaults; `name_in_url` is the project's current name
    /// when this updates it (the name cannot change).
    pub fn validate(self, name_in_url: Option<&str>) -> Result<ValidProject, Invalid> {
        let name = name_for_update(self.name.as_deref(), name_in_url, "project")?;
        let title = self
            .title
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| name.to_string());
        check_text("title", &title, MAX_TITLE, true)?;
        check_text("description", &self.description, MAX_DESCRIPTION, false)?;
        check_text("deploy_command", &self.deploy_command, MAX_COMMAND, false)?;
        let repository = self
            .repository
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if let Some(repository) = &repository {
            check_text("repository", repository, MAX_REPOSITORY, true)?;
            if repository.chars().any(char::is_whitespace) || repository.starts_with('-') {
                return Err(Invalid::new(
                    "repository",
                    "a repository is a git URL (https://..., ssh://..., git@host:path) or a path, without spaces",
                ));
            }
        }
        if let Some(days) = self.output_retention_days
            && !(1..=MAX_OUTPUT_RETENTION_DAYS).contains(&days)
        {
            return Err(Invalid::new(
                "output_retention_days",
                format!(
                    "output_retention_days must be between 1 and {MAX_OUTPUT_RETENTION_DAYS} (ten years), or null to keep deploy output forever"
                ),
            ));
        }
        if let Some(bytes) = self.output_retention_bytes
            && !(MIN_OUTPUT_RETENTION_BYTES..=MAX_OUTPUT_RETENTION_BYTES).contains(&bytes)
        {
            return Err(Invalid::new(
                "output_retention_bytes",
                format!(
                    "output_retention_bytes must be between {MIN_OUTPUT_RETENTION_BYTES} (1 MiB) and {MAX_OUTPUT_RETENTION_BYTES}, or null for no size limit"
                ),
            ));
        }
        self.metrics_retention.validate()?;
        Ok(ValidProject {
            name,
            title,
            description: self.description,
            repository,
            deploy_command: self.deploy_command,
            output_retention_days: self.output_retention_days,
            output_retention_bytes: self.output_retention_bytes,
            metrics_retention: self.metrics_retention,
        })
    }
}

/// How an environment's queued deploys are taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueuePolicy {
    /// Queued deploys run one after the other, in the order they were queued.
    #[default]
    Fifo,
    /// Queuing a deploy cancels the older deploys still queued, so only the newest runs next.
    NewestWins,
}

impl QueuePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            QueuePolicy::Fifo => "fifo",
            QueuePolicy::NewestWins => "newest_wins",
        }
    }

    /// The policy stored as `as_str` gives it, or `None` for any other text.
    pub fn parse(raw: &str) -> Option<QueuePolicy> {
        match raw {
            "fifo" => Some(QueuePolicy::Fifo),
            "newest_wins" => Some(QueuePolicy::NewestWins),
            _ => None,
        }
    }
}

/// An environment as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Environment {
    pub id: String,
    /// The project's name.
    pub project: String,
    /// Unique in the project, URL-safe: `[a-z0-9][a-z0-9-]{0,62}`. Never changes.
    pub name: String,
    /// Tag conditions a host must all match to be targeted, such as `{"role": "web"}`. An empty
    /// selector targets no host.
    #[schema(value_type = BTreeMap<String, String>)]
    pub host_selector: Tags,
    /// Replaces the project's deploy command for this environment when set.
    pub deploy_command: Option<String>,
    /// A deploy running longer is stopped and ends `timed_out`.
    pub deploy_timeout_secs: u32,
    /// Seconds between SIGTERM and SIGKILL when a deploy is cancelled or times out.
    pub deploy_grace_secs: u32,
    /// A deploy whose host filter (or a non-empty host selector) matches no host is refused
    /// unless this is true.
    pub allow_hostless_deploys: bool,
    /// FIFO runs queued deploys in order; newest_wins cancels older queued deploys when a new one
    /// is queued.
    pub queue_policy: QueuePolicy,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip)]
    pub version: i64,
    #[serde(skip)]
    pub project_id: String,
}

impl Environment {
    pub fn etag(&self) -> String {
        jeny_core::etag_for(&self.id, self.version)
    }

    pub fn selector(&self) -> TagSelector {
        TagSelector::from_tags("host_selector", self.host_selector.clone()).unwrap_or_default()
    }

    pub fn to_input(&self) -> EnvironmentInput {
        EnvironmentInput {
            name: Some(self.name.clone()),
            host_selector: self.host_selector.clone(),
            deploy_command: self.deploy_command.clone(),
            deploy_timeout_secs: self.deploy_timeout_secs,
            deploy_grace_secs: self.deploy_grace_secs,
            allow_hostless_deploys: self.allow_hostless_deploys,
            queue_policy: self.queue_policy,
        }
    }
}

fn default_timeout() -> u32 {
    DEFAULT_DEPLOY_TIMEOUT_SECS
}

fn default_grace() -> u32 {
    DEFAULT_DEPLOY_GRACE_SECS
}

/// The writable fields of an environment. On `PUT`, a field left out takes its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentInput {
    /// Required to create; on update it may be left out, and must equal the current name.
    #[serde(default)]
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = crate::hosts::TagsSchema)]
    pub host_selector: Tags,
    /// At most 10000 characters; no control characters but tabs and line breaks.
    #[serde(default)]
    #[schema(
        max_length = 10000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub deploy_command: Option<String>,
    /// 1 to 604800 seconds; default 3600.
    #[serde(default = "default_timeout")]
    #[schema(minimum = 1, maximum = 604800)]
    pub deploy_timeout_secs: u32,
    /// Seconds between SIGTERM and SIGKILL when a deploy is cancelled or times out: 0 to 3600;
    /// default 10.
    #[serde(default = "default_grace")]
    #[schema(minimum = 0, maximum = 3600)]
    pub deploy_grace_secs: u32,
    /// A deploy whose host filter (or a non-empty host selector) matches no host is refused
    /// unless this is true. Default false.
    #[serde(default)]
    pub allow_hostless_deploys: bool,
    /// FIFO runs queued deploys in order; newest_wins cancels older queued deploys when a new one
    /// is queued. Default `fifo`.
    #[serde(default)]
    pub queue_policy: QueuePolicy,
}

crate::create_request_schema!(
    /// What `POST .../environments` takes.
    NewEnvironment = EnvironmentInput, "name": Name,
    "The writable fields of an environment, with its name."
);

/// An environment's writable fields after validation (`EnvironmentInput::validate`), as the
/// server stores them.
pub struct ValidEnvironment {
    pub name: Name,
    pub host_selector: TagSelector,
    pub deploy_command: Option<String>,
    pub deploy_timeout_secs: u32,
    pub deploy_grace_secs: u32,
    pub allow_hostless_deploys: bool,
    pub queue_policy: QueuePolicy,
}

impl EnvironmentInput {
    /// Checks the fields; `name_in_url` is the environment's current name when this updates it
    /// (the name cannot change).
    pub fn validate(self, name_in_url: Option<&str>) -> Result<ValidEnvironment, Invalid> {
        let name = name_for_update(self.name.as_deref(), name_in_url, "environment")?;
        let host_selector = TagSelector::from_tags("host_selector", self.host_selector)?;
        if let Some(command) = &self.deploy_command {
            check_text("deploy_command", command, MAX_COMMAND, false)?;
        }
        if !(1..=MAX_DEPLOY_TIMEOUT_SECS).contains(&self.deploy_timeout_secs) {
            return Err(Invalid::new(
                "deploy_timeout_secs",
                format!(
                    "deploy_timeout_secs must be between 1 and {MAX_DEPLOY_TIMEOUT_SECS} (a week)"
                ),
            ));
        }
        if self.deploy_grace_secs > MAX_DEPLOY_GRACE_SECS {
            return Err(Invalid::new(
                "deploy_grace_secs",
                format!(
                    "deploy_grace_secs must be between 0 and {MAX_DEPLOY_GRACE_SECS} (an hour)"
                ),
            ));
        }
        Ok(ValidEnvironment {
            name,
            host_selector,
            deploy_command: self.deploy_command,
            deploy_timeout_secs: self.deploy_timeout_secs,
            deploy_grace_secs: self.deploy_grace_secs,
            allow_hostless_deploys: self.allow_hostless_deploys,
            queue_policy: self.queue_policy,
        })
    }
}

/// A variable key: `[A-Z_][A-Z0-9_]*`, at most 128 characters, not starting with `JENY_`
/// (jeny sets those for each deploy).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VariableKey(String);

impl VariableKey {
    pub fn parse(raw: &str) -> Result<VariableKey, Invalid> {
        let valid_shape = raw.len() <= VariableKey::MAX_LEN
            && raw
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && raw
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid_shape {
            return Err(Invalid::new(
                "key",
                format!("bad variable key {raw:?}: use [A-Z_][A-Z0-9_]*, at most 128 characters"),
            ));
        }
        if raw.starts_with("JENY_") {
            return Err(Invalid::new(
                "key",
                "keys starting with JENY_ are reserved for the values jeny sets",
            ));
        }
        Ok(VariableKey(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl VariableKey {
    pub const MAX_LEN: usize = 128;
    /// The rule of `parse` as an ECMA-262 regular expression.
    pub const PATTERN: &str = "^(?!JENY_)[A-Z_][A-Z0-9_]{0,127}$";
}

/// `VariableKey` in the OpenAPI document: exactly the rule `parse` applies.
impl utoipa::PartialSchema for VariableKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A variable key: `[A-Z_][A-Z0-9_]*`, 1 to 128 characters, not starting with `JENY_` (jeny sets those).",
            ))
            .pattern(Some(VariableKey::PATTERN))
            .min_length(Some(1))
            .max_length(Some(VariableKey::MAX_LEN))
            .into()
    }
}

impl utoipa::ToSchema for VariableKey {}

/// A variable as the API shows it. A secret's value is never shown: `value` is null and
/// `is_set` says whether it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Variable {
    pub key: String,
    /// The value; always null for a secret.
    pub value: Option<String>,
    pub secret: bool,
    /// Whether the variable has a value (a secret can be declared before it is set).
    pub is_set: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub version: i64,
}

impl Variable {
    pub fn etag(&self) -> String {
        jeny_core::etag_for(&self.id, self.version)
    }

    pub fn to_input(&self) -> VariableInput {
        VariableInput {
            key: Some(self.key.clone()),
            value: self.value.clone(),
            secret: Some(self.secret),
        }
    }
}

/// The writable fields of a variable. Leaving `value` out (or null) on an existing variable keeps
/// the value it has; a new variable that is not secret needs one (which may be empty). Leaving
/// `secret` out keeps the variable's secrecy (false for a new one): a secret only becomes plain
/// when a request says `"secret": false`, and then only with its new value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableInput {
    /// Required by `POST`; with `PUT` and `PATCH` it may be left out, and must equal the key in the URL.
    #[serde(default)]
    #[schema(value_type = Option<VariableKey>)]
    pub key: Option<String>,
    /// At most 65536 bytes of UTF-8, without NUL characters.
    #[serde(default)]
    #[schema(max_length = 65536, pattern = "^[^\\u0000]*$")]
    pub value: Option<String>,
    #[serde(default)]
    pub secret: Option<bool>,
}

/// What `POST .../variables` takes: a key, and a value unless the variable is secret.
pub struct NewVariable;

impl utoipa::PartialSchema for NewVariable {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::ToSchema;
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Ref, Type};
        let with_value = ObjectBuilder::new()
            .property("value", ObjectBuilder::new().schema_type(Type::String))
            .required("value");
        let secret = ObjectBuilder::new()
            .property(
                "secret",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .enum_values(Some([true])),
            )
            .required("secret");
        AllOfBuilder::new()
            .description(Some(
                "The writable fields of a variable, with its key; a value unless it is secret.",
            ))
            .item(Ref::from_schema_name(VariableInput::name()))
            .item(
                ObjectBuilder::new()
                    .property("key", Ref::from_schema_name(VariableKey::name()))
                    .required("key"),
            )
            .item(AnyOfBuilder::new().item(with_value).item(secret))
            .into()
    }
}

impl utoipa::ToSchema for NewVariable {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((VariableInput::name().into(), VariableInput::schema()));
        schemas.push((VariableKey::name().into(), VariableKey::schema()));
    }
}

/// A variable's writable fields after validation (`VariableInput::validate`).
pub struct ValidVariable {
    pub key: VariableKey,
    /// `None`: keep the stored value (only allowed when there is one to keep, or for secrets).
    pub value: Option<String>,
    /// `None`: keep the current secrecy.
    pub secret: Option<bool>,
}

impl VariableInput {
    /// Checks the key and the value; `key_in_url` is the variable's key when the request names
    /// it in the URL (the key cannot change).
    pub fn validate(self, key_in_url: Option<&str>) -> Result<ValidVariable, Invalid> {
        let key = match (self.key.as_deref(), key_in_url) {
            (Some(given), Some(current)) if given != current => {
                return Err(Invalid::new(
                    "key",
                    format!("the key must stay {current:?}; create a new variable to rename"),
                ));
            }
            (Some(given), _) | (None, Some(given)) => VariableKey::parse(given)?,
            (None, None) => return Err(Invalid::new("key", "a variable needs a key")),
        };
        if let Some(value) = &self.value {
            if value.len() > MAX_VARIABLE_VALUE {
                return Err(Invalid::new(
                    "value",
                    format!("a value is at most {MAX_VARIABLE_VALUE} bytes"),
                ));
            }
            if value.contains('\0') {
                return Err(Invalid::new(
                    "value",
                    "a value cannot contain NUL characters",
                ));
            }
        }
        Ok(ValidVariable {
            key,
            value: self.value,
            secret: self.secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn the_documented_limits_are_the_ones_checked() {
        let project = serde_json::to_value(ProjectInput::schema()).unwrap();
        let property = |name: &str| project["properties"][name].clone();
        assert_eq!(property("title")["maxLength"], MAX_TITLE);
        assert_eq!(property("description")["maxLength"], MAX_DESCRIPTION);
        assert_eq!(property("deploy_command")["maxLength"], MAX_COMMAND);
        assert_eq!(property("repository")["maxLength"], MAX_REPOSITORY);
        assert_eq!(property("output_retention_days")["minimum"], 1);
        assert_eq!(
            property("output_retention_days")["maximum"],
            MAX_OUTPUT_RETENTION_DAYS
        );
        assert_eq!(
            property("output_retention_bytes")["minimum"],
            MIN_OUTPUT_RETENTION_BYTES
        );
        assert_eq!(
            property("output_retention_bytes")["maximum"],
            MAX_OUTPUT_RETENTION_BYTES
        );
        let environment = serde_json::to_value(EnvironmentInput::schema()).unwrap();
        let property = |name: &str| environment["properties"][name].clone();
        assert_eq!(property("deploy_command")["maxLength"], MAX_COMMAND);
        assert_eq!(property("deploy_timeout_secs")["minimum"], 1);
        assert_eq!(
            property("deploy_timeout_secs")["maximum"],
            MAX_DEPLOY_TIMEOUT_SECS
        );
        assert_eq!(
            property("deploy_grace_secs")["maximum"],
            MAX_DEPLOY_GRACE_SECS
        );
        let variable = serde_json::to_value(VariableInput::schema()).unwrap();
        assert_eq!(
            variable["properties"]["value"]["maxLength"],
            MAX_VARIABLE_VALUE
        );
        assert!(VariableKey::PATTERN.contains(&format!("{{0,{}}}", VariableKey::MAX_LEN - 1)));
    }

    #[test]
    fn variable_keys_follow_the_rule() {
        for good in ["A", "_X", "DATABASE_URL", "K8S_2"] {
            assert!(VariableKey::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "1A",
            "A-B",
            "A B",
            "JENY_PROJECT",
            &"A".repeat(129),
        ] {
            assert!(VariableKey::parse(bad).is_err(), "{bad}");
        }
    }

    fn project_input() -> ProjectInput {
        serde_json::from_value(serde_json::json!({"name": "web"})).unwrap()
    }

    fn environment_input() -> EnvironmentInput {
        serde_json::from_value(serde_json::json!({"name": "production"})).unwrap()
    }

    fn refused_field<T>(result: Result<T, Invalid>) -> String {
        match result {
            Ok(_) => panic!("expected the input to be refused"),
            Err(Invalid { field, .. }) => field,
        }
    }

    #[test]
    fn a_project_title_defaults_to_its_name() {
        let input = ProjectInput {
            repository: Some("  ".into()),
            deploy_command: "make deploy".into(),
            ..project_input()
        };
        let valid = input.validate(None).unwrap();
        assert_eq!(valid.title, "web");
        assert_eq!(valid.repository, None);
    }

    #[test]
    fn names_cannot_change_on_update() {
        let input = EnvironmentInput {
            name: Some("prod".into()),
            deploy_timeout_secs: 10,
            ..environment_input()
        };
        assert!(input.validate(Some("production")).is_err());
    }

    #[test]
    fn left_out_deploy_settings_take_their_defaults() {
        let environment = environment_input();
        assert_eq!(environment.deploy_grace_secs, DEFAULT_DEPLOY_GRACE_SECS);
        assert!(!environment.allow_hostless_deploys);
        assert_eq!(environment.queue_policy, QueuePolicy::Fifo);
        let project = project_input();
        assert_eq!(project.output_retention_days, None);
        assert_eq!(project.output_retention_bytes, None);
    }

    #[test]
    fn queue_policies_are_snake_case_on_the_wire_and_in_the_store() {
        for (policy, text) in [
            (QueuePolicy::Fifo, "fifo"),
            (QueuePolicy::NewestWins, "newest_wins"),
        ] {
            assert_eq!(policy.as_str(), text);
            assert_eq!(QueuePolicy::parse(text), Some(policy));
            assert_eq!(serde_json::to_value(policy).unwrap(), text);
        }
        assert_eq!(QueuePolicy::parse("lifo"), None);
        let unknown = serde_json::from_value::<EnvironmentInput>(
            serde_json::json!({"name": "production", "queue_policy": "lifo"}),
        );
        assert!(unknown.is_err(), "an unknown queue policy is refused");
    }

    #[test]
    fn the_grace_period_is_at_most_an_hour() {
        for good in [0, 1, MAX_DEPLOY_GRACE_SECS] {
            let input = EnvironmentInput {
                deploy_grace_secs: good,
                ..environment_input()
            };
            assert!(input.validate(None).is_ok(), "{good}");
        }
        let too_long = EnvironmentInput {
            deploy_grace_secs: MAX_DEPLOY_GRACE_SECS + 1,
            ..environment_input()
        };
        assert_eq!(refused_field(too_long.validate(None)), "deploy_grace_secs");
    }

    #[test]
    fn metrics_retention_is_zero_to_a_hundred_years_or_the_servers() {
        let project = project_input();
        assert_eq!(project.metrics_retention, MetricsRetention::default());
        for good in [None, Some(0), Some(1), Some(MAX_METRICS_RETENTION_DAYS)] {
            let input = ProjectInput {
                metrics_retention: MetricsRetention {
                    raw_days: good,
                    rollup_5m_days: good,
                    rollup_1h_days: good,
                },
                ..project_input()
            };
            assert!(input.validate(None).is_ok(), "{good:?}");
        }
        for (field, retention) in [
            (
                "metrics_retention.raw_days",
                MetricsRetention {
                    raw_days: Some(MAX_METRICS_RETENTION_DAYS + 1),
                    ..MetricsRetention::default()
                },
            ),
            (
                "metrics_retention.rollup_1h_days",
                MetricsRetention {
                    rollup_1h_days: Some(u32::MAX),
                    ..MetricsRetention::default()
                },
            ),
        ] {
            let input = ProjectInput {
                metrics_retention: retention,
                ..project_input()
            };
            assert_eq!(refused_field(input.validate(None)), field);
        }
        let unknown = serde_json::from_value::<ProjectInput>(serde_json::json!(
            {"name": "web", "metrics_retention": {"raw": 3}}
        ));
        assert!(unknown.is_err(), "an unknown retention field is refused");
    }

    #[test]
    fn output_retention_days_are_one_to_ten_years_when_set() {
        for good in [None, Some(1), Some(MAX_OUTPUT_RETENTION_DAYS)] {
            let input = ProjectInput {
                output_retention_days: good,
                ..project_input()
            };
            assert!(input.validate(None).is_ok(), "{good:?}");
        }
        for bad in [0, MAX_OUTPUT_RETENTION_DAYS + 1, u32::MAX] {
            let input = ProjectInput {
                output_retention_days: Some(bad),
                ..project_input()
            };
            assert_eq!(
                refused_field(input.validate(None)),
                "output_retention_days",
                "{bad}"
            );
        }
    }

    #[test]
    fn output_retention_bytes_are_at_least_a_mebibyte_and_fit_the_column() {
        let largest = u64::try_from(i64::MAX).unwrap();
        for good in [None, Some(1024 * 1024), Some(largest)] {
            let input = ProjectInput {
                output_retention_bytes: good,
                ..project_input()
            };
            assert!(input.validate(None).is_ok(), "{good:?}");
        }
        for bad in [0, 1024 * 1024 - 1, largest + 1, u64::MAX] {
            let input = ProjectInput {
                output_retention_bytes: Some(bad),
                ..project_input()
            };
            assert_eq!(
                refused_field(input.validate(None)),
                "output_retention_bytes",
                "{bad}"
            );
        }
    }
}
