//! Helpers for routes that answer either a JSON list or a live `text/event-stream` from the same
//! URL, chosen by the `Accept` header and resumable with `Last-Event-ID`.

use http::HeaderMap;

/// True when the client asked for server-sent events.
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| {
            accept
                .split(',')
                .any(|part| part.trim().starts_with("text/event-stream"))
        })
}

/// The `Last-Event-ID` a reconnecting client sent, when it is a number.
pub fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse().ok())
}
