//! No page of jeny may be shown inside another page's frame (clickjacking: a site frames the
//! device approval page and gets a person to click Approve). Every response says so twice:
//! `Content-Security-Policy: frame-ancestors 'none'`, which current browsers follow, and
//! `X-Frame-Options: DENY` for older ones. A response that already has a content security
//! policy (the web app's `index.html`) keeps it, with its `frame-ancestors` set to `'none'`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, header};

const FRAME_ANCESTORS: &str = "frame-ancestors 'none'";

/// Middleware: forbids framing of whatever the server answers.
pub async fn deny_framing(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    forbid_framing(response.headers_mut());
    response
}

/// Sets `X-Frame-Options: DENY` and `frame-ancestors 'none'` in the content security policy,
/// merged into the policy the headers already have.
pub fn forbid_framing(headers: &mut HeaderMap) {
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let policies: Vec<String> = headers
        .get_all(header::CONTENT_SECURITY_POLICY)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    if policies.is_empty() {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(FRAME_ANCESTORS),
        );
        return;
    }
    headers.remove(header::CONTENT_SECURITY_POLICY);
    for (index, policy) in policies.iter().enumerate() {
        let mut directives: Vec<&str> = policy
            .split(';')
            .map(str::trim)
            .filter(|directive| !directive.is_empty())
            .filter(|directive| {
                let name = directive.split_whitespace().next().unwrap_or_default();
                !name.eq_ignore_ascii_case("frame-ancestors")
            })
            .collect();
        if index == 0 {
            directives.push(FRAME_ANCESTORS);
        }
        let merged = directives.join("; ");
        if merged.is_empty() {
            continue;
        }
        if let Ok(value) = HeaderValue::from_str(&merged) {
            headers.append(header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(headers: &HeaderMap) -> Vec<&str> {
        headers
            .get_all(header::CONTENT_SECURITY_POLICY)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect()
    }

    #[test]
    fn a_response_without_a_policy_gets_one() {
        let mut headers = HeaderMap::new();
        forbid_framing(&mut headers);
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(policies(&headers), ["frame-ancestors 'none'"]);
    }

    #[test]
    fn an_existing_policy_is_kept_with_framing_forbidden() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; img-src data:;"),
        );
        headers.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        forbid_framing(&mut headers);
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(
            policies(&headers),
            ["default-src 'self'; img-src data:; frame-ancestors 'none'"]
        );
    }

    #[test]
    fn a_looser_frame_ancestors_becomes_none() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("Frame-Ancestors 'self' https://a.example; script-src 'self'"),
        );
        headers.append(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors *"),
        );
        forbid_framing(&mut headers);
        assert_eq!(
            policies(&headers),
            ["script-src 'self'; frame-ancestors 'none'"]
        );
    }
}
