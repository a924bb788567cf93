//! Real InfluxDB clients pointed at jeny, unchanged: Debian's `influx` CLI 1.6.7 (`INSERT`,
//! `-import` of a file with DDL and DML sections, `SHOW` and `SELECT` with `-format json`),
//! PyPI's `influxdb` 5.3.2 (the 1.x client: `create_database`, `write_points` with every field
//! type, `query`) and `influxdb-client` 1.50.0 (the 2.x client's write API, gzipped too), all
//! installed by `tests/peers/influx-clients/setup`. The project is the database, a deployer's
//! token the password (or the 2.x token).

use jeny_core::Role;
use jeny_testkit::{Backend, TestApp, both_backends};
use serde_json::{Value, json};

use crate::peers;
use crate::project;

const SETUP: &str = "tests/peers/influx-clients/setup";

/// The `influx` CLI against `app` as `token`, in project `shop`: (succeeded, stdout, stderr).
async fn influx(app: &TestApp, token: &str, args: &[&str]) -> (bool, String, String) {
    let program = peers::require("/usr/bin/influx", SETUP);
    let home = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(program)
        .args([
            "-host",
            "127.0.0.1",
            "-port",
            &app.address.port().to_string(),
        ])
        .args(["-username", "ci", "-password", token, "-database", "shop"])
        .args(args)
        .env("HOME", home.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("cannot run the influx CLI");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// `influx -format json -execute <statement>`, its JSON.
async fn influx_json(app: &TestApp, token: &str, statement: &str) -> Value {
    let (ok, stdout, stderr) =
        influx(app, token, &["-format", "json", "-execute", statement]).await;
    assert!(ok, "{statement}: {stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{statement}: {e}: {stdout}"))
}

/// Runs a Python script with the clients' virtualenv: its standard output as JSON.
async fn python(script: &str, args: &[&str]) -> Value {
    let interpreter = peers::require("influx-clients-5.3.2-1.50.0/bin/python", SETUP);
    let output = tokio::process::Command::new(interpreter)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("cannot run python");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"))
}

/// jeny's own `/query` answer to `q` on project `shop`, times as RFC 3339.
async fn query(app: &TestApp, token: &str, q: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/query", app.url))
        .query(&[("db", "shop"), ("q", q)])
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn the_influx_cli_inserts_imports_and_shows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;

    let (ok, stdout, stderr) = influx(
        &app,
        &token,
        &[
            "-execute",
            "INSERT cpu,host=a usage=1.5,n=3i 1700000000000000000",
        ],
    )
    .await;
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(stdout, "");

    // the import format: DDL first (jeny takes CREATE DATABASE as a no-op), then DML
    let folder = tempfile::tempdir().unwrap();
    let import = folder.path().join("import.txt");
    std::fs::write(
        &import,
        "# DDL\nCREATE DATABASE shop\n\n# DML\n# CONTEXT-DATABASE: shop\n\
         # CONTEXT-RETENTION-POLICY: autogen\n\n\
         cpu,host=b usage=2.5 1700000001000000000\n\
         mem,host=b used_percent=40 1700000001000000000\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = influx(
        &app,
        &token,
        &["-import", "-path", import.to_str().unwrap()],
    )
    .await;
    let said = format!("{stdout}{stderr}");
    assert!(ok, "{said}");
    assert!(
        said.contains("Processed 2 inserts") && said.contains("Failed 0 inserts"),
        "{said}"
    );

    assert_eq!(
        influx_json(&app, &token, "SHOW MEASUREMENTS").await,
        json!({"results": [{"series": [
            {"name": "measurements", "columns": ["name"], "values": [["cpu"], ["mem"]]}
        ]}]})
    );
    assert_eq!(
        influx_json(&app, &token, "SHOW TAG KEYS FROM cpu").await,
        json!({"results": [{"series": [
            {"name": "cpu", "columns": ["tagKey"], "values": [["host"], ["project"]]}
        ]}]})
    );
    assert_eq!(
        influx_json(&app, &token, "SHOW FIELD KEYS FROM cpu").await,
        json!({"results": [{"series": [
            {"name": "cpu", "columns": ["fieldKey", "fieldType"],
             "values": [["n", "integer"], ["usage", "float"]]}
        ]}]})
    );
    assert_eq!(
        influx_json(&app, &token, "SELECT * FROM cpu").await,
        json!({"results": [{"series": [{
            "name": "cpu",
            "columns": ["time", "host", "n", "project", "usage"],
            "values": [
                [1_700_000_000_000_000_000i64, "a", 3, "shop", 1.5],
                [1_700_000_001_000_000_000i64, "b", null, "shop", 2.5]
            ]
        }]}]})
    );

    // a token that is not one: the CLI says what InfluxDB would
    let (ok, stdout, stderr) = influx(
        &app,
        "jeny_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &["-execute", "SHOW MEASUREMENTS"],
    )
    .await;
    assert!(!ok);
    assert!(
        format!("{stdout}{stderr}").contains("authorization failed"),
        "{stdout}{stderr}"
    );
}

/// PyPI `influxdb` (the 1.x client): the calls an application makes, with tags, every field
/// type, a batch's own tags and a time precision, and the reads back.
const PYTHON_1X: &str = r#"
import json, sys
from influxdb import InfluxDBClient

host, port, token, project = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
client = InfluxDBClient(host=host, port=port, username="python", password=token, database=project)
out = {"version": client.ping()}
client.create_database(project)
out["written"] = client.write_points([
    {"measurement": "orders", "tags": {"shop": "eu", "kind": "web"}, "time": 1700000000000000000,
     "fields": {"amount": 12.5, "items": 3, "note": "first \"one\", with, commas", "paid": True}},
    {"measurement": "orders", "tags": {"shop": "us", "kind": "web"}, "time": 1700000001000000000,
     "fields": {"amount": 7.0, "items": 1, "note": "second", "paid": False}},
], time_precision="n")
out["written_in_seconds"] = client.write_points(
    [{"measurement": "orders", "tags": {"shop": "eu", "kind": "app"}, "time": 1700000002,
      "fields": {"amount": 1.25, "items": 2, "note": "third", "paid": True}}],
    time_precision="s", tags={"source": "batch"})
out["databases"] = client.get_list_database()
out["measurements"] = client.get_list_measurements()
out["points"] = list(client.query("SELECT * FROM orders ORDER BY time").get_points())
out["items_by_shop"] = {
    key[1]["shop"]: list(points)
    for key, points in client.query(
        "SELECT sum(items) AS items FROM orders WHERE time >= 0 GROUP BY shop", epoch="s").items()
}
out["field_keys"] = list(client.query("SHOW FIELD KEYS FROM orders").get_points())
print(json.dumps(out))
"#;

async fn the_python_influxdb_client_writes_every_field_type_and_reads_it_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;
    let port = app.address.port().to_string();

    let out = python(PYTHON_1X, &["127.0.0.1", &port, &token, "shop"]).await;

    assert_eq!(out["version"], "1.8.10");
    assert_eq!(out["written"], true);
    assert_eq!(out["written_in_seconds"], true);
    assert_eq!(out["databases"], json!([{"name": "shop"}]));
    assert_eq!(out["measurements"], json!([{"name": "orders"}]));
    assert_eq!(
        out["points"],
        json!([
            {"time": "2023-11-14T22:13:20Z", "amount": 12.5, "items": 3, "kind": "web",
             "note": "first \"one\", with, commas", "paid": true, "project": "shop", "shop": "eu",
             "source": null},
            {"time": "2023-11-14T22:13:21Z", "amount": 7, "items": 1, "kind": "web",
             "note": "second", "paid": false, "project": "shop", "shop": "us", "source": null},
            {"time": "2023-11-14T22:13:22Z", "amount": 1.25, "items": 2, "kind": "app",
             "note": "third", "paid": true, "project": "shop", "shop": "eu", "source": "batch"}
        ])
    );
    assert_eq!(
        out["items_by_shop"],
        json!({"eu": [{"time": 0, "items": 5}], "us": [{"time": 0, "items": 1}]})
    );
    assert_eq!(
        out["field_keys"],
        json!([
            {"fieldKey": "amount", "fieldType": "float"},
            {"fieldKey": "items", "fieldType": "integer"},
            {"fieldKey": "note", "fieldType": "string"},
            {"fieldKey": "paid", "fieldType": "boolean"}
        ])
    );
}

/// PyPI `influxdb-client` (the 2.x client): its write API, synchronous, with a `Point`, a line
/// and a dictionary, each precision it is told, and gzip.
const PYTHON_2X: &str = r#"
import json, sys
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

url, token, project = sys.argv[1], sys.argv[2], sys.argv[3]
with InfluxDBClient(url=url, token=token, org="jeny") as client:
    write_api = client.write_api(write_options=SYNCHRONOUS)
    write_api.write(bucket=project, record=Point("requests").tag("route", "/cart")
                    .tag("status", "200").field("latency_ms", 12.5).field("count", 3)
                    .field("cached", True).field("trace", "a b,c=d")
                    .time(1700000000000000000, WritePrecision.NS))
    write_api.write(bucket=project, write_precision=WritePrecision.MS, record=[
        "requests,route=/pay,status=500 latency_ms=80.25,count=1i,cached=false,trace=\"x\" 1700000001000",
        {"measurement": "requests", "tags": {"route": "/pay", "status": "200"},
         "fields": {"latency_ms": 40.0, "count": 2, "cached": False, "trace": "y"},
         "time": 1700000002000},
    ])
with InfluxDBClient(url=url, token=token, org="jeny", enable_gzip=True) as client:
    client.write_api(write_options=SYNCHRONOUS).write(
        bucket=project, record=Point("requests").tag("route", "/gzip").tag("status", "200")
        .field("latency_ms", 1.0).field("count", 4).field("cached", True).field("trace", "z")
        .time(1700000003, WritePrecision.S))
print(json.dumps({"written": True}))
"#;

async fn the_python_influxdb_client_2x_write_api_writes_to_the_project(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("shop")).await.unwrap();
    let token = app.token_for("deployer@example.com", Role::Deployer).await;

    let out = python(PYTHON_2X, &[&app.url, &token, "shop"]).await;
    assert_eq!(out["written"], true);

    let answer = query(&app, &token, "SELECT * FROM requests ORDER BY time").await;
    assert_eq!(
        answer,
        json!({"results": [{"statement_id": 0, "series": [{
            "name": "requests",
            "columns": ["time", "cached", "count", "latency_ms", "project", "route", "status", "trace"],
            "values": [
                ["2023-11-14T22:13:20Z", true, 3, 12.5, "shop", "/cart", "200", "a b,c=d"],
                ["2023-11-14T22:13:21Z", false, 1, 80.25, "shop", "/pay", "500", "x"],
                ["2023-11-14T22:13:22Z", false, 2, 40, "shop", "/pay", "200", "y"],
                ["2023-11-14T22:13:23Z", true, 4, 1, "shop", "/gzip", "200", "z"]
            ]
        }]}]})
    );
    let answer = query(&app, &token, "SHOW FIELD KEYS FROM requests").await;
    assert_eq!(
        answer["results"][0]["series"][0]["values"],
        json!([
            ["cached", "boolean"],
            ["count", "integer"],
            ["latency_ms", "float"],
            ["trace", "string"]
        ])
    );
}

both_backends!(
    the_influx_cli_inserts_imports_and_shows,
    the_python_influxdb_client_writes_every_field_type_and_reads_it_back,
    the_python_influxdb_client_2x_write_api_writes_to_the_project
);
