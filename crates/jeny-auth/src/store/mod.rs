//! Queries of the `people` and `api_tokens` tables; the other tables of the auth part have a
//! file each.

pub(crate) mod agents;
pub(crate) mod allowlist;
pub(crate) mod flows;
pub(crate) mod people;
pub(crate) mod sessions;

use crate::model::{Email, Person};
use jeny_core::{Credential, Principal, Role, Timestamp, new_id};
use jeny_store::{Row, Store, StoreError, WriteTx, sqlx};

/// How a credential is found: by the hash of its secret (a request presenting it) or by its id
/// (a long answer checking again the credential it was opened with).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup<'a> {
    Hash(&'a str),
    Id(&'a str),
}

impl<'a> Lookup<'a> {
    /// The column it matches, the same in every credential table.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Lookup::Hash(_) => "token_hash",
            Lookup::Id(_) => "id",
        }
    }

    pub(crate) fn value(self) -> &'a str {
        match self {
            Lookup::Hash(value) | Lookup::Id(value) => value,
        }
    }
}

/// Tells live streams, on every node, to check their credentials again once `tx` commits: called
/// first in every transaction that ends a credential or changes someone's roles, so that the
/// announcement is out before the transaction's own events are.
pub(crate) async fn announce_credentials_change(tx: &mut WriteTx) -> Result<(), StoreError> {
    tx.wake_on_commit(jeny_store::Channel::Credentials).await
}

/// A role read back from the store.
pub(crate) fn parse_role(raw: &str) -> Result<Role, StoreError> {
    raw.parse::<Role>()
        .map_err(|error| StoreError::Corrupt(error.to_string()))
}

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
    insert_limited_token(tx, person_id, name, token_hash, None, None).await
}

pub(crate) async fn insert_limited_token(
    tx: &mut WriteTx,
    person_id: &str,
    name: &str,
    token_hash: &str,
    scope: Option<crate::TokenScope>,
    expires_at: Option<Timestamp>,
) -> Result<String, StoreError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO api_tokens (id, person_id, name, token_hash, created_at, scope, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(person_id)
    .bind(name)
    .bind(token_hash)
    .bind(Timestamp::now().as_micros())
    .bind(scope.map(|scope| scope.as_str().to_owned()))
    .bind(expires_at.map(Timestamp::as_micros))
    .execute(tx.conn())
    .await?;
    Ok(id)
}

fn token_from_row(row: &jeny_store::AnyRow) -> Result<crate::ApiToken, StoreError> {
    let scope: Option<String> = row.try_get("scope")?;
    let at = |column: &str| -> Result<Option<Timestamp>, StoreError> {
        let value: Option<i64> = row.try_get(column)?;
        Ok(value.map(Timestamp::from_micros))
    };
    Ok(crate::ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scope: scope.as_deref().and_then(crate::TokenScope::parse),
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        last_used_at: at("last_used_at")?,
        expires_at: at("expires_at")?,
        revoked_at: at("revoked_at")?,
    })
}

const TOKEN_COLUMNS: &str = "id, name, scope, created_at, last_used_at, expires_at, revoked_at";

/// A person's tokens, newest first (revoked ones included).
pub(crate) async fn tokens_of(
    store: &Store,
    person_id: &str,
) -> Result<Vec<crate::ApiToken>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE person_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(person_id)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(token_from_row).collect()
}

/// Revokes a token of `person_id`; the token as it is now, or `None` when they have no such token.
pub(crate) async fn revoke_token(
    tx: &mut WriteTx,
    person_id: &str,
    token_id: &str,
) -> Result<Option<crate::ApiToken>, StoreError> {
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND person_id = $2",
    )
    .bind(token_id)
    .bind(person_id)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 AND person_id = $2"
    ))
    .bind(token_id)
    .bind(person_id)
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(token_from_row).transpose()
}

/// A valid credential's principal and when it was last used.
pub(crate) struct TokenOwner {
    pub token_id: String,
    pub principal: Principal,
    pub last_used_at: Option<i64>,
}

/// The owner of a token that is neither revoked nor expired.
pub(crate) async fn find_token_owner(
    store: &Store,
    token: Lookup<'_>,
    now: i64,
) -> Result<Option<TokenOwner>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT t.id AS token_id, t.last_used_at, t.scope, p.id AS person_id, p.email, p.role \
         FROM api_tokens t JOIN people p ON p.id = t.person_id \
         WHERE t.{} = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
        token.column()
    ))
    .bind(token.value())
    .bind(now)
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let role = parse_role(&row.try_get::<String, _>("role")?)?;
    let scope: Option<String> = row.try_get("scope")?;
    let token_id: String = row.try_get("token_id")?;
    let person_id: String = row.try_get("person_id")?;
    let principal = Principal {
        grants: people::grants_of(store, &person_id).await?,
        person_id,
        email: row.try_get("email")?,
        role,
        token_id: Some(token_id.clone()),
        credential: Credential::ApiToken,
    };
    // A token limited to a scope acts with the lesser of its scope and its owner's roles.
    let principal = match scope.as_deref().and_then(crate::TokenScope::parse) {
        Some(scope) => principal.capped(scope.role()),
        None => principal,
    };
    Ok(Some(TokenOwner {
        last_used_at: row.try_get("last_used_at")?,
        principal,
        token_id,
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

/// A token's owner and details, whatever its state (for introspection): `None` when no token
/// has this hash.
pub(crate) async fn token_by_hash(
    store: &Store,
    token_hash: &str,
) -> Result<Option<(crate::ApiToken, String, String, Role)>, StoreError> {
    let row = sqlx::query(
        "SELECT t.id, t.name, t.scope, t.created_at, t.last_used_at, t.expires_at, t.revoked_at, \
         p.id AS person_id, p.email, p.role FROM api_tokens t JOIN people p ON p.id = t.person_id \
         WHERE t.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let role = parse_role(&row.try_get::<String, _>("role")?)?;
    Ok(Some((
        token_from_row(&row)?,
        row.try_get("person_id")?,
        row.try_get("email")?,
        role,
    )))
}

/// Revokes every API token of a person that is still valid; how many.
pub(crate) async fn revoke_tokens_of(tx: &mut WriteTx, person_id: &str) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE person_id = $1 AND revoked_at IS NULL",
    )
    .bind(person_id)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}
