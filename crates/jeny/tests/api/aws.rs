//! AWS accounts and the EC2 sync against a local AWS emulator (moto in server mode), with
//! instances created through the real AWS SDK: hosts and tags from two regions, a terminated
//! instance gone from an environment's hosts, a tag change followed by the selector, bad
//! credentials and a region down reported without touching the hosts.

use crate::{call, environment, exec_sql, status_of};
use jeny_testkit::{Backend, Client, Moto, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

async fn sync(client: &Client, account: &str) -> Value {
    let (status, report) = call(
        client,
        Method::POST,
        &format!("/api/v1/aws/accounts/{account}/sync"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    report
}

/// The hosts an environment `production` of project `web` (selector role=web) targets.
async fn targeted(client: &Client) -> Vec<String> {
    client
        .environment_hosts("web", "production", None, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|host| host.name)
        .collect()
}

async fn instances_become_hosts_and_follow_the_fleet(backend: Backend) {
    let moto = Moto::start().await;
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let web = moto
        .run_instances(
            "eu-west-1",
            2,
            &[("Name", "web"), ("role", "web"), ("team", "shop")],
        )
        .await;
    let db = moto
        .run_instances(
            "us-east-1",
            1,
            &[("Name", "db 1"), ("role", "db"), ("bad=key", "x")],
        )
        .await;
    let (status, account) = call(
        &admin,
        Method::POST,
        "/api/v1/aws/accounts",
        Some(json!({
            "name": "main", "regions": ["eu-west-1", "us-east-1"],
            "access_key_id": "testing", "secret_access_key": "testing",
            "endpoint_url": moto.url, "enabled": false,
        })),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["credentials"], "static");
    assert_eq!(account["secret_access_key_set"], true);
    assert!(account.get("secret_access_key").is_none(), "{account}");
    let report = sync(&admin, "main").await;
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["added"], 3);
    assert_eq!(report["skipped_tags"], 1, "the tag with '=' in its key");
    // The hosts, named after their Name tag (made unique and valid), with every tag and the
    // aws:* facts.
    let hosts = admin.list_hosts(&[], None, None).await.unwrap().items;
    let names: Vec<&str> = hosts.iter().map(|host| host.name.as_str()).collect();
    assert!(names.contains(&"web"), "{names:?}");
    assert!(
        names.contains(&format!("web-{}", web[1]).as_str())
            || names.contains(&format!("web-{}", web[0]).as_str()),
        "{names:?}"
    );
    assert!(names.contains(&"db-1"), "{names:?}");
    let db_host = hosts.iter().find(|host| host.name == "db-1").unwrap();
    assert_eq!(db_host.external_id.as_deref(), Some(db[0].as_str()));
    assert_eq!(db_host.managed_by.as_deref(), Some("aws:main/us-east-1"));
    assert_eq!(db_host.tags["role"], "db");
    assert_eq!(db_host.tags["aws:region"], "us-east-1");
    assert_eq!(db_host.tags["aws:instance-type"], "t3.micro");
    assert!(db_host.tags["aws:az"].starts_with("us-east-1"));
    assert_eq!(db_host.tags["aws:state"], "running");
    assert_eq!(
        db_host.address, db_host.tags["aws:private-ip"],
        "the private address by default"
    );
    assert!(!db_host.tags.contains_key("bad=key"));
    // A synced host is changed by its sync only.
    let refused = admin
        .patch_host("db-1", &json!({"address": "10.0.0.1"}), None)
        .await;
    assert_eq!(status_of(refused), 409);
    assert_eq!(status_of(admin.delete_host("db-1", None).await), 409);
    // An environment selects them by tag.
    admin.create_project(&crate::project("web")).await.unwrap();
    admin
        .create_environment(
            "web",
            &environment("production", &[("role", "web"), ("aws:account", "main")]),
        )
        .await
        .unwrap();
    assert_eq!(targeted(&admin).await.len(), 2);
    // A second sync with nothing new changes nothing.
    let report = sync(&admin, "main").await;
    assert_eq!(
        (
            report["added"].as_u64(),
            report["changed"].as_u64(),
            report["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(3)),
        "{report}"
    );
    // Terminate one web instance: it is gone from the environment, kept with gone_at.
    let ec2 = moto.ec2("eu-west-1").await;
    ec2.terminate_instances()
        .instance_ids(&web[0])
        .send()
        .await
        .unwrap();
    let report = sync(&admin, "main").await;
    assert_eq!(report["gone"], 1, "{report}");
    let remaining = targeted(&admin).await;
    assert_eq!(remaining.len(), 1, "{remaining:?}");
    let gone: Vec<_> = admin
        .request(Method::GET, "/api/v1/hosts?gone=only")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["external_id"], web[0].as_str());
    assert!(gone[0]["gone_at"].is_string());
    // Retag the other: the selector follows.
    ec2.create_tags()
        .resources(&web[1])
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("role")
                .value("worker")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let report = sync(&admin, "main").await;
    assert_eq!(report["changed"], 1, "{report}");
    assert!(targeted(&admin).await.is_empty());
    let workers = admin
        .list_hosts(&["role=worker"], None, None)
        .await
        .unwrap()
        .items;
    assert_eq!(workers.len(), 1);
    // The sync's events.
    let events = admin
        .list_events(0, Some(500), None, None)
        .await
        .unwrap()
        .items;
    let synced: Vec<&Value> = events
        .iter()
        .filter(|event| event.kind == "aws.synced")
        .map(|event| &event.payload)
        .collect();
    assert_eq!(synced.len(), 4);
    assert_eq!(synced[0]["added"], 3);
    assert_eq!(synced[2]["gone"], 1);
    // Deleting the account keeps its hosts, gone.
    let (status, _) = call(&admin, Method::DELETE, "/api/v1/aws/accounts/main", None).await;
    assert_eq!(status, 204);
    assert!(
        admin
            .list_hosts(&[], None, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let all = admin
        .request(Method::GET, "/api/v1/hosts?gone=include")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    // A gone host may be removed: nothing syncs it any more.
    admin.delete_host("db-1", None).await.unwrap();
}

async fn aws_errors_are_reported_and_keep_the_hosts(backend: Backend) {
    let moto = Moto::start().await;
    let strict = Moto::requiring_credentials().await;
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    moto.run_instances("eu-west-1", 2, &[("role", "web")]).await;
    let (status, _) = call(
        &admin,
        Method::POST,
        "/api/v1/aws/accounts",
        Some(json!({
            "name": "main", "regions": ["eu-west-1"], "access_key_id": "testing",
            "secret_access_key": "testing", "endpoint_url": moto.url, "enabled": false,
        })),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(sync(&admin, "main").await["added"], 2);
    // Point it at an AWS that does not know these credentials: a clear error, hosts kept.
    let (status, account) = call(
        &admin,
        Method::PATCH,
        "/api/v1/aws/accounts/main",
        Some(json!({"endpoint_url": strict.url})),
    )
    .await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["secret_access_key_set"], true, "the secret is kept");
    let report = sync(&admin, "main").await;
    assert_eq!(report["status"], "error", "{report}");
    let error = report["regions"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("AuthFailure")
            || error.contains("InvalidClientTokenId")
            || error.contains("security token"),
        "{error}"
    );
    assert_eq!(
        (report["added"].as_u64(), report["gone"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        admin.list_hosts(&[], None, None).await.unwrap().items.len(),
        2
    );
    let (_, account) = call(&admin, Method::GET, "/api/v1/aws/accounts/main", None).await;
    assert_eq!(account["last_sync"]["status"], "error");
    // A region that cannot be reached at all, beside one that works: partial, hosts kept.
    let (status, _) = call(
        &admin,
        Method::PATCH,
        "/api/v1/aws/accounts/main",
        Some(json!({"endpoint_url": "http://127.0.0.1:9"})),
    )
    .await;
    assert_eq!(status, 200);
    let report = sync(&admin, "main").await;
    assert_eq!(report["status"], "error");
    assert_eq!(
        admin.list_hosts(&[], None, None).await.unwrap().items.len(),
        2
    );
    // A sync already running is refused (its lease held by another node).
    exec_sql(
        &app,
        &format!(
            "UPDATE aws_accounts SET claimed_by = 'node-2', claimed_until = {}",
            jeny_core::Timestamp::now().as_micros() + 60_000_000
        ),
    )
    .await;
    let (status, problem) =
        call(&admin, Method::POST, "/api/v1/aws/accounts/main/sync", None).await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("node-2"));
}

async fn accounts_are_checked_and_their_secret_never_shown(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let deployer = app.with_deployer().await;
    for (body, field) in [
        (json!({"regions": ["eu-west-1"]}), "name"),
        (json!({"name": "Main", "regions": ["eu-west-1"]}), "name"),
        (json!({"name": "main", "regions": []}), "regions"),
        (
            json!({"name": "main", "regions": ["Europe West"]}),
            "regions[0]",
        ),
        (
            json!({"name": "main", "regions": ["eu-west-1"], "secret_access_key": "x"}),
            "access_key_id",
        ),
        (
            json!({"name": "main", "regions": ["eu-west-1"], "role_arn": "admin"}),
            "role_arn",
        ),
        (
            json!({"name": "main", "regions": ["eu-west-1"], "external_id": "x"}),
            "external_id",
        ),
        (
            json!({"name": "main", "regions": ["eu-west-1"], "sync_interval_secs": 5}),
            "sync_interval_secs",
        ),
        (
            json!({"name": "main", "regions": ["eu-west-1"], "endpoint_url": "ftp://x"}),
            "endpoint_url",
        ),
    ] {
        let (status, problem) = call(
            &admin,
            Method::POST,
            "/api/v1/aws/accounts",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let (status, _) = call(
        &deployer,
        Method::POST,
        "/api/v1/aws/accounts",
        Some(json!({"name": "main", "regions": ["eu-west-1"]})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, account) = call(
        &admin,
        Method::POST,
        "/api/v1/aws/accounts",
        Some(json!({
            "name": "main", "regions": ["eu-west-1"], "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": "wJalrXUtnFEMI/K7MDENG", "role_arn": "arn:aws:iam::123456789012:role/jeny",
            "external_id": "shop-42", "tag_filters": {"managed-by": "jeny"},
            // never synced periodically: the test stays on loopback
            "enabled": false,
        })),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["sync_interval_secs"], 120);
    let (status, _) = call(
        &admin,
        Method::POST,
        "/api/v1/aws/accounts",
        Some(json!({"name": "main", "regions": ["eu-west-1"]})),
    )
    .await;
    assert_eq!(status, 409);
    // The secret is stored sealed, and appears in no answer and no event.
    let everything = format!(
        "{}{}",
        call(&admin, Method::GET, "/api/v1/aws/accounts", None)
            .await
            .1,
        call(&admin, Method::GET, "/api/v1/events?limit=500", None)
            .await
            .1
    );
    assert!(!everything.contains("wJalrXUtnFEMI"), "{everything}");
    // Clearing the key removes the secret too.
    let (status, account) = call(
        &admin,
        Method::PATCH,
        "/api/v1/aws/accounts/main",
        Some(json!({"access_key_id": null, "secret_access_key": null, "profile": "prod"})),
    )
    .await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["credentials"], "profile");
    assert_eq!(account["secret_access_key_set"], false);
    let (status, _) = call(
        &admin,
        Method::PATCH,
        "/api/v1/aws/accounts/main",
        Some(json!({"name": "other"})),
    )
    .await;
    assert_eq!(status, 422, "names never change");
    // A key without its secret is refused on change too.
    let (status, problem) = call(
        &admin,
        Method::PATCH,
        "/api/v1/aws/accounts/main",
        Some(json!({"access_key_id": "AKIA", "profile": null})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "secret_access_key");
}

/// A proxy in front of the emulator that answers the first `throttled` requests as EC2 does
/// when throttling (HTTP 503, `RequestLimitExceeded` in EC2's XML error format), then passes
/// requests through. Returns its URL and the count of requests it saw.
async fn throttling_proxy(
    target: &str,
    throttled: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = target.trim_start_matches("http://").to_owned();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                // the whole request: head, then Content-Length bytes of body
                let mut request = Vec::new();
                let mut buffer = [0u8; 65536];
                let head_end = loop {
                    if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                    match client.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse().ok())
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    match client.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                if counter.fetch_add(1, Ordering::SeqCst) < throttled {
                    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>5e1d5ab6-7e4f-4a3b-9f5e-000000000000</RequestID></Response>";
                    let answer = format!(
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/xml;charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(answer.as_bytes()).await;
                    return;
                }
                // through to the emulator, one request per connection
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&request[..head_end])
                    .replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n");
                let head: String = head
                    .split("\r\n")
                    .filter(|line| !line.to_lowercase().starts_with("connection: keep-alive"))
                    .collect::<Vec<_>>()
                    .join("\r\n");
                if upstream.write_all(head.as_bytes()).await.is_err()
                    || upstream.write_all(&request[head_end..]).await.is_err()
                {
                    return;
                }
                let mut answer = Vec::new();
                let _ = upstream.read_to_end(&mut answer).await;
                let _ = client.write_all(&answer).await;
            });
        }
    });
    (url, seen)
}

/// EC2 throttling: the SDK backs off and retries, and the sync succeeds.
async fn throttling_is_retried_with_backoff(backend: Backend) {
    let moto = Moto::start().await;
    moto.run_instances("eu-west-1", 3, &[("role", "web")]).await;
    let (proxy, seen) = throttling_proxy(&moto.url, 2).await;
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let (status, _) = call(
        &admin,
        Method::POST,
        "/api/v1/aws/accounts",
        Some(json!({
            "name": "main", "regions": ["eu-west-1"], "access_key_id": "testing",
            "secret_access_key": "testing", "endpoint_url": proxy, "enabled": false,
        })),
    )
    .await;
    assert_eq!(status, 201);
    let report = sync(&admin, "main").await;
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["added"], 3);
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "two throttled attempts, then the one that went through"
    );
}

both_backends!(
    throttling_is_retried_with_backoff,
    instances_become_hosts_and_follow_the_fleet,
    aws_errors_are_reported_and_keep_the_hosts,
    accounts_are_checked_and_their_secret_never_shown
);
