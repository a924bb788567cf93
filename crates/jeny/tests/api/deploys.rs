//! Deploys end to end: the real server starts real supervisors (the `jeny` binary) that run real
//! shell commands, on SQLite and on PostgreSQL.

use crate::{call, environment, host, problem_of, project, status_of, variable};
use jeny_deploys::{Deploy, DeployRequest, DeployStatus, LockRequest};
use jeny_projects::{EnvironmentInput, QueuePolicy};
use jeny_testkit::{Backend, Client, TestApp, VariableScope, both_backends};
use serde_json::json;
use std::time::Duration;

both_backends!(
    a_deploy_runs_its_command_with_its_variables_and_jenys_facts,
    what_a_deploy_ran_is_recorded_on_it,
    a_finished_deploys_work_folder_is_removed,
    a_deploy_is_queued_started_and_finished_in_the_event_log,
    a_failing_command_records_its_exit_code,
    deploys_of_one_environment_never_overlap_and_run_in_order,
    cancel_ends_a_queued_deploy_at_once_and_stops_a_running_one,
    a_deploy_over_its_timeout_ends_timed_out,
    a_locked_environment_refuses_deploys_until_unlocked,
    reading_the_lock_answers_locked_false_or_the_lock_with_locked_true,
    newest_wins_supersedes_older_queued_deploys,
    host_filters_narrow_the_hosts_and_an_empty_target_is_refused,
    bad_requests_get_problems_and_queue_nothing,
    output_streams_live_and_resumes_from_last_event_id,
    many_viewers_early_late_and_resuming_all_get_the_whole_output,
    a_viewer_far_behind_skips_to_the_newest_output_only_when_it_asks_to,
    deploys_are_listed_newest_first_with_filters_and_pages,
    a_project_repository_is_checked_out_at_the_ref_and_redeploy_runs_the_same_commit,
    a_real_ansible_playbook_sees_exactly_the_targeted_hosts_and_the_variables,
    cancel_kills_a_process_tree_that_ignores_sigterm_after_the_grace_period,
    output_over_the_cap_keeps_head_and_tail_and_finished_output_is_compressed,
    retention_removes_old_and_excess_output_and_keeps_the_records,
    deleting_a_project_stops_its_running_deploy,
    runner_concurrency_bounds_deploys_across_environments,
    a_cancelled_command_may_use_a_grace_period_longer_than_the_lease,
);

/// Project `app` with `command`, environment `production` on `role=web` with two hosts.
async fn app_with(backend: Backend, command: &str) -> (TestApp, Client) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let mut input = project("app");
    input.deploy_command = command.to_owned();
    admin.create_project(&input).await.unwrap();
    admin
        .create_environment("app", &environment("production", &[("role", "web")]))
        .await
        .unwrap();
    for (name, az) in [("web-1", "a"), ("web-2", "b")] {
        admin
            .create_host(&host(name, &[("role", "web"), ("az", az)]))
            .await
            .unwrap();
    }
    (app, admin)
}

async fn deploy(client: &Client, request: DeployRequest) -> Deploy {
    client
        .create_deploy("app", "production", &request)
        .await
        .unwrap()
}

async fn set_environment(client: &Client, change: impl FnOnce(&mut EnvironmentInput)) {
    let current = client
        .get_environment("app", "production")
        .await
        .unwrap()
        .value;
    let mut input = current.to_input();
    change(&mut input);
    client
        .replace_environment("app", "production", &input, None)
        .await
        .unwrap();
}

/// Sets a variable of `scope` (plain, or secret when `secret`).
async fn set_variable(
    client: &Client,
    scope: VariableScope<'_>,
    key: &str,
    value: &str,
    secret: bool,
) {
    client
        .put_variable(scope, key, &variable(key, Some(value), secret), None)
        .await
        .unwrap();
}

/// Waits until the deploy's output holds `text`.
pub async fn wait_for_output(client: &Client, id: &str, text: &str) {
    jeny_testkit::poll_until(&format!("deploy {id} prints {text:?}"), || async {
        let output = client.deploy_output(id, false).await.unwrap();
        output.contains(text).then_some(())
    })
    .await;
}

/// Waits until the deploy has `status`.
async fn wait_for_status(client: &Client, id: &str, status: DeployStatus) -> Deploy {
    jeny_testkit::poll_until(&format!("deploy {id} is {status}"), || async {
        let deploy = client.get_deploy(id).await.unwrap();
        (deploy.status == status).then_some(deploy)
    })
    .await
}

/// The command of `variables_deploy`: prints its variables, jeny's facts and its inventory.
const VARIABLES_COMMAND: &str = "echo \"token=$API_TOKEN level=$LOG_LEVEL\"; \
                   echo \"encoded=$(printf %s \"$API_TOKEN\" | base64)\"; \
                   echo \"jeny=$JENY_PROJECT/$JENY_ENVIRONMENT $JENY_DEPLOY_ID $JENY_REF $JENY_USER\"; \
                   echo \"hosts=$JENY_HOSTS\"; echo \"url=$JENY_DEPLOY_URL\"; \
                   echo \"inventory=$ANSIBLE_INVENTORY\"; test -s \"$JENY_INVENTORY\" && echo inventory-written; \
                   echo \"leak=${CARGO_MANIFEST_DIR:-none}\"; pwd; echo oops >&2";

/// A deploy of `v1.2.3` by a deployer, with a secret, a short secret and a variable the
/// environment overrides, run to its end.
struct VariablesDeploy {
    app: jeny_testkit::TestApp,
    admin: Client,
    started: Deploy,
    finished: Deploy,
    output: String,
}

async fn variables_deploy(backend: Backend) -> VariablesDeploy {
    let command = VARIABLES_COMMAND;
    let (app, admin) = app_with(backend, command).await;
    set_variable(
        &admin,
        VariableScope::Project("app"),
        "API_TOKEN",
        "s3cr3t-t0ken",
        true,
    )
    .await;
    set_variable(
        &admin,
        VariableScope::Project("app"),
        "LOG_LEVEL",
        "info",
        false,
    )
    .await;
    set_variable(&admin, VariableScope::Project("app"), "PIN", "42", true).await;
    set_variable(
        &admin,
        VariableScope::Environment("app", "production"),
        "LOG_LEVEL",
        "warn",
        false,
    )
    .await;
    let deployer = app.with_deployer().await;
    let started = deploy(
        &deployer,
        DeployRequest {
            git_ref: Some("v1.2.3".into()),
            description: Some("first".into()),
            ..DeployRequest::default()
        },
    )
    .await;
    assert!(matches!(
        started.status,
        DeployStatus::Queued | DeployStatus::Running
    ));
    assert_eq!(started.user, "deployer@example.com");
    assert_eq!(
        started.url,
        format!("{}/p/app/deploys/{}", app.url, started.id)
    );

    let finished = deployer.wait_for_deploy(&started.id).await.unwrap();
    let output = deployer.deploy_output(&started.id, false).await.unwrap();
    assert_eq!(finished.status, DeployStatus::Succeeded, "{output}");
    VariablesDeploy {
        app,
        admin,
        started,
        finished,
        output,
    }
}

async fn a_deploy_runs_its_command_with_its_variables_and_jenys_facts(backend: Backend) {
    let VariablesDeploy {
        started,
        finished,
        output,
        ..
    } = variables_deploy(backend).await;

    assert_eq!(finished.exit_code, Some(0));
    assert!(finished.started_at.is_some() && finished.finished_at.is_some());
    assert!(output.contains("token=*** level=warn"), "{output}");
    assert!(output.contains("encoded=***"), "{output}");
    assert!(!output.contains("s3cr3t"), "a secret leaked: {output}");
    assert!(
        output.contains(&format!(
            "jeny=app/production {} v1.2.3 deployer@example.com",
            started.id
        )),
        "{output}"
    );
    assert!(output.contains("hosts=web-1,web-2"), "{output}");
    assert!(output.contains(&format!("url={}", started.url)), "{output}");
    assert!(output.contains("inventory-written"), "{output}");
    assert!(
        output.contains("leak=none"),
        "the server's environment leaked: {output}"
    );
    assert!(output.contains("oops"), "stderr is captured: {output}");
    assert!(output.contains("[jeny] deploy succeeded"), "{output}");
    assert!(
        output.contains("[jeny] note: the secret PIN is shorter than 4 bytes"),
        "{output}"
    );
}

/// What ran is recorded: the command, the variables (a secret by reference), the hosts.
async fn what_a_deploy_ran_is_recorded_on_it(backend: Backend) {
    let VariablesDeploy { finished, .. } = variables_deploy(backend).await;

    assert_eq!(finished.command.as_deref(), Some(VARIABLES_COMMAND));
    let variables: Vec<_> = finished
        .variables
        .iter()
        .map(|v| {
            (
                v.key.as_str(),
                v.scope.as_str(),
                v.secret,
                v.value.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        variables,
        [
            ("API_TOKEN", "project", true, None),
            ("LOG_LEVEL", "environment", false, Some("warn")),
            ("PIN", "project", true, None),
        ]
    );
    let hosts: Vec<_> = finished.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(hosts, ["web-1", "web-2"]);
    assert_eq!(finished.hosts[0].address, "web-1.internal");
}

async fn a_finished_deploys_work_folder_is_removed(backend: Backend) {
    let VariablesDeploy { app, started, .. } = variables_deploy(backend).await;

    let workdir = app.config.data_dir.join("deploys").join(&started.id);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while workdir.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!workdir.exists(), "{} is left behind", workdir.display());
}

/// Queued, started and finished are in the event log, finished with what consumers need and no
/// secret.
async fn a_deploy_is_queued_started_and_finished_in_the_event_log(backend: Backend) {
    let VariablesDeploy { admin, .. } = variables_deploy(backend).await;

    let events = admin
        .list_events(0, Some(500), Some("app"), Some("deploy."))
        .await
        .unwrap()
        .items;
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["deploy.queued", "deploy.started", "deploy.finished"]
    );
    let finished_event = &events[2];
    assert_eq!(finished_event.environment.as_deref(), Some("production"));
    assert_eq!(finished_event.payload["status"], "succeeded");
    assert_eq!(finished_event.payload["user"], "deployer@example.com");
    assert_eq!(finished_event.payload["ref"], "v1.2.3");
    assert_eq!(finished_event.payload["host_count"], 2);
    assert!(finished_event.payload["duration_ms"].as_i64().unwrap() >= 0);
    assert!(!finished_event.payload.to_string().contains("s3cr3t"));
}

async fn a_failing_command_records_its_exit_code(backend: Backend) {
    let (_app, admin) = app_with(backend, "echo before; exit 3").await;
    let started = deploy(&admin, DeployRequest::default()).await;
    let finished = admin.wait_for_deploy(&started.id).await.unwrap();
    assert_eq!(finished.status, DeployStatus::Failed);
    assert_eq!(finished.exit_code, Some(3));
    let output = admin.deploy_output(&started.id, false).await.unwrap();
    assert!(output.contains("before"), "{output}");
    assert!(output.contains("exited with code 3"), "{output}");
}

async fn deploys_of_one_environment_never_overlap_and_run_in_order(backend: Backend) {
    // Each deploy prints its start and end (nanoseconds) and holds the environment a moment.
    let (_app, admin) = app_with(
        backend,
        "echo \"start $(date +%s%N)\"; sleep 0.2; echo \"end $(date +%s%N)\"",
    )
    .await;
    // A second environment runs beside the first.
    admin
        .create_environment("app", &environment("staging", &[("role", "web")]))
        .await
        .unwrap();
    let mut fired = Vec::new();
    for i in 0..6 {
        let client = admin.clone();
        fired.push(tokio::spawn(async move {
            client
                .create_deploy(
                    "app",
                    if i == 5 { "staging" } else { "production" },
                    &DeployRequest::default(),
                )
                .await
                .unwrap()
        }));
    }
    let mut deploys = Vec::new();
    for task in fired {
        deploys.push(task.await.unwrap());
    }
    let mut production = Vec::new();
    for deploy in &deploys {
        let finished = admin.wait_for_deploy(&deploy.id).await.unwrap();
        assert_eq!(finished.status, DeployStatus::Succeeded);
        let output = admin.deploy_output(&deploy.id, false).await.unwrap();
        let stamp = |word: &str| -> u128 {
            output
                .lines()
                .find_map(|line| line.strip_prefix(word))
                .unwrap_or_else(|| panic!("no {word} in {output}"))
                .trim()
                .parse()
                .unwrap()
        };
        if finished.environment == "production" {
            production.push((
                finished.queued_at,
                finished.id.clone(),
                stamp("start "),
                stamp("end "),
            ));
        }
    }
    // Never two at once: sorted by start, each starts after the previous ended.
    production.sort_by_key(|(_, _, start, _)| *start);
    for pair in production.windows(2) {
        assert!(
            pair[1].2 > pair[0].3,
            "deploys {} and {} overlapped",
            pair[0].1,
            pair[1].1
        );
    }
    // First in, first out.
    let by_start: Vec<_> = production.iter().map(|(_, id, _, _)| id.clone()).collect();
    production.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let by_queue: Vec<_> = production.iter().map(|(_, id, _, _)| id.clone()).collect();
    assert_eq!(by_start, by_queue);
}

async fn cancel_ends_a_queued_deploy_at_once_and_stops_a_running_one(backend: Backend) {
    // The command traps SIGTERM and cleans up: cancel gives it the chance.
    let (app, admin) = app_with(
        backend,
        "trap 'echo cleaning up; exit 0' TERM; echo ready; sleep 30 & wait",
    )
    .await;
    let running = deploy(&admin, DeployRequest::default()).await;
    let queued = deploy(&admin, DeployRequest::default()).await;
    wait_for_status(&admin, &running.id, DeployStatus::Running).await;
    let queued_now = admin.get_deploy(&queued.id).await.unwrap();
    assert_eq!(queued_now.status, DeployStatus::Queued);
    assert_eq!(queued_now.queue_position, Some(1));

    let deployer = app.with_deployer().await;
    let cancelled = deployer.cancel_deploy(&queued.id).await.unwrap();
    assert_eq!(cancelled.status, DeployStatus::Cancelled);
    assert_eq!(
        cancelled.cancelled_by.as_deref(),
        Some("deployer@example.com")
    );
    assert!(cancelled.started_at.is_none());

    // Wait until the command is up before cancelling it.
    wait_for_output(&admin, &running.id, "ready").await;
    deployer.cancel_deploy(&running.id).await.unwrap();
    let finished = deployer.wait_for_deploy(&running.id).await.unwrap();
    assert_eq!(finished.status, DeployStatus::Cancelled);
    assert_eq!(
        finished.cancelled_by.as_deref(),
        Some("deployer@example.com")
    );
    let output = deployer.deploy_output(&running.id, false).await.unwrap();
    assert!(output.contains("cleaning up"), "{output}");
    assert!(
        output.contains("cancelled by deployer@example.com"),
        "{output}"
    );

    // A finished deploy cannot be cancelled; the refusal changes nothing.
    let problem = problem_of(deployer.cancel_deploy(&running.id).await);
    assert_eq!(problem.status, 409);
    assert_eq!(
        admin.get_deploy(&running.id).await.unwrap().status,
        DeployStatus::Cancelled
    );
    // A viewer cannot cancel.
    let viewer = app.with_viewer().await;
    assert_eq!(status_of(viewer.cancel_deploy(&queued.id).await), 403);
}

async fn a_deploy_over_its_timeout_ends_timed_out(backend: Backend) {
    let (_app, admin) = app_with(backend, "echo started; sleep 30").await;
    set_environment(&admin, |input| {
        input.deploy_timeout_secs = 1;
        input.deploy_grace_secs = 1;
    })
    .await;
    let started = deploy(&admin, DeployRequest::default()).await;
    let finished = admin.wait_for_deploy(&started.id).await.unwrap();
    assert_eq!(finished.status, DeployStatus::TimedOut);
    assert!(finished.duration_ms.unwrap() < 20_000, "{finished:?}");
    let output = admin.deploy_output(&started.id, false).await.unwrap();
    assert!(output.contains("timeout of 1s"), "{output}");
}

async fn a_locked_environment_refuses_deploys_until_unlocked(backend: Backend) {
    let (app, admin) = app_with(backend, "true").await;
    let deployer = app.with_deployer().await;
    let lock = deployer
        .lock_environment(
            "app",
            "production",
            &LockRequest {
                reason: "database migration".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(lock.locked_by, "deployer@example.com");
    let problem = problem_of(
        admin
            .create_deploy("app", "production", &DeployRequest::default())
            .await,
    );
    assert_eq!(problem.status, 423);
    assert_eq!(problem.code, "locked");
    assert!(problem.detail.contains("database migration"), "{problem:?}");
    assert!(
        problem.detail.contains("deployer@example.com"),
        "{problem:?}"
    );
    assert!(
        admin
            .list_deploys(Some("app"), None, None, None, None)
            .await
            .unwrap()
            .items
            .is_empty(),
        "a refused deploy is not queued"
    );
    // An empty reason is refused.
    let problem = problem_of(
        deployer
            .lock_environment(
                "app",
                "production",
                &LockRequest {
                    reason: " ".into(),
                    expires_at: None,
                },
            )
            .await,
    );
    assert_eq!(problem.field.as_deref(), Some("reason"));

    deployer
        .unlock_environment("app", "production")
        .await
        .unwrap();
    assert_eq!(
        status_of(deployer.unlock_environment("app", "production").await),
        404
    );
    let started = deploy(&admin, DeployRequest::default()).await;
    assert_eq!(
        admin.wait_for_deploy(&started.id).await.unwrap().status,
        DeployStatus::Succeeded
    );
    // A lock that expires lifts by itself (aged through the store, not waited for).
    let soon =
        jeny_core::Timestamp::from_micros(jeny_core::Timestamp::now().as_micros() + 3_600_000_000);
    deployer
        .lock_environment(
            "app",
            "production",
            &LockRequest {
                reason: "brief".into(),
                expires_at: Some(soon),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        status_of(
            admin
                .create_deploy("app", "production", &DeployRequest::default())
                .await
        ),
        423
    );
    let mut tx = app.store.begin().await.unwrap();
    jeny_store::sqlx::query("UPDATE environment_locks SET expires_at = $1")
        .bind(jeny_core::Timestamp::now().as_micros() - 1_000_000)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    deploy(&admin, DeployRequest::default()).await;
}

async fn reading_the_lock_answers_locked_false_or_the_lock_with_locked_true(backend: Backend) {
    let (app, _admin) = app_with(backend, "true").await;
    let deployer = app.with_deployer().await;
    let viewer = app.with_viewer().await;
    let lock_path = "/api/v1/projects/app/environments/production/lock";

    let (status, unlocked) = call(&viewer, reqwest::Method::GET, lock_path, None).await;
    assert_eq!(status, 200, "{unlocked}");
    assert_eq!(unlocked, json!({"locked": false}));
    assert_eq!(viewer.get_lock("app", "production").await.unwrap(), None);

    deployer
        .lock_environment(
            "app",
            "production",
            &LockRequest {
                reason: "database migration".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let (status, locked) = call(&viewer, reqwest::Method::GET, lock_path, None).await;
    assert_eq!(status, 200, "{locked}");
    assert_eq!(locked["locked"], json!(true));
    assert_eq!(locked["project"], json!("app"));
    assert_eq!(locked["environment"], json!("production"));
    assert_eq!(locked["reason"], json!("database migration"));
    assert_eq!(locked["locked_by"], json!("deployer@example.com"));
    assert!(locked["locked_at"].is_string(), "{locked}");
    assert_eq!(locked["expires_at"], json!(null));
    let lock = viewer.get_lock("app", "production").await.unwrap().unwrap();
    assert_eq!(lock.reason, "database migration");

    deployer
        .unlock_environment("app", "production")
        .await
        .unwrap();
    assert_eq!(viewer.get_lock("app", "production").await.unwrap(), None);
    // A missing environment is still a 404.
    assert_eq!(status_of(viewer.get_lock("app", "nowhere").await), 404);
}

async fn newest_wins_supersedes_older_queued_deploys(backend: Backend) {
    let (_app, admin) = app_with(backend, "sleep 30").await;
    set_environment(&admin, |input| {
        input.queue_policy = QueuePolicy::NewestWins;
        input.deploy_grace_secs = 0;
    })
    .await;
    let running = deploy(&admin, DeployRequest::default()).await;
    wait_for_status(&admin, &running.id, DeployStatus::Running).await;
    let older = deploy(&admin, DeployRequest::default()).await;
    let newer = deploy(&admin, DeployRequest::default()).await;
    let older = admin.get_deploy(&older.id).await.unwrap();
    assert_eq!(older.status, DeployStatus::Cancelled);
    assert_eq!(
        older.reason,
        Some(format!("superseded by the newer deploy {}", newer.id))
    );
    let newer = admin.get_deploy(&newer.id).await.unwrap();
    assert_eq!(newer.status, DeployStatus::Queued);
    assert_eq!(newer.queue_position, Some(1));
    assert_eq!(
        admin.get_deploy(&running.id).await.unwrap().status,
        DeployStatus::Running,
        "the running deploy is not touched"
    );
    admin.cancel_deploy(&newer.id).await.unwrap();
    admin.cancel_deploy(&running.id).await.unwrap();
    admin.wait_for_deploy(&running.id).await.unwrap();
}

async fn host_filters_narrow_the_hosts_and_an_empty_target_is_refused(backend: Backend) {
    let (_app, admin) = app_with(backend, "echo \"hosts=$JENY_HOSTS\"").await;
    let canary = deploy(
        &admin,
        DeployRequest {
            host_filter: [("az".to_owned(), "b".to_owned())].into(),
            ..DeployRequest::default()
        },
    )
    .await;
    let finished = admin.wait_for_deploy(&canary.id).await.unwrap();
    let hosts: Vec<_> = finished.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(hosts, ["web-2"]);
    let output = admin.deploy_output(&canary.id, false).await.unwrap();
    assert!(output.contains("hosts=web-2\n"), "{output}");

    let nowhere = DeployRequest {
        host_filter: [("az".to_owned(), "z".to_owned())].into(),
        ..DeployRequest::default()
    };
    let problem = problem_of(admin.create_deploy("app", "production", &nowhere).await);
    assert_eq!(problem.status, 422);
    assert_eq!(problem.field.as_deref(), Some("host_filter"));
    assert!(problem.detail.contains("no host"), "{problem:?}");
    let contradiction = DeployRequest {
        host_filter: [("role".to_owned(), "db".to_owned())].into(),
        ..DeployRequest::default()
    };
    let problem = problem_of(
        admin
            .create_deploy("app", "production", &contradiction)
            .await,
    );
    assert_eq!(problem.field.as_deref(), Some("host_filter"));

    // Allowed host-less, the same filter deploys to no host.
    set_environment(&admin, |input| input.allow_hostless_deploys = true).await;
    let hostless = admin
        .create_deploy("app", "production", &nowhere)
        .await
        .unwrap();
    let finished = admin.wait_for_deploy(&hostless.id).await.unwrap();
    assert_eq!(finished.status, DeployStatus::Succeeded);
    assert!(finished.hosts.is_empty());
}

async fn bad_requests_get_problems_and_queue_nothing(backend: Backend) {
    let (app, admin) = app_with(backend, "true").await;
    let post = |body: serde_json::Value, path: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .request(reqwest::Method::POST, path)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let path = "/api/v1/projects/app/environments/production/deploys";
    let response = post(json!({"ref": "--upload-pack=touch /tmp/x"}), path).await;
    assert_eq!(response.status(), 422);
    let problem: jeny_testkit::Problem = response.json().await.unwrap();
    assert_eq!(problem.field.as_deref(), Some("ref"));
    let response = post(json!({"branch": "main"}), path).await;
    assert_eq!(response.status(), 422);
    let response = post(json!({"description": 7}), path).await;
    assert_eq!(response.status(), 422);
    let response = post(
        json!({}),
        "/api/v1/projects/nope/environments/production/deploys",
    )
    .await;
    assert_eq!(response.status(), 404);
    let response = post(json!({}), "/api/v1/projects/app/environments/nope/deploys").await;
    assert_eq!(response.status(), 404);
    assert_eq!(status_of(admin.get_deploy("nope").await), 404);
    assert_eq!(status_of(admin.cancel_deploy("nope").await), 404);
    assert_eq!(status_of(admin.redeploy("nope").await), 404);
    let viewer = app.with_viewer().await;
    assert_eq!(
        status_of(
            viewer
                .create_deploy("app", "production", &DeployRequest::default())
                .await
        ),
        403
    );
    // A project without a command cannot deploy.
    let mut commandless = project("bare");
    commandless.deploy_command = String::new();
    admin.create_project(&commandless).await.unwrap();
    admin
        .create_environment("bare", &environment("production", &[]))
        .await
        .unwrap();
    let problem = problem_of(
        admin
            .create_deploy("bare", "production", &DeployRequest::default())
            .await,
    );
    assert_eq!(problem.field.as_deref(), Some("deploy_command"));
    let response = admin
        .request(reqwest::Method::GET, "/api/v1/deploys?status=sideways")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(
        admin
            .list_deploys(None, None, None, None, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// The whole SSE body of a deploy's output, read until the server ends it.
async fn read_sse(client: &Client, id: &str, last_event_id: Option<&str>) -> String {
    use futures_util::StreamExt;
    let mut request = client
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/deploys/{id}/output"),
        )
        .header("accept", "text/event-stream");
    if let Some(last) = last_event_id {
        request = request.header("last-event-id", last);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = String::new();
    let mut stream = response.bytes_stream();
    while let Some(bytes) = stream.next().await {
        body.push_str(&String::from_utf8_lossy(&bytes.unwrap()));
    }
    body
}

/// The `output` events (id, data) and the deploy of the `end` event of an SSE body.
fn parse_sse(body: &str) -> (Vec<(String, serde_json::Value)>, Option<Deploy>) {
    let mut outputs = Vec::new();
    let mut end = None;
    for message in body.split("\n\n") {
        let field = |name: &str| {
            message
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::to_owned)
        };
        match field("event: ").as_deref() {
            Some("output") => outputs.push((
                field("id: ").unwrap(),
                serde_json::from_str(&field("data: ").unwrap()).unwrap(),
            )),
            Some("end") => {
                end = Some(serde_json::from_str::<Deploy>(&field("data: ").unwrap()).unwrap())
            }
            _ => {}
        }
    }
    (outputs, end)
}

/// The stdout text of parsed output events.
fn stdout_of(outputs: &[(String, serde_json::Value)]) -> String {
    outputs
        .iter()
        .flat_map(|(_, event)| event["chunks"].as_array().unwrap().clone())
        .filter(|chunk| chunk["stream"] == "stdout")
        .map(|chunk| chunk["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn output_streams_live_and_resumes_from_last_event_id(backend: Backend) {
    let (_app, admin) = app_with(
        backend,
        "for i in 1 2 3; do echo \"line $i\"; sleep 0.1; done; printf '\\033[32mgreen\\033[0m\\n'",
    )
    .await;
    let started = deploy(&admin, DeployRequest::default()).await;
    let live = read_sse(&admin, &started.id, None).await;
    let (outputs, end) = parse_sse(&live);
    let end = end.unwrap_or_else(|| panic!("no end event in {live}"));
    assert_eq!(end.status, DeployStatus::Succeeded);
    assert_eq!(
        stdout_of(&outputs),
        "line 1\nline 2\nline 3\n\u{1b}[32mgreen\u{1b}[0m\n"
    );
    assert!(outputs[0].1["chunks"][0]["at"].is_string());
    // Resuming after the first event gives the rest, not the first again.
    let first_id = &outputs[0].0;
    let last_id = &outputs.last().unwrap().0;
    let resumed = read_sse(&admin, &started.id, Some(first_id)).await;
    assert!(!resumed.contains(&format!("id: {first_id}\n")), "{resumed}");
    assert!(resumed.contains(&format!("id: {last_id}\n")), "{resumed}");
    assert!(resumed.contains("event: end"));
}

async fn many_viewers_early_late_and_resuming_all_get_the_whole_output(backend: Backend) {
    // 3000 numbered lines in bursts, so that viewers join while it runs.
    let (_app, admin) = app_with(
        backend,
        "i=1; while [ $i -le 30 ]; do seq $(( (i-1)*100+1 )) $(( i*100 )); i=$((i+1)); sleep 0.02; done",
    )
    .await;
    let expected: String = (1..=3000).map(|n| format!("{n}\n")).collect();
    let started = deploy(&admin, DeployRequest::default()).await;
    let mut viewers = Vec::new();
    for i in 0..8 {
        let admin = admin.clone();
        let id = started.id.clone();
        viewers.push(tokio::spawn(async move {
            // Half join at once, half a little later.
            tokio::time::sleep(Duration::from_millis(if i % 2 == 0 { 0 } else { 150 })).await;
            read_sse(&admin, &id, None).await
        }));
    }
    // One reads the first events, drops, and resumes from the last it saw.
    let first_part = {
        use futures_util::StreamExt;
        let response = admin
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/deploys/{}/output", started.id),
            )
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        let mut stream = response.bytes_stream();
        let mut body = String::new();
        while parse_sse(&body).0.len() < 2 {
            body.push_str(&String::from_utf8_lossy(
                &stream.next().await.unwrap().unwrap(),
            ));
        }
        // Only whole messages count.
        body[..body.rfind("\n\n").unwrap() + 2].to_owned()
    };
    let (seen, _) = parse_sse(&first_part);
    let rest = read_sse(&admin, &started.id, Some(&seen.last().unwrap().0)).await;
    let (resumed, end) = parse_sse(&rest);
    assert!(end.is_some());
    assert_eq!(
        stdout_of(&seen) + &stdout_of(&resumed),
        expected,
        "the resumed viewer has a gap or a repeat"
    );
    for viewer in viewers {
        let body = viewer.await.unwrap();
        let (outputs, end) = parse_sse(&body);
        assert_eq!(end.unwrap().status, DeployStatus::Succeeded);
        assert_eq!(stdout_of(&outputs), expected);
        let ids: Vec<i64> = outputs.iter().map(|(id, _)| id.parse().unwrap()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    }
    // Plain text, followed, from a viewer that joins after the end.
    let text = admin.deploy_output(&started.id, true).await.unwrap();
    assert!(text.starts_with(&expected), "{text}");
}

/// An SSE viewer over a socket with a tiny receive buffer that reads its response head and then
/// nothing until `release` resolves: the server's writes to it block, as to a slow screen. Its
/// whole body once released.
async fn stalled_viewer(
    app: &TestApp,
    token: &str,
    path: &str,
    release: impl std::future::Future<Output = ()>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(app.address).await.unwrap();
    stream
        .write_all(
            format!(
                "GET {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\n\
                 accept: text/event-stream\r\nconnection: close\r\n\r\n",
                app.address
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "the response head"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    release.await;
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await.unwrap();
    // chunked transfer coding: the SSE messages are whole lines inside the chunks, so the
    // chunk-size lines are told apart by being bare hex
    let text = String::from_utf8_lossy(&body).into_owned();
    dechunk(&text)
}

/// The payload of an HTTP/1.1 chunked body.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(line_end) = rest.find("\r\n") {
        let size = usize::from_str_radix(rest[..line_end].trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.push_str(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    out
}

async fn a_viewer_far_behind_skips_to_the_newest_output_only_when_it_asks_to(backend: Backend) {
    // 40 slices of 6,000 lines of 100 bytes (24 MB), 50 ms apart: far more than the socket
    // buffers of a viewer that does not read hold, spread over two seconds.
    let (app, admin) = app_with(
        backend,
        "i=0; while [ $i -lt 40 ]; do seq -f '%099.0f' $(( i*6000+1 )) $(( (i+1)*6000 )); i=$((i+1)); sleep 0.05; done",
    )
    .await;
    let token = app
        .token_for("watcher@example.com", jeny_core::Role::Viewer)
        .await;
    // Both viewers connect right after the POST, long before the last slice.
    let started = deploy(&admin, DeployRequest::default()).await;
    let finished = || {
        let admin = admin.clone();
        let id = started.id.clone();
        async move {
            wait_for_status(&admin, &id, DeployStatus::Succeeded).await;
        }
    };
    let path = format!("/api/v1/deploys/{}/output", started.id);
    let skip_path = format!("{path}?behind=skip");
    let (reading, skipping) = tokio::join!(
        stalled_viewer(&app, &token, &path, finished()),
        stalled_viewer(&app, &token, &skip_path, finished()),
    );
    let line = |n: u64| format!("{n:099}\n");
    let expected: String = (1..=240_000).map(line).collect();
    // Reading (the default): every batch, though from the store once the feed dropped it.
    let (outputs, end) = parse_sse(&reading);
    assert_eq!(end.unwrap().status, DeployStatus::Succeeded);
    assert!(
        stdout_of(&outputs) == expected,
        "the reading viewer missed output"
    );
    let last_id = outputs.last().unwrap().0.clone();
    assert!(!reading.contains("event: skipped"));
    // Skipping: at least one skip, each from where the viewer was, then the newest output
    // and the end.
    let (outputs, end) = parse_sse(&skipping);
    assert_eq!(end.unwrap().status, DeployStatus::Succeeded);
    let mut at = 0i64;
    let mut skips = 0;
    let mut skipped_to = None;
    for message in skipping.split("\n\n") {
        let field = |name: &str| message.lines().find_map(|l| l.strip_prefix(name));
        match field("event: ") {
            Some("output") => {
                at = field("id: ").unwrap().parse().unwrap();
                if let Some(until) = skipped_to.take() {
                    assert_eq!(at, until, "the output after a skip is the batch skipped to");
                }
            }
            Some("skipped") => {
                let skipped: serde_json::Value =
                    serde_json::from_str(field("data: ").unwrap()).unwrap();
                assert_eq!(skipped["after"], at, "{message}");
                assert!(skipped["until"].as_i64().unwrap() > at, "{message}");
                // the next event is the last lines of batch `until`
                skipped_to = skipped["until"].as_i64();
                skips += 1;
            }
            _ => {}
        }
    }
    assert!(skips >= 1, "a viewer this far behind skips");
    let received = stdout_of(&outputs);
    assert!(received.len() < expected.len(), "it skipped some output");
    assert_eq!(
        outputs.last().unwrap().0,
        last_id,
        "it got the newest output"
    );
    // What it got is lines of the output, in order (a batch may end inside a line, so the line
    // before a skip can be cut; every tail starts at a line).
    let numbers: Vec<u64> = received
        .lines()
        .filter(|line| line.len() == 99)
        .map(|line| line.parse().unwrap())
        .collect();
    assert!(numbers.len() > 1000, "{} whole lines", numbers.len());
    assert!(numbers.windows(2).all(|pair| pair[0] < pair[1]));
    for (_, event) in &outputs {
        for chunk in event["chunks"].as_array().unwrap() {
            let text = chunk["text"].as_str().unwrap();
            assert!(text.len() <= 16 * 1024 + 1, "a tail is at most 16 KiB");
        }
    }
    // A bad value is refused.
    let (status, problem) = call(
        &admin,
        reqwest::Method::GET,
        &format!("{path}?behind=maybe"),
        None,
    )
    .await;
    assert_eq!(status, 422, "{problem}");
}

async fn deploys_are_listed_newest_first_with_filters_and_pages(backend: Backend) {
    let (_app, admin) = app_with(backend, "true").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let started = deploy(&admin, DeployRequest::default()).await;
        admin.wait_for_deploy(&started.id).await.unwrap();
        ids.push(started.id);
    }
    ids.reverse();
    let first = admin
        .list_deploys(Some("app"), Some("production"), None, Some(2), None)
        .await
        .unwrap();
    let second = admin
        .list_deploys(
            Some("app"),
            Some("production"),
            None,
            Some(2),
            first.next_cursor.as_deref(),
        )
        .await
        .unwrap();
    let listed: Vec<_> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|d| d.id.clone())
        .collect();
    assert_eq!(listed, ids);
    assert!(second.next_cursor.is_none());
    let failed = admin
        .list_deploys(None, None, Some(DeployStatus::Failed), None, None)
        .await
        .unwrap();
    assert!(failed.items.is_empty());
    let nested = admin
        .request(
            reqwest::Method::GET,
            "/api/v1/projects/app/environments/production/deploys?status=succeeded",
        )
        .send()
        .await
        .unwrap();
    let page: jeny_core::Page<Deploy> = nested.json().await.unwrap();
    assert_eq!(page.items.len(), 3);
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn a_project_repository_is_checked_out_at_the_ref_and_redeploy_runs_the_same_commit(
    backend: Backend,
) {
    let repository = tempfile::tempdir().unwrap();
    let dir = repository.path();
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(dir.join("VERSION"), "one\n").unwrap();
    git(dir, &["add", "VERSION"]);
    git(dir, &["commit", "--quiet", "-m", "one"]);
    git(dir, &["tag", "v1"]);
    let v1 = git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("VERSION"), "two\n").unwrap();
    git(dir, &["commit", "--quiet", "-am", "two"]);
    let head = git(dir, &["rev-parse", "HEAD"]);

    let (_app, admin) = app_with(backend, "echo \"version $(cat VERSION)\"").await;
    admin
        .patch_project(
            "app",
            &json!({"repository": dir.display().to_string()}),
            None,
        )
        .await
        .unwrap();

    let tagged = deploy(
        &admin,
        DeployRequest {
            git_ref: Some("v1".into()),
            ..DeployRequest::default()
        },
    )
    .await;
    let tagged = admin.wait_for_deploy(&tagged.id).await.unwrap();
    let output = admin.deploy_output(&tagged.id, false).await.unwrap();
    assert_eq!(tagged.status, DeployStatus::Succeeded, "{output}");
    assert_eq!(tagged.sha.as_deref(), Some(v1.as_str()));
    assert!(output.contains("version one"), "{output}");
    assert!(output.contains(&format!("at commit {v1}")), "{output}");

    // The default branch when no ref is given; the mirror is fetched again and sees commit two.
    let latest = deploy(&admin, DeployRequest::default()).await;
    let latest = admin.wait_for_deploy(&latest.id).await.unwrap();
    assert_eq!(latest.sha.as_deref(), Some(head.as_str()));
    assert!(
        admin
            .deploy_output(&latest.id, false)
            .await
            .unwrap()
            .contains("version two")
    );

    // Rolling back: redeploying the first deploy runs its commit again.
    let rollback = admin.redeploy(&tagged.id).await.unwrap();
    assert_eq!(rollback.redeploy_of.as_deref(), Some(tagged.id.as_str()));
    assert_eq!(rollback.git_ref.as_deref(), Some(v1.as_str()));
    let rollback = admin.wait_for_deploy(&rollback.id).await.unwrap();
    assert_eq!(rollback.sha.as_deref(), Some(v1.as_str()));
    assert!(
        admin
            .deploy_output(&rollback.id, false)
            .await
            .unwrap()
            .contains("version one")
    );

    // A ref that does not exist ends the deploy errored, with git's reason in the output.
    let bad = deploy(
        &admin,
        DeployRequest {
            git_ref: Some("no-such-branch".into()),
            ..DeployRequest::default()
        },
    )
    .await;
    let bad = admin.wait_for_deploy(&bad.id).await.unwrap();
    assert_eq!(bad.status, DeployStatus::Errored);
    assert!(bad.reason.as_deref().unwrap().contains("git"), "{bad:?}");
    let output = admin.deploy_output(&bad.id, false).await.unwrap();
    assert!(
        output.contains("\"no-such-branch\" is not a branch, tag or commit"),
        "{output}"
    );
    assert!(
        !output.contains("version"),
        "the command did not run: {output}"
    );
}

async fn a_real_ansible_playbook_sees_exactly_the_targeted_hosts_and_the_variables(
    backend: Backend,
) {
    // The playbook runs on the controller (ansible_connection=local, a host tag that becomes a
    // host variable) and prints what it saw of each host and of the environment.
    let command = r#"cat > site.yml <<'EOF'
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "seen {{ inventory_hostname }} at {{ ansible_host }} az={{ az }} in {{ group_names | sort | join(',') }} version={{ lookup('env', 'APP_VERSION') }}"
EOF
ansible-playbook site.yml"#;
    let (_app, admin) = app_with(backend, command).await;
    for name in ["web-1", "web-2", "web-3", "db-1"] {
        let role = if name.starts_with("db") { "db" } else { "web" };
        let az = if name == "web-2" { "b" } else { "a" };
        let input = host(
            name,
            &[("role", role), ("az", az), ("ansible_connection", "local")],
        );
        if admin.get_host(name).await.is_ok() {
            admin.replace_host(name, &input, None).await.unwrap();
        } else {
            admin.create_host(&input).await.unwrap();
        }
    }
    set_variable(
        &admin,
        VariableScope::Environment("app", "production"),
        "APP_VERSION",
        "2.4.1",
        false,
    )
    .await;
    let started = deploy(
        &admin,
        DeployRequest {
            host_filter: [("az".to_owned(), "a".to_owned())].into(),
            ..DeployRequest::default()
        },
    )
    .await;
    let finished = admin.wait_for_deploy(&started.id).await.unwrap();
    let output = admin.deploy_output(&started.id, false).await.unwrap();
    assert_eq!(finished.status, DeployStatus::Succeeded, "{output}");
    // Ansible runs the hosts in parallel forks: their order varies.
    let mut seen: Vec<&str> = output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("\"msg\": \"seen "))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "web-1 at web-1.internal az=a in ansible_connection_local,az_a,role_web version=2.4.1\"",
            "web-3 at web-3.internal az=a in ansible_connection_local,az_a,role_web version=2.4.1\"",
        ],
        "{output}"
    );
    assert!(output.contains("ok=1"), "{output}");
}

async fn cancel_kills_a_process_tree_that_ignores_sigterm_after_the_grace_period(backend: Backend) {
    // The script ignores SIGTERM, and so does the grandchild it starts. They run in the deploy's
    // sandbox, whose pids mean nothing out here: they are found by their JENY_DEPLOY_ID.
    let command = "trap '' TERM; sh -c 'trap \"\" TERM; echo grandchild-ready; sleep 60' & \
                   echo ready; wait";
    let (_app, admin) = app_with(backend, command).await;
    set_environment(&admin, |input| input.deploy_grace_secs = 1).await;
    let started = deploy(&admin, DeployRequest::default()).await;
    wait_for_output(&admin, &started.id, "grandchild-ready").await;
    wait_for_output(&admin, &started.id, "ready").await;
    assert!(
        jeny_testkit::processes_of_deploy(&started.id).len() >= 3,
        "the script, its grandchild and the sleep are not all found"
    );
    let cancelled_at = std::time::Instant::now();
    admin.cancel_deploy(&started.id).await.unwrap();
    let finished = admin.wait_for_deploy(&started.id).await.unwrap();
    assert_eq!(finished.status, DeployStatus::Cancelled);
    assert!(
        cancelled_at.elapsed() >= Duration::from_millis(900),
        "SIGKILL came before the grace period"
    );
    jeny_testkit::poll_until(
        "the deploy's processes are gone after the cancel",
        || async {
            jeny_testkit::processes_of_deploy(&started.id)
                .is_empty()
                .then_some(())
        },
    )
    .await;
}

async fn output_over_the_cap_keeps_head_and_tail_and_finished_output_is_compressed(
    backend: Backend,
) {
    let database = jeny_testkit::TestDatabase::create(backend).await;
    let app = TestApp::spawn_on(database, |config| {
        config.deploy_output_cap_bytes = 2 * 1024 * 1024;
    })
    .await;
    let admin = app.with_admin().await;
    let mut input = project("app");
    // About 20.9 MB of numbered lines, as fast as the command can print them.
    input.deploy_command = "seq 1 3000000".into();
    admin.create_project(&input).await.unwrap();
    admin
        .create_environment("app", &environment("production", &[]))
        .await
        .unwrap();
    let started = admin
        .create_deploy("app", "production", &DeployRequest::default())
        .await
        .unwrap();
    let finished = admin.wait_for_deploy(&started.id).await.unwrap();
    assert_eq!(finished.status, DeployStatus::Succeeded);
    let output = admin.deploy_output(&started.id, false).await.unwrap();
    // Each half may run over by one batch (up to about 2 MB when the command is this fast).
    assert!(
        (2 * 1024 * 1024..7 * 1024 * 1024).contains(&output.len()),
        "{} bytes kept for a 2 MB cap",
        output.len()
    );
    let numbers: Vec<u64> = output
        .lines()
        .filter_map(|line| line.parse().ok())
        .collect();
    // The head from the first line, the tail up to the last, the marker between.
    assert_eq!(&numbers[..3], &[1, 2, 3]);
    assert_eq!(numbers.last(), Some(&3_000_000));
    assert!(
        output.contains("is over this deploy's cap of 2 MB"),
        "no marker in the output"
    );
    // One jump where the middle is left out, plus at most one cut line at each side of it.
    let gaps = numbers
        .windows(2)
        .filter(|pair| pair[1] != pair[0] + 1)
        .count();
    assert!(gaps <= 3, "the kept output has {gaps} jumps");
    // The tail holds at least its half of the cap: the last MB of lines, unbroken.
    let unbroken_tail = numbers
        .windows(2)
        .rev()
        .take_while(|pair| pair[1] == pair[0] + 1)
        .count();
    assert!(
        unbroken_tail * 8 >= 1024 * 1024,
        "only {unbroken_tail} lines kept at the end"
    );
    // Once finished, the stored batches are deflated (the supervisor does it after the end). A
    // batch that deflate would not shrink, such as jeny's short closing line, stays raw.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let raw: i64 = jeny_store::sqlx::query_scalar(
            "SELECT COUNT(*) FROM deploy_output WHERE deploy_id = $1 AND encoding = 'raw' AND raw_bytes > 1024",
        )
        .bind(&started.id)
        .fetch_one(app.store.reader())
        .await
        .unwrap();
        if raw == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{raw} batches left raw"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored: i64 = jeny_store::sqlx::query_scalar(
        "SELECT CAST(SUM(LENGTH(data)) AS BIGINT) FROM deploy_output WHERE deploy_id = $1",
    )
    .bind(&started.id)
    .fetch_one(app.store.reader())
    .await
    .unwrap();
    assert!(
        (stored as usize) < output.len() / 2,
        "{stored} bytes stored for {} of output",
        output.len()
    );
    // Reading it back after compression gives the same text.
    assert_eq!(
        admin.deploy_output(&started.id, false).await.unwrap(),
        output
    );
}

async fn retention_removes_old_and_excess_output_and_keeps_the_records(backend: Backend) {
    // Each deploy prints about 0.6 MB; the project keeps 1 MiB of output.
    let (app, admin) = app_with(backend, "seq 1 100000").await;
    admin
        .patch_project("app", &json!({"output_retention_bytes": 1_048_576}), None)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let started = deploy(&admin, DeployRequest::default()).await;
        admin.wait_for_deploy(&started.id).await.unwrap();
        ids.push(started.id);
    }
    let pruned = jeny_deploys::prune_output(&app.store).await.unwrap();
    assert_eq!(pruned.deploys, 2, "only the newest fits in 1 MiB");
    let newest = admin.deploy_output(&ids[2], false).await.unwrap();
    assert!(newest.contains("\n100000\n"));
    for old in &ids[..2] {
        let output = admin.deploy_output(old, false).await.unwrap();
        assert!(
            output.contains("removed by the project's retention policy")
                && output.contains("at most 1048576 bytes"),
            "{output}"
        );
        assert!(!output.contains("\n100000\n"));
        let record = admin.get_deploy(old).await.unwrap();
        assert_eq!(record.status, DeployStatus::Succeeded, "the record stays");
        assert_eq!(record.command.as_deref(), Some("seq 1 100000"));
    }
    // A second pass has nothing left to do.
    assert_eq!(
        jeny_deploys::prune_output(&app.store)
            .await
            .unwrap()
            .deploys,
        0
    );

    // By age: a deploy that finished two days ago loses its output with a one-day retention.
    admin
        .patch_project(
            "app",
            &json!({"output_retention_bytes": null, "output_retention_days": 1}),
            None,
        )
        .await
        .unwrap();
    let two_days_ago = jeny_core::Timestamp::now().as_micros() - 2 * 86_400_000_000;
    let mut tx = app.store.begin().await.unwrap();
    jeny_store::sqlx::query("UPDATE deploys SET finished_at = $2 WHERE id = $1")
        .bind(&ids[2])
        .bind(two_days_ago)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        jeny_deploys::prune_output(&app.store)
            .await
            .unwrap()
            .deploys,
        1
    );
    let output = admin.deploy_output(&ids[2], false).await.unwrap();
    assert!(output.contains("more than 1 day(s) ago"), "{output}");
}

async fn deleting_a_project_stops_its_running_deploy(backend: Backend) {
    let (_app, admin) = app_with(backend, "echo ready; sleep 60").await;
    let started = deploy(&admin, DeployRequest::default()).await;
    wait_for_output(&admin, &started.id, "ready").await;
    admin.delete_project("app", None).await.unwrap();
    assert_eq!(status_of(admin.get_deploy(&started.id).await), 404);
    // Its supervisor finds its lease gone and stops the command.
    let marker = format!("JENY_DEPLOY_ID={}", started.id);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|entry| {
                let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
                let status =
                    std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
                !status.contains("State:\tZ")
                    && environ
                        .split(|byte| *byte == 0)
                        .any(|variable| variable == marker.as_bytes())
            })
            .count();
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} processes of the deleted project's deploy still run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn runner_concurrency_bounds_deploys_across_environments(backend: Backend) {
    let database = jeny_testkit::TestDatabase::create(backend).await;
    let app = TestApp::spawn_on(database, |config| config.deploy_runners = 1).await;
    let admin = app.with_admin().await;
    let mut input = project("app");
    input.deploy_command = "sleep 1".into();
    admin.create_project(&input).await.unwrap();
    for name in ["staging", "production"] {
        admin
            .create_environment("app", &environment(name, &[]))
            .await
            .unwrap();
    }
    let first = admin
        .create_deploy("app", "staging", &DeployRequest::default())
        .await
        .unwrap();
    wait_for_status(&admin, &first.id, DeployStatus::Running).await;
    let second = admin
        .create_deploy("app", "production", &DeployRequest::default())
        .await
        .unwrap();
    // One runner: the other environment's deploy waits although its environment is free.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        admin.get_deploy(&second.id).await.unwrap().status,
        DeployStatus::Queued
    );
    let first = admin.wait_for_deploy(&first.id).await.unwrap();
    let second = admin.wait_for_deploy(&second.id).await.unwrap();
    assert_eq!(second.status, DeployStatus::Succeeded);
    assert!(second.started_at.unwrap() >= first.finished_at.unwrap());
}

async fn a_cancelled_command_may_use_a_grace_period_longer_than_the_lease(backend: Backend) {
    // The test lease is 3 s; the command takes 5 s to clean up after SIGTERM, within its grace.
    let (_app, admin) = app_with(
        backend,
        "trap 'sleep 5; echo cleaned up; exit 0' TERM; echo ready; sleep 60 & wait",
    )
    .await;
    set_environment(&admin, |input| input.deploy_grace_secs = 30).await;
    let started = deploy(&admin, DeployRequest::default()).await;
    wait_for_output(&admin, &started.id, "ready").await;
    admin.cancel_deploy(&started.id).await.unwrap();
    let finished = admin.wait_for_deploy(&started.id).await.unwrap();
    let output = admin.deploy_output(&started.id, false).await.unwrap();
    assert_eq!(finished.status, DeployStatus::Cancelled, "{output}");
    assert!(output.contains("cleaned up"), "{output}");
}
