//! The OpenAPI 3 document of `/api/v1`, assembled from every part's own document.

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jeny",
        description = "Deploy and run applications on AWS with Ansible. Every route needs `Authorization: Bearer <token>`; \
                       errors are `application/problem+json`; lists are paginated with `limit` and `cursor`; updates honour `If-Match`.",
    ),
    components(schemas(jeny_http::Problem))
)]
struct ServerApi;

/// The whole document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = ServerApi::openapi();
    document.merge(jeny_auth::api::AuthApi::openapi());
    document.merge(jeny_projects::api::ProjectsApi::openapi());
    document.merge(jeny_hosts::api::HostsApi::openapi());
    document.merge(jeny_deploys::api::DeploysApi::openapi());
    document.merge(jeny_events::api::EventsApi::openapi());
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document.info.license = None;
    document.info.contact = None;
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An API token from `jeny admin token`"))
                .build(),
        ),
    );
    document
}

/// The document as pretty JSON, as committed in `openapi.json`.
pub fn openapi_json() -> String {
    let mut text = openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}
