//! Request read limits, over raw TCP on loopback against a server with one-second timeouts:
//! half-sent headers, an idle kept-alive connection and a trickling body are cut within their
//! timeout; a declared body over `max_body_bytes` gets 413 at once, without being sent; and a
//! live event stream held open while those timeouts cut other connections keeps delivering.

use futures_util::StreamExt;
use jeny_testkit::{Backend, TestApp, TestDatabase, both_backends};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

both_backends!(
    half_sent_headers_are_cut_at_the_header_timeout,
    an_idle_kept_alive_connection_is_closed,
    a_declared_body_over_the_limit_gets_413_before_it_is_sent,
    a_trickling_body_is_cut_at_the_body_timeout,
    a_live_stream_outlasts_every_read_timeout,
);

/// The configured timeouts (each one second) and how long a test waits for one to act.
const TIMEOUT_SECS: u64 = 1;
const WAIT: Duration = Duration::from_secs(8);

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_on(TestDatabase::create(backend).await, |config| {
        config.header_read_timeout_secs = TIMEOUT_SECS;
        config.body_read_timeout_secs = TIMEOUT_SECS;
        config.idle_timeout_secs = TIMEOUT_SECS;
        config.max_body_bytes = 1024 * 1024;
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.url.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
}

/// Reads until the server closes the connection (end of file or reset): what it sent. Panics
/// when the connection is still open at `WAIT`.
async fn read_until_closed(socket: &mut TcpStream, what: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
            Err(_) => panic!(
                "{what}: the connection is still open after {WAIT:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// Reads until `needle` has arrived: what arrived.
async fn read_until(socket: &mut TcpStream, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !String::from_utf8_lossy(&received).contains(needle) {
        let read = tokio::time::timeout_at(deadline, socket.read(&mut buffer))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{needle:?} did not arrive within {WAIT:?}: {:?}",
                    String::from_utf8_lossy(&received)
                )
            })
            .unwrap();
        assert!(
            read > 0,
            "closed before {needle:?}: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

async fn half_sent_headers_are_cut_at_the_header_timeout(backend: Backend) {
    let app = spawn(backend).await;
    let mut socket = connect(&app).await;
    let started = Instant::now();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: jeny\r\nX-Slow: ")
        .await
        .unwrap();
    let received = read_until_closed(&mut socket, "half-sent headers").await;
    assert!(
        started.elapsed() >= Duration::from_secs(TIMEOUT_SECS) - Duration::from_millis(100),
        "not before the timeout: {:?}",
        started.elapsed()
    );
    assert!(
        !received.contains("ok"),
        "no request was served: {received}"
    );
}

async fn an_idle_kept_alive_connection_is_closed(backend: Backend) {
    let app = spawn(backend).await;
    let mut socket = connect(&app).await;
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: jeny\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until(&mut socket, "ok\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Kept alive: a second request on it is served.
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: jeny\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut socket, "ok\n").await;
    let idle_from = Instant::now();
    let after = read_until_closed(&mut socket, "an idle connection").await;
    assert_eq!(after, "", "nothing more was sent");
    assert!(
        idle_from.elapsed() >= Duration::from_secs(TIMEOUT_SECS) - Duration::from_millis(100),
        "not before the idle timeout: {:?}",
        idle_from.elapsed()
    );
}

async fn a_declared_body_over_the_limit_gets_413_before_it_is_sent(backend: Backend) {
    let app = spawn(backend).await;
    let mut socket = connect(&app).await;
    socket
        .write_all(
            b"POST /api/v1/projects HTTP/1.1\r\nHost: jeny\r\nContent-Type: application/json\r\n\
              Content-Length: 100000000000\r\n\r\n",
        )
        .await
        .unwrap();
    // None of the body is sent: the answer comes at once, and the connection closes after it.
    let answer = read_until_closed(&mut socket, "a body over the limit").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
    assert!(answer.contains("max_body_bytes"), "{answer}");
}

async fn a_trickling_body_is_cut_at_the_body_timeout(backend: Backend) {
    let app = spawn(backend).await;
    let socket = connect(&app).await;
    let (mut reader, mut writer) = socket.into_split();
    // Slack's command route reads the whole body before anything else.
    writer
        .write_all(
            b"POST /chat/slack/commands HTTP/1.1\r\nHost: jeny\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntext=",
        )
        .await
        .unwrap();
    let started = Instant::now();
    // A byte every 100 ms: never idle long, but 1000 bytes would take 100 s.
    let trickle = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        loop {
            ticks.tick().await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let deadline = started + WAIT;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, reader.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
            Err(_) => panic!(
                "a trickling body is still being read after {WAIT:?}: {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    trickle.abort();
    let answer = String::from_utf8_lossy(&received);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "cut with 408 or closed: {answer}"
    );
    if !answer.is_empty() {
        assert!(answer.contains("body_read_timeout_secs"), "{answer}");
    }
    assert!(
        started.elapsed() >= Duration::from_secs(TIMEOUT_SECS) - Duration::from_millis(100),
        "not before the body timeout: {:?}",
        started.elapsed()
    );
}

async fn a_live_stream_outlasts_every_read_timeout(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.with_admin().await;
    let response = admin
        .request(reqwest::Method::GET, "/api/v1/events")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    // The stream is a response being sent: no read timeout applies to it, however long it
    // stays open. Opened after it, a connection that sends half its headers and one left idle
    // after a response are closed by the server: both timeouts have run out, on the server's own
    // clock, while the stream stays open.
    let mut half_sent = connect(&app).await;
    half_sent
        .write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: jeny\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut idle, "ok\n").await;
    read_until_closed(&mut half_sent, "half-sent headers").await;
    read_until_closed(&mut idle, "an idle connection").await;
    admin
        .create_project(&crate::project("after-the-timeouts"))
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut received = String::new();
    while !received.contains("after-the-timeouts") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("the event did not arrive: {received}"))
            .expect("the stream ended early")
            .expect("the stream failed");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
}
