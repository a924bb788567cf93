//! What the deploys part's integration tests share: a project with an environment, and a deploy
//! queued in it, made through the real service functions.

use jeny_deploys::{DeployRequest, Links};
use jeny_store::Store;

pub fn links() -> Links {
    Links {
        base: "http://jeny.test".to_owned(),
    }
}

/// Creates the project and the environment described (as the API's JSON bodies would), then
/// queues a deploy of it; returns the deploy's id.
pub async fn queued_deploy(
    store: &Store,
    project: serde_json::Value,
    environment: serde_json::Value,
) -> String {
    let project: jeny_projects::ProjectInput = serde_json::from_value(project).unwrap();
    let project = jeny_projects::create_project(store, "admin@example.com", project)
        .await
        .unwrap();
    let environment: jeny_projects::EnvironmentInput = serde_json::from_value(environment).unwrap();
    let environment =
        jeny_projects::create_environment(store, "admin@example.com", &project.name, environment)
            .await
            .unwrap();
    jeny_deploys::create_deploy(
        store,
        &links(),
        "deployer@example.com",
        &project.name,
        &environment.name,
        DeployRequest::default(),
    )
    .await
    .unwrap()
    .id
}
