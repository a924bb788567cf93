//! The hosts routes: `/api/v1/hosts` and `/api/v1/hosts/{host}`.

mod hosts;

use axum::Router;
use axum::routing::get;
use jeny_store::Store;

#[derive(Clone)]
pub struct HostsState {
    pub store: Store,
}

pub fn routes(state: HostsState) -> Router {
    Router::new()
        .route(
            "/api/v1/hosts",
            get(hosts::list::list_hosts).post(hosts::create::create_host),
        )
        .route(
            "/api/v1/hosts/{host}",
            get(hosts::get::get_host)
                .put(hosts::update::replace_host)
                .patch(hosts::update::patch_host)
                .delete(hosts::delete::delete_host),
        )
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        hosts::list::list_hosts,
        hosts::create::create_host,
        hosts::get::get_host,
        hosts::update::replace_host,
        hosts::update::patch_host,
        hosts::delete::delete_host,
    ),
    components(schemas(
        crate::Host,
        crate::HostInput,
        crate::HostSource,
        crate::TagConditionSchema
    ))
)]
pub struct HostsApi;
