//! Identifiers. Every stored entity has a UUIDv7 id kept as text: sortable by creation time,
//! portable across SQLite and PostgreSQL, and safe to expose.

/// A fresh UUIDv7 in its canonical hyphenated lowercase form.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sort_by_creation() {
        let first = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id();
        assert_ne!(first, second);
        assert!(first < second, "{first} should sort before {second}");
        assert_eq!(first.len(), 36);
    }
}
