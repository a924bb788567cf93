//! Aggregations and the buckets of InfluxQL's `GROUP BY time(i, offset)`: aligned to the epoch
//! plus the offset, each named by its start. `from_rollups` answers count, sum, mean, min, max,
//! first, last and spread from rollups (5-minute or hourly) over whole multiples; the executor
//! (`influxql.rs`) computes everything else, and these from points, itself.

use crate::store::Bucket;

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

    /// Whether every bucket edge, and the range's ends, fall on multiples of `width`, so that
    /// rollups of that width answer exactly.
    pub fn aligned_to(&self, width: i64) -> bool {
        self.interval % width == 0
            && self.offset % width == 0
            && self.start % width == 0
            && self.end % width == 0
    }
}

/// Aggregates rollup buckets (sorted, within the window's range, each inside one of the window's
/// buckets) into the window's buckets;
/// the aggregation must be one `from_rollups` allows.
pub fn from_rollups(window: &Window, agg: Aggregation, buckets: &[Bucket]) -> Vec<Option<f64>> {
    let n = if window.end <= window.start {
        0
    } else {
        ((window.bucket_of(window.end - 1) - window.bucket_of(window.start)) / window.interval + 1)
            as usize
    };
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
            Some(a) => a.then(b),
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

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000_000_000;

    #[test]
    fn buckets_are_aligned_to_the_epoch_plus_the_offset() {
        let w = Window {
            start: 7 * M + 5,
            end: 19 * M,
            interval: 5 * M,
            offset: 0,
        };
        assert_eq!(w.bucket_of(7 * M + 5), 5 * M);
        assert_eq!(Window { offset: 2 * M, ..w }.bucket_of(7 * M + 5), 7 * M);
        assert_eq!(w.bucket_of(-1), -5 * M);
    }

    #[test]
    fn rollups_give_what_the_points_give() {
        let w = Window {
            start: 0,
            end: 60 * M,
            interval: 15 * M,
            offset: 0,
        };
        let times: Vec<i64> = (0..120).map(|i| i * 30_000_000_000).collect();
        let values: Vec<f64> = (0..120).map(|i| ((i * 37) % 11) as f64).collect();
        let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        let buckets = crate::store::rollup(crate::store::FieldType::Float, &times, &bits);
        // each 15-minute bucket holds 30 points, straight from the values
        let of = |i: usize| &values[i * 30..(i + 1) * 30];
        let expect =
            |f: fn(&[f64]) -> f64| -> Vec<Option<f64>> { (0..4).map(|i| Some(f(of(i)))).collect() };
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for (agg, want) in [
            (Aggregation::Count, expect(|v| v.len() as f64)),
            (Aggregation::Sum, expect(|v| v.iter().sum())),
            (
                Aggregation::Mean,
                expect(|v| v.iter().sum::<f64>() / v.len() as f64),
            ),
            (Aggregation::Min, expect(min)),
            (Aggregation::Max, expect(max)),
            (Aggregation::First, expect(|v| v[0])),
            (Aggregation::Last, expect(|v| v[v.len() - 1])),
            (
                Aggregation::Spread,
                expect(|v| {
                    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                        - v.iter().copied().fold(f64::INFINITY, f64::min)
                }),
            ),
        ] {
            assert_eq!(from_rollups(&w, agg, &buckets), want, "{agg:?}");
        }
        assert_eq!(
            from_rollups(&w, Aggregation::Median, &buckets),
            vec![None; 4]
        );
    }
}
