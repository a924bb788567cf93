//! Aggregation over time buckets, as InfluxQL's `GROUP BY time(i, offset)` does it: buckets
//! aligned to the epoch plus the offset, each named by its start, the first one starting at or
//! before the range's start; an empty bucket filled as `fill()` says; derivatives over the
//! aggregated values. From points, or from 5-minute rollups when the aggregation and the
//! buckets allow (count, sum, mean, min, max, first, last over whole 5-minute multiples).

use crate::store::{Bucket, ROLLUP_NS};

/// An aggregation of a bucket's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    Count,
    Sum,
    Mean,
    Median,
    Min,
    Max,
    First,
    Last,
    Spread,
    Stddev,
    /// `percentile(N)`, 0 < N <= 100, InfluxDB's nearest rank
    Percentile(f64),
}

impl Aggregation {
    /// The name InfluxQL gives it (and the column it makes).
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Count => "count",
            Aggregation::Sum => "sum",
            Aggregation::Mean => "mean",
            Aggregation::Median => "median",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::First => "first",
            Aggregation::Last => "last",
            Aggregation::Spread => "spread",
            Aggregation::Stddev => "stddev",
            Aggregation::Percentile(_) => "percentile",
        }
    }

    /// Whether 5-minute rollups answer it exactly.
    pub fn from_rollups(self) -> bool {
        matches!(
            self,
            Aggregation::Count
                | Aggregation::Sum
                | Aggregation::Mean
                | Aggregation::Min
                | Aggregation::Max
                | Aggregation::First
                | Aggregation::Last
                | Aggregation::Spread
        )
    }
}

/// What an empty bucket shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    Null,
    /// left out
    None,
    Previous,
    Linear,
    Value(f64),
}

/// The buckets of a range: `[start, end)` of the points, buckets of `interval` shifted by
/// `offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub offset: i64,
}

impl Window {
    /// The start of the bucket holding `t`.
    pub fn bucket_of(&self, t: i64) -> i64 {
        (t - self.offset).div_euclid(self.interval) * self.interval + self.offset
    }

    /// How many buckets the range has.
    pub fn len(&self) -> usize {
        if self.end <= self.start {
            return 0;
        }
        ((self.bucket_of(self.end - 1) - self.bucket_of(self.start)) / self.interval + 1) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every bucket edge inside the range falls on a 5-minute boundary, and so do the
    /// range's ends, so that rollups answer exactly.
    pub fn rollup_aligned(&self) -> bool {
        self.interval % ROLLUP_NS == 0
            && self.offset % ROLLUP_NS == 0
            && self.start % ROLLUP_NS == 0
            && self.end % ROLLUP_NS == 0
    }
}

/// The value of one bucket, computed from its values in time order.
fn reduce(agg: Aggregation, values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    Some(match agg {
        Aggregation::Count => n,
        Aggregation::Sum => values.iter().sum(),
        Aggregation::Mean => values.iter().sum::<f64>() / n,
        Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::First => values[0],
        Aggregation::Last => values[values.len() - 1],
        Aggregation::Spread => {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            max - min
        }
        Aggregation::Stddev => {
            if values.len() < 2 {
                return None;
            }
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
            var.sqrt()
        }
        Aggregation::Median => {
            values.sort_by(f64::total_cmp);
            let mid = values.len() / 2;
            if values.len().is_multiple_of(2) {
                (values[mid - 1] + values[mid]) / 2.0
            } else {
                values[mid]
            }
        }
        Aggregation::Percentile(p) => {
            values.sort_by(f64::total_cmp);
            // InfluxDB: the value at index floor(n * p / 100 + 0.5) - 1, none below the first
            let i = (n * p / 100.0 + 0.5).floor() as i64 - 1;
            if i < 0 || i as usize >= values.len() {
                return None;
            }
            values[i as usize]
        }
    })
}

/// Aggregates points (sorted by time) into the window's buckets: one `Option` per bucket.
pub fn from_points(
    window: &Window,
    agg: Aggregation,
    times: &[i64],
    values: &[f64],
) -> Vec<Option<f64>> {
    let n = window.len();
    let mut out = vec![None; n];
    if n == 0 {
        return out;
    }
    let first = window.bucket_of(window.start);
    let lo = times.partition_point(|&t| t < window.start);
    let hi = times.partition_point(|&t| t < window.end);
    let mut buf = Vec::new();
    let mut i = lo;
    while i < hi {
        let b = window.bucket_of(times[i]);
        let mut j = i;
        while j < hi && times[j] < b + window.interval {
            j += 1;
        }
        buf.clear();
        buf.extend_from_slice(&values[i..j]);
        out[((b - first) / window.interval) as usize] = reduce(agg, &mut buf);
        i = j;
    }
    out
}

/// Aggregates 5-minute buckets (sorted, within the window's range) into the window's buckets;
/// the aggregation must be one `from_rollups` allows.
pub fn from_rollups(window: &Window, agg: Aggregation, buckets: &[Bucket]) -> Vec<Option<f64>> {
    let n = window.len();
    let mut acc: Vec<Option<Bucket>> = vec![None; n];
    if n == 0 {
        return Vec::new();
    }
    let first = window.bucket_of(window.start);
    for b in buckets {
        if b.time < window.start || b.time >= window.end || b.count == 0 {
            continue;
        }
        let i = ((window.bucket_of(b.time) - first) / window.interval) as usize;
        acc[i] = Some(match acc[i] {
            None => *b,
            Some(a) => Bucket {
                time: a.time,
                count: a.count + b.count,
                sum: a.sum + b.sum,
                min: a.min.min(b.min),
                max: a.max.max(b.max),
                first: a.first,
                last: b.last,
            },
        });
    }
    acc.into_iter()
        .map(|b| {
            b.and_then(|b| match agg {
                Aggregation::Count => Some(b.count as f64),
                Aggregation::Sum => Some(b.sum),
                Aggregation::Mean => Some(b.sum / b.count as f64),
                Aggregation::Min => Some(b.min),
                Aggregation::Max => Some(b.max),
                Aggregation::First => Some(b.first),
                Aggregation::Last => Some(b.last),
                Aggregation::Spread => Some(b.max - b.min),
                _ => None,
            })
        })
        .collect()
}

/// The buckets as (time, value) rows, empty ones filled; `count` fills with 0 where `fill(null)`
/// would give null, as InfluxDB does.
pub fn fill(
    window: &Window,
    agg: Aggregation,
    values: Vec<Option<f64>>,
    fill: Fill,
) -> Vec<(i64, Option<f64>)> {
    let first = window.bucket_of(window.start);
    let times = (0..values.len()).map(|i| first + i as i64 * window.interval);
    let mut rows: Vec<(i64, Option<f64>)> = times.zip(values).collect();
    match fill {
        Fill::Null => {
            if agg == Aggregation::Count {
                for r in &mut rows {
                    r.1.get_or_insert(0.0);
                }
            }
        }
        Fill::None => rows.retain(|r| r.1.is_some()),
        Fill::Value(v) => {
            for r in &mut rows {
                r.1.get_or_insert(v);
            }
        }
        Fill::Previous => {
            let mut last = None;
            for r in &mut rows {
                match r.1 {
                    Some(v) => last = Some(v),
                    None => r.1 = last,
                }
            }
        }
        Fill::Linear => {
            let known: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].1.is_some()).collect();
            for w in known.windows(2) {
                let (a, b) = (w[0], w[1]);
                let (va, vb) = (rows[a].1.unwrap_or(0.0), rows[b].1.unwrap_or(0.0));
                for (k, row) in rows[a + 1..b].iter_mut().enumerate() {
                    let f = (k + 1) as f64 / (b - a) as f64;
                    row.1 = Some(va + (vb - va) * f);
                }
            }
        }
    }
    rows
}

/// `derivative(unit)` (or `non_negative_derivative`) over rows: the change per `unit` between
/// each value and the previous one; the first row has none and is left out, as are rows with
/// no value, and negative changes when `non_negative`.
pub fn derivative(
    rows: &[(i64, Option<f64>)],
    unit: i64,
    non_negative: bool,
) -> Vec<(i64, Option<f64>)> {
    let mut out = Vec::new();
    let mut prev: Option<(i64, f64)> = None;
    for &(t, v) in rows {
        let Some(v) = v else { continue };
        if let Some((pt, pv)) = prev {
            let d = (v - pv) / ((t - pt) as f64 / unit as f64);
            if !(non_negative && d < 0.0) {
                out.push((t, Some(d)));
            }
        }
        prev = Some((t, v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000_000_000;

    fn window(start: i64, end: i64, interval: i64) -> Window {
        Window {
            start,
            end,
            interval,
            offset: 0,
        }
    }

    #[test]
    fn buckets_are_aligned_to_the_epoch_and_named_by_their_start() {
        let w = window(7 * M + 5, 19 * M, 5 * M);
        assert_eq!(w.len(), 3);
        let times = [7 * M + 5, 9 * M, 10 * M, 14 * M, 18 * M, 19 * M];
        let values = [1.0, 3.0, 10.0, 20.0, 7.0, 100.0];
        let v = from_points(&w, Aggregation::Mean, &times, &values);
        assert_eq!(v, [Some(2.0), Some(15.0), Some(7.0)]);
        let rows = fill(&w, Aggregation::Mean, v, Fill::Null);
        assert_eq!(rows[0].0, 5 * M);
        let shifted = Window { offset: 2 * M, ..w };
        assert_eq!(shifted.bucket_of(7 * M + 5), 7 * M);
    }

    #[test]
    fn every_aggregation_from_points() {
        let w = window(0, 10, 10);
        let times: Vec<i64> = (0..5).collect();
        let values = [4.0, 1.0, 3.0, 2.0, 5.0];
        let one = |agg| from_points(&w, agg, &times, &values)[0];
        assert_eq!(one(Aggregation::Count), Some(5.0));
        assert_eq!(one(Aggregation::Sum), Some(15.0));
        assert_eq!(one(Aggregation::Mean), Some(3.0));
        assert_eq!(one(Aggregation::Median), Some(3.0));
        assert_eq!(one(Aggregation::Min), Some(1.0));
        assert_eq!(one(Aggregation::Max), Some(5.0));
        assert_eq!(one(Aggregation::First), Some(4.0));
        assert_eq!(one(Aggregation::Last), Some(5.0));
        assert_eq!(one(Aggregation::Spread), Some(4.0));
        assert_eq!(one(Aggregation::Stddev), Some(2.5f64.sqrt()));
        assert_eq!(one(Aggregation::Percentile(50.0)), Some(3.0));
        assert_eq!(one(Aggregation::Percentile(90.0)), Some(5.0));
        assert_eq!(one(Aggregation::Percentile(10.0)), Some(1.0));
        assert_eq!(one(Aggregation::Percentile(5.0)), None);
    }

    #[test]
    fn rollups_give_what_points_give() {
        let w = window(0, 60 * M, 15 * M);
        let times: Vec<i64> = (0..120).map(|i| i * 30_000_000_000).collect();
        let values: Vec<f64> = (0..120).map(|i| ((i * 37) % 11) as f64).collect();
        let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        let buckets = crate::store::rollup(crate::store::FieldType::Float, &times, &bits);
        for agg in [
            Aggregation::Count,
            Aggregation::Sum,
            Aggregation::Mean,
            Aggregation::Min,
            Aggregation::Max,
            Aggregation::First,
            Aggregation::Last,
            Aggregation::Spread,
        ] {
            assert_eq!(
                from_rollups(&w, agg, &buckets),
                from_points(&w, agg, &times, &values),
                "{agg:?}"
            );
        }
    }

    #[test]
    fn fills_and_derivatives() {
        let w = window(0, 50, 10);
        let v = vec![Some(1.0), None, Some(5.0), None, None];
        let f = |mode| -> Vec<Option<f64>> {
            fill(&w, Aggregation::Mean, v.clone(), mode)
                .into_iter()
                .map(|r| r.1)
                .collect()
        };
        assert_eq!(f(Fill::Null), [Some(1.0), None, Some(5.0), None, None]);
        assert_eq!(f(Fill::None), [Some(1.0), Some(5.0)]);
        assert_eq!(
            f(Fill::Value(0.0)),
            [Some(1.0), Some(0.0), Some(5.0), Some(0.0), Some(0.0)]
        );
        assert_eq!(
            f(Fill::Previous),
            [Some(1.0), Some(1.0), Some(5.0), Some(5.0), Some(5.0)]
        );
        assert_eq!(
            f(Fill::Linear),
            [Some(1.0), Some(3.0), Some(5.0), None, None]
        );
        let counted = fill(&w, Aggregation::Count, vec![Some(2.0), None], Fill::Null);
        assert_eq!(counted[1].1, Some(0.0));
        let rows = [
            (0, Some(10.0)),
            (10, Some(30.0)),
            (20, Some(5.0)),
            (30, None),
            (40, Some(15.0)),
        ];
        assert_eq!(
            derivative(&rows, 10, false),
            [(10, Some(20.0)), (20, Some(-25.0)), (40, Some(5.0))]
        );
        assert_eq!(
            derivative(&rows, 20, true),
            [(10, Some(40.0)), (40, Some(10.0))]
        );
    }
}
