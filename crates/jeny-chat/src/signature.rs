//! Slack's signed requests (HTTP mode): `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256,
//! keyed with the app's signing secret, of `v0:{X-Slack-Request-Timestamp}:{raw body}`. The
//! comparison is constant-time, and a timestamp more than five minutes from now is refused so a
//! captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now.
pub const MAX_AGE_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no X-Slack-Request-Timestamp or X-Slack-Signature")]
    Missing,
    #[error("the request's timestamp is more than five minutes from now")]
    Stale,
    #[error("the request's Slack signature does not verify")]
    Mismatch,
}

/// Checks a request's signature against `secret`, at `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let sent_at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Missing)?;
    if (now - sent_at).abs() > MAX_AGE_SECS {
        return Err(SignatureError::Stale);
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(decode_hex)
        .ok_or(SignatureError::Mismatch)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("v0:{timestamp}:").as_bytes());
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("v0={hex}")
    }

    #[test]
    fn a_signed_request_verifies_and_a_changed_one_does_not() {
        let body = b"command=%2Fjeny&text=help";
        let signature = sign(b"secret", "1700000000", body);
        assert_eq!(
            verify(
                b"secret",
                Some("1700000000"),
                Some(&signature),
                body,
                1_700_000_100
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                b"secret",
                Some("1700000000"),
                Some(&signature),
                b"command=%2Fjeny&text=deploy",
                1_700_000_100
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"other",
                Some("1700000000"),
                Some(&signature),
                body,
                1_700_000_100
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"secret",
                Some("1700000001"),
                Some(&signature),
                body,
                1_700_000_100
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_or_unsigned_requests_are_refused() {
        let body = b"x";
        let signature = sign(b"secret", "1700000000", body);
        assert_eq!(
            verify(
                b"secret",
                Some("1700000000"),
                Some(&signature),
                body,
                1_700_000_000 + 301
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"secret", None, Some(&signature), body, 0),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(b"secret", Some("1700000000"), None, body, 0),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(
                b"secret",
                Some("1700000000"),
                Some("v1=00"),
                body,
                1_700_000_000
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"secret",
                Some("1700000000"),
                Some("v0=zz"),
                body,
                1_700_000_000
            ),
            Err(SignatureError::Mismatch)
        );
    }
}
