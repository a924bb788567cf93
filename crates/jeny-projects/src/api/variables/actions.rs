//! The variable actions, for either scope.

use crate::api::ProjectsState;
use crate::{Scope, SetMode, Variable, VariableInput};
use axum::response::Response;
use http::StatusCode;
use jeny_core::{Page, Precondition, Principal};
use jeny_http::{ApiError, AppJson, MergePatch, QueryPairs, json_created, json_with_etag};

fn location(scope: Scope<'_>, key: &str) -> String {
    match scope.environment {
        None => format!("/api/v1/projects/{}/variables/{key}", scope.project),
        Some(environment) => format!(
            "/api/v1/projects/{}/environments/{environment}/variables/{key}",
            scope.project
        ),
    }
}

/// A project's variables reach every environment of it (`refused_somewhere`); an
/// environment's, only that environment, whose role the path already gave.
async fn may_write(
    principal: &Principal,
    state: &ProjectsState,
    scope: Scope<'_>,
) -> Result<(), ApiError> {
    if scope.environment.is_some() {
        return Ok(());
    }
    match crate::api::refused_somewhere(principal, state, scope.project).await? {
        Some(refused) => Err(refused.into()),
        None => Ok(()),
    }
}

pub(super) async fn list(
    state: &ProjectsState,
    scope: Scope<'_>,
    query: &QueryPairs,
) -> Result<AppJson<Page<Variable>>, ApiError> {
    query.only(&["limit", "cursor"])?;
    Ok(AppJson(
        crate::list_variables(&state.store, scope, &query.page()?).await?,
    ))
}

pub(super) async fn get(
    state: &ProjectsState,
    scope: Scope<'_>,
    key: &str,
) -> Result<Response, ApiError> {
    let variable = crate::get_variable(&state.store, scope, key).await?;
    Ok(json_with_etag(StatusCode::OK, &variable.etag(), &variable))
}

pub(super) async fn create(
    principal: &Principal,
    state: &ProjectsState,
    scope: Scope<'_>,
    input: VariableInput,
) -> Result<Response, ApiError> {
    may_write(principal, state, scope).await?;
    let key = input
        .key
        .clone()
        .ok_or_else(|| ApiError::invalid("key", "a variable needs a key"))?;
    let (variable, _) = crate::set_variable(
        &state.store,
        &state.secrets,
        principal.actor(),
        scope,
        SetMode::Create,
        Some(&key),
        &Precondition::None,
        |_| Ok::<_, ApiError>(input),
    )
    .await?;
    Ok(json_created(
        &location(scope, &variable.key),
        &variable.etag(),
        &variable,
    ))
}

pub(super) async fn put(
    principal: &Principal,
    state: &ProjectsState,
    scope: Scope<'_>,
    key: &str,
    precondition: &Precondition,
    input: VariableInput,
) -> Result<Response, ApiError> {
    may_write(principal, state, scope).await?;
    let (variable, created) = crate::set_variable(
        &state.store,
        &state.secrets,
        principal.actor(),
        scope,
        SetMode::Upsert,
        Some(key),
        precondition,
        |_| Ok::<_, ApiError>(input),
    )
    .await?;
    if created {
        Ok(json_created(
            &location(scope, &variable.key),
            &variable.etag(),
            &variable,
        ))
    } else {
        Ok(json_with_etag(StatusCode::OK, &variable.etag(), &variable))
    }
}

pub(super) async fn patch(
    principal: &Principal,
    state: &ProjectsState,
    scope: Scope<'_>,
    key: &str,
    precondition: &Precondition,
    patch: MergePatch,
) -> Result<Response, ApiError> {
    may_write(principal, state, scope).await?;
    let variable = crate::update_variable(
        &state.store,
        &state.secrets,
        principal.actor(),
        scope,
        key,
        precondition,
        |current| patch.apply(&current),
    )
    .await?;
    Ok(json_with_etag(StatusCode::OK, &variable.etag(), &variable))
}

pub(super) async fn delete(
    principal: &Principal,
    state: &ProjectsState,
    scope: Scope<'_>,
    key: &str,
    precondition: &Precondition,
) -> Result<StatusCode, ApiError> {
    may_write(principal, state, scope).await?;
    crate::delete_variable(&state.store, principal.actor(), scope, key, precondition).await?;
    Ok(StatusCode::NO_CONTENT)
}
