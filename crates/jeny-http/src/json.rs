//! JSON bodies. `AppJson<T>` accepts only `application/json` (or a `+json` type), parses with the
//! path of the field at fault, rejects trailing data, and answers every failure with a 4xx
//! problem; as a response it serializes `T`. `MergePatch` takes an RFC 7386 JSON merge patch.

use crate::ApiError;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use jeny_core::ErrorCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSON request body or response.
#[derive(Debug, Clone)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<AppJson<T>, ApiError> {
        require_json_content_type(&request, &["application/json"])?;
        let bytes = read_body(request, state).await?;
        parse_json(&bytes).map(AppJson)
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON merge patch (`application/merge-patch+json`; `application/json` is accepted too).
#[derive(Debug, Clone)]
pub struct MergePatch(pub serde_json::Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for MergePatch {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<MergePatch, ApiError> {
        require_json_content_type(
            &request,
            &["application/merge-patch+json", "application/json"],
        )?;
        let bytes = read_body(request, state).await?;
        match parse_json::<Value>(&bytes)? {
            Value::Object(patch) => Ok(MergePatch(patch)),
            _ => Err(ApiError::new(
                ErrorCode::MalformedRequest,
                "a merge patch must be a JSON object",
            )),
        }
    }
}

impl MergePatch {
    /// Applies the patch to `current` (a resource's writable fields) and parses the result back,
    /// with the same field-naming errors as a request body.
    pub fn apply<T: Serialize + DeserializeOwned>(&self, current: &T) -> Result<T, ApiError> {
        let mut value = serde_json::to_value(current)
            .map_err(|error| ApiError::new(ErrorCode::Internal, error.to_string()))?;
        // Removing a member that does not exist is a no-op in RFC 7386, but a patch naming a
        // field this resource does not have is a client's mistake worth saying.
        if let Value::Object(fields) = &value
            && let Some(unknown) = self.0.keys().find(|key| !fields.contains_key(*key))
        {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(ApiError::invalid(
                unknown.clone(),
                format!(
                    "unknown field `{unknown}`, expected one of {}",
                    known.join(", ")
                ),
            ));
        }
        merge_patch(&mut value, &Value::Object(self.0.clone()));
        serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            ApiError {
                field: (path != ".").then_some(path),
                ..ApiError::new(
                    ErrorCode::InvalidInput,
                    strip_position(&error.into_inner().to_string()),
                )
            }
        })
    }
}

/// A JSON response with an `ETag` header, and the status given.
pub fn json_with_etag<T: Serialize>(status: http::StatusCode, etag: &str, body: &T) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = http::HeaderValue::from_str(etag) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
    response
}

/// A `201 Created` JSON response with its `Location` and `ETag`.
pub fn json_created<T: Serialize>(location: &str, etag: &str, body: &T) -> Response {
    let mut response = json_with_etag(http::StatusCode::CREATED, etag, body);
    if let Ok(value) = http::HeaderValue::from_str(location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

/// Applies an RFC 7386 merge patch: `null` removes a member, objects merge, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Value::Object(target_members) = target else {
        unreachable!("target was just made an object");
    };
    for (key, value) in patch_members {
        if value.is_null() {
            target_members.remove(key);
        } else {
            merge_patch(
                target_members.entry(key.clone()).or_insert(Value::Null),
                value,
            );
        }
    }
}

fn require_json_content_type(request: &Request, accepted: &[&str]) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let acceptable = accepted.contains(&essence.as_str())
        || (accepted.contains(&"application/json")
            && essence.starts_with("application/")
            && essence.ends_with("+json")
            && essence != "application/merge-patch+json");
    if acceptable {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "expected a body of type {}, got {}",
                accepted.join(" or "),
                if essence.is_empty() {
                    "no Content-Type"
                } else {
                    &essence
                }
            ),
        ))
    }
}

async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            let status = rejection.status();
            if status == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the body is larger than this server accepts",
                )
            } else {
                ApiError::new(
                    ErrorCode::MalformedRequest,
                    format!("cannot read the body: {}", rejection.body_text()),
                )
            }
        })
}

/// Parses a request body. It must be a JSON object: serde would otherwise accept an array for a
/// struct (its fields in order), which no client means.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Value::deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|error| {
            ApiError::new(
                ErrorCode::MalformedRequest,
                format!("the body is not valid JSON: {error}"),
            )
        })?;
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "the body must be a JSON object",
        ));
    }
    from_value(value)
}

/// Deserializes `T` from a JSON value, naming the field at fault.
fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = strip_position(&error.into_inner().to_string());
        // serde reports a missing field at its parent's path; name the field itself.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(|name| {
                if path == "." {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            });
        ApiError {
            field: missing.or((path != ".").then_some(path)),
            ..ApiError::new(ErrorCode::InvalidInput, message)
        }
    })
}

/// serde's data errors end in " at line 1 column 17", which helps nobody once the field is named.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
        let mut target = json!({"a": [1]});
        merge_patch(&mut target, &json!({"a": {"b": 1}, "n": null}));
        assert_eq!(target, json!({"a": {"b": 1}}));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only parsed")]
    struct Sample {
        name: String,
        count: u8,
    }

    #[test]
    fn data_errors_name_the_field_and_syntax_errors_are_malformed() {
        let error = parse_json::<Sample>(br#"{"name": "x", "count": 300}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert_eq!(error.field.as_deref(), Some("count"));
        let error = parse_json::<Sample>(br#"{"name": "x", "count": 1, "extra": 1}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(
            error.detail.contains("unknown field `extra`"),
            "{}",
            error.detail
        );
        let error = parse_json::<Sample>(br#"{"name": "x""#).unwrap_err();
        assert_eq!(error.code, ErrorCode::MalformedRequest);
        let error = parse_json::<Sample>(br#"{"name": "x", "count": 1} trailing"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::MalformedRequest);
        let error = parse_json::<Sample>(br#"{"count": 1}"#).unwrap_err();
        assert_eq!(
            error.field.as_deref(),
            Some("name"),
            "a missing field is named"
        );
        let error = parse_json::<Sample>(br#"["x", 1]"#).unwrap_err();
        assert_eq!(
            error.code,
            ErrorCode::InvalidInput,
            "an array is not an object"
        );
    }
}
