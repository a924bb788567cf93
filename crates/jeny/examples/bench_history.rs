//! Deploy history figures: how fast the API answers with 1,000,000 deploys stored.
//!
//! Starts jeny in-process on a fresh database (the `jeny_testkit` server, SQLite or
//! PostgreSQL), creates project `hist` with five environments, stores `--deploys` finished
//! deploys spread over them (plus a running and two queued ones per environment) straight in the
//! database, then times, over `--requests` rounds each:
//!
//! - `GET /api/v1/deploys?limit=50` (the history page), and filtered by project, environment,
//!   status and user;
//! - the environments page's data, as the web app loads it: the project, its environments,
//!   `GET /api/v1/deploys/latest?project=` (current and succeeded), the project's queued and running
//!   deploys, and each environment's lock, all at once;
//! - for comparison, the statements the deploys part ran before (names in the filters, a
//!   correlated subquery for the latest deploy per environment, one query per queued deploy for
//!   its position), straight on the store.
//!
//! ```text
//! cargo run --release -p jeny --example bench_history -- [sqlite|postgres] [--deploys 1000000] [--requests 200]
//! ```

use anyhow::{Context, Result};
use jeny_store::{Backend, Store, sqlx};
use jeny_testkit::{Client, TestApp};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

const ENVIRONMENTS: [&str; 5] = ["production", "staging", "canary", "qa", "dev"];

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let mut backend = Backend::Sqlite;
    let mut deploys: i64 = 1_000_000;
    let mut requests: usize = 200;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "sqlite" => backend = Backend::Sqlite,
            "postgres" => backend = Backend::Postgres,
            "--deploys" => deploys = args.next().context("--deploys N")?.parse()?,
            "--requests" => requests = args.next().context("--requests N")?.parse()?,
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    send(
        &admin,
        Method::POST,
        "/api/v1/projects",
        Some(json!({"name": "hist", "deploy_command": "true"})),
    )
    .await?;
    for environment in ENVIRONMENTS {
        send(
            &admin,
            Method::POST,
            "/api/v1/projects/hist/environments",
            Some(json!({"name": environment})),
        )
        .await?;
    }
    let started = Instant::now();
    seed(&app.store, deploys).await?;
    println!(
        "{backend:?}: stored {deploys} deploys in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let calls: [(&str, String); 6] = [
        ("history page", "/api/v1/deploys?limit=50".to_owned()),
        (
            "project history",
            "/api/v1/projects/hist/deploys?limit=50".to_owned(),
        ),
        (
            "environment history",
            "/api/v1/projects/hist/deploys?limit=50&environment=canary".to_owned(),
        ),
        (
            "failed deploys",
            "/api/v1/deploys?limit=50&status=failed".to_owned(),
        ),
        (
            "a person's deploys",
            "/api/v1/deploys?limit=50&user=rare%40example.com".to_owned(),
        ),
        (
            "history page 2",
            "/api/v1/deploys?limit=50&cursor=".to_owned(),
        ),
    ];
    for (name, path) in &calls {
        let path = if path.ends_with("cursor=") {
            let first: serde_json::Value = admin
                .request(Method::GET, "/api/v1/deploys?limit=50")
                .send()
                .await?
                .json()
                .await?;
            format!(
                "{path}{}",
                first["next_cursor"].as_str().unwrap_or_default()
            )
        } else {
            path.clone()
        };
        let timings = time(requests, || get(&admin, &path)).await?;
        report(name, &timings);
    }
    let page = time(requests, || environments_page(&admin)).await?;
    report("environments page data (9 calls at once)", &page);

    // The statements of before, straight on the store.
    let old_list = "SELECT id FROM deploys WHERE ($1 IS NULL OR project = $1) AND ($2 IS NULL OR environment = $2) \
         AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR id < $4) AND ($6 IS NULL OR user_email = $6) \
         ORDER BY id DESC LIMIT $5";
    let timings = time(requests.min(50), || async {
        sqlx::query(old_list)
            .bind(Some("hist"))
            .bind(Some("canary"))
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(51i64)
            .bind(None::<String>)
            .fetch_all(app.store.reader())
            .await?;
        Ok(())
    })
    .await?;
    report("before: environment history (filter on names)", &timings);
    let timings = time(requests.clamp(1, 20), || async {
        sqlx::query(old_list)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(51i64)
            .bind(Some("rare@example.com"))
            .fetch_all(app.store.reader())
            .await?;
        Ok(())
    })
    .await?;
    report(
        "before: a person's deploys (no index on the filter)",
        &timings,
    );
    let old_latest = "SELECT id FROM deploys AS outer_deploy WHERE ($1 IS NULL OR project = $1) \
         AND id = (SELECT newest.id FROM deploys AS newest \
           WHERE newest.environment_id = outer_deploy.environment_id \
           AND ($2 IS NULL OR newest.status = $2) ORDER BY newest.id DESC LIMIT 1)";
    let timings = time(requests.clamp(1, 5), || async {
        sqlx::query(old_latest)
            .bind(Some("hist"))
            .bind(None::<String>)
            .fetch_all(app.store.reader())
            .await?;
        Ok(())
    })
    .await?;
    report(
        "before: latest per environment (correlated subquery)",
        &timings,
    );
    app.stop().await;
    Ok(())
}

/// Stores `count` finished deploys (ids in time order) spread over the five environments, then a
/// running and two queued ones in each, as a long-lived server would have them.
async fn seed(store: &Store, count: i64) -> Result<()> {
    let environments: Vec<(String, String, String)> =
        sqlx::query_as("SELECT e.id, e.project_id, e.name FROM environments e ORDER BY e.name")
            .fetch_all(store.reader())
            .await?;
    let chunk = 100_000i64;
    let mut from = 0i64;
    while from < count {
        let to = (from + chunk).min(count);
        let mut tx = store.begin().await?;
        for (index, (environment_id, project_id, environment)) in environments.iter().enumerate() {
            let modulus = environments.len() as i64;
            let padded = match store.backend() {
                Backend::Sqlite => "substr('000000000000' || CAST(i AS TEXT), -12, 12)",
                Backend::Postgres => "lpad(CAST(i AS TEXT), 12, '0')",
            };
            sqlx::query(&format!(
                "WITH RECURSIVE n(i) AS (SELECT CAST($1 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2) \
                 INSERT INTO deploys (id, project_id, environment_id, project, environment, status, description, \
                   host_filter, user_email, queued_at, started_at, finished_at, exit_code, output_bytes) \
                 SELECT '00000000-0000-7000-8000-' || {padded}, \
                   $3, $4, 'hist', $5, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, '', '{{}}', \
                   CASE WHEN i % 100000 = 7 THEN 'rare@example.com' ELSE 'deployer@example.com' END, \
                   1700000000000000 + i * 1000, 1700000000000000 + i * 1000, 1700000000000000 + i * 1000 + 500, \
                   CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, 1000 \
                 FROM n WHERE i % $6 = $7"
            ))
            .bind(from)
            .bind(to)
            .bind(project_id)
            .bind(environment_id)
            .bind(environment)
            .bind(modulus)
            .bind(index as i64)
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await?;
        from = to;
    }
    let mut tx = store.begin().await?;
    for (offset, (environment_id, project_id, environment)) in environments.iter().enumerate() {
        for (slot, status) in ["running", "queued", "queued"].iter().enumerate() {
            let i = count + (offset * 3 + slot) as i64;
            sqlx::query(
                "INSERT INTO deploys (id, project_id, environment_id, project, environment, status, description, \
                   host_filter, user_email, queued_at, started_at) \
                 VALUES ($1, $2, $3, 'hist', $4, $5, '', '{}', 'deployer@example.com', $6, $7)",
            )
            .bind(format!("00000000-0000-7000-8000-{i:012}"))
            .bind(project_id)
            .bind(environment_id)
            .bind(environment)
            .bind(*status)
            .bind(1_700_000_000_000_000 + i * 1000)
            .bind((*status == "running").then_some(1_700_000_000_000_000 + i * 1000))
            .execute(tx.conn())
            .await?;
        }
    }
    tx.commit().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("ANALYZE deploys")
            .execute(store.reader())
            .await?;
    } else {
        sqlx::query("PRAGMA optimize")
            .execute(store.reader())
            .await
            .ok();
    }
    Ok(())
}

async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<()> {
    let mut request = client.request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    Ok(())
}

async fn get(client: &Client, path: &str) -> Result<()> {
    let response = client.request(Method::GET, path).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.bytes().await?;
    Ok(())
}

async fn environments_page(client: &Client) -> Result<()> {
    let mut paths = vec![
        "/api/v1/projects/hist".to_owned(),
        "/api/v1/projects/hist/environments?limit=500".to_owned(),
        "/api/v1/deploys/latest?project=hist".to_owned(),
        "/api/v1/deploys/latest?project=hist&status=succeeded".to_owned(),
        "/api/v1/projects/hist/deploys?status=queued&limit=200".to_owned(),
        "/api/v1/projects/hist/deploys?status=running&limit=200".to_owned(),
    ];
    for environment in ENVIRONMENTS.iter().take(3) {
        paths.push(format!(
            "/api/v1/projects/hist/environments/{environment}/lock"
        ));
    }
    let calls = paths.iter().map(|path| get(client, path));
    for result in futures_util::future::join_all(calls).await {
        result?;
    }
    Ok(())
}

async fn time<F, Fut>(rounds: usize, mut call: F) -> Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    call().await?; // warm up
    let mut timings = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        call().await?;
        timings.push(started.elapsed());
    }
    timings.sort();
    Ok(timings)
}

fn report(name: &str, timings: &[Duration]) {
    let at = |q: f64| timings[((timings.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<55} p50 {:>8.2} ms  p95 {:>8.2} ms  max {:>8.2} ms  ({} rounds)",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.95).as_secs_f64() * 1000.0,
        at(1.0).as_secs_f64() * 1000.0,
        timings.len()
    );
}
