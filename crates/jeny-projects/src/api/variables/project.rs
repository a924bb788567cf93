//! A project's own variables: `/api/v1/projects/{project}/variables`.

super::variable_routes! {
    base = "/api/v1/projects/{project}/variables",
    item = "/api/v1/projects/{project}/variables/{key}",
    params = [("project" = String, Path, description = "The project's name")],
    docs = [
        [" Lists a project's variables by key. Secret values are never shown."],
        [" Creates a variable in a project; 409 if the key exists. Needs the deployer role."],
        [" One variable in a project, with its ETag."],
        [
            " Creates or replaces a variable in a project (201 when created). For a secret, leaving `value` out",
            " keeps the current value. Needs the deployer role."
        ],
        [" Changes a variable in a project with a JSON merge patch (RFC 7386). Needs the deployer role."],
        [" Deletes a variable in a project. Needs the deployer role."],
    ],
    scope_path = (project, String),
    item_path = ((project, key), (String, String)),
    scope = Scope { project: &project, environment: None },
    key = key,
    names = [
        list_project_variables,
        create_project_variable,
        get_project_variable,
        put_project_variable,
        patch_project_variable,
        delete_project_variable,
    ],
}
