//! Optimistic concurrency. A resource's ETag names its id and version; an update states which
//! ETags it was based on (HTTP `If-Match`), and is refused when the resource has moved on, so two
//! editors cannot silently overwrite each other.

/// The strong ETag of version `version` of the resource `id`.
pub fn etag_for(id: &str, version: i64) -> String {
    format!("\"{version}-{id}\"")
}

/// What an update expects the current ETag to be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    /// No expectation: the update applies to whatever is current.
    #[default]
    None,
    /// One of these ETags (or `*`, anything that exists) must be current.
    IfMatch(Vec<String>),
}

impl Precondition {
    pub fn if_match(etag: impl Into<String>) -> Precondition {
        Precondition::IfMatch(vec![etag.into()])
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Precondition::None)
    }

    /// Whether an update may apply to the resource whose ETag is `current_etag`.
    pub fn allows(&self, current_etag: &str) -> bool {
        match self {
            Precondition::None => true,
            Precondition::IfMatch(tags) => tags.iter().any(|tag| {
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                tag == "*" || tag == current_etag
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_current_tag_or_a_star_passes() {
        let current = etag_for("abc", 2);
        assert!(Precondition::None.allows(&current));
        assert!(Precondition::if_match("*").allows(&current));
        assert!(Precondition::IfMatch(vec![etag_for("abc", 1), current.clone()]).allows(&current));
        assert!(!Precondition::if_match(etag_for("abc", 1)).allows(&current));
        assert!(!Precondition::if_match(etag_for("abd", 2)).allows(&current));
    }
}
