//! Every query on the chat tables: the Slack settings row, project channels, the messages
//! jeny posted (`chat_posts`), and the Slack requests already acted on (`chat_seen`).

use jeny_core::Timestamp;
use jeny_store::{Row, Store, StoreError, WriteTx, sqlx};

/// The settings row as stored; secrets still sealed.
#[derive(Debug, Clone, Default)]
pub(crate) struct SettingsRow {
    pub enabled: bool,
    pub mode: String,
    pub bot_token: Option<Vec<u8>>,
    pub signing_secret: Option<Vec<u8>>,
    pub app_token: Option<Vec<u8>>,
    pub default_channel: Option<String>,
    pub api_url: String,
    pub version: i64,
}

pub(crate) async fn settings(store: &Store) -> Result<Option<SettingsRow>, StoreError> {
    let row = sqlx::query(
        "SELECT enabled, mode, bot_token, signing_secret, app_token, default_channel, api_url, version \
         FROM chat_settings WHERE id = 'slack'",
    )
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(SettingsRow {
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        mode: row.try_get("mode")?,
        bot_token: row.try_get("bot_token")?,
        signing_secret: row.try_get("signing_secret")?,
        app_token: row.try_get("app_token")?,
        default_channel: row.try_get("default_channel")?,
        api_url: row.try_get("api_url")?,
        version: row.try_get("version")?,
    }))
}

pub(crate) async fn save_settings(tx: &mut WriteTx, row: &SettingsRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO chat_settings (id, enabled, mode, bot_token, signing_secret, app_token, \
         default_channel, api_url, version, updated_at) VALUES ('slack', $1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, mode = excluded.mode, \
         bot_token = excluded.bot_token, signing_secret = excluded.signing_secret, \
         app_token = excluded.app_token, default_channel = excluded.default_channel, \
         api_url = excluded.api_url, version = excluded.version, updated_at = excluded.updated_at",
    )
    .bind(i64::from(row.enabled))
    .bind(&row.mode)
    .bind(row.bot_token.clone())
    .bind(row.signing_secret.clone())
    .bind(row.app_token.clone())
    .bind(row.default_channel.clone())
    .bind(&row.api_url)
    .bind(row.version)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// (project, environment or "", channel), by project then environment.
pub(crate) async fn channels(store: &Store) -> Result<Vec<(String, String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT project, environment, channel FROM chat_channels ORDER BY project, environment",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("project")?,
                row.try_get("environment")?,
                row.try_get("channel")?,
            ))
        })
        .collect()
}

/// The channel for a deploy of `project`/`environment`: the environment's, else the project's.
pub(crate) async fn channel_for(
    store: &Store,
    project: &str,
    environment: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query(
        "SELECT channel FROM chat_channels WHERE project = $1 AND (environment = $2 OR environment = '') \
         ORDER BY environment DESC LIMIT 1",
    )
    .bind(project)
    .bind(environment)
    .fetch_optional(store.reader())
    .await?;
    Ok(match row {
        Some(row) => Some(row.try_get("channel")?),
        None => None,
    })
}

pub(crate) async fn replace_channels(
    tx: &mut WriteTx,
    project: &str,
    rows: &[(String, String)],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM chat_channels WHERE project = $1")
        .bind(project)
        .execute(tx.conn())
        .await?;
    for (environment, channel) in rows {
        sqlx::query(
            "INSERT INTO chat_channels (project, environment, channel) VALUES ($1, $2, $3)",
        )
        .bind(project)
        .bind(environment)
        .bind(channel)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// A message jeny posted (or is posting: `ts` is none).
#[derive(Debug, Clone)]
pub(crate) struct Post {
    pub key: String,
    pub channel: String,
    pub ts: Option<String>,
    pub thread_ts: Option<String>,
    pub state: String,
    pub content_hash: Option<String>,
}

const POST_COLUMNS: &str = "key, channel, ts, thread_ts, state, content_hash";

fn post_of(row: &jeny_store::AnyRow) -> Result<Post, StoreError> {
    Ok(Post {
        key: row.try_get("key")?,
        channel: row.try_get("channel")?,
        ts: row.try_get("ts")?,
        thread_ts: row.try_get("thread_ts")?,
        state: row.try_get("state")?,
        content_hash: row.try_get("content_hash")?,
    })
}

pub(crate) async fn post(store: &Store, key: &str) -> Result<Option<Post>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {POST_COLUMNS} FROM chat_posts WHERE key = $1"
    ))
    .bind(key)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(post_of).transpose()
}

/// The posts still changing (running deploys' messages).
pub(crate) async fn live_posts(store: &Store) -> Result<Vec<Post>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {POST_COLUMNS} FROM chat_posts WHERE state = 'live' ORDER BY created_at"
    ))
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(post_of).collect()
}

/// Records that a post is about to go out (no `ts` yet); false if one is already recorded.
pub(crate) async fn begin_post(
    store: &Store,
    key: &str,
    channel: &str,
    thread_ts: Option<&str>,
) -> Result<bool, StoreError> {
    let now = Timestamp::now().as_micros();
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO chat_posts (key, channel, requested_channel, ts, thread_ts, state, content_hash, created_at, updated_at) \
         VALUES ($1, $2, $2, NULL, $3, 'live', NULL, $4, $4) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(channel)
    .bind(thread_ts.map(str::to_owned))
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(inserted == 1)
}

/// Records what a post now shows: its `ts` and channel id once posted, its content, its state.
pub(crate) async fn record_post(
    store: &Store,
    key: &str,
    channel: &str,
    ts: &str,
    content_hash: &str,
    state: &str,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE chat_posts SET channel = $2, ts = $3, content_hash = $4, state = $5, updated_at = $6 WHERE key = $1",
    )
    .bind(key)
    .bind(channel)
    .bind(ts)
    .bind(content_hash)
    .bind(state)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// The id of a channel configured as `requested` (a name), from an earlier post to it: Slack's
/// history methods take only ids.
pub(crate) async fn channel_id(
    store: &Store,
    requested: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query(
        "SELECT channel FROM chat_posts WHERE requested_channel = $1 AND ts IS NOT NULL LIMIT 1",
    )
    .bind(requested)
    .fetch_optional(store.reader())
    .await?;
    Ok(match row {
        Some(row) => Some(row.try_get("channel")?),
        None => None,
    })
}

/// Gives up on a post (its channel does not exist, the bot is not in it): it is not retried.
pub(crate) async fn abandon_post(store: &Store, key: &str) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE chat_posts SET state = 'abandoned', updated_at = $2 WHERE key = $1")
        .bind(key)
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
    tx.commit().await
}

/// How many expired `chat_seen` rows one new request deletes: the table stays small without a
/// background loop, and no request pays for a long backlog at once.
const SEEN_CLEANUP_BATCH: i64 = 100;

/// Records `key` (a request's digest) for `keep_for`, on the database's clock; true when it was
/// not already recorded (or only expired), so exactly one caller of a cluster wins. Deletes a
/// bounded batch of expired keys in the same transaction.
pub(crate) async fn remember(
    store: &Store,
    key: &str,
    keep_for: std::time::Duration,
) -> Result<bool, StoreError> {
    let keep_for_micros = i64::try_from(keep_for.as_micros()).unwrap_or(i64::MAX / 2);
    let mut tx = store.begin().await?;
    let now = tx.now_sql();
    sqlx::query(&format!(
        "DELETE FROM chat_seen WHERE key IN \
         (SELECT key FROM chat_seen WHERE expires_at < {now} LIMIT $1)"
    ))
    .bind(SEEN_CLEANUP_BATCH)
    .execute(tx.conn())
    .await?;
    let inserted = sqlx::query(&format!(
        "INSERT INTO chat_seen (key, expires_at) VALUES ($1, {now} + $2) \
         ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE chat_seen.expires_at < {now}"
    ))
    .bind(key)
    .bind(keep_for_micros)
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(inserted == 1)
}
