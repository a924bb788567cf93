//! The metrics ingest figure: points per second written over HTTP in 5,000-point batches into
//! jeny's embedded store (durable on acknowledgement: the WAL is fsynced before the answer), and
//! the same corpus, client and batches into InfluxDB 1.6.7 (`tests/peers/influxdb/setup`; its
//! default configuration fsyncs its WAL on every write too), side by side. Run by
//! `scripts/bench-metrics`, in release mode; jeny runs in this process on SQLite.
//!
//! The corpus is Telegraf's host metrics: per host and 10-second step, `cpu` (4 float fields),
//! `mem` (1 float, 2 integers), `system` (3 floats), `disk` (1 float, 1 integer) and `net` (2
//! integers). A point is a line, as InfluxDB counts them; the report also gives field values.
//! Each round writes new times for every server; rounds alternate between the servers so that
//! both see the same machine.
//!
//! The query figure: a 7-day `mean` at a 10-minute interval over 100 series at 10 s (6,048,000
//! points), sent as InfluxQL to `/query` of both servers (5 runs each, best and median): on jeny
//! from blocks (flushed, not compacted: raw points), then from rollups (compacted), and on
//! InfluxDB. Then the bytes per value of the embedded store's files.
//!
//! ```text
//! bench_metrics [--hosts 100] [--points 2000000] [--concurrency 4] [--rounds 3] [--only ingest|query]
//! ```

use anyhow::{Context, Result};
use jeny_testkit::{Backend, TestApp};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

const BATCH: usize = 5000;
const STEP_NS: i64 = 10_000_000_000;

fn flag(name: &str, default: usize) -> Result<usize> {
    let arguments: Vec<String> = std::env::args().collect();
    match arguments.iter().position(|argument| argument == name) {
        Some(index) => arguments
            .get(index + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

/// The corpus of one round: 5,000-line bodies, and how many field values they hold.
fn corpus(hosts: usize, points: usize, start_ns: i64) -> (Vec<bytes::Bytes>, usize) {
    let mut bodies = Vec::new();
    let mut body = String::with_capacity(BATCH * 120);
    let (mut lines, mut in_body, mut values) = (0, 0, 0);
    let mut step = 0i64;
    while lines < points {
        let t = start_ns + step * STEP_NS;
        for h in 0..hosts {
            let x = (step as usize * 31 + h * 17) % 1000;
            let f = x as f64 / 10.0 + 0.123_456_789 * h as f64;
            let rows = [
                (
                    format!("cpu,cpu=cpu-total,host=web-{h}"),
                    format!(
                        "usage_user={f},usage_system={},usage_idle={},usage_iowait={}",
                        f / 3.0,
                        100.0 - f,
                        f / 7.0
                    ),
                    4,
                ),
                (
                    format!("mem,host=web-{h}"),
                    format!(
                        "used_percent={},used={}i,available={}i",
                        f / 2.0,
                        4_000_000_000u64 + x as u64 * 1024,
                        8_000_000_000u64 - x as u64 * 1024
                    ),
                    3,
                ),
                (
                    format!("system,host=web-{h}"),
                    format!(
                        "load1={:.2},load5={:.2},load15={:.2}",
                        f / 50.0,
                        f / 60.0,
                        f / 70.0
                    ),
                    3,
                ),
                (
                    format!("disk,device=nvme0n1p1,fstype=ext4,host=web-{h},path=/"),
                    format!(
                        "used_percent={},free={}i",
                        40.0 + f / 100.0,
                        50_000_000_000u64 - step as u64 * 4096
                    ),
                    2,
                ),
                (
                    format!("net,host=web-{h},interface=eth0"),
                    format!(
                        "bytes_sent={}i,bytes_recv={}i",
                        step as u64 * 1_000 + x as u64,
                        step as u64 * 5_000 + x as u64
                    ),
                    2,
                ),
            ];
            for (series, fields, n) in rows {
                let _ = writeln!(body, "{series} {fields} {t}");
                values += n;
                lines += 1;
                in_body += 1;
                if in_body == BATCH {
                    bodies.push(bytes::Bytes::from(std::mem::take(&mut body)));
                    body.reserve(BATCH * 120);
                    in_body = 0;
                }
            }
        }
        step += 1;
    }
    if in_body > 0 {
        bodies.push(bytes::Bytes::from(body));
    }
    (bodies, values)
}

/// Sends every body to `url` with `concurrency` connections; the seconds it took.
async fn send_all(
    http: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
    bodies: &[bytes::Bytes],
    concurrency: usize,
) -> Result<f64> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bodies = Arc::new(bodies.to_vec());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, next, bodies) =
            (http.clone(), url.to_owned(), next.clone(), bodies.clone());
        let authorization = authorization.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                let mut request = http.post(&url).body(body.clone());
                if let Some(a) = &authorization {
                    request = request.header("authorization", a);
                }
                let response = request.send().await?;
                let status = response.status();
                if status.as_u16() != 204 {
                    anyhow::bail!("{url} answered {status}: {}", response.text().await?);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn only(part: &str) -> bool {
    let arguments: Vec<String> = std::env::args().collect();
    match arguments.iter().position(|a| a == "--only") {
        Some(i) => arguments
            .get(i + 1)
            .is_some_and(|v| v.split(',').any(|p| p == part)),
        None => true,
    }
}

/// Runs `q` on `/query` at `url` `runs` times; (best, median) in milliseconds, and the answer.
async fn time_query(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    q: &str,
    runs: usize,
) -> Result<(f64, f64, serde_json::Value)> {
    let mut times = Vec::new();
    let mut answer = serde_json::Value::Null;
    for _ in 0..runs {
        let mut request =
            http.get(format!("{url}/query"))
                .query(&[("db", "bench"), ("epoch", "ms"), ("q", q)]);
        if let Some(t) = token {
            request = request.header("authorization", format!("Token {t}"));
        }
        let started = Instant::now();
        let response = request.send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        answer = response.json().await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((best, median(times), answer))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let hosts = flag("--hosts", 100)?;
    let points = flag("--points", 2_000_000)?;
    let concurrency = flag("--concurrency", 4)?;
    let rounds = flag("--rounds", 3)?;
    let influx = jeny_testkit::influxdb::Influx::start().await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/query", influx.url))
        .form(&[("q", "CREATE DATABASE bench")])
        .send()
        .await?;
    anyhow::ensure!(
        created.status().is_success(),
        "CREATE DATABASE: {}",
        created.status()
    );
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.with_admin().await;
    admin
        .create_project(&jeny_projects::ProjectInput {
            name: Some("bench".into()),
            title: None,
            description: String::new(),
            repository: None,
            deploy_command: "true".into(),
            output_retention_days: None,
            output_retention_bytes: None,
            metrics_retention: Default::default(),
        })
        .await?;
    let token = app
        .token_for("bench@example.com", jeny_core::Role::Deployer)
        .await;
    if only("ingest") {
        ingest(
            &http,
            &app,
            &influx,
            &token,
            hosts,
            points,
            concurrency,
            rounds,
        )
        .await?;
    }
    if only("query") {
        query(&http, &app, &influx, &token, concurrency).await?;
    }
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "the bench's settings")]
async fn ingest(
    http: &reqwest::Client,
    app: &TestApp,
    influx: &jeny_testkit::influxdb::Influx,
    token: &str,
    hosts: usize,
    points: usize,
    concurrency: usize,
    rounds: usize,
) -> Result<()> {
    let jeny_url = format!("{}/write?db=bench", app.url);

    let influx_url = format!("{}/write?db=bench", influx.url);
    println!(
        "ingest: {hosts} hosts, {points} points a round in {BATCH}-point batches, {concurrency} connections, {rounds} rounds"
    );
    let (mut jeny_rates, mut influx_rates) = (Vec::new(), Vec::new());
    let start_ns: i64 = 1_796_601_600_000_000_000;
    for round in 0..rounds {
        let round_start = start_ns + round as i64 * 400_000 * STEP_NS;
        let (bodies, values) = corpus(hosts, points, round_start);
        let lines = bodies.len() * BATCH;
        let secs = send_all(
            http,
            &jeny_url,
            Some(&format!("Token {token}")),
            &bodies,
            concurrency,
        )
        .await?;
        jeny_rates.push(lines as f64 / secs);
        println!(
            "  round {round} jeny:     {:>6.3} s  {:>5.2} M points/s  {:>5.2} M values/s",
            secs,
            lines as f64 / secs / 1e6,
            values as f64 / secs / 1e6
        );
        let secs = send_all(http, &influx_url, None, &bodies, concurrency).await?;
        influx_rates.push(lines as f64 / secs);
        println!(
            "  round {round} InfluxDB: {:>6.3} s  {:>5.2} M points/s  {:>5.2} M values/s",
            secs,
            lines as f64 / secs / 1e6,
            values as f64 / secs / 1e6
        );
    }
    let (j, i) = (median(jeny_rates.clone()), median(influx_rates.clone()));
    println!(
        "ingest median: jeny {:.2} M points/s, InfluxDB 1.6.7 {:.2} M points/s: {:.1}x (best: jeny {:.2} M, InfluxDB {:.2} M)",
        j / 1e6,
        i / 1e6,
        j / i,
        jeny_rates.iter().copied().fold(0.0, f64::max) / 1e6,
        influx_rates.iter().copied().fold(0.0, f64::max) / 1e6,
    );
    // what was acknowledged is there
    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    let cpu = store.series("bench", "cpu", Some("usage_user"), &|_| true);
    anyhow::ensure!(cpu.len() == hosts, "{} cpu series", cpu.len());
    let read = store.read(cpu[0].id, i64::MIN, i64::MAX)?;
    let expected_per_round = points.div_ceil(hosts * 5);
    anyhow::ensure!(
        read.times.len() >= expected_per_round * rounds,
        "{} points of one series, {} expected",
        read.times.len(),
        expected_per_round * rounds
    );
    println!(
        "checked: {} series in the store, one holds {} points",
        store.series_count("bench"),
        read.times.len()
    );
    Ok(())
}

/// The 7-day query, and bytes per value.
async fn query(
    http: &reqwest::Client,
    app: &TestApp,
    influx: &jeny_testkit::influxdb::Influx,
    token: &str,
    concurrency: usize,
) -> Result<()> {
    // 7 days of cpu usage_user of 100 hosts at 10 s, after the ingest rounds' times
    let (hosts, steps) = (100usize, 7 * 8640i64);
    let start: i64 = 1_798_761_600_000_000_000; // 2027-01-01T00:00:00Z, a day's start
    let mut bodies = Vec::new();
    let mut body = String::with_capacity(BATCH * 80);
    let mut n = 0;
    for step in 0..steps {
        for h in 0..hosts {
            let x = ((step as usize * 7919 + h * 104_729) % 100_000) as f64 / 1000.0;
            let _ = writeln!(
                body,
                "cpu,host=q-{h} usage_user={x} {}",
                start + step * STEP_NS
            );
            n += 1;
            if n % BATCH == 0 {
                bodies.push(bytes::Bytes::from(std::mem::take(&mut body)));
            }
        }
    }
    if !body.is_empty() {
        bodies.push(bytes::Bytes::from(body));
    }
    println!("query: {n} points (100 series, 7 days at 10 s)");
    let auth = format!("Token {token}");
    let secs = send_all(
        http,
        &format!("{}/write?db=bench", app.url),
        Some(&auth),
        &bodies,
        concurrency,
    )
    .await?;
    println!("  written to jeny in {secs:.2} s");
    let secs = send_all(
        http,
        &format!("{}/write?db=bench", influx.url),
        None,
        &bodies,
        concurrency,
    )
    .await?;
    println!("  written to InfluxDB in {secs:.2} s");
    let end = start + steps * STEP_NS;
    let q = format!(
        "SELECT mean(\"usage_user\") FROM \"cpu\" WHERE \"host\" =~ /^q-/ AND time >= {}ms AND time < {}ms GROUP BY time(10m), \"host\" fill(null)",
        start / 1_000_000,
        end / 1_000_000
    );
    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    store.flush()?;
    let statement = jeny_metrics::influxql::parse(&q)?.remove(0);
    // the executor alone (no HTTP, no JSON), in this thread
    let engine = |label: &str| -> Result<()> {
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let series = jeny_metrics::query::influxql::execute(store, "bench", &statement, end)
                .map_err(anyhow::Error::msg)?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(series.len() == hosts, "{} series", series.len());
        }
        let best = times.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "  jeny {label}, the executor alone: best {best:.1} ms, median {:.1} ms",
            median(times)
        );
        Ok(())
    };
    engine("raw points")?;
    let (best, med, jeny_raw) = time_query(http, &app.url, Some(token), &q, 5).await?;
    println!(
        "  jeny, raw points (flushed blocks), over HTTP: best {best:.1} ms, median {med:.1} ms"
    );
    store.compact(i64::MAX)?;
    engine("5-minute rollups")?;
    let (best, med, jeny_rolled) = time_query(http, &app.url, Some(token), &q, 5).await?;
    println!(
        "  jeny, 5-minute rollups, over HTTP:            best {best:.1} ms, median {med:.1} ms"
    );
    let (best, med, influx_answer) = time_query(http, &influx.url, None, &q, 5).await?;
    println!(
        "  InfluxDB 1.6.7, over HTTP:                    best {best:.1} ms, median {med:.1} ms"
    );
    let series = |a: &serde_json::Value| a["results"][0]["series"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        series(&jeny_raw) == hosts
            && series(&jeny_rolled) == hosts
            && series(&influx_answer) == hosts,
        "series: jeny {} / {}, InfluxDB {}",
        series(&jeny_raw),
        series(&jeny_rolled),
        series(&influx_answer)
    );
    anyhow::ensure!(jeny_raw == jeny_rolled, "rollups and points disagree");
    let rows = |a: &serde_json::Value| {
        a["results"][0]["series"][0]["values"]
            .as_array()
            .map_or(0, Vec::len)
    };
    println!(
        "  each answer: {hosts} series of {} rows, jeny's from points and from rollups equal",
        rows(&jeny_raw)
    );
    // bytes per value: everything compacted, the store's files over the values it holds
    let dir = app.config.data_dir.join("metrics");
    let mut bytes = 0u64;
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            bytes += entry.metadata()?.len();
        }
    }
    let mut values = 0u64;
    for m in store.measurements("bench") {
        for s in store.series("bench", &m, None, &|_| true) {
            values += store.read(s.id, i64::MIN, i64::MAX)?.times.len() as u64;
        }
    }
    println!(
        "  on disk: {bytes} bytes (series.dat and blocks.redb; the log is empty after the flush) for {values} values: {:.2} bytes a value",
        bytes as f64 / values as f64
    );
    Ok(())
}
