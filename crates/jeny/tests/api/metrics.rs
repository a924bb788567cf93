//! InfluxDB's API as jeny speaks it: `/write` and `/api/v2/write` with a token sent every way
//! InfluxDB clients send one, gzip bodies, each protocol's error shapes (401, 403, 404, 400),
//! `/ping`, the `project` tag, and points that survive a restart. What the line protocol keeps
//! and refuses, body by body, is compared with the real InfluxDB in
//! `crates/jeny-metrics/tests/line_protocol_vs_influxdb.rs`.

use std::io::Write as _;

use base64::Engine as _;
use jeny_core::Role;
use jeny_metrics::store::Values;
use jeny_testkit::{Backend, TestApp, both_backends};
use serde_json::Value;

use crate::project;

/// (status, body as JSON or null, the version header)
async fn post(
    app: &TestApp,
    path_and_query: &str,
    authorization: Option<&str>,
    body: Vec<u8>,
    gzip: bool,
) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path_and_query}", app.url))
        .body(body);
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    if gzip {
        request = request.header("content-encoding", "gzip");
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

/// A stored float: its series' tags, its time and its value.
type StoredFloat = (Vec<(String, String)>, i64, f64);

/// The float values of `measurement.field` in `project`, by (tags, time).
fn stored(app: &TestApp, project: &str, measurement: &str, field: &str) -> Vec<StoredFloat> {
    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    let mut out = Vec::new();
    for s in store.series(project, measurement, Some(field), &|_| true) {
        let p = store.read(s.id, i64::MIN, i64::MAX).unwrap();
        let Values::Bits(bits) = p.values else {
            panic!("numbers")
        };
        for (t, b) in p.times.into_iter().zip(bits) {
            out.push((s.tags.clone(), t, f64::from_bits(b)));
        }
    }
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn a_token_is_taken_however_influxdb_clients_send_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("telegraf:{token}"));
    let forms: [(String, Option<String>); 5] = [
        (String::new(), Some(format!("Bearer {token}"))),
        (String::new(), Some(format!("Token {token}"))),
        (String::new(), Some(format!("Token someone:{token}"))),
        (String::new(), Some(format!("Basic {basic}"))),
        (format!("&u=telegraf&p={token}"), None),
    ];
    for (i, (query, header)) in forms.iter().enumerate() {
        let (status, body, version) = post(
            &app,
            &format!("/write?db=shop&precision=s{query}"),
            header.as_deref(),
            format!("cpu,host=web-1 usage={i} {}", 1_800_000_000 + i).into_bytes(),
            false,
        )
        .await;
        assert_eq!((status, &body), (204, &Value::Null), "form {i}");
        assert_eq!(version.as_deref(), Some("1.8.10"));
    }
    // every point carries the project it was written to
    let points = stored(&app, "shop", "cpu", "usage");
    assert_eq!(points.len(), 5);
    assert!(
        points
            .iter()
            .all(|p| p.0 == tags(&[("host", "web-1"), ("project", "shop")]))
    );
    assert_eq!(
        points[4],
        (points[4].0.clone(), 1_800_000_004_000_000_000, 4.0)
    );
}

async fn refusals_keep_each_protocols_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let deployer = format!(
        "Token {}",
        app.token_for("deployer@example.com", Role::Deployer).await
    );
    let viewer = format!(
        "Token {}",
        app.token_for("viewer@example.com", Role::Viewer).await
    );
    let line = || b"m v=1 1".to_vec();
    let cases: Vec<(&str, Option<&str>, u16, Value)> = vec![
        (
            "/write?db=shop",
            None,
            401,
            serde_json::json!({"error": "unable to parse authentication credentials"}),
        ),
        (
            "/write?db=shop",
            Some("Token jeny_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            401,
            serde_json::json!({"error": "authorization failed"}),
        ),
        (
            "/write",
            Some(&deployer),
            400,
            serde_json::json!({"error": "database is required"}),
        ),
        (
            "/write?db=nope",
            Some(&deployer),
            404,
            serde_json::json!({"error": "database not found: \"nope\""}),
        ),
        (
            "/write?db=shop&precision=x",
            Some(&deployer),
            400,
            serde_json::json!({"error": "invalid precision \"x\": use n, u, ms, s, m or h"}),
        ),
        (
            "/api/v2/write?bucket=shop",
            None,
            401,
            serde_json::json!({"code": "unauthorized", "message": "unauthorized access"}),
        ),
        (
            "/api/v2/write?bucket=nope",
            Some(&deployer),
            404,
            serde_json::json!({"code": "not found", "message": "bucket \"nope\" not found"}),
        ),
        (
            "/api/v2/write?org=x",
            Some(&deployer),
            400,
            serde_json::json!({"code": "invalid", "message": "bucket is required"}),
        ),
    ];
    for (path, authorization, status, body) in cases {
        let got = post(&app, path, authorization, line(), false).await;
        assert_eq!((got.0, got.1), (status, body), "{path}");
    }
    // a viewer may not write, in either protocol
    let (status, body, _) = post(&app, "/write?db=shop", Some(&viewer), line(), false).await;
    assert_eq!(status, 403);
    assert!(
        body["error"].as_str().unwrap().starts_with(
            "\"viewer@example.com\" user is not authorized to write to database \"shop\""
        ),
        "{body}"
    );
    let (status, body, _) = post(
        &app,
        "/api/v2/write?bucket=shop",
        Some(&viewer),
        line(),
        false,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    // 1.x keeps the good lines of a partly bad body; 2.x refuses it whole
    let body = b"m v=1 10\nm v= 11\nm v=3 12".to_vec();
    let (status, answer, _) =
        post(&app, "/write?db=shop", Some(&deployer), body.clone(), false).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"],
        "partial write: unable to parse 'm v= 11': missing field value dropped=0"
    );
    let (status, answer, _) = post(
        &app,
        "/api/v2/write?bucket=shop",
        Some(&deployer),
        body,
        false,
    )
    .await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("invalid")));
    assert_eq!(
        answer["message"],
        "unable to parse 'm v= 11': missing field value"
    );
    let times: Vec<i64> = stored(&app, "shop", "m", "v").iter().map(|p| p.1).collect();
    assert_eq!(times, [10, 12], "only 1.x's good lines are stored");
    // a type conflict keeps the other points in both
    let (status, answer, _) = post(
        &app,
        "/api/v2/write?bucket=shop",
        Some(&deployer),
        b"m v=1i 13\nm v=2 14".to_vec(),
        false,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["message"],
        "failure writing points to database: partial write: field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float dropped=1"
    );
    assert_eq!(stored(&app, "shop", "m", "v").last().map(|p| p.1), Some(14));
}

async fn gzip_bodies_2x_precision_and_agents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..1000 {
        writeln!(
            z,
            "net,host=h{} bytes={i} {}",
            i % 10,
            1_800_000_000_000i64 + i
        )
        .unwrap();
    }
    let body = z.finish().unwrap();
    let (status, answer, _) = post(
        &app,
        "/api/v2/write?org=any&bucket=shop/autogen&precision=ms",
        Some(&format!("Token {token}")),
        body,
        true,
    )
    .await;
    assert_eq!((status, answer), (204, Value::Null));
    let points = stored(&app, "shop", "net", "bytes");
    assert_eq!(points.len(), 1000);
    assert_eq!(points[0].1, 1_800_000_000_000_000_000);
    // a body that says gzip and is not
    let (status, answer, _) = post(
        &app,
        "/write?db=shop",
        Some(&format!("Bearer {token}")),
        b"m v=1".to_vec(),
        true,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("the gzip body does not decode"),
        "{answer}"
    );
    // an agent token writes to any project
    let (status, created) = {
        let response = admin
            .request(reqwest::Method::POST, "/api/v1/agent-tokens")
            .json(&serde_json::json!({"name": "web-1"}))
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 201);
    let agent = created["token"].as_str().unwrap();
    let (status, _, _) = post(
        &app,
        "/write?db=shop",
        Some(&format!("Token {agent}")),
        b"mem,host=web-1 used_percent=42.5 5".to_vec(),
        false,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(stored(&app, "shop", "mem", "used_percent")[0].2, 42.5);
}

async fn ping_answers_anyone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let response = http
            .request(method.clone(), format!("{}/ping", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204, "{method}");
        assert_eq!(response.headers()["x-influxdb-version"], "1.8.10");
        assert_eq!(response.headers()["x-influxdb-build"], "OSS");
    }
    let verbose: Value = http
        .get(format!("{}/ping?verbose=true", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verbose, serde_json::json!({"version": "1.8.10"}));
}

async fn acknowledged_points_survive_a_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = format!(
        "Token {}",
        app.token_for("deployer@example.com", Role::Deployer).await
    );
    let body: String = (0..500)
        .map(|i| format!("disk,host=h{} used={i} {i}\n", i % 5))
        .collect();
    let (status, _, _) = post(
        &app,
        "/write?db=shop",
        Some(&token),
        body.into_bytes(),
        false,
    )
    .await;
    assert_eq!(status, 204);
    let before = stored(&app, "shop", "disk", "used");
    assert_eq!(before.len(), 500);
    let database = app.stop().await;
    let app = TestApp::spawn_on(database, |_| {}).await;
    assert_eq!(stored(&app, "shop", "disk", "used"), before);
}

async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", app.url))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn influxql_and_the_query_model_read_what_was_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let deployer = app.token_for("deployer@example.com", Role::Deployer).await;
    let viewer = app.token_for("viewer@example.com", Role::Viewer).await;
    // 60 s of two hosts at 1 s: host a counts up from 0, host b is 100
    let body: String = (0..60)
        .flat_map(|i| {
            [
                format!("cpu,host=a,environment=production usage={i} {i}"),
                format!("cpu,host=b,environment=staging usage=100 {i}"),
            ]
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (status, _, _) = post(
        &app,
        "/write?db=shop&precision=s",
        Some(&format!("Token {deployer}")),
        body.into_bytes(),
        false,
    )
    .await;
    assert_eq!(status, 204);
    // InfluxQL, as Grafana sends it, read by a viewer
    let q = "SELECT mean(\"usage\") FROM \"cpu\" WHERE (\"host\" = 'a') AND time >= 0s and time < 60s GROUP BY time(30s) fill(null)";
    let path = format!("/query?db=shop&epoch=s&q={}", urlencode(q));
    let (status, answer) = get_json(&app, &path, &viewer).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({"results": [{"statement_id": 0, "series": [
            {"name": "cpu", "columns": ["time", "mean"], "values": [[0, 14.5], [30, 44.5]]}
        ]}]})
    );
    // Telegraf's CREATE DATABASE is a no-op; SHOW DATABASES lists the projects
    let (status, answer) = get_json(
        &app,
        &format!(
            "/query?q={}",
            urlencode("CREATE DATABASE \"telegraf\"; SHOW DATABASES")
        ),
        &viewer,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["results"][0], serde_json::json!({"statement_id": 0}));
    assert_eq!(
        answer["results"][1]["series"][0]["values"],
        serde_json::json!([["shop"]])
    );
    // errors in InfluxDB's places: a parse error is the request's, a missing project a statement's
    let (status, answer) = get_json(
        &app,
        &format!("/query?db=shop&q={}", urlencode("SELECT FROM")),
        &viewer,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("error parsing query: "),
        "{answer}"
    );
    let (status, answer) = get_json(
        &app,
        &format!("/query?db=nope&q={}", urlencode("SHOW MEASUREMENTS")),
        &viewer,
    )
    .await;
    assert_eq!(
        (status, &answer["results"][0]["error"]),
        (200, &serde_json::json!("database not found: nope"))
    );
    // the query model: the same mean, grouped by environment, with the InfluxQL it ran
    let request = serde_json::json!({
        "project": "shop",
        "queries": [{"ref": "A", "measurement": "cpu", "field": "usage", "aggregation": "mean",
                     "where": [{"tag": "environment", "op": "=~", "value": "$env"}],
                     "group_by": ["environment"], "interval": "30s"}],
        "from": 0, "to": 59_999, "max_points": 100,
        "variables": {"env": "^prod"}
    });
    let answer: Value = {
        let response = app
            .client_for("viewer@example.com", Role::Viewer)
            .await
            .request(reqwest::Method::POST, "/api/v1/metrics/query")
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    };
    let result = &answer["results"][0];
    assert_eq!(result["ref"], "A");
    assert_eq!(result["interval_ms"], 30_000);
    assert!(
        result["influxql"]
            .as_str()
            .unwrap()
            .contains("\"environment\" =~ /^prod/"),
        "{result}"
    );
    assert_eq!(
        result["series"],
        serde_json::json!([{"name": "cpu", "tags": {"environment": "production"}, "columns": ["time", "mean"],
                            "values": [[0, 14.5], [30_000, 44.5]]}])
    );
    // a bad query names its field; an unknown project is 404
    let mut bad = request.clone();
    bad["queries"][0]["aggregation"] = "avg".into();
    let response = admin
        .request(reqwest::Method::POST, "/api/v1/metrics/query")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["field"], "queries[0].aggregation", "{problem}");
    let mut missing = request.clone();
    missing["project"] = "nope".into();
    let response = admin
        .request(reqwest::Method::POST, "/api/v1/metrics/query")
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    // autocomplete
    let (status, names) =
        get_json(&app, "/api/v1/metrics/measurements?project=shop", &viewer).await;
    assert_eq!(
        (status, names),
        (200, serde_json::json!({"items": [{"name": "cpu"}]}))
    );
    let (_, names) = get_json(
        &app,
        "/api/v1/metrics/field-keys?project=shop&measurement=cpu",
        &viewer,
    )
    .await;
    assert_eq!(
        names,
        serde_json::json!({"items": [{"name": "usage", "type": "float"}]})
    );
    let (_, names) = get_json(
        &app,
        "/api/v1/metrics/tag-keys?project=shop&measurement=cpu",
        &viewer,
    )
    .await;
    assert_eq!(
        names,
        serde_json::json!({"items": [{"name": "environment"}, {"name": "host"}, {"name": "project"}]})
    );
    let (_, names) = get_json(
        &app,
        "/api/v1/metrics/tag-values?project=shop&measurement=cpu&key=host",
        &viewer,
    )
    .await;
    assert_eq!(
        names,
        serde_json::json!({"items": [{"name": "a"}, {"name": "b"}]})
    );
    let (status, problem) = get_json(
        &app,
        "/api/v1/metrics/tag-values?project=shop&measurement=cpu",
        &viewer,
    )
    .await;
    assert_eq!(
        (status, &problem["field"]),
        (422, &serde_json::json!("key"))
    );
}

/// The same points written to a jeny on its embedded store and to a jeny whose sink is InfluxDB
/// 1.6.7 read back the same through the query model, autocomplete and `/query`.
/// Project `shop` with the same `cpu` points (written with `/write?db=shop&<query>`) on an app
/// with the embedded store and one whose sink is an InfluxDB; once InfluxDB holds them all,
/// each app's viewer token.
async fn the_same_points_on_both(apps: [&TestApp; 2], query: &str, body: &str) -> Vec<String> {
    let mut viewers = Vec::new();
    for app in apps {
        let admin = app.with_admin().await;
        admin.create_project(&project("shop")).await.unwrap();
        let token = app.token_for("deployer@example.com", Role::Deployer).await;
        let (status, answer, _) = post(
            app,
            &format!("/write?db=shop&{query}"),
            Some(&format!("Token {token}")),
            body.as_bytes().to_vec(),
            false,
        )
        .await;
        assert_eq!((status, answer), (204, Value::Null));
        viewers.push(app.token_for("viewer@example.com", Role::Viewer).await);
    }
    // the sink sends in the background: wait until InfluxDB holds every point
    let count_query = format!(
        "/query?db=shop&q={}",
        urlencode("SELECT count(\"usage\") FROM \"cpu\"")
    );
    let points = body.lines().count();
    jeny_testkit::poll_until("InfluxDB holds every point", || async {
        let (status, answer) = get_json(apps[1], &count_query, &viewers[1]).await;
        (status == 200 && answer["results"][0]["series"][0]["values"][0][1] == points).then_some(())
    })
    .await;
    viewers
}

/// The query model's answer to `request` from each app, with its viewer's token.
async fn query_both(apps: [&TestApp; 2], viewers: &[String], request: &Value) -> Vec<Value> {
    let mut answers = Vec::new();
    for (app, viewer) in apps.into_iter().zip(viewers) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/metrics/query", app.url))
            .header("authorization", format!("Bearer {viewer}"))
            .json(request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        answers.push(response.json::<Value>().await.unwrap());
    }
    answers
}

async fn an_influxdb_sink_answers_as_the_embedded_store_does(backend: Backend) {
    let influx = jeny_testkit::influxdb::Influx::start().await;
    let created = reqwest::Client::new()
        .post(format!("{}/query", influx.url))
        .form(&[("q", "CREATE DATABASE shop")])
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let embedded = TestApp::spawn(backend).await;
    let database = jeny_testkit::TestDatabase::create(backend).await;
    let url = influx.url.clone();
    let influxed = TestApp::spawn_on(database, move |config| {
        config.metrics_influxdb_url = Some(url);
    })
    .await;
    assert!(influxed.metrics.embedded().is_none());
    let body: String = (0..120)
        .flat_map(|i| {
            [
                format!("cpu,host=a usage={} {}", i % 7, 1_800_000_000 + i),
                format!("cpu,host=b usage={}.5 {}", i % 5, 1_800_000_000 + i),
            ]
        })
        .collect::<Vec<_>>()
        .join("\n");
    let viewers = the_same_points_on_both([&embedded, &influxed], "precision=s", &body).await;
    let request = serde_json::json!({
        "project": "shop",
        "queries": [
            {"ref": "A", "measurement": "cpu", "field": "usage", "aggregation": "mean",
             "group_by": ["host"], "interval": "30s", "fill": "null"},
            {"ref": "B", "measurement": "cpu", "field": "usage", "aggregation": "max",
             "where": [{"tag": "host", "op": "=~", "value": "^a$"}], "interval": "1m"},
            {"ref": "C", "measurement": "cpu", "field": "usage",
             "aggregation": "non_negative_derivative(1s)", "interval": "10s", "fill": "none"}
        ],
        "from": 1_800_000_000_000i64, "to": 1_800_000_119_999i64, "max_points": 1000
    });
    let answers = query_both([&embedded, &influxed], &viewers, &request).await;
    assert_eq!(answers[0], answers[1], "the query model on both sinks");
    assert_eq!(
        answers[0]["results"][0]["series"].as_array().unwrap().len(),
        2
    );
    for path in [
        "/api/v1/metrics/measurements?project=shop",
        "/api/v1/metrics/field-keys?project=shop&measurement=cpu",
        "/api/v1/metrics/tag-keys?project=shop&measurement=cpu",
        "/api/v1/metrics/tag-values?project=shop&measurement=cpu&key=host",
    ] {
        let (_, a) = get_json(&embedded, path, &viewers[0]).await;
        let (_, b) = get_json(&influxed, path, &viewers[1]).await;
        assert_eq!(a, b, "{path}");
        assert!(!a["items"].as_array().unwrap().is_empty(), "{path}: {a}");
    }
}

/// A write body that streams past `max_body_bytes` (no Content-Length) is refused in InfluxDB's
/// shape and writes nothing; one that declares it is refused before it is read.
async fn a_body_past_the_limit_is_refused(backend: Backend) {
    let database = jeny_testkit::TestDatabase::create(backend).await;
    let app = TestApp::spawn_on(database, |config| config.max_body_bytes = 4096).await;
    app.with_admin()
        .await
        .create_project(&project("shop"))
        .await
        .unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;
    let lines: Vec<Result<String, std::io::Error>> =
        (0..400).map(|i| Ok(format!("m v={i} {i}\n"))).collect();
    let response = reqwest::Client::new()
        .post(format!("{}/write?db=shop", app.url))
        .header("authorization", format!("Token {token}"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            lines,
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
    let (status, _, _) = post(
        &app,
        "/write?db=shop",
        Some(&format!("Token {token}")),
        vec![b'x'; 5000],
        false,
    )
    .await;
    assert_eq!(status, 413);
    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    assert!(store.measurements("shop").is_empty());
}

/// A project's metrics retention: the server's by default, its own once set (a change reaches the
/// store without a restart), older points refused in InfluxDB's words, and a bad value a
/// problem naming the field that changes nothing.
async fn a_projects_retention_refuses_older_points_and_follows_its_changes(backend: Backend) {
    let database = jeny_testkit::TestDatabase::create(backend).await;
    let app = TestApp::spawn_on(database, |config| {
        config.metrics_retention_raw_days = 30;
    })
    .await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = format!(
        "Token {}",
        app.token_for("deployer@example.com", Role::Deployer).await
    );
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let days_ago = |days: u64| format!("m v={days} {}", now_s - days * 86_400).into_bytes();
    let write = |body: Vec<u8>| {
        let (app, token) = (&app, &token);
        async move {
            let (status, body, _) =
                post(app, "/write?db=shop&precision=s", Some(token), body, false).await;
            (status, body)
        }
    };
    let beyond = serde_json::json!({
        "error": "partial write: points beyond retention policy dropped=1"
    });
    assert_eq!(write(days_ago(40)).await, (400, beyond.clone()));
    assert_eq!(write(days_ago(10)).await, (204, Value::Null));
    // forever (0): the 40-day-old point is taken once the change has reached the store
    let shop = admin
        .patch_project(
            "shop",
            &serde_json::json!({"metrics_retention": {"raw_days": 0}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(shop.value.metrics_retention.raw_days, Some(0));
    jeny_testkit::poll_until("a 40-day-old point is kept forever", || async {
        (write(days_ago(40)).await.0 == 204).then_some(())
    })
    .await;
    // five days: a 10-day-old point is refused now
    admin
        .patch_project(
            "shop",
            &serde_json::json!({"metrics_retention": {"raw_days": 5}}),
            None,
        )
        .await
        .unwrap();
    jeny_testkit::poll_until("a 10-day-old point is past five days", || async {
        let (status, body) = write(days_ago(10)).await;
        (status == 400).then_some(body)
    })
    .await;
    assert_eq!(write(days_ago(1)).await, (204, Value::Null));
    // a bad value names its field and changes nothing
    let refused = admin
        .patch_project(
            "shop",
            &serde_json::json!({"metrics_retention": {"raw_days": 36_501}}),
            None,
        )
        .await
        .unwrap_err();
    let problem = refused.problem().expect("a problem document");
    assert_eq!(
        (problem.status, problem.field.as_deref()),
        (422, Some("metrics_retention.raw_days"))
    );
    let shop = admin.get_project("shop").await.unwrap();
    assert_eq!(shop.value.metrics_retention.raw_days, Some(5));
    assert_eq!(write(days_ago(10)).await, (400, beyond));
    // a restart applies the project's own retention before it takes a write: forever here, so
    // the first write after it keeps a point the server's 30 days would refuse
    admin
        .patch_project(
            "shop",
            &serde_json::json!({"metrics_retention": {"raw_days": 0}}),
            None,
        )
        .await
        .unwrap();
    let database = app.stop().await;
    let app = TestApp::spawn_on(database, |config| {
        config.metrics_retention_raw_days = 30;
    })
    .await;
    let (status, body, _) = post(
        &app,
        "/write?db=shop&precision=s",
        Some(&token),
        days_ago(40),
        false,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
}

/// Retention on both sinks: ten days of points, then the project keeps raw points two days and
/// 5-minute rollups five. The embedded store deletes what aged out; on InfluxDB, jeny altered the
/// raw policy, created the rollup policies and rolled the points up into them (the loop's own
/// round, with its cursor). The query model answers the same on both: hourly buckets over ten
/// days from the hourly rollups, 10-minute ones over four days from the 5-minute rollups.
async fn rollups_answer_the_same_on_both_sinks_once_points_age_out(backend: Backend) {
    let influx = jeny_testkit::influxdb::Influx::start().await;
    let embedded = TestApp::spawn(backend).await;
    let url = influx.url.clone();
    let influxed = TestApp::spawn_on(jeny_testkit::TestDatabase::create(backend).await, {
        move |config| config.metrics_influxdb_url = Some(url)
    })
    .await;
    const S: i64 = 1_000_000_000;
    const H: i64 = 3_600 * S;
    const DAY: i64 = 24 * H;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    // ten days at 10 minutes, two hosts, whole numbers so that sums are exact in any order; an
    // integer field beside, and a string field that rollups leave out
    let first = (now - 10 * DAY).div_euclid(H) * H;
    let body: String = (0..)
        .map(|i| first + i * 600 * S)
        .take_while(|&t| t < now - 10 * 60 * S)
        .enumerate()
        .flat_map(|(i, t)| {
            [
                format!("cpu,host=a usage={},n={}i,note=\"x\" {t}", i % 7, i % 3),
                format!("cpu,host=b usage={},n=1i {t}", (i * 3) % 11),
            ]
        })
        .collect::<Vec<_>>()
        .join("\n");
    let viewers = the_same_points_on_both([&embedded, &influxed], "precision=ns", &body).await;
    let retention = serde_json::json!(
        {"metrics_retention": {"raw_days": 2, "rollup_5m_days": 5, "rollup_1h_days": 0}}
    );
    for app in [&embedded, &influxed] {
        app.with_admin()
            .await
            .patch_project("shop", &retention, None)
            .await
            .unwrap();
    }
    // the embedded store: the new retention reached it (a 3-day-old probe is refused), then
    // what is due is compacted and deleted
    let deployer = embedded
        .token_for("deployer@example.com", Role::Deployer)
        .await;
    jeny_testkit::poll_until("the embedded store keeps raw points two days", || async {
        let probe = format!("probe v=1 {}", now - 3 * DAY).into_bytes();
        let (status, _, _) = post(
            &embedded,
            "/write?db=shop",
            Some(&format!("Token {deployer}")),
            probe,
            false,
        )
        .await;
        (status == 400).then_some(())
    })
    .await;
    let store = embedded.metrics.embedded().unwrap();
    store.flush().unwrap();
    store.compact(now).unwrap();
    let expired = store.expire(now).unwrap();
    assert!(expired.raw > 0 && expired.rollups_5m > 0, "{expired:?}");
    // InfluxDB: the policies are jeny's, and the rollups caught up to the last whole bucket
    let latest = (now - 2 * 60 * S).div_euclid(300 * S) * 300 * S;
    jeny_testkit::poll_until("the rollups caught up", || async {
        let at = jeny_metrics::retention::rollup_cursor(&influxed.store, "shop")
            .await
            .unwrap();
        at.is_some_and(|at| at >= latest).then_some(())
    })
    .await;
    // what InfluxDB's retention service does to the raw policy (the test's influxd runs
    // without it): its shard groups that ended before the two days go (a DELETE would reach
    // every policy), so only the rollups can answer for those days
    let influx_query = |method: reqwest::Method, q: String| {
        let url = format!("{}/query", influx.url);
        async move {
            reqwest::Client::new()
                .request(method, url)
                .query(&[("db", "shop"), ("q", q.as_str())])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let shards = influx_query(reqwest::Method::GET, "SHOW SHARDS".to_owned()).await;
    // as InfluxDB writes times (`2026-12-01T00:00:00Z`), compared as text
    let horizon =
        jeny_metrics::query::influxql::format_rfc3339_nano((now - 2 * DAY).div_euclid(DAY) * DAY);
    let mut dropped = 0;
    for series in shards["results"][0]["series"].as_array().unwrap() {
        for row in series["values"].as_array().unwrap() {
            // id, database, retention_policy, shard_group, start_time, end_time, ...
            if row[1] == "shop"
                && row[2] == "autogen"
                && row[5].as_str().unwrap() <= horizon.as_str()
            {
                influx_query(reqwest::Method::POST, format!("DROP SHARD {}", row[0])).await;
                dropped += 1;
            }
        }
    }
    assert!(
        dropped > 0,
        "a raw shard group older than two days: {shards}"
    );
    let policies = reqwest::Client::new()
        .get(format!("{}/query", influx.url))
        .query(&[("q", "SHOW RETENTION POLICIES ON shop")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let durations: Vec<(String, String)> = policies["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        ("autogen", "48h0m0s"),
        ("jeny_5m", "120h0m0s"),
        ("jeny_1h", "0s"),
    ] {
        assert!(
            durations.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} in {durations:?}"
        );
    }
    let to_ms = (now - 10 * 60 * S).div_euclid(H) * H / 1_000_000 - 1;
    let hourly_mean = serde_json::json!(
        {"ref": "A", "measurement": "cpu", "field": "usage", "aggregation": "mean",
         "group_by": ["host"], "interval": "1h", "fill": "null"}
    );
    let count_6h = serde_json::json!(
        {"ref": "B", "measurement": "cpu", "field": "n", "aggregation": "count",
         "interval": "6h", "fill": "none"}
    );
    // 10-minute buckets need the 5-minute rollups, kept five days
    let max_10m = serde_json::json!(
        {"ref": "C", "measurement": "cpu", "field": "usage", "aggregation": "max",
         "group_by": ["host"], "interval": "10m", "fill": "none"}
    );
    let request = |from_ms: i64, queries: Vec<Value>| {
        serde_json::json!({
            "project": "shop", "queries": queries,
            "from": from_ms, "to": to_ms, "max_points": 11000
        })
    };
    let ten_days = request(
        first / 1_000_000,
        vec![hourly_mean.clone(), count_6h.clone()],
    );
    let four_days = request(
        (now - 4 * DAY).div_euclid(H) * H / 1_000_000,
        vec![hourly_mean, count_6h, max_10m],
    );
    for (what, request) in [("ten days", ten_days), ("four days", four_days)] {
        let mut answers = query_both([&embedded, &influxed], &viewers, &request).await;
        // the InfluxQL echoed is the query's, the same on both; what ran differs
        for answer in &mut answers {
            for result in answer["results"].as_array_mut().unwrap() {
                result.as_object_mut().unwrap().remove("influxql");
            }
        }
        let hourly = answers[0]["results"][0]["series"][0]["values"]
            .as_array()
            .unwrap();
        // four days less the last, unfinished hour at least
        assert!(hourly.len() >= 94, "{what}: {} hours", hourly.len());
        assert_eq!(
            answers[0], answers[1],
            "{what}: the query model on both sinks"
        );
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

both_backends!(
    a_projects_retention_refuses_older_points_and_follows_its_changes,
    rollups_answer_the_same_on_both_sinks_once_points_age_out,
    a_body_past_the_limit_is_refused,
    an_influxdb_sink_answers_as_the_embedded_store_does,
    influxql_and_the_query_model_read_what_was_written,
    a_token_is_taken_however_influxdb_clients_send_it,
    refusals_keep_each_protocols_shape,
    gzip_bodies_2x_precision_and_agents,
    ping_answers_anyone,
    acknowledged_points_survive_a_restart
);
