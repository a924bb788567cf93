//! Prometheus remote write as jeny takes it (`POST /api/v1/prom/write?db=<project>`): requests
//! encoded here with prost and snappy, read back through `/query`, with InfluxDB 1.x's answers
//! (400 for what is not snappy or not a `WriteRequest`, 401, 403, 404, 413); and a real
//! Prometheus (Debian's, `tests/peers/prometheus/setup`) scraping jeny's own `/metrics` every
//! second and remote-writing what it scraped into a project.

use jeny_core::Role;
use jeny_metrics::api::prom::prompb::{Label, Sample, TimeSeries, WriteRequest};
use jeny_testkit::{Backend, TestApp, both_backends};
use prost::Message as _;
use serde_json::{Value, json};

use crate::peers;
use crate::project;

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(name, value)| Label {
                name: (*name).to_owned(),
                value: (*value).to_owned(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
    }
}

/// A `WriteRequest` as Prometheus sends it: protobuf, then snappy's block format.
fn snappy_protobuf(request: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

/// (status, body as JSON or null, the version header)
async fn remote_write(
    url: &str,
    query: &str,
    authorization: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/api/v1/prom/write{query}"))
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let version = response
        .headers()
        .get("x-influxdb-version")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    (status, body, version)
}

/// InfluxDB's `/query` answer to `q` on `project`, times in milliseconds.
async fn query(app: &TestApp, token: &str, project: &str, q: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/query", app.url))
        .query(&[("db", project), ("epoch", "ms"), ("q", q)])
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn samples_are_points_named_by_their_metric_and_tagged_with_their_labels(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;
    let stale_marker = f64::from_bits(0x7ff0_0000_0000_0002);
    let request = WriteRequest {
        timeseries: vec![
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("instance", "10.0.0.1:9100"),
                    ("project", "someone-else"),
                ],
                &[
                    (1_700_000_000_000, 10.0),
                    (1_700_000_001_000, 12.5),
                    (1_700_000_002_000, f64::NAN),
                    (1_700_000_003_000, stale_marker),
                    (1_700_000_004_000, f64::INFINITY),
                    (1_700_000_005_000, 20.0),
                ],
            ),
            series(&[("job", "api")], &[(1_700_000_000_000, 1.0)]),
        ],
    };
    let (status, body, version) = remote_write(
        &app.url,
        "?db=shop",
        Some(&format!("Bearer {token}")),
        snappy_protobuf(&request),
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(version.as_deref(), Some("1.8.10"));

    let answer = query(
        &app,
        &token,
        "shop",
        "SELECT \"value\" FROM \"http_requests_total\" GROUP BY *",
    )
    .await;
    assert_eq!(
        answer,
        json!({"results": [{"statement_id": 0, "series": [{
            "name": "http_requests_total",
            "tags": {"__name__": "http_requests_total", "instance": "10.0.0.1:9100",
                     "job": "api", "project": "shop"},
            "columns": ["time", "value"],
            "values": [[1_700_000_000_000i64, 10], [1_700_000_001_000i64, 12.5],
                       [1_700_000_005_000i64, 20]]
        }]}]}),
        "NaN, the stale marker and +Inf are dropped; the project is the database written to"
    );
    let answer = query(&app, &token, "shop", "SHOW FIELD KEYS; SHOW MEASUREMENTS").await;
    assert_eq!(
        answer["results"][0]["series"],
        json!([
            {"name": "http_requests_total", "columns": ["fieldKey", "fieldType"], "values": [["value", "float"]]},
            {"name": "prom_metric_not_specified", "columns": ["fieldKey", "fieldType"], "values": [["value", "float"]]}
        ])
    );
    assert_eq!(
        answer["results"][1]["series"][0]["values"],
        json!([["http_requests_total"], ["prom_metric_not_specified"]])
    );
}

/// A refused request: its query, its `Authorization`, its body, and the status and the
/// `error` (when it is worth checking whole) InfluxDB answers it with.
type Refusal<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, Option<&'a str>);

async fn refusals_answer_as_influxdb_1x_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let deployer = format!(
        "Bearer {}",
        app.token_for("deployer@example.com", Role::Deployer).await
    );
    let viewer = format!(
        "Bearer {}",
        app.token_for("viewer@example.com", Role::Viewer).await
    );
    let good = || {
        snappy_protobuf(&WriteRequest {
            timeseries: vec![series(&[("__name__", "m")], &[(1, 1.0)])],
        })
    };
    let not_protobuf = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\xff")
        .unwrap();
    let forged = "Bearer jeny_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let cases: Vec<Refusal> = vec![
        (
            "?db=shop",
            None,
            good(),
            401,
            Some("unable to parse authentication credentials"),
        ),
        (
            "?db=shop",
            Some(forged),
            good(),
            401,
            Some("authorization failed"),
        ),
        (
            "",
            Some(&deployer),
            good(),
            400,
            Some("database is required"),
        ),
        (
            "?db=nope",
            Some(&deployer),
            good(),
            404,
            Some("database not found: \"nope\""),
        ),
        ("?db=shop", Some(&viewer), good(), 403, None),
        (
            "?db=shop",
            Some(&deployer),
            Vec::new(),
            400,
            Some("snappy: corrupt input (empty)"),
        ),
        (
            "?db=shop",
            Some(&deployer),
            b"m value=1 1".to_vec(),
            400,
            None,
        ),
        ("?db=shop", Some(&deployer), not_protobuf, 400, None),
    ];
    for (query, authorization, body, status, message) in cases {
        let (got, answer, _) = remote_write(&app.url, query, authorization, body).await;
        assert_eq!(got, status, "{query} {authorization:?}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{query}: InfluxDB's shape: {answer}"));
        match message {
            Some(message) => assert_eq!(error, message, "{query}"),
            None if status == 400 => assert!(
                error.starts_with("snappy: corrupt input")
                    || error.starts_with("the body is not a Prometheus WriteRequest"),
                "{error}"
            ),
            None => {}
        }
    }
    let (_, answer, _) = remote_write(&app.url, "?db=shop", Some(&viewer), good()).await;
    assert!(
        answer["error"].as_str().unwrap().starts_with(
            "\"viewer@example.com\" user is not authorized to write to database \"shop\""
        ),
        "{answer}"
    );
    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    assert!(
        store.measurements("shop").is_empty(),
        "nothing refused was written"
    );
    // an agent token writes to any project, and `?p=` carries a token too
    let agent = admin
        .request(reqwest::Method::POST, "/api/v1/agent-tokens")
        .json(&json!({"name": "web-1"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = remote_write(
        &app.url,
        &format!("?db=shop&u=prom&p={agent}"),
        None,
        good(),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(store.measurements("shop"), ["m"]);
}

/// A body that streams past `max_body_bytes` is refused in InfluxDB's shape and writes nothing;
/// one that declares its length past it is refused before it is read.
async fn a_body_past_the_limit_is_refused(backend: Backend) {
    let database = jeny_testkit::TestDatabase::create(backend).await;
    let app = TestApp::spawn_on(database, |config| config.max_body_bytes = 4096).await;
    app.with_admin()
        .await
        .create_project(&project("shop"))
        .await
        .unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;
    // label values snappy cannot shrink much: 400 different scrambled numbers
    let scrambled = |i: u64| {
        let a = i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!("{a:016x}{:016x}", a.rotate_left(29) ^ 0xbf58_476d_1ce4_e5b9)
    };
    let big = WriteRequest {
        timeseries: (0..400)
            .map(|i| {
                series(
                    &[("__name__", "m"), ("series", &scrambled(i))],
                    &[(i as i64, 1.0)],
                )
            })
            .collect(),
    };
    let body = snappy_protobuf(&big);
    assert!(body.len() > 4096);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/prom/write?db=shop", app.url))
        .header("authorization", format!("Bearer {token}"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("http: request body too large"),
        "{answer}"
    );
    let (status, _, _) =
        remote_write(&app.url, "?db=shop", Some(&format!("Bearer {token}")), body).await;
    assert_eq!(status, 413);
    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    assert!(store.measurements("shop").is_empty());
}

/// A real Prometheus scrapes jeny's `/metrics` every second and remote-writes what it scraped
/// into project `shop` with a deployer's token (`authorization: credentials:`); its `up` series
/// (the job a tag) and jeny's own counters arrive, and `/query` reads them.
async fn a_real_prometheus_remote_writes_its_scrape_of_jeny(backend: Backend) {
    let prometheus = peers::require("/usr/bin/prometheus", "tests/peers/prometheus/setup");
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;
    let folder = tempfile::tempdir().unwrap();
    let jeny = app.address;
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: jeny
    static_configs:
      - targets: ["{jeny}"]
remote_write:
  - url: "http://{jeny}/api/v1/prom/write?db=shop"
    authorization:
      credentials: "{token}"
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"#
    );
    let config_path = folder.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let log_path = folder.path().join("prometheus.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut process = tokio::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            folder.path().join("data").display()
        ))
        .arg(format!(
            "--web.listen-address=127.0.0.1:{}",
            peers::free_port()
        ))
        .arg("--log.level=warn")
        .current_dir(folder.path())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start prometheus");

    let up = jeny_testkit::poll_until(
        "prometheus's scrape of jeny (`up` and jeny's own counters) reaches the project through remote write",
        || {
            let exited = process.try_wait().unwrap();
            let (app, token, log_path) = (&app, &token, &log_path);
            async move {
                if let Some(status) = exited {
                    let log = std::fs::read_to_string(log_path).unwrap_or_default();
                    panic!("prometheus exited ({status}):\n{log}");
                }
                let answer = query(
                    app,
                    token,
                    "shop",
                    "SELECT last(\"value\") FROM \"up\" GROUP BY \"job\", \"instance\"; SHOW MEASUREMENTS",
                )
                .await;
                let up = answer["results"][0]["series"].as_array()?.first()?.clone();
                let measurements = answer["results"][1]["series"][0]["values"].as_array()?;
                // jeny's own metrics come with it
                let has = |name: &str| measurements.iter().any(|row| row[0] == name);
                (has("jeny_http_requests_total") && has("scrape_duration_seconds")).then_some(up)
            }
        },
    )
    .await;
    assert_eq!(
        up["tags"],
        json!({"job": "jeny", "instance": jeny.to_string()})
    );
    assert_eq!(up["values"][0][1], json!(1), "jeny was up: {up}");
    let answer = query(&app, &token, "shop", "SHOW TAG KEYS FROM \"up\"").await;
    assert_eq!(
        answer["results"][0]["series"][0]["values"],
        json!([["__name__"], ["instance"], ["job"], ["project"]])
    );
    process.kill().await.unwrap();
}

both_backends!(
    samples_are_points_named_by_their_metric_and_tagged_with_their_labels,
    refusals_answer_as_influxdb_1x_does,
    a_body_past_the_limit_is_refused,
    a_real_prometheus_remote_writes_its_scrape_of_jeny
);
