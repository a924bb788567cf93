//! A property-based run of the OpenAPI document against a real server: schemathesis
//! (`tests/peers/schemathesis/setup`) generates requests that the document says are valid for
//! every operation and sends them to `jeny server` on loopback, as an admin. No answer may be a
//! 5xx, and no operation may refuse most of what the document calls valid (a refusal there means
//! the document is missing a constraint the server enforces).
//!
//! The server runs as its own process so that what the generated data could make it reach stays
//! on loopback: it runs no deploy (`--deploy-runners 0`), its AWS SDK and its Slack settings point
//! at a closed port on 127.0.0.1, and it sees an empty `HOME` and no `JENY_*` variables.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A port on loopback where nothing listens: outgoing calls the generated data asks for
/// (AWS, Slack) fail there at once instead of leaving the machine.
const CLOSED_PORT_URL: &str = "http://127.0.0.1:9";
/// Test cases per operation and phase.
const EXAMPLES_PER_OPERATION: u32 = 25;
/// The least share of schema-valid requests an operation must accept.
const MIN_ACCEPTANCE: f64 = 0.5;

/// Operations whose refusals depend on the server's state or on rules across fields that the
/// document does not (yet) state, with why. They are still run and checked for server errors,
/// and their figures printed; an operation refused mostly for any other reason fails the test.
const REFUSED_BY_STATE: &[(&str, &str)] = &[
    (
        "POST /write",
        "the body must be line protocol and `db` an existing project",
    ),
    (
        "POST /api/v2/write",
        "the body must be line protocol and `bucket` an existing project",
    ),
    (
        "POST /api/v1/prom/write",
        "the body must be a snappy-compressed protobuf WriteRequest and `db` an existing project",
    ),
    (
        "GET /query",
        "q must be InfluxQL; its statements name an existing project",
    ),
    (
        "POST /api/v1/metrics/query",
        "the project must exist; aggregations, intervals and fills are grammars the schema does not state",
    ),
    ("GET /api/v1/metrics/measurements", "the project must exist"),
    ("GET /api/v1/metrics/field-keys", "the project must exist"),
    ("GET /api/v1/metrics/tag-keys", "the project must exist"),
    ("GET /api/v1/metrics/tag-values", "the project must exist"),
    (
        "POST /api/v1/projects/{project}/environments/{environment}/deploys",
        "a host_filter must match a host, and other operations clear the deploy command",
    ),
    (
        "POST /api/v1/deploys/{id}/redeploy",
        "other operations of the run clear the deploy command it needs",
    ),
    (
        "PUT /api/v1/people/{person}/grants",
        "a grant names an existing project and environment",
    ),
    (
        "POST /auth/device/token",
        "a device code is one the server handed out",
    ),
    (
        "POST /api/v1/aws/accounts",
        "credentials: a profile or an access key, not both; a secret key needs its id; an external id needs a role",
    ),
    (
        "PATCH /api/v1/aws/accounts/{account}",
        "the same credential rules, against what is stored",
    ),
];

fn schemathesis_program() -> PathBuf {
    let peers = std::env::var_os("JENY_PEERS_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/jeny/peers"),
        PathBuf::from,
    );
    let program = peers.join("schemathesis/bin/st");
    assert!(
        program.exists(),
        "a peer of the tests is missing: run tests/peers/schemathesis/setup ({} not found)",
        program.display()
    );
    program
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `jeny server` as a child process with a hermetic environment; killed when dropped.
struct Server {
    _child: tokio::process::Child,
    url: String,
    data_dir: PathBuf,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let data_dir = dir.join("data");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let port = free_port();
        let child = tokio::process::Command::new(jeny_testkit::jeny_program())
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--deploy-runners", "0", "--log", "error"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("JENY_DEPLOY_USER", jeny_testkit::deploy_user())
            .env("AWS_ENDPOINT_URL", CLOSED_PORT_URL)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start jeny server");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        jeny_testkit::poll_until(&format!("jeny server is ready at {url}"), || async {
            let ready = client.get(format!("{url}/readyz")).send().await;
            ready
                .is_ok_and(|response| response.status().is_success())
                .then_some(())
        })
        .await;
        Server {
            _child: child,
            url,
            data_dir,
        }
    }

    async fn admin_token(&self) -> String {
        let output = tokio::process::Command::new(jeny_testkit::jeny_program())
            .args([
                "admin",
                "token",
                "--email",
                "admin@example.com",
                "--role",
                "admin",
            ])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .await
            .expect("cannot run jeny admin token");
        assert!(
            output.status.success(),
            "jeny admin token failed: {output:?}"
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        stdout
            .lines()
            .map(str::trim)
            .rfind(|line| line.starts_with("jeny_"))
            .expect("jeny admin token prints a token")
            .to_owned()
    }
}

/// Sends one seeding request and returns its JSON answer; panics unless it succeeded.
async fn seed(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Value {
    let content_type = if method == reqwest::Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let response = client
        .request(method, &url)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "seeding {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// What the run works on: `app`/`production` with a host and variables to read and change, and
/// `scratch`/`staging`, `web-2`, `OLD_KEY` and `old` for the operations that delete.
async fn seed_data(url: &str, token: &str) -> String {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let api = format!("{url}/api/v1");
    use reqwest::Method;
    for project in ["app", "scratch"] {
        seed(
            &client,
            Method::POST,
            format!("{api}/projects"),
            json!({"name": project, "deploy_command": "true"}),
        )
        .await;
    }
    for environment in ["production", "staging"] {
        seed(
            &client,
            Method::POST,
            format!("{api}/projects/app/environments"),
            json!({"name": environment, "host_selector": {"role": "web"}, "deploy_command": "true"}),
        )
        .await;
    }
    for (host, address) in [("web-1", "10.0.0.1"), ("web-2", "10.0.0.2")] {
        seed(
            &client,
            Method::POST,
            format!("{api}/hosts"),
            json!({"name": host, "address": address, "tags": {"role": "web"}}),
        )
        .await;
    }
    for scope in ["projects/app", "projects/app/environments/production"] {
        for key in ["APP_MODE", "OLD_KEY"] {
            seed(
                &client,
                Method::POST,
                format!("{api}/{scope}/variables"),
                json!({"key": key, "value": "on"}),
            )
            .await;
        }
    }
    for account in ["main", "old"] {
        seed(
            &client,
            Method::POST,
            format!("{api}/aws/accounts"),
            json!({"name": account, "regions": ["eu-west-1"], "endpoint_url": CLOSED_PORT_URL,
                   "access_key_id": "AKIDEXAMPLE", "secret_access_key": "secret", "enabled": false}),
        )
        .await;
    }
    seed(
        &client,
        Method::PATCH,
        format!("{api}/chat/slack"),
        json!({"enabled": false, "api_url": format!("{CLOSED_PORT_URL}/api")}),
    )
    .await;
    let deploy = seed(
        &client,
        Method::POST,
        format!("{api}/projects/app/environments/production/deploys"),
        json!({"ref": "main", "description": "seeded"}),
    )
    .await;
    deploy["id"]
        .as_str()
        .expect("a deploy has an id")
        .to_owned()
}

/// The schemathesis configuration: which seeded thing each path parameter names, and, where the
/// body must repeat the name in the URL (names never change), that name.
fn config(deploy_id: &str) -> String {
    let mut config = format!(
        r#"
[parameters]
"path.project" = "app"
"path.environment" = "production"
"path.host" = "web-1"
"path.key" = "APP_MODE"
"path.account" = "main"
"path.person" = "admin@example.com"
"query.cursor" = ""

[checks.positive_data_acceptance]
# 412: a generated If-Match is not the resource's current ETag.
# 429: the sign-in routes' rate limit.
expected-statuses = ["2xx", "401", "403", "404", "409", "412", "429"]

[dictionaries.project]
values = ["app"]
[dictionaries.environment]
values = ["production"]
[dictionaries.host]
values = ["web-1"]
[dictionaries.key]
values = ["APP_MODE"]
[dictionaries.account]
values = ["main"]
[dictionaries.closed_url]
values = ["{CLOSED_PORT_URL}"]
[dictionaries.closed_slack_url]
values = ["{CLOSED_PORT_URL}/api"]

[[operations]]
include-path-regex = "^/api/v1/deploys/"
parameters = {{ "path.id" = "{deploy_id}" }}

[[operations]]
include-path = "/api/v1/chat/slack"
parameters = {{ "body.api_url" = {{ dictionary = "closed_slack_url" }} }}
"#
    );
    // Operations that delete what they name get a thing of their own.
    for (name, parameters) in [
        (
            "DELETE /api/v1/projects/{project}",
            r#""path.project" = "scratch""#,
        ),
        (
            "DELETE /api/v1/projects/{project}/environments/{environment}",
            r#""path.project" = "app", "path.environment" = "staging""#,
        ),
        ("DELETE /api/v1/hosts/{host}", r#""path.host" = "web-2""#),
        (
            "DELETE /api/v1/projects/{project}/variables/{key}",
            r#""path.project" = "app", "path.key" = "OLD_KEY""#,
        ),
        (
            "DELETE /api/v1/projects/{project}/environments/{environment}/variables/{key}",
            r#""path.project" = "app", "path.environment" = "production", "path.key" = "OLD_KEY""#,
        ),
        (
            "DELETE /api/v1/aws/accounts/{account}",
            r#""path.account" = "old""#,
        ),
    ] {
        config.push_str(&format!(
            "\n[[operations]]\ninclude-name = \"{name}\"\nparameters = {{ {parameters} }}\n"
        ));
    }
    // Updates must repeat the name in their URL.
    for (path, dictionary, extra) in [
        ("/api/v1/projects/{project}", "project", ""),
        (
            "/api/v1/projects/{project}/environments/{environment}",
            "environment",
            "",
        ),
        ("/api/v1/hosts/{host}", "host", ""),
        ("/api/v1/projects/{project}/variables/{key}", "key", ""),
        (
            "/api/v1/projects/{project}/environments/{environment}/variables/{key}",
            "key",
            "",
        ),
        (
            "/api/v1/aws/accounts/{account}",
            "account",
            r#", "body.endpoint_url" = { dictionary = "closed_url" }"#,
        ),
    ] {
        for method in ["PUT", "PATCH"] {
            let body_field = if dictionary == "key" { "key" } else { "name" };
            config.push_str(&format!(
                "\n[[operations]]\ninclude-name = \"{method} {path}\"\nparameters = {{ \"body.{body_field}\" = {{ dictionary = \"{dictionary}\" }}{extra} }}\n"
            ));
        }
    }
    config.push_str(
        r#"
[[operations]]
include-name = "POST /api/v1/aws/accounts"
parameters = { "body.endpoint_url" = { dictionary = "closed_url" } }
"#,
    );
    config
}

/// One operation's figures over every phase.
#[derive(Debug, Default)]
struct Rates {
    accepted: u64,
    rejected: u64,
    unreachable: u64,
    conflicts: u64,
}

impl Rates {
    fn acceptance(&self) -> Option<f64> {
        let judged = self.accepted + self.rejected;
        (judged > 0).then(|| self.accepted as f64 / judged as f64)
    }
}

fn rates_of(report: &Value) -> BTreeMap<String, Rates> {
    let mut rates = BTreeMap::new();
    let operations = report["valid_rates"]
        .as_object()
        .expect("the report has valid_rates");
    for (operation, phases) in operations {
        let mut total = Rates::default();
        for phase in phases
            .as_object()
            .into_iter()
            .flat_map(|phases| phases.values())
        {
            let count = |field: &str| phase[field].as_u64().unwrap_or(0);
            total.accepted += count("accepted");
            total.rejected += count("rejected");
            total.unreachable += count("unreachable");
            total.conflicts += count("conflicts");
        }
        rates.insert(operation.clone(), total);
    }
    rates
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_valid_requests_are_accepted_and_never_answered_with_a_server_error() {
    let schemathesis = schemathesis_program();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let token = server.admin_token().await;
    let deploy_id = seed_data(&server.url, &token).await;
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config(&deploy_id)).unwrap();
    let report_file = dir.path().join("report.json");

    let run = tokio::process::Command::new(&schemathesis)
        .current_dir(dir.path())
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.url))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--mode",
            "positive",
            "--phases",
            "examples,coverage,fuzzing",
        ])
        .args(["--checks", "not_a_server_error,positive_data_acceptance"])
        .args(["--max-examples", &EXAMPLES_PER_OPERATION.to_string()])
        .args(["--seed", "20261207", "--generation-database", "none"])
        .args([
            "--continue-on-failure",
            "--request-timeout",
            "10",
            "--workers",
            "2",
        ])
        .args(["--no-color", "--report", "json", "--report-json-path"])
        .arg(&report_file)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("schemathesis ran for more than 4 minutes")
        .expect("cannot run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let Ok(report) = std::fs::read_to_string(&report_file) else {
        panic!("schemathesis wrote no report:\n{stdout}\n{stderr}");
    };
    let report: Value = serde_json::from_str(&report).unwrap();

    let rates = rates_of(&report);
    let mut summary = String::new();
    let mut mostly_rejected = Vec::new();
    for (operation, rate) in &rates {
        let acceptance = rate.acceptance();
        let known = REFUSED_BY_STATE.iter().any(|(name, _)| name == operation);
        if acceptance.is_some_and(|share| share < MIN_ACCEPTANCE) && !known {
            mostly_rejected.push(operation.clone());
        }
        summary.push_str(&format!(
            "{operation}: accepted {}, rejected {}, not found {}, conflicts {}{}\n",
            rate.accepted,
            rate.rejected,
            rate.unreachable,
            rate.conflicts,
            acceptance.map_or(String::new(), |share| format!(
                " ({:.0}% accepted)",
                share * 100.0
            )),
        ));
    }
    eprintln!("schemathesis, per operation:\n{summary}");
    eprintln!(
        "schemathesis: {} operations tested, {} test cases",
        report["operations"]["tested"], report["test_cases"]["generated"]
    );

    let other_failures: Vec<&Value> = report["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|failure| failure["type"] != "RejectedPositiveData")
        .collect();
    assert!(
        other_failures.is_empty(),
        "schemathesis found failures other than refused valid data (server errors among them):\n{}\n{stdout}",
        serde_json::to_string_pretty(&other_failures).unwrap()
    );
    assert_eq!(
        report["operations"]["errored"], 0,
        "some operations could not be tested:\n{stdout}"
    );
    assert!(
        report["errors"].as_array().is_none_or(Vec::is_empty),
        "schemathesis had errors: {}",
        report["errors"]
    );
    assert_eq!(
        report["complete"], true,
        "the run did not complete:\n{stdout}"
    );
    assert!(
        rates.len() >= 70,
        "fewer operations than expected were tested: {}",
        rates.len()
    );
    assert!(
        mostly_rejected.is_empty(),
        "these operations refuse most of what the OpenAPI document calls valid, so the document \
         misses a constraint the server enforces: {mostly_rejected:?}\n{stdout}"
    );
}
