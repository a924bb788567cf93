//! The embedded metrics store: what a write keeps and refuses (in InfluxDB's words), that the
//! same series and time keep the last value through flushes, compactions and restarts, rollups
//! that agree with the points, a property test against a model, and a kill -9 during a write
//! burst that loses no acknowledged point.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use jeny_metrics::line_protocol::{FieldValue, Point, Precision, parse};
use jeny_metrics::store::{
    Bucket, DAY_NS, Expired, FieldType, HOUR_NS, Options, ROLLUP_NS, Retention, Retentions, Store,
    Values, floor_to,
};
use proptest::prelude::*;

const S: i64 = 1_000_000_000;
/// 2026-12-07T00:00:00Z
const DAY0: i64 = 1_796_601_600 * S;

fn manual() -> Options {
    Options {
        background: false,
        ..Options::default()
    }
}

fn points(body: &str) -> Vec<Point> {
    let parsed = parse(body.as_bytes(), Precision::Nanoseconds, DAY0);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    parsed.points
}

fn floats(store: &Store, db: &str, m: &str, field: &str) -> Vec<(i64, f64)> {
    let series = store.series(db, m, Some(field), &|_| true);
    assert_eq!(series.len(), 1, "{m}.{field}");
    let p = store.read(series[0].id, i64::MIN, i64::MAX).unwrap();
    let Values::Bits(bits) = p.values else {
        panic!("numbers")
    };
    p.times
        .into_iter()
        .zip(bits)
        .map(|(t, b)| (t, f64::from_bits(b)))
        .collect()
}

#[test]
fn the_last_write_of_a_time_wins_through_flush_compaction_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = DAY0 + 10 * S;
    {
        let store = Store::open(dir.path(), manual()).unwrap();
        let w = store
            .write(
                "shop",
                &points(&format!("cpu,host=a v=1 {t}\ncpu,host=a v=2 {t}")),
            )
            .unwrap();
        assert_eq!((w.points, w.dropped, w.reason), (2, 0, None));
        assert_eq!(floats(&store, "shop", "cpu", "v"), [(t, 2.0)]);
        store.flush().unwrap();
        store
            .write("shop", &points(&format!("cpu,host=a v=3 {t}")))
            .unwrap();
        assert_eq!(floats(&store, "shop", "cpu", "v"), [(t, 3.0)]);
        store.flush().unwrap();
        store
            .write("shop", &points(&format!("cpu,host=a v=4 {}", t + S)))
            .unwrap();
        store.compact(DAY0 + 2 * DAY_NS).unwrap();
        assert_eq!(floats(&store, "shop", "cpu", "v"), [(t, 3.0), (t + S, 4.0)]);
    }
    // the last point is only in the log: the restart replays it
    let store = Store::open(dir.path(), manual()).unwrap();
    assert_eq!(floats(&store, "shop", "cpu", "v"), [(t, 3.0), (t + S, 4.0)]);
    store
        .write("shop", &points(&format!("cpu,host=a v=5 {t}")))
        .unwrap();
    store.flush().unwrap();
    store.compact(DAY0 + 2 * DAY_NS).unwrap();
    drop(store);
    let store = Store::open(dir.path(), manual()).unwrap();
    assert_eq!(floats(&store, "shop", "cpu", "v"), [(t, 5.0), (t + S, 4.0)]);
    // another database is another world
    assert!(store.series("other", "cpu", None, &|_| true).is_empty());
}

#[test]
fn every_type_is_kept_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), manual()).unwrap();
    let t = DAY0;
    store
        .write(
            "db",
            &points(&format!(
                "m,k=v f=1.5,i=-3i,u=7u,s=\"a \\\"b\\\"\",b=true {t}\nm,k=v f=2,i=4i,u=8u,s=\"\",b=F {}",
                t + 1
            )),
        )
        .unwrap();
    store.flush().unwrap();
    let fields = store.field_keys("db", "m");
    assert_eq!(
        fields,
        [
            ("b".to_owned(), FieldType::Boolean),
            ("f".to_owned(), FieldType::Float),
            ("i".to_owned(), FieldType::Integer),
            ("s".to_owned(), FieldType::String),
            ("u".to_owned(), FieldType::Unsigned),
        ]
    );
    let read = |f: &str| {
        let s = &store.series("db", "m", Some(f), &|_| true)[0];
        let p = store.read(s.id, i64::MIN, i64::MAX).unwrap();
        let values: Vec<FieldValue> = match &p.values {
            Values::Bits(b) => b
                .iter()
                .map(|&b| jeny_metrics::store::Value::Bits(b).typed(p.ty))
                .collect(),
            Values::Text(t) => t
                .iter()
                .map(|s| FieldValue::String(s.to_string()))
                .collect(),
        };
        (p.times, values)
    };
    assert_eq!(
        read("i"),
        (
            vec![t, t + 1],
            vec![FieldValue::Integer(-3), FieldValue::Integer(4)]
        )
    );
    assert_eq!(
        read("u").1,
        [FieldValue::Unsigned(7), FieldValue::Unsigned(8)]
    );
    assert_eq!(
        read("b").1,
        [FieldValue::Boolean(true), FieldValue::Boolean(false)]
    );
    assert_eq!(
        read("s").1,
        [
            FieldValue::String("a \"b\"".into()),
            FieldValue::String(String::new())
        ]
    );
    store.compact(DAY0 + 2 * DAY_NS).unwrap();
    assert_eq!(
        read("f").1,
        [FieldValue::Float(1.5), FieldValue::Float(2.0)]
    );
    assert_eq!(read("s").1[0], FieldValue::String("a \"b\"".into()));
}

#[test]
fn writes_are_checked_as_influxdb_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), manual()).unwrap();
    store.write("db", &points("m v=1 1\nm v=2 2")).unwrap();
    // a later type for a known field drops its point (all its fields), the rest are kept
    let w = store
        .write("db", &points("m v=1i,w=1 3\nm v=3 4\nm v=\"x\" 5"))
        .unwrap();
    assert_eq!(w.points, 1);
    assert_eq!(w.dropped, 2);
    assert_eq!(
        w.reason.as_deref(),
        Some(
            "partial write: field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float dropped=2"
        )
    );
    assert!(store.series("db", "m", Some("w"), &|_| true).is_empty());
    // a new field met with two types in one write refuses the write
    let w = store.write("db", &points("m n=1 6\nm n=1i 7")).unwrap();
    assert!(w.refused_whole);
    assert_eq!(w.reason.as_deref(), Some("field type conflict"));
    assert_eq!(
        floats(&store, "db", "m", "v"),
        [(1, 1.0), (2, 2.0), (4, 3.0)]
    );
    // the `time` key: a tag drops the point, a field is left out (and a point of only it drops)
    let w = store
        .write(
            "db",
            &points("m,time=1 v=9 8\nm time=1,v=10 9\nm time=1 10"),
        )
        .unwrap();
    assert_eq!((w.points, w.dropped), (1, 2));
    assert_eq!(
        w.reason.as_deref(),
        Some(
            "partial write: invalid tag key: input tag \"time\" on measurement \"m\" is invalid dropped=2"
        )
    );
    assert_eq!(floats(&store, "db", "m", "v").last(), Some(&(9, 10.0)));
    assert!(store.series("db", "m", Some("time"), &|_| true).is_empty());
}

#[test]
fn a_database_past_its_series_limit_refuses_new_series_and_names_the_tag() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            max_series_per_database: 3,
            ..manual()
        },
    )
    .unwrap();
    let body: String = (0..5)
        .map(|i| format!("req,path=/p{i},method=GET n=1 {i}\n"))
        .collect();
    let w = store.write("db", &points(&body)).unwrap();
    assert_eq!((w.points, w.dropped), (3, 2));
    assert_eq!(
        w.reason.as_deref(),
        Some(
            "partial write: max-series-per-database limit exceeded: (3) on database \"db\": the tag with the most values is \"path\" dropped=2"
        )
    );
    // known series still take points; other databases have their own limit
    let w = store
        .write("db", &points("req,path=/p0,method=GET n=2 9"))
        .unwrap();
    assert_eq!((w.points, w.dropped), (1, 0));
    assert_eq!(store.write("other", &points(&body)).unwrap().points, 3);
    assert_eq!(store.series_count("db"), 3);
}

#[test]
fn the_catalog_answers_what_autocomplete_asks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), manual()).unwrap();
    store
        .write(
            "db",
            &points("cpu,host=b,env=prod usage=1\ncpu,host=a usage=2,idle=3\nmem,host=a used=1i"),
        )
        .unwrap();
    let check = |store: &Store| {
        assert_eq!(store.measurements("db"), ["cpu", "mem"]);
        assert_eq!(store.tag_keys("db", "cpu"), ["env", "host"]);
        assert_eq!(store.tag_values("db", "cpu", "host"), ["a", "b"]);
        assert_eq!(
            store.field_keys("db", "cpu"),
            [
                ("idle".to_owned(), FieldType::Float),
                ("usage".to_owned(), FieldType::Float)
            ]
        );
        let a: Vec<_> = store
            .series("db", "cpu", Some("usage"), &|tags| {
                tags.iter().any(|(k, v)| k == "host" && v == "a")
            })
            .into_iter()
            .map(|s| s.tags)
            .collect();
        assert_eq!(a, [vec![("host".to_owned(), "a".to_owned())]]);
    };
    check(&store);
    drop(store);
    check(&Store::open(dir.path(), manual()).unwrap());
}

/// What `buckets` must give, from the points themselves.
fn expected_buckets(points: &[(i64, f64)], start: i64, end: i64) -> Vec<Bucket> {
    expected_buckets_at(points, start, end, ROLLUP_NS)
}

/// What `buckets` of `width` must give, from the points themselves.
fn expected_buckets_at(points: &[(i64, f64)], start: i64, end: i64, width: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for &(t, v) in points.iter().filter(|(t, _)| *t >= start && *t < end) {
        let b = floor_to(t, width);
        match out.last_mut() {
            Some(k) if k.time == b => {
                k.count += 1;
                k.sum += v;
                k.min = k.min.min(v);
                k.max = k.max.max(v);
                k.last = v;
            }
            _ => out.push(Bucket {
                time: b,
                count: 1,
                sum: v,
                min: v,
                max: v,
                first: v,
                last: v,
            }),
        }
    }
    out
}

#[test]
fn buckets_from_rollups_and_from_points_agree() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), manual()).unwrap();
    // three days at 10 s, integers so that sums are exact in any order
    let body: String = (0..3 * 8640)
        .map(|i| format!("m,h=a v={} {}\n", (i * 7) % 13, DAY0 + i * 10 * S))
        .collect();
    store.write("db", &points(&body)).unwrap();
    let all = floats(&store, "db", "m", "v");
    let sid = store.series("db", "m", Some("v"), &|_| true)[0].id;
    // whole days, and ranges cut inside buckets, on bucket edges and inside days
    let ranges = [
        (DAY0, DAY0 + 3 * DAY_NS),
        (DAY0 + 7 * S, DAY0 + 2 * DAY_NS + 301 * S),
        (DAY0 + DAY_NS, DAY0 + 2 * DAY_NS),
        (DAY0 + 3_600 * S, DAY0 + DAY_NS + 7_200 * S),
        (DAY0 + 3_599 * S, DAY0 + 2 * DAY_NS + 3_601 * S),
    ];
    let check = |store: &Store| {
        for (start, end) in ranges {
            for width in [ROLLUP_NS, HOUR_NS] {
                assert_eq!(
                    store.buckets(sid, start, end, width).unwrap(),
                    expected_buckets_at(&all, start, end, width),
                    "{start}..{end} by {width}"
                );
            }
        }
    };
    check(&store); // from the heads
    store.flush().unwrap();
    check(&store); // from blocks
    store.compact(DAY0 + 2 * DAY_NS).unwrap();
    check(&store); // the first day from its rollup
    store.compact(DAY0 + 4 * DAY_NS).unwrap();
    check(&store);
    // a late point for a compacted day: that day reads points again until compacted anew
    store
        .write(
            "db",
            &points(&format!("m,h=a v=100 {}", DAY0 + DAY_NS + 5 * S)),
        )
        .unwrap();
    let mut all = all;
    all.push((DAY0 + DAY_NS + 5 * S, 100.0));
    all.sort_by_key(|p| p.0);
    let b = store
        .buckets(sid, DAY0 + DAY_NS, DAY0 + 2 * DAY_NS, ROLLUP_NS)
        .unwrap();
    assert_eq!(b, expected_buckets(&all, DAY0 + DAY_NS, DAY0 + 2 * DAY_NS));
    store.flush().unwrap();
    store.compact(DAY0 + 4 * DAY_NS).unwrap();
    assert_eq!(
        store
            .buckets(sid, DAY0 + DAY_NS, DAY0 + 2 * DAY_NS, ROLLUP_NS)
            .unwrap(),
        expected_buckets(&all, DAY0 + DAY_NS, DAY0 + 2 * DAY_NS)
    );
}

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<(u8, i64, i64)>),
    Flush,
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((0u8..4, 0i64..3 * 288, -50i64..50), 1..40).prop_map(Op::Write),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any sequence of writes, flushes, compactions and restarts reads back as a map from
    /// (series, time) to the last value written.
    #[test]
    fn the_store_reads_back_what_a_map_would(ops in prop::collection::vec(op(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), manual()).unwrap();
        let mut model: BTreeMap<(u8, i64), i64> = BTreeMap::new();
        // times on a 5-minute grid over three days, plus a few seconds so buckets hold several
        let time = |slot: i64, v: i64| DAY0 + slot * 300 * S + (v.rem_euclid(3)) * S;
        for op in ops {
            match op {
                Op::Write(ps) => {
                    let body: String = ps
                        .iter()
                        .map(|&(s, slot, v)| format!("m,s=s{s} v={v}i {}\n", time(slot, v)))
                        .collect();
                    for &(s, slot, v) in &ps {
                        model.insert((s, time(slot, v)), v);
                    }
                    let w = store.write("db", &points(&body)).unwrap();
                    prop_assert_eq!(w.points, ps.len());
                }
                Op::Flush => store.flush().unwrap(),
                Op::Compact => store.compact(DAY0 + 2 * DAY_NS).unwrap(),
                Op::Reopen => {
                    drop(store);
                    store = Store::open(dir.path(), manual()).unwrap();
                }
            }
        }
        for s in 0u8..4 {
            let want: Vec<(i64, f64)> = model
                .range((s, i64::MIN)..=(s, i64::MAX))
                .map(|(&(_, t), &v)| (t, v as f64))
                .collect();
            let found = store.series("db", "m", Some("v"), &|tags| tags[0].1 == format!("s{s}"));
            if want.is_empty() {
                prop_assert!(found.is_empty());
                continue;
            }
            let p = store.read(found[0].id, i64::MIN, i64::MAX).unwrap();
            let Values::Bits(bits) = p.values else { panic!("integers") };
            let got: Vec<(i64, f64)> =
                p.times.iter().zip(&bits).map(|(&t, &b)| (t, b as i64 as f64)).collect();
            prop_assert_eq!(&got, &want);
            for (start, end) in [(DAY0, DAY0 + 3 * DAY_NS), (DAY0 + 600 * S, DAY0 + DAY_NS + 7 * S)] {
                for width in [ROLLUP_NS, HOUR_NS] {
                    prop_assert_eq!(
                        store.buckets(found[0].id, start, end, width).unwrap(),
                        expected_buckets_at(&want, start, end, width)
                    );
                }
            }
        }
    }
}

/// Per-database retention: whole days of each resolution go once older than their database keeps
/// them, the coarser resolutions still answer, a database kept forever loses nothing, and it
/// all holds across a restart.
#[test]
fn retention_deletes_whole_days_of_each_resolution_per_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), manual()).unwrap();
    // ten days up to DAY0, a point every 10 minutes, in two databases
    let start = DAY0 - 10 * DAY_NS;
    let body: String = (0..10 * 144)
        .map(|i| format!("m,h=a v={} {}\n", i % 17, start + i * 600 * S))
        .collect();
    for db in ["shop", "other"] {
        assert_eq!(store.write(db, &points(&body)).unwrap().points, 10 * 144);
    }
    store.flush().unwrap();
    store.compact(DAY0).unwrap();
    let all = floats(&store, "shop", "m", "v");
    let shop = Retention {
        raw_days: Some(2),
        rollup_5m_days: Some(5),
        rollup_1h_days: None,
    };
    store.set_retention(Retentions {
        default: Retention::default(),
        databases: [("shop".to_owned(), shop)].into(),
    });
    // the test's clock: DAY0 plus 6 hours, so the cuts fall on DAY0 - 2d and DAY0 - 5d
    let now = DAY0 + 6 * 3_600 * S;
    let expired = store.expire(now).unwrap();
    assert_eq!(
        expired,
        Expired {
            raw: 8,
            rollups_5m: 5,
            rollups_1h: 0
        }
    );
    // again: nothing more goes
    assert_eq!(store.expire(now).unwrap(), Expired::default());
    let check = |store: &Store| {
        let sid = |db: &str| store.series(db, "m", Some("v"), &|_| true)[0].id;
        let raw_from = DAY0 - 2 * DAY_NS;
        let fine_from = DAY0 - 5 * DAY_NS;
        let kept: Vec<(i64, f64)> = all.iter().copied().filter(|p| p.0 >= raw_from).collect();
        assert_eq!(
            floats(store, "shop", "m", "v"),
            kept,
            "raw points of the last two days"
        );
        assert_eq!(floats(store, "other", "m", "v"), all, "kept forever");
        let fine = store.buckets(sid("shop"), start, DAY0, ROLLUP_NS).unwrap();
        assert_eq!(
            fine,
            expected_buckets(&all, fine_from, DAY0),
            "5-minute rollups: 5 days"
        );
        let hourly = store.buckets(sid("shop"), start, DAY0, HOUR_NS).unwrap();
        assert_eq!(
            hourly,
            expected_buckets_at(&all, start, DAY0, HOUR_NS),
            "hourly: all"
        );
        let other = store.buckets(sid("other"), start, DAY0, ROLLUP_NS).unwrap();
        assert_eq!(other, expected_buckets(&all, start, DAY0));
        // the executor reads the coarsest rollup that serves the interval
        let run = |q: &str| {
            let statement = jeny_metrics::influxql::parse(q).unwrap().remove(0);
            jeny_metrics::query::influxql::execute(store, "shop", &statement, now).unwrap()
        };
        let range = format!("time >= {start} AND time < {DAY0}");
        let by_hour = run(&format!(
            "SELECT count(v) FROM m WHERE {range} GROUP BY time(1h)"
        ));
        assert_eq!(by_hour[0].values.len(), 240, "every hour of ten days");
        let by_10m = run(&format!(
            "SELECT count(v) FROM m WHERE {range} GROUP BY time(10m) fill(none)"
        ));
        assert_eq!(
            by_10m[0].values.len(),
            5 * 144,
            "10-minute buckets: the last five days"
        );
        let raw = run(&format!("SELECT v FROM m WHERE {range}"));
        assert_eq!(
            raw[0].values.len(),
            2 * 144,
            "raw points: the last two days"
        );
    };
    check(&store);
    drop(store);
    let store = Store::open(dir.path(), manual()).unwrap();
    store.set_retention(Retentions {
        default: Retention::default(),
        databases: [("shop".to_owned(), shop)].into(),
    });
    check(&store);
    // a write older than the raw retention (the real clock's) is refused in InfluxDB's words,
    // the rest of the batch kept; a database kept forever takes it
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let old = real_now - 3 * DAY_NS;
    let w = store
        .write(
            "shop",
            &points(&format!("m,h=b v=1 {old}\nm,h=b v=2 {real_now}")),
        )
        .unwrap();
    assert_eq!(
        (w.points, w.dropped, w.reason.as_deref()),
        (
            1,
            1,
            Some("partial write: points beyond retention policy dropped=1")
        )
    );
    assert_eq!(
        store
            .write("other", &points(&format!("m,h=b v=1 {old}")))
            .unwrap()
            .points,
        1
    );
    // once no database keeps raw points that old, the rollups still answer
    let both = Retentions {
        default: shop,
        databases: Default::default(),
    };
    store.set_retention(both.clone());
    assert_eq!(
        store.expire(now).unwrap().raw,
        8,
        "the other database's days"
    );
    let sid = store.series("shop", "m", Some("v"), &|tags| tags[0].1 == "a")[0].id;
    assert_eq!(
        store.buckets(sid, start, DAY0, HOUR_NS).unwrap(),
        expected_buckets_at(&all, start, DAY0, HOUR_NS),
    );
    drop(store);
    let store = Store::open(dir.path(), manual()).unwrap();
    store.set_retention(both);
    assert_eq!(
        store.buckets(sid, start, DAY0, HOUR_NS).unwrap(),
        expected_buckets_at(&all, start, DAY0, HOUR_NS),
        "after a restart"
    );
}

/// The writer the crash test kills: writes numbered batches and prints each number once its
/// write returned (acknowledged). Run only by that test, as its child.
#[test]
#[ignore = "the crash test's child"]
fn crash_child() {
    let dir = std::env::var("JENY_METRICS_CRASH_DIR").expect("run by the crash test");
    let store = Store::open(
        Path::new(&dir),
        Options {
            // flush often, so that the kill also lands in flushes
            flush_wal_bytes: 256 << 10,
            ..Options::default()
        },
    )
    .unwrap();
    for batch in 0.. {
        let body: String = (0..500)
            .map(|i| {
                format!(
                    "m,h=h{} v={batch}i {}\n",
                    i % 50,
                    DAY0 + (batch * 10 + i / 50) * S
                )
            })
            .collect();
        let w = store.write("db", &points(&body)).unwrap();
        assert_eq!(w.points, 500);
        println!("acked {batch}");
    }
}

#[test]
fn kill_9_during_a_write_burst_loses_no_acknowledged_point() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("JENY_METRICS_CRASH_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = None;
        // kill at a different point each round
        let stop_after = 40 + round * 37;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("acked ") {
                acked = Some(n.parse::<i64>().unwrap());
                if acked >= Some(stop_after) {
                    break;
                }
            }
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        let acked = acked.expect("the child acknowledged batches");
        let store = Store::open(dir.path(), manual()).unwrap();
        let series = store.series("db", "m", Some("v"), &|_| true);
        assert_eq!(series.len(), 50);
        for s in series {
            let p = store.read(s.id, i64::MIN, i64::MAX).unwrap();
            // every acknowledged batch wrote 10 times per series, each holding its batch number
            // (a restart writes them again with the same values: no doubles, last value wins)
            let Values::Bits(bits) = p.values else {
                panic!("integers")
            };
            for batch in 0..=acked {
                for k in 0..10 {
                    let t = DAY0 + (batch * 10 + k) * S;
                    let i = p.times.binary_search(&t).unwrap_or_else(|_| {
                        panic!("round {round}: batch {batch} (acknowledged) lost at {t}")
                    });
                    assert_eq!(bits[i] as i64, batch);
                }
            }
            assert!(p.times.windows(2).all(|w| w[0] < w[1]));
        }
    }
}

#[test]
fn the_first_and_last_times_influxdb_allows_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), manual()).unwrap();
    let (lo, hi) = (i64::MIN + 2, i64::MAX - 1);
    store
        .write("db", &points(&format!("m v=1 {lo}\nm v=2 {hi}\nm v=3 0")))
        .unwrap();
    let all = [(lo, 1.0), (0, 3.0), (hi, 2.0)];
    assert_eq!(floats(&store, "db", "m", "v"), all);
    let sid = store.series("db", "m", Some("v"), &|_| true)[0].id;
    for round in 0..3 {
        match round {
            1 => store.flush().unwrap(),
            2 => store.compact(i64::MAX).unwrap(),
            _ => {}
        }
        assert_eq!(floats(&store, "db", "m", "v"), all, "round {round}");
        assert_eq!(
            store.buckets(sid, i64::MIN, i64::MAX, ROLLUP_NS).unwrap(),
            expected_buckets(&all, i64::MIN, i64::MAX),
            "round {round}"
        );
    }
}

/// The writer the full-disk test runs with a file size limit: writes until a write is refused,
/// printing each acknowledged batch and then the refusal.
#[test]
#[ignore = "the full-disk test's child"]
fn full_disk_child() {
    let dir = std::env::var("JENY_METRICS_FULL_DIR").expect("run by the full-disk test");
    let store = Store::open(Path::new(&dir), manual()).unwrap();
    for batch in 0..10_000 {
        let body: String = (0..200)
            .map(|i| {
                format!(
                    "m,h=h{} v={batch}i {}\n",
                    i % 20,
                    DAY0 + (batch * 10 + i / 20) * S
                )
            })
            .collect();
        match store.write("db", &points(&body)) {
            Ok(_) => println!("acked {batch}"),
            Err(e) => {
                println!("refused {e}");
                return;
            }
        }
    }
    panic!("the file size limit never refused a write");
}

/// A disk that fills up (here: a file size limit, which fails writes as a full disk does)
/// refuses the write with a clear error; nothing acknowledged is lost and the files still open.
#[test]
fn a_full_disk_refuses_writes_and_corrupts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // SIGXFSZ ignored, so that an oversized write fails instead of killing the writer
    let output = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=262144 \"$0\" \"$@\"",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "full_disk_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("JENY_METRICS_FULL_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let acked = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("acked "))
        .filter_map(|n| n.parse::<i64>().ok())
        .max()
        .expect("some writes were acknowledged before the limit");
    let refusal = stdout
        .lines()
        .find_map(|l| l.strip_prefix("refused "))
        .unwrap_or_else(|| panic!("no write was refused: {stdout}"));
    assert!(
        refusal.starts_with("the metrics store cannot write to its files: "),
        "{refusal}"
    );
    let store = Store::open(dir.path(), manual()).unwrap();
    let series = store.series("db", "m", Some("v"), &|_| true);
    assert_eq!(series.len(), 20);
    for s in series {
        let p = store.read(s.id, i64::MIN, i64::MAX).unwrap();
        let Values::Bits(bits) = p.values else {
            panic!("integers")
        };
        for batch in 0..=acked {
            for k in 0..10 {
                let t = DAY0 + (batch * 10 + k) * S;
                let i = p
                    .times
                    .binary_search(&t)
                    .unwrap_or_else(|_| panic!("batch {batch} (acknowledged) lost at {t}"));
                assert_eq!(bits[i] as i64, batch);
            }
        }
    }
    // and it takes writes again once there is room
    let w = store.write("db", &points("m,h=h0 v=1i 1")).unwrap();
    assert_eq!(w.points, 1);
}
