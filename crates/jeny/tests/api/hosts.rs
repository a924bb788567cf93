//! Hosts: tags, tag filters, validation.

use crate::{host, host_names, problem_of, status_of};
use jeny_testkit::{Backend, TestApp, both_backends};
use serde_json::json;

async fn hosts_are_filtered_by_every_tag_condition(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_deployer().await;
    client
        .create_host(&host("web-1", &[("role", "web"), ("env", "production")]))
        .await
        .unwrap();
    client
        .create_host(&host("web-2", &[("role", "web"), ("env", "staging")]))
        .await
        .unwrap();
    client
        .create_host(&host("db-1", &[("role", "db"), ("env", "production")]))
        .await
        .unwrap();
    assert_eq!(
        host_names(client.list_hosts(&[], None, None).await.unwrap()),
        ["db-1", "web-1", "web-2"]
    );
    assert_eq!(
        host_names(client.list_hosts(&["role=web"], None, None).await.unwrap()),
        ["web-1", "web-2"]
    );
    assert_eq!(
        host_names(
            client
                .list_hosts(&["role=web", "env=production"], None, None)
                .await
                .unwrap()
        ),
        ["web-1"]
    );
    assert!(
        host_names(
            client
                .list_hosts(&["role=cache"], None, None)
                .await
                .unwrap()
        )
        .is_empty()
    );
    assert_eq!(
        status_of(client.list_hosts(&["role"], None, None).await),
        422
    );
    let host = client.get_host("web-1").await.unwrap().value;
    assert_eq!(host.source, jeny_hosts::HostSource::Manual);
    assert_eq!(host.address, "web-1.internal");
    assert_eq!(host.last_seen_at, None);
}

async fn tags_are_replaced_or_merged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_deployer().await;
    client
        .create_host(&host("web-1", &[("role", "web"), ("az", "a")]))
        .await
        .unwrap();
    let patched = client
        .patch_host("web-1", &json!({"tags": {"az": null, "tier": "1"}}), None)
        .await
        .unwrap()
        .value;
    assert_eq!(patched.tags.len(), 2);
    assert_eq!(patched.tags.get("tier").map(String::as_str), Some("1"));
    assert!(
        client
            .list_hosts(&["az=a"], None, None)
            .await
            .unwrap()
            .items
            .is_empty(),
        "the tag index followed the patch"
    );
    let replaced = client
        .replace_host("web-1", &host("web-1", &[("role", "db")]), None)
        .await
        .unwrap()
        .value;
    assert_eq!(replaced.tags.len(), 1);
    assert_eq!(
        client
            .list_hosts(&["role=db"], None, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    client.delete_host("web-1", None).await.unwrap();
    assert!(
        client
            .list_hosts(&["role=db"], None, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(status_of(client.get_host("web-1").await), 404);
}

async fn bad_hosts_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_deployer().await;
    client.create_host(&host("web-1", &[])).await.unwrap();
    assert_eq!(
        status_of(client.create_host(&host("web-1", &[])).await),
        409
    );
    assert_eq!(
        problem_of(client.create_host(&host("web 1", &[])).await)
            .field
            .as_deref(),
        Some("name")
    );
    let mut no_address = host("web-2", &[]);
    no_address.address = " ".into();
    assert_eq!(
        problem_of(client.create_host(&no_address).await)
            .field
            .as_deref(),
        Some("address")
    );
    assert_eq!(
        status_of(client.create_host(&host("web-2", &[("k,ey", "v")])).await),
        422
    );
    assert_eq!(
        status_of(
            client
                .create_host(&host("web-2", &[("key", "line\nbreak")]))
                .await
        ),
        422
    );
    let too_many: Vec<(String, String)> =
        (0..65).map(|n| (format!("k{n}"), "v".to_owned())).collect();
    let mut crowded = host("web-2", &[]);
    crowded.tags = too_many.into_iter().collect();
    assert_eq!(status_of(client.create_host(&crowded).await), 422);
    assert_eq!(
        status_of(
            client
                .patch_host("web-1", &json!({"name": "web-9"}), None)
                .await
        ),
        422
    );
    assert_eq!(
        client
            .list_hosts(&[], None, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

both_backends!(
    hosts_are_filtered_by_every_tag_condition,
    tags_are_replaced_or_merged,
    bad_hosts_are_refused
);
