//! Timestamps: stored as i64 microseconds since the Unix epoch (portable across both stores),
//! shown on the wire as RFC 3339 strings in UTC.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// This machine's wall clock, shifted by `JENY_CLOCK_OFFSET_MS` when that is set (a test
    /// seam: the cluster tests run one node with a clock that is off). Nothing that orders or
    /// expires work across nodes reads it: that is the database's clock (`jeny_store`).
    pub fn now() -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(since_epoch.as_micros() as i64 + clock_offset_micros())
    }

    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    pub fn to_rfc3339(self) -> String {
        let time = UNIX_EPOCH + Duration::from_micros(self.0.max(0) as u64);
        humantime::format_rfc3339_micros(time).to_string()
    }

    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let time = humantime::parse_rfc3339_weak(text).ok()?;
        let since_epoch = time.duration_since(UNIX_EPOCH).ok()?;
        Some(Timestamp(since_epoch.as_micros() as i64))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom("expected an RFC 3339 time such as 2026-01-31T12:00:00Z")
        })
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

/// The variable that shifts `Timestamp::now()` by that many milliseconds (tests of clock skew).
pub const CLOCK_OFFSET_VARIABLE: &str = "JENY_CLOCK_OFFSET_MS";

fn clock_offset_micros() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var(CLOCK_OFFSET_VARIABLE)
            .ok()
            .and_then(|millis| millis.trim().parse::<i64>().ok())
            .map_or(0, |millis| millis.saturating_mul(1000))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let moment = Timestamp::from_micros(1_764_460_800_123_456);
        assert_eq!(moment.to_rfc3339(), "2025-11-30T00:00:00.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&moment.to_rfc3339()), Some(moment));
        assert_eq!(
            serde_json::to_string(&moment).unwrap(),
            "\"2025-11-30T00:00:00.123456Z\""
        );
    }
}
