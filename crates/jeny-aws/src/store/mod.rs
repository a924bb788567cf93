//! Every query of the `aws_accounts` table, and the claim that makes one node sync an account
//! at a time: a row lease (`claimed_by`, `claimed_until`) taken by a conditional update, which
//! works alike on both backends.

use crate::model::{AddressKind, AwsAccount, MetricsImportReport, SyncReport, ValidAccount};
use jeny_core::{Timestamp, new_id};
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};
use std::collections::BTreeMap;

const COLUMNS: &str = "id, name, regions, profile, access_key_id, secret_access_key, role_arn, \
     external_id, tag_filters, endpoint_url, address, sync_interval_secs, enabled, last_sync, \
     next_sync_at, version, created_at, updated_at, metrics_import, metrics_period_secs, \
     last_metrics_import";

/// An account row with its sealed secret (for the sync; never for the API).
pub(crate) struct AccountRow {
    pub account: AwsAccount,
    pub sealed_secret: Option<Vec<u8>>,
}

fn from_row(row: &AnyRow) -> Result<AccountRow, StoreError> {
    let json = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let corrupt = |what: &str, error: serde_json::Error| {
        StoreError::Corrupt(format!("aws account {what}: {error}"))
    };
    let regions: Vec<String> =
        serde_json::from_str(&json("regions")?).map_err(|e| corrupt("regions", e))?;
    let tag_filters: BTreeMap<String, String> =
        serde_json::from_str(&json("tag_filters")?).map_err(|e| corrupt("tag_filters", e))?;
    let last_sync: Option<String> = row.try_get("last_sync")?;
    let last_sync: Option<SyncReport> = last_sync
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| corrupt("last_sync", e))?;
    let last_metrics_import: Option<String> = row.try_get("last_metrics_import")?;
    let last_metrics_import: Option<MetricsImportReport> = last_metrics_import
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| corrupt("last_metrics_import", e))?;
    let metrics_import: i64 = row.try_get("metrics_import")?;
    let metrics_period: i64 = row.try_get("metrics_period_secs")?;
    let sealed_secret: Option<Vec<u8>> = row.try_get("secret_access_key")?;
    let profile: Option<String> = row.try_get("profile")?;
    let access_key_id: Option<String> = row.try_get("access_key_id")?;
    let credentials = if access_key_id.is_some() {
        "static"
    } else if profile.is_some() {
        "profile"
    } else {
        "default_chain"
    };
    let interval: i64 = row.try_get("sync_interval_secs")?;
    let enabled: i64 = row.try_get("enabled")?;
    Ok(AccountRow {
        account: AwsAccount {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            regions,
            credentials: credentials.to_owned(),
            profile,
            access_key_id,
            secret_access_key_set: sealed_secret.is_some(),
            role_arn: row.try_get("role_arn")?,
            external_id: row.try_get("external_id")?,
            tag_filters,
            endpoint_url: row.try_get("endpoint_url")?,
            address: AddressKind::parse(&row.try_get::<String, _>("address")?),
            sync_interval_secs: u64::try_from(interval).unwrap_or(0),
            enabled: enabled != 0,
            metrics_import: metrics_import != 0,
            metrics_period_secs: u64::try_from(metrics_period).unwrap_or(0),
            last_sync,
            last_metrics_import,
            next_sync_at: Timestamp::from_micros(row.try_get("next_sync_at")?),
            version: row.try_get("version")?,
            created_at: Timestamp::from_micros(row.try_get("created_at")?),
            updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
        },
        sealed_secret,
    })
}

pub(crate) async fn list(store: &Store) -> Result<Vec<AccountRow>, StoreError> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM aws_accounts ORDER BY name"))
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn get(store: &Store, name: &str) -> Result<Option<AccountRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM aws_accounts WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn get_for_update(
    tx: &mut WriteTx,
    name: &str,
) -> Result<Option<AccountRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM aws_accounts WHERE name = $1{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) fn new_account_id() -> String {
    new_id()
}

/// Inserts an account whose secret (if any) is already sealed for `id`.
pub(crate) async fn insert(
    tx: &mut WriteTx,
    id: &str,
    account: &ValidAccount,
    sealed_secret: Option<Vec<u8>>,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_micros();
    sqlx::query(
        "INSERT INTO aws_accounts (id, name, regions, profile, access_key_id, secret_access_key, role_arn, \
         external_id, tag_filters, endpoint_url, address, sync_interval_secs, enabled, next_sync_at, version, \
         created_at, updated_at, metrics_import, metrics_period_secs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $14, $14, $15, $16)",
    )
    .bind(id)
    .bind(&account.name)
    .bind(serde_json::to_string(&account.regions).unwrap_or_default())
    .bind(&account.profile)
    .bind(&account.access_key_id)
    .bind(sealed_secret)
    .bind(&account.role_arn)
    .bind(&account.external_id)
    .bind(serde_json::to_string(&account.tag_filters).unwrap_or_default())
    .bind(&account.endpoint_url)
    .bind(account.address.as_str())
    .bind(i64::try_from(account.sync_interval_secs).unwrap_or(i64::MAX))
    .bind(i64::from(account.enabled))
    .bind(now)
    .bind(i64::from(account.metrics_import))
    .bind(i64::try_from(account.metrics_period_secs).unwrap_or(i64::MAX))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Replaces an account's settings; `sealed_secret` `None` keeps the stored one.
pub(crate) async fn update(
    tx: &mut WriteTx,
    id: &str,
    account: &ValidAccount,
    sealed_secret: Option<Option<Vec<u8>>>,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_micros();
    sqlx::query(
        "UPDATE aws_accounts SET regions = $2, profile = $3, access_key_id = $4, role_arn = $5, external_id = $6, \
         tag_filters = $7, endpoint_url = $8, address = $9, sync_interval_secs = $10, enabled = $11, \
         version = version + 1, updated_at = $12, metrics_import = $13, metrics_period_secs = $14 WHERE id = $1",
    )
    .bind(id)
    .bind(serde_json::to_string(&account.regions).unwrap_or_default())
    .bind(&account.profile)
    .bind(&account.access_key_id)
    .bind(&account.role_arn)
    .bind(&account.external_id)
    .bind(serde_json::to_string(&account.tag_filters).unwrap_or_default())
    .bind(&account.endpoint_url)
    .bind(account.address.as_str())
    .bind(i64::try_from(account.sync_interval_secs).unwrap_or(i64::MAX))
    .bind(i64::from(account.enabled))
    .bind(now)
    .bind(i64::from(account.metrics_import))
    .bind(i64::try_from(account.metrics_period_secs).unwrap_or(i64::MAX))
    .execute(tx.conn())
    .await?;
    if let Some(sealed) = sealed_secret {
        sqlx::query("UPDATE aws_accounts SET secret_access_key = $2 WHERE id = $1")
            .bind(id)
            .bind(sealed)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

pub(crate) async fn delete(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM aws_metrics_cursors WHERE account_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM aws_accounts WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Takes the account's sync lease for `node` until `until`, if no one holds it: whether it did.
pub(crate) async fn claim(
    store: &Store,
    id: &str,
    node: &str,
    now: i64,
    until: i64,
) -> Result<bool, StoreError> {
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "UPDATE aws_accounts SET claimed_by = $2, claimed_until = $3 \
         WHERE id = $1 AND (claimed_until IS NULL OR claimed_until < $4)",
    )
    .bind(id)
    .bind(node)
    .bind(until)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Who holds an account's sync lease now, if anyone.
pub(crate) async fn holder(
    store: &Store,
    id: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let row =
        sqlx::query("SELECT claimed_by FROM aws_accounts WHERE id = $1 AND claimed_until >= $2")
            .bind(id)
            .bind(now)
            .fetch_optional(store.reader())
            .await?;
    Ok(row
        .map(|row| row.try_get("claimed_by"))
        .transpose()?
        .flatten())
}

/// Records a sync's report, releases the lease and schedules the next periodic sync.
pub(crate) async fn finish_sync(
    tx: &mut WriteTx,
    id: &str,
    report: &SyncReport,
    next_sync_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE aws_accounts SET last_sync = $2, next_sync_at = $3, claimed_by = NULL, claimed_until = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(serde_json::to_string(report).unwrap_or_default())
    .bind(next_sync_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Accounts due for a periodic sync and not being synced.
pub(crate) async fn due(store: &Store, now: i64) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(
        "SELECT name FROM aws_accounts WHERE enabled = 1 AND next_sync_at <= $1 \
         AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY next_sync_at",
    )
    .bind(now)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
}

/// Locks the account's row if this node still holds its sync lease (the account may have been
/// deleted meanwhile): whether it does.
pub(crate) async fn lock_if_claimed(
    tx: &mut WriteTx,
    id: &str,
    node: &str,
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT id FROM aws_accounts WHERE id = $1 AND claimed_by = $2{}",
        tx.for_update()
    );
    Ok(sqlx::query(&sql)
        .bind(id)
        .bind(node)
        .fetch_optional(tx.conn())
        .await?
        .is_some())
}

/// Extends this node's lease on the account.
pub(crate) async fn renew(
    store: &Store,
    id: &str,
    node: &str,
    until: i64,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE aws_accounts SET claimed_until = $3 WHERE id = $1 AND claimed_by = $2")
        .bind(id)
        .bind(node)
        .bind(until)
        .execute(tx.conn())
        .await?;
    tx.commit().await
}

/// Releases the lease after a sync that could not finish, and puts the next periodic one an
/// interval away (not at once: a sync that fails for a reason of jeny's would otherwise retry
/// every few seconds).
pub(crate) async fn release_and_postpone(
    store: &Store,
    id: &str,
    next_sync_at: i64,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE aws_accounts SET claimed_by = NULL, claimed_until = NULL, next_sync_at = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(next_sync_at)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Each region's metrics cursor of an account: region -> the end of the last window imported
/// (unix microseconds).
pub(crate) async fn metrics_cursors(
    store: &Store,
    account_id: &str,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let rows =
        sqlx::query("SELECT region, imported_until FROM aws_metrics_cursors WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(store.reader())
            .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("region")?, row.try_get("imported_until")?)))
        .collect()
}

/// Records a metrics import in one transaction: the cursors of the regions it moved and its
/// report. Nothing if the account was deleted meanwhile.
pub(crate) async fn finish_metrics_import(
    store: &Store,
    account_id: &str,
    cursors: &[(String, i64)],
    report: &MetricsImportReport,
) -> Result<(), StoreError> {
    let now = jeny_core::Timestamp::now().as_micros();
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT id FROM aws_accounts WHERE id = $1{}",
        tx.for_update()
    );
    let exists = sqlx::query(&sql)
        .bind(account_id)
        .fetch_optional(tx.conn())
        .await?
        .is_some();
    if !exists {
        return Ok(());
    }
    for (region, imported_until) in cursors {
        sqlx::query(
            "INSERT INTO aws_metrics_cursors (account_id, region, imported_until, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, region) \
             DO UPDATE SET imported_until = excluded.imported_until, updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(region)
        .bind(imported_until)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    sqlx::query("UPDATE aws_accounts SET last_metrics_import = $2 WHERE id = $1")
        .bind(account_id)
        .bind(serde_json::to_string(report).unwrap_or_default())
        .execute(tx.conn())
        .await?;
    tx.commit().await
}
