//! The EC2 sync's figure: a sync of 5,000 instances reaches the store in under 10 s of jeny's
//! own time (the report's `own_ms`: mapping the instances and the one transaction that writes
//! the hosts; the time waiting for the emulator is `fetch_ms`, reported apart). Run by
//! `scripts/bench-aws`, in release mode, against moto in server mode (`tests/peers/aws/setup`)
//! and an in-process jeny on SQLite and, when `JENY_TEST_DATABASE_URL` is set, on PostgreSQL.
//!
//! For each backend: a first sync (every host added), a second with nothing new, and a third
//! after 100 instances were retagged and 100 terminated.
//!
//! ```text
//! bench_aws [--instances 5000] [--regions 2]
//! ```

use anyhow::{Context, Result};
use jeny_testkit::{Backend, Moto, TestApp, TestDatabase};
use serde_json::{Value, json};
use std::time::Instant;

/// CPU time this process has used (user and system), in milliseconds: the server runs in this
/// process, the emulator in another, so this is jeny's own time, the SDK's parsing included.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields 14 and 15 of the file (utime, stime), counted from the state field (3)
    let ticks: u64 = fields
        .get(11..13)
        .map(|both| both.iter().filter_map(|f| f.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    ticks * 1000 / 100
}

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

#[tokio::main]
async fn main() -> Result<()> {
    let instances = flag("--instances", 5000)?;
    let regions: Vec<String> = ["eu-west-1", "us-east-1", "ap-southeast-2"]
        .into_iter()
        .take(flag("--regions", 2)?.clamp(1, 3))
        .map(str::to_owned)
        .collect();
    let moto = Moto::start().await;
    let started = Instant::now();
    let per_region = instances / regions.len();
    let mut ids: Vec<(String, String)> = Vec::new();
    for region in &regions {
        let mut made = 0;
        while made < per_region {
            let batch = (per_region - made).min(500);
            let tags = [
                ("Name", "web"),
                ("role", "web"),
                ("env", "production"),
                ("team", "shop"),
                ("cost-center", "1234"),
                ("managed-by", "jeny"),
            ];
            for id in moto
                .run_instances(region, i32::try_from(batch)?, &tags)
                .await
            {
                ids.push((region.clone(), id));
            }
            made += batch;
        }
    }
    println!(
        "emulator: {} instances in {} regions created in {:.1} s",
        ids.len(),
        regions.len(),
        started.elapsed().as_secs_f64()
    );
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("JENY_TEST_DATABASE_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    println!(
        "| backend | sync | added | changed | gone | unchanged | own time: mapping and storing | jeny's CPU, SDK parsing included | fetch (slowest region) | wall |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (pass, backend) in backends.into_iter().enumerate() {
        let app = TestApp::spawn_on(TestDatabase::create(backend).await, |_| {}).await;
        let admin = app.with_admin().await;
        let created = admin
            .request(reqwest::Method::POST, "/api/v1/aws/accounts")
            .json(&json!({
                "name": "bench", "regions": regions, "access_key_id": "testing",
                "secret_access_key": "testing", "endpoint_url": moto.url, "enabled": false,
            }))
            .send()
            .await?;
        anyhow::ensure!(
            created.status().as_u16() == 201,
            "the account was not created"
        );
        for round in 1..=3 {
            if round == 3 {
                // each backend's pass changes instances of its own (the emulator is shared)
                let (region, _) = &ids[0];
                let ec2 = moto.ec2(region).await;
                let in_region: Vec<&String> = ids
                    .iter()
                    .filter(|(r, _)| r == region)
                    .map(|(_, id)| id)
                    .collect();
                let mine = in_region.iter().skip(pass * 200);
                for id in mine.clone().take(100) {
                    ec2.create_tags()
                        .resources(*id)
                        .tags(
                            aws_sdk_ec2::types::Tag::builder()
                                .key("role")
                                .value("worker")
                                .build(),
                        )
                        .send()
                        .await?;
                }
                for id in mine.skip(100).take(100) {
                    ec2.terminate_instances().instance_ids(*id).send().await?;
                }
            }
            let cpu_before = cpu_ms();
            let wall = Instant::now();
            let report: Value = admin
                .request(reqwest::Method::POST, "/api/v1/aws/accounts/bench/sync")
                .send()
                .await?
                .json()
                .await?;
            let wall = wall.elapsed();
            let cpu = cpu_ms().saturating_sub(cpu_before);
            let slowest_fetch = report["regions"]
                .as_array()
                .map(|regions| {
                    regions
                        .iter()
                        .filter_map(|r| r["fetch_ms"].as_u64())
                        .max()
                        .unwrap_or(0)
                })
                .unwrap_or(0);
            println!(
                "| {backend:?} | {round} | {} | {} | {} | {} | {} ms | {cpu} ms | {slowest_fetch} ms | {:.2} s |",
                report["added"],
                report["changed"],
                report["gone"],
                report["unchanged"],
                report["own_ms"],
                wall.as_secs_f64()
            );
            anyhow::ensure!(report["status"] == "ok", "the sync failed: {report}");
        }
        app.stop().await;
    }
    Ok(())
}
