//! The deploys routes: start, read, list, cancel and redeploy deploys, follow their output, and
//! lock environments.

mod deploys;
mod feed;
mod locks;
mod output;

use crate::service::Links;
use axum::Router;
use axum::routing::{get, post};
use jeny_store::Store;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct DeploysState {
    store: Store,
    links: Links,
    /// Ends live output streams when the server shuts down.
    shutdown: CancellationToken,
    /// The live output feeds of this server.
    hub: std::sync::Arc<feed::Hub>,
}

impl DeploysState {
    pub fn new(store: Store, links: Links, shutdown: CancellationToken) -> DeploysState {
        DeploysState {
            store,
            links,
            shutdown,
            hub: std::sync::Arc::default(),
        }
    }
}

pub fn routes(state: DeploysState) -> Router {
    Router::new()
        .route(
            "/api/v1/projects/{project}/environments/{environment}/deploys",
            get(deploys::list_environment::list_environment_deploys)
                .post(deploys::create::create_deploy),
        )
        .route(
            "/api/v1/projects/{project}/deploys",
            get(deploys::list_project::list_project_deploys),
        )
        .route("/api/v1/deploys", get(deploys::list::list_deploys))
        .route(
            "/api/v1/deploys/latest",
            get(deploys::latest::latest_deploys),
        )
        .route("/api/v1/deploys/{id}", get(deploys::get::get_deploy))
        .route(
            "/api/v1/deploys/{id}/cancel",
            post(deploys::cancel::cancel_deploy),
        )
        .route(
            "/api/v1/deploys/{id}/redeploy",
            post(deploys::redeploy::redeploy),
        )
        .route("/api/v1/deploys/{id}/output", get(output::deploy_output))
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock",
            get(locks::get::get_lock)
                .put(locks::lock::lock_environment)
                .delete(locks::unlock::unlock_environment),
        )
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        deploys::create::create_deploy,
        deploys::list_environment::list_environment_deploys,
        deploys::list_project::list_project_deploys,
        deploys::list::list_deploys,
        deploys::latest::latest_deploys,
        deploys::get::get_deploy,
        deploys::cancel::cancel_deploy,
        deploys::redeploy::redeploy,
        output::deploy_output,
        locks::get::get_lock,
        locks::lock::lock_environment,
        locks::unlock::unlock_environment,
    ),
    components(schemas(
        crate::Deploy,
        deploys::latest::LatestDeploys,
        crate::DeployRequest,
        crate::DeployStatus,
        crate::TargetHost,
        crate::DeployVariable,
        crate::EnvironmentLock,
        crate::LockState,
        crate::LockRequest,
        crate::OutputStream,
        output::OutputEvent,
        output::OutputText,
        output::SkippedEvent,
        output::Behind,
    ))
)]
pub struct DeploysApi;
