//! Where a sign-in may send the browser afterwards (`next`): a path on jeny itself, or a URL on
//! jeny's host or one of `auth_redirect_domains` (forward authentication returns people to the
//! tool they came from). Anything else becomes `/`, so that a sign-in link cannot send people to
//! another site (an open redirect).
//!
//! Browsers read a `Location` more loosely than a URL parser that follows the letter of RFC 3986:
//! they drop tabs and newlines anywhere (`/\t/evil.example` is `//evil.example`), turn `\` into
//! `/` (`/\evil.example`), and take `//host` as another host. So a path is accepted only when it
//! starts with exactly one `/`, has no backslash, no control character (below 0x20, 0x7f, or C1)
//! and no whitespace; once percent-decoded (a later step, the web app's router included, may
//! decode it) it must still start that way and hold no control character; and resolving either
//! form the way a browser does must keep the origin.

/// The origin every path is resolved against to check it stays there.
const PROBE_ORIGIN: &str = "http://jeny.invalid/";

/// Whether `next` is a path on this origin that every browser reads as one.
pub(crate) fn is_same_origin_path(next: &str) -> bool {
    let decoded = percent_decoded(next);
    if !(looks_like_a_path(next) && decodes_as_a_path(&decoded)) {
        return false;
    }
    let Ok(base) = url::Url::parse(PROBE_ORIGIN) else {
        return false;
    };
    [next, decoded.as_str()].iter().all(|candidate| {
        base.join(candidate)
            .is_ok_and(|resolved| resolved.origin() == base.origin())
    })
}

/// Whether `next` is an absolute `http(s)` URL on one of `hosts` (lowercase names, `.example.com`
/// for every subdomain), written plainly: no credentials, no backslash, no control characters or
/// whitespace. Returns the URL as the parser writes it.
pub(crate) fn allowed_absolute_url(next: &str, hosts: &[String]) -> Option<String> {
    if has_unsafe_characters(next) {
        return None;
    }
    let url = url::Url::parse(next).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    // `http:evil.example` and `http:/evil.example` parse, but are not what they seem.
    let after_scheme = &next[url.scheme().len()..];
    if !after_scheme.starts_with("://") {
        return None;
    }
    let host = url.host_str()?.to_lowercase();
    let allowed = hosts.iter().any(|allowed| {
        let allowed = allowed.to_lowercase();
        match allowed.strip_prefix('.') {
            Some(parent) => host == parent || host.ends_with(&format!(".{parent}")),
            None => host == allowed,
        }
    });
    allowed.then(|| url.to_string())
}

fn looks_like_a_path(candidate: &str) -> bool {
    starts_as_a_path(candidate) && !has_unsafe_characters(candidate)
}

/// What matters of the decoded form: where it starts, and no control characters (spaces and
/// backslashes further on are ordinary in a decoded query).
fn decodes_as_a_path(decoded: &str) -> bool {
    starts_as_a_path(decoded) && !decoded.chars().any(char::is_control)
}

/// One `/`, then neither `/`, `\`, whitespace nor a control character.
fn starts_as_a_path(candidate: &str) -> bool {
    let mut characters = candidate.chars();
    characters.next() == Some('/')
        && !characters.next().is_some_and(|second| {
            matches!(second, '/' | '\\') || second.is_whitespace() || second.is_control()
        })
}

/// Control characters (which browsers drop or refuse), whitespace (which they trim) and
/// backslashes (which they read as `/`).
fn has_unsafe_characters(text: &str) -> bool {
    text.chars()
        .any(|character| character.is_control() || character.is_whitespace() || character == '\\')
}

/// `text` with its `%XX` escapes decoded once (invalid UTF-8 as U+FFFD).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                at += 3;
            }
            None => {
                decoded.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_on_jeny_are_accepted() {
        for good in [
            "/",
            "/projects/web",
            "/projects/web/deploys/01H?tab=output#line-3",
            "/auth/device?user_code=BCDF-GHJK",
            "/search?q=a%20b",
            "/search?q=a%5Cb%2Bc",
            "/a/%2F/b",
            "/%252F%252Fevil.example",
            "/caf%C3%A9",
            "/café",
            "/a//b",
            "/a/\u{2044}b",
        ] {
            assert!(is_same_origin_path(good), "{good:?} is a path on jeny");
        }
    }

    #[test]
    fn what_a_browser_reads_as_another_origin_is_refused() {
        for bad in [
            // the probe's own payload, decoded and not
            "/\t/evil.example/stolen",
            "/%09/evil.example/stolen",
            "/\n/evil.example",
            "/%0a/evil.example",
            "/\r/evil.example",
            "/%0D%0A/evil.example",
            "/\u{0}/evil.example",
            "/%00/evil.example",
            "/\u{7f}/evil.example",
            "/%7F/evil.example",
            "/\u{1b}[31m",
            "/\u{85}/evil.example",
            // protocol-relative and its disguises
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "\\\\evil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%2F%5Cevil.example",
            "/ /evil.example",
            "/%20/evil.example",
            " //evil.example",
            "/\u{a0}/evil.example",
            "/\u{3000}/evil.example",
            "/a\\b",
            // other schemes and hosts
            "https://evil.example",
            "http://evil.example/x",
            "javascript:alert(1)",
            "data:text/html,hi",
            "evil.example",
            "https:evil.example",
            "",
            "?next=/",
            "#/",
        ] {
            assert!(!is_same_origin_path(bad), "{bad:?} must not be accepted");
        }
    }

    #[test]
    fn absolute_urls_only_on_the_listed_hosts_and_written_plainly() {
        let hosts = vec!["jeny.example.com".to_owned(), ".tools.example".to_owned()];
        for (good, written) in [
            ("https://jeny.example.com/x", "https://jeny.example.com/x"),
            ("https://JENY.example.com", "https://jeny.example.com/"),
            (
                "http://grafana.tools.example/d?a=1",
                "http://grafana.tools.example/d?a=1",
            ),
            ("https://tools.example:8443/", "https://tools.example:8443/"),
        ] {
            assert_eq!(
                allowed_absolute_url(good, &hosts).as_deref(),
                Some(written),
                "{good:?}"
            );
        }
        for bad in [
            "https://evil.example/",
            "https://jeny.example.com.evil.example/",
            "https://eviltools.example/",
            "https://jeny.example.com@evil.example/",
            "https://user:pw@jeny.example.com/",
            "https://jeny.example.com\\@evil.example/",
            "https://jeny.example.com/\t/x",
            "https://jeny.example.com/\n",
            "https:jeny.example.com/",
            "https:/jeny.example.com/",
            "javascript://jeny.example.com/%0aalert(1)",
            "ftp://jeny.example.com/",
            " https://jeny.example.com/",
        ] {
            assert_eq!(allowed_absolute_url(bad, &hosts), None, "{bad:?}");
        }
    }
}
