//! The server's secret key file: created on first start with mode 0600, read on every start.
//! Every node of a cluster must use the same key file, or secrets sealed by one node will not
//! open on another.

use anyhow::{Context, bail};
use jeny_core::{SecretBox, SecretKey, Timestamp};
use jeny_store::{Row, Store, sqlx};
use std::io::Write;
use std::path::Path;

pub(crate) fn load_or_create(path: &Path) -> anyhow::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            SecretKey::from_base64(&text)
                .with_context(|| format!("the secret key in {} is not valid", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(error) => {
            Err(error).with_context(|| format!("cannot read the secret key {}", path.display()))
        }
    }
}

fn create(path: &Path) -> anyhow::Result<SecretKey> {
    let key = SecretKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        // Another process created it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)?;
            return Ok(SecretKey::from_base64(&text)?);
        }
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot create the secret key {}", path.display()));
        }
    };
    writeln!(file, "{}", key.to_base64().expose())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "created a new secret key; back it up: secret variables cannot be read without it");
    Ok(key)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the secret key file is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

const CHECK_SETTING: &str = "secret_key_check";
const CHECK_CONTEXT: &str = "jeny secret key check";
const CHECK_PLAINTEXT: &[u8] = b"jeny";

/// Proves that `key` is the key this database's secrets are sealed with: the first server to
/// start seals a known value into `settings`, and every later start (on any node) must open it.
/// A node started with another key file would otherwise run, and seal secrets nobody else can
/// read.
pub(crate) async fn verify_against_store(
    store: &Store,
    key: &SecretKey,
    key_file: &Path,
) -> anyhow::Result<()> {
    let secrets = SecretBox::new(key);
    let mut tx = store.begin().await?;
    sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING")
        .bind(CHECK_SETTING)
        .bind(secrets.seal(CHECK_PLAINTEXT, CHECK_CONTEXT))
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
    let stored: Vec<u8> = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(CHECK_SETTING)
        .fetch_one(tx.conn())
        .await?
        .try_get("value")?;
    tx.commit().await?;
    match secrets.open(&stored, CHECK_CONTEXT) {
        Ok(opened) if opened.expose().as_slice() == CHECK_PLAINTEXT => Ok(()),
        _ => bail!(
            "the secret key in {} is not the one this database's secrets were sealed with; every node \
             must use the same key file (restore the original key, or this node cannot read any secret)",
            key_file.display()
        ),
    }
}
