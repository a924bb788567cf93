//! A fake Slack for the chat tests: `tests/peers/slack/fake_slack.py` (aiohttp, with Slack's
//! own `slack_sdk` signing what it delivers), started on a free port. It serves the Web API and
//! Socket Mode as Slack does, records what jeny sent, and plays Slack's side on request: a
//! slash command, a button click or a mention, over the socket or as a signed HTTP request.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

pub const BOT_TOKEN: &str = "xoxb-test-token";
pub const APP_TOKEN: &str = "xapp-test-token";
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

pub struct SlackFake {
    /// The fake's base URL; the Web API is at `{url}/api`.
    pub url: String,
    http: reqwest::Client,
    _process: tokio::process::Child,
}

impl SlackFake {
    pub async fn start() -> SlackFake {
        let python = crate::peer_program("slack/bin/python", "tests/peers/slack/setup");
        let script = crate::workspace_file("tests/peers/slack/fake_slack.py");
        let mut process = tokio::process::Command::new(python)
            .arg(script)
            .args([
                "--port",
                "0",
                "--bot-token",
                BOT_TOKEN,
                "--app-token",
                APP_TOKEN,
            ])
            .args([
                "--signing-secret",
                SIGNING_SECRET,
                "--team",
                "T0TEST",
                "--bot-user",
                "UBOT",
            ])
            // The fake exits when its stdin closes: with this test process, whatever happens.
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start the fake Slack");
        let stdout = process.stdout.take().expect("its stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the fake Slack starts within 30 s")
            .expect("its stdout")
            .expect("a first line");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the fake Slack said {first:?}"))
            .trim()
            .to_owned();
        SlackFake {
            url,
            http: reqwest::Client::new(),
            _process: process,
        }
    }

    /// The Web API base URL to configure in jeny.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/_test/{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the fake Slack answers");
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(Value::Null);
        (status, value)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.control(reqwest::Method::POST, path, Some(body)).await;
        assert!(
            status < 300,
            "the fake Slack answered {status} to {path}: {value}"
        );
        value
    }

    async fn get(&self, path: &str) -> Value {
        self.control(reqwest::Method::GET, path, None).await.1
    }

    pub async fn add_user(&self, id: &str, email: &str, confirmed: bool) {
        self.post("users", json!({"id": id, "email": email, "name": id.to_lowercase(), "is_email_confirmed": confirmed}))
            .await;
    }

    /// `/jeny TEXT` from `user` in `channel`, over the socket (`http_url` none) or as a signed
    /// request to `http_url`. Answers the fake's report (`ack` or the HTTP `status`/`body`).
    pub async fn command(
        &self,
        http_url: Option<&str>,
        user: &str,
        channel: &str,
        text: &str,
    ) -> Value {
        self.post(
            "command",
            via(
                http_url,
                json!({"user_id": user, "channel_id": channel, "text": text, "command": "/jeny"}),
            ),
        )
        .await
    }

    /// Like `command`, but may fail (409 without a socket, 504 without an ack).
    pub async fn try_command(&self, user: &str, channel: &str, text: &str) -> (u16, Value) {
        let body = json!({"via": "socket", "user_id": user, "channel_id": channel, "text": text, "command": "/jeny"});
        self.control(reqwest::Method::POST, "command", Some(body))
            .await
    }

    /// A click on the button `action_id` of a message (by `ts`) or of a command's answer (by
    /// its response id).
    pub async fn click(
        &self,
        http_url: Option<&str>,
        user: &str,
        channel: &str,
        target: Target<'_>,
        action_id: &str,
    ) -> Value {
        let mut body = json!({"user_id": user, "channel_id": channel, "action_id": action_id});
        match target {
            Target::Message(ts) => body["message_ts"] = json!(ts),
            Target::Response(id) => body["response_id"] = json!(id),
        }
        self.post("action", via(http_url, body)).await
    }

    /// Like `click` over HTTP, with fields of the delivery overridden (`response_url`, ...).
    pub async fn click_with(
        &self,
        http_url: &str,
        user: &str,
        channel: &str,
        target: Target<'_>,
        action_id: &str,
        overrides: Value,
    ) -> Value {
        let mut body = json!({"user_id": user, "channel_id": channel, "action_id": action_id});
        match target {
            Target::Message(ts) => body["message_ts"] = json!(ts),
            Target::Response(id) => body["response_id"] = json!(id),
        }
        let mut body = via(Some(http_url), body);
        if let (Some(body), Some(overrides)) = (body.as_object_mut(), overrides.as_object()) {
            body.extend(overrides.clone());
        }
        self.control(reqwest::Method::POST, "action", Some(body))
            .await
            .1
    }

    /// Sends a delivery again exactly as it was sent (same headers, same body, same signature):
    /// what someone who captured it would do. Answers the status and body.
    pub async fn replay(&self, http_url: &str, delivery: &Value) -> (u16, String) {
        let mut request = self.http.post(http_url);
        if let Some(headers) = delivery["sent"]["headers"].as_object() {
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str().unwrap_or(""));
            }
        }
        let body = delivery["sent"]["body"].as_str().unwrap_or("").to_owned();
        let response = request.body(body).send().await.expect("jeny answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    pub async fn mention(
        &self,
        http_url: Option<&str>,
        user: &str,
        channel: &str,
        text: &str,
    ) -> Value {
        self.post(
            "mention",
            via(
                http_url,
                json!({"user_id": user, "channel_id": channel, "text": text}),
            ),
        )
        .await
    }

    /// A raw delivery to jeny over HTTP with overrides (`timestamp`, `signature`, ...).
    pub async fn deliver_command_with(
        &self,
        http_url: &str,
        text: &str,
        overrides: Value,
    ) -> Value {
        let mut body = json!({"via": "http", "url": http_url, "user_id": "U1", "channel_id": "C0GENERAL", "text": text, "command": "/jeny"});
        if let (Some(body), Some(overrides)) = (body.as_object_mut(), overrides.as_object()) {
            body.extend(overrides.clone());
        }
        self.post("command", body).await
    }

    pub async fn url_verification(&self, http_url: &str) -> Value {
        self.post("url_verification", json!({"url": http_url}))
            .await
    }

    /// Messages of a channel (by id or name; every channel when empty), in posting order, each
    /// with every version.
    pub async fn messages(&self, channel: &str) -> Vec<Value> {
        let path = if channel.is_empty() {
            "messages".to_owned()
        } else {
            format!("messages?channel={}", urlencode(channel))
        };
        let value = self.get(&path).await;
        value["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Every Web API call of `method` jeny made, in order.
    pub async fn calls(&self, method: &str) -> Vec<Value> {
        let value = self.get(&format!("calls?method={method}")).await;
        value["calls"].as_array().cloned().unwrap_or_default()
    }

    /// What jeny posted to `response_url`s (and command answers), in order.
    pub async fn responses(&self) -> Vec<Value> {
        self.get("responses").await["responses"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn ephemerals(&self) -> Vec<Value> {
        self.get("ephemerals").await["ephemerals"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn rate_limit(&self, method: &str, count: u32, retry_after_secs: u32) {
        self.post(
            "rate_limit",
            json!({"method": method, "count": count, "retry_after": retry_after_secs}),
        )
        .await;
    }

    pub async fn outage(&self, on: bool) {
        self.post("outage", json!({"on": on, "mode": "503"})).await;
    }

    /// `connections`, `opened_total`, `tickets_issued`, `envelopes`.
    pub async fn socket(&self) -> Value {
        self.get("socket").await
    }

    /// Sends Slack's `disconnect` message on every open socket.
    pub async fn disconnect(&self) {
        self.post(
            "socket/disconnect",
            json!({"reason": "refresh_requested", "close_after": 3}),
        )
        .await;
    }

    /// Cuts every open socket without a close frame.
    pub async fn drop_sockets(&self) {
        self.post("socket/drop", json!({})).await;
    }

    /// Waits until `opened_total` reaches `count` with a socket open (jeny connected).
    pub async fn wait_for_socket(&self, opened_total: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let socket = self.socket().await;
            if socket["opened_total"].as_u64().unwrap_or(0) >= opened_total
                && socket["connections"].as_u64().unwrap_or(0) >= 1
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "jeny did not open socket {opened_total}: {socket}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What a click is on.
pub enum Target<'a> {
    Message(&'a str),
    Response(&'a str),
}

fn via(http_url: Option<&str>, mut body: Value) -> Value {
    match http_url {
        Some(url) => {
            body["via"] = json!("http");
            body["url"] = json!(url);
        }
        None => body["via"] = json!("socket"),
    }
    body
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
