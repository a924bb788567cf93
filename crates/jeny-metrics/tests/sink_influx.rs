//! The InfluxDB sink (`sink_influx.rs`) against the real InfluxDB 1.6.7 (Debian's `influxd`, from
//! `tests/peers/influxdb/setup`), killed and restarted under it; against a small fake InfluxDB
//! that answers 503 with `Retry-After`, or 400; and, for the 2.x API, against jeny's own
//! `/api/v2/write`. Every point written is numbered: its time is `BASE + n`, and its fields say
//! `n` again, so what arrives can be checked point by point, bit for bit, and in order.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jeny_metrics::line_protocol::{FieldValue, Point};
use jeny_metrics::sink_influx::{
    InfluxAuth, InfluxSink, InfluxSinkConfig, InfluxVersion, SinkError,
};
use jeny_metrics::store::Values;
use jeny_testkit::influxdb::Influx;
use jeny_testkit::{Backend, TestApp, poll_until};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

/// The time of point 0: 2023-11-14, in nanoseconds.
const BASE: i64 = 1_700_000_000_000_000_000;

/// A float whose shortest decimal form is long, and some that are not ordinary.
fn float_of(n: i64) -> f64 {
    match n % 5 {
        0 => n as f64 / 7.0 + 0.1,
        1 => (n as f64).sqrt() * std::f64::consts::PI * 1e-300,
        2 => -(n as f64) * 1.000_000_000_000_000_2e17,
        3 => f64::MAX / (n as f64 + 1.0),
        _ => 0.1 + 0.2 + n as f64,
    }
}

fn text_of(n: i64) -> String {
    format!("point \"{n}\", with a \\ and = and spaces")
}

/// Point `n` of a stream: tags with escapes, every field type InfluxDB 1.6 has.
fn point(n: i64) -> Point {
    Point {
        measurement: "stream".into(),
        tags: vec![
            ("host".into(), "web 1,a=b".into()),
            ("project".into(), "sink".into()),
        ],
        fields: vec![
            ("b".into(), FieldValue::Boolean(n % 2 == 0)),
            ("n".into(), FieldValue::Integer(n)),
            ("s".into(), FieldValue::String(text_of(n))),
            ("v".into(), FieldValue::Float(float_of(n))),
        ],
        time_ns: BASE + n,
    }
}

fn points(numbers: std::ops::Range<i64>) -> Vec<Point> {
    numbers.map(point).collect()
}

/// A spool folder and a configuration that sends to `url` without waiting long between tries.
fn config(url: &str, version: InfluxVersion, spool: &std::path::Path) -> InfluxSinkConfig {
    let mut config = InfluxSinkConfig::new(url, version, spool);
    config.flush_interval = Duration::from_millis(50);
    config.retry_max_backoff = Duration::from_millis(400);
    config
}

#[derive(Deserialize)]
struct QueryAnswer<'a> {
    #[serde(borrow)]
    results: Vec<QueryResult<'a>>,
}

#[derive(Deserialize)]
struct QueryResult<'a> {
    error: Option<String>,
    #[serde(default, borrow)]
    series: Vec<QuerySeries<'a>>,
}

#[derive(Deserialize)]
struct QuerySeries<'a> {
    columns: Vec<String>,
    #[serde(borrow)]
    values: Vec<Vec<&'a RawValue>>,
}

/// One statement's rows, each value as InfluxDB wrote it (so floats read back bit for bit), and
/// the columns' names.
async fn query(
    influx_url: &str,
    database: &str,
    statement: &str,
) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let text = reqwest::Client::new()
        .post(format!("{influx_url}/query"))
        .query(&[("db", database), ("epoch", "ns")])
        .form(&[("q", statement)])
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let answer: QueryAnswer = serde_json::from_str(&text)
        .unwrap_or_else(|problem| panic!("{statement}: {text} ({problem})"));
    let result = answer.results.into_iter().next()?;
    if let Some(error) = result.error {
        panic!("{statement}: {error}");
    }
    let Some(series) = result.series.into_iter().next() else {
        return Some((Vec::new(), Vec::new()));
    };
    let rows = series
        .values
        .iter()
        .map(|row| row.iter().map(|value| value.get().to_owned()).collect())
        .collect();
    Some((series.columns, rows))
}

async fn create_database(influx: &Influx, database: &str) {
    query(&influx.url, "", &format!("CREATE DATABASE {database}"))
        .await
        .expect("InfluxDB creates the database");
}

/// How many points of the stream InfluxDB holds (`None` while it does not answer).
async fn count(influx_url: &str, database: &str) -> Option<u64> {
    let (_, rows) = query(influx_url, database, "SELECT count(n) FROM stream").await?;
    Some(
        rows.first()
            .map_or(0, |row| row[1].parse().expect("a count")),
    )
}

/// Checks that InfluxDB holds the points numbered `numbers`, each once, with the values written.
async fn assert_stream_stored(influx_url: &str, database: &str, numbers: std::ops::Range<i64>) {
    let (columns, rows) = query(influx_url, database, "SELECT b, n, s, v FROM stream")
        .await
        .expect("InfluxDB answers");
    assert_eq!(columns, ["time", "b", "n", "s", "v"]);
    let mut seen = BTreeSet::new();
    for row in &rows {
        let time: i64 = row[0].parse().expect("a time");
        let n: i64 = row[2].parse().expect("an integer");
        assert_eq!(time, BASE + n, "point {n}'s time");
        assert_eq!(row[1], if n % 2 == 0 { "true" } else { "false" });
        let text: String = serde_json::from_str(&row[3]).expect("a string");
        assert_eq!(text, text_of(n));
        let value: f64 = row[4].parse().expect("a float");
        assert_eq!(
            value.to_bits(),
            float_of(n).to_bits(),
            "point {n}: {} read back as {}",
            float_of(n),
            row[4]
        );
        assert!(seen.insert(n), "point {n} twice");
    }
    assert_eq!(seen, numbers.collect::<BTreeSet<_>>());
}

#[tokio::test]
async fn points_written_through_the_sink_arrive_in_influxdb_with_their_exact_values() {
    let influx = Influx::start().await;
    create_database(&influx, "happy").await;
    let spool = tempfile::tempdir().unwrap();
    let sink = InfluxSink::start(
        config(&influx.url, InfluxVersion::V1, spool.path()),
        CancellationToken::new(),
    )
    .await
    .unwrap();

    for from in (0..20_000).step_by(2_500) {
        sink.write("happy", points(from..from + 2_500))
            .await
            .unwrap();
    }

    poll_until("InfluxDB holds the 20000 points", || async {
        (count(&influx.url, "happy").await? == 20_000).then_some(())
    })
    .await;
    assert_stream_stored(&influx.url, "happy", 0..20_000).await;
    poll_until("the spool is empty", || async {
        (sink.pending_bytes() == 0).then_some(())
    })
    .await;
    sink.stop().await;
}

#[tokio::test]
async fn influxdb_killed_and_restarted_mid_stream_gets_every_point_once() {
    let mut influx = Influx::start().await;
    create_database(&influx, "stream").await;
    let spool = tempfile::tempdir().unwrap();
    let mut sink_config = config(&influx.url, InfluxVersion::V1, spool.path());
    sink_config.batch_max_points = 500;
    let sink = InfluxSink::start(sink_config, CancellationToken::new())
        .await
        .unwrap();
    let chunk = 200;
    let mut next = 0;

    for _ in 0..10 {
        sink.write("stream", points(next..next + chunk))
            .await
            .unwrap();
        next += chunk;
    }
    poll_until("InfluxDB has taken some points", || async {
        (count(&influx.url, "stream").await? > 0).then_some(())
    })
    .await;
    influx.stop().await;
    for _ in 0..10 {
        sink.write("stream", points(next..next + chunk))
            .await
            .unwrap();
        next += chunk;
    }
    assert!(
        sink.pending_bytes() > 0,
        "what was written while InfluxDB was down waits in the spool"
    );
    influx.restart().await;
    for _ in 0..10 {
        sink.write("stream", points(next..next + chunk))
            .await
            .unwrap();
        next += chunk;
    }

    poll_until("the spool is empty", || async {
        (sink.pending_bytes() == 0).then_some(())
    })
    .await;
    assert_eq!(count(&influx.url, "stream").await, Some(next as u64));
    assert_stream_stored(&influx.url, "stream", 0..next).await;
    sink.stop().await;
}

#[tokio::test]
async fn a_sink_started_again_on_its_spool_sends_what_the_last_one_left() {
    let mut influx = Influx::start().await;
    create_database(&influx, "again").await;
    let spool = tempfile::tempdir().unwrap();
    let first = InfluxSink::start(
        config(&influx.url, InfluxVersion::V1, spool.path()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    first.write("again", points(0..500)).await.unwrap();
    poll_until("InfluxDB holds the first 500 points", || async {
        (count(&influx.url, "again").await? == 500 && first.pending_bytes() == 0).then_some(())
    })
    .await;

    influx.stop().await;
    first.write("again", points(500..800)).await.unwrap();
    first.write("again", points(800..1_000)).await.unwrap();
    let left = first.pending_bytes();
    assert!(left > 0, "InfluxDB is down: the points wait in the spool");
    first.stop().await;
    influx.restart().await;
    let second = InfluxSink::start(
        config(&influx.url, InfluxVersion::V1, spool.path()),
        CancellationToken::new(),
    )
    .await
    .unwrap();

    assert_eq!(
        second.pending_bytes(),
        left,
        "the new sink finds exactly what was not sent"
    );
    second.write("again", points(1_000..1_100)).await.unwrap();
    poll_until("InfluxDB holds all 1100 points", || async {
        (count(&influx.url, "again").await? == 1_100 && second.pending_bytes() == 0).then_some(())
    })
    .await;
    assert_stream_stored(&influx.url, "again", 0..1_100).await;
    second.stop().await;
}

#[tokio::test]
async fn a_second_sink_on_a_spool_in_use_is_refused() {
    let spool = tempfile::tempdir().unwrap();
    let url = closed_port_url();
    let first = InfluxSink::start(
        config(&url, InfluxVersion::V1, spool.path()),
        CancellationToken::new(),
    )
    .await
    .unwrap();

    let second = InfluxSink::start(
        config(&url, InfluxVersion::V1, spool.path()),
        CancellationToken::new(),
    )
    .await;

    assert!(
        matches!(second, Err(SinkError::SpoolInUse(_))),
        "{:?}",
        second.err()
    );
    first.stop().await;
}

/// A URL where nothing listens: connections are refused.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_full_spool_refuses_writes_while_influxdb_is_down() {
    let spool = tempfile::tempdir().unwrap();
    let mut sink_config = config(&closed_port_url(), InfluxVersion::V1, spool.path());
    sink_config.spool_max_bytes = 4_096;
    let sink = InfluxSink::start(sink_config, CancellationToken::new())
        .await
        .unwrap();
    sink.write("full", points(0..10)).await.unwrap();
    let kept = sink.pending_bytes();

    let refused = sink.write("full", points(10..200)).await;

    match refused {
        Err(SinkError::SpoolFull {
            pending_bytes,
            max_bytes,
            ..
        }) => {
            assert_eq!(pending_bytes, kept);
            assert_eq!(max_bytes, 4_096);
        }
        other => panic!("expected SpoolFull, got {other:?}"),
    }
    assert_eq!(sink.pending_bytes(), kept, "a refused write leaves nothing");
    sink.write("full", points(10..12)).await.unwrap();
    assert!(sink.pending_bytes() > kept, "a write that fits is taken");
    sink.stop().await;
}

/// A request as the fake InfluxDB received it.
#[derive(Debug, Clone)]
struct Received {
    answered: u16,
    query: String,
    encoding: Option<String>,
    authorization: Option<String>,
    body: String,
}

/// A fake InfluxDB: answers its first requests from `script`, then 204.
#[derive(Clone)]
struct Fake {
    script: Arc<Vec<(StatusCode, Option<&'static str>)>>,
    answered: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn fake_write(
    State(fake): State<Fake>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let encoding = header("content-encoding");
    let body = if encoding.as_deref() == Some("gzip") {
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .expect("a gzip body");
        plain
    } else {
        String::from_utf8(body.to_vec()).expect("a UTF-8 body")
    };
    let index = fake.answered.fetch_add(1, Ordering::SeqCst);
    let (status, retry_after) = fake
        .script
        .get(index)
        .copied()
        .unwrap_or((StatusCode::NO_CONTENT, None));
    fake.received.lock().unwrap().push(Received {
        answered: status.as_u16(),
        query: query.unwrap_or_default(),
        encoding,
        authorization: header("authorization"),
        body,
    });
    match retry_after {
        Some(seconds) => (
            status,
            [("retry-after", seconds)],
            r#"{"error":"busy"}"#.to_owned(),
        )
            .into_response(),
        None if status.is_success() => status.into_response(),
        None => (status, r#"{"error":"unable to parse 'x': bad"}"#.to_owned()).into_response(),
    }
}

async fn start_fake(script: Vec<(StatusCode, Option<&'static str>)>) -> (String, Fake) {
    let fake = Fake {
        script: Arc::new(script),
        answered: Arc::new(AtomicUsize::new(0)),
        received: Arc::new(Mutex::new(Vec::new())),
    };
    let router = axum::Router::new()
        .route("/write", axum::routing::post(fake_write))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, fake)
}

fn lines(numbers: std::ops::Range<i64>) -> Vec<String> {
    numbers.map(|n| point(n).to_line()).collect()
}

#[tokio::test]
async fn a_busy_influxdb_gets_the_same_batch_again_after_retry_after_and_the_order_holds() {
    let busy = (StatusCode::SERVICE_UNAVAILABLE, Some("1"));
    let (url, fake) = start_fake(vec![busy, busy]).await;
    let spool = tempfile::tempdir().unwrap();
    let mut sink_config = config(&url, InfluxVersion::V1, spool.path());
    sink_config.batch_max_points = 100;
    sink_config.retention_policy = Some("autogen".into());
    sink_config.auth = InfluxAuth::UserPassword {
        username: "jeny".into(),
        password: "secret".to_owned().into(),
    };
    let sink = InfluxSink::start(sink_config, CancellationToken::new())
        .await
        .unwrap();

    for from in (0..300).step_by(100) {
        sink.write("busy", points(from..from + 100)).await.unwrap();
    }

    poll_until("the spool is empty", || async {
        (sink.pending_bytes() == 0).then_some(())
    })
    .await;
    let received = fake.received.lock().unwrap().clone();
    let (refused, taken): (Vec<_>, Vec<_>) = received.iter().partition(|r| r.answered == 503);
    assert_eq!(refused.len(), 2, "both 503s were met: {received:?}");
    assert_eq!(received[0].answered, 503);
    assert_eq!(received[1].answered, 503);
    for retried in &refused {
        assert_eq!(
            retried.body, taken[0].body,
            "the refused batch is sent again"
        );
    }
    let sent: Vec<String> = taken
        .iter()
        .flat_map(|r| r.body.split('\n').map(str::to_owned))
        .collect();
    assert_eq!(sent, lines(0..300), "every point once, in order");
    for request in &received {
        assert_eq!(request.query, "db=busy&rp=autogen&precision=ns");
        assert_eq!(request.encoding.as_deref(), Some("gzip"));
        // base64("jeny:secret")
        assert_eq!(
            request.authorization.as_deref(),
            Some("Basic amVueTpzZWNyZXQ=")
        );
    }
    sink.stop().await;
}

#[tokio::test]
async fn a_batch_influxdb_refuses_with_400_is_dropped_and_the_next_ones_go() {
    let (url, fake) = start_fake(vec![(StatusCode::BAD_REQUEST, None)]).await;
    let spool = tempfile::tempdir().unwrap();
    let mut sink_config = config(&url, InfluxVersion::V1, spool.path());
    sink_config.batch_max_points = 100;
    sink_config.gzip = false;
    let sink = InfluxSink::start(sink_config, CancellationToken::new())
        .await
        .unwrap();

    sink.write("bad", points(0..100)).await.unwrap();
    sink.write("bad", points(100..300)).await.unwrap();

    poll_until("the spool is empty", || async {
        (sink.pending_bytes() == 0).then_some(())
    })
    .await;
    let received = fake.received.lock().unwrap().clone();
    let answered: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(
        answered,
        [400, 204, 204],
        "the refused batch is not sent again"
    );
    assert_eq!(received[0].body, lines(0..100).join("\n"));
    assert_eq!(received[1].body, lines(100..200).join("\n"));
    assert_eq!(received[2].body, lines(200..300).join("\n"));
    assert!(received.iter().all(|r| r.encoding.is_none()));
    sink.stop().await;
}

#[tokio::test]
async fn a_spool_emptied_and_started_again_keeps_what_is_written_next() {
    let (url, fake) = start_fake(Vec::new()).await;
    let spool = tempfile::tempdir().unwrap();
    let sent = InfluxSink::start(
        config(&url, InfluxVersion::V1, spool.path()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    sent.write("empty", points(0..10)).await.unwrap();
    poll_until("the spool is empty", || async {
        (sent.pending_bytes() == 0).then_some(())
    })
    .await;
    sent.stop().await;
    // a sink that cannot send: the same points again, so the same record sizes as before
    let unsent = InfluxSink::start(
        config(&closed_port_url(), InfluxVersion::V1, spool.path()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    unsent.write("empty", points(0..10)).await.unwrap();
    let left = unsent.pending_bytes();
    unsent.stop().await;

    let again = InfluxSink::start(
        config(&url, InfluxVersion::V1, spool.path()),
        CancellationToken::new(),
    )
    .await
    .unwrap();

    assert_eq!(again.pending_bytes(), left, "nothing is taken as sent");
    poll_until("the spool is empty", || async {
        (again.pending_bytes() == 0).then_some(())
    })
    .await;
    let received = fake.received.lock().unwrap().clone();
    let bodies: Vec<&str> = received.iter().map(|r| r.body.as_str()).collect();
    let batch = lines(0..10).join("\n");
    assert_eq!(bodies, [batch.as_str(), batch.as_str()]);
    again.stop().await;
}

#[tokio::test]
async fn the_2x_api_with_a_token_writes_to_a_jeny_bucket() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.with_admin()
        .await
        .create_project(&jeny_projects::ProjectInput {
            name: Some("shop".into()),
            title: None,
            description: String::new(),
            repository: None,
            deploy_command: "true".into(),
            output_retention_days: None,
            output_retention_bytes: None,
            metrics_retention: Default::default(),
        })
        .await
        .expect("the project is created");
    let token = app
        .token_for("d@example.com", jeny_core::Role::Deployer)
        .await;
    let spool = tempfile::tempdir().unwrap();
    let mut sink_config = config(&app.url, InfluxVersion::V2, spool.path());
    sink_config.org = Some("jeny".into());
    sink_config.auth = InfluxAuth::Token(token.into());
    let sink = InfluxSink::start(sink_config, CancellationToken::new())
        .await
        .unwrap();

    sink.write("shop", points(0..300)).await.unwrap();
    sink.write("shop", points(300..600)).await.unwrap();

    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    let stored = poll_until("jeny's store holds the 600 points", || async {
        let series = store.series("shop", "stream", Some("v"), &|_| true);
        let [one] = series.as_slice() else {
            return None;
        };
        let read = store.read(one.id, i64::MIN, i64::MAX).expect("a read");
        (read.times.len() == 600).then_some((one.clone(), read))
    })
    .await;
    let (series, read) = stored;
    assert!(
        series
            .tags
            .contains(&("host".to_owned(), "web 1,a=b".to_owned()))
    );
    assert_eq!(read.times, (0..600).map(|n| BASE + n).collect::<Vec<_>>());
    let Values::Bits(bits) = &read.values else {
        panic!("floats are kept as bits");
    };
    assert_eq!(
        *bits,
        (0..600).map(|n| float_of(n).to_bits()).collect::<Vec<_>>()
    );
    poll_until("the spool is empty", || async {
        (sink.pending_bytes() == 0).then_some(())
    })
    .await;
    sink.stop().await;
}
