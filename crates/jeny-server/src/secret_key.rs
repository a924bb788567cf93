//! The server's secret key file: created on first start with mode 0600, read on every start.
//! Every node of a cluster must use the same key file, or secrets sealed by one node will not
//! open on another.

use anyhow::Context;
use jeny_core::SecretKey;
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
