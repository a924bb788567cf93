//! Which server and token a command uses: `--server`/`--token`, else `JENY_SERVER`/`JENY_TOKEN`
//! (clap reads both), else the stored login (`$XDG_CONFIG_HOME/jeny/login.json`, by default
//! `~/.config/jeny/login.json`, holding `{"server": "...", "token": "..."}`), which `jeny login`
//! writes.

use clap::Args;
use jeny_client::Client;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Args)]
pub struct Connection {
    /// The jeny server's URL, such as https://jeny.example.com [default: the stored login's].
    #[arg(long, env = "JENY_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// An API token [default: the stored login's].
    #[arg(long, env = "JENY_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// No server or no token could be found.
#[derive(Debug, thiserror::Error)]
#[error(
    "not signed in: no {missing} given. Pass --server and --token, set JENY_SERVER and JENY_TOKEN, or sign in with `jeny login`"
)]
pub struct NotSignedIn {
    missing: &'static str,
}

#[derive(Debug, serde::Deserialize)]
struct StoredLogin {
    server: Option<String>,
    token: Option<String>,
}

/// Where the stored login is.
pub fn login_file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("jeny").join("login.json"))
}

impl Connection {
    pub fn client(&self) -> Result<Client, NotSignedIn> {
        let stored = login_file()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice::<StoredLogin>(&bytes).ok());
        let server = self
            .server
            .clone()
            .or_else(|| stored.as_ref().and_then(|login| login.server.clone()))
            .ok_or(NotSignedIn {
                missing: "server URL",
            })?;
        let token = self
            .token
            .clone()
            .or_else(|| stored.as_ref().and_then(|login| login.token.clone()))
            .ok_or(NotSignedIn { missing: "token" })?;
        Ok(Client::new(server, Some(token)))
    }
}
