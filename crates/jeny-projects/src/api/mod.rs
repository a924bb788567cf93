//! The projects routes: projects, their environments, the hosts an environment targets, and the
//! variables of both.

mod environments;
mod projects;
mod variables;

use axum::Router;
use axum::routing::get;
use jeny_core::SecretBox;
use jeny_store::Store;

#[derive(Clone)]
pub struct ProjectsState {
    pub store: Store,
    pub secrets: SecretBox,
    /// The git transports a project's repository may use.
    pub repository_schemes: crate::RepositorySchemes,
}

/// Why `principal` may not change what every environment of `project` runs, if it may not: a
/// project's command, repository and variables reach all of its environments, so they need the
/// deployer role on each (a deployer of the project with only viewer rights on `production` may
/// not change what production runs through the project). An environment's own settings and
/// variables need that environment's role, which its path gives `AsDeployer`.
pub(crate) async fn refused_somewhere(
    principal: &jeny_core::Principal,
    state: &ProjectsState,
    project: &str,
) -> Result<Option<jeny_core::Forbidden>, jeny_http::ApiError> {
    use jeny_core::{PageRequest, Role};
    if principal.role_in(project, None) == Role::Admin {
        return Ok(None);
    }
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let environments = crate::list_environments(&state.store, project, &page).await?;
        for environment in &environments.items {
            if let Err(refused) =
                principal.require_in(project, Some(&environment.name), Role::Deployer)
            {
                return Ok(Some(refused));
            }
        }
        match environments.next_cursor {
            Some(cursor) => page.after = jeny_core::page::decode_cursor(&cursor),
            None => return Ok(None),
        }
    }
}

pub fn routes(state: ProjectsState) -> Router {
    use environments as env;
    use variables as var;
    Router::new()
        .route(
            "/api/v1/projects",
            get(projects::list::list_projects).post(projects::create::create_project),
        )
        .route(
            "/api/v1/projects/{project}",
            get(projects::get::get_project)
                .put(projects::update::replace_project)
                .patch(projects::update::patch_project)
                .delete(projects::delete::delete_project),
        )
        .route(
            "/api/v1/projects/{project}/environments",
            get(env::list::list_environments).post(env::create::create_environment),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}",
            get(env::get::get_environment)
                .put(env::update::replace_environment)
                .patch(env::update::patch_environment)
                .delete(env::delete::delete_environment),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/hosts",
            get(env::hosts::environment_hosts),
        )
        .route(
            "/api/v1/projects/{project}/variables",
            get(var::project::list_project_variables).post(var::project::create_project_variable),
        )
        .route(
            "/api/v1/projects/{project}/variables/{key}",
            get(var::project::get_project_variable)
                .put(var::project::put_project_variable)
                .patch(var::project::patch_project_variable)
                .delete(var::project::delete_project_variable),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/variables",
            get(var::environment::list_environment_variables)
                .post(var::environment::create_environment_variable),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/variables/{key}",
            get(var::environment::get_environment_variable)
                .put(var::environment::put_environment_variable)
                .patch(var::environment::patch_environment_variable)
                .delete(var::environment::delete_environment_variable),
        )
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        projects::list::list_projects,
        projects::create::create_project,
        projects::get::get_project,
        projects::update::replace_project,
        projects::update::patch_project,
        projects::delete::delete_project,
        environments::list::list_environments,
        environments::create::create_environment,
        environments::get::get_environment,
        environments::update::replace_environment,
        environments::update::patch_environment,
        environments::delete::delete_environment,
        environments::hosts::environment_hosts,
        variables::project::list_project_variables,
        variables::project::create_project_variable,
        variables::project::get_project_variable,
        variables::project::put_project_variable,
        variables::project::patch_project_variable,
        variables::project::delete_project_variable,
        variables::environment::list_environment_variables,
        variables::environment::create_environment_variable,
        variables::environment::get_environment_variable,
        variables::environment::put_environment_variable,
        variables::environment::patch_environment_variable,
        variables::environment::delete_environment_variable,
    ),
    components(schemas(
        crate::Project,
        crate::ProjectInput,
        crate::Environment,
        crate::EnvironmentInput,
        crate::QueuePolicy,
        crate::Variable,
        crate::VariableInput,
    ))
)]
pub struct ProjectsApi;
