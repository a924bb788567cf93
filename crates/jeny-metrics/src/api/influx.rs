//! InfluxDB's own HTTP API, spoken by jeny so that Telegraf and existing clients write to it
//! unchanged: `POST /write` (1.x), `POST /api/v2/write` (2.x) and `GET|HEAD /ping`. Answers keep
//! each protocol's shape, which clients parse: 1.x `{"error":"..."}`, 2.x
//! `{"code":"...","message":"..."}`, never problem+json.
//!
//! The database (`db`, or `bucket`) names a project. The credential is a jeny token, sent the
//! ways InfluxDB clients send one: `Authorization: Bearer <t>` or `Token <t>` (also
//! `Token <user>:<t>`), Basic with the token as the password (any user name), or `?p=<t>`. A
//! person's token must be a deployer's on the project; an agent token may write to any.

use std::io::Read as _;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use jeny_core::{DomainError as _, ErrorCode, Principal, Role};
use jeny_http::{Authenticators, DeliberateBody};

use crate::line_protocol::{self, Precision};
use crate::service::Metrics;
use crate::store::{StoreError, Written};

/// What `X-Influxdb-Version` says: the 1.x API as 1.8 speaks it (the `u` suffix included).
pub const INFLUXDB_VERSION: &str = "1.8.10";
/// The most a compressed body (gzip, or Prometheus's snappy) may expand to.
pub(crate) const MAX_DECODED_BYTES: u64 = 256 << 20;

pub fn routes(metrics: Metrics) -> Router {
    Router::new()
        .route("/write", post(write_v1))
        .route("/api/v2/write", post(write_v2))
        .route("/ping", get(ping).head(ping))
        .route("/query", get(query_v1).post(query_v1))
        .with_state(metrics)
}

/// InfluxDB 1.x's error body.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct InfluxV1Error {
    /// What went wrong, in InfluxDB's words (`partial write: ... dropped=N`).
    pub error: String,
}

/// InfluxDB 2.x's error body.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct InfluxV2Error {
    /// `invalid`, `unauthorized`, `forbidden`, `not found`, `request too large`, `unavailable`
    pub code: String,
    pub message: String,
}

/// Which protocol's words an answer is in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    V1,
    V2,
}

/// An answer in InfluxDB's shape.
#[derive(Debug)]
pub struct InfluxError {
    pub status: StatusCode,
    pub message: String,
    pub dialect: Dialect,
}

impl InfluxError {
    pub fn new(dialect: Dialect, status: StatusCode, message: impl Into<String>) -> InfluxError {
        InfluxError {
            status,
            message: message.into(),
            dialect,
        }
    }
}

fn version_headers(headers: &mut HeaderMap) {
    headers.insert(
        "x-influxdb-version",
        HeaderValue::from_static(INFLUXDB_VERSION),
    );
    headers.insert("x-influxdb-build", HeaderValue::from_static("OSS"));
}

impl IntoResponse for InfluxError {
    fn into_response(self) -> Response {
        let body = match self.dialect {
            Dialect::V1 => serde_json::json!({ "error": self.message }),
            Dialect::V2 => {
                let code = match self.status {
                    StatusCode::UNAUTHORIZED => "unauthorized",
                    StatusCode::FORBIDDEN => "forbidden",
                    StatusCode::NOT_FOUND => "not found",
                    StatusCode::PAYLOAD_TOO_LARGE => "request too large",
                    StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                    StatusCode::INTERNAL_SERVER_ERROR => "internal error",
                    _ => "invalid",
                };
                serde_json::json!({ "code": code, "message": self.message })
            }
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        version_headers(response.headers_mut());
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"InfluxDB\""),
            );
        }
        // the middleware must not turn it into problem+json: clients parse this shape
        response.extensions_mut().insert(DeliberateBody);
        response
    }
}

pub(crate) fn no_content() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    version_headers(response.headers_mut());
    response
}

/// InfluxDB's ping (also HEAD): 204 and `X-Influxdb-Version`, without credentials, as clients and
/// load balancers expect (`?verbose=true`: 200 and the version in a body).
#[utoipa::path(
    get,
    path = "/ping",
    tag = "influxdb",
    params(("verbose" = Option<bool>, Query, description = "Answer 200 with the version in a body")),
    responses(
        (status = 204, description = "Up"),
        (status = 200, description = "Up (verbose)"),
    )
)]
pub async fn ping(RawQuery(query): RawQuery) -> Response {
    let verbose = pairs(query.as_deref())
        .iter()
        .any(|(k, v)| k == "verbose" && v != "false" && v != "0");
    if verbose {
        let mut response = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "version": INFLUXDB_VERSION }).to_string(),
        )
            .into_response();
        version_headers(response.headers_mut());
        return response;
    }
    no_content()
}

pub(crate) fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    (text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| text[prefix.len()..].trim())
}

/// The token in a request, however an InfluxDB client sent it.
pub fn credential(headers: &HeaderMap, pairs: &[(String, String)]) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        if let Some(t) = strip_prefix_ci(value, "Bearer ") {
            return Some(t.to_owned());
        }
        if let Some(t) = strip_prefix_ci(value, "Token ") {
            return Some(t.split_once(':').map_or(t, |(_, token)| token).to_owned());
        }
        if let Some(b) = strip_prefix_ci(value, "Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            return text
                .split_once(':')
                .map(|(_, password)| password.to_owned());
        }
        return None;
    }
    param(pairs, "p").map(str::to_owned)
}

/// Authenticates the request's token and checks that it may write to `project`.
pub async fn authorize_write(
    dialect: Dialect,
    request: &mut http::request::Parts,
    pairs: &[(String, String)],
    project: &str,
) -> Result<Principal, InfluxError> {
    authorize(dialect, request, pairs, Some(project)).await
}

/// Authenticates the request's token; with a project, checks that it may write there (a
/// deployer's, or an agent's); without one, that it is a person's (who may read everything).
async fn authorize(
    dialect: Dialect,
    request: &mut http::request::Parts,
    pairs: &[(String, String)],
    write_to: Option<&str>,
) -> Result<Principal, InfluxError> {
    let unauthorized = |m: &str| InfluxError::new(dialect, StatusCode::UNAUTHORIZED, m);
    let Some(token) = credential(&request.headers, pairs) else {
        return Err(unauthorized(match dialect {
            Dialect::V1 => "unable to parse authentication credentials",
            Dialect::V2 => "unauthorized access",
        }));
    };
    let authenticators = request
        .extensions
        .get::<Authenticators>()
        .cloned()
        .ok_or_else(|| {
            InfluxError::new(
                dialect,
                StatusCode::INTERNAL_SERVER_ERROR,
                "no authenticator is configured",
            )
        })?;
    // the token is all that counts here: never a browser's cookie
    request.headers.remove(header::COOKIE);
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| unauthorized("authorization failed"))?;
    request.headers.insert(header::AUTHORIZATION, bearer);
    let principal = authenticators
        .0
        .authenticate(request)
        .await
        .map_err(|e| match e.code {
            ErrorCode::Unauthenticated | ErrorCode::Forbidden => unauthorized(match dialect {
                Dialect::V1 => "authorization failed",
                Dialect::V2 => "unauthorized access",
            }),
            _ => InfluxError::new(dialect, StatusCode::SERVICE_UNAVAILABLE, e.detail),
        })?;
    let Some(project) = write_to else {
        if principal.is_agent() {
            return Err(InfluxError::new(
                dialect,
                StatusCode::FORBIDDEN,
                "an agent token may write metrics, not read them",
            ));
        }
        return Ok(principal);
    };
    if !principal.is_agent()
        && let Err(forbidden) = principal.require_in(project, None, Role::Deployer)
    {
        return Err(InfluxError::new(
            dialect,
            StatusCode::FORBIDDEN,
            match dialect {
                Dialect::V1 => format!(
                    "\"{}\" user is not authorized to write to database \"{project}\": {forbidden}",
                    principal.email
                ),
                Dialect::V2 => forbidden.to_string(),
            },
        ));
    }
    Ok(principal)
}

/// Checks that `project` exists.
async fn find_project(
    metrics: &Metrics,
    dialect: Dialect,
    project: &str,
) -> Result<(), InfluxError> {
    match jeny_projects::get_project(&metrics.store, project).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == ErrorCode::NotFound => Err(InfluxError::new(
            dialect,
            StatusCode::NOT_FOUND,
            match dialect {
                Dialect::V1 => format!("database not found: \"{project}\""),
                Dialect::V2 => format!("bucket \"{project}\" not found"),
            },
        )),
        Err(e) => Err(InfluxError::new(
            dialect,
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
    }
}

/// The body, gunzipped when it says it is gzip.
fn decoded_body(dialect: Dialect, headers: &HeaderMap, body: Bytes) -> Result<Bytes, InfluxError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        return Ok(body);
    }
    if !encoding.eq_ignore_ascii_case("gzip") {
        return Err(InfluxError::new(
            dialect,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {encoding:?} is not supported: send gzip or nothing"),
        ));
    }
    let mut out = Vec::with_capacity(body.len() * 8);
    flate2::read::MultiGzDecoder::new(body.as_ref())
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            InfluxError::new(
                dialect,
                StatusCode::BAD_REQUEST,
                format!("the gzip body does not decode: {e}"),
            )
        })?;
    if out.len() as u64 > MAX_DECODED_BYTES {
        return Err(InfluxError::new(
            dialect,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body expands to more than {MAX_DECODED_BYTES} bytes"),
        ));
    }
    Ok(out.into())
}

pub(crate) fn store_error(dialect: Dialect, e: StoreError) -> InfluxError {
    tracing::error!(error = %e, "metrics write failed");
    InfluxError::new(dialect, StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// InfluxDB 1.x's write: line protocol (gzip or plain) into project `db`. The token is a
/// deployer's of the project or an agent's, sent as `Authorization: Bearer <t>`, `Token <t>`,
/// Basic (the token as password) or `?p=<t>`. Good lines are kept when others are bad, and the
/// answer says what was dropped in InfluxDB's words (`partial write: ... dropped=N`).
#[utoipa::path(
    post,
    path = "/write",
    tag = "influxdb",
    params(
        ("db" = String, Query, description = "The project"),
        ("rp" = Option<String>, Query, description = "Retention policy (ignored: retention is the project's)"),
        ("precision" = Option<String>, Query, description = "n, u, ms, s, m or h (default n)"),
        ("u" = Option<String>, Query, description = "User name (ignored)"),
        ("p" = Option<String>, Query, description = "The token, as InfluxDB clients send a password"),
    ),
    request_body(content = String, content_type = "text/plain", description = "Line protocol"),
    security(("influxdb" = [])),
    responses(
        (status = 204, description = "Every point written, durably"),
        (status = 400, description = "Bad lines or refused points (the good ones are written)", body = InfluxV1Error),
        (status = 401, description = "No token, or not a valid one", body = InfluxV1Error),
        (status = 403, description = "Not a deployer of the project", body = InfluxV1Error),
        (status = 404, description = "No such project", body = InfluxV1Error),
        (status = 413, description = "Body too large", body = InfluxV1Error),
        (status = 415, description = "A Content-Encoding other than gzip", body = InfluxV1Error),
        (status = 503, description = "The metrics store cannot write (a full disk, say)", body = InfluxV1Error),
    )
)]
pub async fn write_v1(
    State(metrics): State<Metrics>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, InfluxError> {
    let d = Dialect::V1;
    let pairs = pairs(query.as_deref());
    let (mut parts, body) = request.into_parts();
    let project = param(&pairs, "db").unwrap_or("").to_owned();
    let precision = Precision::parse(param(&pairs, "precision").unwrap_or(""))
        .map_err(|e| InfluxError::new(d, StatusCode::BAD_REQUEST, e.to_string()))?;
    let parsed = accepted_body(d, &metrics, &mut parts, body, &pairs, &project, precision).await?;
    let parse_errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
    if parsed.points.is_empty() {
        return if parse_errors.is_empty() {
            Ok(no_content())
        } else {
            Err(InfluxError::new(
                d,
                StatusCode::BAD_REQUEST,
                parse_errors.join("\n"),
            ))
        };
    }
    let written = metrics
        .write(&project, parsed.points)
        .await
        .map_err(|e| store_error(d, e))?;
    match written {
        Written {
            reason: Some(reason),
            ..
        } => Err(InfluxError::new(d, StatusCode::BAD_REQUEST, reason)),
        _ if parse_errors.is_empty() => Ok(no_content()),
        _ => Err(InfluxError::new(
            d,
            StatusCode::BAD_REQUEST,
            format!("partial write: {} dropped=0", parse_errors.join("\n")),
        )),
    }
}

/// Any valid token (for answers that name no database).
async fn authorize_any(
    dialect: Dialect,
    parts: &mut http::request::Parts,
    pairs: &[(String, String)],
) -> Result<(), InfluxError> {
    // a project name nobody has: only the authentication is checked, so map a 403 to success
    match authorize(dialect, parts, pairs, Some("")).await {
        Ok(_) => Ok(()),
        Err(e) if e.status == StatusCode::FORBIDDEN => Ok(()),
        Err(e) => Err(e),
    }
}

/// InfluxDB 1.x's query: InfluxQL (`q`, in the query string or a form body) over project `db`.
/// Any person's token reads. Answers as InfluxDB does: 200 with each statement's result or
/// error, 400 for a query that does not parse. `CREATE DATABASE` is a no-op (Telegraf sends it
/// at start), `SHOW DATABASES` lists the projects.
#[utoipa::path(
    get,
    path = "/query",
    tag = "influxdb",
    params(
        ("q" = String, Query, description = "InfluxQL statements, separated by ;"),
        ("db" = Option<String>, Query, description = "The project"),
        ("epoch" = Option<String>, Query, description = "Times as integers in ns, u, ms, s, m or h (default RFC 3339)"),
        ("u" = Option<String>, Query, description = "User name (ignored)"),
        ("p" = Option<String>, Query, description = "The token, as InfluxDB clients send a password"),
    ),
    security(("influxdb" = [])),
    responses(
        (status = 200, description = "Each statement's series or error", body = Object),
        (status = 400, description = "The query does not parse, or no q", body = InfluxV1Error),
        (status = 401, description = "No token, or not a valid one", body = InfluxV1Error),
        (status = 403, description = "An agent token", body = InfluxV1Error),
    )
)]
pub async fn query_v1(
    State(metrics): State<Metrics>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, InfluxError> {
    use crate::influxql::Statement;
    use crate::query::influxql::{Cell, Epoch, Series, database_of, to_json};
    let d = Dialect::V1;
    let mut pairs = pairs(query.as_deref());
    let (mut parts, body) = request.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if parts.method == http::Method::POST && is_form {
        let body = read_body(d, body, metrics.max_body_bytes).await?;
        pairs.extend(form_urlencoded::parse(&body).into_owned());
    }
    authorize(d, &mut parts, &pairs, None).await?;
    let Some(q) = param(&pairs, "q").filter(|q| !q.trim().is_empty()) else {
        return Err(InfluxError::new(
            d,
            StatusCode::BAD_REQUEST,
            "missing required parameter \"q\"",
        ));
    };
    let statements = crate::influxql::parse(q)
        .map_err(|e| InfluxError::new(d, StatusCode::BAD_REQUEST, e.to_string()))?;
    let db = param(&pairs, "db").filter(|d| !d.is_empty());
    let epoch = Epoch::parse(param(&pairs, "epoch").unwrap_or(""));
    let now = now_ns();
    let mut results: Vec<(usize, Result<Vec<Series>, String>)> = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        let outcome = match statement {
            Statement::CreateDatabase(_) => Ok(Vec::new()),
            Statement::ShowDatabases => project_names(&metrics).await.map(|names| {
                vec![Series {
                    name: "databases".into(),
                    tags: None,
                    columns: vec!["name".into()],
                    values: names.into_iter().map(|n| vec![Cell::String(n)]).collect(),
                }]
            }),
            Statement::ShowRetentionPolicies(_) => Ok(vec![Series {
                name: String::new(),
                tags: None,
                columns: [
                    "name",
                    "duration",
                    "shardGroupDuration",
                    "replicaN",
                    "default",
                ]
                .map(String::from)
                .to_vec(),
                values: vec![vec![
                    Cell::String(crate::query::influxql::RETENTION_POLICY.into()),
                    Cell::String("0s".into()),
                    Cell::String("168h0m0s".into()),
                    Cell::Integer(1),
                    Cell::Boolean(true),
                ]],
            }]),
            _ => match database_of(statement).or(db) {
                None => Err("database name required".to_owned()),
                Some(project) => match jeny_projects::get_project(&metrics.store, project).await {
                    Err(e) if e.code() == ErrorCode::NotFound => {
                        Err(format!("database not found: {project}"))
                    }
                    Err(e) => Err(e.to_string()),
                    Ok(_) => metrics.run(project, statement, now).await,
                },
            },
        };
        results.push((i, outcome));
    }
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        to_json(&results, epoch).to_string(),
    )
        .into_response();
    version_headers(response.headers_mut());
    Ok(response)
}

/// Every project's name (`SHOW DATABASES`).
async fn project_names(metrics: &Metrics) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut page = jeny_core::PageRequest {
        limit: jeny_core::PageRequest::MAX_LIMIT,
        after: None,
    };
    loop {
        let projects = jeny_projects::list_projects(&metrics.store, &page)
            .await
            .map_err(|e| e.to_string())?;
        let last = projects.items.last().map(|p| p.name.clone());
        names.extend(projects.items.into_iter().map(|p| p.name));
        match (projects.next_cursor, last) {
            (Some(_), Some(last)) => page.after = Some(last),
            _ => return Ok(names),
        }
    }
}

/// What both line-protocol writes do before their answers differ: the body of an authorized
/// write, gunzipped and parsed.
async fn accepted_body(
    d: Dialect,
    metrics: &Metrics,
    parts: &mut http::request::Parts,
    body: axum::body::Body,
    pairs: &[(String, String)],
    project: &str,
    precision: Precision,
) -> Result<line_protocol::Parsed, InfluxError> {
    let body = authorized_body(d, metrics, parts, body, pairs, project).await?;
    let body = decoded_body(d, &parts.headers, body)?;
    Ok(line_protocol::parse(&body, precision, now_ns()))
}

/// What every write (InfluxDB's two, Prometheus's remote write) does before it reads its body's
/// format, in InfluxDB's order: the credentials, the database named (and existing), then the
/// body read, at most `max_body_bytes` of it.
pub(crate) async fn authorized_body(
    d: Dialect,
    metrics: &Metrics,
    parts: &mut http::request::Parts,
    body: axum::body::Body,
    pairs: &[(String, String)],
    project: &str,
) -> Result<Bytes, InfluxError> {
    if project.is_empty() {
        // InfluxDB authenticates before it looks at the database
        authorize_any(d, parts, pairs).await?;
        let what = match d {
            Dialect::V1 => "database is required",
            Dialect::V2 => "bucket is required",
        };
        return Err(InfluxError::new(d, StatusCode::BAD_REQUEST, what));
    }
    authorize_write(d, parts, pairs, project).await?;
    find_project(metrics, d, project).await?;
    read_body(d, body, metrics.max_body_bytes).await
}

async fn read_body(
    dialect: Dialect,
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, InfluxError> {
    // a declared larger body was refused before this handler (413, problem+json, like every
    // route's); one that streams past the limit is refused here, in InfluxDB's words
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            InfluxError::new(
                dialect,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "http: request body too large (the limit is {limit} bytes: max_body_bytes)"
                ),
            )
        } else {
            InfluxError::new(
                dialect,
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}"),
            )
        }
    })
}

/// InfluxDB 2.x's write: line protocol into project `bucket` (or `bucket=project/rp`). A body
/// with a bad line is refused whole, as 2.x does. Credentials as for `/write`.
#[utoipa::path(
    post,
    path = "/api/v2/write",
    tag = "influxdb",
    params(
        ("bucket" = String, Query, description = "The project"),
        ("org" = Option<String>, Query, description = "Organisation (ignored)"),
        ("orgID" = Option<String>, Query, description = "Organisation id (ignored)"),
        ("precision" = Option<String>, Query, description = "ns, us, ms or s (default ns)"),
    ),
    request_body(content = String, content_type = "text/plain", description = "Line protocol"),
    security(("influxdb" = [])),
    responses(
        (status = 204, description = "Every point written, durably"),
        (status = 400, description = "A bad line (nothing written), or refused points", body = InfluxV2Error),
        (status = 401, description = "No token, or not a valid one", body = InfluxV2Error),
        (status = 403, description = "Not a deployer of the project", body = InfluxV2Error),
        (status = 404, description = "No such project", body = InfluxV2Error),
        (status = 413, description = "Body too large", body = InfluxV2Error),
        (status = 415, description = "A Content-Encoding other than gzip", body = InfluxV2Error),
        (status = 503, description = "The metrics store cannot write", body = InfluxV2Error),
    )
)]
pub async fn write_v2(
    State(metrics): State<Metrics>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, InfluxError> {
    let d = Dialect::V2;
    let pairs = pairs(query.as_deref());
    let (mut parts, body) = request.into_parts();
    let precision = Precision::parse(param(&pairs, "precision").unwrap_or("ns"))
        .map_err(|e| InfluxError::new(d, StatusCode::BAD_REQUEST, e.to_string()))?;
    // `bucket` may be `database/retention-policy`, as 1.8's 2.x-compatible API takes it
    let project = param(&pairs, "bucket")
        .map(|b| b.split_once('/').map_or(b, |(db, _)| db))
        .unwrap_or("")
        .to_owned();
    let parsed = accepted_body(d, &metrics, &mut parts, body, &pairs, &project, precision).await?;
    if !parsed.errors.is_empty() {
        let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
        return Err(InfluxError::new(
            d,
            StatusCode::BAD_REQUEST,
            errors.join("\n"),
        ));
    }
    if parsed.points.is_empty() {
        return Ok(no_content());
    }
    let written = metrics
        .write(&project, parsed.points)
        .await
        .map_err(|e| store_error(d, e))?;
    match written.reason {
        Some(reason) => Err(InfluxError::new(
            d,
            StatusCode::BAD_REQUEST,
            format!("failure writing points to database: {reason}"),
        )),
        None => Ok(no_content()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        h
    }

    #[test]
    fn tokens_are_found_where_influxdb_clients_put_them() {
        let none: Vec<(String, String)> = Vec::new();
        assert_eq!(
            credential(&headers("Bearer jeny_a"), &none).as_deref(),
            Some("jeny_a")
        );
        assert_eq!(
            credential(&headers("Token jeny_b"), &none).as_deref(),
            Some("jeny_b")
        );
        assert_eq!(
            credential(&headers("token user:jeny_c"), &none).as_deref(),
            Some("jeny_c")
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:jeny_d");
        assert_eq!(
            credential(&headers(&format!("Basic {basic}")), &none).as_deref(),
            Some("jeny_d")
        );
        let query = vec![
            ("u".to_owned(), "me".to_owned()),
            ("p".to_owned(), "jeny_e".to_owned()),
        ];
        assert_eq!(
            credential(&HeaderMap::new(), &query).as_deref(),
            Some("jeny_e")
        );
        assert_eq!(credential(&headers("Digest x"), &query), None);
        assert_eq!(credential(&HeaderMap::new(), &none), None);
    }
}
