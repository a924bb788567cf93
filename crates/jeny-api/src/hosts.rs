//! Hosts on the wire: host names, tags, tag selectors, the host's request and response bodies,
//! and (`inventory`) the Ansible inventory formats of a set of hosts.

pub mod inventory;

use crate::Invalid;
use jeny_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Tags as the API shows them: an object of key -> value, keys sorted.
pub type Tags = BTreeMap<String, String>;

const MAX_TAGS: usize = 64;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;
const MAX_ADDRESS: usize = 255;

// The rules below as ECMA-262 regular expressions, for the OpenAPI document. "Control
// characters" are `char::is_control` (Unicode Cc); "spaces" are the other characters of
// `char::is_whitespace` (what `trim` removes). Written as explicit classes, not `\s`, whose
// meaning differs between regex engines.
/// A tag key: no control character, `=` or `,`, and no space at either end.
const TAG_KEY_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f=, \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]([^\\u0000-\\u001f\\u007f-\\u009f=,]*[^\\u0000-\\u001f\\u007f-\\u009f=, \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$";
/// A tag value: no control character.
const TAG_VALUE_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// A host name: a letter or digit, then letters, digits, `.`, `_`, `-`; at most 253 characters
/// (a DNS name or an EC2 instance id fits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName(String);

impl HostName {
    pub fn parse(raw: &str) -> Result<HostName, Invalid> {
        let Some(first) = raw.chars().next() else {
            return Err(Invalid::new("name", "a host name cannot be empty"));
        };
        if raw.len() > HostName::MAX_LEN {
            return Err(Invalid::new(
                "name",
                "a host name is at most 253 characters",
            ));
        }
        if !first.is_ascii_alphanumeric() {
            return Err(Invalid::new(
                "name",
                "a host name must start with a letter or a digit",
            ));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(Invalid::new(
                "name",
                format!(
                    "a host name may only contain letters, digits, '.', '_' and '-', found {bad:?}"
                ),
            ));
        }
        Ok(HostName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl HostName {
    pub const MAX_LEN: usize = 253;
    /// The rule of `parse` as an ECMA-262 regular expression.
    pub const PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$";
}

/// `HostName` in the OpenAPI document: exactly the rule `parse` applies.
impl utoipa::PartialSchema for HostName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A host name: a letter or digit, then letters, digits, `.`, `_` and `-`; 1 to 253 characters.",
            ))
            .pattern(Some(HostName::PATTERN))
            .min_length(Some(1))
            .max_length(Some(HostName::MAX_LEN))
            .into()
    }
}

impl utoipa::ToSchema for HostName {}

/// Whether a tag would be accepted (for a sync, which skips what a person would be told about).
pub fn is_valid_tag(key: &str, value: &str) -> bool {
    check_tag("tags", key, value).is_ok()
}

/// The most tags a host may have.
pub const MAX_HOST_TAGS: usize = MAX_TAGS;

/// Checks one tag. Keys: 1 to 128 printable characters without `=` or `,` (they separate
/// conditions in `?tag=key=value`) and without surrounding spaces. Values: up to 256 printable
/// characters.
fn check_tag(field: &str, key: &str, value: &str) -> Result<(), Invalid> {
    let field_of_key = format!("{field}.{key}");
    if key.is_empty() || key.chars().count() > MAX_TAG_KEY {
        return Err(Invalid::new(
            field,
            format!("a tag key has 1 to {MAX_TAG_KEY} characters"),
        ));
    }
    if key.trim() != key || key.chars().any(|c| c.is_control() || c == '=' || c == ',') {
        return Err(Invalid::new(
            field_of_key,
            format!(
                "tag key {key:?} may not contain '=', ',', control characters or surrounding spaces"
            ),
        ));
    }
    if value.chars().count() > MAX_TAG_VALUE || value.chars().any(char::is_control) {
        return Err(Invalid::new(
            field_of_key,
            format!("a tag value has at most {MAX_TAG_VALUE} printable characters"),
        ));
    }
    Ok(())
}

/// Checks a set of tags (of a host: field `tags`; of a selector: the field given).
pub fn parse_tags(field: &str, tags: Tags) -> Result<Tags, Invalid> {
    if tags.len() > MAX_TAGS {
        return Err(Invalid::new(field, format!("at most {MAX_TAGS} tags")));
    }
    for (key, value) in &tags {
        check_tag(field, key, value)?;
    }
    Ok(tags)
}

/// `Tags` in the OpenAPI document (`#[schema(value_type = TagsSchema)]`, component `Tags`): the
/// limits `parse_tags` applies.
pub struct TagsSchema;

impl utoipa::PartialSchema for TagsSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(format!(
                "Tags, key -> value: at most {MAX_TAGS}. A key has 1 to {MAX_TAG_KEY} characters, \
                 without control characters, `=`, `,` or spaces at either end; a value at most \
                 {MAX_TAG_VALUE}, without control characters."
            )))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_TAG_KEY))
                    .pattern(Some(TAG_KEY_PATTERN)),
            ))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(MAX_TAG_VALUE))
                    .pattern(Some(TAG_VALUE_PATTERN)),
            ))
            .max_properties(Some(MAX_TAGS))
            .into()
    }
}

impl utoipa::ToSchema for TagsSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "Tags".into()
    }
}

/// One `key=value` condition of `?tag=`, in the OpenAPI document (component `TagCondition`).
pub struct TagConditionSchema;

impl utoipa::PartialSchema for TagConditionSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let key = TAG_KEY_PATTERN.trim_end_matches('$');
        let value = TAG_VALUE_PATTERN.trim_start_matches('^');
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "`key=value`: a tag key, `=`, and the value it must have (see `Tags`).",
            ))
            .pattern(Some(format!("{key}={value}")))
            .min_length(Some(2))
            .max_length(Some(MAX_TAG_KEY + 1 + MAX_TAG_VALUE))
            .into()
    }
}

impl utoipa::ToSchema for TagConditionSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "TagCondition".into()
    }
}

/// A set of tag conditions that must all hold: `{"role": "web", "env": "production"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagSelector(Tags);

impl TagSelector {
    /// Checks a selector given as an object (an environment's `host_selector`).
    pub fn from_tags(field: &str, tags: Tags) -> Result<TagSelector, Invalid> {
        parse_tags(field, tags).map(TagSelector)
    }

    /// Parses conditions written `key=value`, as in `?tag=role=web&tag=env=production`.
    pub fn from_conditions<'a>(
        field: &str,
        conditions: impl IntoIterator<Item = &'a str>,
    ) -> Result<TagSelector, Invalid> {
        let mut tags = Tags::new();
        for condition in conditions {
            let Some((key, value)) = condition.split_once('=') else {
                return Err(Invalid::new(
                    field,
                    format!("{condition:?} is not a condition of the form key=value"),
                ));
            };
            if let Some(previous) = tags.insert(key.to_owned(), value.to_owned())
                && previous != value
            {
                return Err(Invalid::new(
                    field,
                    format!("tag {key:?} cannot be both {previous:?} and {value:?}"),
                ));
            }
        }
        TagSelector::from_tags(field, tags)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn conditions(&self) -> &Tags {
        &self.0
    }

    /// Whether a host with `tags` is picked.
    pub fn matches(&self, tags: &Tags) -> bool {
        self.0
            .iter()
            .all(|(key, value)| tags.get(key) == Some(value))
    }

    /// This selector narrowed by more conditions; `None` when they contradict it.
    pub fn and(&self, other: &TagSelector) -> Option<TagSelector> {
        let mut combined = self.0.clone();
        for (key, value) in &other.0 {
            if let Some(existing) = combined.insert(key.clone(), value.clone())
                && existing != *value
            {
                return None;
            }
        }
        Some(TagSelector(combined))
    }
}

/// Where a host came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostSource {
    /// Added through the API or the UI.
    Manual,
    /// Registered by a `jeny agent` running on it.
    Agent,
    /// Synced from AWS EC2.
    Aws,
}

impl HostSource {
    pub fn as_str(self) -> &'static str {
        match self {
            HostSource::Manual => "manual",
            HostSource::Agent => "agent",
            HostSource::Aws => "aws",
        }
    }

    /// The source stored as `as_str` gives it, or `None` for any other text.
    pub fn parse(raw: &str) -> Option<HostSource> {
        match raw {
            "manual" => Some(HostSource::Manual),
            "agent" => Some(HostSource::Agent),
            "aws" => Some(HostSource::Aws),
            _ => None,
        }
    }
}

/// What a reconcile did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReconcileCounts {
    /// New hosts.
    pub added: usize,
    /// Hosts whose address or tags changed, or that came back after being gone.
    pub changed: usize,
    /// Hosts no longer there, now marked gone.
    pub gone: usize,
    pub unchanged: usize,
}

/// A host as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Host {
    pub id: String,
    pub name: String,
    /// IP address or DNS name that Ansible connects to (`ansible_host`).
    pub address: String,
    #[schema(value_type = BTreeMap<String, String>)]
    pub tags: Tags,
    pub source: HostSource,
    /// What keeps this host in sync (`aws:<account>/<region>`), when something does: such a
    /// host is changed only by its sync, not through the API.
    pub managed_by: Option<String>,
    /// Its id where it comes from (the EC2 instance id).
    pub external_id: Option<String>,
    /// When it disappeared from where it comes from (terminated). A gone host is kept for
    /// history, but no environment's selector picks it.
    pub gone_at: Option<Timestamp>,
    /// When an agent or a sync last reported this host.
    pub last_seen_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip)]
    pub version: i64,
}

impl Host {
    pub fn etag(&self) -> String {
        jeny_core::etag_for(&self.id, self.version)
    }

    /// The writable fields, as `PUT` takes them and `PATCH` patches them.
    pub fn to_input(&self) -> HostInput {
        HostInput {
            name: Some(self.name.clone()),
            address: self.address.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// The writable fields of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostInput {
    /// Required to create; on update it may be left out, and must equal the current name.
    #[serde(default)]
    #[schema(value_type = Option<HostName>)]
    pub name: Option<String>,
    /// An IP address or a DNS name: 1 to 255 bytes, without spaces or control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+$"
    )]
    pub address: String,
    #[serde(default)]
    #[schema(value_type = TagsSchema)]
    pub tags: Tags,
}

crate::create_request_schema!(
    /// What `POST /api/v1/hosts` takes.
    NewHost = HostInput, "name": HostName,
    "The writable fields of a host, with its name."
);

/// A host's writable fields after validation (`HostInput::validate`), as the server stores them.
#[derive(Debug, Clone)]
pub struct ValidHost {
    pub name: HostName,
    pub address: String,
    pub tags: Tags,
}

impl HostInput {
    /// Checks the fields; `name_in_url` is the host's current name when this updates it (the
    /// name cannot change).
    pub fn validate(self, name_in_url: Option<&str>) -> Result<ValidHost, Invalid> {
        let name = match (self.name.as_deref(), name_in_url) {
            (Some(given), Some(current)) if given != current => {
                return Err(Invalid::new(
                    "name",
                    format!("a host cannot be renamed: the name must stay {current:?}"),
                ));
            }
            (Some(given), _) => HostName::parse(given)?,
            (None, Some(current)) => HostName::parse(current)?,
            (None, None) => return Err(Invalid::new("name", "a host needs a name")),
        };
        let address = self.address.trim().to_owned();
        if address.is_empty()
            || address.len() > MAX_ADDRESS
            || address.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Invalid::new(
                "address",
                "an address is an IP address or a DNS name, 1 to 255 characters, no spaces",
            ));
        }
        let tags = parse_tags("tags", self.tags)?;
        Ok(ValidHost {
            name,
            address,
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use utoipa::PartialSchema;

    #[test]
    fn the_documented_limits_are_the_ones_checked() {
        let tags = serde_json::to_value(TagsSchema::schema()).unwrap();
        assert_eq!(tags["maxProperties"], MAX_TAGS);
        assert_eq!(tags["propertyNames"]["maxLength"], MAX_TAG_KEY);
        assert_eq!(tags["additionalProperties"]["maxLength"], MAX_TAG_VALUE);
        let input = serde_json::to_value(HostInput::schema()).unwrap();
        assert_eq!(input["properties"]["address"]["maxLength"], MAX_ADDRESS);
        assert!(HostName::PATTERN.contains(&format!("{{0,{}}}", HostName::MAX_LEN - 1)));
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_selector_needs_every_condition() {
        let selector = TagSelector::from_conditions("tag", ["role=web", "env=production"]).unwrap();
        assert!(selector.matches(&tags(&[
            ("role", "web"),
            ("env", "production"),
            ("az", "a")
        ])));
        assert!(!selector.matches(&tags(&[("role", "web")])));
        assert!(!selector.matches(&tags(&[("role", "web"), ("env", "staging")])));
        assert!(TagSelector::default().matches(&tags(&[])));
    }

    #[test]
    fn conditions_must_be_key_value_and_consistent() {
        assert!(TagSelector::from_conditions("tag", ["role"]).is_err());
        assert!(TagSelector::from_conditions("tag", ["=web"]).is_err());
        assert!(TagSelector::from_conditions("tag", ["role=web", "role=db"]).is_err());
        let empty_value = TagSelector::from_conditions("tag", ["note="]).unwrap();
        assert_eq!(
            empty_value.conditions().get("note").map(String::as_str),
            Some("")
        );
        let value_with_equals = TagSelector::from_conditions("tag", ["k=a=b"]).unwrap();
        assert_eq!(
            value_with_equals.conditions().get("k").map(String::as_str),
            Some("a=b")
        );
    }

    #[test]
    fn narrowing_a_selector_refuses_contradictions() {
        let base = TagSelector::from_conditions("s", ["role=web"]).unwrap();
        let canary = TagSelector::from_conditions("s", ["az=a"]).unwrap();
        assert_eq!(base.and(&canary).unwrap().conditions().len(), 2);
        assert!(
            base.and(&TagSelector::from_conditions("s", ["role=db"]).unwrap())
                .is_none()
        );
    }

    #[test]
    fn host_names_follow_the_rule() {
        for good in ["web-1", "i-0abc123", "db.internal.example.com", "A_1"] {
            assert!(HostName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-web", ".x", "web 1", "web/1", "wéb"] {
            assert!(HostName::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn a_selector_built_from_a_hosts_own_tags_matches_it(
            host_tags in proptest::collection::btree_map("[a-z][a-z0-9_:./-]{0,10}", "[ -~]{0,12}", 0..6),
            take in 0usize..6,
        ) {
            let subset: Tags = host_tags.iter().take(take).map(|(k, v)| (k.clone(), v.clone())).collect();
            let selector = TagSelector::from_tags("s", subset).unwrap();
            prop_assert!(selector.matches(&host_tags));
        }

        #[test]
        fn parsing_conditions_never_panics(conditions in proptest::collection::vec(".{0,20}", 0..5)) {
            let _ = TagSelector::from_conditions("tag", conditions.iter().map(String::as_str));
        }
    }
}
