//! jeny's own metrics at `/metrics`, in the OpenMetrics text format Prometheus scrapes:
//! requests by route and status, their durations, the event log's head, and the SQLite
//! writer's reconnects.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jeny_store::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

#[derive(Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: DurationFamily,
    last_event_id: Gauge,
    writer_reconnects: Counter,
    store: Store,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new(store: Store) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "jeny_http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        let durations: DurationFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "jeny_http_request_duration_seconds",
            "Time to answer HTTP requests, by route",
            durations.clone(),
        );
        let last_event_id = Gauge::default();
        registry.register(
            "jeny_events_last_id",
            "Id of the newest event in the event log",
            last_event_id.clone(),
        );
        let writer_reconnects = Counter::default();
        registry.register(
            "jeny_store_writer_reconnects",
            "Times the SQLite writer connection was opened again (a write that failed to commit closes it); 0 on PostgreSQL",
            writer_reconnects.clone(),
        );
        let build_info = Family::<Vec<(String, String)>, Gauge>::default();
        build_info
            .get_or_create(&vec![(
                "version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )])
            .set(1);
        registry.register("jeny_build_info", "The running jeny's version", build_info);
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                durations,
                last_event_id,
                writer_reconnects,
                store,
            }),
        }
    }
}

/// Counts and times every request under its route pattern (never the raw path, which would
/// make one series per project).
pub(crate) async fn track_requests(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RequestLabels {
        method,
        route: route.clone(),
        status: response.status().as_u16(),
    };
    metrics.inner.requests.get_or_create(&labels).inc();
    metrics
        .inner
        .durations
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

pub(crate) async fn render(State(metrics): State<Metrics>) -> Response {
    if let Ok(last) = jeny_events::latest_id(&metrics.inner.store).await {
        metrics.inner.last_event_id.set(last);
    }
    let reconnects = metrics.inner.store.writer_reconnects();
    let counted = metrics.inner.writer_reconnects.get();
    metrics
        .inner
        .writer_reconnects
        .inc_by(reconnects.saturating_sub(counted));
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &metrics.inner.registry).is_err() {
        return http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
