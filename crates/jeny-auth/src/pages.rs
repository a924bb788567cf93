//! The few HTML pages of sign-in (refused, signed out, approve a device): plain, self-contained
//! pages that work before the web app loads and without JavaScript.

use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use jeny_http::DeliberateBody;

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A page with a title and a body that is already HTML (escape what goes into it).
pub(crate) fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · jeny</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222}}\
         h1{{font-size:1.4rem}}code,.code{{font-family:ui-monospace,monospace}}.code{{font-size:1.6rem;letter-spacing:.1em}}\
         button{{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}}input{{font-size:1.2rem;padding:.3rem}}</style>\
         </head><body><h1>{title}</h1>{body_html}</body></html>\n",
        title = escape(title),
    );
    let mut response = (
        status,
        [(http::header::CACHE_CONTROL, "no-store")],
        Html(html),
    )
        .into_response();
    response.extensions_mut().insert(DeliberateBody);
    response
}

/// A page explaining why sign-in failed, with a link to try again.
pub(crate) fn refused(status: StatusCode, title: &str, reason: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<p>{}</p><p><a href=\"/auth/login\">Try again</a></p>",
            escape(reason)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
