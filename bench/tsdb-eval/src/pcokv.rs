//! Candidate 2: columns compressed with pco over redb. A sketch, not an engine: enough to measure
//! compression, scan speed and the write path an own engine would have (a WAL fsynced per batch,
//! in-memory heads, blocks sealed at a block boundary and written to redb, 5-minute rollups
//! computed at sealing).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use pco::ChunkConfig;
use pco::standalone::{simple_compress, simple_decompress};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use crate::data::V;

/// (series id, block start ms) → [type u8][ts len u32][pco timestamps][pco values]
pub const BLOCKS: TableDefinition<(u32, i64), &[u8]> = TableDefinition::new("blocks");
/// (series id, block start ms) → [n u32][pco sums f64][pco counts u64], 5-minute buckets
pub const ROLLUPS: TableDefinition<(u32, i64), &[u8]> = TableDefinition::new("rollup_5m");
/// series key (measurement,sorted tags field) → series id
pub const SERIES: TableDefinition<&str, u32> = TableDefinition::new("series");

pub const ROLLUP_MS: i64 = 300_000;

pub fn encode_block(ts: &[i64], vs: &[V]) -> Vec<u8> {
    let cfg = ChunkConfig::default();
    let tsb = simple_compress(ts, &cfg).unwrap();
    let tag = vs.first().map(|v| v.tag()).unwrap_or(0);
    let vb = match tag {
        0 => simple_compress(&vs.iter().map(|v| v.as_f64()).collect::<Vec<f64>>(), &cfg),
        1 => simple_compress(
            &vs.iter().map(|v| v.bits() as i64).collect::<Vec<i64>>(),
            &cfg,
        ),
        _ => simple_compress(&vs.iter().map(|v| v.bits()).collect::<Vec<u64>>(), &cfg),
    }
    .unwrap();
    let mut out = Vec::with_capacity(5 + tsb.len() + vb.len());
    out.push(tag);
    out.extend_from_slice(&(tsb.len() as u32).to_le_bytes());
    out.extend_from_slice(&tsb);
    out.extend_from_slice(&vb);
    out
}

/// Decodes a block's timestamps and its values as f64 (what an aggregation reads).
pub fn decode_block_f64(b: &[u8], ts: &mut Vec<i64>, vs: &mut Vec<f64>) {
    let tag = b[0];
    let tl = u32::from_le_bytes(b[1..5].try_into().unwrap()) as usize;
    *ts = simple_decompress::<i64>(&b[5..5 + tl]).unwrap();
    let rest = &b[5 + tl..];
    *vs = match tag {
        0 => simple_decompress::<f64>(rest).unwrap(),
        1 => simple_decompress::<i64>(rest)
            .unwrap()
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        _ => simple_decompress::<u64>(rest)
            .unwrap()
            .into_iter()
            .map(|v| v as f64)
            .collect(),
    };
}

/// Decodes a block exactly (typed), for the correctness check.
pub fn decode_block(b: &[u8]) -> (Vec<i64>, Vec<V>) {
    let tag = b[0];
    let tl = u32::from_le_bytes(b[1..5].try_into().unwrap()) as usize;
    let ts = simple_decompress::<i64>(&b[5..5 + tl]).unwrap();
    let rest = &b[5 + tl..];
    let vs = match tag {
        0 => simple_decompress::<f64>(rest)
            .unwrap()
            .into_iter()
            .map(V::F)
            .collect(),
        1 => simple_decompress::<i64>(rest)
            .unwrap()
            .into_iter()
            .map(V::I)
            .collect(),
        _ => simple_decompress::<u64>(rest)
            .unwrap()
            .into_iter()
            .map(V::U)
            .collect(),
    };
    (ts, vs)
}

fn encode_rollup(block_start: i64, block_ms: i64, ts: &[i64], vs: &[V]) -> Vec<u8> {
    let n = (block_ms / ROLLUP_MS) as usize;
    let mut sums = vec![0f64; n];
    let mut counts = vec![0u64; n];
    for (t, v) in ts.iter().zip(vs) {
        let i = ((t - block_start) / ROLLUP_MS) as usize;
        sums[i] += v.as_f64();
        counts[i] += 1;
    }
    let cfg = ChunkConfig::default();
    let sb = simple_compress(&sums, &cfg).unwrap();
    let cb = simple_compress(&counts, &cfg).unwrap();
    let mut out = Vec::with_capacity(4 + sb.len() + cb.len());
    out.extend_from_slice(&(sb.len() as u32).to_le_bytes());
    out.extend_from_slice(&sb);
    out.extend_from_slice(&cb);
    out
}

pub fn decode_rollup(b: &[u8]) -> (Vec<f64>, Vec<u64>) {
    let sl = u32::from_le_bytes(b[0..4].try_into().unwrap()) as usize;
    (
        simple_decompress::<f64>(&b[4..4 + sl]).unwrap(),
        simple_decompress::<u64>(&b[4 + sl..]).unwrap(),
    )
}

/// CRC-32 (IEEE), table-driven: the WAL's record check.
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut c = !0u32;
    for &b in data {
        c = t[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[derive(Default)]
pub struct Head {
    start: i64,
    tag: u8,
    pub ts: Vec<i64>,
    vs: Vec<u64>,
}

/// The write path of an own engine, minimal: append the batch to the WAL and fdatasync it (the
/// acknowledgement), apply it to the per-series heads (same timestamp: last value wins), and
/// when a series crosses a block boundary compress its finished block with pco and store it.
pub struct MiniEngine {
    pub db: Database,
    wal: File,
    pub heads: Vec<Head>,
    pub block_ms: i64,
    walbuf: Vec<u8>,
    pub sealed_blocks: u64,
    pub sealed_bytes: u64,
    /// time spent sealing blocks (compressing, writing to redb) inside write_batch
    pub seal_time: std::time::Duration,
    pub fsync_per_batch: bool,
}

pub struct Pt {
    pub sid: u32,
    pub ts: i64,
    pub v: V,
}

const WAL_REC: usize = 4 + 8 + 1 + 8;

impl MiniEngine {
    pub fn create(dir: &Path, block_ms: i64) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let db = Database::create(dir.join("blocks.redb")).unwrap();
        {
            let w = db.begin_write().unwrap();
            w.open_table(BLOCKS).unwrap();
            w.open_table(ROLLUPS).unwrap();
            w.open_table(SERIES).unwrap();
            w.commit().unwrap();
        }
        let wal_path = dir.join("wal.log");
        let wal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&wal_path)
            .unwrap();
        MiniEngine {
            db,
            wal,
            heads: Vec::new(),
            block_ms,
            walbuf: Vec::new(),
            sealed_blocks: 0,
            sealed_bytes: 0,
            seal_time: std::time::Duration::ZERO,
            fsync_per_batch: true,
        }
    }

    /// Registers new series (id = position); durable in the same commit as their first batch
    /// would be in a real engine, here one redb commit per call.
    pub fn add_series(&mut self, keys: &[String]) {
        let w = self.db.begin_write().unwrap();
        {
            let mut t = w.open_table(SERIES).unwrap();
            for k in keys {
                t.insert(k.as_str(), self.heads.len() as u32).unwrap();
                self.heads.push(Head::default());
            }
        }
        w.commit().unwrap();
    }

    pub fn write_batch(&mut self, pts: &[Pt]) {
        // 1. the WAL: one record of the whole batch, its CRC, then fdatasync = acknowledgement
        self.walbuf.clear();
        self.walbuf
            .extend_from_slice(&(pts.len() as u32).to_le_bytes());
        self.walbuf.extend_from_slice(&[0u8; 4]);
        for p in pts {
            self.walbuf.extend_from_slice(&p.sid.to_le_bytes());
            self.walbuf.extend_from_slice(&p.ts.to_le_bytes());
            self.walbuf.push(p.v.tag());
            self.walbuf.extend_from_slice(&p.v.bits().to_le_bytes());
        }
        let crc = crc32(&self.walbuf[8..]);
        self.walbuf[4..8].copy_from_slice(&crc.to_le_bytes());
        self.wal.write_all(&self.walbuf).unwrap();
        if self.fsync_per_batch {
            self.wal.sync_data().unwrap();
        }
        // 2. the heads
        let mut to_seal: Vec<(u32, Head)> = Vec::new();
        for p in pts {
            let block = p.ts.div_euclid(self.block_ms) * self.block_ms;
            let h = &mut self.heads[p.sid as usize];
            if !h.ts.is_empty() && block != h.start {
                let cap = h.ts.len();
                let old = std::mem::replace(
                    h,
                    Head {
                        start: block,
                        tag: p.v.tag(),
                        ts: Vec::with_capacity(cap),
                        vs: Vec::with_capacity(cap),
                    },
                );
                to_seal.push((p.sid, old));
            }
            let h = &mut self.heads[p.sid as usize];
            if h.ts.is_empty() {
                h.start = block;
                h.tag = p.v.tag();
            }
            match h.ts.last() {
                Some(&last) if last == p.ts => *h.vs.last_mut().unwrap() = p.v.bits(),
                Some(&last) if last > p.ts => {
                    // out of order: insert in place, or overwrite an equal timestamp
                    match h.ts.binary_search(&p.ts) {
                        Ok(i) => h.vs[i] = p.v.bits(),
                        Err(i) => {
                            h.ts.insert(i, p.ts);
                            h.vs.insert(i, p.v.bits());
                        }
                    }
                }
                _ => {
                    h.ts.push(p.ts);
                    h.vs.push(p.v.bits());
                }
            }
        }
        if !to_seal.is_empty() {
            let t = std::time::Instant::now();
            self.seal(to_seal);
            self.seal_time += t.elapsed();
        }
    }

    fn seal(&mut self, heads: Vec<(u32, Head)>) {
        let w = self.db.begin_write().unwrap();
        {
            let mut blocks = w.open_table(BLOCKS).unwrap();
            let mut rollups = w.open_table(ROLLUPS).unwrap();
            for (sid, h) in heads {
                let vs: Vec<V> = h.vs.iter().map(|&b| V::from_bits(h.tag, b)).collect();
                let b = encode_block(&h.ts, &vs);
                let r = encode_rollup(h.start, self.block_ms, &h.ts, &vs);
                self.sealed_blocks += 1;
                self.sealed_bytes += b.len() as u64;
                blocks.insert((sid, h.start), b.as_slice()).unwrap();
                rollups.insert((sid, h.start), r.as_slice()).unwrap();
            }
        }
        w.commit().unwrap();
    }

    /// Seals every head (end of the load) and makes it durable.
    pub fn flush_all(&mut self) {
        let heads: Vec<(u32, Head)> = self
            .heads
            .iter_mut()
            .enumerate()
            .filter(|(_, h)| !h.ts.is_empty())
            .map(|(i, h)| (i as u32, std::mem::take(h)))
            .collect();
        if !heads.is_empty() {
            self.seal(heads);
        }
        let mut w = self.db.begin_write().unwrap();
        w.set_durability(Durability::Immediate).unwrap();
        w.commit().unwrap();
        // every point is in a block now: the WAL can go
        self.wal.set_len(0).unwrap();
        self.wal.sync_all().unwrap();
    }
}

/// What an own engine does to be ready after a restart: open the KV store, load the series
/// catalog into memory with a tag → series index, and replay the WAL into the heads.
pub struct Reopened {
    /// open for the queries that would follow
    #[allow(dead_code)]
    pub db: Database,
    pub by_key: HashMap<Box<str>, u32>,
    pub by_tag: HashMap<Box<str>, Vec<u32>>,
    pub heads: Vec<Head>,
    pub replayed: u64,
    /// open + catalog + tag index, then the WAL replay
    pub catalog_ms: f64,
    pub replay_ms: f64,
}

pub fn reopen(dir: &Path) -> Reopened {
    let t = std::time::Instant::now();
    let db = Database::open(dir.join("blocks.redb")).unwrap();
    let mut by_key: HashMap<Box<str>, u32> = HashMap::new();
    let mut by_tag: HashMap<Box<str>, Vec<u32>> = HashMap::new();
    {
        let r = db.begin_read().unwrap();
        let t = r.open_table(SERIES).unwrap();
        by_key.reserve(t.len().unwrap() as usize);
        for e in t.iter().unwrap() {
            let (k, v) = e.unwrap();
            let key = k.value();
            let id = v.value();
            // "measurement,k=v,k=v field": index the measurement and every tag pair
            let (series, _field) = key.rsplit_once(' ').unwrap_or((key, ""));
            for part in series.split(',') {
                match by_tag.get_mut(part) {
                    Some(ids) => ids.push(id),
                    None => {
                        by_tag.insert(part.into(), vec![id]);
                    }
                }
            }
            by_key.insert(key.into(), id);
        }
    }
    let catalog_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let mut heads: Vec<Head> = Vec::new();
    heads.resize_with(by_key.len(), Head::default);
    let mut buf = Vec::new();
    File::open(dir.join("wal.log"))
        .unwrap()
        .read_to_end(&mut buf)
        .unwrap();
    let mut off = 0;
    let mut replayed = 0u64;
    while off + 8 <= buf.len() {
        let n = u32::from_le_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(buf[off + 4..off + 8].try_into().unwrap());
        let end = off + 8 + n * WAL_REC;
        if end > buf.len() || crc32(&buf[off + 8..end]) != crc {
            break; // a torn tail: the batch was never acknowledged
        }
        for r in buf[off + 8..end].chunks_exact(WAL_REC) {
            let sid = u32::from_le_bytes(r[0..4].try_into().unwrap()) as usize;
            let ts = i64::from_le_bytes(r[4..12].try_into().unwrap());
            let tag = r[12];
            let bits = u64::from_le_bytes(r[13..21].try_into().unwrap());
            let h = &mut heads[sid];
            h.tag = tag;
            if h.ts.last() == Some(&ts) {
                *h.vs.last_mut().unwrap() = bits;
            } else {
                h.ts.push(ts);
                h.vs.push(bits);
            }
            replayed += 1;
        }
        off = end;
    }
    let replay_ms = t.elapsed().as_secs_f64() * 1e3;
    Reopened {
        db,
        by_key,
        by_tag,
        heads,
        replayed,
        catalog_ms,
        replay_ms,
    }
}

/// The 7-day mean at `interval_ms` per series, from raw blocks: returns per-series bucket means.
pub fn query_raw(
    db: &Database,
    sids: &[u32],
    start: i64,
    end: i64,
    interval_ms: i64,
    block_ms: i64,
) -> Vec<Vec<f64>> {
    let nb = ((end - start) / interval_ms) as usize;
    let r = db.begin_read().unwrap();
    let t = r.open_table(BLOCKS).unwrap();
    let mut out = Vec::with_capacity(sids.len());
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    for &sid in sids {
        let mut sums = vec![0f64; nb];
        let mut counts = vec![0u32; nb];
        // a block that starts before `start` may still hold points in range: start one block early
        for e in t.range((sid, start - block_ms + 1)..(sid, end)).unwrap() {
            let (_, v) = e.unwrap();
            decode_block_f64(v.value(), &mut ts, &mut vs);
            for (&t, &v) in ts.iter().zip(vs.iter()) {
                if t >= start && t < end {
                    let i = ((t - start) / interval_ms) as usize;
                    sums[i] += v;
                    counts[i] += 1;
                }
            }
        }
        out.push(
            sums.iter()
                .zip(&counts)
                .map(|(s, &c)| if c > 0 { s / c as f64 } else { f64::NAN })
                .collect(),
        );
    }
    out
}

/// The same from the 5-minute rollups (sum and count per bucket), merged into `interval_ms`.
pub fn query_rollup(
    db: &Database,
    sids: &[u32],
    start: i64,
    end: i64,
    interval_ms: i64,
) -> Vec<Vec<f64>> {
    let nb = ((end - start) / interval_ms) as usize;
    let r = db.begin_read().unwrap();
    let t = r.open_table(ROLLUPS).unwrap();
    let mut out = Vec::with_capacity(sids.len());
    for &sid in sids {
        let mut sums = vec![0f64; nb];
        let mut counts = vec![0u64; nb];
        for e in t.range((sid, start)..(sid, end)).unwrap() {
            let (k, v) = e.unwrap();
            let block_start = k.value().1;
            let (s, c) = decode_rollup(v.value());
            for (i, (s, c)) in s.iter().zip(&c).enumerate() {
                let bt = block_start + i as i64 * ROLLUP_MS;
                if bt >= start && bt < end && *c > 0 {
                    let j = ((bt - start) / interval_ms) as usize;
                    sums[j] += s;
                    counts[j] += c;
                }
            }
        }
        out.push(
            sums.iter()
                .zip(&counts)
                .map(|(s, &c)| if c > 0 { s / c as f64 } else { f64::NAN })
                .collect(),
        );
    }
    out
}
