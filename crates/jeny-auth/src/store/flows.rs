//! The short-lived records of sign-in flows: OIDC logins waiting for the provider's answer,
//! device codes of `jeny login`, and one-time console links. Each is used once; expired ones
//! are removed whenever a new one is written.

use jeny_core::Timestamp;
use jeny_store::{Row, StoreError, WriteTx, sqlx};

/// Removes what has expired (called before each insert, so the tables stay small).
async fn sweep(tx: &mut WriteTx, now: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1")
        .bind(now)
        .execute(tx.conn())
        .await?;
    // device codes are kept a day past expiry, so that a late poll learns `expired_token`
    sqlx::query("DELETE FROM device_codes WHERE expires_at < $1")
        .bind(now - 86_400_000_000)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM signin_links WHERE expires_at < $1")
        .bind(now - 86_400_000_000)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) struct OidcLogin {
    pub nonce: String,
    pub pkce_verifier: String,
    pub next_url: String,
}

pub(crate) async fn insert_login(
    tx: &mut WriteTx,
    state_hash: &str,
    login: &OidcLogin,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_micros();
    sweep(tx, now).await?;
    sqlx::query(
        "INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, next_url, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(state_hash)
    .bind(&login.nonce)
    .bind(&login.pkce_verifier)
    .bind(&login.next_url)
    .bind(now)
    .bind(expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Takes (reads and deletes) the login with this state, if it has not expired.
pub(crate) async fn take_login(
    tx: &mut WriteTx,
    state_hash: &str,
) -> Result<Option<OidcLogin>, StoreError> {
    let row = sqlx::query(
        "SELECT nonce, pkce_verifier, next_url, expires_at FROM oidc_logins WHERE state_hash = $1",
    )
    .bind(state_hash)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM oidc_logins WHERE state_hash = $1")
        .bind(state_hash)
        .execute(tx.conn())
        .await?;
    let expires_at: i64 = row.try_get("expires_at")?;
    if expires_at <= Timestamp::now().as_micros() {
        return Ok(None);
    }
    Ok(Some(OidcLogin {
        nonce: row.try_get("nonce")?,
        pkce_verifier: row.try_get("pkce_verifier")?,
        next_url: row.try_get("next_url")?,
    }))
}

pub(crate) struct DeviceCode {
    pub id: String,
    pub user_code: String,
    pub client_name: String,
    pub expires_at: i64,
    pub last_polled_at: Option<i64>,
    pub approved_by: Option<String>,
    pub denied: bool,
    pub consumed: bool,
}

fn device_from_row(row: &jeny_store::AnyRow) -> Result<DeviceCode, StoreError> {
    Ok(DeviceCode {
        id: row.try_get("id")?,
        user_code: row.try_get("user_code")?,
        client_name: row.try_get("client_name")?,
        expires_at: row.try_get("expires_at")?,
        last_polled_at: row.try_get("last_polled_at")?,
        approved_by: row.try_get("approved_by")?,
        denied: row.try_get::<Option<i64>, _>("denied_at")?.is_some(),
        consumed: row.try_get::<Option<i64>, _>("consumed_at")?.is_some(),
    })
}

const DEVICE_COLUMNS: &str =
    "id, user_code, client_name, expires_at, last_polled_at, approved_by, denied_at, consumed_at";

pub(crate) async fn insert_device_code(
    tx: &mut WriteTx,
    device_code_hash: &str,
    user_code: &str,
    client_name: &str,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_micros();
    sweep(tx, now).await?;
    sqlx::query(
        "INSERT INTO device_codes (id, device_code_hash, user_code, client_name, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(jeny_core::new_id())
    .bind(device_code_hash)
    .bind(user_code)
    .bind(client_name)
    .bind(now)
    .bind(expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn device_by_user_code(
    tx: &mut WriteTx,
    user_code: &str,
) -> Result<Option<DeviceCode>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {DEVICE_COLUMNS} FROM device_codes WHERE user_code = $1"
    ))
    .bind(user_code)
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(device_from_row).transpose()
}

pub(crate) async fn device_by_hash(
    tx: &mut WriteTx,
    device_code_hash: &str,
) -> Result<Option<DeviceCode>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {DEVICE_COLUMNS} FROM device_codes WHERE device_code_hash = $1"
    ))
    .bind(device_code_hash)
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(device_from_row).transpose()
}

/// Approves (with the approver) or denies (`None`) a pending device code.
pub(crate) async fn decide_device(
    tx: &mut WriteTx,
    id: &str,
    approved_by: Option<&str>,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_micros();
    match approved_by {
        Some(person_id) => {
            sqlx::query("UPDATE device_codes SET approved_by = $2, approved_at = $3 WHERE id = $1")
                .bind(id)
                .bind(person_id)
                .bind(now)
                .execute(tx.conn())
                .await?
        }
        None => {
            sqlx::query("UPDATE device_codes SET denied_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(tx.conn())
                .await?
        }
    };
    Ok(())
}

pub(crate) async fn device_polled(tx: &mut WriteTx, id: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE device_codes SET last_polled_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn device_consumed(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE device_codes SET consumed_at = $2 WHERE id = $1")
        .bind(id)
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn insert_link(
    tx: &mut WriteTx,
    token_hash: &str,
    email: &str,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    let now = Timestamp::now().as_micros();
    sweep(tx, now).await?;
    sqlx::query(
        "INSERT INTO signin_links (token_hash, email, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(email)
    .bind(now)
    .bind(expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Uses a link: its email when it exists, is unused and has not expired (it is then used).
pub(crate) async fn use_link(
    tx: &mut WriteTx,
    token_hash: &str,
) -> Result<Option<String>, StoreError> {
    let now = Timestamp::now().as_micros();
    let row = sqlx::query(
        "SELECT email FROM signin_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    sqlx::query("UPDATE signin_links SET used_at = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(Some(row.try_get("email")?))
}
