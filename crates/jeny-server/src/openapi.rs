//! The OpenAPI 3 document of `/api/v1`, assembled from every part's own document.

use utoipa::OpenApi;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jeny",
        description = "Deploy and run applications on AWS with Ansible. Every route needs `Authorization: Bearer <token>` \
                       or a browser's session cookie (writes from jeny's own origin), except the device flow's; \
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
    document.merge(jeny_aws::api::AwsApi::openapi());
    document.merge(jeny_chat::api::ChatApi::openapi());
    document.merge(jeny_events::api::EventsApi::openapi());
    document.merge(jeny_metrics::api::MetricsApi::openapi());
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document.info.license = None;
    document.info.contact = None;
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A personal API token (`jeny login`, `POST /api/v1/me/tokens`, `jeny admin token`)",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            jeny_auth::SESSION_COOKIE,
            "A browser session, set by signing in; writes must come from jeny's own origin",
        ))),
    );
    components.add_security_scheme(
        "agent",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An agent token (`POST /api/v1/agent-tokens`), for `/api/v1/agent/...` only",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "influxdb",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "InfluxDB's API (/write, /api/v2/write, /query, /api/v1/prom/write): a jeny token sent as InfluxDB clients send \
                     credentials: `Authorization: Bearer <t>` or `Token <t>`, Basic with the token as the password, \
                     or `?p=<t>`. Errors keep InfluxDB's shapes, not problem+json; a browser session is not taken",
                ))
                .build(),
        ),
    );
    with_sessions_wherever_tokens_go(document)
}

/// Every route that takes a personal API token also takes a browser session (the
/// authenticator accepts either), so each part's routes only have to name `bearer`.
fn with_sessions_wherever_tokens_go(
    mut document: utoipa::openapi::OpenApi,
) -> utoipa::openapi::OpenApi {
    let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
    let session = SecurityRequirement::new("session", Vec::<String>::new());
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(security) = &mut operation.security
                && security.contains(&bearer)
                && !security.contains(&session)
            {
                security.push(session.clone());
            }
        }
    }
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
