//! The router: every part's routes, the operational endpoints, the web app, and the middleware
//! stack they share.

use crate::config::Config;
use crate::metrics::{Metrics, track_requests};
use crate::{openapi, web};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router, middleware};
use jeny_core::{SecretBox, SecretKey};
use jeny_http::{ApiError, Authenticators, detach_writes, request_context};
use jeny_store::Store;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

pub(crate) struct Parts {
    pub store: Store,
    pub key: SecretKey,
    pub config: Config,
    pub shutdown: CancellationToken,
    pub links: jeny_deploys::Links,
    pub auth: Arc<jeny_auth::AuthService>,
    pub chat: jeny_chat::Chat,
    pub metrics: jeny_metrics::Metrics,
    pub read_limits: crate::limits::ReadLimits,
}

pub(crate) fn build(parts: Parts) -> Router {
    let Parts {
        store,
        key,
        config,
        shutdown,
        links,
        auth,
        chat,
        metrics: metrics_part,
        read_limits,
    } = parts;
    let metrics = Metrics::new(store.clone());
    let parts_routes = Router::new()
        .merge(jeny_auth::api::routes(auth.clone()))
        .merge(jeny_projects::api::routes(
            jeny_projects::api::ProjectsState {
                store: store.clone(),
                secrets: SecretBox::new(&key),
                repository_schemes: config.repository_schemes.clone(),
            },
        ))
        .merge(jeny_hosts::api::routes(jeny_hosts::api::HostsState {
            store: store.clone(),
        }))
        .merge(jeny_deploys::api::routes(
            jeny_deploys::api::DeploysState::new(store.clone(), links, shutdown.clone()),
        ))
        .merge(jeny_aws::api::routes(jeny_aws::Aws {
            store: store.clone(),
            secrets: SecretBox::new(&key),
            node: config.node_name.clone(),
            metrics: metrics_part.clone(),
        }))
        .merge(jeny_chat::api::routes(chat))
        .merge(jeny_metrics::api::routes(metrics_part))
        .merge(jeny_events::api::routes(jeny_events::api::EventsState {
            store: store.clone(),
            shutdown,
        }));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(store))
        .route(
            "/metrics",
            get(crate::metrics::render).with_state(metrics.clone()),
        )
        .route("/api/v1/openapi.json", get(openapi_document))
        .merge(parts_routes)
        .fallback_service(axum::routing::any(web::fallback).with_state(Arc::new(
            match &config.web_dir {
                Some(dir) => jeny_web::WebApp::from_dir(dir.clone()),
                None => jeny_web::WebApp::embedded(),
            },
        )))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(Extension(Authenticators(auth)))
        .layer(middleware::from_fn(detach_writes))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(jeny_core::ErrorCode::Internal, "a request handler panicked")
                .into_response()
        }))
        .layer(middleware::from_fn_with_state(metrics, track_requests))
        .layer(middleware::from_fn_with_state(
            read_limits,
            crate::limits::read_limits,
        ))
        .layer(middleware::from_fn(request_context))
        .layer(middleware::from_fn(jeny_http::deny_framing))
}

/// The process is alive.
async fn healthz() -> &'static str {
    "ok\n"
}

/// The process can serve: its store answers.
async fn readyz(State(store): State<Store>) -> Result<&'static str, ApiError> {
    store.ping().await?;
    Ok("ready\n")
}

async fn openapi_document(_auth: jeny_http::Auth) -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        openapi::openapi_json(),
    )
        .into_response()
}
