//! The `variables` table. A row belongs to a project (`environment_id` NULL) or to one of its
//! environments. A plain value is in `value`; a secret's is in `sealed_value`, encrypted by the
//! service before it gets here, and this module never sees it in clear.

use crate::model::Variable;
use jeny_core::{PageRequest, Timestamp, new_id};
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};

/// Which rows: a project's own variables or an environment's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowScope<'a> {
    pub project_id: &'a str,
    pub environment_id: Option<&'a str>,
}

impl RowScope<'_> {
    /// The SQL condition selecting this scope, with `$1` the project and `$2` the environment.
    fn condition(&self) -> &'static str {
        match self.environment_id {
            None => "project_id = $1 AND environment_id IS NULL AND $2 IS NULL",
            Some(_) => "project_id = $1 AND environment_id = $2",
        }
    }
}

const COLUMNS: &str = "id, key, value, sealed_value IS NOT NULL AS has_sealed, secret, version, created_at, updated_at";

/// What is stored for a value.
pub(crate) enum StoredValue {
    Plain(String),
    Sealed(Vec<u8>),
    Unset,
}

pub(crate) async fn list(
    store: &Store,
    scope: RowScope<'_>,
    page: &PageRequest,
) -> Result<Vec<Variable>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM variables WHERE {} AND ($3 IS NULL OR key > $3) ORDER BY key LIMIT $4",
        scope.condition()
    ))
    .bind(scope.project_id)
    .bind(scope.environment_id)
    .bind(page.after.clone())
    .bind(page.fetch_limit())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn get(
    store: &Store,
    scope: RowScope<'_>,
    key: &str,
) -> Result<Option<Variable>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM variables WHERE {} AND key = $3",
        scope.condition()
    ))
    .bind(scope.project_id)
    .bind(scope.environment_id)
    .bind(key)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn get_for_update(
    tx: &mut WriteTx,
    scope: RowScope<'_>,
    key: &str,
) -> Result<Option<Variable>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM variables WHERE {} AND key = $3{}",
        scope.condition(),
        tx.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(scope.project_id)
        .bind(scope.environment_id)
        .bind(key)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Inserts a variable with a fresh id; `seal` gets that id (the secret's context) and returns
/// what to store.
pub(crate) async fn insert(
    tx: &mut WriteTx,
    scope: RowScope<'_>,
    key: &str,
    secret: bool,
    seal: impl FnOnce(&str) -> StoredValue,
) -> Result<Variable, StoreError> {
    let now = Timestamp::now();
    let id = new_id();
    let stored = seal(&id);
    let (value, sealed) = split(&stored);
    sqlx::query(
        "INSERT INTO variables (id, project_id, environment_id, key, value, sealed_value, secret, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)",
    )
    .bind(&id)
    .bind(scope.project_id)
    .bind(scope.environment_id)
    .bind(key)
    .bind(value.clone())
    .bind(sealed)
    .bind(i64::from(secret))
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(shown(id, key, &stored, secret, now, now, 1))
}

/// Replaces a variable's value and secrecy. `stored` is `None` to keep the stored value as is.
pub(crate) async fn replace(
    tx: &mut WriteTx,
    current: &Variable,
    secret: bool,
    stored: StoredValue,
) -> Result<Variable, StoreError> {
    let now = Timestamp::now();
    let (value, sealed) = split(&stored);
    sqlx::query(
        "UPDATE variables SET value = $2, sealed_value = $3, secret = $4, version = version + 1, updated_at = $5 WHERE id = $1",
    )
    .bind(&current.id)
    .bind(value)
    .bind(sealed)
    .bind(i64::from(secret))
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(shown(
        current.id.clone(),
        &current.key,
        &stored,
        secret,
        current.created_at,
        now,
        current.version + 1,
    ))
}

/// The stored plain value or sealed bytes of a variable, for re-sealing or conversion.
pub(crate) async fn stored_value(tx: &mut WriteTx, id: &str) -> Result<StoredValue, StoreError> {
    let row = sqlx::query("SELECT value, sealed_value FROM variables WHERE id = $1")
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    let value: Option<String> = row.try_get("value")?;
    let sealed: Option<Vec<u8>> = row.try_get("sealed_value")?;
    Ok(match (value, sealed) {
        (_, Some(sealed)) => StoredValue::Sealed(sealed),
        (Some(value), None) => StoredValue::Plain(value),
        (None, None) => StoredValue::Unset,
    })
}

/// A variable with what is stored for its value, for handing variables to a deploy.
pub(crate) struct StoredVariable {
    pub id: String,
    pub key: String,
    pub secret: bool,
    pub version: i64,
    pub from_environment: bool,
    pub stored: StoredValue,
}

/// Every variable of a project and of one of its environments, in one read (one snapshot, so a
/// deploy never mixes two versions of the set).
pub(crate) async fn project_and_environment(
    store: &Store,
    project_id: &str,
    environment_id: &str,
) -> Result<Vec<StoredVariable>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, key, value, sealed_value, secret, version, environment_id IS NOT NULL AS from_environment \
         FROM variables WHERE project_id = $1 AND (environment_id IS NULL OR environment_id = $2) ORDER BY key",
    )
    .bind(project_id)
    .bind(environment_id)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            let value: Option<String> = row.try_get("value")?;
            let sealed: Option<Vec<u8>> = row.try_get("sealed_value")?;
            let from_environment = row
                .try_get::<bool, _>("from_environment")
                .or_else(|_| row.try_get::<i64, _>("from_environment").map(|n| n != 0))?;
            Ok(StoredVariable {
                id: row.try_get("id")?,
                key: row.try_get("key")?,
                secret: row.try_get::<i64, _>("secret")? != 0,
                version: row.try_get("version")?,
                from_environment,
                stored: match (value, sealed) {
                    (_, Some(sealed)) => StoredValue::Sealed(sealed),
                    (Some(value), None) => StoredValue::Plain(value),
                    (None, None) => StoredValue::Unset,
                },
            })
        })
        .collect()
}

pub(crate) async fn delete(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM variables WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn split(stored: &StoredValue) -> (Option<String>, Option<Vec<u8>>) {
    match stored {
        StoredValue::Plain(value) => (Some(value.clone()), None),
        StoredValue::Sealed(sealed) => (None, Some(sealed.clone())),
        StoredValue::Unset => (None, None),
    }
}

fn shown(
    id: String,
    key: &str,
    stored: &StoredValue,
    secret: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: i64,
) -> Variable {
    Variable {
        id,
        key: key.to_owned(),
        value: match stored {
            StoredValue::Plain(value) if !secret => Some(value.clone()),
            _ => None,
        },
        secret,
        is_set: !matches!(stored, StoredValue::Unset),
        created_at,
        updated_at,
        version,
    }
}

fn from_row(row: &AnyRow) -> Result<Variable, StoreError> {
    let secret = row.try_get::<i64, _>("secret")? != 0;
    let value: Option<String> = row.try_get("value")?;
    let has_sealed = row
        .try_get::<bool, _>("has_sealed")
        .or_else(|_| row.try_get::<i64, _>("has_sealed").map(|n| n != 0))?;
    Ok(Variable {
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        is_set: value.is_some() || has_sealed,
        value: if secret { None } else { value },
        secret,
        version: row.try_get("version")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
    })
}
