//! An environment's variables, which win over the project's:
//! `/api/v1/projects/{project}/environments/{environment}/variables`.

super::variable_routes! {
    base = "/api/v1/projects/{project}/environments/{environment}/variables",
    item = "/api/v1/projects/{project}/environments/{environment}/variables/{key}",
    params = [("project" = String, Path, description = "The project's name"), ("environment" = String, Path, description = "The environment's name")],
    docs = [
        [" Lists an environment's variables by key. Secret values are never shown."],
        [" Creates a variable in an environment; 409 if the key exists. Needs the deployer role."],
        [" One variable in an environment, with its ETag."],
        [
            " Creates or replaces a variable in an environment (201 when created). For a secret, leaving `value` out",
            " keeps the current value. Needs the deployer role."
        ],
        [" Changes a variable in an environment with a JSON merge patch (RFC 7386). Needs the deployer role."],
        [" Deletes a variable in an environment. Needs the deployer role."],
    ],
    scope_path = ((project, environment), (String, String)),
    item_path = ((project, environment, key), (String, String, String)),
    scope = Scope { project: &project, environment: Some(&environment) },
    key = key,
    names = [
        list_environment_variables,
        create_environment_variable,
        get_environment_variable,
        put_environment_variable,
        patch_environment_variable,
        delete_environment_variable,
    ],
}
