//! The closed set of error codes. Every domain error in jeny names one of these codes; the HTTP
//! layer maps a code to a status in exactly one place (`jeny-http`), so a concept never thinks
//! about status numbers and every API error has the same shape.

/// What kind of failure an error is, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is well-formed but a value is invalid (bad name, out of range).
    InvalidInput,
    /// The body is not parseable (bad JSON, wrong content type).
    MalformedRequest,
    /// No credentials, or credentials that are not valid.
    Unauthenticated,
    /// Valid credentials that do not allow this action.
    Forbidden,
    /// The thing named in the request does not exist.
    NotFound,
    /// The request conflicts with the current state (duplicate name, ...).
    Conflict,
    /// The thing is locked against this action (an environment locked against deploys).
    Locked,
    /// An `If-Match` precondition did not hold: someone else changed the thing first.
    PreconditionFailed,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The client did not send the request's body in time.
    RequestTimeout,
    /// The body's content type is not one this route accepts.
    UnsupportedMediaType,
    /// The method is not supported on this route.
    MethodNotAllowed,
    /// Too many attempts from this client (sign-in): wait and retry.
    TooManyRequests,
    /// A dependency (the database) is unreachable right now; retrying later may work.
    Unavailable,
    /// A bug or an unexpected failure inside jeny. Never carries details to the client.
    Internal,
}

impl ErrorCode {
    /// The stable snake_case name used in API bodies (`"code": "not_found"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Locked => "locked",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error that knows its code and, when one input field is at fault, which one.
///
/// Concept crates implement this on their `thiserror` enums; the HTTP layer renders any
/// `DomainError` as `application/problem+json`. For `ErrorCode::Internal` and
/// `ErrorCode::Unavailable` the message is logged, never sent.
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    fn code(&self) -> ErrorCode;

    /// The input field at fault (`"name"`, `"host_selector.role"`), if any.
    fn field(&self) -> Option<String> {
        None
    }
}

/// Shows an error with its whole `source()` chain, `outer: inner: innermost`, for the logs of
/// background work (`tracing::warn!(error = %ErrorChain(&error), ...)`): a `StoreError` alone
/// says "database error"; its chain says which statement the database refused and why.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod chain_tests {
    use super::ErrorChain;

    #[derive(Debug, thiserror::Error)]
    #[error("database error")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_chain_shows_every_cause() {
        let error = Outer(std::io::Error::other("relation \"deploys\" does not exist"));
        assert_eq!(
            ErrorChain(&error).to_string(),
            "database error: relation \"deploys\" does not exist"
        );
    }
}
