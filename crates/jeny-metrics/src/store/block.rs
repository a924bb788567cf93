//! A block: one series' points over (part of) one UTC day, compressed. Timestamps and numbers go
//! through pco (delta and entropy coding chosen per column: 0.95 bytes a point on host metrics,
//! `docs/performance.md`); strings are length-prefixed and deflated. A day's rollups keep, per
//! 5-minute and per 1-hour bucket, the count, sum, min, max, first and last, so those
//! aggregations stay exact over any interval that is a multiple of the bucket.

use std::io::{Read as _, Write as _};

use pco::ChunkConfig;
use pco::standalone::{simple_compress, simple_decompress};

use super::FieldType;

/// The format's version, first byte of every block and rollup.
const VERSION: u8 = 1;
/// The fine rollup's bucket width: 5 minutes.
pub const ROLLUP_NS: i64 = 300 * 1_000_000_000;
/// The coarse rollup's bucket width: 1 hour.
pub const HOUR_NS: i64 = 3_600 * 1_000_000_000;

/// `t` rounded down to a multiple of `unit`; the lowest times, whose multiple is below `i64::MIN`,
/// share the block or bucket that starts at `i64::MIN`.
pub fn floor_to(t: i64, unit: i64) -> i64 {
    let floor = i128::from(t).div_euclid(i128::from(unit)) * i128::from(unit);
    floor.max(i128::from(i64::MIN)) as i64
}

/// The start of the day after the one that starts at `day` (`i64::MAX` past the last).
pub fn next_day(day: i64, unit: i64) -> i64 {
    let next = i128::from(day).div_euclid(i128::from(unit)) * i128::from(unit) + i128::from(unit);
    next.min(i128::from(i64::MAX)) as i64
}

/// A column of values, typed by the series: numbers as their 64 bits (a float's bits, an
/// integer's two's complement, a boolean 0 or 1), strings as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Bits(Vec<u64>),
    Text(Vec<Box<str>>),
}

impl Values {
    pub fn empty(ty: FieldType) -> Values {
        match ty {
            FieldType::String => Values::Text(Vec::new()),
            _ => Values::Bits(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Values::Bits(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A block or rollup that does not read back: the file was damaged.
#[derive(Debug, thiserror::Error)]
#[error("a metrics block does not decode: {0}")]
pub struct Corrupt(pub String);

fn corrupt(e: impl std::fmt::Display) -> Corrupt {
    Corrupt(e.to_string())
}

fn pco<T: pco::data_types::Number>(values: &[T], out: &mut Vec<u8>) {
    let bytes = if values.is_empty() {
        Vec::new()
    } else {
        // compressing numbers into memory cannot fail: pco's errors are about bad configs
        simple_compress(values, &ChunkConfig::default()).expect("pco compresses numbers")
    };
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes);
}

fn take<'a>(src: &mut &'a [u8], n: usize) -> Result<&'a [u8], Corrupt> {
    if src.len() < n {
        return Err(Corrupt("truncated".into()));
    }
    let (a, b) = src.split_at(n);
    *src = b;
    Ok(a)
}

fn take_u32(src: &mut &[u8]) -> Result<u32, Corrupt> {
    Ok(u32::from_le_bytes(
        take(src, 4)?.try_into().map_err(corrupt)?,
    ))
}

fn unpco<T: pco::data_types::Number>(src: &mut &[u8]) -> Result<Vec<T>, Corrupt> {
    let n = take_u32(src)? as usize;
    let bytes = take(src, n)?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    simple_decompress(bytes).map_err(corrupt)
}

/// Encodes sorted, distinct timestamps and their values.
pub fn encode(ty: FieldType, ts: &[i64], values: &Values) -> Vec<u8> {
    debug_assert_eq!(ts.len(), values.len());
    let mut out = Vec::with_capacity(16 + ts.len() * 2);
    out.push(VERSION);
    out.push(ty as u8);
    pco(ts, &mut out);
    match values {
        Values::Bits(bits) => match ty {
            FieldType::Float => {
                let f: Vec<f64> = bits.iter().map(|b| f64::from_bits(*b)).collect();
                pco(&f, &mut out)
            }
            FieldType::Integer => {
                let i: Vec<i64> = bits.iter().map(|b| *b as i64).collect();
                pco(&i, &mut out)
            }
            _ => pco(bits, &mut out),
        },
        Values::Text(text) => {
            let mut plain = Vec::new();
            for s in text {
                plain.extend_from_slice(&(s.len() as u32).to_le_bytes());
                plain.extend_from_slice(s.as_bytes());
            }
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&plain).expect("deflate into memory");
            let z = z.finish().expect("deflate into memory");
            out.extend_from_slice(&(z.len() as u32).to_le_bytes());
            out.extend_from_slice(&z);
        }
    }
    out
}

/// Decodes a block: its type, timestamps and values.
pub fn decode(mut src: &[u8]) -> Result<(FieldType, Vec<i64>, Values), Corrupt> {
    let head = take(&mut src, 2)?;
    if head[0] != VERSION {
        return Err(Corrupt(format!("unknown block version {}", head[0])));
    }
    let ty = FieldType::from_u8(head[1]).ok_or_else(|| Corrupt("unknown field type".into()))?;
    let ts: Vec<i64> = unpco(&mut src)?;
    let values = match ty {
        FieldType::Float => Values::Bits(
            unpco::<f64>(&mut src)?
                .into_iter()
                .map(f64::to_bits)
                .collect(),
        ),
        FieldType::Integer => Values::Bits(
            unpco::<i64>(&mut src)?
                .into_iter()
                .map(|i| i as u64)
                .collect(),
        ),
        FieldType::Unsigned | FieldType::Boolean => Values::Bits(unpco::<u64>(&mut src)?),
        FieldType::String => {
            let n = take_u32(&mut src)? as usize;
            let mut plain = Vec::new();
            flate2::read::DeflateDecoder::new(take(&mut src, n)?)
                .read_to_end(&mut plain)
                .map_err(corrupt)?;
            let mut p = plain.as_slice();
            let mut text = Vec::with_capacity(ts.len());
            while !p.is_empty() {
                let len = take_u32(&mut p)? as usize;
                let s = std::str::from_utf8(take(&mut p, len)?).map_err(corrupt)?;
                text.push(s.into());
            }
            Values::Text(text)
        }
    };
    if values.len() != ts.len() {
        return Err(Corrupt("timestamps and values differ in number".into()));
    }
    Ok((ty, ts, values))
}

/// A number's value as a float.
pub fn to_f64(ty: FieldType, bits: u64) -> f64 {
    match ty {
        FieldType::Float => f64::from_bits(bits),
        FieldType::Integer => bits as i64 as f64,
        FieldType::Unsigned | FieldType::Boolean => bits as f64,
        FieldType::String => f64::NAN,
    }
}

/// One rollup bucket (5 minutes or an hour) of a numeric series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// the bucket's start
    pub time: i64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub first: f64,
    pub last: f64,
}

impl Bucket {
    /// This bucket followed by `later`, which is later in time: one bucket named by this one's
    /// start.
    pub fn then(self, later: &Bucket) -> Bucket {
        Bucket {
            time: self.time,
            count: self.count + later.count,
            sum: self.sum + later.sum,
            min: self.min.min(later.min),
            max: self.max.max(later.max),
            first: self.first,
            last: later.last,
        }
    }
}

/// The 5-minute buckets of a day's points (sorted timestamps), empty buckets left out.
pub fn rollup(ty: FieldType, ts: &[i64], bits: &[u64]) -> Vec<Bucket> {
    rollup_at(ty, ts, bits, ROLLUP_NS)
}

/// The buckets of `width` of points (sorted timestamps), empty buckets left out.
pub fn rollup_at(ty: FieldType, ts: &[i64], bits: &[u64], width: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for (&t, &b) in ts.iter().zip(bits) {
        let v = to_f64(ty, b);
        let point = Bucket {
            time: floor_to(t, width),
            count: 1,
            sum: v,
            min: v,
            max: v,
            first: v,
            last: v,
        };
        match out.last_mut() {
            Some(k) if k.time == point.time => *k = k.then(&point),
            _ => out.push(point),
        }
    }
    out
}

/// Buckets (sorted, each within one bucket of `width`) merged into buckets of `width`: exact,
/// as every kept aggregate composes.
pub fn coarsen(buckets: &[Bucket], width: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for b in buckets {
        let time = floor_to(b.time, width);
        match out.last_mut() {
            Some(k) if k.time == time => *k = k.then(b),
            _ => out.push(Bucket { time, ..*b }),
        }
    }
    out
}

/// Encodes a day's buckets.
pub fn encode_rollup(buckets: &[Bucket]) -> Vec<u8> {
    let mut out = vec![VERSION];
    let col = |f: fn(&Bucket) -> f64| buckets.iter().map(f).collect::<Vec<f64>>();
    pco(
        &buckets.iter().map(|b| b.time).collect::<Vec<i64>>(),
        &mut out,
    );
    pco(
        &buckets.iter().map(|b| b.count).collect::<Vec<u64>>(),
        &mut out,
    );
    for c in [
        col(|b| b.sum),
        col(|b| b.min),
        col(|b| b.max),
        col(|b| b.first),
        col(|b| b.last),
    ] {
        pco(&c, &mut out);
    }
    out
}

/// Decodes a day's buckets.
pub fn decode_rollup(mut src: &[u8]) -> Result<Vec<Bucket>, Corrupt> {
    if take(&mut src, 1)?[0] != VERSION {
        return Err(Corrupt("unknown rollup version".into()));
    }
    let time: Vec<i64> = unpco(&mut src)?;
    let count: Vec<u64> = unpco(&mut src)?;
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(5);
    for _ in 0..5 {
        let c: Vec<f64> = unpco(&mut src)?;
        if c.len() != time.len() {
            return Err(Corrupt("rollup columns differ in length".into()));
        }
        cols.push(c);
    }
    if count.len() != time.len() {
        return Err(Corrupt("rollup columns differ in length".into()));
    }
    Ok((0..time.len())
        .map(|i| Bucket {
            time: time[i],
            count: count[i],
            sum: cols[0][i],
            min: cols[1][i],
            max: cols[2][i],
            first: cols[3][i],
            last: cols[4][i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips() {
        let ts = vec![-5, 0, 10_000_000_000, 20_000_000_000];
        for (ty, values) in [
            (
                FieldType::Float,
                Values::Bits(
                    [1.5f64, -0.0, f64::MAX, 3.25]
                        .iter()
                        .map(|f| f.to_bits())
                        .collect(),
                ),
            ),
            (
                FieldType::Integer,
                Values::Bits([i64::MIN, -1, 0, i64::MAX].map(|i| i as u64).to_vec()),
            ),
            (FieldType::Unsigned, Values::Bits(vec![0, 1, u64::MAX, 7])),
            (FieldType::Boolean, Values::Bits(vec![1, 0, 0, 1])),
            (
                FieldType::String,
                Values::Text(vec!["".into(), "é\"x".into(), "a\nb".into(), "z".into()]),
            ),
        ] {
            let b = encode(ty, &ts, &values);
            assert_eq!(decode(&b).unwrap(), (ty, ts.clone(), values));
        }
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let b = encode(FieldType::Float, &[1, 2], &Values::Bits(vec![1, 2]));
        for cut in 0..b.len() {
            assert!(decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_rollup(&[VERSION, 9, 9]).is_err());
    }

    #[test]
    fn rollups_keep_count_sum_min_max_first_last() {
        let m = 60_000_000_000;
        let ts = [0, m, 2 * m, 5 * m, 11 * m];
        let bits: Vec<u64> = [4.0f64, 1.0, 7.0, 2.0, 3.0]
            .iter()
            .map(|f| f.to_bits())
            .collect();
        let r = rollup(FieldType::Float, &ts, &bits);
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0],
            Bucket {
                time: 0,
                count: 3,
                sum: 12.0,
                min: 1.0,
                max: 7.0,
                first: 4.0,
                last: 7.0
            }
        );
        assert_eq!((r[1].time, r[1].count), (5 * m, 1));
        assert_eq!((r[2].time, r[2].sum), (10 * m, 3.0));
        assert_eq!(decode_rollup(&encode_rollup(&r)).unwrap(), r);
    }

    #[test]
    fn hourly_buckets_from_five_minute_ones_equal_those_from_points() {
        let m = 60_000_000_000;
        // three hours of points every 7 minutes, from before the epoch, and a gap
        let ts: Vec<i64> = (-30..150)
            .map(|i| i * 7 * m)
            .filter(|t| !(60 * m..2 * 60 * m).contains(t))
            .collect();
        let bits: Vec<u64> = ts
            .iter()
            .map(|&t| ((t / m) as f64 * 0.5 - 3.0).to_bits())
            .collect();
        let fine = rollup(FieldType::Float, &ts, &bits);
        let hourly = rollup_at(FieldType::Float, &ts, &bits, HOUR_NS);
        assert_eq!(coarsen(&fine, HOUR_NS), hourly);
        assert!(hourly.iter().all(|b| b.time % HOUR_NS == 0));
        assert_eq!(hourly.iter().map(|b| b.count).sum::<u64>(), ts.len() as u64);
        assert!(
            !hourly.iter().any(|b| b.time == 60 * m),
            "the empty hour is left out"
        );
    }
}
