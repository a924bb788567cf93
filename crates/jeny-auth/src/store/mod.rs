//! Queries of the `people` and `api_tokens` tables.

use crate::model::{Email, Person};
use jeny_core::{Principal, Role, Timestamp, new_id};
use jeny_store::{Row, Store, StoreError, WriteTx, sqlx};

/// Inserts the person, or sets the role of the existing one. Returns whether it was created.
pub(crate) async fn upsert_person(
    tx: &mut WriteTx,
    email: &Email,
    role: Role,
) -> Result<(Person, bool), StoreError> {
    let now = Timestamp::now().as_micros();
    let existing = sqlx::query("SELECT id FROM people WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(tx.conn())
        .await?;
    let (id, created) = match existing {
        Some(row) => {
            let id: String = row.try_get("id")?;
            sqlx::query("UPDATE people SET role = $2, updated_at = $3 WHERE id = $1")
                .bind(&id)
                .bind(role.as_str())
                .bind(now)
                .execute(tx.conn())
                .await?;
            (id, false)
        }
        None => {
            let id = new_id();
            sqlx::query("INSERT INTO people (id, email, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(&id)
                .bind(email.as_str())
                .bind(role.as_str())
                .bind(now)
                .execute(tx.conn())
                .await?;
            (id, true)
        }
    };
    Ok((
        Person {
            id,
            email: email.as_str().to_owned(),
            role,
        },
        created,
    ))
}

pub(crate) async fn insert_token(
    tx: &mut WriteTx,
    person_id: &str,
    name: &str,
    token_hash: &str,
) -> Result<String, StoreError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO api_tokens (id, person_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(person_id)
    .bind(name)
    .bind(token_hash)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// A valid token's principal and when it was last used.
pub(crate) struct TokenOwner {
    pub token_id: String,
    pub principal: Principal,
    pub last_used_at: Option<i64>,
}

/// The owner of a token that is neither revoked nor expired.
pub(crate) async fn find_token_owner(
    store: &Store,
    token_hash: &str,
    now: i64,
) -> Result<Option<TokenOwner>, StoreError> {
    let row = sqlx::query(
        "SELECT t.id AS token_id, t.last_used_at, p.id AS person_id, p.email, p.role \
         FROM api_tokens t JOIN people p ON p.id = t.person_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let role: String = row.try_get("role")?;
    let role = role
        .parse::<Role>()
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    Ok(Some(TokenOwner {
        token_id: row.try_get("token_id")?,
        last_used_at: row.try_get("last_used_at")?,
        principal: Principal {
            person_id: row.try_get("person_id")?,
            email: row.try_get("email")?,
            role,
        },
    }))
}

pub(crate) async fn touch_token(store: &Store, token_id: &str, now: i64) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
        .bind(token_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    tx.commit().await
}
