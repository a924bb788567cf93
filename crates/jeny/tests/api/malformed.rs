//! Bad input, on purpose: random and malformed bodies, wrong content types, oversized bodies and
//! odd path segments sent to every route that takes input. Every answer must be a 4xx
//! problem+json (never a 5xx, never a success), and the store must be exactly as before.

use crate::seeded;
use jeny_store::Row;
use jeny_testkit::{Backend, Client, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*), so a failure can be replayed from its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn string(&mut self) -> String {
        let alphabet: Vec<char> = "aZ09_-.=,/ \u{e9}\u{1F600}\"\\\n\t\u{0}%{}[]"
            .chars()
            .collect();
        (0..self.below(12))
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize])
            .collect()
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => json!((self.next() as f64) / 7.0),
            4 => json!(self.string()),
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => self.object(depth + 1),
        }
    }

    /// An object with at least one member no route knows (its name has an uppercase letter or
    /// a digit; jeny's fields are lowercase words), so it can never be valid input.
    fn object(&mut self, depth: u32) -> Value {
        let mut members = serde_json::Map::new();
        members.insert(
            format!("Unknown{}", self.below(1000)),
            self.value(depth + 1),
        );
        for _ in 0..self.below(4) {
            let key = self.string();
            let value = self.value(depth + 1);
            members.insert(key, value);
        }
        Value::Object(members)
    }
}

/// Bodies that are JSON objects with real field names but invalid values.
fn invalid_known_fields() -> Vec<Value> {
    vec![
        json!({"name": 5}),
        json!({"name": "Not Valid"}),
        json!({"name": ["web"]}),
        json!({"title": {"a": 1}}),
        json!({"description": 12}),
        json!({"deploy_command": false}),
        json!({"repository": "has space"}),
        json!({"host_selector": []}),
        json!({"host_selector": {"a=b": "c"}}),
        json!({"host_selector": {"k": 1}}),
        json!({"deploy_timeout_secs": -1}),
        json!({"deploy_timeout_secs": 0}),
        json!({"deploy_timeout_secs": 1e100}),
        json!({"deploy_timeout_secs": "60"}),
        json!({"address": ""}),
        json!({"address": 7}),
        json!({"tags": "role=web"}),
        json!({"tags": {"": "x"}}),
        json!({"tags": {"k": null, "ok,no": "x"}}),
        json!({"key": "lower"}),
        json!({"key": "JENY_X"}),
        json!({"value": {"nested": true}}),
        json!({"value": "a\u{0}b"}),
        json!({"secret": "yes"}),
        json!({"secret": 1}),
        json!({"value": "x".repeat(70_000)}),
    ]
}

/// Raw bodies that are not valid JSON at all.
fn not_json() -> Vec<Vec<u8>> {
    vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"}".to_vec(),
        b"{\"name\": \"web\"".to_vec(),
        b"{\"name\": \"web\"} trailing".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"string\"".to_vec(),
        b"42".to_vec(),
        b"{'single': 'quotes'}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        b"{\"a\":".repeat(10_000),
        b"[".repeat(100_000),
    ]
}

/// A fingerprint of everything stored: row counts, version sums and the newest event.
async fn fingerprint(app: &TestApp) -> Vec<i64> {
    let mut values = Vec::new();
    for query in [
        "SELECT COUNT(*) AS n FROM projects",
        "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) AS n FROM projects",
        "SELECT COUNT(*) AS n FROM environments",
        "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) AS n FROM environments",
        "SELECT COUNT(*) AS n FROM variables",
        "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) AS n FROM variables",
        "SELECT COUNT(*) AS n FROM hosts",
        "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) AS n FROM hosts",
        "SELECT COUNT(*) AS n FROM host_tags",
        "SELECT COUNT(*) AS n FROM deploys",
        "SELECT CAST(COALESCE(SUM(locked_at), 0) AS BIGINT) AS n FROM environment_locks",
        "SELECT COALESCE(MAX(id), 0) AS n FROM events",
    ] {
        let row = jeny_store::sqlx::query(query)
            .fetch_one(app.store.reader())
            .await
            .unwrap();
        values.push(row.get::<i64, _>("n"));
    }
    values
}

const WRITE_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/projects"),
    ("PUT", "/api/v1/projects/web"),
    ("PATCH", "/api/v1/projects/web"),
    ("POST", "/api/v1/projects/web/environments"),
    ("PUT", "/api/v1/projects/web/environments/production"),
    ("PATCH", "/api/v1/projects/web/environments/production"),
    ("POST", "/api/v1/projects/web/variables"),
    ("PUT", "/api/v1/projects/web/variables/A"),
    ("PATCH", "/api/v1/projects/web/variables/A"),
    (
        "POST",
        "/api/v1/projects/web/environments/production/variables",
    ),
    (
        "PUT",
        "/api/v1/projects/web/environments/production/variables/A",
    ),
    (
        "PATCH",
        "/api/v1/projects/web/environments/production/variables/A",
    ),
    ("POST", "/api/v1/hosts"),
    ("PUT", "/api/v1/hosts/web-1"),
    (
        "POST",
        "/api/v1/projects/web/environments/production/deploys",
    ),
    ("PUT", "/api/v1/projects/web/environments/production/lock"),
    ("PATCH", "/api/v1/hosts/web-1"),
];

async fn expect_refused(
    client: &Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    what: &str,
) {
    let mut request = client
        .request(method.parse::<Method>().unwrap(), path)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(
        (400..500).contains(&status),
        "{method} {path} with {what} answered {status}: {text}"
    );
    assert_eq!(
        content_type, "application/problem+json",
        "{method} {path} with {what}"
    );
    let problem: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(problem["status"], status);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty())
    );
}

async fn random_and_malformed_bodies_are_refused_and_change_nothing(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    let before = fingerprint(&app).await;
    let seed = 0x6a65_6e79_u64;
    let mut random = Random(seed);
    for (method, path) in WRITE_ROUTES {
        for _ in 0..25 {
            let body = random.object(0);
            expect_refused(
                &admin,
                method,
                path,
                Some("application/json"),
                body.to_string().into_bytes(),
                &format!("{body} (seed {seed})"),
            )
            .await;
        }
        for body in invalid_known_fields() {
            expect_refused(
                &admin,
                method,
                path,
                Some("application/json"),
                body.to_string().into_bytes(),
                &body.to_string(),
            )
            .await;
        }
        for body in not_json() {
            let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
            expect_refused(&admin, method, path, Some("application/json"), body, &shown).await;
        }
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/xml"),
        ] {
            expect_refused(
                &admin,
                method,
                path,
                content_type,
                b"{\"title\":\"x\"}".to_vec(),
                &format!("content type {content_type:?}"),
            )
            .await;
        }
        // The server answers 413 as soon as the limit is passed and closes the connection
        // without reading the rest, so the client may see its write fail (a broken pipe or a
        // reset) before it reads the answer: either is a refusal. What matters is below: the
        // store did not change and the server goes on serving.
        let oversized = format!("{{\"description\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let response = admin
            .request(method.parse::<Method>().unwrap(), path)
            .header("content-type", "application/json")
            .body(oversized)
            .send()
            .await;
        match response {
            Ok(response) => assert_eq!(response.status(), 413, "{method} {path}"),
            Err(error) => assert!(error.is_request(), "{method} {path}: {error:?}"),
        }
    }
    assert_eq!(
        fingerprint(&app).await,
        before,
        "a refused request changed the store"
    );
}

async fn odd_path_segments_and_parameters_never_fail_the_server(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    let before = fingerprint(&app).await;
    let long = "a".repeat(5000);
    let segments = [
        "%00",
        "%FF%FE",
        "..",
        "..%2F..",
        "%2e%2e",
        "a%20b",
        "\u{e9}t\u{e9}",
        long.as_str(),
        "WEB",
        "-",
        "web%3Bdrop",
    ];
    for segment in segments {
        for path in [
            format!("/api/v1/projects/{segment}"),
            format!("/api/v1/projects/web/environments/{segment}"),
            format!("/api/v1/projects/web/environments/{segment}/hosts"),
            format!("/api/v1/projects/{segment}/variables/A"),
            format!("/api/v1/hosts/{segment}"),
        ] {
            for method in [Method::GET, Method::DELETE] {
                let response = admin.request(method.clone(), &path).send().await.unwrap();
                let status = response.status().as_u16();
                assert!(
                    (400..500).contains(&status),
                    "{method} {path} answered {status}"
                );
            }
        }
    }
    for query in [
        "limit=-1",
        "limit=abc",
        "limit=99999999999999999999",
        "cursor=%FF",
        "cursor=!!",
        "tag=novalue",
        "tag==x",
        "unknown=1",
    ] {
        for path in [
            "/api/v1/projects",
            "/api/v1/hosts",
            "/api/v1/projects/web/variables",
        ] {
            let response = admin
                .request(Method::GET, &format!("{path}?{query}"))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(
                (400..500).contains(&status),
                "GET {path}?{query} answered {status}"
            );
        }
    }
    for query in ["after=abc", "limit=0", "cursor=x"] {
        let response = admin
            .request(Method::GET, &format!("/api/v1/events?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16() / 100,
            4,
            "GET /api/v1/events?{query}"
        );
    }
    assert_eq!(fingerprint(&app).await, before);
}

both_backends!(
    random_and_malformed_bodies_are_refused_and_change_nothing,
    odd_path_segments_and_parameters_never_fail_the_server
);
