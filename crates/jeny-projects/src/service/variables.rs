//! Variables of a project or of one of its environments. Secret values are sealed with the
//! server's key, bound to the variable's id, before they reach the store, and never leave it
//! through here: what callers get back shows only whether a secret is set.

use crate::ProjectError;
use crate::model::{Variable, VariableInput};
use crate::store::variables::{self as store, RowScope, StoredValue};
use crate::store::{environments, projects, taken};
use jeny_core::{Page, PageRequest, Precondition, Secret, SecretBox};
use jeny_events::NewEvent;
use jeny_store::{Store, WriteTx};
use serde_json::json;

/// Where variables live, by name: a project, or one of its environments.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub project: &'a str,
    pub environment: Option<&'a str>,
}

/// A scope resolved to ids.
#[derive(Debug, Clone)]
pub struct ScopeRef {
    project_id: String,
    environment_id: Option<String>,
}

impl ScopeRef {
    fn rows(&self) -> RowScope<'_> {
        RowScope {
            project_id: &self.project_id,
            environment_id: self.environment_id.as_deref(),
        }
    }
}

/// How `set_variable` treats an existing or missing variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    /// `POST`: the variable must not exist.
    Create,
    /// `PUT`: create or replace.
    Upsert,
    /// `PATCH`: the variable must exist.
    Update,
}

async fn resolve(store: &Store, scope: Scope<'_>) -> Result<ScopeRef, ProjectError> {
    match scope.environment {
        None => {
            let project = crate::get_project(store, scope.project).await?;
            Ok(ScopeRef {
                project_id: project.id,
                environment_id: None,
            })
        }
        Some(environment) => {
            let environment = crate::get_environment(store, scope.project, environment).await?;
            Ok(ScopeRef {
                project_id: environment.project_id,
                environment_id: Some(environment.id),
            })
        }
    }
}

/// Resolves and locks the scope's project (and environment) for the transaction, so the
/// variable cannot be written into something being deleted.
async fn resolve_for_update(tx: &mut WriteTx, scope: Scope<'_>) -> Result<ScopeRef, ProjectError> {
    let project = projects::get_for_update(tx, scope.project)
        .await?
        .ok_or_else(|| ProjectError::ProjectNotFound(scope.project.to_owned()))?;
    let environment_id = match scope.environment {
        None => None,
        Some(name) => Some(
            environments::get_for_update(tx, &project.id, name)
                .await?
                .ok_or_else(|| ProjectError::EnvironmentNotFound {
                    project: scope.project.to_owned(),
                    environment: name.to_owned(),
                })?
                .id,
        ),
    };
    Ok(ScopeRef {
        project_id: project.id,
        environment_id,
    })
}

pub async fn list_variables(
    store: &Store,
    scope: Scope<'_>,
    page: &PageRequest,
) -> Result<Page<Variable>, ProjectError> {
    let resolved = resolve(store, scope).await?;
    let rows = store::list(store, resolved.rows(), page).await?;
    Ok(Page::from_rows(rows, page.limit, |variable| {
        variable.key.clone()
    }))
}

pub async fn get_variable(
    store: &Store,
    scope: Scope<'_>,
    key: &str,
) -> Result<Variable, ProjectError> {
    let resolved = resolve(store, scope).await?;
    store::get(store, resolved.rows(), key)
        .await?
        .ok_or_else(|| ProjectError::VariableNotFound {
            key: key.to_owned(),
        })
}

/// Creates or changes a variable. `key_in_url` is the key of `PUT`/`PATCH .../variables/{key}`
/// (`None` for `POST`); `change` gets the current writable fields (`None` when the variable
/// does not exist yet) and returns the new ones. Returns the variable and whether it was created.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is a distinct part of the request"
)]
pub async fn set_variable<E: From<ProjectError>>(
    store: &Store,
    secrets: &SecretBox,
    actor: &str,
    scope: Scope<'_>,
    mode: SetMode,
    key_in_url: Option<&str>,
    precondition: &Precondition,
    change: impl FnOnce(Option<VariableInput>) -> Result<VariableInput, E>,
) -> Result<(Variable, bool), E> {
    let mut tx = store.begin().await.map_err(ProjectError::from)?;
    let resolved = resolve_for_update(&mut tx, scope).await?;
    let current = match key_in_url {
        Some(key) => store::get_for_update(&mut tx, resolved.rows(), key)
            .await
            .map_err(ProjectError::from)?,
        None => None,
    };
    match (&current, mode) {
        (None, SetMode::Update) => {
            return Err(ProjectError::VariableNotFound {
                key: key_in_url.unwrap_or_default().to_owned(),
            }
            .into());
        }
        (Some(existing), SetMode::Create) => {
            return Err(ProjectError::Taken {
                what: "variable",
                name: existing.key.clone(),
            }
            .into());
        }
        _ => {}
    }
    // If-Match names a current representation; with none (the variable does not exist yet),
    // even `If-Match: *` fails (RFC 9110, 13.1.1).
    let precondition_holds = match &current {
        Some(existing) => precondition.allows(&existing.etag()),
        None => precondition.is_none(),
    };
    if !precondition_holds {
        return Err(ProjectError::Changed {
            what: "variable",
            current_etag: current
                .as_ref()
                .map(Variable::etag)
                .unwrap_or_else(|| "nothing: the variable does not exist".to_owned()),
        }
        .into());
    }
    let wanted = change(current.as_ref().map(Variable::to_input))?
        .validate(key_in_url)
        .map_err(ProjectError::from)?;
    let key = wanted.key.as_str().to_owned();
    // Left out, `secret` keeps what the variable is: a secret never turns plain by omission.
    let secret = wanted
        .secret
        .unwrap_or(current.as_ref().is_some_and(|existing| existing.secret));
    let (saved, created) = match &current {
        None => {
            if !secret && wanted.value.is_none() {
                return Err(ProjectError::invalid(
                    "value",
                    "a variable that is not secret needs a value",
                )
                .into());
            }
            let value = wanted.value.clone();
            let inserted =
                store::insert(&mut tx, resolved.rows(), &key, secret, |id| match value {
                    Some(value) if secret => {
                        StoredValue::Sealed(secrets.seal(value.as_bytes(), &context(id)))
                    }
                    Some(value) => StoredValue::Plain(value),
                    None => StoredValue::Unset,
                })
                .await
                .map_err(|error| taken(error, "variable", &key))?;
            (inserted, true)
        }
        Some(existing) => {
            let stored = match wanted.value.clone() {
                Some(value) if secret => {
                    StoredValue::Sealed(secrets.seal(value.as_bytes(), &context(&existing.id)))
                }
                Some(value) => StoredValue::Plain(value),
                None => keep_stored(&mut tx, secrets, existing, secret).await?,
            };
            (
                store::replace(&mut tx, existing, secret, stored)
                    .await
                    .map_err(ProjectError::from)?,
                false,
            )
        }
    };
    let kind = if created {
        "variable.created"
    } else {
        "variable.updated"
    };
    let event = event(kind, actor, scope, &saved);
    jeny_events::append(&mut tx, event)
        .await
        .map_err(ProjectError::from)?;
    tx.commit().await.map_err(ProjectError::from)?;
    Ok((saved, created))
}

/// An update that gives no value keeps the stored one, sealing a plain value that becomes secret.
async fn keep_stored(
    tx: &mut WriteTx,
    secrets: &SecretBox,
    existing: &Variable,
    secret: bool,
) -> Result<StoredValue, ProjectError> {
    let stored = store::stored_value(tx, &existing.id).await?;
    match (stored, secret) {
        (StoredValue::Plain(value), true) => Ok(StoredValue::Sealed(
            secrets.seal(value.as_bytes(), &context(&existing.id)),
        )),
        (StoredValue::Sealed(_), false) => Err(ProjectError::invalid(
            "value",
            "give the value to turn a secret into a plain variable: a secret's value cannot be read back",
        )),
        (StoredValue::Unset, false) => Err(ProjectError::invalid(
            "value",
            "a variable that is not secret needs a value",
        )),
        (stored, _) => Ok(stored),
    }
}

pub async fn update_variable<E: From<ProjectError>>(
    store: &Store,
    secrets: &SecretBox,
    actor: &str,
    scope: Scope<'_>,
    key: &str,
    precondition: &Precondition,
    change: impl FnOnce(VariableInput) -> Result<VariableInput, E>,
) -> Result<Variable, E> {
    let (variable, _) = set_variable(
        store,
        secrets,
        actor,
        scope,
        SetMode::Update,
        Some(key),
        precondition,
        |current| {
            change(current.expect("SetMode::Update only calls change for an existing variable"))
        },
    )
    .await?;
    Ok(variable)
}

pub async fn delete_variable(
    store: &Store,
    actor: &str,
    scope: Scope<'_>,
    key: &str,
    precondition: &Precondition,
) -> Result<(), ProjectError> {
    let mut tx = store.begin().await?;
    let resolved = resolve_for_update(&mut tx, scope).await?;
    let current = store::get_for_update(&mut tx, resolved.rows(), key)
        .await?
        .ok_or_else(|| ProjectError::VariableNotFound {
            key: key.to_owned(),
        })?;
    if !precondition.allows(&current.etag()) {
        return Err(ProjectError::Changed {
            what: "variable",
            current_etag: current.etag(),
        });
    }
    store::delete(&mut tx, &current.id).await?;
    jeny_events::append(&mut tx, event("variable.deleted", actor, scope, &current)).await?;
    tx.commit().await?;
    Ok(())
}

/// A variable as a deploy receives it, with what identifies the exact value it had (its id and
/// version), so a deploy can record which variables it ran with without recording secrets.
#[derive(Debug, Clone)]
pub struct ResolvedVariable {
    pub key: String,
    pub value: Secret<String>,
    pub secret: bool,
    /// Whether the environment's variable won over (or stood without) a project one.
    pub from_environment: bool,
    pub variable_id: String,
    pub version: i64,
}

/// The variables a deploy to `environment` runs with: the project's, then the environment's,
/// the environment winning on the same key; secrets opened. A secret declared without a value
/// is left out, and one declared in the environment also hides the project's variable of that
/// key (the environment said it wants its own value). Sorted by key.
pub async fn resolve_variables(
    store: &Store,
    secrets: &SecretBox,
    project: &str,
    environment: &str,
) -> Result<Vec<ResolvedVariable>, ProjectError> {
    let environment = crate::get_environment(store, project, environment).await?;
    let stored =
        store::project_and_environment(store, &environment.project_id, &environment.id).await?;
    let mut resolved: std::collections::BTreeMap<String, ResolvedVariable> =
        std::collections::BTreeMap::new();
    // Project variables first, so that an environment's variable of the same key replaces them.
    let (from_environment, from_project): (Vec<_>, Vec<_>) =
        stored.into_iter().partition(|v| v.from_environment);
    for variable in from_project.into_iter().chain(from_environment) {
        let value = match variable.stored {
            StoredValue::Plain(value) => Secret::new(value),
            StoredValue::Sealed(sealed) => {
                let opened = secrets.open(&sealed, &context(&variable.id)).map_err(|_| {
                    ProjectError::SecretUnreadable {
                        key: variable.key.clone(),
                    }
                })?;
                Secret::new(String::from_utf8_lossy(opened.expose()).into_owned())
            }
            StoredValue::Unset => {
                resolved.remove(&variable.key);
                continue;
            }
        };
        resolved.insert(
            variable.key.clone(),
            ResolvedVariable {
                key: variable.key,
                value,
                secret: variable.secret,
                from_environment: variable.from_environment,
                variable_id: variable.id,
                version: variable.version,
            },
        );
    }
    Ok(resolved.into_values().collect())
}

/// The associated data a secret is sealed with: its variable's id, so a sealed value moved to
/// another row does not open.
fn context(variable_id: &str) -> String {
    format!("variable:{variable_id}")
}

/// The event for a variable change. A secret's value is never in it.
fn event(kind: &str, actor: &str, scope: Scope<'_>, variable: &Variable) -> NewEvent {
    let mut payload = json!({
        "key": variable.key,
        "secret": variable.secret,
        "scope": if scope.environment.is_some() { "environment" } else { "project" },
    });
    if let Some(value) = variable.value.as_ref().filter(|_| !variable.secret) {
        payload["value"] = json!(value);
    }
    let event = NewEvent::new(kind, actor, payload).in_project(scope.project);
    match scope.environment {
        Some(environment) => event.in_environment(environment),
        None => event,
    }
}
