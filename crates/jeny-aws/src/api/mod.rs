//! `/api/v1/aws/accounts`: the accounts (admins change them; everyone reads them, never their
//! secret key), `POST .../sync` (a deployer may ask for a sync now) and `POST
//! .../metrics/import` (and for a metrics import now).

use crate::{Aws, AwsAccount, AwsAccountInput, MetricsImportReport, SyncReport};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use jeny_http::{
    ApiError, AppJson, AsAdmin, AsDeployer, Auth, IfMatch, MergePatch, json_created, json_with_etag,
};

pub fn routes(state: Aws) -> Router {
    Router::new()
        .route(
            "/api/v1/aws/accounts",
            get(list_accounts).post(create_account),
        )
        .route(
            "/api/v1/aws/accounts/{account}",
            get(get_account).patch(patch_account).delete(delete_account),
        )
        .route("/api/v1/aws/accounts/{account}/sync", post(sync_account))
        .route(
            "/api/v1/aws/accounts/{account}/metrics/import",
            post(import_metrics),
        )
        .with_state(state)
}

/// AWS accounts by name, each with its last sync's report.
#[utoipa::path(
    get,
    path = "/api/v1/aws/accounts",
    tag = "aws",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The accounts", body = Vec<AwsAccount>),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
    )
)]
async fn list_accounts(
    _auth: Auth,
    State(aws): State<Aws>,
) -> Result<AppJson<Vec<AwsAccount>>, ApiError> {
    Ok(AppJson(aws.list_accounts().await?))
}

/// Adds an AWS account to sync hosts from. Credentials: an access key (`access_key_id` and
/// `secret_access_key`, sealed like a secret variable), a `profile` of the server's shared AWS
/// config, or neither for the default chain (environment, shared config, web identity, the
/// instance's role); `role_arn` (with `external_id`) is assumed with them.
#[utoipa::path(
    post,
    path = "/api/v1/aws/accounts",
    tag = "aws",
    request_body = crate::model::NewAwsAccount,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The account", body = AwsAccount),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 409, description = "The name is taken", body = jeny_http::Problem),
        (status = 422, description = "Invalid fields", body = jeny_http::Problem),
    )
)]
async fn create_account(
    AsAdmin(admin): AsAdmin,
    State(aws): State<Aws>,
    AppJson(input): AppJson<AwsAccountInput>,
) -> Result<Response, ApiError> {
    let account = aws.create_account(admin.actor(), input).await?;
    Ok(json_created(
        &format!("/api/v1/aws/accounts/{}", account.name),
        &account.etag(),
        &account,
    ))
}

/// One account, with its last sync's report (per region, with AWS's own error messages).
#[utoipa::path(
    get,
    path = "/api/v1/aws/accounts/{account}",
    tag = "aws",
    params(("account" = String, Path, description = "The account's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = AwsAccount),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 404, description = "No such account", body = jeny_http::Problem),
    )
)]
async fn get_account(
    _auth: Auth,
    State(aws): State<Aws>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let account = aws.get_account(&name).await?;
    Ok(json_with_etag(StatusCode::OK, &account.etag(), &account))
}

/// Changes an account with a JSON merge patch. `secret_access_key` is write-only: a string sets
/// it, `null` removes it, leaving it out keeps it.
#[utoipa::path(
    patch,
    path = "/api/v1/aws/accounts/{account}",
    tag = "aws",
    params(
        ("account" = String, Path, description = "The account's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the account changed since"),
    ),
    request_body(content = AwsAccountInput, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = AwsAccount),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 404, description = "No such account", body = jeny_http::Problem),
        (status = 412, description = "The account changed since the If-Match ETag", body = jeny_http::Problem),
        (status = 422, description = "Invalid fields", body = jeny_http::Problem),
    )
)]
async fn patch_account(
    AsAdmin(admin): AsAdmin,
    State(aws): State<Aws>,
    Path(name): Path<String>,
    IfMatch(precondition): IfMatch,
    patch: MergePatch,
) -> Result<Response, ApiError> {
    let clear_secret = patch.0.get("secret_access_key") == Some(&serde_json::Value::Null);
    let account = aws
        .update_account(admin.actor(), &name, &precondition, |current| {
            Ok::<_, ApiError>((patch.apply(&current)?, clear_secret))
        })
        .await?;
    Ok(json_with_etag(StatusCode::OK, &account.etag(), &account))
}

/// Deletes an account. The hosts synced from it are marked gone (kept, picked by no selector).
#[utoipa::path(
    delete,
    path = "/api/v1/aws/accounts/{account}",
    tag = "aws",
    params(("account" = String, Path, description = "The account's name")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 404, description = "No such account", body = jeny_http::Problem),
    )
)]
async fn delete_account(
    AsAdmin(admin): AsAdmin,
    State(aws): State<Aws>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    aws.delete_account(admin.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Syncs an account now and answers its report. AWS's errors (bad credentials, throttling
/// after retries, a region down) are in the report, per region; hosts of a region that failed
/// are left as they were. `409` while a sync of the account runs.
#[utoipa::path(
    post,
    path = "/api/v1/aws/accounts/{account}/sync",
    tag = "aws",
    params(("account" = String, Path, description = "The account's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the sync did", body = SyncReport),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such account", body = jeny_http::Problem),
        (status = 409, description = "A sync of this account is running", body = jeny_http::Problem),
    )
)]
async fn sync_account(
    AsDeployer(principal): AsDeployer,
    State(aws): State<Aws>,
    Path(name): Path<String>,
) -> Result<AppJson<SyncReport>, ApiError> {
    Ok(AppJson(aws.sync_account(principal.actor(), &name).await?))
}

/// Imports an account's CloudWatch and load balancer metrics now: in each region, the whole
/// periods from its cursor to the last one that ended five minutes ago (at most an hour's
/// worth at a 1-minute period), and answers the report. AWS's errors are in the report, per
/// region; a region that failed keeps its cursor. `409` while an import of the account runs.
#[utoipa::path(
    post,
    path = "/api/v1/aws/accounts/{account}/metrics/import",
    tag = "aws",
    params(("account" = String, Path, description = "The account's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the import did", body = MetricsImportReport),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such account", body = jeny_http::Problem),
        (status = 409, description = "An import of this account is running", body = jeny_http::Problem),
    )
)]
async fn import_metrics(
    AsDeployer(_principal): AsDeployer,
    State(aws): State<Aws>,
    Path(name): Path<String>,
) -> Result<AppJson<MetricsImportReport>, ApiError> {
    Ok(AppJson(aws.import_metrics(&name).await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_accounts,
        create_account,
        get_account,
        patch_account,
        delete_account,
        sync_account,
        import_metrics
    ),
    components(schemas(
        crate::AwsAccount,
        crate::AwsAccountInput,
        crate::AddressKind,
        crate::SyncReport,
        crate::RegionReport,
        crate::MetricsImportReport,
        crate::RegionImportReport
    ))
)]
pub struct AwsApi;
