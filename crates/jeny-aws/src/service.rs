//! What can be done with AWS accounts, and the sync. Changes append their events in the same
//! transaction. A sync fetches every region at once, then brings the hosts in line in one
//! transaction: a region that failed leaves its hosts as they were.

use crate::AwsError;
use crate::ec2;
use crate::model::{AwsAccount, AwsAccountInput, RegionReport, SyncReport, ValidAccount};
use crate::query_protocol::{self, AccountCredentials, Service};
use crate::store::{self, AccountRow};
use jeny_core::{Precondition, SecretBox, Timestamp};
use jeny_events::NewEvent;
use jeny_hosts::HostSource;
use jeny_store::Store;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long a node holds an account's sync lease at most.
const SYNC_LEASE: Duration = Duration::from_secs(600);

/// The AWS part of one server.
#[derive(Clone)]
pub struct Aws {
    pub store: Store,
    pub secrets: SecretBox,
    /// This node's name, on the leases it takes and the reports it writes.
    pub node: String,
    /// Where imported CloudWatch and load balancer metrics are written.
    pub metrics: jeny_metrics::Metrics,
}

fn secret_context(id: &str) -> String {
    format!("aws_account:{id}")
}

impl Aws {
    pub async fn list_accounts(&self) -> Result<Vec<AwsAccount>, AwsError> {
        Ok(store::list(&self.store)
            .await?
            .into_iter()
            .map(|row| row.account)
            .collect())
    }

    pub async fn get_account(&self, name: &str) -> Result<AwsAccount, AwsError> {
        Ok(self.row(name).await?.account)
    }

    async fn row(&self, name: &str) -> Result<AccountRow, AwsError> {
        store::get(&self.store, name)
            .await?
            .ok_or_else(|| AwsError::NotFound(name.to_owned()))
    }

    pub async fn create_account(
        &self,
        actor: &str,
        input: AwsAccountInput,
    ) -> Result<AwsAccount, AwsError> {
        let account = input.validate(None)?;
        if account.access_key_id.is_some() && account.secret_access_key.is_none() {
            return Err(AwsError::invalid(
                "secret_access_key",
                "an access key id needs its secret access key",
            ));
        }
        let id = store::new_account_id();
        let sealed = account
            .secret_access_key
            .clone()
            .flatten()
            .map(|secret| self.secrets.seal(secret.as_bytes(), &secret_context(&id)));
        let mut tx = self.store.begin().await?;
        store::insert(&mut tx, &id, &account, sealed)
            .await
            .map_err(|error| {
                if error.is_conflict() {
                    AwsError::NameTaken(account.name.clone())
                } else {
                    error.into()
                }
            })?;
        jeny_events::append(
            &mut tx,
            NewEvent::new("aws_account.created", actor, describe(&account)),
        )
        .await?;
        tx.commit().await?;
        self.get_account(&account.name).await
    }

    /// Changes an account: `change` gets its writable fields and returns the new ones; `secret`
    /// says what becomes of the secret key when the change does not set one (`Some(None)`
    /// clears it).
    pub async fn update_account<E: From<AwsError>>(
        &self,
        actor: &str,
        name: &str,
        precondition: &Precondition,
        change: impl FnOnce(AwsAccountInput) -> Result<(AwsAccountInput, bool), E>,
    ) -> Result<AwsAccount, E> {
        let mut tx = self.store.begin().await.map_err(AwsError::from)?;
        let current = store::get_for_update(&mut tx, name)
            .await
            .map_err(AwsError::from)?
            .ok_or_else(|| AwsError::NotFound(name.to_owned()))?;
        if !precondition.allows(&current.account.etag()) {
            return Err(AwsError::Changed {
                current_etag: current.account.etag(),
            }
            .into());
        }
        let (input, clear_secret) = change(current.account.to_input())?;
        let mut account: ValidAccount = input.validate(Some(name))?;
        if clear_secret {
            account.secret_access_key = Some(None);
        }
        let will_have_secret = match &account.secret_access_key {
            Some(secret) => secret.is_some(),
            None => current.sealed_secret.is_some(),
        };
        if account.access_key_id.is_some() && !will_have_secret {
            return Err(AwsError::invalid(
                "secret_access_key",
                "an access key id needs its secret access key",
            )
            .into());
        }
        let sealed = account.secret_access_key.clone().map(|secret| {
            secret.map(|secret| {
                self.secrets
                    .seal(secret.as_bytes(), &secret_context(&current.account.id))
            })
        });
        store::update(&mut tx, &current.account.id, &account, sealed)
            .await
            .map_err(AwsError::from)?;
        jeny_events::append(
            &mut tx,
            NewEvent::new("aws_account.updated", actor, describe(&account)),
        )
        .await
        .map_err(AwsError::from)?;
        tx.commit().await.map_err(AwsError::from)?;
        Ok(self.get_account(name).await?)
    }

    /// Deletes an account. Its hosts are marked gone (kept for history), never deleted.
    pub async fn delete_account(&self, actor: &str, name: &str) -> Result<(), AwsError> {
        let mut tx = self.store.begin().await?;
        let current = store::get_for_update(&mut tx, name)
            .await?
            .ok_or_else(|| AwsError::NotFound(name.to_owned()))?;
        let mut gone = 0;
        for source in jeny_hosts::managed_sources(&mut tx, &format!("aws:{name}/")).await? {
            gone += jeny_hosts::reconcile(&mut tx, HostSource::Aws, &source, Vec::new())
                .await?
                .gone;
        }
        store::delete(&mut tx, &current.account.id).await?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "aws_account.deleted",
                actor,
                json!({"name": name, "hosts_gone": gone}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Syncs an account now, unless a sync of it runs (here or on another node).
    pub async fn sync_account(&self, actor: &str, name: &str) -> Result<SyncReport, AwsError> {
        let row = self.row(name).await?;
        let id = row.account.id.clone();
        let now = Timestamp::now().as_micros();
        let until = now + i64::try_from(SYNC_LEASE.as_micros()).unwrap_or(i64::MAX);
        if !store::claim(&self.store, &id, &self.node, now, until).await? {
            let holder = store::holder(&self.store, &id, now)
                .await?
                .unwrap_or_else(|| "another node".to_owned());
            return Err(AwsError::SyncRunning(name.to_owned(), holder));
        }
        let interval = row.account.sync_interval_secs;
        // A long sync (a slow region, retries) keeps its lease: renewed every minute.
        let renewal = {
            let store = self.store.clone();
            let id = id.clone();
            let node = self.node.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    let until = Timestamp::now().as_micros()
                        + i64::try_from(SYNC_LEASE.as_micros()).unwrap_or(i64::MAX);
                    if let Err(error) = store::renew(&store, &id, &node, until).await {
                        tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot renew an AWS sync lease");
                    }
                }
            })
        };
        let result = self.sync_claimed(actor, row).await;
        renewal.abort();
        if result.is_err() {
            let next = Timestamp::now().as_micros() + seconds_to_micros(interval);
            if let Err(error) = store::release_and_postpone(&self.store, &id, next).await {
                tracing::warn!(error = %jeny_core::ErrorChain(&error), account = name, "cannot release an AWS sync lease");
            }
        }
        result
    }

    /// The credentials to reach an account with. A secret that cannot be opened (the server's
    /// key was replaced) fails every region, in the report like any AWS error.
    pub(crate) fn account_credentials(
        &self,
        row: &AccountRow,
    ) -> Result<AccountCredentials, String> {
        let secret_access_key = match &row.sealed_secret {
            Some(sealed) => self
                .secrets
                .open(sealed, &secret_context(&row.account.id))
                .ok()
                .and_then(|secret| String::from_utf8(secret.expose().clone()).ok())
                .map(Some)
                .ok_or_else(|| {
                    "the stored secret access key cannot be opened with this server's key: set it again".to_owned()
                })?,
            None => None,
        };
        Ok(AccountCredentials { secret_access_key })
    }

    async fn sync_claimed(&self, actor: &str, row: AccountRow) -> Result<SyncReport, AwsError> {
        let credentials = self.account_credentials(&row);
        let account = row.account;
        let started_at = Timestamp::now();
        let fetches = account.regions.iter().map(|region| {
            let account = &account;
            let credentials = &credentials;
            async move {
                let started = Instant::now();
                let instances = match credentials {
                    Ok(credentials) => match query_protocol::session(account, credentials, region)
                        .await
                    {
                        Ok(session) => {
                            ec2::describe_instances(&session.client(Service::Ec2), account).await
                        }
                        Err(error) => Err(error),
                    },
                    Err(error) => Err(error.clone()),
                };
                (region.clone(), instances, started.elapsed())
            }
        });
        let fetched = futures_util::future::join_all(fetches).await;
        let own_started = Instant::now();
        let mut report = SyncReport {
            started_at,
            finished_at: started_at,
            status: "ok".to_owned(),
            added: 0,
            changed: 0,
            gone: 0,
            unchanged: 0,
            regions: Vec::new(),
            skipped_tags: 0,
            own_ms: 0,
            node: self.node.clone(),
        };
        let mut observed_by_region = Vec::new();
        for (region, instances, waited) in fetched {
            let fetch_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            match instances {
                Ok(instances) => {
                    let mut observed = Vec::with_capacity(instances.len());
                    for instance in instances.iter().filter(|i| !ec2::is_gone(i)) {
                        let (host, skipped) = ec2::observed(instance, &account, &region);
                        report.skipped_tags += skipped;
                        observed.push(host);
                    }
                    report.regions.push(RegionReport {
                        region: region.clone(),
                        status: "ok".to_owned(),
                        instances: instances.len(),
                        error: None,
                        fetch_ms,
                    });
                    observed_by_region.push((region, observed));
                }
                Err(error) => {
                    tracing::warn!(account = %account.name, %region, %error, "an EC2 region could not be read");
                    report.regions.push(RegionReport {
                        region,
                        status: "error".to_owned(),
                        instances: 0,
                        error: Some(error),
                        fetch_ms,
                    });
                }
            }
        }
        let failed = report
            .regions
            .iter()
            .filter(|r| r.status == "error")
            .count();
        report.status = match failed {
            0 => "ok",
            n if n == report.regions.len() => "error",
            _ => "partial",
        }
        .to_owned();
        let mut tx = self.store.begin().await?;
        // Deleted meanwhile (its hosts are gone), or the lease lost: write nothing.
        if !store::lock_if_claimed(&mut tx, &account.id, &self.node).await? {
            return Err(AwsError::NotFound(account.name.clone()));
        }
        let prefix = format!("aws:{}/", account.name);
        for (region, observed) in observed_by_region {
            let counts = jeny_hosts::reconcile(
                &mut tx,
                HostSource::Aws,
                &format!("{prefix}{region}"),
                observed,
            )
            .await?;
            report.added += counts.added;
            report.changed += counts.changed;
            report.gone += counts.gone;
            report.unchanged += counts.unchanged;
        }
        // regions no longer synced: their hosts are gone from jeny's point of view
        for source in jeny_hosts::managed_sources(&mut tx, &prefix).await? {
            let region = source.trim_start_matches(&prefix);
            if !account.regions.iter().any(|r| r == region) {
                report.gone += jeny_hosts::reconcile(&mut tx, HostSource::Aws, &source, Vec::new())
                    .await?
                    .gone;
            }
        }
        report.finished_at = Timestamp::now();
        report.own_ms = u64::try_from(own_started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = report.finished_at.as_micros() + seconds_to_micros(account.sync_interval_secs);
        store::finish_sync(&mut tx, &account.id, &report, next).await?;
        let errors: Vec<_> = report
            .regions
            .iter()
            .filter_map(|r| {
                r.error
                    .as_ref()
                    .map(|e| json!({"region": r.region, "error": e}))
            })
            .collect();
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "aws.synced",
                actor,
                json!({
                    "account": account.name, "status": report.status, "added": report.added,
                    "changed": report.changed, "gone": report.gone, "unchanged": report.unchanged,
                    "errors": errors,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Syncs the accounts that are due, one after the other, until `shutdown`.
    pub async fn run_syncer(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            let due = match store::due(&self.store, Timestamp::now().as_micros()).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot read which AWS accounts are due for a sync");
                    continue;
                }
            };
            for name in due {
                if shutdown.is_cancelled() {
                    return;
                }
                match self.sync_account("jeny", &name).await {
                    Ok(report) => tracing::info!(
                        account = %name, status = %report.status, added = report.added,
                        changed = report.changed, gone = report.gone, "synced AWS account"
                    ),
                    Err(AwsError::SyncRunning(..)) => {}
                    Err(error) => {
                        tracing::warn!(account = %name, error = %jeny_core::ErrorChain(&error), "an AWS sync failed")
                    }
                }
            }
        }
    }
}

fn seconds_to_micros(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

/// An account's settings for an event (never the secret).
fn describe(account: &ValidAccount) -> serde_json::Value {
    json!({
        "name": account.name, "regions": account.regions, "profile": account.profile,
        "access_key_id": account.access_key_id, "role_arn": account.role_arn,
        "external_id": account.external_id, "address": account.address,
        "tag_filters": account.tag_filters, "endpoint_url": account.endpoint_url,
        "sync_interval_secs": account.sync_interval_secs, "enabled": account.enabled,
        "metrics_import": account.metrics_import,
        "metrics_period_secs": account.metrics_period_secs,
    })
}
