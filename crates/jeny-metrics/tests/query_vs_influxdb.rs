//! jeny's InfluxQL executor against the real InfluxDB 1.6.7 (Debian's `influxd`, from
//! `tests/peers/influxdb/setup`). The same corpus (3 hosts, `cpu` and `mem`, two days at 10 s
//! with gaps; float, integer, string and boolean fields; every point with an explicit
//! `project=p` tag, which jeny adds on write) is written to InfluxDB with `POST /write` and to an
//! embedded store with `line_protocol::parse` + `Store::write`; part of it is then flushed into
//! blocks and the first day compacted into rollups, so the queries read heads, blocks and
//! rollups. Each query of the list below runs on both sides, with absolute times, and InfluxDB's
//! `epoch=ns` body (or RFC 3339, where the case says) is compared with `to_json`: the same
//! series, tags, columns and cells, floats bit for bit — the corpus' floats are multiples of
//! 1/8, so sums are exact whatever the order of additions — except where a case is marked
//! approximate: means, standard deviations and what is computed from them, which InfluxDB adds
//! per series and shard first, agree to a relative 1e-9.
//!
//! What InfluxDB 1.6.7 answered, in the non-obvious cases (and jeny answers too):
//! - an aggregate without `GROUP BY time` is timed at the range's start, or at 0 (1970) when the
//!   range has none; a lone selector (`first`, `last`, `min`, `max`, `percentile`) keeps the time
//!   of its point, two calls do not;
//! - `GROUP BY time(i, offset)` buckets are named by their start, even before the range's start;
//!   without a lower bound the buckets start at the bucket of each group's first point, and
//!   without an upper bound end at now();
//! - a group without points in the range has no series, whatever the fill; `count` fills nulls
//!   with 0, but `fill(linear)` leaves it null at the ends; `stddev` of one point is null, and
//!   that null is not filled;
//! - ties: `min`/`max` keep the earliest point, `first`/`last` the larger value (of booleans,
//!   `first` false and `last` true);
//! - `derivative(agg(f))` reads one bucket before the range and its unit defaults to the `GROUP
//!   BY` interval (1s over a field); at equal times only the first point counts; empty buckets
//!   are skipped;
//! - `ORDER BY time DESC` reverses the series as well as the rows, and `fill(previous)` then
//!   looks at the later bucket;
//! - `GROUP BY` a tag a series lacks groups it under `""`; `SELECT *` writes a missing tag as
//!   null; columns are the time, then fields and tags sorted together;
//! - integer division in the field list gives a float, and division by zero 0;
//! - `SHOW TAG KEYS WHERE` lists the keys of the series that match, not of the measurement;
//!   `LIMIT` on `SHOW TAG KEYS|VALUES|FIELD KEYS` is per measurement;
//! - a raw query over several series merges their rows by time, but at equal times in no defined
//!   order (two runs of one query differ): the corpus gives each host its own seconds, so no raw
//!   query meets such a tie.
//!
//! Where jeny differs deliberately, each side's answer is asserted: a `GROUP BY time` asking for
//! more than `MAX_BUCKETS_PER_SERIES` buckets is refused by jeny, answered by InfluxDB.

use jeny_metrics::influxql::{Statement, parse};
use jeny_metrics::line_protocol::{self, Precision};
use jeny_metrics::query::influxql::{Epoch, MAX_BUCKETS_PER_SERIES, execute, to_json};
use jeny_metrics::store::{DAY_NS, Options, Store};
use jeny_testkit::influxdb::Influx;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

const DATABASE: &str = "p";
const S: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * S;
const HOUR: i64 = 60 * MINUTE;
/// 2024-03-06T00:00:00Z, a Wednesday: the corpus' first day. InfluxDB's shards of a week begin
/// on Thursdays, so the second day is in a shard of its own.
const T0: i64 = 1_709_683_200 * S;
/// The `now()` of jeny's side: well after the corpus (InfluxDB uses its clock; no query's answer
/// depends on it).
const NOW: i64 = T0 + 400 * DAY_NS;
const HOSTS: [&str; 3] = ["a", "b", "c"];

/// One query and how to compare its answers.
struct Case {
    query: String,
    /// `epoch=` as sent; `None` for RFC 3339 times.
    epoch: Option<&'static str>,
    /// Floats agree to a relative 1e-9 rather than bit for bit (see the header).
    approximate: bool,
}

fn exact(query: impl Into<String>) -> Case {
    Case {
        query: query.into(),
        epoch: Some("ns"),
        approximate: false,
    }
}

fn approximate(query: impl Into<String>) -> Case {
    Case {
        approximate: true,
        ..exact(query)
    }
}

fn with_epoch(query: impl Into<String>, epoch: Option<&'static str>) -> Case {
    Case {
        epoch,
        ..exact(query)
    }
}

/// `time >= a AND time <= b`, in milliseconds, as Grafana writes it.
fn range(from: i64, to: i64) -> String {
    format!(
        "time >= {}ms and time <= {}ms",
        from / 1_000_000,
        to / 1_000_000
    )
}

fn cases() -> Vec<Case> {
    let day = DAY_NS;
    let morning = range(T0 + 4 * HOUR, T0 + 9 * HOUR);
    let both_days = range(T0 + 20 * HOUR, T0 + day + 14 * HOUR);
    let whole_first_day = range(T0, T0 + day - 1);
    let hour = range(T0 + 6 * HOUR + 30 * MINUTE, T0 + 7 * HOUR + 30 * MINUTE);
    let minutes = range(T0 + 10 * HOUR, T0 + 10 * HOUR + 3 * MINUTE);
    let second_day = range(T0 + day + 11 * HOUR, T0 + day + 13 * HOUR);
    vec![
        // Grafana's query builder
        exact(format!(
            r#"SELECT mean("usage") FROM "cpu" WHERE ("host" = 'a') AND {hour} GROUP BY time(1m), "host" fill(null)"#
        )),
        approximate(format!(
            r#"SELECT mean("usage") FROM "cpu" WHERE {morning} GROUP BY time(5m) fill(null)"#
        )),
        approximate(format!(
            r#"SELECT mean("usage") FROM "cpu" WHERE {both_days} GROUP BY time(1h), "host" fill(null)"#
        )),
        exact(format!(
            r#"SELECT count("usage") FROM "cpu" WHERE {morning} GROUP BY time(10m), "host" fill(none)"#
        )),
        exact(format!(
            r#"SELECT sum("user") FROM "cpu" WHERE {whole_first_day} GROUP BY time(1h) fill(null)"#
        )),
        exact(format!(
            r#"SELECT sum("usage"), count("usage"), min("usage"), max("usage"), spread("usage") FROM "cpu" WHERE {both_days} GROUP BY time(30m), "host""#
        )),
        // every aggregation
        exact(format!(
            r#"SELECT min("free"), max("free"), first("free"), last("free") FROM "mem" WHERE {morning} GROUP BY time(15m)"#
        )),
        exact(format!(
            r#"SELECT first("used"), last("used"), min("used"), max("used") FROM "mem" WHERE {minutes} GROUP BY time(1m)"#
        )),
        exact(format!(
            r#"SELECT median("usage"), median("user") FROM "cpu" WHERE {morning} GROUP BY time(30m)"#
        )),
        exact(format!(
            r#"SELECT spread("user") FROM "cpu" WHERE {both_days} GROUP BY time(2h), "host""#
        )),
        approximate(format!(
            r#"SELECT stddev("usage") FROM "cpu" WHERE {morning} GROUP BY time(1h), "host""#
        )),
        exact(format!(
            r#"SELECT percentile("usage", 95), percentile("user", 50) FROM "cpu" WHERE {both_days} GROUP BY time(1h), "host""#
        )),
        exact(format!(
            r#"SELECT percentile("usage", 50) FROM "cpu" WHERE "host" = 'a' AND {minutes}"#
        )),
        exact(format!(
            r#"SELECT max("usage") FROM "cpu" WHERE "host" = 'b' AND {whole_first_day}"#
        )),
        exact(format!(
            r#"SELECT first("usage"), last("state") FROM "cpu" WHERE {morning} GROUP BY "host""#
        )),
        exact(format!(
            r#"SELECT last("swapping"), first("swapping"), count("swapping") FROM "mem" WHERE {minutes} GROUP BY time(1m)"#
        )),
        approximate(format!(
            r#"SELECT mean("usage"), count("usage") FROM "cpu" WHERE {both_days} GROUP BY "host""#
        )),
        exact(r#"SELECT count("usage") FROM "cpu""#),
        exact(format!(
            r#"SELECT max("usage"), "host", "user" FROM "cpu" WHERE {morning}"#
        )),
        // fills
        exact(format!(
            r#"SELECT max("usage") FROM "cpu" WHERE "host" = 'b' AND {morning} GROUP BY time(20m) fill(previous)"#
        )),
        exact(format!(
            r#"SELECT max("usage"), sum("user") FROM "cpu" WHERE "host" = 'b' AND {morning} GROUP BY time(20m) fill(linear)"#
        )),
        exact(format!(
            r#"SELECT max("usage"), count("usage") FROM "cpu" WHERE "host" = 'b' AND {morning} GROUP BY time(20m) fill(-1.5)"#
        )),
        exact(format!(
            r#"SELECT sum("user") FROM "cpu" WHERE "host" = 'b' AND {morning} GROUP BY time(20m) fill(0)"#
        )),
        exact(format!(
            r#"SELECT last("usage") FROM "cpu" WHERE {morning} GROUP BY time(30m), "host" fill(previous) ORDER BY time DESC"#
        )),
        // derivatives and math
        approximate(format!(
            r#"SELECT derivative(mean("usage"), 1s) FROM "cpu" WHERE {hour} GROUP BY time(1m)"#
        )),
        exact(format!(
            r#"SELECT non_negative_derivative(max("user")) FROM "cpu" WHERE {morning} GROUP BY time(5m), "host""#
        )),
        exact(format!(
            r#"SELECT non_negative_derivative(last("bytes"), 1s) * 8 AS "bits" FROM "mem" WHERE {hour} GROUP BY time(1m), "host""#
        )),
        exact(format!(
            r#"SELECT derivative("usage") FROM "cpu" WHERE "host" = 'c' AND {morning} LIMIT 20"#
        )),
        approximate(format!(
            r#"SELECT mean("usage") * 8, sum("user") / 4, max("usage") - min("usage"), mean("usage") FROM "cpu" WHERE {morning} GROUP BY time(1h)"#
        )),
        // raw points
        exact(format!(
            r#"SELECT "usage", "user", "state" FROM "cpu" WHERE "host" = 'a' AND {minutes}"#
        )),
        exact(format!(r#"SELECT * FROM "cpu" WHERE {minutes} LIMIT 10"#)),
        exact(format!(
            r#"SELECT "usage" * 2 + "user" FROM "cpu" WHERE {minutes} ORDER BY time DESC LIMIT 15"#
        )),
        exact(format!(
            r#"SELECT * FROM "cpu" WHERE {minutes} GROUP BY "host" LIMIT 5 OFFSET 2"#
        )),
        exact(format!(
            r#"SELECT "usage" FROM "cpu" WHERE "usage" > 90 AND "host" != 'a' AND {morning}"#
        )),
        // tag filters
        exact(format!(
            r#"SELECT count("usage") FROM "cpu" WHERE "host" =~ /^(a|c)$/ AND {both_days} GROUP BY time(6h)"#
        )),
        exact(format!(
            r#"SELECT count("usage") FROM "cpu" WHERE "region" !~ /^e/ AND {both_days} GROUP BY "host""#
        )),
        exact(format!(
            r#"SELECT sum("user") FROM "cpu" WHERE ("host" <> 'b' OR "region" = 'us') AND ("host" = 'a' OR "host" = 'b') AND {morning} GROUP BY time(1h)"#
        )),
        exact(format!(
            r#"SELECT count("usage") FROM "cpu" WHERE "region" = '' AND {both_days}"#
        )),
        exact(format!(
            r#"SELECT count("free"), count("usage") FROM /^(cpu|mem)$/ WHERE {morning} GROUP BY "host""#
        )),
        // grouping, ordering, limits
        exact(format!(
            r#"SELECT max("usage") FROM "cpu" WHERE {morning} GROUP BY time(1h, 15m)"#
        )),
        exact(format!(
            r#"SELECT sum("user") FROM "cpu" WHERE {morning} GROUP BY time(1h), "host" SLIMIT 2 SOFFSET 1"#
        )),
        exact(format!(
            r#"SELECT sum("usage") FROM "cpu" WHERE {morning} GROUP BY time(1h), * LIMIT 3 OFFSET 1"#
        )),
        exact(format!(
            r#"SELECT count("used") FROM "mem" WHERE {second_day} GROUP BY time(30m), "region""#
        )),
        exact(format!(
            r#"SELECT sum("user") FROM "cpu" WHERE time <= {}ms GROUP BY time(10m), "host""#,
            (T0 + HOUR) / 1_000_000
        )),
        exact(format!(
            r#"SELECT count("usage") FROM "cpu" WHERE {second_day} GROUP BY time(30m), "host" fill(0)"#
        )),
        exact(format!(
            r#"SELECT count("usage") FROM "cpu" WHERE "host" = 'b' AND {morning} GROUP BY time(30m) fill(linear)"#
        )),
        exact(format!(
            r#"SELECT stddev("usage") FROM "cpu" WHERE "host" = 'a' AND {minutes} GROUP BY time(10s) fill(0)"#
        )),
        exact(format!(
            r#"SELECT max("usage") FROM "cpu" WHERE "host" = 'b' AND {morning} GROUP BY time(20m) fill(linear) ORDER BY time DESC"#
        )),
        approximate(format!(
            r#"SELECT mean(*) FROM "cpu" WHERE {morning} GROUP BY time(1h)"#
        )),
        exact(format!(
            r#"SELECT /^us/ FROM "cpu" WHERE "host" = 'a' AND {minutes}"#
        )),
        exact(format!(
            r#"SELECT non_negative_derivative("bytes", 1m) FROM "mem" WHERE {minutes} GROUP BY "host""#
        )),
        exact(format!(
            r#"SELECT max("usage") FROM "cpu" WHERE {minutes}; SHOW MEASUREMENTS; SELECT nope("x") FROM "cpu""#
        )),
        // what is not there, and errors
        exact(format!(
            r#"SELECT mean("usage") FROM "cpu" WHERE "host" = 'zzz' AND {morning} GROUP BY time(1h)"#
        )),
        exact(format!(r#"SELECT "nothing" FROM "cpu" WHERE {morning}"#)),
        exact(format!(
            r#"SELECT mean("state") FROM "cpu" WHERE {morning}"#
        )),
        exact(format!(
            r#"SELECT mean("usage"), "usage" FROM "cpu" WHERE {morning}"#
        )),
        exact(format!(
            r#"SELECT "usage" FROM "cpu" WHERE {morning} GROUP BY time(1h)"#
        )),
        exact(format!(
            r#"SELECT percentile("usage") FROM "cpu" WHERE {morning}"#
        )),
        exact(format!(
            r#"SELECT derivative("usage") FROM "cpu" WHERE {morning} GROUP BY time(1h)"#
        )),
        exact(format!(r#"SELECT foo("usage") FROM "cpu" WHERE {morning}"#)),
        exact(format!(
            r#"SELECT mean("usage") FROM "x"."cpu" WHERE {morning}"#
        )),
        // times as text and in other units
        with_epoch(
            format!(r#"SELECT max("usage") FROM "cpu" WHERE {hour} GROUP BY time(10m)"#),
            None,
        ),
        with_epoch(
            format!(r#"SELECT "usage" FROM "cpu" WHERE "host" = 'b' AND {minutes}"#),
            None,
        ),
        with_epoch(
            format!(r#"SELECT "usage" FROM "cpu" WHERE "host" = 'b' AND {minutes}"#),
            Some("ms"),
        ),
        with_epoch(
            format!(r#"SELECT max("usage") FROM "cpu" WHERE {morning} GROUP BY time(1h)"#),
            Some("h"),
        ),
        // schema
        exact("SHOW MEASUREMENTS"),
        exact("SHOW MEASUREMENTS LIMIT 1 OFFSET 1"),
        exact("SHOW MEASUREMENTS WITH MEASUREMENT =~ /^m/"),
        exact("SHOW MEASUREMENTS WHERE \"region\" = 'us'"),
        exact("SHOW TAG KEYS"),
        exact("SHOW TAG KEYS FROM \"cpu\" LIMIT 2 OFFSET 1"),
        exact("SHOW TAG KEYS WHERE \"host\" = 'c'"),
        exact("SHOW TAG VALUES WITH KEY = \"host\""),
        exact("SHOW TAG VALUES FROM \"cpu\" WITH KEY IN (\"host\", \"region\")"),
        exact("SHOW TAG VALUES WITH KEY =~ /o/ WHERE \"region\" = 'eu'"),
        exact("SHOW TAG VALUES WITH KEY = \"host\" LIMIT 1 OFFSET 1"),
        exact("SHOW FIELD KEYS"),
        exact("SHOW FIELD KEYS FROM \"cpu\""),
        exact("SHOW TAG VALUES WITH KEY != \"host\""),
        exact("SHOW TAG VALUES FROM /^c/ WITH KEY !~ /o/"),
    ]
}

/// A deterministic sequence (a 64-bit LCG), so both sides get the same values.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// The corpus as line protocol, in writing order (time), with the time each line has.
fn corpus() -> Vec<(i64, String)> {
    let mut numbers = Numbers(17);
    let mut lines = Vec::new();
    let slots = 2 * DAY_NS / (10 * S);
    let mut bytes = [0_i64; 3];
    for slot in 0..slots {
        let slot_time = T0 + slot * 10 * S;
        for (index, host) in HOSTS.iter().enumerate() {
            let region = match *host {
                "a" => ",region=eu",
                "b" => ",region=us",
                _ => "",
            };
            // each host its own seconds: raw rows of several hosts never share a time
            let cpu_time = slot_time + [0, 3, 7][index] * S;
            let offset = cpu_time - T0;
            let cpu_gap = (*host == "b" && (5 * HOUR..7 * HOUR).contains(&offset))
                || (*host == "c" && offset >= DAY_NS + 12 * HOUR + 20 * MINUTE);
            if !cpu_gap {
                let usage = numbers.next(800) as f64 / 8.0;
                let user = numbers.next(1000) as i64 - 100;
                let state = if slot % 6 == 0 {
                    let states = ["ok", "warn", "busy"];
                    format!(",state=\"{}\"", states[numbers.next(3) as usize])
                } else {
                    String::new()
                };
                lines.push((
                    cpu_time,
                    format!(
                        "cpu,host={host},project={DATABASE}{region} usage={usage},user={user}i{state} {cpu_time}"
                    ),
                ));
            }
            // mem is written at the same times for every host: aggregates meet ties
            let mem_gap = *host == "c" && (slot_time - T0) < 30 * MINUTE;
            if !mem_gap {
                let free = numbers.next(64) as f64 / 4.0;
                let used = numbers.next(50) as i64;
                let swapping = numbers.next(2) == 1;
                bytes[index] += numbers.next(5000) as i64;
                if numbers.next(500) == 0 {
                    bytes[index] = 0;
                }
                lines.push((
                    slot_time,
                    format!(
                        "mem,host={host},project={DATABASE}{region} free={free},used={used}i,swapping={swapping},bytes={}i {slot_time}",
                        bytes[index]
                    ),
                ));
            }
        }
    }
    lines
}

fn write_store(store: &Store, lines: &[&str]) {
    let body = lines.join("\n");
    let parsed = line_protocol::parse(body.as_bytes(), Precision::Nanoseconds, NOW);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors.first());
    let written = store
        .write(DATABASE, &parsed.points)
        .expect("the store writes");
    assert_eq!(written.dropped, 0, "{:?}", written.reason);
}

async fn write_influx(http: &reqwest::Client, influx: &Influx, lines: &[&str]) {
    for chunk in lines.chunks(20_000) {
        let response = http
            .post(format!("{}/write", influx.url))
            .query(&[("db", DATABASE), ("precision", "ns")])
            .body(chunk.join("\n"))
            .send()
            .await
            .expect("InfluxDB answers /write");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status.as_u16(), 204, "InfluxDB refused the corpus: {text}");
    }
}

async fn influx_query(
    http: &reqwest::Client,
    influx: &Influx,
    query: &str,
    epoch: Option<&str>,
) -> String {
    let mut parameters = vec![("db", DATABASE)];
    if let Some(epoch) = epoch {
        parameters.push(("epoch", epoch));
    }
    http.post(format!("{}/query", influx.url))
        .query(&parameters)
        .form(&[("q", query)])
        .send()
        .await
        .expect("InfluxDB answers /query")
        .text()
        .await
        .expect("the answer's body")
}

fn jeny_query(store: &Store, query: &str, epoch: Option<&str>) -> String {
    let statements: Vec<Statement> =
        parse(query).unwrap_or_else(|error| panic!("{query}: {error}"));
    let results: Vec<_> = statements
        .iter()
        .enumerate()
        .map(|(index, statement)| (index, execute(store, DATABASE, statement, NOW)))
        .collect();
    to_json(&results, epoch.and_then(Epoch::parse)).to_string()
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    results: Vec<StatementResult<'a>>,
}

#[derive(Deserialize)]
struct StatementResult<'a> {
    statement_id: u64,
    #[serde(default, borrow)]
    series: Vec<SeriesBody<'a>>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct SeriesBody<'a> {
    name: String,
    tags: Option<BTreeMap<String, String>>,
    columns: Vec<String>,
    #[serde(borrow)]
    values: Vec<Vec<&'a RawValue>>,
}

/// The differences between two answers, cell by cell (empty when they agree).
fn differences(influx: &str, jeny: &str, approximate: bool) -> Vec<String> {
    let influx: Body = serde_json::from_str(influx).unwrap_or_else(|e| panic!("{influx}: {e}"));
    let jeny: Body = serde_json::from_str(jeny).unwrap_or_else(|e| panic!("{jeny}: {e}"));
    let mut found = Vec::new();
    if influx.results.len() != jeny.results.len() {
        found.push(format!(
            "{} results from InfluxDB, {} from jeny",
            influx.results.len(),
            jeny.results.len()
        ));
        return found;
    }
    for (theirs, ours) in influx.results.iter().zip(&jeny.results) {
        if theirs.statement_id != ours.statement_id || theirs.error != ours.error {
            found.push(format!(
                "statement {}: InfluxDB's error {:?}, jeny's {:?}",
                theirs.statement_id, theirs.error, ours.error
            ));
        }
        let names = |series: &[SeriesBody]| -> Vec<(String, Option<BTreeMap<String, String>>)> {
            series
                .iter()
                .map(|one| (one.name.clone(), one.tags.clone()))
                .collect()
        };
        if names(&theirs.series) != names(&ours.series) {
            found.push(format!(
                "series: InfluxDB {:?}, jeny {:?}",
                names(&theirs.series),
                names(&ours.series)
            ));
            continue;
        }
        for (their, our) in theirs.series.iter().zip(&ours.series) {
            let label = format!("series {} {:?}", their.name, their.tags);
            if their.columns != our.columns {
                found.push(format!(
                    "{label}: columns {:?} and {:?}",
                    their.columns, our.columns
                ));
                continue;
            }
            if their.values.len() != our.values.len() {
                found.push(format!(
                    "{label}: {} rows from InfluxDB, {} from jeny; first rows {:?} and {:?}",
                    their.values.len(),
                    our.values.len(),
                    their.values.first().map(|row| text(row)),
                    our.values.first().map(|row| text(row))
                ));
                continue;
            }
            for (row, (their_row, our_row)) in their.values.iter().zip(&our.values).enumerate() {
                let same = their_row.len() == our_row.len()
                    && their_row
                        .iter()
                        .zip(our_row)
                        .all(|(a, b)| same_cell(a.get(), b.get(), approximate));
                if !same && found.len() < 12 {
                    found.push(format!(
                        "{label} row {row}: InfluxDB {:?}, jeny {:?}",
                        text(their_row),
                        text(our_row)
                    ));
                }
            }
        }
    }
    found
}

fn text(row: &[&RawValue]) -> Vec<String> {
    row.iter().map(|cell| cell.get().to_owned()).collect()
}

/// Whether two cells agree: numbers by value (read exactly from their text), floats bit for bit
/// unless `approximate`; anything else as JSON values.
fn same_cell(theirs: &str, ours: &str, approximate: bool) -> bool {
    let is_number = |text: &str| text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    if is_number(theirs) && is_number(ours) {
        if let (Ok(a), Ok(b)) = (theirs.parse::<i128>(), ours.parse::<i128>()) {
            return a == b;
        }
        let (Ok(a), Ok(b)) = (theirs.parse::<f64>(), ours.parse::<f64>()) else {
            return false;
        };
        if a.to_bits() == b.to_bits() {
            return true;
        }
        // mean and stddev: InfluxDB adds per series and shard first, jeny in time order
        return approximate && (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    }
    let parsed = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
    parsed(theirs) == parsed(ours)
}

#[tokio::test]
async fn jeny_answers_influxql_as_influxdb_1_6_does() {
    let influx = Influx::start().await;
    let http = reqwest::Client::new();
    let created = influx_query(&http, &influx, &format!("CREATE DATABASE {DATABASE}"), None).await;
    assert!(!created.contains("error"), "{created}");

    let folder = tempfile::tempdir().expect("a folder for the store");
    let options = Options {
        background: false,
        ..Options::default()
    };
    let store = Store::open(folder.path(), options).expect("the store opens");

    // the first day and a half, flushed into blocks, the first day compacted with its rollups;
    // the rest stays in the heads
    let corpus = corpus();
    let split = T0 + DAY_NS + 12 * HOUR;
    let (early, late): (Vec<_>, Vec<_>) = corpus.iter().partition(|(time, _)| *time < split);
    let early: Vec<&str> = early.iter().map(|(_, line)| line.as_str()).collect();
    let late: Vec<&str> = late.iter().map(|(_, line)| line.as_str()).collect();
    write_store(&store, &early);
    store.flush().expect("the store flushes");
    store.compact(T0 + DAY_NS).expect("the store compacts");
    write_store(&store, &late);
    let all: Vec<&str> = corpus.iter().map(|(_, line)| line.as_str()).collect();
    write_influx(&http, &influx, &all).await;

    let mut failures = Vec::new();
    for case in cases() {
        let theirs = influx_query(&http, &influx, &case.query, case.epoch).await;
        let ours = jeny_query(&store, &case.query, case.epoch);
        let found = differences(&theirs, &ours, case.approximate);
        if !found.is_empty() {
            failures.push(format!("{}\n  {}", case.query, found.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries answer otherwise than InfluxDB 1.6.7:\n\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn too_many_buckets_are_refused_by_jeny_and_answered_by_influxdb() {
    let influx = Influx::start().await;
    let http = reqwest::Client::new();
    influx_query(&http, &influx, &format!("CREATE DATABASE {DATABASE}"), None).await;
    let folder = tempfile::tempdir().expect("a folder for the store");
    let options = Options {
        background: false,
        ..Options::default()
    };
    let store = Store::open(folder.path(), options).expect("the store opens");
    let line = format!("cpu,host=a,project={DATABASE} usage=1 {}", T0 + S);
    write_store(&store, &[line.as_str()]);
    write_influx(&http, &influx, &[line.as_str()]).await;

    // two days in seconds: 172 800 buckets, each a row
    let query = format!(
        r#"SELECT count("usage") FROM "cpu" WHERE {} GROUP BY time(1s)"#,
        range(T0, T0 + 2 * DAY_NS - S)
    );
    let theirs = influx_query(&http, &influx, &query, Some("ns")).await;
    let theirs: Body = serde_json::from_str(&theirs).expect("InfluxDB's answer");
    assert_eq!(theirs.results[0].series[0].values.len(), 172_800);

    let ours: serde_json::Value =
        serde_json::from_str(&jeny_query(&store, &query, Some("ns"))).expect("jeny's answer");
    let error = ours["results"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("172800") && error.contains(&MAX_BUCKETS_PER_SERIES.to_string()),
        "{ours}"
    );
}
