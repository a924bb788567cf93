//! Deploys and environment locks: their wire types and the validation of what a client may ask.

use crate::Invalid;
use crate::hosts::{TagSelector, Tags};
use jeny_core::Timestamp;
use serde::{Deserialize, Serialize};

const MAX_REF: usize = 255;
const MAX_DESCRIPTION: usize = 1000;
const MAX_LOCK_REASON: usize = 500;

/// Where a deploy is in its life. `queued` and `running` are live; every other status is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    /// Waiting for the deploy before it in its environment, or for a free runner.
    Queued,
    Running,
    /// The command exited with code 0.
    Succeeded,
    /// The command exited with another code (recorded in `exit_code`).
    Failed,
    /// Someone cancelled it (`cancelled_by`), or a newer deploy superseded it (`reason`).
    Cancelled,
    /// It ran longer than its environment's timeout and was stopped.
    TimedOut,
    /// jeny could not run it (git failed, the command could not start); `reason` says why.
    Errored,
    /// Its supervisor process was lost (the machine rebooted, it was killed) and its lease
    /// expired; `reason` says when.
    Interrupted,
}

impl DeployStatus {
    pub const ALL: [DeployStatus; 8] = [
        DeployStatus::Queued,
        DeployStatus::Running,
        DeployStatus::Succeeded,
        DeployStatus::Failed,
        DeployStatus::Cancelled,
        DeployStatus::TimedOut,
        DeployStatus::Errored,
        DeployStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Queued => "queued",
            DeployStatus::Running => "running",
            DeployStatus::Succeeded => "succeeded",
            DeployStatus::Failed => "failed",
            DeployStatus::Cancelled => "cancelled",
            DeployStatus::TimedOut => "timed_out",
            DeployStatus::Errored => "errored",
            DeployStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(raw: &str) -> Option<DeployStatus> {
        DeployStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, DeployStatus::Queued | DeployStatus::Running)
    }
}

impl std::fmt::Display for DeployStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host as a deploy targeted it, frozen when the deploy started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetHost {
    pub name: String,
    pub address: String,
    #[schema(value_type = BTreeMap<String, String>)]
    pub tags: Tags,
}

/// A variable a deploy ran with: which one and which version. The value of a plain variable is
/// kept; a secret's never is (its id and version say which value it was).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeployVariable {
    pub key: String,
    /// `project` or `environment`: where the value came from.
    pub scope: String,
    pub secret: bool,
    pub variable_id: String,
    pub version: i64,
    /// The value, for plain variables only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A deploy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deploy {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub status: DeployStatus,
    /// The git ref or version label asked for; null for the repository's default branch.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The commit the ref resolved to, once the checkout is done (projects with a repository).
    pub sha: Option<String>,
    pub description: String,
    /// The command's exit code, once it exited by itself.
    pub exit_code: Option<i32>,
    /// The email of who started it.
    pub user: String,
    /// 1 for the next deploy to run in its environment; null unless queued.
    pub queue_position: Option<i64>,
    pub queued_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// From start to finish, in milliseconds, once finished (from queueing when it never started).
    pub duration_ms: Option<i64>,
    /// The hosts it targets, frozen when it started (empty until then).
    pub hosts: Vec<TargetHost>,
    /// The extra tag conditions given when it was started.
    #[schema(value_type = BTreeMap<String, String>)]
    pub host_filter: Tags,
    /// Why it ended as it did, when that needs saying (who cancelled, what failed).
    pub reason: Option<String>,
    /// Who cancelled it, when someone did.
    pub cancelled_by: Option<String>,
    /// The deploy this one redeploys.
    pub redeploy_of: Option<String>,
    /// The command it ran (recorded when it started).
    pub command: Option<String>,
    /// The variables it ran with (recorded when it started).
    pub variables: Vec<DeployVariable>,
    /// Bytes of output it printed, including any left out over the cap. Once retention removed
    /// its output, only the line saying so counts.
    pub output_bytes: i64,
    /// The node (`node_name`) whose supervisor ran it, once it started.
    pub node: Option<String>,
    /// The deploy's page in the web app.
    pub url: String,
    /// Its output: plain text, or live with `Accept: text/event-stream`.
    pub output_url: String,
}

/// What `POST .../deploys` takes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// A git ref (branch, tag, commit) or a version label; the repository's default branch when
    /// left out.
    /// At most 255 characters, no spaces, not starting with `-`.
    #[serde(default, rename = "ref")]
    #[schema(
        max_length = 255,
        pattern = "^([^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000-][^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*)?$"
    )]
    pub git_ref: Option<String>,
    /// At most 1000 characters; no control characters but tabs and line breaks.
    #[serde(default)]
    #[schema(
        max_length = 1000,
        pattern = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$"
    )]
    pub description: Option<String>,
    /// Extra tag conditions narrowing the environment's hosts for this deploy (a canary on
    /// `{"az": "us-east-1a"}`).
    #[serde(default)]
    #[schema(value_type = crate::hosts::TagsSchema)]
    pub host_filter: Tags,
}

/// A deploy request after validation (`DeployRequest::validate`).
pub struct ValidRequest {
    pub git_ref: Option<String>,
    pub description: String,
    pub host_filter: TagSelector,
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("{field} is at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(Invalid::new(
            field,
            format!("{field} may not contain control characters"),
        ));
    }
    Ok(())
}

impl DeployRequest {
    /// Checks the ref and the description (trimmed) and the host filter.
    pub fn validate(self) -> Result<ValidRequest, Invalid> {
        let git_ref = self
            .git_ref
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if let Some(git_ref) = &git_ref {
            check_text("ref", git_ref, MAX_REF)?;
            if git_ref.starts_with('-') || git_ref.chars().any(char::is_whitespace) {
                return Err(Invalid::new(
                    "ref",
                    "a ref is a branch, tag, commit or version label: no spaces, not starting with '-'",
                ));
            }
        }
        let description = self.description.unwrap_or_default().trim().to_owned();
        check_text("description", &description, MAX_DESCRIPTION)?;
        let host_filter = TagSelector::from_tags("host_filter", self.host_filter)?;
        Ok(ValidRequest {
            git_ref,
            description,
            host_filter,
        })
    }
}

/// An environment's lock: while it holds, new deploys are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentLock {
    pub project: String,
    pub environment: String,
    pub reason: String,
    pub locked_by: String,
    pub locked_at: Timestamp,
    /// When the lock lifts by itself; null to hold until unlocked.
    pub expires_at: Option<Timestamp>,
}

/// What `GET .../lock` answers: `{"locked": false}`, or `"locked": true` with the lock's fields.
///
/// An unlocked environment is a normal state, not a missing resource, so it is a 200 like the
/// locked one. Built from an `Option<EnvironmentLock>`, so `locked` always says whether the lock's
/// fields are there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockState {
    locked: bool,
    #[serde(flatten)]
    lock: Option<EnvironmentLock>,
}

impl LockState {
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// The lock in force, if any.
    pub fn lock(&self) -> Option<&EnvironmentLock> {
        self.lock.as_ref()
    }

    pub fn into_lock(self) -> Option<EnvironmentLock> {
        self.lock
    }
}

impl From<Option<EnvironmentLock>> for LockState {
    fn from(lock: Option<EnvironmentLock>) -> LockState {
        LockState {
            locked: lock.is_some(),
            lock,
        }
    }
}

// Written by hand because the derive would describe the flattened `Option` as an
// `EnvironmentLock` whose every field is required; this says exactly the two shapes there are,
// which openapi-typescript turns into a union the web app can narrow on `locked`.
impl utoipa::PartialSchema for LockState {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::ToSchema;
        use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Ref, Type};
        let locked_is = |value: bool| {
            ObjectBuilder::new()
                .property(
                    "locked",
                    ObjectBuilder::new()
                        .schema_type(Type::Boolean)
                        .enum_values(Some([value])),
                )
                .required("locked")
        };
        OneOfBuilder::new()
            .description(Some(
                "Whether the environment is locked; when it is, the lock's fields too.",
            ))
            .item(locked_is(false))
            .item(
                AllOfBuilder::new()
                    .item(Ref::from_schema_name(EnvironmentLock::name()))
                    .item(locked_is(true)),
            )
            .into()
    }
}

impl utoipa::ToSchema for LockState {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::{PartialSchema, ToSchema};
        schemas.push((EnvironmentLock::name().into(), EnvironmentLock::schema()));
        <EnvironmentLock as ToSchema>::schemas(schemas);
    }
}

/// What `PUT .../lock` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// Shown to whoever tries to deploy meanwhile: 1 to 500 characters, not only spaces; no
    /// control characters but tabs and line breaks.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
    /// RFC 3339 time at which the lock lifts by itself.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

impl LockRequest {
    /// Checks the reason (trimmed) and that `expires_at`, when given, is still ahead.
    pub fn validate(self) -> Result<LockRequest, Invalid> {
        let reason = self.reason.trim().to_owned();
        if reason.is_empty() {
            return Err(Invalid::new("reason", "say why the environment is locked"));
        }
        check_text("reason", &reason, MAX_LOCK_REASON)?;
        if let Some(expires_at) = self.expires_at
            && expires_at <= Timestamp::now()
        {
            return Err(Invalid::new("expires_at", "expires_at is in the past"));
        }
        Ok(LockRequest {
            reason,
            expires_at: self.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_lock() -> EnvironmentLock {
        EnvironmentLock {
            project: "shop".to_owned(),
            environment: "production".to_owned(),
            reason: "freeze".to_owned(),
            locked_by: "ada@example.com".to_owned(),
            locked_at: Timestamp::from_micros(1_764_460_800_000_000),
            expires_at: None,
        }
    }

    #[test]
    fn an_unlocked_state_is_only_locked_false() {
        let state = LockState::from(None);
        let wire = serde_json::to_value(&state).unwrap();
        assert_eq!(wire, serde_json::json!({"locked": false}));
        let read: LockState = serde_json::from_value(wire).unwrap();
        assert!(!read.is_locked());
        assert_eq!(read.into_lock(), None);
    }

    #[test]
    fn a_locked_state_is_locked_true_beside_the_lock_fields() {
        let state = LockState::from(Some(a_lock()));
        let wire = serde_json::to_value(&state).unwrap();
        assert_eq!(wire["locked"], serde_json::json!(true));
        assert_eq!(wire["reason"], serde_json::json!("freeze"));
        assert_eq!(wire["locked_by"], serde_json::json!("ada@example.com"));
        let read: LockState = serde_json::from_value(wire).unwrap();
        assert!(read.is_locked());
        assert_eq!(read.into_lock(), Some(a_lock()));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in DeployStatus::ALL {
            assert_eq!(DeployStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert!(!DeployStatus::Running.is_finished());
        assert!(DeployStatus::Interrupted.is_finished());
    }

    #[test]
    fn refs_that_could_be_options_or_hold_spaces_are_refused() {
        for bad in ["-h", "--upload-pack=evil", "a b", "x\u{7}"] {
            let request = DeployRequest {
                git_ref: Some(bad.into()),
                ..DeployRequest::default()
            };
            let Err(error) = request.validate() else {
                panic!("{bad:?} was accepted")
            };
            assert_eq!(error.field, "ref");
        }
        let fine = DeployRequest {
            git_ref: Some(" v1.2.3 ".into()),
            ..DeployRequest::default()
        };
        assert_eq!(fine.validate().unwrap().git_ref.as_deref(), Some("v1.2.3"));
    }

    #[test]
    fn the_documented_limits_are_the_ones_checked() {
        use utoipa::PartialSchema;
        let request = serde_json::to_value(DeployRequest::schema()).unwrap();
        assert_eq!(request["properties"]["ref"]["maxLength"], MAX_REF);
        assert_eq!(
            request["properties"]["description"]["maxLength"],
            MAX_DESCRIPTION
        );
        let lock = serde_json::to_value(LockRequest::schema()).unwrap();
        assert_eq!(lock["properties"]["reason"]["maxLength"], MAX_LOCK_REASON);
    }
}
