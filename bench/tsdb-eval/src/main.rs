//! Issue 17: the embedded metrics engine, chosen by measurement.
//!
//! `cargo run --release` runs every measurement on the same deterministic synthetic host metrics
//! (src/data.rs) for each candidate and prints the tables that docs/performance.md
//! ("Metrics engine choice (issue 17)") records:
//!
//! 1. tsink (crates.io), an embedded time-series engine;
//! 2. columns compressed with pco over redb (src/pcokv.rs: a sketch of an own engine's write
//!    path, blocks and rollups, not an engine);
//! 3. Gorilla (delta-of-delta timestamps, XOR floats) as the reference for bytes per point.
//!
//! The 1,000,000-series measurements run in child processes (this binary with `child ...`) so
//! that each one's peak RSS is its own. `TSDB_EVAL_QUICK=1` shrinks everything for a smoke test;
//! `TSDB_EVAL_TSINK_SERIES=100000,200000` sets the two series counts tsink is measured at;
//! `TSDB_EVAL_ONLY=ingest,store,query,series` runs only those sections;
//! `TSDB_EVAL_DIR` sets where the stores go (default: a fresh folder under the temp dir).

mod data;
mod gorilla;
mod pcokv;
mod tsink_bench;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tsink::WalSyncMode;

use data::{BatchStream, DAY_MS, FIELDS, INTERVAL_MS, POINTS_PER_DAY, V};

const BATCH: usize = 5_000;

struct Cfg {
    quick: bool,
    runs: usize,
    query_runs: usize,
    ingest_hosts: u32,
    ingest_points: usize,
    store_hosts: u32,
    days: usize,
    query_series: u32,
    million: usize,
    million_rounds: usize,
}

impl Cfg {
    fn from_env() -> Self {
        let quick = std::env::var("TSDB_EVAL_QUICK").is_ok_and(|v| v == "1");
        if quick {
            Cfg {
                quick,
                runs: 3,
                query_runs: 3,
                ingest_hosts: 20,
                ingest_points: 100_000,
                store_hosts: 2,
                days: 2,
                query_series: 10,
                million: 20_000,
                million_rounds: 4,
            }
        } else {
            Cfg {
                quick,
                runs: 3,
                query_runs: 5,
                ingest_hosts: 100,
                ingest_points: 1_000_000,
                store_hosts: 4,
                days: 7,
                query_series: 100,
                million: 1_000_000,
                million_rounds: 4,
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Day-aligned start of the 7 days of data: they end a day ago (tsink keeps what is recent).
fn data_start(days: usize) -> i64 {
    (now_ms() / DAY_MS - days as i64 - 1) * DAY_MS
}

fn min_median(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (s[0], med)
}

fn max_median(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (_, med) = min_median(v);
    (s[s.len() - 1], med)
}

fn dir_size(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                let (a, b) = dir_size(&e.path());
                apparent += a;
                allocated += b;
            } else {
                apparent += m.len();
                allocated += m.blocks() * 512;
            }
        }
    }
    (apparent, allocated)
}

fn subdir_sizes(p: &Path) -> String {
    let mut parts = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        let mut es: Vec<_> = rd.flatten().collect();
        es.sort_by_key(|e| e.file_name());
        for e in es {
            let m = e.metadata().unwrap();
            let size = if m.is_dir() {
                dir_size(&e.path()).0
            } else {
                m.len()
            };
            if size > 0 {
                parts.push(format!(
                    "{}={}",
                    e.file_name().to_string_lossy(),
                    human(size)
                ));
            }
        }
    }
    parts.join(" ")
}

fn human(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

/// VmRSS and VmHWM of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    dir.to_path_buf()
}

/// The result table: one line per figure.
struct Report {
    lines: Vec<String>,
}

impl Report {
    fn row(&mut self, goal: &str, candidate: &str, what: &str, figure: String) {
        let line = format!("| {goal} | {candidate} | {what} | {figure} |");
        println!("{line}");
        self.lines.push(line);
    }
}

fn fmt_rate(v: &[f64]) -> String {
    let (_, med) = min_median(v);
    let mut s = v.to_vec();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    format!(
        "best {:.2} M/s, median {:.2} M/s (runs: {})",
        s[0] / 1e6,
        med / 1e6,
        v.iter()
            .map(|x| format!("{:.2}", x / 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn fmt_ms(v: &[f64]) -> String {
    let (min, med) = min_median(v);
    format!(
        "min {:.1} ms, median {:.1} ms (runs: {})",
        min,
        med,
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Expected 10-minute means of a generated series (the reference the queries are checked on).
fn reference_means(h: u32, fi: usize, start: i64, days: usize, interval: i64) -> Vec<f64> {
    let (ts, vs) = data::series_points(h, fi, start, days * POINTS_PER_DAY);
    let nb = (days as i64 * DAY_MS / interval) as usize;
    let mut sums = vec![0.0; nb];
    let mut counts = vec![0u32; nb];
    for (t, v) in ts.iter().zip(vs) {
        let i = ((t - start) / interval) as usize;
        sums[i] += v.as_f64();
        counts[i] += 1;
    }
    sums.iter().zip(counts).map(|(s, c)| s / c as f64).collect()
}

fn check_means(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: bucket count");
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| ((g - w) / w.abs().max(1e-9)).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 1e-9,
        "{name}: means differ from the reference (relative {worst:e})"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2], Path::new(&args[3]), &args[4..]);
        return;
    }
    let cfg = Cfg::from_env();
    let base = std::env::var_os("TSDB_EVAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("tsdb-eval-{}", std::process::id())));
    std::fs::create_dir_all(&base).unwrap();
    let started = Instant::now();
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        .unwrap_or_default();
    println!(
        "# tsdb-eval: {} cores ({cpu}), load average at start {}",
        std::thread::available_parallelism().unwrap(),
        loadavg()
    );
    println!(
        "# stores under {}{}",
        base.display(),
        if cfg.quick {
            " (QUICK: small sizes)"
        } else {
            ""
        }
    );
    let mut rep = Report { lines: Vec::new() };
    // TSDB_EVAL_ONLY=ingest,store,query,series runs only those sections (semantics always run)
    let only = std::env::var("TSDB_EVAL_ONLY").ok();
    let want = |section: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == section))
    };

    // ---------------------------------------------------------------- semantics
    println!("\n## tsink: what jeny needs beyond speed");
    for f in tsink_bench::semantics(&fresh(&base.join("semantics"))) {
        println!("- {f}");
    }

    // ---------------------------------------------------------------- fsync cost of this disk
    {
        let dir = fresh(&base.join("fsync"));
        let mut f = std::fs::File::create(dir.join("f")).unwrap();
        let buf = vec![7u8; 105_000];
        let mut times = Vec::new();
        for _ in 0..50 {
            use std::io::Write;
            f.write_all(&buf).unwrap();
            let t = Instant::now();
            f.sync_data().unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (min, med) = min_median(&times);
        println!(
            "\n# this disk: fdatasync after appending 105 KB: min {min:.2} ms, median {med:.2} ms (50 runs)"
        );
    }

    println!("\n| goal | candidate | measurement | figure |\n|---|---|---|---|");

    let start = data_start(cfg.days);
    let n_per_series = cfg.days * POINTS_PER_DAY;

    // ---------------------------------------------------------------- ingest
    if want("ingest") {
        // Two batch shapes: "wide", 100 hosts' 5,500 series, so a 5,000-point batch holds about one
        // point per series (many agents' flushes gathered by a server); "narrow", 10 hosts' 550
        // series, about 9 points per series per batch (a backlog, an importer).
        // From 23:50 the day before: every run crosses midnight, so the sketch seals its blocks once.
        let ingest_start = (now_ms() / DAY_MS - 1) * DAY_MS - 600_000;
        let goal = "ingest, 5,000-point batches";
        for (shape, hosts, points) in [
            ("wide", cfg.ingest_hosts, cfg.ingest_points / 2),
            ("narrow", cfg.ingest_hosts / 10, cfg.ingest_points),
        ] {
            let ingest_series = data::all_fields(hosts);
            let what = |label: &str| {
                format!(
                    "{shape}: {} series, {points} points; {label}",
                    ingest_series.len()
                )
            };
            for (label, mode) in [
                ("WAL fsync per batch (PerAppend)", WalSyncMode::PerAppend),
                (
                    "WAL fsync every 1 s (Periodic)",
                    WalSyncMode::Periodic(Duration::from_secs(1)),
                ),
            ] {
                let mut rates = Vec::new();
                let mut durable = 0;
                for run in 0..cfg.runs {
                    let dir = fresh(&base.join(format!("tsink-ingest-{run}")));
                    let s = tsink_bench::open(&dir, mode);
                    let mut stream = BatchStream::new(ingest_series.clone(), ingest_start, points);
                    let st = tsink_bench::load(&*s, &mut stream, BATCH);
                    s.close().unwrap();
                    rates.push(st.points as f64 / st.insert.as_secs_f64());
                    durable = st.durable_acks * 100 / st.batches;
                    let _ = std::fs::remove_dir_all(&dir);
                }
                rep.row(
                    goal,
                    "tsink",
                    &what(&format!("{label}, {durable}% of acks Durable")),
                    fmt_rate(&rates),
                );
            }
            {
                // two writer threads (this machine has 2 cores), alternate batches, rows built ahead
                let mut rates = Vec::new();
                for run in 0..cfg.runs {
                    let dir = fresh(&base.join(format!("tsink-ingest2-{run}")));
                    let s = tsink_bench::open(&dir, WalSyncMode::PerAppend);
                    let batches = tsink_bench::build_batches(
                        &mut BatchStream::new(ingest_series.clone(), ingest_start, points),
                        BATCH,
                    );
                    let t = Instant::now();
                    std::thread::scope(|sc| {
                        for k in 0..2 {
                            let (s, batches) = (&s, &batches);
                            sc.spawn(move || {
                                for b in batches.iter().skip(k).step_by(2) {
                                    s.insert_rows(b).unwrap();
                                }
                            });
                        }
                    });
                    rates.push(points as f64 / t.elapsed().as_secs_f64());
                    s.close().unwrap();
                    let _ = std::fs::remove_dir_all(&dir);
                }
                rep.row(
                    goal,
                    "tsink",
                    &what("PerAppend, 2 writer threads"),
                    fmt_rate(&rates),
                );
            }
            for (label, fsync) in [
                ("own WAL, fdatasync per batch", true),
                ("own WAL, no fsync", false),
            ] {
                let mut rates = Vec::new();
                let mut seal_share = Vec::new();
                for run in 0..cfg.runs {
                    let dir = fresh(&base.join(format!("pco-ingest-{run}")));
                    let mut e = pcokv::MiniEngine::create(&dir, DAY_MS);
                    e.fsync_per_batch = fsync;
                    let keys: Vec<String> = ingest_series
                        .iter()
                        .map(|&(h, fi)| data::series_key(h, fi))
                        .collect();
                    e.add_series(&keys);
                    let mut stream = BatchStream::new(ingest_series.clone(), ingest_start, points);
                    let t = Instant::now();
                    let (rate, _) = mini_load(&mut e, &mut stream);
                    seal_share.push(e.seal_time.as_secs_f64() / t.elapsed().as_secs_f64() * 100.0);
                    rates.push(rate);
                    drop(e);
                    let _ = std::fs::remove_dir_all(&dir);
                }
                rep.row(
                    goal,
                    "pco + redb sketch",
                    &what(&format!(
                        "{label}, 1-day blocks sealed at midnight (sealing {:.0} % of the time)",
                        min_median(&seal_share).1
                    )),
                    fmt_rate(&rates),
                );
            }
        }
    }

    // ---------------------------------------------------------------- bytes per point
    if want("store") {
        let goal = "bytes per point on disk (host metrics)";
        let store_series = data::all_fields(cfg.store_hosts);
        let total_points = store_series.len() * n_per_series;
        println!(
            "# store data set: {} hosts x {} fields = {} series x {} days at 10 s = {} points",
            cfg.store_hosts,
            FIELDS.len(),
            store_series.len(),
            cfg.days,
            total_points
        );
        {
            // offline: pco blocks of 2 h and 1 day, Gorilla blocks of 2 h; bytes per field kind
            let mut pco_2h = 0usize;
            let mut pco_1d = 0usize;
            let mut gor_2h = 0usize;
            let mut per_meas: HashMap<&str, (usize, usize, usize)> = HashMap::new();
            let mut per_type: HashMap<&str, (usize, usize, usize)> = HashMap::new();
            for &(h, fi) in &store_series {
                let (ts, vs) = data::series_points(h, fi, start, n_per_series);
                let block = |b: usize| -> usize {
                    ts.chunks(b)
                        .zip(vs.chunks(b))
                        .map(|(t, v)| pcokv::encode_block(t, v).len())
                        .sum()
                };
                let p2 = block(720);
                let p1 = block(POINTS_PER_DAY);
                let bits: Vec<u64> = vs.iter().map(|v| v.as_f64().to_bits()).collect();
                let g2: usize = ts
                    .chunks(720)
                    .zip(bits.chunks(720))
                    .map(|(t, v)| gorilla::encode(t, v).len())
                    .sum();
                pco_2h += p2;
                pco_1d += p1;
                gor_2h += g2;
                let e = per_meas.entry(FIELDS[fi].measurement).or_default();
                e.0 += p1;
                e.1 += g2;
                e.2 += n_per_series;
                let ty = match vs[0] {
                    V::F(_) => "float",
                    V::I(_) => "integer",
                    V::U(_) => "unsigned",
                };
                let e = per_type.entry(ty).or_default();
                e.0 += p1;
                e.1 += g2;
                e.2 += n_per_series;
            }
            let tp = total_points as f64;
            rep.row(
                goal,
                "pco (payload only)",
                "2-hour blocks (720 points), timestamps + values",
                format!("{:.3} B/point", pco_2h as f64 / tp),
            );
            rep.row(
                goal,
                "pco (payload only)",
                "1-day blocks (8,640 points), timestamps + values",
                format!("{:.3} B/point", pco_1d as f64 / tp),
            );
            rep.row(
                goal,
                "Gorilla (reference)",
                "2-hour blocks, dod timestamps + XOR values (ints as f64)",
                format!("{:.3} B/point", gor_2h as f64 / tp),
            );
            let mut ms: Vec<_> = per_meas.into_iter().collect();
            ms.sort();
            println!(
                "# per measurement, B/point pco 1-day / Gorilla 2-h: {}",
                ms.iter()
                    .map(|(m, (p, g, n))| format!(
                        "{m} {:.2}/{:.2}",
                        *p as f64 / *n as f64,
                        *g as f64 / *n as f64
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut ts: Vec<_> = per_type.into_iter().collect();
            ts.sort();
            println!(
                "# per type, B/point pco 1-day / Gorilla 2-h: {}",
                ts.iter()
                    .map(|(m, (p, g, n))| format!(
                        "{m} {:.2}/{:.2}",
                        *p as f64 / *n as f64,
                        *g as f64 / *n as f64
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        {
            // tsink: load in 5,000-point batches, close (flushes), measure the data dir
            let dir = fresh(&base.join("tsink-store"));
            let s = tsink_bench::open(&dir, WalSyncMode::Periodic(Duration::from_secs(1)));
            let mut stream = BatchStream::new(store_series.clone(), start, total_points);
            let t = Instant::now();
            let st = tsink_bench::load(&*s, &mut stream, BATCH);
            let wall = t.elapsed();
            let t = Instant::now();
            s.close().unwrap();
            let close = t.elapsed();
            let (app, alloc) = dir_size(&dir);
            rep.row(
                "ingest, sustained (7 days of data)",
                "tsink",
                &format!(
                    "Periodic WAL, {} points incl. flushes; close {:.1} s",
                    st.points,
                    close.as_secs_f64()
                ),
                format!(
                    "{:.2} M/s (insert calls), {:.2} M/s (wall incl. row building)",
                    st.points as f64 / st.insert.as_secs_f64() / 1e6,
                    st.points as f64 / wall.as_secs_f64() / 1e6
                ),
            );
            rep.row(
                goal,
                "tsink",
                &format!("data dir after close: {}", subdir_sizes(&dir)),
                format!(
                    "{:.3} B/point ({:.3} allocated)",
                    app as f64 / total_points as f64,
                    alloc as f64 / total_points as f64
                ),
            );
            // wait for background compaction after a reopen, and measure again
            let s = tsink_bench::open(&dir, WalSyncMode::Periodic(Duration::from_secs(1)));
            let t = Instant::now();
            // correctness: a few series read back exactly, typed
            for &(h, fi) in store_series.iter().step_by(store_series.len() / 7 + 1) {
                let n = tsink_bench::series_name(h, fi);
                let pts = s
                    .select(
                        &n.metric,
                        &n.labels,
                        start,
                        start + n_per_series as i64 * INTERVAL_MS,
                    )
                    .unwrap();
                let (ts, vs) = data::series_points(h, fi, start, n_per_series);
                assert_eq!(pts.len(), ts.len(), "tsink point count for {}", n.metric);
                for (p, (t, v)) in pts.iter().zip(ts.iter().zip(vs)) {
                    assert_eq!(p.timestamp, *t);
                    assert_eq!(
                        tsink_bench::from_value(&p.value),
                        v,
                        "tsink value for {}",
                        n.metric
                    );
                }
            }
            let reopen_check = t.elapsed();
            std::thread::sleep(Duration::from_secs(if cfg.quick { 1 } else { 10 }));
            s.close().unwrap();
            let (app2, _) = dir_size(&dir);
            println!(
                "# tsink: values read back exactly and typed ({:.1} s); after reopen + 10 s + close: {} = {:.3} B/point",
                reopen_check.as_secs_f64(),
                subdir_sizes(&dir),
                app2 as f64 / total_points as f64
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
        {
            // the pco + redb sketch, 1-day blocks, through its write path
            let dir = fresh(&base.join("pco-store"));
            let mut e = pcokv::MiniEngine::create(&dir, DAY_MS);
            let keys: Vec<String> = store_series
                .iter()
                .map(|&(h, fi)| data::series_key(h, fi))
                .collect();
            e.add_series(&keys);
            let mut stream = BatchStream::new(store_series.clone(), start, total_points);
            let (rate, wall) = mini_load(&mut e, &mut stream);
            e.flush_all();
            let sealed = e.sealed_bytes;
            let redb_file = std::fs::metadata(dir.join("blocks.redb")).unwrap().len();
            let mut db = e.db;
            let t = Instant::now();
            while db.compact(redb::CompactionMode::Maximum).unwrap() {}
            let compact = t.elapsed();
            let compacted = std::fs::metadata(dir.join("blocks.redb")).unwrap().len();
            rep.row(
                "ingest, sustained (7 days of data)",
                "pco + redb sketch",
                &format!(
                    "fdatasync per batch, {} points incl. sealing 1-day blocks",
                    total_points
                ),
                format!(
                    "{:.2} M/s (write calls), {:.2} M/s (wall)",
                    rate / 1e6,
                    total_points as f64 / wall / 1e6
                ),
            );
            rep.row(
                goal,
                "pco + redb sketch",
                &format!("1-day blocks + 5-min rollups; blocks payload {}; redb file {} before compaction, {} after ({:.1} s)", human(sealed), human(redb_file), human(compacted), compact.as_secs_f64()),
                format!("{:.3} B/point (file, compacted)", compacted as f64 / total_points as f64),
            );
            // correctness: a few series read back exactly, typed
            let r = redb::ReadableDatabase::begin_read(&db).unwrap();
            let t = r.open_table(pcokv::BLOCKS).unwrap();
            for (sid, &(h, fi)) in store_series
                .iter()
                .enumerate()
                .step_by(store_series.len() / 7 + 1)
            {
                let (ts, vs) = data::series_points(h, fi, start, n_per_series);
                let mut gts = Vec::new();
                let mut gvs = Vec::new();
                for kv in
                    redb::ReadableTable::range(&t, (sid as u32, i64::MIN)..(sid as u32, i64::MAX))
                        .unwrap()
                {
                    let (_, v) = kv.unwrap();
                    let (a, b) = pcokv::decode_block(v.value());
                    gts.extend(a);
                    gvs.extend(b);
                }
                assert_eq!(gts, ts);
                assert_eq!(gvs, vs);
            }
            drop(t);
            drop(r);
            drop(db);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    // ---------------------------------------------------------------- 7-day mean query
    if want("query") {
        let goal = "7-day mean, 10-min interval, 100 series";
        let qseries: Vec<(u32, usize)> = (0..cfg.query_series)
            .map(|h| (h, data::field_index("cpu", "usage_user")))
            .collect();
        let qpoints = qseries.len() * n_per_series;
        let qend = start + cfg.days as i64 * DAY_MS;
        let refs: Vec<Vec<f64>> = qseries
            .iter()
            .take(3)
            .map(|&(h, fi)| reference_means(h, fi, start, cfg.days, 600_000))
            .collect();
        println!(
            "# query data set: cpu usage_user of {} hosts x {} days at 10 s = {} points",
            qseries.len(),
            cfg.days,
            qpoints
        );
        {
            // in a child process with a time limit: tsink 0.10.2 can deadlock in a downsampling
            // query (docs/performance.md); a hung run is killed, counted and run again once
            let mut hangs = 0;
            let args = [
                cfg.query_series.to_string(),
                cfg.days.to_string(),
                cfg.query_runs.to_string(),
            ];
            let r = loop {
                let dir = fresh(&base.join("tsink-query"));
                let r = run_child_timeout("tsink-query", &dir, &args, Duration::from_secs(300));
                let _ = std::fs::remove_dir_all(&dir);
                match r {
                    Some(r) => break Some(r),
                    None if hangs == 0 => hangs += 1,
                    None => break None,
                }
            };
            if hangs > 0 {
                rep.row(
                    goal,
                    "tsink",
                    "runs that hung (deadlock) and were killed after 300 s",
                    format!("{hangs}"),
                );
            }
            match r {
                Some(r) => {
                    let get = |k: &str| {
                        (0..cfg.query_runs)
                            .map(|i| r[&format!("{k}_{i}")])
                            .collect::<Vec<f64>>()
                    };
                    rep.row(
                        goal,
                        "tsink",
                        &format!(
                            "raw, select_with_options + downsample Avg per series, {qpoints} points"
                        ),
                        fmt_ms(&get("raw_ms")),
                    );
                    println!(
                        "# tsink rollups: materialised in {:.1} s",
                        r["materialise_s"]
                    );
                    rep.row(
                        goal,
                        "tsink",
                        &format!(
                            "5-min Avg rollup policy, 2 buckets averaged into 10 min (rollup plans {}, partial {}, rollup points read {})",
                            r["rollup_plans"], r["partial_plans"], r["rollup_points"]
                        ),
                        fmt_ms(&get("rollup_ms")),
                    );
                }
                None => rep.row(
                    goal,
                    "tsink",
                    "raw and rollup queries",
                    "hung twice (deadlock), no figure".into(),
                ),
            }
        }
        for (label, block_ms) in [("1-day blocks", DAY_MS), ("2-hour blocks", 7_200_000)] {
            let dir = fresh(&base.join("pco-query"));
            let mut e = pcokv::MiniEngine::create(&dir, block_ms);
            let keys: Vec<String> = qseries
                .iter()
                .map(|&(h, fi)| data::series_key(h, fi))
                .collect();
            e.add_series(&keys);
            e.fsync_per_batch = false;
            let mut stream = BatchStream::new(qseries.clone(), start, qpoints);
            mini_load(&mut e, &mut stream);
            e.flush_all();
            drop(e);
            let db = redb::Database::open(dir.join("blocks.redb")).unwrap();
            let sids: Vec<u32> = (0..qseries.len() as u32).collect();
            let mut times = Vec::new();
            for _ in 0..cfg.query_runs {
                let t = Instant::now();
                let res = pcokv::query_raw(&db, &sids, start, qend, 600_000, block_ms);
                times.push(t.elapsed().as_secs_f64() * 1e3);
                for (i, want) in refs.iter().enumerate() {
                    check_means("pco raw", &res[i], want);
                }
            }
            rep.row(
                goal,
                "pco + redb sketch",
                &format!("raw, {label}, decompress + aggregate, 1 thread"),
                fmt_ms(&times),
            );
            let mut times = Vec::new();
            for _ in 0..cfg.query_runs {
                let t = Instant::now();
                let res = pcokv::query_rollup(&db, &sids, start, qend, 600_000);
                times.push(t.elapsed().as_secs_f64() * 1e3);
                for (i, want) in refs.iter().enumerate() {
                    let worst = res[i]
                        .iter()
                        .zip(want)
                        .map(|(g, w)| ((g - w) / w).abs())
                        .fold(0.0, f64::max);
                    assert!(worst < 1e-9, "pco rollup means off by {worst:e}");
                }
            }
            rep.row(
                goal,
                "pco + redb sketch",
                &format!("5-min rollups (sum + count), {label}"),
                fmt_ms(&times),
            );
            drop(db);
            let _ = std::fs::remove_dir_all(&dir);
        }
        {
            // Gorilla decode + aggregate, blocks in memory (no store): the reference scan
            let blocks: Vec<Vec<Vec<u8>>> = qseries
                .iter()
                .map(|&(h, fi)| {
                    let (ts, vs) = data::series_points(h, fi, start, n_per_series);
                    let bits: Vec<u64> = vs.iter().map(|v| v.as_f64().to_bits()).collect();
                    ts.chunks(720)
                        .zip(bits.chunks(720))
                        .map(|(t, v)| gorilla::encode(t, v))
                        .collect()
                })
                .collect();
            let mut times = Vec::new();
            let nb = (qend - start) as usize / 600_000;
            for _ in 0..cfg.query_runs {
                let t = Instant::now();
                let mut res = Vec::new();
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                for series in &blocks {
                    let mut sums = vec![0f64; nb];
                    let mut counts = vec![0u32; nb];
                    for b in series {
                        ts.clear();
                        vs.clear();
                        gorilla::decode(b, &mut ts, &mut vs);
                        for (&t, &v) in ts.iter().zip(&vs) {
                            let i = ((t - start) / 600_000) as usize;
                            sums[i] += f64::from_bits(v);
                            counts[i] += 1;
                        }
                    }
                    res.push(
                        sums.iter()
                            .zip(&counts)
                            .map(|(s, &c)| s / c as f64)
                            .collect::<Vec<f64>>(),
                    );
                }
                times.push(t.elapsed().as_secs_f64() * 1e3);
                for (i, want) in refs.iter().enumerate() {
                    check_means("gorilla", &res[i], want);
                }
            }
            rep.row(
                goal,
                "Gorilla (reference)",
                "raw, 2-hour blocks in memory (no store), decode + aggregate",
                fmt_ms(&times),
            );
        }
    }

    // ---------------------------------------------------------------- 1,000,000 series
    if want("series") {
        // tsink's memory grows by 12 to 16 KiB per series (2.3 GiB after writing 200,000 series, a
        // 4.4 GiB peak while closing): 1,000,000 would need over 10 GiB on this shared machine, so it
        // is measured at 50,000 and 100,000 series (TSDB_EVAL_TSINK_SERIES=100000,200000 for more)
        // and the slope is reported.
        let (t_small, t_large) = match std::env::var("TSDB_EVAL_TSINK_SERIES").ok().and_then(|v| {
            let (a, b) = v.split_once(',')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        }) {
            Some(sizes) => sizes,
            None if cfg.quick => (10_000, 20_000),
            None => (50_000, 100_000),
        };
        let a = million(&mut rep, &base, &cfg, "tsink", t_small, cfg.runs, 0);
        let b = million(&mut rep, &base, &cfg, "tsink", t_large, 1, 2);
        let per_series = (b.0 - a.0) / (t_large - t_small) as f64;
        let open_per_series = (b.1 - a.1) / (t_large - t_small) as f64;
        rep.row(
            "1,000,000 series",
            "tsink",
            "extrapolated linearly from the two sizes above",
            format!(
                "RSS after writing ≈ {:.1} GiB ({:.1} KiB per series); restart ≈ {:.1} s",
                (a.0 + per_series * (cfg.million - t_small) as f64) / 1024.0,
                per_series * 1024.0,
                (a.1 + open_per_series * (cfg.million - t_small) as f64) / 1e3
            ),
        );
        million(
            &mut rep,
            &base,
            &cfg,
            "pco + redb sketch",
            cfg.million,
            cfg.runs,
            0,
        );
    }

    println!("\n# all figures:\n| goal | candidate | measurement | figure |\n|---|---|---|---|");
    for l in &rep.lines {
        println!("{l}");
    }
    println!(
        "\n# total {:.0} s, load average at end {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    let _ = std::fs::remove_dir_all(&base);
}

/// Writes `n` series (one point each, then `rounds - 1` more) in a child process and reopens the
/// store in another; `runs` populations, each reopened once, the last `extra_reopens` more times.
/// Returns the median RSS after writing (MiB) and the median restart (ms).
fn million(
    rep: &mut Report,
    base: &Path,
    cfg: &Cfg,
    cand: &str,
    n: usize,
    runs: usize,
    extra_reopens: usize,
) -> (f64, f64) {
    let goal = "1,000,000 series";
    let (populate, reopen) = if cand == "tsink" {
        ("tsink-1m-populate", "tsink-1m-reopen")
    } else {
        ("mini-1m-populate", "mini-1m-reopen")
    };
    let mut pop_rss = Vec::new();
    let mut pop_hwm = Vec::new();
    let mut pop_rate = Vec::new();
    let mut first_rate = Vec::new();
    let mut close_ms = Vec::new();
    let mut close_hwm = Vec::new();
    let mut open_ms = Vec::new();
    let mut open_rss = Vec::new();
    let mut open_hwm = Vec::new();
    let mut split = Vec::new();
    let mut disk = 0;
    for run in 0..runs {
        let dir = fresh(&base.join(format!("{populate}-{run}")));
        let r = run_child(
            populate,
            &dir,
            &[n.to_string(), cfg.million_rounds.to_string()],
        );
        pop_rss.push(r["rss_kib"] / 1024.0);
        pop_hwm.push(r["hwm_kib"] / 1024.0);
        pop_rate.push(r["rate"]);
        first_rate.push(r["first_rate"]);
        close_ms.push(r.get("close_ms").copied().unwrap_or(0.0));
        close_hwm.push(r.get("hwm_close_kib").copied().unwrap_or(0.0) / 1024.0);
        disk = dir_size(&dir).0;
        let reopens = 1 + if run + 1 == runs { extra_reopens } else { 0 };
        for _ in 0..reopens {
            let r = run_child(reopen, &dir, &[n.to_string()]);
            open_ms.push(r["open_ms"]);
            open_rss.push(r["rss_kib"] / 1024.0);
            open_hwm.push(r["hwm_kib"] / 1024.0);
            if let (Some(c), Some(w)) = (r.get("catalog_ms"), r.get("replay_ms")) {
                split.push(format!("{c:.0} + {w:.0}"));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mb = |v: &[f64]| {
        let (max, med) = max_median(v);
        format!(
            "max {max:.0} MiB, median {med:.0} MiB (runs: {})",
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let rounds = cfg.million_rounds;
    rep.row(
        goal,
        cand,
        &format!("{n} new series x 1 point, batches of 5,000"),
        fmt_rate(&first_rate),
    );
    rep.row(
        goal,
        cand,
        &format!("{n} series: all {rounds} rounds ({} points)", n * rounds),
        fmt_rate(&pop_rate),
    );
    rep.row(
        goal,
        cand,
        &format!("{n} series: RSS after writing (VmRSS)"),
        mb(&pop_rss),
    );
    rep.row(
        goal,
        cand,
        &format!("{n} series: peak RSS before close (VmHWM)"),
        mb(&pop_hwm),
    );
    if cand == "tsink" {
        rep.row(
            goal,
            cand,
            &format!("{n} series: close (flush)"),
            fmt_ms(&close_ms),
        );
        rep.row(
            goal,
            cand,
            &format!("{n} series: peak RSS including close (VmHWM)"),
            mb(&close_hwm),
        );
    }
    rep.row(
        goal,
        cand,
        &format!(
            "{n} series: restart to ready (open + first query), store {}",
            human(disk)
        ),
        fmt_ms(&open_ms),
    );
    if !split.is_empty() {
        rep.row(goal, cand, &format!("{n} series: restart = open redb + load catalog + tag index, then replay the {} WAL points", n * rounds), format!("{} ms", split.join(", ")));
    }
    rep.row(
        goal,
        cand,
        &format!("{n} series: RSS after restart (VmRSS)"),
        mb(&open_rss),
    );
    rep.row(
        goal,
        cand,
        &format!("{n} series: peak RSS during restart (VmHWM)"),
        mb(&open_hwm),
    );
    (min_median(&pop_rss).1, min_median(&open_ms).1)
}

/// Writes a stream through the sketch's write path; returns (points/s in write calls, wall s).
fn mini_load(e: &mut pcokv::MiniEngine, stream: &mut BatchStream) -> (f64, f64) {
    let mut pts = Vec::with_capacity(BATCH);
    let mut batch = Vec::with_capacity(BATCH);
    let mut in_calls = Duration::ZERO;
    let mut n = 0;
    let wall = Instant::now();
    while stream.next_batch(BATCH, &mut pts) {
        batch.clear();
        batch.extend(pts.iter().map(|p| pcokv::Pt {
            sid: p.s,
            ts: p.ts,
            v: p.v,
        }));
        let t = Instant::now();
        e.write_batch(&batch);
        in_calls += t.elapsed();
        n += batch.len();
    }
    (
        n as f64 / in_calls.as_secs_f64(),
        wall.elapsed().as_secs_f64(),
    )
}

/// Like run_child, but kills the child (by its handle) after `limit` and returns None.
fn run_child_timeout(
    name: &str,
    dir: &Path,
    extra: &[String],
    limit: Duration,
) -> Option<HashMap<String, f64>> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("child")
        .arg(name)
        .arg(dir)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("child runs");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = reader.join().unwrap();
            assert!(status.success(), "child {name} failed: {out}");
            return Some(parse_results(&out));
        }
        if Instant::now() > deadline {
            println!(
                "# child {name} still running after {} s: killed",
                limit.as_secs()
            );
            child.kill().unwrap();
            child.wait().unwrap();
            let _ = reader.join();
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn parse_results(stdout: &str) -> HashMap<String, f64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn run_child(name: &str, dir: &Path, extra: &[String]) -> HashMap<String, f64> {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("child")
        .arg(name)
        .arg(dir)
        .args(extra)
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "child {name} failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_results(&stdout)
}

/// 1,000,000 series: host h = i / 55, field i % 55.
fn million_series(n: usize) -> Vec<(u32, usize)> {
    (0..n)
        .map(|i| ((i / FIELDS.len()) as u32, i % FIELDS.len()))
        .collect()
}

/// tsink's part of the 7-day query, in a child process: load, close, reopen, query raw, apply a
/// 5-minute rollup policy, query from it. Prints RESULT lines.
fn tsink_query_child(dir: &Path, series: u32, days: usize, runs: usize) {
    let start = data_start(days);
    let n_per_series = days * POINTS_PER_DAY;
    let qseries: Vec<(u32, usize)> = (0..series)
        .map(|h| (h, data::field_index("cpu", "usage_user")))
        .collect();
    let qpoints = qseries.len() * n_per_series;
    let qend = start + days as i64 * DAY_MS;
    let refs: Vec<Vec<f64>> = qseries
        .iter()
        .take(3)
        .map(|&(h, fi)| reference_means(h, fi, start, days, 600_000))
        .collect();
    let cfg_query_runs = runs;
    {
        let s = tsink_bench::open(&dir, WalSyncMode::Periodic(Duration::from_secs(1)));
        let mut stream = BatchStream::new(qseries.clone(), start, qpoints);
        tsink_bench::load(&*s, &mut stream, BATCH);
        s.close().unwrap();
        let s = tsink_bench::open(&dir, WalSyncMode::Periodic(Duration::from_secs(1)));
        let names: Vec<_> = qseries
            .iter()
            .map(|&(h, fi)| tsink_bench::series_name(h, fi))
            .collect();
        let mut times = Vec::new();
        for _ in 0..cfg_query_runs {
            let t = Instant::now();
            let res = tsink_bench::query_mean(&*s, &names, start, qend, 600_000);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            for (i, want) in refs.iter().enumerate() {
                let got: Vec<f64> = res[i].iter().map(|p| p.value_as_f64().unwrap()).collect();
                check_means("tsink raw", &got, want);
            }
        }
        for (i, t) in times.iter().enumerate() {
            println!("RESULT raw_ms_{i} {t}");
        }
        // rollups: a 5-minute Avg policy, materialised, then 5-min buckets merged into 10-min
        let t = Instant::now();
        let snap = s
            .apply_rollup_policies(vec![tsink_bench::rollup_policy(&names[0].metric)])
            .unwrap();
        let snap2 = s.trigger_rollup_run().unwrap();
        let materialise = t.elapsed();
        println!("RESULT materialise_s {}", materialise.as_secs_f64());
        let _ = (snap, snap2);
        let mut times = Vec::new();
        for _ in 0..cfg_query_runs {
            let t = Instant::now();
            let res = tsink_bench::query_mean(&*s, &names, start, qend, 300_000);
            let merged: Vec<Vec<f64>> = res
                .iter()
                .map(|pts| {
                    pts.chunks(2)
                        .map(|c| {
                            c.iter().map(|p| p.value_as_f64().unwrap()).sum::<f64>()
                                / c.len() as f64
                        })
                        .collect()
                })
                .collect();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            for (i, want) in refs.iter().enumerate() {
                let worst = merged[i]
                    .iter()
                    .zip(want)
                    .map(|(g, w)| ((g - w) / w).abs())
                    .fold(0.0, f64::max);
                assert!(worst < 1e-6, "tsink rollup means off by {worst:e}");
            }
        }
        let obs = s.observability_snapshot();
        for (i, t) in times.iter().enumerate() {
            println!("RESULT rollup_ms_{i} {t}");
        }
        println!("RESULT rollup_plans {}", obs.query.rollup_query_plans_total);
        println!(
            "RESULT partial_plans {}",
            obs.query.partial_rollup_query_plans_total
        );
        println!(
            "RESULT rollup_points {}",
            obs.query.rollup_points_read_total
        );
        s.close().unwrap();
    }
}

fn child(name: &str, dir: &Path, args: &[String]) {
    if name == "tsink-query" {
        tsink_query_child(
            dir,
            args[0].parse().unwrap(),
            args[1].parse().unwrap(),
            args[2].parse().unwrap(),
        );
        return;
    }
    let n: usize = args[0].parse().unwrap();
    let series = if name == "tsink-ingest" {
        Vec::new()
    } else {
        million_series(n)
    };
    let start = (now_ms() / DAY_MS - 1) * DAY_MS;
    match name {
        "tsink-1m-populate" | "mini-1m-populate" => {
            let rounds: usize = args[1].parse().unwrap();
            let (first, all) = if name == "tsink-1m-populate" {
                let s = tsink_bench::open(dir, WalSyncMode::PerAppend);
                let mut first = BatchStream::new(series.clone(), start, n);
                let st1 = tsink_bench::load(&*s, &mut first, BATCH);
                let mut rest = BatchStream::new(series.clone(), start, n * rounds);
                // skip the first round: it is written already
                let mut skip = Vec::new();
                let mut skipped = 0;
                while skipped < n {
                    rest.next_batch(BATCH.min(n - skipped), &mut skip);
                    skipped += skip.len();
                }
                let st2 = tsink_bench::load(&*s, &mut rest, BATCH);
                let (rss, hwm) = rss_kib();
                println!("RESULT rss_kib {rss}\nRESULT hwm_kib {hwm}");
                let t = Instant::now();
                s.close().unwrap();
                println!("RESULT close_ms {}", t.elapsed().as_secs_f64() * 1e3);
                println!("RESULT hwm_close_kib {}", rss_kib().1);
                (
                    st1.points as f64 / st1.insert.as_secs_f64(),
                    (st1.points + st2.points) as f64 / (st1.insert + st2.insert).as_secs_f64(),
                )
            } else {
                let mut stream = BatchStream::new(series.clone(), start, n * rounds);
                let mut e = pcokv::MiniEngine::create(dir, DAY_MS);
                let mut first = 0.0;
                let mut pts = Vec::with_capacity(BATCH);
                let mut batch = Vec::with_capacity(BATCH);
                let mut in_calls = Duration::ZERO;
                let mut written = 0;
                while stream.next_batch(BATCH, &mut pts) {
                    let t = Instant::now();
                    // new series first: their catalog entries commit before the points' WAL record
                    let known = e.heads.len();
                    let new: Vec<String> = pts
                        .iter()
                        .filter(|p| p.s as usize >= known)
                        .map(|p| {
                            let (h, fi) = series[p.s as usize];
                            data::series_key(h, fi)
                        })
                        .collect();
                    if !new.is_empty() {
                        e.add_series(&new);
                    }
                    batch.clear();
                    batch.extend(pts.iter().map(|p| pcokv::Pt {
                        sid: p.s,
                        ts: p.ts,
                        v: p.v,
                    }));
                    e.write_batch(&batch);
                    in_calls += t.elapsed();
                    written += batch.len();
                    if written == n {
                        first = n as f64 / in_calls.as_secs_f64();
                    }
                }
                let (rss, hwm) = rss_kib();
                println!("RESULT rss_kib {rss}\nRESULT hwm_kib {hwm}");
                (first, written as f64 / in_calls.as_secs_f64())
            };
            println!("RESULT first_rate {first}\nRESULT rate {all}");
        }
        "tsink-ingest" => {
            // one ingest run on its own (for profiling): child tsink-ingest DIR HOSTS POINTS
            let points: usize = args[1].parse().unwrap();
            let s = tsink_bench::open(dir, WalSyncMode::PerAppend);
            let mut stream = BatchStream::new(data::all_fields(n as u32), start, points);
            let st = tsink_bench::load(&*s, &mut stream, BATCH);
            println!("RESULT rate {}", st.points as f64 / st.insert.as_secs_f64());
            s.close().unwrap();
        }
        "tsink-1m-reopen" => {
            let t = Instant::now();
            let s = tsink_bench::open(dir, WalSyncMode::PerAppend);
            let nm = tsink_bench::series_name(series[n / 2].0, series[n / 2].1);
            let pts = s
                .select(&nm.metric, &nm.labels, start, start + DAY_MS)
                .unwrap();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert!(!pts.is_empty(), "tsink reopened without the points");
            let (rss, hwm) = rss_kib();
            println!(
                "RESULT open_ms {ms}\nRESULT rss_kib {rss}\nRESULT hwm_kib {hwm}\nRESULT points {}",
                pts.len()
            );
            s.close().unwrap();
        }
        "mini-1m-reopen" => {
            let t = Instant::now();
            let r = pcokv::reopen(dir);
            let (h, fi) = series[n / 2];
            let id = r.by_key[data::series_key(h, fi).as_str()];
            let pts = r.heads[id as usize].ts.len();
            let hosts = r.by_tag[format!("host=host-{h:06}").as_str()].len();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert!(
                pts > 0 && hosts == FIELDS.len(),
                "reopened without the points ({pts}, {hosts})"
            );
            let (rss, hwm) = rss_kib();
            println!(
                "RESULT open_ms {ms}\nRESULT rss_kib {rss}\nRESULT hwm_kib {hwm}\nRESULT points {pts}\nRESULT replayed {}",
                r.replayed
            );
            println!(
                "RESULT catalog_ms {}\nRESULT replay_ms {}",
                r.catalog_ms, r.replay_ms
            );
        }
        other => panic!("unknown child {other}"),
    }
}
