//! A typed client for jeny's HTTP API, used by the CLI, the agent and the tests. Every method is
//! one API call; errors come back as the server's problem document, so callers can show the
//! server's own message and field.

use jeny_api::deploys::{
    Deploy, DeployRequest, DeployStatus, EnvironmentLock, LockRequest, LockState,
};
use jeny_api::events::Event;
use jeny_api::hosts::{Host, HostInput};
use jeny_api::projects::{
    Environment, EnvironmentInput, Project, ProjectInput, Variable, VariableInput,
};
use jeny_core::Page;
use reqwest::{Method, RequestBuilder, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The server's problem+json body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Problem {
    pub status: u16,
    pub title: String,
    pub detail: String,
    pub code: String,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{} ({}): {}", .problem.title, .problem.code, .problem.detail)]
    Api { problem: Problem },
    #[error("the server answered {status} without a problem document: {body}")]
    Unexpected { status: u16, body: String },
    #[error("cannot reach the server: {0}")]
    Http(#[from] reqwest::Error),
}

impl ClientError {
    /// The HTTP status of an answered request.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { problem } => Some(problem.status),
            ClientError::Unexpected { status, .. } => Some(*status),
            ClientError::Http(error) => error.status().map(|s| s.as_u16()),
        }
    }

    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Api { problem } => Some(problem),
            _ => None,
        }
    }
}

/// A resource with the ETag it was served with.
#[derive(Debug, Clone)]
pub struct Tagged<T> {
    pub value: T,
    pub etag: String,
}

/// Where a variable lives.
#[derive(Debug, Clone, Copy)]
pub enum VariableScope<'a> {
    Project(&'a str),
    Environment(&'a str, &'a str),
}

impl VariableScope<'_> {
    fn path(&self) -> String {
        match self {
            VariableScope::Project(project) => format!("/api/v1/projects/{project}/variables"),
            VariableScope::Environment(project, environment) => {
                format!("/api/v1/projects/{project}/environments/{environment}/variables")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    token: Option<String>,
}

impl Client {
    pub fn new(base_url: impl Into<String>, token: Option<String>) -> Client {
        Client {
            http: reqwest::Client::new(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// The same server with another token (or none).
    pub fn with_token(&self, token: Option<String>) -> Client {
        Client {
            token,
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A request to `path` with this client's token, for calls without a typed method.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    // Projects.

    pub async fn list_projects(
        &self,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<Project>, ClientError> {
        self.get_page("/api/v1/projects", limit, cursor).await
    }

    pub async fn create_project(
        &self,
        input: &ProjectInput,
    ) -> Result<Tagged<Project>, ClientError> {
        tagged(
            self.request(Method::POST, "/api/v1/projects")
                .json(input)
                .send()
                .await?,
        )
        .await
    }

    pub async fn get_project(&self, project: &str) -> Result<Tagged<Project>, ClientError> {
        tagged(
            self.request(Method::GET, &format!("/api/v1/projects/{project}"))
                .send()
                .await?,
        )
        .await
    }

    pub async fn replace_project(
        &self,
        project: &str,
        input: &ProjectInput,
        if_match: Option<&str>,
    ) -> Result<Tagged<Project>, ClientError> {
        let request = self
            .request(Method::PUT, &format!("/api/v1/projects/{project}"))
            .json(input);
        tagged(with_if_match(request, if_match).send().await?).await
    }

    pub async fn patch_project(
        &self,
        project: &str,
        patch: &Value,
        if_match: Option<&str>,
    ) -> Result<Tagged<Project>, ClientError> {
        self.patch(&format!("/api/v1/projects/{project}"), patch, if_match)
            .await
    }

    pub async fn delete_project(
        &self,
        project: &str,
        if_match: Option<&str>,
    ) -> Result<(), ClientError> {
        self.delete(&format!("/api/v1/projects/{project}"), if_match)
            .await
    }

    // Environments.

    pub async fn list_environments(
        &self,
        project: &str,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<Environment>, ClientError> {
        self.get_page(
            &format!("/api/v1/projects/{project}/environments"),
            limit,
            cursor,
        )
        .await
    }

    pub async fn create_environment(
        &self,
        project: &str,
        input: &EnvironmentInput,
    ) -> Result<Tagged<Environment>, ClientError> {
        let request = self
            .request(
                Method::POST,
                &format!("/api/v1/projects/{project}/environments"),
            )
            .json(input);
        tagged(request.send().await?).await
    }

    pub async fn get_environment(
        &self,
        project: &str,
        environment: &str,
    ) -> Result<Tagged<Environment>, ClientError> {
        let path = format!("/api/v1/projects/{project}/environments/{environment}");
        tagged(self.request(Method::GET, &path).send().await?).await
    }

    pub async fn replace_environment(
        &self,
        project: &str,
        environment: &str,
        input: &EnvironmentInput,
        if_match: Option<&str>,
    ) -> Result<Tagged<Environment>, ClientError> {
        let path = format!("/api/v1/projects/{project}/environments/{environment}");
        tagged(
            with_if_match(self.request(Method::PUT, &path).json(input), if_match)
                .send()
                .await?,
        )
        .await
    }

    pub async fn patch_environment(
        &self,
        project: &str,
        environment: &str,
        patch: &Value,
        if_match: Option<&str>,
    ) -> Result<Tagged<Environment>, ClientError> {
        self.patch(
            &format!("/api/v1/projects/{project}/environments/{environment}"),
            patch,
            if_match,
        )
        .await
    }

    pub async fn delete_environment(
        &self,
        project: &str,
        environment: &str,
        if_match: Option<&str>,
    ) -> Result<(), ClientError> {
        self.delete(
            &format!("/api/v1/projects/{project}/environments/{environment}"),
            if_match,
        )
        .await
    }

    pub async fn environment_hosts(
        &self,
        project: &str,
        environment: &str,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<Host>, ClientError> {
        self.get_page(
            &format!("/api/v1/projects/{project}/environments/{environment}/hosts"),
            limit,
            cursor,
        )
        .await
    }

    // Variables.

    pub async fn list_variables(
        &self,
        scope: VariableScope<'_>,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<Variable>, ClientError> {
        self.get_page(&scope.path(), limit, cursor).await
    }

    pub async fn create_variable(
        &self,
        scope: VariableScope<'_>,
        input: &VariableInput,
    ) -> Result<Tagged<Variable>, ClientError> {
        tagged(
            self.request(Method::POST, &scope.path())
                .json(input)
                .send()
                .await?,
        )
        .await
    }

    /// Creates or replaces a variable (`PUT`).
    pub async fn put_variable(
        &self,
        scope: VariableScope<'_>,
        key: &str,
        input: &VariableInput,
        if_match: Option<&str>,
    ) -> Result<Tagged<Variable>, ClientError> {
        let request = self
            .request(Method::PUT, &format!("{}/{key}", scope.path()))
            .json(input);
        tagged(with_if_match(request, if_match).send().await?).await
    }

    pub async fn get_variable(
        &self,
        scope: VariableScope<'_>,
        key: &str,
    ) -> Result<Tagged<Variable>, ClientError> {
        tagged(
            self.request(Method::GET, &format!("{}/{key}", scope.path()))
                .send()
                .await?,
        )
        .await
    }

    pub async fn patch_variable(
        &self,
        scope: VariableScope<'_>,
        key: &str,
        patch: &Value,
        if_match: Option<&str>,
    ) -> Result<Tagged<Variable>, ClientError> {
        self.patch(&format!("{}/{key}", scope.path()), patch, if_match)
            .await
    }

    pub async fn delete_variable(
        &self,
        scope: VariableScope<'_>,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<(), ClientError> {
        self.delete(&format!("{}/{key}", scope.path()), if_match)
            .await
    }

    // Hosts.

    /// Hosts matching every `key=value` condition in `tags` (all hosts when empty).
    pub async fn list_hosts(
        &self,
        tags: &[&str],
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<Host>, ClientError> {
        let mut query: Vec<(&str, String)> =
            tags.iter().map(|tag| ("tag", tag.to_string())).collect();
        query.extend(page_query(limit, cursor));
        json(
            self.request(Method::GET, "/api/v1/hosts")
                .query(&query)
                .send()
                .await?,
        )
        .await
    }

    pub async fn create_host(&self, input: &HostInput) -> Result<Tagged<Host>, ClientError> {
        tagged(
            self.request(Method::POST, "/api/v1/hosts")
                .json(input)
                .send()
                .await?,
        )
        .await
    }

    pub async fn get_host(&self, host: &str) -> Result<Tagged<Host>, ClientError> {
        tagged(
            self.request(Method::GET, &format!("/api/v1/hosts/{host}"))
                .send()
                .await?,
        )
        .await
    }

    pub async fn replace_host(
        &self,
        host: &str,
        input: &HostInput,
        if_match: Option<&str>,
    ) -> Result<Tagged<Host>, ClientError> {
        let request = self
            .request(Method::PUT, &format!("/api/v1/hosts/{host}"))
            .json(input);
        tagged(with_if_match(request, if_match).send().await?).await
    }

    pub async fn patch_host(
        &self,
        host: &str,
        patch: &Value,
        if_match: Option<&str>,
    ) -> Result<Tagged<Host>, ClientError> {
        self.patch(&format!("/api/v1/hosts/{host}"), patch, if_match)
            .await
    }

    pub async fn delete_host(&self, host: &str, if_match: Option<&str>) -> Result<(), ClientError> {
        self.delete(&format!("/api/v1/hosts/{host}"), if_match)
            .await
    }

    // Events.

    /// Events after `after`, oldest first, optionally of one project and with a type prefix.
    pub async fn list_events(
        &self,
        after: i64,
        limit: Option<usize>,
        project: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Page<Event>, ClientError> {
        let mut query = vec![("after", after.to_string())];
        query.extend(limit.map(|limit| ("limit", limit.to_string())));
        query.extend(project.map(|project| ("project", project.to_owned())));
        query.extend(kind.map(|kind| ("type", kind.to_owned())));
        json(
            self.request(Method::GET, "/api/v1/events")
                .query(&query)
                .send()
                .await?,
        )
        .await
    }

    // Deploys.

    /// Starts a deploy of `project`/`environment`.
    pub async fn create_deploy(
        &self,
        project: &str,
        environment: &str,
        request: &DeployRequest,
    ) -> Result<Deploy, ClientError> {
        let path = format!("/api/v1/projects/{project}/environments/{environment}/deploys");
        json(
            self.request(Method::POST, &path)
                .json(request)
                .send()
                .await?,
        )
        .await
    }

    pub async fn get_deploy(&self, id: &str) -> Result<Deploy, ClientError> {
        json(
            self.request(Method::GET, &format!("/api/v1/deploys/{id}"))
                .send()
                .await?,
        )
        .await
    }

    /// Deploys newest first, filtered by project, environment and status when given.
    pub async fn list_deploys(
        &self,
        project: Option<&str>,
        environment: Option<&str>,
        status: Option<DeployStatus>,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<Deploy>, ClientError> {
        let mut query = page_query(limit, cursor);
        query.extend(project.map(|project| ("project", project.to_owned())));
        query.extend(environment.map(|environment| ("environment", environment.to_owned())));
        query.extend(status.map(|status| ("status", status.as_str().to_owned())));
        json(
            self.request(Method::GET, "/api/v1/deploys")
                .query(&query)
                .send()
                .await?,
        )
        .await
    }

    pub async fn cancel_deploy(&self, id: &str) -> Result<Deploy, ClientError> {
        json(
            self.request(Method::POST, &format!("/api/v1/deploys/{id}/cancel"))
                .send()
                .await?,
        )
        .await
    }

    pub async fn redeploy(&self, id: &str) -> Result<Deploy, ClientError> {
        json(
            self.request(Method::POST, &format!("/api/v1/deploys/{id}/redeploy"))
                .send()
                .await?,
        )
        .await
    }

    /// The deploy's output as plain text: what there is so far, or (`follow`) all of it, once the
    /// deploy has ended.
    pub async fn deploy_output(&self, id: &str, follow: bool) -> Result<String, ClientError> {
        let response = self
            .request(Method::GET, &format!("/api/v1/deploys/{id}/output"))
            .query(&[("follow", follow.to_string())])
            .send()
            .await?;
        Ok(checked(response).await?.text().await?)
    }

    /// Waits for the deploy to finish (following its output) and returns it.
    pub async fn wait_for_deploy(&self, id: &str) -> Result<Deploy, ClientError> {
        self.deploy_output(id, true).await?;
        self.get_deploy(id).await
    }

    /// The environment's lock in force, or `None` when it is not locked.
    pub async fn get_lock(
        &self,
        project: &str,
        environment: &str,
    ) -> Result<Option<EnvironmentLock>, ClientError> {
        let path = format!("/api/v1/projects/{project}/environments/{environment}/lock");
        let state: LockState = json(self.request(Method::GET, &path).send().await?).await?;
        Ok(state.into_lock())
    }

    pub async fn lock_environment(
        &self,
        project: &str,
        environment: &str,
        request: &LockRequest,
    ) -> Result<EnvironmentLock, ClientError> {
        let path = format!("/api/v1/projects/{project}/environments/{environment}/lock");
        json(
            self.request(Method::PUT, &path)
                .json(request)
                .send()
                .await?,
        )
        .await
    }

    pub async fn unlock_environment(
        &self,
        project: &str,
        environment: &str,
    ) -> Result<(), ClientError> {
        let path = format!("/api/v1/projects/{project}/environments/{environment}/lock");
        self.delete(&path, None).await
    }

    // Shared.

    async fn get_page<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<T>, ClientError> {
        json(
            self.request(Method::GET, path)
                .query(&page_query(limit, cursor))
                .send()
                .await?,
        )
        .await
    }

    async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        patch: &Value,
        if_match: Option<&str>,
    ) -> Result<Tagged<T>, ClientError> {
        let request = self
            .request(Method::PATCH, path)
            .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
            .body(patch.to_string());
        tagged(with_if_match(request, if_match).send().await?).await
    }

    async fn delete(&self, path: &str, if_match: Option<&str>) -> Result<(), ClientError> {
        let response = with_if_match(self.request(Method::DELETE, path), if_match)
            .send()
            .await?;
        checked(response).await.map(|_| ())
    }

    // Sign-in.

    /// Who this client's token belongs to.
    pub async fn me(&self) -> Result<jeny_api::auth::Me, ClientError> {
        json(self.request(Method::GET, "/api/v1/me").send().await?).await
    }

    /// Revokes one of the caller's API tokens.
    pub async fn revoke_token(&self, id: &str) -> Result<jeny_api::auth::ApiToken, ClientError> {
        json(
            self.request(Method::DELETE, &format!("/api/v1/me/tokens/{id}"))
                .send()
                .await?,
        )
        .await
    }

    /// Starts the device flow (RFC 8628) as client `client_id`, for a token named `client_name`.
    pub async fn start_device_login(
        &self,
        client_id: &str,
        client_name: &str,
    ) -> Result<jeny_api::auth::DeviceAuthorization, ClientError> {
        json(
            self.http
                .post(format!("{}/auth/device/code", self.base_url))
                .form(&[("client_id", client_id), ("client_name", client_name)])
                .send()
                .await?,
        )
        .await
    }

    /// Polls the device flow once.
    pub async fn poll_device_login(
        &self,
        client_id: &str,
        device_code: &str,
    ) -> Result<DevicePoll, ClientError> {
        let response = self
            .http
            .post(format!("{}/auth/device/token", self.base_url))
            .form(&[
                ("grant_type", jeny_api::auth::DEVICE_GRANT_TYPE),
                ("device_code", device_code),
                ("client_id", client_id),
            ])
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        let answer: Value = serde_json::from_str(&body).map_err(|_| ClientError::Unexpected {
            status,
            body: body.clone(),
        })?;
        if let Some(token) = answer.get("access_token").and_then(Value::as_str) {
            return Ok(DevicePoll::Token(token.to_owned()));
        }
        let description = answer
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(match answer.get("error").and_then(Value::as_str) {
            Some("authorization_pending") => DevicePoll::Pending,
            Some("slow_down") => DevicePoll::SlowDown,
            Some("access_denied") => DevicePoll::Denied,
            Some("expired_token") => DevicePoll::Expired,
            _ => DevicePoll::Refused(if description.is_empty() {
                body
            } else {
                description
            }),
        })
    }
}

fn page_query(limit: Option<usize>, cursor: Option<&str>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    query.extend(limit.map(|limit| ("limit", limit.to_string())));
    query.extend(cursor.map(|cursor| ("cursor", cursor.to_owned())));
    query
}

fn with_if_match(request: RequestBuilder, if_match: Option<&str>) -> RequestBuilder {
    match if_match {
        Some(etag) => request.header(http::header::IF_MATCH, etag),
        None => request,
    }
}

/// One poll's outcome in the device flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// Approved: the new API token.
    Token(String),
    /// Not yet approved: poll again after the interval.
    Pending,
    /// Polling too fast: add 5 seconds to the interval.
    SlowDown,
    /// The person denied it.
    Denied,
    /// The device code expired.
    Expired,
    /// Refused for another reason (unknown or used code), with the server's words.
    Refused(String),
}

/// The response when it succeeded; its problem otherwise.
async fn checked(response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await?;
    match serde_json::from_str::<Problem>(&body) {
        Ok(problem) => Err(ClientError::Api { problem }),
        Err(_) => Err(ClientError::Unexpected {
            status: status.as_u16(),
            body,
        }),
    }
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, ClientError> {
    let response = checked(response).await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    serde_json::from_str(&body).map_err(|error| ClientError::Unexpected {
        status,
        body: format!("{error}: {body}"),
    })
}

async fn tagged<T: DeserializeOwned>(response: Response) -> Result<Tagged<T>, ClientError> {
    let etag = response
        .headers()
        .get(http::header::ETAG)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok(Tagged {
        value: json(response).await?,
        etag,
    })
}
