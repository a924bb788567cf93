//! Candidate 1: tsink, an embedded time-series engine (crates.io).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsink::{
    Aggregation, DataPoint, Label, QueryOptions, RollupPolicy, Row, SeriesMatcher, SeriesSelection,
    Storage, StorageBuilder, TimestampPrecision, Value, WalSyncMode,
};

use crate::data::{self, FIELDS, V};

pub fn open(dir: &Path, sync: WalSyncMode) -> Arc<dyn Storage> {
    StorageBuilder::new()
        .with_data_path(dir)
        .with_timestamp_precision(TimestampPrecision::Milliseconds)
        .with_retention(Duration::from_secs(3650 * 86_400))
        .with_wal_sync_mode(sync)
        .build()
        .expect("tsink opens")
}

/// A series as tsink names it: metric = measurement_field, labels = the tags.
#[derive(Clone)]
pub struct SeriesName {
    pub metric: String,
    pub labels: Vec<Label>,
}

pub fn series_name(h: u32, fi: usize) -> SeriesName {
    let spec = &FIELDS[fi];
    let mut labels: Vec<Label> = data::host_tags(h)
        .into_iter()
        .map(|(k, v)| Label::new(k, v))
        .collect();
    if !spec.tag.0.is_empty() {
        labels.push(Label::new(spec.tag.0, spec.tag.1));
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    SeriesName {
        metric: format!("{}_{}", spec.measurement, spec.field),
        labels,
    }
}

pub fn value(v: V) -> Value {
    match v {
        V::F(x) => Value::F64(x),
        V::I(x) => Value::I64(x),
        V::U(x) => Value::U64(x),
    }
}

pub fn from_value(v: &Value) -> V {
    match v {
        Value::F64(x) => V::F(*x),
        Value::I64(x) => V::I(*x),
        Value::U64(x) => V::U(*x),
        other => panic!("unexpected value {other:?}"),
    }
}

pub struct LoadStats {
    /// time spent inside insert_rows only (row building excluded)
    pub insert: Duration,
    pub points: usize,
    pub durable_acks: usize,
    pub batches: usize,
}

/// Inserts a time-major stream in batches; only the insert calls are timed.
pub fn load(storage: &dyn Storage, stream: &mut data::BatchStream, batch: usize) -> LoadStats {
    let names: Vec<SeriesName> = stream
        .series
        .iter()
        .map(|&(h, fi)| series_name(h, fi))
        .collect();
    let mut pts = Vec::with_capacity(batch);
    let mut rows = Vec::with_capacity(batch);
    let mut st = LoadStats {
        insert: Duration::ZERO,
        points: 0,
        durable_acks: 0,
        batches: 0,
    };
    while stream.next_batch(batch, &mut pts) {
        rows.clear();
        for p in &pts {
            let n = &names[p.s as usize];
            rows.push(Row::with_labels(
                n.metric.clone(),
                n.labels.clone(),
                DataPoint::new(p.ts, value(p.v)),
            ));
        }
        let t = Instant::now();
        let r = storage.insert_rows_with_result(&rows).expect("insert");
        st.insert += t.elapsed();
        st.points += rows.len();
        st.batches += 1;
        if matches!(r.acknowledgement, tsink::WriteAcknowledgement::Durable) {
            st.durable_acks += 1;
        }
    }
    st
}

/// Rows for a whole stream, built ahead (for the two-writer measurement).
pub fn build_batches(stream: &mut data::BatchStream, batch: usize) -> Vec<Vec<Row>> {
    let names: Vec<SeriesName> = stream
        .series
        .iter()
        .map(|&(h, fi)| series_name(h, fi))
        .collect();
    let mut pts = Vec::with_capacity(batch);
    let mut out = Vec::new();
    while stream.next_batch(batch, &mut pts) {
        out.push(
            pts.iter()
                .map(|p| {
                    let n = &names[p.s as usize];
                    Row::with_labels(
                        n.metric.clone(),
                        n.labels.clone(),
                        DataPoint::new(p.ts, value(p.v)),
                    )
                })
                .collect(),
        );
    }
    out
}

/// The 7-day mean at `interval` per series with tsink's downsampling (on the fly, or from a
/// rollup policy of the same interval when one is materialised).
pub fn query_mean(
    storage: &dyn Storage,
    series: &[SeriesName],
    start: i64,
    end: i64,
    interval: i64,
) -> Vec<Vec<DataPoint>> {
    series
        .iter()
        .map(|s| {
            let opts = QueryOptions::new(start, end)
                .with_labels(s.labels.clone())
                .with_downsample(interval, Aggregation::Avg);
            storage.select_with_options(&s.metric, opts).expect("query")
        })
        .collect()
}

pub fn rollup_policy(metric: &str) -> RollupPolicy {
    RollupPolicy {
        id: "mean_5m".into(),
        metric: metric.into(),
        match_labels: vec![],
        interval: 300_000,
        aggregation: Aggregation::Avg,
        bucket_origin: 0,
    }
}

/// What tsink does with what jeny needs beyond speed: last-write-wins on the same timestamp,
/// typed fields, strings and booleans, deleting a project's points. Returns findings as text.
pub fn semantics(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let t0: i64 = 1_800_000_000_000;
    let l = |p: &str| vec![Label::new("host", "a"), Label::new("project", p)];
    {
        let s = open(dir, WalSyncMode::PerAppend);
        // same series + time, two batches
        s.insert_rows(&[Row::with_labels("m_f", l("p1"), DataPoint::new(t0, 1.0))])
            .unwrap();
        s.insert_rows(&[Row::with_labels("m_f", l("p1"), DataPoint::new(t0, 2.0))])
            .unwrap();
        let pts = s.select("m_f", &l("p1"), t0, t0 + 1).unwrap();
        out.push(format!(
            "overwrite across batches, before restart: {:?}",
            pts.iter().map(|p| p.value.clone()).collect::<Vec<_>>()
        ));
        // same series + time, one batch
        s.insert_rows(&[
            Row::with_labels("m_g", l("p1"), DataPoint::new(t0, 1.0)),
            Row::with_labels("m_g", l("p1"), DataPoint::new(t0, 2.0)),
        ])
        .unwrap();
        let pts = s.select("m_g", &l("p1"), t0, t0 + 1).unwrap();
        out.push(format!(
            "overwrite within one batch: {:?}",
            pts.iter().map(|p| p.value.clone()).collect::<Vec<_>>()
        ));
        // types
        s.insert_rows(&[Row::with_labels("m_i", l("p1"), DataPoint::new(t0, 7i64))])
            .unwrap();
        let r = s.insert_rows(&[Row::with_labels(
            "m_i",
            l("p1"),
            DataPoint::new(t0 + 1, 7.5),
        )]);
        out.push(format!(
            "float into an integer series: {}",
            match r {
                Ok(()) => "accepted".to_string(),
                Err(e) => format!("refused ({e})"),
            }
        ));
        let r = s.insert_rows(&[
            Row::with_labels("m_u", l("p1"), DataPoint::new(t0, 7u64)),
            Row::with_labels("m_b", l("p1"), DataPoint::new(t0, true)),
            Row::with_labels("m_s", l("p1"), DataPoint::new(t0, "deploy 42 ok")),
            Row::with_labels("m_f", l("p2"), DataPoint::new(t0, 3.0)),
        ]);
        out.push(format!(
            "u64, bool, string and float series in one batch: {}",
            match &r {
                Ok(()) => "accepted".to_string(),
                Err(e) => format!("refused ({e})"),
            }
        ));
        for m in ["m_u", "m_b", "m_s"] {
            let pts = s.select(m, &l("p1"), t0, t0 + 1).unwrap_or_default();
            out.push(format!(
                "read back {m}: {:?}",
                pts.iter().map(|p| p.value.clone()).collect::<Vec<_>>()
            ));
        }
        // deleting one project's points in a time range
        let r = s.delete_series(
            &SeriesSelection::new()
                .with_metric("m_f")
                .with_matcher(SeriesMatcher::equal("project", "p2"))
                .with_time_range(t0, t0 + 1),
        );
        let left = s
            .select("m_f", &l("p2"), t0, t0 + 1)
            .unwrap_or_default()
            .len();
        out.push(format!(
            "delete project p2's m_f in [t0, t0+1): {:?}; points left: {left}; p1 still has {}",
            r.map(|r| (r.matched_series, r.tombstones_applied)),
            s.select("m_f", &l("p1"), t0, t0 + 1)
                .unwrap_or_default()
                .len()
        ));
        s.close().unwrap();
    }
    {
        let s = open(dir, WalSyncMode::PerAppend);
        let pts = s.select("m_f", &l("p1"), t0, t0 + 1).unwrap();
        out.push(format!(
            "overwrite across batches, after restart: {:?}",
            pts.iter().map(|p| p.value.clone()).collect::<Vec<_>>()
        ));
        let pts = s.select("m_g", &l("p1"), t0, t0 + 1).unwrap();
        out.push(format!(
            "overwrite within one batch, after restart: {:?}",
            pts.iter().map(|p| p.value.clone()).collect::<Vec<_>>()
        ));
        s.close().unwrap();
    }
    out
}
