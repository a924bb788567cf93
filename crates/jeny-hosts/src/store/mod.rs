//! Every query of the `hosts` and `host_tags` tables. Tags are kept twice on purpose: as JSON on
//! the host row (read with the host, no join) and as rows in `host_tags` (indexed, so a selector
//! is answered by the database, not by scanning every host). `host_tags` is maintained by a
//! trigger from the JSON (see the migration), so this module only ever writes `hosts`.

use crate::model::{GoneFilter, Host, HostSource, TagSelector, Tags, ValidHost};
use jeny_core::{PageRequest, Timestamp, new_id};
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};

const COLUMNS: &str = "h.id, h.name, h.address, h.tags, h.source, h.managed_by, h.external_id, h.gone_at, h.last_seen_at, h.version, h.created_at, h.updated_at";

/// Hosts matching `selector` (all hosts for an empty one), by name, one page.
pub(crate) async fn list(
    store: &Store,
    selector: &TagSelector,
    gone: GoneFilter,
    page: &PageRequest,
) -> Result<Vec<Host>, StoreError> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM hosts h WHERE ($1 IS NULL OR h.name > $1){}",
        gone.condition()
    );
    let mut placeholder = 2;
    for _ in selector.conditions() {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM host_tags t WHERE t.host_id = h.id AND t.key = ${} AND t.value = ${})",
            placeholder,
            placeholder + 1
        ));
        placeholder += 2;
    }
    sql.push_str(&format!(" ORDER BY h.name LIMIT ${placeholder}"));
    let mut query = sqlx::query(&sql).bind(page.after.clone());
    for (key, value) in selector.conditions() {
        query = query.bind(key.clone()).bind(value.clone());
    }
    let rows = query
        .bind(page.fetch_limit())
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(host_from_row).collect()
}

pub(crate) async fn get(store: &Store, name: &str) -> Result<Option<Host>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM hosts h WHERE h.name = $1"))
        .bind(name)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(host_from_row).transpose()
}

/// Reads a host inside a write transaction, locking it until the transaction ends.
pub(crate) async fn get_for_update(
    tx: &mut WriteTx,
    name: &str,
) -> Result<Option<Host>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM hosts h WHERE h.name = $1{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(host_from_row).transpose()
}

pub(crate) async fn insert(
    tx: &mut WriteTx,
    host: &ValidHost,
    source: HostSource,
) -> Result<Host, StoreError> {
    let now = Timestamp::now();
    let id = new_id();
    sqlx::query(
        "INSERT INTO hosts (id, name, address, tags, source, last_seen_at, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, 1, $6, $6)",
    )
    .bind(&id)
    .bind(host.name.as_str())
    .bind(&host.address)
    .bind(tags_json(&host.tags))
    .bind(source.as_str())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(Host {
        id,
        name: host.name.as_str().to_owned(),
        address: host.address.clone(),
        tags: host.tags.clone(),
        source,
        managed_by: None,
        external_id: None,
        gone_at: None,
        last_seen_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

/// Replaces the writable fields of `current`; the caller holds its row lock.
pub(crate) async fn replace(
    tx: &mut WriteTx,
    current: &Host,
    host: &ValidHost,
) -> Result<Host, StoreError> {
    let now = Timestamp::now();
    sqlx::query("UPDATE hosts SET address = $2, tags = $3, version = version + 1, updated_at = $4 WHERE id = $1")
        .bind(&current.id)
        .bind(&host.address)
        .bind(tags_json(&host.tags))
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    Ok(Host {
        address: host.address.clone(),
        tags: host.tags.clone(),
        updated_at: now,
        version: current.version + 1,
        ..current.clone()
    })
}

pub(crate) async fn delete(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM hosts WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn tags_json(tags: &Tags) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "{}".to_owned())
}

fn host_from_row(row: &AnyRow) -> Result<Host, StoreError> {
    let tags: String = row.try_get("tags")?;
    let source: String = row.try_get("source")?;
    Ok(Host {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        tags: serde_json::from_str(&tags)
            .map_err(|error| StoreError::Corrupt(format!("host tags: {error}")))?,
        source: HostSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("host source {source:?}")))?,
        managed_by: row.try_get("managed_by")?,
        external_id: row.try_get("external_id")?,
        gone_at: row
            .try_get::<Option<i64>, _>("gone_at")?
            .map(Timestamp::from_micros),
        last_seen_at: row
            .try_get::<Option<i64>, _>("last_seen_at")?
            .map(Timestamp::from_micros),
        version: row.try_get("version")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
    })
}

/// A managed host as a reconcile compares it.
pub(crate) struct ManagedRow {
    pub id: String,
    pub external_id: String,
    pub address: String,
    pub tags: Tags,
    pub gone: bool,
}

pub(crate) async fn managed_by(
    tx: &mut WriteTx,
    managed_by: &str,
) -> Result<Vec<ManagedRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, external_id, address, tags, gone_at FROM hosts WHERE managed_by = $1",
    )
    .bind(managed_by)
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|row| {
            let tags: String = row.try_get("tags")?;
            Ok(ManagedRow {
                id: row.try_get("id")?,
                external_id: row
                    .try_get::<Option<String>, _>("external_id")?
                    .unwrap_or_default(),
                address: row.try_get("address")?,
                tags: serde_json::from_str(&tags)
                    .map_err(|error| StoreError::Corrupt(format!("host tags: {error}")))?,
                gone: row.try_get::<Option<i64>, _>("gone_at")?.is_some(),
            })
        })
        .collect()
}

pub(crate) async fn all_names(tx: &mut WriteTx) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT name FROM hosts")
        .fetch_all(tx.conn())
        .await?;
    rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
}

pub(crate) struct NewManaged<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub tags: &'a Tags,
    pub source: HostSource,
    pub managed_by: &'a str,
    pub external_id: &'a str,
}

pub(crate) async fn insert_managed(
    tx: &mut WriteTx,
    host: NewManaged<'_>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO hosts (id, name, address, tags, source, managed_by, external_id, last_seen_at, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $8, $8)",
    )
    .bind(new_id())
    .bind(host.name)
    .bind(host.address)
    .bind(tags_json(host.tags))
    .bind(host.source.as_str())
    .bind(host.managed_by)
    .bind(host.external_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Sets what a sync saw of a managed host (it is there: not gone).
pub(crate) async fn update_managed(
    tx: &mut WriteTx,
    id: &str,
    address: &str,
    tags: Option<&Tags>,
    now: i64,
) -> Result<(), StoreError> {
    match tags {
        Some(tags) => sqlx::query(
            "UPDATE hosts SET address = $2, tags = $3, gone_at = NULL, version = version + 1, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(address)
        .bind(tags_json(tags))
        .bind(now),
        None => sqlx::query(
            "UPDATE hosts SET address = $2, gone_at = NULL, version = version + 1, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(address)
        .bind(now),
    }
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn mark_gone(tx: &mut WriteTx, id: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE hosts SET gone_at = $2, version = version + 1, updated_at = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records that a sync saw every host it manages that is not gone.
pub(crate) async fn seen(tx: &mut WriteTx, managed_by: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE hosts SET last_seen_at = $2 WHERE managed_by = $1 AND gone_at IS NULL")
        .bind(managed_by)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The distinct `managed_by` values that start with `prefix`.
pub(crate) async fn managed_sources(
    tx: &mut WriteTx,
    prefix: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT DISTINCT managed_by FROM hosts WHERE managed_by LIKE $1")
        // `_` and `%` in the prefix would widen the match: the filter below narrows it again
        .bind(format!("{prefix}%"))
        .fetch_all(tx.conn())
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get("managed_by")?))
        .collect::<Result<Vec<String>, StoreError>>()
        .map(|sources| {
            sources
                .into_iter()
                .filter(|source| source.starts_with(prefix))
                .collect()
        })
}
