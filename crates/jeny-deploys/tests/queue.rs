//! The queue under contention, on both backends: many deploys queued and cancelled at once in
//! one newest-wins environment. Queueing (with its supersede), cancelling and ending take their
//! locks in one order and PostgreSQL's deadlock and serialization aborts are run again by the
//! store, so no call fails with an internal error and no deploy is lost or left behind.

use jeny_core::DomainError;
mod common;

use jeny_core::ErrorCode;
use jeny_deploys::{DeployError, DeployRequest, DeployStatus, Links};
use jeny_store::{Backend, Store, both_backends, testing::TestDatabase};
use std::collections::BTreeSet;

const ROUNDS: usize = 200;

both_backends!(concurrent_queueing_and_cancelling_never_fails_and_loses_no_deploy);

/// An error a client may get from a race (the deploy ended before the cancel came), never an
/// internal error or an unavailable database.
fn assert_a_domain_answer(error: &DeployError) {
    assert!(
        matches!(error.code(), ErrorCode::Conflict),
        "a call failed with {:?}: {error}",
        error.code()
    );
}

async fn concurrent_queueing_and_cancelling_never_fails_and_loses_no_deploy(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let first = common::queued_deploy(
        &store,
        serde_json::json!({"name": "app", "deploy_command": "true"}),
        serde_json::json!({"name": "production", "queue_policy": "newest_wins"}),
    )
    .await;
    let links = common::links();

    let mut created = BTreeSet::from([first]);
    for round in 0..ROUNDS {
        // Two deploys queued and the newest queued one cancelled, all at once.
        let queue = |store: Store, links: Links| {
            tokio::spawn(async move {
                jeny_deploys::create_deploy(
                    &store,
                    &links,
                    "deployer@example.com",
                    "app",
                    "production",
                    DeployRequest::default(),
                )
                .await
            })
        };
        let latest = jeny_deploys::list_deploys(
            &store,
            &links,
            &jeny_deploys::DeployFilter::default(),
            &jeny_core::PageRequest::first(1),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .next();
        let first = queue(store.clone(), links.clone());
        let second = queue(store.clone(), links.clone());
        let cancel = latest.map(|deploy| {
            let (store, links) = (store.clone(), links.clone());
            tokio::spawn(async move {
                jeny_deploys::cancel_deploy(&store, &links, "deployer@example.com", &deploy.id)
                    .await
            })
        });
        for queued in [first, second] {
            match queued.await.unwrap() {
                Ok(deploy) => {
                    created.insert(deploy.id);
                }
                Err(error) => panic!(
                    "round {round}: queueing failed: {error} ({:?})",
                    error.code()
                ),
            }
        }
        if let Some(cancel) = cancel
            && let Err(error) = cancel.await.unwrap()
        {
            assert_a_domain_answer(&error);
        }
    }

    // Every deploy is there; all but the newest were superseded or cancelled.
    let mut stored = Vec::new();
    let mut page = jeny_core::PageRequest::first(jeny_core::PageRequest::MAX_LIMIT);
    loop {
        let found = jeny_deploys::list_deploys(
            &store,
            &links,
            &jeny_deploys::DeployFilter::default(),
            &page,
        )
        .await
        .unwrap();
        stored.extend(found.items);
        match found.next_cursor {
            Some(cursor) => page.after = jeny_core::page::decode_cursor(&cursor),
            None => break,
        }
    }
    let stored_ids: BTreeSet<String> = stored.iter().map(|deploy| deploy.id.clone()).collect();
    assert_eq!(stored_ids, created, "a queued deploy was lost");
    let queued: Vec<_> = stored
        .iter()
        .filter(|deploy| deploy.status == DeployStatus::Queued)
        .collect();
    assert!(
        queued.len() <= 1,
        "newest wins left {} deploys queued",
        queued.len()
    );
    assert!(
        stored.iter().all(|deploy| matches!(
            deploy.status,
            DeployStatus::Queued | DeployStatus::Cancelled
        )),
        "a deploy ended otherwise than cancelled"
    );
    store.close().await;
}
