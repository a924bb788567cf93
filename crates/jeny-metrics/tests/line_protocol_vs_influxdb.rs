//! jeny's line-protocol parser against the real InfluxDB 1.6.7 (Debian's `influxd`, from
//! `tests/peers/influxdb/setup`). Each case of the corpus below gets a fresh database; its bodies
//! are written with `POST /write` and parsed by `line_protocol::parse`, and then InfluxDB's
//! answers and what it stored (`SHOW FIELD KEYS`, `SELECT * ... GROUP BY *` in nanoseconds) are
//! compared with what a model of InfluxDB's write path predicts from jeny's points and errors.
//! Cases where jeny deliberately differs assert what each side does instead. Every body also goes
//! to jeny's own `POST /write` (a server on SQLite, one project per case): its answers must be
//! InfluxDB's, status and body, and its embedded store must hold what InfluxDB holds (less the
//! `project` tag jeny adds to every point).
//!
//! What InfluxDB 1.6.7 answers, which jeny's `/write` will answer too:
//! - good and bad lines: 400 `{"error":"partial write: unable to parse '<line>': <why>\nunable to
//!   parse '<line>': <why> dropped=0"}`, and the good points are stored;
//! - bad lines only: 400 `{"error":"unable to parse '<line>': <why>\n..."}`;
//! - an empty body, or comments only: 204;
//! - a field whose type differs from the type the shard already has: 400 `{"error":"partial
//!   write: field type conflict: input field \"v\" on measurement \"m\" is type integer, already
//!   exists as type float dropped=<n>"}`, and the other points are stored;
//! - one new field with two types in one body: 400 `{"error":"field type conflict"}`, and nothing
//!   of the body is stored (of its shard: InfluxDB writes each shard on its own), though the field
//!   is created with the type it met first;
//! - a tag named `time` drops its point (`invalid tag key: input tag "time" on measurement "m" is
//!   invalid`); a field named `time` is left out, and a point with no other field is dropped
//!   (`invalid field name: input field "time" on measurement "m" is invalid`); the answer names
//!   one reason, a tag's before a field's, else the first;
//! - a write-path answer hides the body's parse errors (it alone is said);
//! - invalid UTF-8 in a name: 500 (`proto: field "tsdb.MeasurementFields.Name" contains invalid
//!   UTF-8`).

use jeny_metrics::line_protocol::{FieldValue, InvalidPrecision, Parsed, Point, Precision, parse};
use jeny_metrics::store::{Value as StoredValue, Values};
use jeny_testkit::influxdb::Influx;
use jeny_testkit::{Backend, TestApp};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

struct Case {
    name: &'static str,
    writes: Vec<Write>,
    difference: Option<Difference>,
}

struct Write {
    /// As sent in `?precision=` (left out when empty).
    precision: &'static str,
    body: Vec<u8>,
}

/// Where jeny deliberately differs: why, and a check of what each side does.
struct Difference {
    why: &'static str,
    check: fn(&Outcome),
}

/// One case's results on both sides.
struct Outcome {
    /// jeny's parse of each body (or its refusal of the precision).
    parsed: Vec<Result<Parsed, InvalidPrecision>>,
    /// InfluxDB's answer to each body.
    answers: Vec<Answer>,
    /// What InfluxDB stored after all of them.
    stored: Stored,
}

#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Time {
    Exact(i64),
    /// A point without a timestamp: the server's time during the case.
    Now,
}

/// A field value compared exactly (floats bit for bit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Float(u64),
    Integer(i64),
    Unsigned(u64),
    String(String),
    Boolean(bool),
}

impl From<&FieldValue> for Value {
    fn from(value: &FieldValue) -> Value {
        match value {
            FieldValue::Float(number) => Value::Float(number.to_bits()),
            FieldValue::Integer(number) => Value::Integer(*number),
            FieldValue::Unsigned(number) => Value::Unsigned(*number),
            FieldValue::String(text) => Value::String(text.clone()),
            FieldValue::Boolean(value) => Value::Boolean(*value),
        }
    }
}

type SeriesTime = (String, BTreeMap<String, String>, Time);

#[derive(Debug, Default, PartialEq)]
struct Stored {
    /// `SHOW FIELD KEYS`: measurement, field, type.
    field_types: BTreeMap<String, BTreeMap<String, String>>,
    /// `SELECT *`: each series' values at each time.
    rows: BTreeMap<SeriesTime, BTreeMap<String, Value>>,
}

fn case(name: &'static str, precision: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        writes: vec![Write {
            precision,
            body: body.into(),
        }],
        difference: None,
    }
}

fn bodies(name: &'static str, writes: &[(&'static str, &str)]) -> Case {
    Case {
        name,
        writes: writes
            .iter()
            .map(|(precision, body)| Write {
                precision,
                body: body.as_bytes().to_vec(),
            })
            .collect(),
        difference: None,
    }
}

fn differs(
    name: &'static str,
    precision: &'static str,
    body: impl Into<Vec<u8>>,
    why: &'static str,
    check: fn(&Outcome),
) -> Case {
    Case {
        difference: Some(Difference { why, check }),
        ..case(name, precision, body)
    }
}

fn corpus() -> Vec<Case> {
    let longest_measurement = "m".repeat(65535 - 5);
    vec![
        case(
            "every field type",
            "n",
            "cpu,host=a,region=eu usage=0.5,count=3i,up=true,note=\"fine\" 1\n\
             cpu,host=b,region=eu usage=1,count=-4i,up=false,note=\"\" 2\n",
        ),
        case(
            "escapes in every position",
            "n",
            r#"my\ cpu\,x,tag\ key\,\=x=va\ l\,u\=e field\ key\,\=x="say \"hi\" \\ back",n=1 1
weird"name=,"t"="q"x "f"=1,g"h=2 2
c\x,t\x=v\x f\x="a\x \n" 3
"#,
        ),
        case(
            "a tag value may start with an equals sign, and tags are sorted",
            "n",
            "m,t==x v=1 1\nm,zone=z,app=a,host=h v=1 2\n",
        ),
        case(
            "every boolean spelling",
            "n",
            "m b=t 1\nm b=T 2\nm b=true 3\nm b=True 4\nm b=TRUE 5\n\
             m b=f 6\nm b=F 7\nm b=false 8\nm b=False 9\nm b=FALSE 10\n",
        ),
        case(
            "other boolean spellings are refused",
            "n",
            "m b=tRUE 1\nm b=fAlse 2\nm b=yes 3\nm b=+1 4\nm b=TRUe 5\nm b=t 6\n",
        ),
        case(
            "floats in every form",
            "n",
            "m v=1 1\nm v=-1 2\nm v=1.5 3\nm v=.5 4\nm v=-.5 5\nm v=5. 6\nm v=-0.0 7\n\
             m v=1e5 8\nm v=1E+5 9\nm v=1.5e-3 10\nm v=1.7976931348623157e308 11\n\
             m v=4.9e-324 12\nm v=1e-400 13\nm v=123456789012345678901234567890 14\n\
             m v=0.1 15\nm v=0.30000000000000004 16\nm v=2.2250738585072014e-308 17\n",
        ),
        case(
            "malformed numbers are refused",
            "n",
            "m v=1.2.3 1\nm v=1-2 2\nm v=0x1 3\nm v=nan 4\nm v=NaN 5\nm v=-inf 6\nm v=. 7\n\
             m v=- 8\nm v=1i2 9\nm v=1.5i 10\nm v=1e5i 11\nm v=1ii 12\nm v=-i 13\n\
             m v=1e 14\nm v=-e 15\nm v=1e400 16\nm v=1e.5 17\nm v=2 18\n",
        ),
        case(
            "integers take an i and must fit 64 bits",
            "n",
            "m v=9223372036854775807i 1\nm v=-9223372036854775808i 2\nm v=00012i 3\n\
             m v=-0i 4\nm v=9223372036854775808i 5\nm v=-9223372036854775809i 6\n\
             m v=0000000000000000000001i 7\n",
        ),
        case(
            "comments, blank lines and leading whitespace",
            "n",
            "# a comment\n\n   \n  # indented comment\n\tm v=1 1\n  m v=2   2   \n\
             m  v=3  3\nm,t=a  v=4 4\n#m v=5 5\n\0m v=6 6\n",
        ),
        case(
            "a string may hold a newline; a backslash before a newline continues the line",
            "n",
            "m s=\"line1\nline2\" 1\nm,t=a\\\nb v=1 2\nm u=\"a\\\nb\" 3\nm v=1\\\nm w=1 4\n",
        ),
        case("precision n", "n", "m v=1 7\nm v=1 -7\n"),
        case("precision u", "u", "m v=1 7\nm v=1 -7\n"),
        case("precision ms", "ms", "m v=1 7\nm v=1 -7\n"),
        case("precision s", "s", "m v=1 7\nm v=1 -7\n"),
        case("precision m", "m", "m v=1 7\nm v=1 -7\n"),
        case("precision h", "h", "m v=1 7\nm v=1 -7\n"),
        case("no precision is nanoseconds", "", "m v=1 7\n"),
        case(
            "a missing timestamp is the server's time (nanoseconds)",
            "n",
            "m v=1\nm,t=a w=2i\n",
        ),
        case(
            "a missing timestamp is the server's time rounded down (hours)",
            "h",
            "m v=1\n",
        ),
        case(
            "a missing timestamp is the server's time rounded down (seconds)",
            "s",
            "m v=1\n",
        ),
        case(
            "timestamps at and beyond InfluxDB's range",
            "n",
            "m v=1 9223372036854775806\nm v=2 -9223372036854775806\nm v=3 9223372036854775807\n\
             m v=4 -9223372036854775807\nm v=5 -9223372036854775808\n\
             m v=6 99999999999999999999\n",
        ),
        case(
            "a timestamp that overflows once scaled (milliseconds)",
            "ms",
            "m v=1 9223372036854\nm v=2 9223372036855\nm v=3 -9223372036855\n",
        ),
        case(
            "a timestamp that overflows once scaled (hours)",
            "h",
            "m v=1 2562047\nm v=2 2562048\nm v=3 -2562048\n",
        ),
        case(
            "malformed timestamps",
            "n",
            "m v=1 1.5\nm v=2 1e5\nm v=3 --1\nm v=4 12a\nm v=5 123\t\nm v=6 -\n\
             m v=7 123 456\nm v=8 9\n",
        ),
        case(
            "missing pieces",
            "n",
            "m\nm,t=1\nm,t=a,u\nm,t= v=1\nm,t=,u=1 v=1\nm,t v=1\nm,=1 v=1\nm, v=1\n\
             m,t=a,  v=1\n,t=1 v=1\nm,t=a=b v=1\nm \nm a\nm a=1,b\nm a=1,b 1\nm a=1,\n\
             m a=1,,b=2\nm a=\nm a= 1\nm a=,b=1\nm =1\nm a=1,=2\nm a==1\nm v=1 1\n",
        ),
        case(
            "duplicate tags are refused, sorted or not",
            "n",
            "m,a=1,a=2 v=1 1\nm,b=1,a=2,b=3 v=1 2\nm,b=1,a=2 v=1 3\n",
        ),
        case(
            "a field written twice keeps its last value",
            "n",
            "m a=1,b=2,a=3 1\n",
        ),
        case(
            "backslashes: a byte after one is never a separator in names and tags",
            "n",
            "m\\\\ v=1 1\nm,t=\\\\ v=1 2\nm,t=a\\\\,u=b v=1 3\nm a\\\\b=1 4\nm s=\"a\\\\\" 5\n\
             m v=6 6\n",
        ),
        case(
            "a field key ending in a backslash, as the last field",
            "n",
            "m a\\\\=1 1\nm v=2 2\n",
        ),
        case(
            "an unbalanced quote takes the rest of the body",
            "n",
            "m v=1 1\nm s=\"open 2\nm v=3 3\n",
        ),
        case("bad lines only", "n", "bad\nm,t= v=1\n"),
        case("an empty body", "n", ""),
        case("comments only", "n", "# nothing\n\n"),
        case(
            "keys as long as InfluxDB allows, and one byte longer",
            "n",
            format!(
                "{longest_measurement} v=1 1\n{longest_measurement} vv=1 2\n{}m v=1 3\n",
                "m".repeat(65535)
            ),
        ),
        bodies(
            "a type conflict inside one body",
            &[("n", "m v=1 1\nm v=2i 2\nn w=1 3\n")],
        ),
        bodies(
            "a type conflict against an earlier body",
            &[
                ("n", "m v=1 1\n"),
                ("n", "m v=2i 2\nm v=3 3\nn w=1 4\nm v=\"x\" 5\n"),
            ],
        ),
        bodies(
            "a type conflict hides the body's parse errors",
            &[("n", "m v=1 1\n"), ("n", "bad\nm v=2i 2\nm v=3 3\n")],
        ),
        case(
            "a tag named time drops its point; a field named time is left out",
            "n",
            "m,time=x v=1 1\nm time=1 2\nm v=1,time=2 3\nm v=4 4\n",
        ),
        bodies(
            "a tag's reason is named before a type conflict's",
            &[
                ("n", "c a=1 1\n"),
                ("n", "c a=1i 2\nd,time=x a=1 3\ne time=1 4\n"),
            ],
        ),
        bodies(
            "of two field reasons the first is named",
            &[("n", "c a=1 1\n"), ("n", "e time=1 4\nc a=1i 2\n")],
        ),
        differs(
            "the u suffix",
            "n",
            "m v=1u 1\nm v=18446744073709551615u 2\nm w=18446744073709551616u 3\nm x=-1u 4\n\
             m y=1 5\n",
            "jeny reads `u` as an unsigned integer, as InfluxDB 1.8 and 2.x do; 1.6 refuses it",
            |outcome| {
                let parsed = jeny(outcome, 0);
                let values: Vec<&FieldValue> = parsed
                    .points
                    .iter()
                    .map(|point| &point.fields[0].1)
                    .collect();
                assert_eq!(
                    values,
                    [
                        &FieldValue::Unsigned(1),
                        &FieldValue::Unsigned(u64::MAX),
                        &FieldValue::Float(1.0)
                    ]
                );
                assert_eq!(
                    messages(parsed),
                    [
                        "unable to parse unsigned 18446744073709551616: strconv.ParseUint: parsing \"18446744073709551616\": value out of range",
                        "invalid number"
                    ]
                );
                assert_eq!(
                    outcome.answers[0],
                    refused(
                        "partial write: unable to parse 'm v=1u 1': invalid number\n\
                         unable to parse 'm v=18446744073709551615u 2': invalid number\n\
                         unable to parse 'm w=18446744073709551616u 3': invalid number\n\
                         unable to parse 'm x=-1u 4': invalid number dropped=0"
                    )
                );
                assert_eq!(
                    stored_values(outcome, "m"),
                    [(5, "y", Value::Float(1f64.to_bits()))]
                );
            },
        ),
        differs(
            "CRLF line endings",
            "n",
            "m v=1 1\r\nm v=2\r\nm s=\"x\"\r\nm b=t 4\r\n\r\n",
            "jeny takes `\\r\\n` as a line ending; 1.6 keeps the `\\r` in the line",
            |outcome| {
                let parsed = jeny(outcome, 0);
                assert_eq!(parsed.errors, []);
                assert_eq!(parsed.points.len(), 4);
                assert_eq!(
                    parsed.points[2].fields[0].1,
                    FieldValue::String("x".to_owned())
                );
                assert_eq!(
                    outcome.answers[0],
                    refused(
                        "partial write: unable to parse 'm v=1 1\r': bad timestamp\n\
                         unable to parse 'm v=2\r': invalid number\n\
                         unable to parse 'm b=t 4\r': bad timestamp\n\
                         unable to parse '\r': missing fields dropped=0"
                    )
                );
                let strings: Vec<&Value> = outcome
                    .stored
                    .rows
                    .values()
                    .flat_map(|fields| fields.values())
                    .collect();
                assert_eq!(strings, [&Value::String("x\"".to_owned())]);
            },
        ),
        differs(
            "a measurement's \\= and \\\"",
            "n",
            "a\\=b\\\"c v=1 1\n",
            "jeny reads a measurement's escapes as documented and as 1.7 and later do (comma and \
             space); 1.6 also unescapes `\\=` and `\\\"` there",
            |outcome| {
                assert_eq!(jeny(outcome, 0).points[0].measurement, "a\\=b\\\"c");
                assert_eq!(outcome.answers[0], written());
                let measurements: Vec<&str> = outcome
                    .stored
                    .field_types
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(measurements, ["a=b\"c"]);
            },
        ),
        differs(
            "text after a string's closing quote",
            "n",
            "m s=\"x\"y 1\nm t=\"a\"b,u=1 2\n",
            "jeny refuses what 1.6 stores as something the line does not say",
            |outcome| {
                let parsed = jeny(outcome, 0);
                assert_eq!(parsed.points, []);
                assert_eq!(
                    messages(parsed),
                    [
                        "invalid field format: text after the closing quote of string field \"s\"",
                        "invalid field format: text after the closing quote of string field \"t\""
                    ]
                );
                assert_eq!(outcome.answers[0], written());
                assert_eq!(
                    stored_values(outcome, "m"),
                    [
                        (1, "s", Value::String("x\"".to_owned())),
                        (2, "t", Value::String("a\"".to_owned())),
                        (2, "u", Value::Float(1f64.to_bits())),
                    ]
                );
            },
        ),
        differs(
            "a field key ending in a backslash, before another field",
            "n",
            "m a\\\\=1,b=2 1\n",
            "jeny refuses what 1.6 stores as something the line does not say (one field, its key \
             running into the next)",
            |outcome| {
                assert_eq!(
                    messages(jeny(outcome, 0)),
                    ["invalid value: field-key=a\\\\=1,b=2"]
                );
                assert_eq!(outcome.answers[0], written());
                assert_eq!(
                    stored_values(outcome, "m"),
                    [(1, "a\\=1,b", Value::Float(2f64.to_bits()))]
                );
            },
        ),
        differs(
            "a field written twice with two types",
            "n",
            "m d=1,d=2i 1\nn v=1 2\n",
            "jeny refuses the line; 1.6 refuses the whole body (of that shard)",
            |outcome| {
                let parsed = jeny(outcome, 0);
                assert_eq!(
                    messages(parsed),
                    [
                        "field type conflict: input field \"d\" on measurement \"m\" is type integer, already exists as type float"
                    ]
                );
                assert_eq!(parsed.points.len(), 1);
                assert_eq!(outcome.answers[0], refused("field type conflict"));
                assert_eq!(outcome.stored.rows, BTreeMap::new());
            },
        ),
        differs(
            "a field key after a tab",
            "n",
            "m \t=1,v=2 1\n",
            "jeny refuses a field with an empty key; 1.6 stores one (SELECT calls it val0)",
            |outcome| {
                assert_eq!(messages(jeny(outcome, 0)), ["missing field key"]);
                assert_eq!(outcome.answers[0], written());
                assert_eq!(
                    stored_values(outcome, "m"),
                    [
                        (1, "", Value::Float(1f64.to_bits())),
                        (1, "v", Value::Float(2f64.to_bits()))
                    ]
                );
            },
        ),
        differs(
            "precision us",
            "us",
            "m v=1 7\n",
            "jeny reads `us` as microseconds (InfluxDB 2.x's name); 1.6 takes any precision it \
             does not know as nanoseconds",
            |outcome| {
                assert_eq!(jeny(outcome, 0).points[0].time_ns, 7_000);
                assert_eq!(outcome.answers[0], written());
                assert_eq!(
                    stored_values(outcome, "m"),
                    [(7, "v", Value::Float(1f64.to_bits()))]
                );
            },
        ),
        differs(
            "an unknown precision",
            "xx",
            "m v=1 7\n",
            "jeny refuses a precision it does not know; 1.6 takes it as nanoseconds",
            |outcome| {
                assert_eq!(
                    outcome.parsed[0].as_ref().unwrap_err().to_string(),
                    "invalid precision \"xx\": use n, u, ms, s, m or h"
                );
                assert_eq!(outcome.answers[0], written());
                assert_eq!(
                    stored_values(outcome, "m"),
                    [(7, "v", Value::Float(1f64.to_bits()))]
                );
            },
        ),
        differs(
            "invalid UTF-8",
            "n",
            b"m\xff v=1 1\nm v=2 2\n".to_vec(),
            "jeny refuses the line; 1.6 answers 500",
            |outcome| {
                let parsed = jeny(outcome, 0);
                assert_eq!(messages(parsed), ["invalid UTF-8"]);
                assert_eq!(parsed.points.len(), 1);
                assert_eq!(outcome.answers[0].status, 500);
            },
        ),
    ]
}

fn jeny(outcome: &Outcome, write: usize) -> &Parsed {
    outcome.parsed[write]
        .as_ref()
        .expect("jeny knows the precision")
}

fn messages(parsed: &Parsed) -> Vec<&str> {
    parsed
        .errors
        .iter()
        .map(|error| error.message.as_str())
        .collect()
}

fn written() -> Answer {
    Answer {
        status: 204,
        error: None,
    }
}

fn refused(error: &str) -> Answer {
    Answer {
        status: 400,
        error: Some(error.to_owned()),
    }
}

/// The measurement's stored values, as (time, field, value).
fn stored_values<'a>(outcome: &'a Outcome, measurement: &str) -> Vec<(i64, &'a str, Value)> {
    let mut values = Vec::new();
    for ((name, _tags, time), fields) in &outcome.stored.rows {
        if name != measurement {
            continue;
        }
        let Time::Exact(time) = time else {
            panic!("{measurement} has a point at the server's time");
        };
        for (field, value) in fields {
            values.push((*time, field.as_str(), value.clone()));
        }
    }
    values
}

#[tokio::test]
async fn jeny_parses_line_protocol_as_influxdb_1_6_stores_it() {
    let influx = Influx::start().await;
    let http = reqwest::Client::new();
    // jeny's own /write gets every body too, and must answer and store as InfluxDB did
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.with_admin().await;
    let token = app
        .token_for("deployer@example.com", jeny_core::Role::Deployer)
        .await;
    let mut failures = Vec::new();
    for (index, case) in corpus().into_iter().enumerate() {
        let database = format!("case_{index}");
        query(&http, &influx, "", &format!("CREATE DATABASE {database}")).await;
        let project = format!("case-{index}");
        admin
            .create_project(&jeny_projects::ProjectInput {
                name: Some(project.clone()),
                title: None,
                description: String::new(),
                repository: None,
                deploy_command: "true".into(),
                output_retention_days: None,
                output_retention_bytes: None,
                metrics_retention: Default::default(),
            })
            .await
            .expect("a project per case");
        let mut jeny_answers = Vec::new();
        let started_ns = now_ns();
        let mut model = Model::default();
        let mut outcome = Outcome {
            parsed: Vec::new(),
            answers: Vec::new(),
            stored: Stored::default(),
        };
        let mut predicted = Vec::new();
        for write in &case.writes {
            let before_ns = now_ns();
            let answer = write_body(&http, &influx.url, &database, None, write).await;
            jeny_answers.push(write_body(&http, &app.url, &project, Some(&token), write).await);
            let parsed = Precision::parse(write.precision).map(|precision| {
                let parsed = parse(&write.body, precision, before_ns);
                // Parsed again at another time, to tell which points took the server's time.
                let elsewhen = parse(&write.body, precision, before_ns / 2);
                if case.difference.is_none() {
                    predicted.push(model.write(&parsed, &elsewhen, before_ns, case.name));
                }
                parsed
            });
            outcome.parsed.push(parsed);
            outcome.answers.push(answer);
        }
        let ended_ns = now_ns();
        outcome.stored = stored(&http, &influx, &database, started_ns, ended_ns).await;
        let jeny_stored = stored_by_jeny(&app, &project, started_ns, ended_ns);
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &case.difference {
                Some(difference) => (difference.check)(&outcome),
                None => {
                    assert_eq!(outcome.answers, predicted, "InfluxDB's answers");
                    assert_eq!(outcome.stored, model.stored, "what InfluxDB stored");
                    assert_eq!(jeny_answers, outcome.answers, "jeny's /write answers");
                    assert_eq!(jeny_stored, outcome.stored, "what jeny stored");
                }
            }));
        if let Err(panic) = result {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_default();
            let why = case
                .difference
                .as_ref()
                .map_or(String::new(), |difference| {
                    format!(" (a documented difference: {})", difference.why)
                });
            failures.push(format!("case {index} {:?}{why}:\n{reason}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) disagree with InfluxDB 1.6.7:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn now_ns() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_nanos()).expect("the clock is before 2262")
}

/// Sends a body to `/write` at `url` (InfluxDB's, or jeny's with a token).
async fn write_body(
    http: &reqwest::Client,
    url: &str,
    database: &str,
    token: Option<&str>,
    write: &Write,
) -> Answer {
    let mut parameters = vec![("db", database)];
    if !write.precision.is_empty() {
        parameters.push(("precision", write.precision));
    }
    let mut request = http
        .post(format!("{url}/write"))
        .query(&parameters)
        .body(write.body.clone());
    if let Some(token) = token {
        request = request.header("authorization", format!("Token {token}"));
    }
    let response = request.send().await.expect("an answer to /write");
    let status = response.status().as_u16();
    let text = response.text().await.expect("the answer's body");
    let error = (!text.trim().is_empty()).then(|| {
        #[derive(Deserialize)]
        struct ErrorBody {
            error: String,
        }
        serde_json::from_str::<ErrorBody>(&text)
            .unwrap_or_else(|problem| panic!("InfluxDB answered {text:?} ({problem})"))
            .error
    });
    Answer { status, error }
}

/// What jeny's embedded store holds for `project`, in the shape `stored` reads from InfluxDB
/// (without the `project` tag, which jeny adds to every point).
fn stored_by_jeny(app: &TestApp, project: &str, started_ns: i64, ended_ns: i64) -> Stored {
    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    let now_window = (started_ns - 3_600_000_000_000)..=ended_ns;
    let mut stored = Stored::default();
    for measurement in store.measurements(project) {
        let types = stored.field_types.entry(measurement.clone()).or_default();
        for (field, ty) in store.field_keys(project, &measurement) {
            types.insert(field, ty.name().to_owned());
        }
        for series in store.series(project, &measurement, None, &|_| true) {
            let tags: BTreeMap<String, String> = series
                .tags
                .iter()
                .filter(|(k, _)| k != "project")
                .cloned()
                .collect();
            let points = store.read(series.id, i64::MIN, i64::MAX).expect("a read");
            for (i, &time) in points.times.iter().enumerate() {
                let value = match &points.values {
                    Values::Bits(bits) => Value::from(&StoredValue::Bits(bits[i]).typed(points.ty)),
                    Values::Text(text) => Value::String(text[i].to_string()),
                };
                let time = if now_window.contains(&time) {
                    Time::Now
                } else {
                    Time::Exact(time)
                };
                stored
                    .rows
                    .entry((measurement.clone(), tags.clone(), time))
                    .or_default()
                    .insert(series.field.clone(), value);
            }
        }
    }
    stored
}

#[derive(Deserialize)]
struct QueryAnswer<'a> {
    #[serde(borrow)]
    results: Vec<StatementResult<'a>>,
}

#[derive(Deserialize)]
struct StatementResult<'a> {
    #[serde(default, borrow)]
    series: Vec<Series<'a>>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Series<'a> {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    columns: Vec<String>,
    #[serde(borrow)]
    values: Vec<Vec<&'a RawValue>>,
}

/// Runs one InfluxQL statement; the answer's text, which the caller reads with `QueryAnswer`.
async fn query(http: &reqwest::Client, influx: &Influx, database: &str, statement: &str) -> String {
    let text = http
        .post(format!("{}/query", influx.url))
        .query(&[("db", database), ("epoch", "ns")])
        .form(&[("q", statement)])
        .send()
        .await
        .expect("InfluxDB answers /query")
        .text()
        .await
        .expect("the answer's body");
    let answer: QueryAnswer = serde_json::from_str(&text)
        .unwrap_or_else(|problem| panic!("{statement}: {text} ({problem})"));
    if let Some(error) = answer
        .results
        .iter()
        .find_map(|result| result.error.as_ref())
    {
        panic!("{statement}: {error}");
    }
    text
}

/// A measurement's name as an InfluxQL identifier.
fn identifier(name: &str) -> String {
    let escaped = name
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// What InfluxDB holds: field types, and every value read back with its exact text.
async fn stored(
    http: &reqwest::Client,
    influx: &Influx,
    database: &str,
    started_ns: i64,
    ended_ns: i64,
) -> Stored {
    let mut stored = Stored::default();
    let text = query(http, influx, database, "SHOW FIELD KEYS").await;
    let answer: QueryAnswer = serde_json::from_str(&text).expect("SHOW FIELD KEYS");
    for series in answer.results.into_iter().flat_map(|result| result.series) {
        let types = stored.field_types.entry(series.name).or_default();
        for row in series.values {
            let field: String = serde_json::from_str(row[0].get()).expect("a field key");
            let field_type: String = serde_json::from_str(row[1].get()).expect("a field type");
            types.insert(field, field_type);
        }
    }
    // Points at the server's time fall in this window (rounded down by at most an hour).
    let now_window = (started_ns - 3_600_000_000_000)..=ended_ns;
    for (measurement, types) in &stored.field_types {
        let statement = format!("SELECT * FROM {} GROUP BY *", identifier(measurement));
        let text = query(http, influx, database, &statement).await;
        let answer: QueryAnswer = serde_json::from_str(&text).expect("SELECT");
        for series in answer.results.into_iter().flat_map(|result| result.series) {
            let tags: BTreeMap<String, String> = series
                .tags
                .into_iter()
                .filter(|(_, value)| !value.is_empty())
                .collect();
            for row in series.values {
                let time: i64 = row[0].get().parse().expect("a time in nanoseconds");
                let time = if now_window.contains(&time) {
                    Time::Now
                } else {
                    Time::Exact(time)
                };
                let mut fields = BTreeMap::new();
                for (column, raw) in series.columns.iter().zip(&row).skip(1) {
                    let raw = raw.get();
                    if raw == "null" {
                        continue;
                    }
                    // SELECT names a field with an empty key `val0`.
                    let key = if !types.contains_key(column) && types.contains_key("") {
                        ""
                    } else {
                        column
                    };
                    let value = match types.get(key).map(String::as_str) {
                        Some("float") => {
                            Value::Float(raw.parse::<f64>().expect("a float").to_bits())
                        }
                        Some("integer") => Value::Integer(raw.parse().expect("an integer")),
                        Some("unsigned") => {
                            Value::Unsigned(raw.parse().expect("an unsigned integer"))
                        }
                        Some("string") => {
                            Value::String(serde_json::from_str(raw).expect("a string"))
                        }
                        Some("boolean") => Value::Boolean(raw == "true"),
                        other => panic!("{database}: {measurement}.{column} has type {other:?}"),
                    };
                    fields.insert(key.to_owned(), value);
                }
                if !fields.is_empty() {
                    stored
                        .rows
                        .insert((measurement.clone(), tags.clone(), time), fields);
                }
            }
        }
    }
    stored
}

/// InfluxDB 1.6's write path, as far as the corpus goes: shards of a week (from year 1, as Go
/// rounds times), a field's type fixed per shard by its first write, the `time` key rules, and
/// the answer each outcome gives.
#[derive(Default)]
struct Model {
    field_types: BTreeMap<(i128, String, String), &'static str>,
    stored: Stored,
}

const WEEK_NS: i128 = 7 * 24 * 3_600_000_000_000;
const YEAR_1_TO_1970_NS: i128 = 62_135_596_800 * 1_000_000_000;

impl Model {
    fn write(&mut self, parsed: &Parsed, elsewhen: &Parsed, now_ns: i64, case: &str) -> Answer {
        let parse_errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
        if parsed.points.is_empty() {
            return if parse_errors.is_empty() {
                written()
            } else {
                refused(&parse_errors.join("\n"))
            };
        }
        let mut shards: BTreeMap<i128, Vec<(&Point, Time)>> = BTreeMap::new();
        for (point, other) in parsed.points.iter().zip(&elsewhen.points) {
            let (time, shard_time) = if point.time_ns == other.time_ns {
                (Time::Exact(point.time_ns), point.time_ns)
            } else {
                (Time::Now, now_ns)
            };
            let shard = (i128::from(shard_time) + YEAR_1_TO_1970_NS).div_euclid(WEEK_NS);
            shards.entry(shard).or_default().push((point, time));
        }
        let mut shard_errors: Vec<String> = Vec::new();
        for (shard, points) in shards {
            if let Err(error) = self.write_shard(shard, &points) {
                shard_errors.push(error);
            }
        }
        assert!(
            shard_errors.len() <= 1,
            "case {case:?}: two shards refused points, and InfluxDB says either: keep a case's points in one week"
        );
        match shard_errors.pop() {
            Some(error) => refused(&error),
            None if parse_errors.is_empty() => written(),
            None => refused(&format!(
                "partial write: {} dropped=0",
                parse_errors.join("\n")
            )),
        }
    }

    fn write_shard(&mut self, shard: i128, points: &[(&Point, Time)]) -> Result<(), String> {
        let mut dropped = 0;
        let mut tag_reason = None;
        let mut field_reason = None;
        let mut to_create: Vec<(String, String, &'static str)> = Vec::new();
        let mut kept = Vec::new();
        for (point, time) in points {
            let measurement = &point.measurement;
            if point.tags.iter().any(|(key, _)| key == "time") {
                dropped += 1;
                tag_reason.get_or_insert(format!(
                    "invalid tag key: input tag \"time\" on measurement \"{measurement}\" is invalid"
                ));
                continue;
            }
            let fields: Vec<&(String, FieldValue)> = point
                .fields
                .iter()
                .filter(|(key, _)| key != "time")
                .collect();
            if fields.is_empty() {
                dropped += 1;
                field_reason.get_or_insert(format!(
                    "invalid field name: input field \"time\" on measurement \"{measurement}\" is invalid"
                ));
                continue;
            }
            let mut conflict = None;
            for (key, value) in &fields {
                match self
                    .field_types
                    .get(&(shard, measurement.clone(), key.clone()))
                {
                    Some(existing) if *existing != value.type_name() => {
                        conflict = Some(format!(
                            "field type conflict: input field \"{key}\" on measurement \"{measurement}\" is type {}, already exists as type {existing}",
                            value.type_name()
                        ));
                        break;
                    }
                    Some(_) => {}
                    None => to_create.push((measurement.clone(), key.clone(), value.type_name())),
                }
            }
            if let Some(conflict) = conflict {
                dropped += 1;
                field_reason.get_or_insert(conflict);
                continue;
            }
            kept.push((point, time, fields));
        }
        for (measurement, key, field_type) in to_create {
            let known = self
                .field_types
                .entry((shard, measurement.clone(), key.clone()))
                .or_insert(field_type);
            if *known != field_type {
                return Err("field type conflict".to_owned());
            }
            self.stored
                .field_types
                .entry(measurement)
                .or_default()
                .insert(key, field_type.to_owned());
        }
        for (point, time, fields) in kept {
            let tags = point.tags.iter().cloned().collect();
            let row = self
                .stored
                .rows
                .entry((point.measurement.clone(), tags, *time))
                .or_default();
            for (key, value) in fields {
                row.insert(key.clone(), Value::from(value));
            }
        }
        if dropped > 0 {
            let reason = tag_reason.or(field_reason).unwrap_or_default();
            return Err(format!("partial write: {reason} dropped={dropped}"));
        }
        Ok(())
    }
}
