//! The command-line client end to end: the real `jeny` binary run as a child process against a
//! real jeny server on loopback (started in this process), as a person or a CI job would run it.

use jeny_testkit::{Backend, FaultProxy, TestApp, VariableScope, both_backends};
use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

both_backends!(
    deploy_exits_with_the_outcome_of_the_deploy,
    lists_print_tables_json_and_ids,
);

const JENY: &str = env!("CARGO_BIN_EXE_jeny");

/// The `jeny` binary set up to talk to `server` with `token`, and nothing else of this process's
/// client settings.
fn jeny_at(server: &str, token: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(JENY);
    command
        .env("JENY_SERVER", server)
        .env("JENY_TOKEN", token)
        .env_remove("JENY_PROJECT")
        .env_remove("JENY_ENVIRONMENT")
        .env("HOME", "/nonexistent");
    command
}

/// `jeny ARGS` against `app` with an admin token, stdin from `input`.
async fn jeny(app: &TestApp, token: &str, args: &[&str], input: Option<&str>) -> Output {
    let mut command = jeny_at(&app.url, token);
    command
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("cannot run jeny");
    if let Some(input) = input {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("jeny did not finish within a minute")
        .unwrap()
}

/// The command exited with `code`; its stderr says why when it did not.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", text(&output.stderr));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An app with project `app` (command given) and host-less environment `production`.
async fn app_with(backend: Backend, command: &str) -> (TestApp, String) {
    let app = TestApp::spawn(backend).await;
    let token = app
        .token_for("cli@example.com", jeny_core::Role::Admin)
        .await;
    let admin = app.with_admin().await;
    admin
        .request(reqwest::Method::POST, "/api/v1/projects")
        .json(&serde_json::json!({"name": "app", "deploy_command": command}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    admin
        .request(reqwest::Method::POST, "/api/v1/projects/app/environments")
        .json(&serde_json::json!({"name": "production", "deploy_timeout_secs": 2, "deploy_grace_secs": 1}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    (app, token)
}

/// `app_with` on SQLite, with a timeout long enough for a command that is stopped on purpose.
async fn long_running_app(command: &str) -> (TestApp, String) {
    let (app, token) = app_with(Backend::Sqlite, command).await;
    app.with_admin()
        .await
        .patch_environment(
            "app",
            "production",
            &serde_json::json!({"deploy_timeout_secs": 120}),
            None,
        )
        .await
        .unwrap();
    (app, token)
}

async fn set_command(app: &TestApp, command: &str) {
    app.with_admin()
        .await
        .patch_project("app", &serde_json::json!({"deploy_command": command}), None)
        .await
        .unwrap();
}

async fn deploy_exits_with_the_outcome_of_the_deploy(backend: Backend) {
    let (app, token) = app_with(
        backend,
        "echo out; printf '\\033[32mgreen\\033[0m\\n'; echo err >&2",
    )
    .await;
    let ok = jeny(&app, &token, &["deploy", "app", "production"], None).await;
    assert_exit(&ok, 0);
    // The command's stdout on stdout, colours removed without a terminal; stderr and jeny's
    // lines on stderr.
    assert_eq!(text(&ok.stdout), "out\ngreen\n");
    assert!(text(&ok.stderr).contains("err\n"));
    assert!(text(&ok.stderr).contains("[jeny] deploy succeeded"));

    set_command(&app, "exit 7").await;
    let failed = jeny(&app, &token, &["deploy", "app", "production"], None).await;
    assert_eq!(failed.status.code(), Some(7), "the command's own code");

    set_command(&app, "sleep 30").await;
    let timed_out = jeny(&app, &token, &["deploy", "app", "production"], None).await;
    assert_exit(&timed_out, 241);

    // A repository that does not exist: git fails, the deploy errors.
    app.with_admin()
        .await
        .patch_project(
            "app",
            &serde_json::json!({"repository": "/nonexistent/repository.git", "deploy_command": "true"}),
            None,
        )
        .await
        .unwrap();
    let errored = jeny(&app, &token, &["deploy", "app", "production"], None).await;
    assert_exit(&errored, 242);
    assert!(
        text(&errored.stderr).contains("git"),
        "{}",
        text(&errored.stderr)
    );

    // Refused by the server: its message, and 252.
    let refused = jeny(&app, &token, &["deploy", "app", "staging"], None).await;
    assert_exit(&refused, 252);
    assert!(
        text(&refused.stderr).contains("no environment named"),
        "{}",
        text(&refused.stderr)
    );
}

async fn lists_print_tables_json_and_ids(backend: Backend) {
    let (app, token) = app_with(backend, "true").await;
    let admin = app.with_admin().await;
    admin
        .request(reqwest::Method::POST, "/api/v1/hosts")
        .json(&serde_json::json!({"name": "web-1", "address": "10.0.0.1", "tags": {"role": "web"}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let table = jeny(&app, &token, &["projects"], None).await;
    assert_exit(&table, 0);
    let table = text(&table.stdout);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("app "), "{table}");

    let json = jeny(&app, &token, &["projects", "--json"], None).await;
    let projects: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(projects[0]["name"], "app");
    assert_eq!(projects[0]["deploy_command"], "true");

    let quiet = jeny(&app, &token, &["envs", "app", "--quiet"], None).await;
    assert_eq!(text(&quiet.stdout), "production\n");
    let hosts = jeny(
        &app,
        &token,
        &["hosts", "--tag", "role=web", "--json"],
        None,
    )
    .await;
    let hosts: Value = serde_json::from_slice(&hosts.stdout).unwrap();
    assert_eq!(hosts[0]["address"], "10.0.0.1");
    let none = jeny(
        &app,
        &token,
        &["hosts", "--tag", "role=db", "--quiet"],
        None,
    )
    .await;
    assert_eq!(text(&none.stdout), "");

    // --detach prints the id and URL at once; deploys lists it; deploy-log --follow attaches.
    let detached = jeny(
        &app,
        &token,
        &["deploy", "app", "production", "--detach"],
        None,
    )
    .await;
    assert_exit(&detached, 0);
    let line = text(&detached.stdout);
    let (id, url) = line.trim().split_once('\t').unwrap();
    assert_eq!(url, format!("{}/p/app/deploys/{id}", app.url));
    let attached = jeny(&app, &token, &["deploy-log", id, "--follow"], None).await;
    assert_exit(&attached, 0);
    let deploys = jeny(
        &app,
        &token,
        &["deploys", "app", "production", "--json"],
        None,
    )
    .await;
    let deploys: Value = serde_json::from_slice(&deploys.stdout).unwrap();
    assert_eq!(deploys[0]["id"], id);
    assert_eq!(deploys[0]["status"], "succeeded");
    let ids = jeny(&app, &token, &["deploys", "app", "--quiet"], None).await;
    assert_eq!(text(&ids.stdout), format!("{id}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_detaches_or_cancels_as_asked() {
    let (app, token) = long_running_app("echo started; sleep 30").await;
    // Without a terminal: detach by default, or what --on-interrupt says; `ask` reads the answer
    // from stdin as it would from a terminal.
    let cases: [(&[&str], Option<&str>, i32); 4] = [
        (&[], None, 244),
        (&["--on-interrupt", "cancel"], None, 240),
        (&["--on-interrupt", "ask"], Some("c\n"), 240),
        (&["--on-interrupt", "ask"], Some("d\n"), 244),
    ];
    for (flags, answer, expected) in cases {
        let mut child = jeny_at(&app.url, &token)
            .args(["deploy", "app", "production"])
            .args(flags)
            .stdin(if answer.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(answer) = answer {
            use tokio::io::AsyncWriteExt;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(answer.as_bytes()).await.unwrap();
        }
        // Wait until the command runs, then SIGINT the CLI.
        let deadline = Instant::now() + Duration::from_secs(30);
        let id = loop {
            let running = app
                .with_admin()
                .await
                .list_deploys(
                    Some("app"),
                    None,
                    Some(jeny_deploys::DeployStatus::Running),
                    None,
                    None,
                )
                .await
                .unwrap();
            if let Some(deploy) = running.items.first() {
                let output = app
                    .with_admin()
                    .await
                    .deploy_output(&deploy.id, false)
                    .await
                    .unwrap();
                if output.contains("started") {
                    break deploy.id.clone();
                }
            }
            assert!(Instant::now() < deadline, "the deploy never started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pid = child.id().unwrap().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_exit(&output, expected);
        let deploy = app.with_admin().await.get_deploy(&id).await.unwrap();
        if expected == 244 {
            assert!(text(&output.stderr).contains("detached"));
            assert_eq!(
                deploy.status,
                jeny_deploys::DeployStatus::Running,
                "detaching leaves it running"
            );
            app.with_admin().await.cancel_deploy(&id).await.unwrap();
            app.with_admin().await.wait_for_deploy(&id).await.unwrap();
        } else {
            assert_eq!(deploy.status, jeny_deploys::DeployStatus::Cancelled);
            assert_eq!(deploy.cancelled_by.as_deref(), Some("cli@example.com"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_is_resumed_without_gap_or_repeat() {
    let (app, token) = long_running_app(
        "i=1; while [ $i -le 60 ]; do echo \"tick $i\"; i=$((i+1)); sleep 0.05; done",
    )
    .await;
    let proxy = FaultProxy::start(app.address).await;
    let child = jeny_at(&format!("http://{}", proxy.address), &token)
        .args(["deploy", "app", "production"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Cut every connection twice while the output flows.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.restore();
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_exit(&output, 0);
    assert!(
        text(&output.stderr).contains("reconnecting"),
        "{}",
        text(&output.stderr)
    );
    let ticks: Vec<u32> = text(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("tick "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(ticks, (1..=60).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_vars_cancel_and_connection_errors() {
    let (app, token) = app_with(Backend::Sqlite, "sleep 30").await;
    let locked = jeny(
        &app,
        &token,
        &[
            "lock",
            "app",
            "production",
            "--reason",
            "freeze",
            "--for",
            "2h",
        ],
        None,
    )
    .await;
    assert_exit(&locked, 0);
    let refused = jeny(&app, &token, &["deploy", "app", "production"], None).await;
    assert_exit(&refused, 252);
    assert!(
        text(&refused.stderr).contains("freeze"),
        "{}",
        text(&refused.stderr)
    );
    let unlocked = jeny(&app, &token, &["unlock", "app", "production"], None).await;
    assert_exit(&unlocked, 0);

    // A secret comes from stdin, never from the command line; it is never shown.
    let set = jeny(
        &app,
        &token,
        &["vars", "app", "production", "--secret", "DB_PASSWORD"],
        Some("hunter22\n"),
    )
    .await;
    assert_exit(&set, 0);
    let plain = jeny(
        &app,
        &token,
        &["vars", "app", "--set", "LOG_LEVEL=debug"],
        None,
    )
    .await;
    assert_exit(&plain, 0);
    let listed = jeny(&app, &token, &["vars", "app", "production", "--json"], None).await;
    let variables: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(variables[0]["key"], "DB_PASSWORD");
    assert_eq!(variables[0]["secret"], true);
    assert!(!text(&listed.stdout).contains("hunter22"));
    // The value arrived without its newline: a deploy sees exactly it (masked in output).
    set_command(&app, "test \"$DB_PASSWORD\" = hunter22 && echo same").await;
    let check = jeny(&app, &token, &["deploy", "app", "production"], None).await;
    assert_exit(&check, 0);
    assert_eq!(text(&check.stdout), "same\n");
    let unset = jeny(
        &app,
        &token,
        &["vars", "app", "--unset", "LOG_LEVEL", "--quiet"],
        None,
    )
    .await;
    assert_exit(&unset, 0);
    let project_vars = app
        .with_admin()
        .await
        .list_variables(VariableScope::Project("app"), None, None)
        .await
        .unwrap();
    assert!(project_vars.items.is_empty());

    // cancel
    set_command(&app, "sleep 30").await;
    let detached = jeny(
        &app,
        &token,
        &["deploy", "app", "production", "--detach"],
        None,
    )
    .await;
    let id = text(&detached.stdout)
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let cancelled = jeny(&app, &token, &["cancel", &id], None).await;
    assert_exit(&cancelled, 0);
    let followed = jeny(&app, &token, &["deploy-log", &id, "--follow"], None).await;
    assert_exit(&followed, 240);

    // Not signed in, and a server that is not there.
    let unsigned = tokio::process::Command::new(JENY)
        .args(["projects"])
        .env_remove("JENY_SERVER")
        .env_remove("JENY_TOKEN")
        .env("HOME", "/nonexistent")
        .output()
        .await
        .unwrap();
    assert_exit(&unsigned, 250);
    assert!(text(&unsigned.stderr).contains("not signed in"));
    let unreachable = tokio::process::Command::new(JENY)
        .args(["projects", "--server", "http://127.0.0.1:9", "--token", "x"])
        .output()
        .await
        .unwrap();
    assert_exit(&unreachable, 251);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_script_is_read_by_real_ansible() {
    let (app, token) = app_with(Backend::Sqlite, "true").await;
    let admin = app.with_admin().await;
    admin
        .patch_environment(
            "app",
            "production",
            &serde_json::json!({"host_selector": {"role": "web"}}),
            None,
        )
        .await
        .unwrap();
    for (name, role, az) in [
        ("web-1", "web", "a"),
        ("web-2", "web", "b"),
        ("db-1", "db", "a"),
    ] {
        admin
            .request(reqwest::Method::POST, "/api/v1/hosts")
            .json(&serde_json::json!({
                "name": name,
                "address": "127.0.0.1",
                "tags": {"role": role, "az": az, "ansible_connection": "local"},
            }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
    // The documented way: a link named jeny-inventory is an inventory script.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("jeny-inventory");
    std::os::unix::fs::symlink(JENY, &script).unwrap();
    let environment = [
        ("JENY_SERVER", app.url.clone()),
        ("JENY_TOKEN", token.clone()),
        ("JENY_PROJECT", "app".to_owned()),
        ("JENY_ENVIRONMENT", "production".to_owned()),
    ];
    let listed = tokio::process::Command::new("ansible-inventory")
        .args(["--list", "-i"])
        .arg(&script)
        .envs(environment.clone())
        .output()
        .await
        .expect("ansible-inventory (tests/peers/ansible/setup installs it)");
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let inventory: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut web: Vec<&str> = inventory["role_web"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    web.sort();
    assert_eq!(web, ["web-1", "web-2"]);
    assert!(
        inventory["_meta"]["hostvars"].get("db-1").is_none(),
        "db-1 is not in production"
    );
    assert_eq!(
        inventory["_meta"]["hostvars"]["web-2"]["az"],
        serde_json::json!({"__ansible_unsafe": "b"})
    );

    std::fs::write(
        dir.path().join("site.yml"),
        "- hosts: az_a\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug:\n        msg: \"ran on {{ inventory_hostname }}\"\n",
    )
    .unwrap();
    let played = tokio::process::Command::new("ansible-playbook")
        .arg("-i")
        .arg(&script)
        .arg(dir.path().join("site.yml"))
        .envs(environment)
        .output()
        .await
        .unwrap();
    let output = text(&played.stdout);
    assert!(played.status.success(), "{output}{}", text(&played.stderr));
    assert!(output.contains("ran on web-1"), "{output}");
    assert!(!output.contains("ran on web-2"), "{output}");
    assert!(!output.contains("db-1"), "{output}");

    // --host: one host's variables, and {} for one the environment does not have.
    let host = jeny_at(&app.url, &token)
        .args([
            "inventory",
            "--host",
            "web-1",
            "--project",
            "app",
            "--env",
            "production",
        ])
        .output()
        .await
        .unwrap();
    let variables: Value = serde_json::from_slice(&host.stdout).unwrap();
    assert_eq!(
        variables["ansible_host"],
        serde_json::json!({"__ansible_unsafe": "127.0.0.1"})
    );
    let unknown = jeny_at(&app.url, &token)
        .args([
            "inventory",
            "--host",
            "db-1",
            "--project",
            "app",
            "--env",
            "production",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&unknown.stdout).unwrap(),
        serde_json::json!({})
    );
}

/// What a tag may hold that Ansible would evaluate in a plain string.
const LOOKUP: &str = "{{ lookup('pipe','id') }}";
const STATEMENT: &str = "{% if true %}x{% endif %}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_holding_templates_reach_ansible_as_data_from_ec2_and_by_hand() {
    // The deploy's playbook prints each host's tags; it runs on the deploy's inventory file, and
    // then (below) on the dynamic inventory script.
    let playbook = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug:\n        msg: \"tags of {{ inventory_hostname }}: {{ jeny_tags['Name'] }} {{ jeny_tags['shape'] }} {{ shape }}\"\n";
    let command = format!(
        "cat > site.yml <<'EOF'\n{playbook}EOF\nansible-playbook site.yml -e ansible_connection=local"
    );
    let (app, token) = long_running_app(&command).await;
    let admin = app.with_admin().await;
    let post = |path: &str, body: Value| {
        let request = admin.request(reqwest::Method::POST, path).json(&body);
        async move { request.send().await.unwrap().error_for_status().unwrap() }
    };
    admin
        .patch_environment(
            "app",
            "production",
            &serde_json::json!({"host_selector": {"role": "web"}}),
            None,
        )
        .await
        .unwrap();
    let tags = [("Name", LOOKUP), ("role", "web"), ("shape", STATEMENT)];
    let moto = jeny_testkit::Moto::start().await;
    moto.run_instances("eu-west-1", 1, &tags).await;
    post(
        "/api/v1/aws/accounts",
        serde_json::json!({
            "name": "main", "regions": ["eu-west-1"], "access_key_id": "testing",
            "secret_access_key": "testing", "endpoint_url": moto.url, "enabled": false,
        }),
    )
    .await;
    post("/api/v1/aws/accounts/main/sync", Value::Null).await;
    post(
        "/api/v1/hosts",
        serde_json::json!({"name": "by-hand", "address": "127.0.0.1", "tags": tags.iter().copied().collect::<std::collections::BTreeMap<_, _>>()}),
    )
    .await;
    let hosts: Vec<String> = admin
        .environment_hosts("app", "production", None, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|host| host.name)
        .collect();
    assert_eq!(hosts.len(), 2, "one host from EC2, one by hand: {hosts:?}");
    let assert_printed_as_data = |output: &str| {
        assert!(!output.contains("uid="), "a tag's lookup ran: {output}");
        for host in &hosts {
            assert!(
                output.contains(&format!("tags of {host}: {LOOKUP} {STATEMENT} {STATEMENT}")),
                "{host}'s tags were not printed as they are: {output}"
            );
        }
    };

    // The deploy's inventory file.
    let deployed = jeny(&app, &token, &["deploy", "app", "production"], None).await;
    assert_exit(&deployed, 0);
    assert_printed_as_data(&text(&deployed.stdout));

    // The dynamic inventory script.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("jeny-inventory");
    std::os::unix::fs::symlink(JENY, &script).unwrap();
    std::fs::write(dir.path().join("site.yml"), playbook).unwrap();
    let played = tokio::process::Command::new("ansible-playbook")
        .arg("-i")
        .arg(&script)
        .arg(dir.path().join("site.yml"))
        .args(["-e", "ansible_connection=local"])
        .envs([
            ("JENY_SERVER", app.url.clone()),
            ("JENY_TOKEN", token.clone()),
            ("JENY_PROJECT", "app".to_owned()),
            ("JENY_ENVIRONMENT", "production".to_owned()),
        ])
        .output()
        .await
        .expect("ansible-playbook (tests/peers/ansible/setup installs it)");
    let output = text(&played.stdout);
    assert!(played.status.success(), "{output}{}", text(&played.stderr));
    assert_printed_as_data(&output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_help_are_there() {
    for shell in ["bash", "zsh", "fish"] {
        let output = tokio::process::Command::new(JENY)
            .args(["completions", shell])
            .output()
            .await
            .unwrap();
        assert!(output.status.success());
        assert!(text(&output.stdout).contains("deploy-log"), "{shell}");
    }
    for command in [
        "deploy",
        "deploys",
        "deploy-log",
        "cancel",
        "redeploy",
        "lock",
        "unlock",
        "vars",
        "inventory",
        "projects",
        "envs",
        "hosts",
    ] {
        let output = tokio::process::Command::new(JENY)
            .args([command, "--help"])
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{command}");
        assert!(
            text(&output.stdout).contains("Example"),
            "{command} --help has no example"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_deploy_exits_243_and_redeploy_follows_the_new_one() {
    let (app, token) = long_running_app("echo started; sleep 30").await;
    let follower = {
        let url = app.url.clone();
        let token = token.clone();
        tokio::spawn(async move {
            jeny_at(&url, &token)
                .args(["deploy", "app", "production"])
                .stdin(Stdio::null())
                .output()
                .await
                .unwrap()
        })
    };
    // Kill the deploy's supervisor once the command runs: its lease expires (3 s in tests).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (id, supervisor) = loop {
        let row: Option<(String, Option<i64>)> = jeny_store::sqlx::query_as(
            "SELECT id, supervisor_pid FROM deploys WHERE status = 'running'",
        )
        .fetch_optional(app.store.reader())
        .await
        .unwrap();
        if let Some((id, Some(pid))) = row {
            let output = app
                .with_admin()
                .await
                .deploy_output(&id, false)
                .await
                .unwrap();
            if output.contains("started") {
                break (id, pid);
            }
        }
        assert!(Instant::now() < deadline, "the deploy never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &supervisor.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::time::timeout(Duration::from_secs(60), follower)
        .await
        .unwrap()
        .unwrap();
    assert_exit(&output, 243);
    assert!(
        text(&output.stderr).contains("interrupted"),
        "{}",
        text(&output.stderr)
    );

    // Redeploy the interrupted deploy, this time with a command that ends, and follow it.
    set_command(&app, "echo again").await;
    let again = jeny(&app, &token, &["redeploy", &id], None).await;
    assert_exit(&again, 0);
    assert_eq!(text(&again.stdout), "again\n");
}

/// `jeny login` gets a token through the device flow, approved in a signed-in browser, and
/// stores it privately; the other commands then use it; `jeny logout` revokes and forgets it.
#[tokio::test]
async fn login_approved_in_the_browser_and_logout() {
    let app = TestApp::spawn_on(
        jeny_testkit::TestDatabase::create(Backend::Sqlite).await,
        |config| {
            config.sign_in.device_poll_interval_secs = 1;
        },
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let config_home = home.path().join("config");
    let jeny_here = |args: &[&str]| {
        let mut command = tokio::process::Command::new(JENY);
        command
            .args(args)
            .env_remove("JENY_SERVER")
            .env_remove("JENY_TOKEN")
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", &config_home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    let mut login = jeny_here(&["login", "--server", &app.url]).spawn().unwrap();
    // Read the code it shows, as the person would.
    let mut stderr = tokio::io::BufReader::new(login.stderr.take().unwrap());
    let mut shown = String::new();
    let code = loop {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), stderr.read_line(&mut line))
            .await
            .expect("jeny login shows a code")
            .unwrap();
        assert!(read > 0, "jeny login ended before showing a code: {shown}");
        shown.push_str(&line);
        let trimmed = line.trim();
        if trimmed.len() == 9 && trimmed.as_bytes()[4] == b'-' {
            break trimmed.to_owned();
        }
    };
    assert!(
        shown.contains(&format!("{}/auth/device", app.url)),
        "{shown}"
    );
    let mut browser = app.admin_browser().await;
    let page = browser
        .post_form(
            "/auth/device",
            &[("user_code", &code), ("action", "approve")],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let output = tokio::time::timeout(Duration::from_secs(30), login.wait_with_output())
        .await
        .expect("jeny login finishes once approved")
        .unwrap();
    assert_exit(&output, 0);
    assert!(
        text(&output.stdout).contains("signed in to"),
        "{}",
        text(&output.stdout)
    );
    assert!(text(&output.stdout).contains("admin@localhost"));
    let file = config_home.join("jeny/login.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the login file is private");
    let folder_mode = std::fs::metadata(file.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(folder_mode, 0o700);
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["server"], app.url.as_str());
    let token = stored["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("jeny_"));
    // The other commands use the stored login.
    let output = jeny_here(&["projects", "--json"]).output().await.unwrap();
    assert_exit(&output, 0);
    // Logout revokes the token and removes the file.
    let output = jeny_here(&["logout"]).output().await.unwrap();
    assert_exit(&output, 0);
    assert!(!file.exists());
    let revoked = app.anonymous().with_token(Some(token));
    assert_eq!(revoked.me().await.unwrap_err().status(), Some(401));
    let output = jeny_here(&["projects"]).output().await.unwrap();
    assert_exit(&output, 250);
    // A denied login exits 252.
    let mut login = jeny_here(&["login", "--server", &app.url]).spawn().unwrap();
    let mut stderr = tokio::io::BufReader::new(login.stderr.take().unwrap());
    let code = loop {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        stderr.read_line(&mut line).await.unwrap();
        let trimmed = line.trim();
        if trimmed.len() == 9 && trimmed.as_bytes()[4] == b'-' {
            break trimmed.to_owned();
        }
    };
    browser
        .post_form("/auth/device", &[("user_code", &code), ("action", "deny")])
        .await;
    let output = tokio::time::timeout(Duration::from_secs(30), login.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_exit(&output, 252);
    assert!(!file.exists());
}
