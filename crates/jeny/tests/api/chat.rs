//! The Slack bot against a fake Slack that speaks Slack's wire format (`tests/peers/slack`,
//! which signs its HTTP deliveries with `slack_sdk`'s own code): commands over signed HTTP and
//! over Socket Mode, refused for a viewer and for bad or stale signatures; production deploys
//! confirmed by a button; the live message updated in order; buttons checked against the
//! clicker's role; a failure's thread; a restart in the middle of a deploy; Slack's rate limits
//! and an outage; socket reconnection; replayed requests acted on once, and a `response_url`
//! called only on Slack's host.

use crate::{call, environment, host, project};
use jeny_testkit::slack::{APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, Target};
use jeny_testkit::{Backend, Client, SlackFake, TestApp, TestDatabase, both_backends};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn spawn(database: TestDatabase) -> TestApp {
    TestApp::spawn_on(database, |config| {
        config.sign_in.allowlist = vec!["@example.com".to_owned()];
    })
    .await
}

/// Project `shop` with `staging` and `production` (one host each way), people U1 (deployer), U2
/// (viewer) and U3 (someone jeny does not know) in Slack, and chat set up in `mode`.
async fn set_up(app: &TestApp, slack: &SlackFake, mode: &str, command: &str) -> Client {
    let admin = app.with_admin().await;
    let mut shop = project("shop");
    shop.deploy_command = command.to_owned();
    admin.create_project(&shop).await.unwrap();
    for name in ["staging", "production"] {
        admin
            .create_environment("shop", &environment(name, &[("role", "web")]))
            .await
            .unwrap();
    }
    admin
        .create_host(&host("web-1", &[("role", "web")]))
        .await
        .unwrap();
    // The people exist in jeny (as they would after signing in once).
    app.with_deployer().await;
    app.with_viewer().await;
    slack.add_user("U1", "deployer@example.com", true).await;
    slack.add_user("U2", "viewer@example.com", true).await;
    slack.add_user("U3", "stranger@elsewhere.org", true).await;
    slack.add_user("U4", "deployer@example.com", false).await;
    let (status, settings) = call(
        &admin,
        Method::PATCH,
        "/api/v1/chat/slack",
        Some(json!({
            "enabled": true, "mode": mode, "bot_token": BOT_TOKEN, "app_token": APP_TOKEN,
            "signing_secret": SIGNING_SECRET, "api_url": slack.api_url(), "default_channel": "#deploys",
        })),
    )
    .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["bot_token_set"], true);
    assert!(
        !settings.to_string().contains(BOT_TOKEN),
        "a token is never shown: {settings}"
    );
    admin
}

async fn deploys_of(client: &Client, environment: &str) -> Vec<jeny_deploys::Deploy> {
    client
        .list_deploys(Some("shop"), Some(environment), None, None, None)
        .await
        .unwrap()
        .items
}

/// The text of a command's answer (an ack payload over the socket, the body over HTTP).
fn answer_text(report: &Value) -> String {
    if let Some(body) = report["body"].as_str() {
        let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        return body.to_string();
    }
    report["ack"].to_string()
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The messages about one deploy in a channel (its metadata, or its id in the text).
async fn messages_about(slack: &SlackFake, channel: &str, deploy_id: &str) -> Vec<Value> {
    slack
        .messages(channel)
        .await
        .into_iter()
        .filter(|message| {
            message["thread_ts"].is_null() && message["versions"].to_string().contains(deploy_id)
        })
        .collect()
}

fn status_rank(version: &Value) -> usize {
    let text = version["text"].as_str().unwrap_or("");
    [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "timed out",
        "errored",
        "interrupted",
    ]
    .iter()
    .position(|status| text.starts_with(&format!("Deploy {status}")))
    .map_or(99, |rank| rank.min(2))
}

/// Waits for the deploy's one message to show `status`; checks it never went backwards.
async fn wait_for_message(slack: &SlackFake, deploy_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let found = loop {
        let messages = messages_about(slack, "#deploys", deploy_id).await;
        let messages = if messages.is_empty() {
            all_channels_about(slack, deploy_id).await
        } else {
            messages
        };
        assert!(messages.len() <= 1, "one message per deploy: {messages:?}");
        if let Some(message) = messages.into_iter().next() {
            let last = message["versions"]
                .as_array()
                .and_then(|v| v.last())
                .cloned()
                .unwrap_or_default();
            if last["text"]
                .as_str()
                .unwrap_or("")
                .starts_with(&format!("Deploy {status}"))
            {
                break message;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no message saying deploy {deploy_id} {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ranks: Vec<usize> = found["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(status_rank)
        .collect();
    assert!(
        ranks.windows(2).all(|pair| pair[0] <= pair[1]),
        "updates in order: {ranks:?} in {found}"
    );
    assert!(
        ranks.iter().all(|rank| *rank != 99),
        "every version names its status: {found}"
    );
    found
}

/// The top-level messages about a deploy in any channel.
async fn all_channels_about(slack: &SlackFake, deploy_id: &str) -> Vec<Value> {
    slack
        .messages("")
        .await
        .into_iter()
        .filter(|message| {
            message["thread_ts"].is_null() && message["versions"].to_string().contains(deploy_id)
        })
        .collect()
}

async fn commands_over_signed_http_act_as_the_person(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "http", "echo deployed").await;
    let commands = format!("{}/chat/slack/commands", app.url);
    // Slack checks the events URL first.
    let verification = slack
        .url_verification(&format!("{}/chat/slack/events", app.url))
        .await;
    assert_eq!(verification["status"], 200, "{verification}");
    assert!(
        verification["body"]
            .as_str()
            .unwrap()
            .contains(verification["challenge"].as_str().unwrap())
    );

    let deployed = slack
        .command(Some(&commands), "U1", "C0GENERAL", "deploy shop staging v1")
        .await;
    assert_eq!(deployed["status"], 200, "{deployed}");
    assert!(answer_text(&deployed).contains("follow it"), "{deployed}");
    let staging = deploys_of(&admin, "staging").await;
    assert_eq!(staging.len(), 1);
    assert_eq!(
        staging[0].user, "deployer@example.com",
        "the deploy is the person's"
    );
    assert_eq!(staging[0].git_ref.as_deref(), Some("v1"));

    let refused = slack
        .command(Some(&commands), "U2", "C0GENERAL", "deploy shop staging")
        .await;
    assert!(
        answer_text(&refused).contains("needs the deployer role"),
        "{refused}"
    );
    let stranger = slack
        .command(Some(&commands), "U3", "C0GENERAL", "deploy shop staging")
        .await;
    assert!(
        answer_text(&stranger).contains("no access to jeny"),
        "{stranger}"
    );
    let unconfirmed = slack
        .command(Some(&commands), "U4", "C0GENERAL", "deploy shop staging")
        .await;
    assert!(
        answer_text(&unconfirmed).contains("no confirmed email"),
        "{unconfirmed}"
    );
    let typo = slack
        .command(Some(&commands), "U1", "C0GENERAL", "deploy shpo staging")
        .await;
    assert!(answer_text(&typo).contains("Did you mean *shop*"), "{typo}");
    // The same commands said to the bot in a channel, answered in the thread.
    let mention = slack
        .mention(
            Some(&format!("{}/chat/slack/events", app.url)),
            "U1",
            "C0GENERAL",
            "<@UBOT> deploys shop",
        )
        .await;
    assert_eq!(mention["status"], 200, "{mention}");
    let mention_ts = mention["ts"].as_str().unwrap().to_owned();
    wait_until("the answer in the mention's thread", || async {
        slack.messages("C0GENERAL").await.iter().any(|reply| {
            reply["thread_ts"] == mention_ts.as_str()
                && reply["versions"]
                    .to_string()
                    .contains("The latest deploys of")
        })
    })
    .await;
    let help = slack
        .command(Some(&commands), "U3", "C0GENERAL", "help")
        .await;
    assert!(
        answer_text(&help).contains("/jeny deploy PROJECT ENV"),
        "{help}"
    );

    // Forged, stale and unsigned requests are refused and change nothing.
    let stale_time = jeny_core::Timestamp::now().as_micros() / 1_000_000 - 600;
    for overrides in [
        json!({"signature": "v0=0000000000000000000000000000000000000000000000000000000000000000"}),
        json!({"timestamp": stale_time}),
        json!({"omit_signature": true}),
    ] {
        let report = slack
            .deliver_command_with(&commands, "deploy shop staging", overrides.clone())
            .await;
        assert_eq!(report["status"], 401, "{overrides}: {report}");
        let problem: Value = serde_json::from_str(report["body"].as_str().unwrap()).unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains("Slack")
                || problem["detail"].as_str().unwrap().contains("timestamp"),
            "{problem}"
        );
    }
    assert_eq!(
        deploys_of(&admin, "staging").await.len(),
        1,
        "nothing more was deployed"
    );
}

async fn production_deploys_are_confirmed_with_a_button(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "socket", "echo deployed").await;
    slack.wait_for_socket(1).await;
    // "prod" is not an environment: the answer asks whether production was meant.
    let asked = slack
        .command(None, "U1", "C0GENERAL", "deploy shop prod v2")
        .await;
    let ack = asked["ack"].to_string();
    assert!(ack.contains("Did you mean *production*"), "{asked}");
    assert!(ack.contains("deploy_confirm"), "{asked}");
    assert!(
        deploys_of(&admin, "production").await.is_empty(),
        "nothing runs before the confirmation"
    );
    let response_id = asked["response_id"]
        .as_str()
        .expect("the answer can be clicked")
        .to_owned();
    slack
        .click(
            None,
            "U1",
            "C0GENERAL",
            Target::Response(&response_id),
            "deploy_confirm",
        )
        .await;
    wait_until("the confirmed deploy", || async {
        deploys_of(&admin, "production").await.len() == 1
    })
    .await;
    let deploy = &deploys_of(&admin, "production").await[0];
    assert_eq!(deploy.user, "deployer@example.com");
    assert_eq!(deploy.git_ref.as_deref(), Some("v2"));
    // The question was replaced by the answer.
    wait_until("the question replaced", || async {
        slack.responses().await.iter().any(|response| {
            response["body"]["replace_original"] == true
                && response["body"].to_string().contains("follow it")
        })
    })
    .await;
    // The exact name asks too, since it is production.
    let again = slack
        .command(None, "U1", "C0GENERAL", "deploy shop production")
        .await;
    assert!(
        again["ack"].to_string().contains("Deploy to *production*?"),
        "{again}"
    );
    let dismissed = again["response_id"].as_str().unwrap().to_owned();
    slack
        .click(
            None,
            "U1",
            "C0GENERAL",
            Target::Response(&dismissed),
            "dismiss",
        )
        .await;
    wait_until("the question deleted", || async {
        slack
            .responses()
            .await
            .iter()
            .any(|response| response["body"]["delete_original"] == true)
    })
    .await;
    assert_eq!(
        deploys_of(&admin, "production").await.len(),
        1,
        "never mind starts nothing"
    );
}

async fn the_live_message_follows_the_deploy_and_its_buttons_check_roles(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(
        &app,
        &slack,
        "http",
        "echo step one; sleep 1.5; echo step two",
    )
    .await;
    let interactions = format!("{}/chat/slack/interactions", app.url);
    // A deploy started anywhere (here: the API) gets one message, updated as it moves.
    let first = admin
        .create_deploy("shop", "staging", &Default::default())
        .await
        .unwrap();
    admin.wait_for_deploy(&first.id).await.unwrap();
    let message = wait_for_message(&slack, &first.id, "succeeded").await;
    let last = message["versions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .to_string();
    assert!(
        last.contains(&format!("{}/p/shop/deploys/{}", app.url, first.id)),
        "a deep link: {last}"
    );
    assert!(
        last.contains("deploy_redeploy"),
        "a finished deploy offers a redeploy: {last}"
    );
    assert!(
        !slack.calls("chat.update").await.is_empty(),
        "it was updated in place"
    );
    // Its Redeploy button runs the same thing again, as the person who clicked (staging: no
    // confirmation).
    let first_ts = message["ts"].as_str().unwrap().to_owned();
    let first_channel = message["channel"].as_str().unwrap().to_owned();
    slack
        .click(
            Some(&interactions),
            "U1",
            &first_channel,
            Target::Message(&first_ts),
            "deploy_redeploy",
        )
        .await;
    wait_until("the redeploy", || async {
        deploys_of(&admin, "staging").await.len() == 2
    })
    .await;
    let redeployed = deploys_of(&admin, "staging").await[0].clone();
    assert_eq!(redeployed.redeploy_of.as_deref(), Some(first.id.as_str()));
    assert_eq!(redeployed.user, "deployer@example.com");
    admin.wait_for_deploy(&redeployed.id).await.unwrap();

    // A failure: the end of the output in the message's thread.
    let mut failing = environment("staging", &[("role", "web")]);
    failing.deploy_command = Some("echo the database is gone; exit 3".to_owned());
    admin
        .replace_environment("shop", "staging", &failing, None)
        .await
        .unwrap();
    let failed = admin
        .create_deploy("shop", "staging", &Default::default())
        .await
        .unwrap();
    let message = wait_for_message(&slack, &failed.id, "failed").await;
    let ts = message["ts"].as_str().unwrap().to_owned();
    wait_until("the output's end in the thread", || async {
        slack.messages("#deploys").await.iter().any(|reply| {
            reply["thread_ts"] == ts.as_str()
                && reply["versions"]
                    .to_string()
                    .contains("the database is gone")
        })
    })
    .await;

    // Cancel: refused for a viewer, done for a deployer.
    failing.deploy_command = Some("sleep 30".to_owned());
    admin
        .replace_environment("shop", "staging", &failing, None)
        .await
        .unwrap();
    let long = admin
        .create_deploy("shop", "staging", &Default::default())
        .await
        .unwrap();
    let message = wait_for_message(&slack, &long.id, "running").await;
    let ts = message["ts"].as_str().unwrap().to_owned();
    let channel = message["channel"].as_str().unwrap().to_owned();
    slack
        .click(
            Some(&interactions),
            "U2",
            &channel,
            Target::Message(&ts),
            "deploy_cancel",
        )
        .await;
    wait_until("the viewer told no", || async {
        let said = slack
            .ephemerals()
            .await
            .iter()
            .chain(slack.responses().await.iter())
            .map(Value::to_string)
            .collect::<String>();
        said.contains("needs the deployer role")
    })
    .await;
    assert_eq!(
        admin.get_deploy(&long.id).await.unwrap().status,
        jeny_deploys::DeployStatus::Running
    );
    slack
        .click(
            Some(&interactions),
            "U1",
            &channel,
            Target::Message(&ts),
            "deploy_cancel",
        )
        .await;
    wait_for_message(&slack, &long.id, "cancelled").await;
    let cancelled = admin.get_deploy(&long.id).await.unwrap();
    assert_eq!(
        cancelled.cancelled_by.as_deref(),
        Some("deployer@example.com")
    );
}

async fn a_restart_mid_deploy_loses_and_repeats_nothing(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "http", "echo start; sleep 4; echo end").await;
    let deploy = admin
        .create_deploy("shop", "staging", &Default::default())
        .await
        .unwrap();
    wait_for_message(&slack, &deploy.id, "running").await;
    let database = app.stop().await;
    // jeny crashed just as it posted: the post is recorded without its ts.
    let app = spawn(database).await;
    crate::exec_sql(
        &app,
        &format!(
            "UPDATE chat_posts SET ts = NULL WHERE key = 'deploy:{}'",
            deploy.id
        ),
    )
    .await;
    let admin = app.with_admin().await;
    admin.wait_for_deploy(&deploy.id).await.unwrap();
    let message = wait_for_message(&slack, &deploy.id, "succeeded").await;
    assert_eq!(
        messages_about(&slack, "#deploys", &deploy.id).await.len(),
        1,
        "not posted again: {message}"
    );
    let posts = slack.calls("chat.postMessage").await;
    let posted_for_it = posts
        .iter()
        .filter(|call| call["params"].to_string().contains(&deploy.id) && call["status"] == 200)
        .count();
    assert_eq!(posted_for_it, 1, "one post: {posts:?}");
}

async fn slack_rate_limits_and_outages_are_waited_out(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "http", "echo deployed").await;
    slack.rate_limit("chat.postMessage", 1, 1).await;
    let deploy = admin
        .create_deploy("shop", "staging", &Default::default())
        .await
        .unwrap();
    wait_for_message(&slack, &deploy.id, "succeeded").await;
    let statuses: Vec<u64> = slack
        .calls("chat.postMessage")
        .await
        .iter()
        .map(|call| call["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.first(), Some(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");

    // Slack down: the deploy runs as ever; its message comes once Slack is back.
    slack.outage(true).await;
    let during = admin
        .create_deploy("shop", "staging", &Default::default())
        .await
        .unwrap();
    let finished = admin.wait_for_deploy(&during.id).await.unwrap();
    assert_eq!(finished.status, jeny_deploys::DeployStatus::Succeeded);
    assert!(
        messages_about(&slack, "#deploys", &during.id)
            .await
            .is_empty()
    );
    slack.outage(false).await;
    wait_for_message(&slack, &during.id, "succeeded").await;
}

async fn socket_mode_reconnects(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "socket", "echo deployed").await;
    slack.wait_for_socket(1).await;
    let (_, settings) = call(&admin, Method::GET, "/api/v1/chat/slack", None).await;
    assert_eq!(settings["connection"]["state"], "connected", "{settings}");
    slack.disconnect().await;
    slack.wait_for_socket(2).await;
    let status = slack.command(None, "U2", "C0GENERAL", "status shop").await;
    assert!(
        status["ack"].to_string().contains("nothing deployed yet"),
        "{status}"
    );
    slack.drop_sockets().await;
    slack.wait_for_socket(3).await;
    let deployed = slack
        .command(None, "U1", "C0GENERAL", "deploy shop staging")
        .await;
    assert!(
        deployed["ack"].to_string().contains("follow it"),
        "{deployed}"
    );
    // Turning chat off closes the socket.
    let (status, _) = call(
        &admin,
        Method::PATCH,
        "/api/v1/chat/slack",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    wait_until("the socket closed", || async {
        slack.socket().await["connections"] == 0
    })
    .await;
}

async fn settings_and_channels_are_checked(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "http", "echo deployed").await;
    let viewer = app.with_viewer().await;
    let deployer = app.with_deployer().await;
    let before = call(&admin, Method::GET, "/api/v1/chat/slack", None)
        .await
        .1;
    for (patch, field) in [
        (json!({"bot_token": null}), "bot_token"),
        (json!({"mode": "socket", "app_token": null}), "app_token"),
        (json!({"bot_token": "not-a-bot-token"}), "bot_token"),
        (
            json!({"default_channel": "no spaces please"}),
            "default_channel",
        ),
        (json!({"api_url": "ftp://x"}), "api_url"),
        (json!({"color": "blue"}), "color"),
    ] {
        let (status, problem) = call(
            &admin,
            Method::PATCH,
            "/api/v1/chat/slack",
            Some(patch.clone()),
        )
        .await;
        assert_eq!(status, 422, "{patch}: {problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    assert_eq!(
        call(&admin, Method::GET, "/api/v1/chat/slack", None)
            .await
            .1["bot_token_set"],
        before["bot_token_set"],
        "nothing changed"
    );
    let (status, _) = call(
        &viewer,
        Method::PATCH,
        "/api/v1/chat/slack",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, settings) = call(&viewer, Method::GET, "/api/v1/chat/slack", None).await;
    assert_eq!(status, 200);
    assert!(!settings.to_string().contains("xoxb"), "{settings}");

    // Channels: production's own channel; the viewer may not set them, a deployer may.
    let channels = json!({"channel": "#shop", "environments": {"production": "#shop-prod"}});
    let (status, _) = call(
        &viewer,
        Method::PUT,
        "/api/v1/chat/channels/shop",
        Some(channels.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, problem) = call(
        &deployer,
        Method::PUT,
        "/api/v1/chat/channels/shop",
        Some(json!({"environments": {"qa": "#qa"}})),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("environments.qa")),
        "{problem}"
    );
    let (status, saved) = call(
        &deployer,
        Method::PUT,
        "/api/v1/chat/channels/shop",
        Some(channels.clone()),
    )
    .await;
    assert_eq!((status, &saved), (200, &channels));
    let production = admin
        .create_deploy("shop", "production", &Default::default())
        .await
        .unwrap();
    let staging = admin
        .create_deploy("shop", "staging", &Default::default())
        .await
        .unwrap();
    wait_until("messages in the project's channels", || async {
        slack
            .messages("#shop-prod")
            .await
            .iter()
            .any(|m| m["versions"].to_string().contains(&production.id))
            && slack
                .messages("#shop")
                .await
                .iter()
                .any(|m| m["versions"].to_string().contains(&staging.id))
    })
    .await;
    assert!(
        messages_about(&slack, "#deploys", &production.id)
            .await
            .is_empty()
    );
}

async fn a_replayed_slash_command_queues_one_deploy(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "http", "echo deployed").await;
    let commands = format!("{}/chat/slack/commands", app.url);
    let deployed = slack
        .command(Some(&commands), "U1", "C0GENERAL", "deploy shop staging")
        .await;
    assert!(answer_text(&deployed).contains("follow it"), "{deployed}");
    assert_eq!(deploys_of(&admin, "staging").await.len(), 1);

    // The same signed request again, within its five minutes: answered, nothing done.
    let (status, body) = slack.replay(&commands, &deployed).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("follow it"), "{body}");
    assert_eq!(
        deploys_of(&admin, "staging").await.len(),
        1,
        "a replay queues nothing"
    );

    // Remembered in the database: a restarted server (or another node) knows it too.
    let database = app.stop().await;
    let app = spawn(database).await;
    let admin = app.with_admin().await;
    let commands = format!("{}/chat/slack/commands", app.url);
    let (status, body) = slack.replay(&commands, &deployed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        deploys_of(&admin, "staging").await.len(),
        1,
        "a replay after a restart queues nothing"
    );
}

async fn a_replayed_click_queues_one_deploy(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "http", "echo deployed").await;
    let interactions = format!("{}/chat/slack/interactions", app.url);
    let first = admin
        .create_deploy("shop", "staging", &Default::default())
        .await
        .unwrap();
    admin.wait_for_deploy(&first.id).await.unwrap();
    let message = wait_for_message(&slack, &first.id, "succeeded").await;
    let ts = message["ts"].as_str().unwrap().to_owned();
    let channel = message["channel"].as_str().unwrap().to_owned();
    let click = slack
        .click(
            Some(&interactions),
            "U1",
            &channel,
            Target::Message(&ts),
            "deploy_redeploy",
        )
        .await;
    assert_eq!(click["status"], 200, "{click}");
    wait_until("the redeploy", || async {
        deploys_of(&admin, "staging").await.len() == 2
    })
    .await;

    let (status, body) = slack.replay(&interactions, &click).await;
    assert_eq!(status, 200, "Slack gets the answer it expects: {body}");
    // A new click after the replay: once its deploy is there, the replay's would be too.
    let again = slack
        .click(
            Some(&interactions),
            "U1",
            &channel,
            Target::Message(&ts),
            "deploy_redeploy",
        )
        .await;
    assert_eq!(again["status"], 200, "{again}");
    wait_until("the second click's redeploy", || async {
        deploys_of(&admin, "staging").await.len() >= 3
    })
    .await;
    for deploy in deploys_of(&admin, "staging").await {
        admin.wait_for_deploy(&deploy.id).await.unwrap();
    }
    assert_eq!(
        deploys_of(&admin, "staging").await.len(),
        3,
        "the first deploy and one redeploy per click; the replay queued nothing"
    );
}

async fn a_response_url_on_another_host_is_not_called(backend: Backend) {
    let slack = SlackFake::start().await;
    let app = spawn(TestDatabase::create(backend).await).await;
    let admin = set_up(&app, &slack, "http", "echo deployed").await;
    let commands = format!("{}/chat/slack/commands", app.url);
    let interactions = format!("{}/chat/slack/interactions", app.url);
    let asked = slack
        .command(Some(&commands), "U1", "C0GENERAL", "deploy shop production")
        .await;
    assert!(answer_text(&asked).contains("deploy_confirm"), "{asked}");
    let response_id = asked["response_id"].as_str().unwrap().to_owned();
    // Somewhere else jeny can reach: it must never receive a connection.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let foreign = format!(
        "http://localhost:{}/steal",
        elsewhere.local_addr().unwrap().port()
    );

    let report = slack
        .click_with(
            &interactions,
            "U1",
            "C0GENERAL",
            Target::Response(&response_id),
            "deploy_confirm",
            json!({"response_url": foreign}),
        )
        .await;
    assert_eq!(report["status"], 422, "{report}");
    let problem: Value = serde_json::from_str(report["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["field"], "response_url", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("hooks.slack.com"),
        "{problem}"
    );
    assert!(
        deploys_of(&admin, "production").await.is_empty(),
        "a refused click starts nothing"
    );
    assert_eq!(
        elsewhere.accept().map_err(|error| error.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "the foreign response_url was not called"
    );

    // The same button with Slack's own response_url works.
    slack
        .click(
            Some(&interactions),
            "U1",
            "C0GENERAL",
            Target::Response(&response_id),
            "deploy_confirm",
        )
        .await;
    wait_until("the confirmed deploy", || async {
        deploys_of(&admin, "production").await.len() == 1
    })
    .await;
    wait_until("the question replaced", || async {
        slack.responses().await.iter().any(|response| {
            response["body"]["replace_original"] == true
                && response["body"].to_string().contains("follow it")
        })
    })
    .await;
}

both_backends!(
    commands_over_signed_http_act_as_the_person,
    production_deploys_are_confirmed_with_a_button,
    the_live_message_follows_the_deploy_and_its_buttons_check_roles,
    a_restart_mid_deploy_loses_and_repeats_nothing,
    slack_rate_limits_and_outages_are_waited_out,
    socket_mode_reconnects,
    settings_and_channels_are_checked,
    a_replayed_slash_command_queues_one_deploy,
    a_replayed_click_queues_one_deploy,
    a_response_url_on_another_host_is_not_called,
);
