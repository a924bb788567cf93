//! Deploy figures of a running `jeny server` (`scripts/bench-deploys` starts one and runs this):
//!
//! - latency: time from just before `POST .../deploys` to the command's first stdout line seen
//!   by an SSE viewer, for `echo hello`, with where the time goes;
//! - throughput: a deploy printing `--lines` lines of 100 bytes as fast as it can: bytes
//!   persisted per second, and the peak RSS of the server and of the supervisor;
//! - viewers: the same deploy with `--viewers` SSE viewers attached: that each got every byte,
//!   and how far behind the output each was.
//!
//! ```text
//! bench_deploys --url URL --token TOKEN [--server-pid PID] [--samples 50] [--warmup 5]
//!               [--lines 1000000] [--viewers 100] [--only latency,throughput,viewers]
//!               [--latency-command 'echo hello'] [--idle-samples 20] [--idle-pause-ms 1000]
//!               [--pace-ms MS] [--behind read|skip]
//!
//! The latency samples run back to back; then `--idle-samples` more are taken, each after the
//! server has been idle for `--idle-pause-ms` plus 0-100 ms (its SQLite change watcher slows
//! down when idle).
//!
//! `--behind skip` opens the viewers with `?behind=skip`: a viewer more than 100 ms of output
//! behind gets a `skipped` event and goes on from the newest batch. Each viewer then checks that
//! every skip starts where what it received ends and that it got the end; the stored output is
//! read back once to check it is whole.
//! ```
//!
//! `--url`, `--token` and `--server-pid` may also come from `JENY_BENCH_URL`, `JENY_BENCH_TOKEN`
//! and `JENY_BENCH_SERVER_PID`. Without a server pid there are no memory or CPU figures (the
//! supervisor is found as the server's child). It needs a fresh data directory: it creates
//! the project `bench` and its environments.
//!
//! The viewers share the machine with the server, so they read cheaply: SSE lines are split
//! with `memchr` (through `BufRead::skip_until`), a line is copied only when it spans network
//! reads, and an `output` event's JSON is scanned in place for what is measured (each chunk's
//! stream, time and decoded text length) without building its strings.

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use jeny_core::Timestamp;
use serde_json::{Value, json};
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Every line of the throughput command is this long, newline included.
const LINE_BYTES: u64 = 100;
const PROJECT: &str = "bench";
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
struct Options {
    url: String,
    token: String,
    server_pid: Option<u32>,
    samples: usize,
    warmup: usize,
    lines: u64,
    viewers: usize,
    only: Vec<String>,
    /// The command of the latency deploys.
    latency_command: String,
    /// Latency samples taken after the server has been idle for `idle_pause`.
    idle_samples: usize,
    idle_pause: Duration,
    /// When set, the output deploy prints its lines in 100 slices with this pause between them
    /// (a steady rate instead of as fast as it can).
    pace: Option<Duration>,
    /// The viewers' `?behind=`: `read` (every batch) or `skip`.
    behind: String,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut options = Options {
            url: std::env::var("JENY_BENCH_URL").unwrap_or_default(),
            token: std::env::var("JENY_BENCH_TOKEN").unwrap_or_default(),
            server_pid: std::env::var("JENY_BENCH_SERVER_PID")
                .ok()
                .and_then(|pid| pid.parse().ok()),
            samples: 50,
            warmup: 5,
            lines: 1_000_000,
            viewers: 100,
            only: vec!["latency".into(), "throughput".into(), "viewers".into()],
            latency_command: "echo hello".into(),
            idle_samples: 20,
            idle_pause: Duration::from_millis(1000),
            pace: None,
            behind: "read".into(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--url" => options.url = value,
                "--token" => options.token = value,
                "--server-pid" => options.server_pid = Some(value.parse()?),
                "--samples" => options.samples = value.parse()?,
                "--warmup" => options.warmup = value.parse()?,
                "--lines" => options.lines = value.parse()?,
                "--viewers" => options.viewers = value.parse()?,
                "--only" => options.only = value.split(',').map(str::to_owned).collect(),
                "--latency-command" => options.latency_command = value,
                "--idle-samples" => options.idle_samples = value.parse()?,
                "--idle-pause-ms" => options.idle_pause = Duration::from_millis(value.parse()?),
                "--pace-ms" => options.pace = Some(Duration::from_millis(value.parse()?)),
                "--behind" if value == "read" || value == "skip" => options.behind = value,
                _ => bail!("unknown flag {flag} (see the top of bench_deploys.rs)"),
            }
        }
        if options.url.is_empty() || options.token.is_empty() {
            bail!("give --url and --token (or JENY_BENCH_URL and JENY_BENCH_TOKEN)");
        }
        if !(1..=9_999_999).contains(&options.lines) {
            bail!("--lines is 1 to 9999999 (each line holds a 7-digit number)");
        }
        options.url = options.url.trim_end_matches('/').to_owned();
        Ok(options)
    }

    fn runs(&self, phase: &str) -> bool {
        self.only.iter().any(|only| only == phase)
    }
}

/// `lines` lines of exactly `LINE_BYTES` bytes: "line 0000001 xxx...x\n".
fn paced_command(lines: u64, pace: Option<Duration>) -> String {
    let Some(pace) = pace else {
        return throughput_command(lines);
    };
    let padding = "x".repeat(LINE_BYTES as usize - "line 0000001 \n".len());
    format!(
        "i=0; while [ $i -lt 100 ]; do seq -f 'line %07.0f {padding}' $(( i*{lines}/100+1 )) $(( (i+1)*{lines}/100 )); \
         sleep {:.3}; i=$((i+1)); done",
        pace.as_secs_f64()
    )
}

fn throughput_command(lines: u64) -> String {
    let padding = "x".repeat(LINE_BYTES as usize - "line 0000001 \n".len());
    format!("seq -f 'line %07.0f {padding}' 1 {lines}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let options = Options::parse()?;
    let api = Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?,
        url: options.url.clone(),
        token: options.token.clone(),
    };
    set_up(&api, &options).await?;
    if options.runs("latency") {
        latency(&api, &options).await?;
    }
    if options.runs("throughput") {
        throughput(&api, &options, 0).await?;
    }
    if options.runs("viewers") {
        throughput(&api, &options, options.viewers).await?;
    }
    Ok(())
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value)> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Creates something; one that exists already (409) is fine.
    async fn create(&self, path: &str, body: Value) -> Result<()> {
        let (status, answer) = self
            .send(self.http.post(format!("{}{path}", self.url)).json(&body))
            .await?;
        if !(200..300).contains(&status) && status != 409 {
            bail!("POST {path} answered {status}: {answer}");
        }
        Ok(())
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let (status, answer) = self
            .send(self.http.get(format!("{}{path}", self.url)))
            .await?;
        if status != 200 {
            bail!("GET {path} answered {status}: {answer}");
        }
        Ok(answer)
    }

    /// Queues a deploy to `environment`; returns its id.
    async fn start_deploy(&self, environment: &str) -> Result<String> {
        let path = format!("/api/v1/projects/{PROJECT}/environments/{environment}/deploys");
        let (status, answer) = self
            .send(
                self.http
                    .post(format!("{}{path}", self.url))
                    .json(&json!({})),
            )
            .await?;
        if status != 201 {
            bail!("POST {path} answered {status}: {answer}");
        }
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .context("a deploy without an id")
    }

    async fn open_output(&self, deploy_id: &str, behind: &str) -> Result<reqwest::Response> {
        let response = self
            .http
            .get(format!(
                "{}/api/v1/deploys/{deploy_id}/output?behind={behind}",
                self.url
            ))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        if response.status() != 200 {
            bail!("the output of {deploy_id} answered {}", response.status());
        }
        Ok(response)
    }

    async fn wait_finished(&self, deploy_id: &str, poll: Duration) -> Result<Value> {
        loop {
            let deploy = self.get(&format!("/api/v1/deploys/{deploy_id}")).await?;
            if !matches!(deploy["status"].as_str(), Some("queued" | "running")) {
                return Ok(deploy);
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// The project `bench` and its environments, each with its command (set again when they exist,
/// so a second run on one server runs what it is asked to).
async fn set_up(api: &Api, options: &Options) -> Result<()> {
    api.create(
        "/api/v1/projects",
        json!({"name": PROJECT, "deploy_command": "echo hello"}),
    )
    .await?;
    let throughput = paced_command(options.lines, options.pace);
    let environments = [
        ("latency", options.latency_command.as_str()),
        ("throughput", throughput.as_str()),
        ("viewers", throughput.as_str()),
    ];
    for (name, command) in environments {
        let settings = json!({"name": name, "deploy_command": command});
        let collection = format!("/api/v1/projects/{PROJECT}/environments");
        api.create(&collection, settings.clone()).await?;
        let path = format!("{collection}/{name}");
        let (status, answer) = api
            .send(api.http.put(format!("{}{path}", api.url)).json(&settings))
            .await?;
        if status != 200 {
            bail!("PUT {path} answered {status}: {answer}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Time to first output

/// One `echo hello` deploy, timed.
#[derive(Debug, Clone, Copy)]
struct LatencySample {
    /// Before the POST to the first stdout chunk seen in the event stream.
    first_output: Duration,
    /// Before the POST to the POST's answer.
    post: Duration,
    /// Before the POST to the event stream's headers.
    stream_open: Duration,
    /// Wall clock, microseconds after the POST began: the deploy's `started_at`, the first
    /// stdout chunk's `at`, and when it was seen.
    started_at: i64,
    captured_at: i64,
    seen_at: i64,
    /// Until the `end` event.
    end: Duration,
}

async fn latency(api: &Api, options: &Options) -> Result<()> {
    let mut samples = Vec::with_capacity(options.samples);
    for index in 0..options.warmup + options.samples {
        let sample = latency_sample(api).await?;
        if index >= options.warmup {
            samples.push(sample);
        }
        if let Some(server) = options.server_pid {
            // Independent samples: the last supervisor has finished compressing and exited.
            wait_no_supervisor(server, Duration::from_secs(10)).await;
        }
    }
    print_latency(
        &format!("latency ({}, back to back)", options.latency_command),
        &samples,
    );
    if options.idle_samples == 0 {
        return Ok(());
    }
    let mut after_idle = Vec::with_capacity(options.idle_samples);
    for _ in 0..options.idle_samples {
        // Up to 100 ms more, drawn from the clock, so the samples do not all land at the same
        // point of the idle watcher's polling cycle.
        let jitter = Duration::from_micros(wall_micros().rem_euclid(100_000) as u64);
        tokio::time::sleep(options.idle_pause + jitter).await;
        after_idle.push(latency_sample(api).await?);
        if let Some(server) = options.server_pid {
            wait_no_supervisor(server, Duration::from_secs(10)).await;
        }
    }
    print_latency(
        &format!(
            "latency ({}, each after {} ms idle)",
            options.latency_command,
            options.idle_pause.as_millis()
        ),
        &after_idle,
    );
    Ok(())
}

fn print_latency(label: &str, samples: &[LatencySample]) {
    let millis =
        |pick: &dyn Fn(&LatencySample) -> f64| -> Vec<f64> { samples.iter().map(pick).collect() };
    println!(
        "{label}: time to first output, {} samples: {}",
        samples.len(),
        spread(&millis(&|s| ms(s.first_output)))
    );
    println!(
        "{label}: capture latency (chunk at - before POST): {}",
        spread(&millis(&|s| s.captured_at as f64 / 1000.0))
    );
    println!(
        "{label}: stages, p50: POST answered {:.1} ms, stream open {:.1} ms, started_at {:.1} ms, \
         started_at->chunk at {:.1} ms, chunk at->seen {:.1} ms, end event {:.1} ms",
        percentile(&millis(&|s| ms(s.post)), 50.0),
        percentile(&millis(&|s| ms(s.stream_open)), 50.0),
        percentile(&millis(&|s| s.started_at as f64 / 1000.0), 50.0),
        percentile(
            &millis(&|s| (s.captured_at - s.started_at) as f64 / 1000.0),
            50.0
        ),
        percentile(
            &millis(&|s| (s.seen_at - s.captured_at) as f64 / 1000.0),
            50.0
        ),
        percentile(&millis(&|s| ms(s.end)), 50.0),
    );
}

async fn latency_sample(api: &Api) -> Result<LatencySample> {
    let wall_before = wall_micros();
    let before = Instant::now();
    let deploy_id = api.start_deploy("latency").await?;
    let post = before.elapsed();
    let response = api.open_output(&deploy_id, "read").await?;
    let stream_open = before.elapsed();
    let mut watcher = FirstOutput::default();
    read_events(response, &mut watcher).await?;
    let (Some(seen), Some(captured_at), Some(end)) = (watcher.seen, watcher.at, watcher.end) else {
        bail!("deploy {deploy_id} ended without stdout (or without an end event)");
    };
    let started_at = end
        .get("started_at")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse_rfc3339)
        .context("a finished deploy without started_at")?
        .as_micros();
    if end["status"] != "succeeded" {
        bail!("deploy {deploy_id} ended {}", end["status"]);
    }
    Ok(LatencySample {
        first_output: seen.duration_since(before),
        post,
        stream_open,
        started_at: started_at - wall_before,
        captured_at: captured_at - wall_before,
        seen_at: watcher.seen_wall.unwrap_or_default() - wall_before,
        end: before.elapsed(),
    })
}

/// Notes the first stdout chunk and the end.
#[derive(Default)]
struct FirstOutput {
    seen: Option<Instant>,
    seen_wall: Option<i64>,
    at: Option<i64>,
    end: Option<Value>,
}

impl EventHandler for FirstOutput {
    fn data(&mut self, event: &[u8], data: &[u8]) -> Result<()> {
        match event {
            b"output" if self.seen.is_none() => {
                let summary = OutputSummary::scan(data)?;
                summary.check_against_serde(data)?;
                if let Some(at) = summary.first_stdout_at {
                    self.seen = Some(Instant::now());
                    self.seen_wall = Some(wall_micros());
                    self.at = Some(at);
                }
            }
            b"end" => self.end = Some(serde_json::from_slice(data)?),
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, _event: &[u8]) -> bool {
        self.end.is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// Throughput, with or without viewers

/// What one viewer saw.
#[derive(Debug, Default)]
struct Viewer {
    stdout_bytes: u64,
    other_bytes: u64,
    events: u64,
    /// Per event: its arrival minus its newest chunk's `at`, in microseconds.
    lags: Vec<i64>,
    /// The newest `at` of the event being read (set by its data, used at its dispatch).
    pending_newest_at: Option<i64>,
    /// Cross-check the first events' scan against serde_json.
    checks_left: u32,
    end: Option<Value>,
    ended_wall: i64,
    /// Why the viewer stopped early.
    error: Option<String>,
    /// The seq of the last `output` event, or the `until` of the last `skipped` one.
    last_seq: i64,
    skipped: u64,
    /// `skipped` events whose `after` is not where the viewer was.
    skip_gaps: u64,
}

impl EventHandler for Viewer {
    fn data(&mut self, event: &[u8], data: &[u8]) -> Result<()> {
        match event {
            b"output" => {
                let summary = OutputSummary::scan(data)?;
                if self.checks_left > 0 {
                    self.checks_left -= 1;
                    summary.check_against_serde(data)?;
                }
                self.last_seq = output_seq(data)?;
                self.stdout_bytes += summary.stdout_bytes;
                self.other_bytes += summary.other_bytes;
                self.pending_newest_at = summary.newest_at;
            }
            b"skipped" => {
                let skipped: Value = serde_json::from_slice(data)?;
                if skipped["after"].as_i64() != Some(self.last_seq) {
                    self.skip_gaps += 1;
                }
                self.skipped += 1;
                self.last_seq = skipped["until"]
                    .as_i64()
                    .context("a skipped event's until")?;
            }
            b"end" => {
                self.ended_wall = wall_micros();
                self.end = Some(serde_json::from_slice(data)?);
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, event: &[u8]) -> bool {
        if event == b"output" {
            self.events += 1;
            if let Some(newest_at) = self.pending_newest_at.take() {
                self.lags.push(wall_micros() - newest_at);
            }
        }
        self.end.is_none()
    }
}

async fn throughput(api: &Api, options: &Options, viewer_count: usize) -> Result<()> {
    let label = if viewer_count == 0 {
        "throughput".to_owned()
    } else {
        format!("viewers ({viewer_count})")
    };
    let environment = if viewer_count == 0 {
        "throughput"
    } else {
        "viewers"
    };
    let expected_stdout = options.lines * LINE_BYTES;
    let cpu_before = CpuTimes::read(options.server_pid);
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_memory(options.server_pid, stop_sampling.clone()));

    let wall_before = wall_micros();
    let before = Instant::now();
    let deploy_id = api.start_deploy(environment).await?;
    let viewers: Vec<_> = (0..viewer_count)
        .map(|index| {
            let api = api.clone();
            let deploy_id = deploy_id.clone();
            let behind = options.behind.clone();
            tokio::spawn(async move {
                let response = api.open_output(&deploy_id, &behind).await?;
                let mut viewer = Viewer {
                    checks_left: if index == 0 { 2 } else { 0 },
                    lags: Vec::with_capacity(256),
                    ..Viewer::default()
                };
                read_events(response, &mut viewer).await?;
                anyhow::Ok(viewer)
            })
        })
        .collect();
    let deploy = api
        .wait_finished(&deploy_id, Duration::from_millis(10))
        .await?;
    let observed_finish = before.elapsed();
    let mut seen = Vec::with_capacity(viewer_count);
    for viewer in viewers {
        seen.push(match viewer.await? {
            Ok(viewer) => viewer,
            Err(error) => Viewer {
                error: Some(format!("{error:#}")),
                ..Viewer::default()
            },
        });
    }
    let viewers_done = before.elapsed();
    if let Some(server) = options.server_pid {
        // The next phase starts once this supervisor has compressed the output and exited.
        wait_no_supervisor(server, Duration::from_secs(120)).await;
    }
    stop_sampling.store(true, Ordering::Relaxed);
    let memory = sampler.await?;
    let cpu = CpuTimes::read(options.server_pid).since(&cpu_before);

    let status = deploy["status"].as_str().unwrap_or_default();
    let time = |field: &str| {
        deploy[field]
            .as_str()
            .and_then(Timestamp::parse_rfc3339)
            .map(Timestamp::as_micros)
    };
    let (Some(started_at), Some(finished_at)) = (time("started_at"), time("finished_at")) else {
        bail!("deploy {deploy_id} has no start or end: {deploy}");
    };
    let output_bytes = deploy["output_bytes"].as_i64().unwrap_or_default();
    let running = (finished_at - started_at) as f64 / 1e6;
    println!(
        "{label}: deploy {status}, output_bytes {output_bytes} (command printed {expected_stdout}), \
         {:.3} s from started_at to finished_at: {:.1} MB/s persisted",
        running,
        output_bytes as f64 / 1e6 / running
    );
    println!(
        "{label}: POST to succeeded {:.3} s (finished_at - before POST; {:.3} s seen by polling), \
         POST to started_at {:.1} ms",
        (finished_at - wall_before) as f64 / 1e6,
        observed_finish.as_secs_f64(),
        (started_at - wall_before) as f64 / 1000.0,
    );
    if options.server_pid.is_some() {
        println!(
            "{label}: peak RSS: server {:.1} MiB, supervisor {:.1} MiB (its VmHWM {:.1} MiB), \
             {} samples every {} ms",
            memory.server_kib as f64 / 1024.0,
            memory.supervisor_kib as f64 / 1024.0,
            memory.supervisor_hwm_kib as f64 / 1024.0,
            memory.samples,
            MEMORY_SAMPLE_EVERY.as_millis()
        );
        println!(
            "{label}: CPU: server {:.2} s, supervisor {:.2} s, this load generator {:.2} s; supervisor \
             exited {:.0} ms after finished_at (it compresses the output after recording the end)",
            cpu.server,
            memory.supervisor_cpu,
            cpu.own,
            memory
                .supervisor_last_seen
                .map(|seen| (seen - finished_at) as f64 / 1000.0)
                .unwrap_or_default(),
        );
    }
    if status != "succeeded" {
        bail!("deploy {deploy_id} ended {status}: {deploy}");
    }
    if viewer_count == 0 || options.behind == "skip" {
        // After the figures: read the stored output back once, to check it and count batches.
        let mut reader = Viewer::default();
        read_events(api.open_output(&deploy_id, "read").await?, &mut reader).await?;
        println!(
            "{label}: read back after the end: {} stdout bytes (expected {expected_stdout}) in {} \
             stored batches of {:.0} KB on average",
            reader.stdout_bytes,
            reader.events,
            output_bytes as f64 / reader.events.max(1) as f64 / 1000.0
        );
        if reader.stdout_bytes != expected_stdout {
            bail!("the stored output is not whole");
        }
    }
    if viewer_count == 0 {
        return Ok(());
    }

    // Whole: every stdout byte, or (skipping) every skip where the viewer was, and the end.
    let whole = |viewer: &Viewer| {
        viewer.end.is_some()
            && viewer.skip_gaps == 0
            && (viewer.stdout_bytes == expected_stdout || viewer.skipped > 0)
    };
    let complete = seen.iter().filter(|viewer| whole(viewer)).count();
    if options.behind == "skip" {
        let received: Vec<f64> = seen
            .iter()
            .map(|viewer| 100.0 * viewer.stdout_bytes as f64 / expected_stdout as f64)
            .collect();
        let skips: Vec<f64> = seen.iter().map(|viewer| viewer.skipped as f64).collect();
        println!(
            "{label}: {complete}/{viewer_count} viewers got the end, each skip where they were; \
             stdout received live: {}; skips per viewer: {}",
            spread_in(&received, " %"),
            spread_in(&skips, "")
        );
    } else {
        println!(
            "{label}: {complete}/{viewer_count} viewers received all {expected_stdout} stdout \
             bytes and the end event"
        );
    }
    for (index, viewer) in seen.iter().enumerate() {
        if !whole(viewer) {
            println!(
                "{label}:   viewer {index}: {} stdout bytes, {} skips ({} not where it was), \
                 end event {}, error {:?}",
                viewer.stdout_bytes,
                viewer.skipped,
                viewer.skip_gaps,
                viewer.end.is_some(),
                viewer.error
            );
        }
    }
    let all_lags: Vec<f64> = seen
        .iter()
        .flat_map(|viewer| viewer.lags.iter().map(|lag| *lag as f64 / 1000.0))
        .collect();
    let max_per_viewer: Vec<f64> = seen
        .iter()
        .map(|viewer| viewer.lags.iter().copied().max().unwrap_or_default() as f64 / 1000.0)
        .collect();
    println!(
        "{label}: lag (event arrival - its newest chunk at) over {} events: {}",
        all_lags.len(),
        spread(&all_lags)
    );
    println!("{label}: max lag per viewer: {}", spread(&max_per_viewer));
    let last_end = seen
        .iter()
        .map(|viewer| viewer.ended_wall)
        .max()
        .unwrap_or_default();
    let events_per_viewer: Vec<f64> = seen.iter().map(|viewer| viewer.events as f64).collect();
    println!(
        "{label}: last viewer's end event {:.0} ms after finished_at (all viewers done {:.3} s \
         after the POST); {:.0} output events per viewer (p50)",
        (last_end - finished_at) as f64 / 1000.0,
        viewers_done.as_secs_f64(),
        percentile(&events_per_viewer, 50.0),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading an event stream cheaply

/// Receives the events of a stream. jeny writes `event:` before `data:`, so the data is handed
/// over with its event name as soon as its line is complete, without being copied.
trait EventHandler {
    fn data(&mut self, event: &[u8], data: &[u8]) -> Result<()>;
    /// An event is complete (blank line); return false to stop reading.
    fn dispatch(&mut self, event: &[u8]) -> bool;
}

async fn read_events(response: reqwest::Response, handler: &mut impl EventHandler) -> Result<()> {
    let mut parser = SseParser::default();
    let mut body = response.bytes_stream();
    while let Some(bytes) = body.next().await {
        if !parser.feed(&bytes?, handler)? {
            return Ok(());
        }
    }
    Ok(())
}

#[derive(Default)]
struct SseParser {
    /// The start of a line that a network read cut.
    pending: Vec<u8>,
    event: Vec<u8>,
}

impl SseParser {
    /// Returns false once the handler wants no more.
    fn feed(&mut self, mut bytes: &[u8], handler: &mut impl EventHandler) -> Result<bool> {
        if !self.pending.is_empty() {
            let Some(end) = find_byte(b'\n', bytes) else {
                self.pending.extend_from_slice(bytes);
                return Ok(true);
            };
            self.pending.extend_from_slice(&bytes[..end]);
            let line = std::mem::take(&mut self.pending);
            let more = self.line(&line, handler)?;
            self.pending = line;
            self.pending.clear();
            if !more {
                return Ok(false);
            }
            bytes = &bytes[end + 1..];
        }
        while let Some(end) = find_byte(b'\n', bytes) {
            if !self.line(&bytes[..end], handler)? {
                return Ok(false);
            }
            bytes = &bytes[end + 1..];
        }
        self.pending.extend_from_slice(bytes);
        Ok(true)
    }

    fn line(&mut self, line: &[u8], handler: &mut impl EventHandler) -> Result<bool> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            let event: &[u8] = if self.event.is_empty() {
                b"message"
            } else {
                &self.event
            };
            let more = handler.dispatch(event);
            self.event.clear();
            return Ok(more);
        }
        if line[0] == b':' {
            return Ok(true); // a keep-alive comment
        }
        let (field, value) = match find_byte(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            b"data" => {
                let event: &[u8] = if self.event.is_empty() {
                    b"message"
                } else {
                    &self.event
                };
                handler.data(event, value)?;
            }
            _ => {}
        }
        Ok(true)
    }
}

/// The position of `byte` in `haystack`, found with the platform's `memchr` (which
/// `BufRead::skip_until` on a byte slice uses).
fn find_byte(byte: u8, haystack: &[u8]) -> Option<usize> {
    let mut reader = haystack;
    let skipped = reader.skip_until(byte).ok()?;
    (skipped > 0 && haystack[skipped - 1] == byte).then(|| skipped - 1)
}

/// The `seq` an `output` event's data starts with: `{"seq":N,...`.
fn output_seq(data: &[u8]) -> Result<i64> {
    let digits = data
        .strip_prefix(b"{\"seq\":")
        .context("an output event that does not start with its seq")?;
    let end = digits
        .iter()
        .position(|byte| !byte.is_ascii_digit())
        .unwrap_or(digits.len());
    Ok(std::str::from_utf8(&digits[..end])?.parse()?)
}

/// What is measured of an `output` event: `{"seq":N,"chunks":[{"stream":..,"at":..,"text":..}]}`.
#[derive(Debug, Default, PartialEq)]
struct OutputSummary {
    stdout_bytes: u64,
    other_bytes: u64,
    chunks: u64,
    newest_at: Option<i64>,
    first_stdout_at: Option<i64>,
}

impl OutputSummary {
    fn scan(data: &[u8]) -> Result<OutputSummary> {
        let mut summary = OutputSummary::default();
        let mut json = Scanner { data, at: 0 };
        json.expect(b'{')?;
        while let Some(key) = json.next_key()? {
            if key != b"chunks" {
                json.skip_value()?;
                continue;
            }
            json.expect(b'[')?;
            loop {
                json.whitespace();
                if json.peek() == Some(b']') {
                    json.at += 1;
                    break;
                }
                json.expect(b'{')?;
                let (mut stream, mut at, mut text_len) = (&b""[..], None, 0u64);
                while let Some(key) = json.next_key()? {
                    match key {
                        b"stream" => stream = json.string()?.0,
                        b"at" => {
                            let raw = json.string()?.0;
                            at = std::str::from_utf8(raw)
                                .ok()
                                .and_then(Timestamp::parse_rfc3339)
                                .map(Timestamp::as_micros);
                        }
                        b"text" => text_len = json.string()?.1 as u64,
                        _ => json.skip_value()?,
                    }
                }
                summary.chunks += 1;
                if stream == b"stdout" {
                    summary.stdout_bytes += text_len;
                    if summary.first_stdout_at.is_none() {
                        summary.first_stdout_at = at;
                    }
                } else {
                    summary.other_bytes += text_len;
                }
                summary.newest_at = summary.newest_at.max(at);
                json.whitespace();
                if json.peek() == Some(b',') {
                    json.at += 1;
                }
            }
        }
        Ok(summary)
    }

    /// Fails when serde_json reads the event differently from the scan.
    fn check_against_serde(&self, data: &[u8]) -> Result<()> {
        let event: Value = serde_json::from_slice(data)?;
        let mut expected = OutputSummary::default();
        for chunk in event["chunks"]
            .as_array()
            .context("an event without chunks")?
        {
            expected.chunks += 1;
            let at = chunk["at"]
                .as_str()
                .and_then(Timestamp::parse_rfc3339)
                .map(Timestamp::as_micros);
            let text_len = chunk["text"].as_str().map(str::len).unwrap_or_default() as u64;
            if chunk["stream"] == "stdout" {
                expected.stdout_bytes += text_len;
                if expected.first_stdout_at.is_none() {
                    expected.first_stdout_at = at;
                }
            } else {
                expected.other_bytes += text_len;
            }
            expected.newest_at = expected.newest_at.max(at);
        }
        if *self != expected {
            bail!("the event scan read {self:?}, serde_json {expected:?}");
        }
        Ok(())
    }
}

/// A forward-only reader of compact JSON that never builds a string.
struct Scanner<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        self.whitespace();
        if self.peek() != Some(byte) {
            bail!(
                "expected {:?} at byte {} of an event",
                byte as char,
                self.at
            );
        }
        self.at += 1;
        Ok(())
    }

    /// Inside an object: the next key (its colon read), or None at the closing brace.
    fn next_key(&mut self) -> Result<Option<&'a [u8]>> {
        self.whitespace();
        if self.peek() == Some(b',') {
            self.at += 1;
            self.whitespace();
        }
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(None);
        }
        let key = self.string()?.0;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// A string: its raw bytes between the quotes and its decoded length in bytes.
    fn string(&mut self) -> Result<(&'a [u8], usize)> {
        self.expect(b'"')?;
        let data = self.data;
        let start = self.at;
        let mut position = start;
        let mut decoded = 0usize;
        let mut quote = start; // a quote at or after `position`, once searched for
        let mut quote_known = false;
        loop {
            if !quote_known || quote < position {
                quote = position
                    + find_byte(b'"', &data[position..]).context("an unterminated string")?;
                quote_known = true;
            }
            let Some(escape) = find_byte(b'\\', &data[position..quote]) else {
                decoded += quote - position;
                self.at = quote + 1;
                return Ok((&data[start..quote], decoded));
            };
            let escape = position + escape;
            decoded += escape - position;
            match data.get(escape + 1) {
                Some(b'u') => {
                    let code = hex4(data.get(escape + 2..escape + 6))?;
                    let low_follows = data.get(escape + 6..escape + 8) == Some(&b"\\u"[..]);
                    if (0xD800..0xDC00).contains(&code) && low_follows {
                        decoded += 4;
                        position = escape + 12;
                    } else {
                        decoded += match code {
                            0..0x80 => 1,
                            0x80..0x800 => 2,
                            _ => 3,
                        };
                        position = escape + 6;
                    }
                }
                Some(_) => {
                    decoded += 1;
                    position = escape + 2;
                }
                None => bail!("a string ends in a backslash"),
            }
        }
    }

    fn skip_value(&mut self) -> Result<()> {
        self.whitespace();
        match self.peek() {
            Some(b'"') => {
                self.string()?;
            }
            Some(b'{') => {
                self.at += 1;
                while self.next_key()?.is_some() {
                    self.skip_value()?;
                }
            }
            Some(b'[') => {
                self.at += 1;
                loop {
                    self.whitespace();
                    match self.peek() {
                        Some(b']') => {
                            self.at += 1;
                            break;
                        }
                        Some(b',') => self.at += 1,
                        _ => self.skip_value()?,
                    }
                }
            }
            Some(_) => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                ) {
                    self.at += 1;
                }
            }
            None => bail!("an event ends early"),
        }
        Ok(())
    }
}

fn hex4(digits: Option<&[u8]>) -> Result<u32> {
    let digits = digits.context("a short \\u escape")?;
    let text = std::str::from_utf8(digits)?;
    Ok(u32::from_str_radix(text, 16)?)
}

// ---------------------------------------------------------------------------------------------
// Processes: memory and CPU

#[derive(Debug, Default, Clone, Copy)]
struct MemoryPeaks {
    server_kib: u64,
    supervisor_kib: u64,
    supervisor_hwm_kib: u64,
    samples: u64,
    /// Wall clock of the last look that still found a supervisor (within `SUPERVISOR_LOOK_EVERY`).
    supervisor_last_seen: Option<i64>,
    /// The supervisor's CPU seconds at the last look.
    supervisor_cpu: f64,
}

/// How often the sampler looks whether a supervisor still runs.
const SUPERVISOR_LOOK_EVERY: Duration = Duration::from_millis(5);

/// Samples the RSS of the server and its supervisor children every `MEMORY_SAMPLE_EVERY`, and
/// notes when a supervisor was last seen, until `stop` is set.
async fn sample_memory(server: Option<u32>, stop: Arc<AtomicBool>) -> MemoryPeaks {
    let mut peaks = MemoryPeaks::default();
    let Some(server) = server else {
        return peaks;
    };
    let looks_per_sample =
        (MEMORY_SAMPLE_EVERY.as_millis() / SUPERVISOR_LOOK_EVERY.as_millis()).max(1) as u64;
    let mut tick = tokio::time::interval(SUPERVISOR_LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut look = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let found = supervisors(server);
        if !found.is_empty() {
            peaks.supervisor_last_seen = Some(wall_micros());
            let cpu: f64 = found.iter().map(|pid| cpu_seconds(*pid)).sum();
            peaks.supervisor_cpu = peaks.supervisor_cpu.max(cpu);
        }
        look += 1;
        if look % looks_per_sample != 1 {
            continue;
        }
        peaks.samples += 1;
        peaks.server_kib = peaks.server_kib.max(status_kib(server, "VmRSS:"));
        for supervisor in found {
            peaks.supervisor_kib = peaks.supervisor_kib.max(status_kib(supervisor, "VmRSS:"));
            peaks.supervisor_hwm_kib = peaks
                .supervisor_hwm_kib
                .max(status_kib(supervisor, "VmHWM:"));
        }
    }
    peaks
}

/// A `kB` field of `/proc/PID/status` (0 when the process is gone).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_default()
}

/// The server's children running `jeny supervise`.
fn supervisors(server: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{server}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
        {
            let command_line = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            if command_line
                .split(|byte| *byte == 0)
                .any(|arg| arg == b"supervise")
            {
                found.push(child);
            }
        }
    }
    found
}

/// Waits until the server has no supervisor child; returns when (since the call).
async fn wait_no_supervisor(server: u32, limit: Duration) -> Duration {
    let since = Instant::now();
    while !supervisors(server).is_empty() && since.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    since.elapsed()
}

/// CPU seconds (user + system) of the server and of this process.
#[derive(Debug, Default)]
struct CpuTimes {
    server: f64,
    own: f64,
}

impl CpuTimes {
    fn read(server: Option<u32>) -> CpuTimes {
        CpuTimes {
            server: server.map(cpu_seconds).unwrap_or_default(),
            own: cpu_seconds(std::process::id()),
        }
    }

    fn since(&self, before: &CpuTimes) -> CpuTimes {
        CpuTimes {
            server: self.server - before.server,
            own: self.own - before.own,
        }
    }
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends at the last ')'): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
            .unwrap_or_default()
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

// ---------------------------------------------------------------------------------------------
// Figures

fn wall_micros() -> i64 {
    Timestamp::now().as_micros()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile.
fn percentile(values: &[f64], percent: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn spread(values: &[f64]) -> String {
    spread_in(values, " ms")
}

/// p50, p90, p99 and max of `values`, each followed by `unit`.
fn spread_in(values: &[f64], unit: &str) -> String {
    format!(
        "p50 {:.1}{unit}, p90 {:.1}{unit}, p99 {:.1}{unit}, max {:.1}{unit}",
        percentile(values, 50.0),
        percentile(values, 90.0),
        percentile(values, 99.0),
        percentile(values, 100.0)
    )
}
