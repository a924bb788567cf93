//! Metrics on the wire: the query model (`POST /api/v1/metrics/query`) that dashboards, alerts
//! and experiments read through, its answer, and the times it takes.

use crate::Invalid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most queries one request may hold.
pub const MAX_QUERIES: usize = 26;
/// The most points a series of an answer may hold (`max_points`).
pub const MAX_POINTS: u32 = 100_000;

/// What `POST /api/v1/metrics/query` takes: queries over one project's metrics in one time
/// range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "project": "shop",
    "queries": [{"ref": "A", "measurement": "deploy", "field": "duration_ms", "aggregation": "mean",
                 "where": [{"tag": "environment", "op": "=", "value": "production"}],
                 "group_by": ["environment"], "interval": "1h", "fill": "null"}],
    "from": "now-7d", "to": "now", "max_points": 1000
}))]
pub struct MetricsQuery {
    /// The project whose metrics are read.
    pub project: String,
    /// 1 to 26 queries, each answered on its own.
    #[schema(min_items = 1, max_items = 26)]
    pub queries: Vec<MetricQuery>,
    /// The range's start: `now`, `now-7d` (units `ms s m h d w`), RFC 3339, or epoch
    /// milliseconds. Default `now-1h`.
    #[serde(default)]
    pub from: Option<TimeSpec>,
    /// The range's end, as `from`. Default `now`.
    #[serde(default)]
    pub to: Option<TimeSpec>,
    /// The most points a series may have: the interval is never finer than
    /// `(to - from) / max_points`. Default 1000, at most 100000.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100000)]
    pub max_points: Option<u32>,
    /// Values for `$name` in conditions (a dashboard's variables), without the `$`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// A time: text (`now-7d`, RFC 3339) or epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TimeSpec {
    Millis(i64),
    Text(String),
}

/// One query: an aggregation of one field over time buckets, per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricQuery {
    /// The query's name in the answer (`A`, `B`, ...).
    #[serde(rename = "ref")]
    pub reference: String,
    pub measurement: String,
    pub field: String,
    /// `count`, `sum`, `mean` (default), `median`, `min`, `max`, `first`, `last`, `spread`,
    /// `stddev`, `percentile(N)` (0 < N <= 100), or `non_negative_derivative(unit)` /
    /// `derivative(unit)` of the mean (unit a duration: `1s`).
    #[serde(default)]
    pub aggregation: Option<String>,
    /// Conditions on tags, all of which must hold.
    #[serde(default, rename = "where")]
    pub conditions: Vec<TagCondition>,
    /// Tags whose values split the answer into series.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// The bucket width (`10s`, `5m`, `1h`); raised to the finest that `max_points` allows.
    /// Default: that finest, rounded up to a round width.
    #[serde(default)]
    pub interval: Option<String>,
    /// An empty bucket: `null` (default), `none` (left out), `previous`, `linear`, or a number.
    #[serde(default)]
    pub fill: Option<String>,
}

/// A condition on a tag: `=`, `!=`, `=~` or `!~` (the last two a regular expression). A value
/// `$name` is the request's variable `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagCondition {
    pub tag: String,
    #[schema(pattern = "^(=|!=|=~|!~)$")]
    pub op: String,
    pub value: String,
}

/// The answer: one result per query, in the request's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricsAnswer {
    pub results: Vec<MetricResult>,
}

/// One query's series, with the InfluxQL it compiled to and the interval it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricResult {
    #[serde(rename = "ref")]
    pub reference: String,
    /// The statement, as it runs on InfluxDB and on the embedded store.
    pub influxql: String,
    /// The bucket width used, in milliseconds.
    pub interval_ms: i64,
    pub series: Vec<MetricSeries>,
}

/// A series: its group's tags, the columns (`time` first, epoch milliseconds) and the rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricSeries {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub columns: Vec<String>,
    #[schema(value_type = Vec<Vec<Object>>)]
    pub values: Vec<Vec<serde_json::Value>>,
}

/// Names for autocomplete (`GET /api/v1/metrics/measurements` and the like).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricNames {
    pub items: Vec<MetricName>,
}

/// A name, with a field's type where it is a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricName {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub field_type: Option<String>,
}

/// A duration as the query model writes it (`500ms`, `10s`, `5m`, `1h`, `7d`, `2w`), in
/// nanoseconds.
pub fn parse_duration(text: &str, field: &str) -> Result<i64, Invalid> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| {
        Invalid::new(
            field,
            format!("{text:?} is not a duration such as 10s, 5m or 1h"),
        )
    })?;
    let unit_ns: i64 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        "w" => 604_800_000_000_000,
        _ => {
            return Err(Invalid::new(
                field,
                format!("{text:?} is not a duration: a number and one of ms, s, m, h, d, w"),
            ));
        }
    };
    n.checked_mul(unit_ns).filter(|&ns| ns > 0).ok_or_else(|| {
        Invalid::new(
            field,
            format!("{text:?} is not a positive duration that fits"),
        )
    })
}

impl TimeSpec {
    /// The time in nanoseconds since the epoch.
    pub fn resolve(&self, now_ns: i64, field: &str) -> Result<i64, Invalid> {
        match self {
            TimeSpec::Millis(ms) => ms
                .checked_mul(1_000_000)
                .ok_or_else(|| Invalid::new(field, "the time is out of range")),
            TimeSpec::Text(text) => {
                let t = text.trim();
                if t == "now" {
                    return Ok(now_ns);
                }
                if let Some(rest) = t.strip_prefix("now-") {
                    return Ok(now_ns.saturating_sub(parse_duration(rest, field)?));
                }
                if let Some(rest) = t.strip_prefix("now+") {
                    return Ok(now_ns.saturating_add(parse_duration(rest, field)?));
                }
                if let Ok(ms) = t.parse::<i64>() {
                    return TimeSpec::Millis(ms).resolve(now_ns, field);
                }
                let time = humantime::parse_rfc3339_weak(t).map_err(|_| {
                    Invalid::new(
                        field,
                        format!(
                            "{t:?} is not a time: use now, now-7d, RFC 3339 or epoch milliseconds"
                        ),
                    )
                })?;
                let since = time
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_err(|_| Invalid::new(field, "times before 1970 are not taken"))?;
                i64::try_from(since.as_nanos())
                    .map_err(|_| Invalid::new(field, "the time is out of range"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_every_documented_form() {
        let now = 1_800_000_000_000_000_000;
        let text = |t: &str| TimeSpec::Text(t.into()).resolve(now, "from");
        assert_eq!(text("now").unwrap(), now);
        assert_eq!(text("now-7d").unwrap(), now - 7 * 86_400_000_000_000);
        assert_eq!(text("now-90m").unwrap(), now - 90 * 60_000_000_000);
        assert_eq!(text("1700000000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(TimeSpec::Millis(5).resolve(now, "to").unwrap(), 5_000_000);
        assert_eq!(
            text("2026-12-07T00:00:00Z").unwrap(),
            1_796_601_600_000_000_000
        );
        assert_eq!(text("yesterday").unwrap_err().field, "from");
        assert_eq!(parse_duration("500ms", "interval").unwrap(), 500_000_000);
        assert_eq!(
            parse_duration("2w", "interval").unwrap(),
            1_209_600_000_000_000
        );
        for bad in ["", "10", "s", "-1s", "0s", "1y", "99999999999999999w"] {
            assert!(parse_duration(bad, "interval").is_err(), "{bad}");
        }
    }
}
