//! Request read limits: how long a client may take to send what it sends, so that connections
//! that send slowly or not at all cannot pile up. Three clocks, each a setting:
//!
//! - **headers** (`header_read_timeout_secs`): a new connection has this long to send its first
//!   request's headers; a kept-alive connection, this long from the first byte of its next
//!   request. Then the connection is closed.
//! - **idle** (`idle_timeout_secs`): a kept-alive connection may wait this long after a response
//!   for the next request to begin; then it is closed.
//! - **body** (`body_read_timeout_secs`): once its headers are in, a request's whole body must
//!   arrive within this long, however it trickles; a slower one gets 408 and the connection is
//!   closed.
//!
//! None of them runs while a response is being sent: a live stream (events, deploy output) is a
//! response, and stays open as long as it needs. A declared `Content-Length` over
//! `max_body_bytes` is refused with 413 before any of the body is read.
//!
//! The header and idle clocks live in the connection's socket (`LimitedStream`), which alone
//! sees bytes arrive before a request exists; the middleware (`read_limits`) tells it when a
//! request starts and when its response ends, through the connection's shared `Connection`,
//! found by the peer address that axum hands every request.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jeny_core::ErrorCode;
use jeny_http::ApiError;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// The limits in effect (from `Config`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub header_read: Duration,
    pub body_read: Duration,
    pub idle: Duration,
    pub max_body_bytes: usize,
}

impl Limits {
    pub(crate) fn of(config: &crate::Config) -> Limits {
        Limits {
            header_read: Duration::from_secs(config.header_read_timeout_secs),
            body_read: Duration::from_secs(config.body_read_timeout_secs),
            idle: Duration::from_secs(config.idle_timeout_secs),
            max_body_bytes: config.max_body_bytes,
        }
    }
}

/// The open connections, by peer address: how a request finds its connection's clocks.
#[derive(Clone, Default)]
pub(crate) struct Connections(Arc<Mutex<HashMap<SocketAddr, Arc<Connection>>>>);

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<Connection>>> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn get(&self, peer: &SocketAddr) -> Option<Arc<Connection>> {
        self.lock().get(peer).cloned()
    }
}

/// One connection's clocks.
struct Connection {
    state: Mutex<ConnectionState>,
}

struct ConnectionState {
    /// Requests whose response has not ended (hyper serves one at a time; pipelining may
    /// overlap a response's end with the next request's start).
    in_flight: usize,
    /// No request yet: the header clock runs from the connection's start.
    fresh: bool,
    /// When the connection last began waiting for a request (its start, or a response's end).
    waiting_since: Instant,
    /// The first byte read since then: the next request's headers are on their way.
    first_byte_at: Option<Instant>,
    /// The reader to wake when a response ends, so that its wait starts to count.
    reader: Option<Waker>,
}

impl Connection {
    fn new() -> Connection {
        Connection {
            state: Mutex::new(ConnectionState {
                in_flight: 0,
                fresh: true,
                waiting_since: Instant::now(),
                first_byte_at: None,
                reader: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ConnectionState> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Until when a read may wait: none while a request is being served.
    fn read_deadline(&self, limits: &Limits) -> Option<Instant> {
        let state = self.state();
        if state.in_flight > 0 {
            return None;
        }
        Some(match state.first_byte_at {
            Some(first_byte_at) => first_byte_at + limits.header_read,
            None if state.fresh => state.waiting_since + limits.header_read,
            None => state.waiting_since + limits.idle,
        })
    }

    fn bytes_read(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.first_byte_at.is_none() {
            state.first_byte_at = Some(Instant::now());
        }
    }

    fn request_started(&self) {
        let mut state = self.state();
        state.in_flight += 1;
        state.fresh = false;
        state.first_byte_at = None;
    }

    fn response_ended(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.waiting_since = Instant::now();
            state.first_byte_at = None;
            if let Some(reader) = state.reader.take() {
                reader.wake();
            }
        }
    }
}

/// The server's listener: each connection it accepts keeps the header and idle clocks.
pub(crate) struct LimitedListener {
    listener: TcpListener,
    limits: Limits,
    connections: Connections,
}

impl LimitedListener {
    pub(crate) fn new(
        listener: TcpListener,
        limits: Limits,
        connections: Connections,
    ) -> LimitedListener {
        LimitedListener {
            listener,
            limits,
            connections,
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LimitedStream, SocketAddr) {
        // axum's own accept loop: it waits out errors such as too many open files.
        let (tcp, peer) = axum::serve::Listener::accept(&mut self.listener).await;
        let connection = Arc::new(Connection::new());
        self.connections.lock().insert(peer, connection.clone());
        let stream = LimitedStream {
            tcp,
            peer,
            connection,
            connections: self.connections.clone(),
            limits: self.limits,
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
        };
        (stream, peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// A connection's socket: a read that waits past the header or idle clock fails, and the
/// connection closes.
pub(crate) struct LimitedStream {
    tcp: TcpStream,
    peer: SocketAddr,
    connection: Arc<Connection>,
    connections: Connections,
    limits: Limits,
    timer: Pin<Box<Sleep>>,
}

impl LimitedStream {
    pub(crate) fn set_nodelay(&self) -> io::Result<()> {
        self.tcp.set_nodelay(true)
    }
}

impl Drop for LimitedStream {
    fn drop(&mut self) {
        let mut connections = self.connections.lock();
        if connections
            .get(&self.peer)
            .is_some_and(|connection| Arc::ptr_eq(connection, &self.connection))
        {
            connections.remove(&self.peer);
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.connection.bytes_read();
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => {}
        }
        this.connection.state().reader = Some(cx.waker().clone());
        let Some(deadline) = this.connection.read_deadline(&this.limits) else {
            return Poll::Pending;
        };
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client sent no request, or its headers too slowly",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// What the middleware needs: the limits and the open connections.
#[derive(Clone)]
pub(crate) struct ReadLimits {
    pub limits: Limits,
    pub connections: Connections,
}

/// Refuses a declared body over the limit at once (413), gives a request's body its clock
/// (408 when it runs out), and tells the connection when a request starts and its response ends.
pub(crate) async fn read_limits(
    State(read_limits): State<ReadLimits>,
    request: Request,
    next: Next,
) -> Response {
    let limits = read_limits.limits;
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if let Some(declared) = declared
        && declared > limits.max_body_bytes as u64
    {
        let problem = ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the request body is {declared} bytes; this server accepts at most {} (max_body_bytes)",
                limits.max_body_bytes
            ),
        );
        // The body is never read: the connection cannot carry another request after it.
        return closing(problem.into_response());
    }
    let connection = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .and_then(|ConnectInfo(peer)| read_limits.connections.get(peer));
    if let Some(connection) = &connection {
        connection.request_started();
    }
    let has_body = declared.is_some_and(|length| length > 0)
        || request
            .headers()
            .contains_key(http::header::TRANSFER_ENCODING);
    let body_timed_out = Arc::new(AtomicBool::new(false));
    let request = if has_body {
        let deadline = Instant::now() + limits.body_read;
        let timed_out = body_timed_out.clone();
        request.map(|body| {
            Body::new(DeadlineBody {
                body,
                timer: Box::pin(tokio::time::sleep_until(deadline)),
                timed_out,
            })
        })
    } else {
        request
    };
    let response = next.run(request).await;
    let response = if body_timed_out.load(Ordering::Relaxed) {
        let seconds = limits.body_read.as_secs();
        closing(
            ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {seconds} s (body_read_timeout_secs)"
                ),
            )
            .into_response(),
        )
    } else {
        response
    };
    match connection {
        Some(connection) => response.map(|body| {
            Body::new(TrackedBody {
                body,
                connection: Some(connection),
            })
        }),
        None => response,
    }
}

/// Tells the client, and hyper, that the connection ends with this response.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

/// A request body that must end by a deadline.
struct DeadlineBody {
    body: Body,
    timer: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A response body that tells its connection when it ends (sent whole, or dropped).
struct TrackedBody {
    body: Body,
    connection: Option<Arc<Connection>>,
}

impl TrackedBody {
    fn ended(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.response_ended();
        }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.ended();
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            this.ended();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
