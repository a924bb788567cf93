//! `jeny login` and `jeny logout`. Login is the OAuth 2.0 device flow (RFC 8628) that the
//! jeny server serves itself: the CLI shows a code and a URL, the person approves in a browser
//! where they are signed in, and the CLI receives a personal API token, stored in the login
//! file (`connection::login_file`) with mode 0600 in a 0700 folder. Logout revokes that token
//! on the server and removes the file.

use crate::Connection;
use crate::connection::login_file;
use crate::exit;
use anyhow::Context;
use jeny_client::{Client, DevicePoll};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "jeny-cli";

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this machine".to_owned())
}

/// Writes `{"server", "token"}` to the login file, readable by its owner only.
fn store_login(server: &str, token: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = login_file().context("cannot find a config folder: set HOME or XDG_CONFIG_HOME")?;
    let folder = path.parent().context("the login file has no folder")?;
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", folder.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // an existing file keeps its mode through open(): make sure it is private too
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let body = serde_json::json!({"server": server, "token": token});
    file.write_all(format!("{body:#}\n").as_bytes())?;
    Ok(path)
}

pub(crate) async fn login(server: &str) -> anyhow::Result<i32> {
    let server = server.trim_end_matches('/');
    let client = Client::new(server, None);
    let name = format!("jeny login on {}", host_name());
    let authorization = client
        .start_device_login(CLIENT_ID, &name)
        .await
        .with_context(|| format!("cannot start signing in at {server}"))?;
    eprintln!(
        "To sign in, open {} in a browser where you are signed in to jeny, and enter the code:\n\n    {}\n\n(or open {})\nWaiting for approval...",
        authorization.verification_uri,
        authorization.user_code,
        authorization.verification_uri_complete
    );
    let deadline = Instant::now() + Duration::from_secs(authorization.expires_in);
    let mut interval = Duration::from_secs(authorization.interval.max(1));
    let token = loop {
        tokio::time::sleep(interval).await;
        if Instant::now() > deadline {
            eprintln!("jeny: the code expired before it was approved: run `jeny login` again");
            return Ok(exit::NOT_SIGNED_IN);
        }
        match client
            .poll_device_login(CLIENT_ID, &authorization.device_code)
            .await?
        {
            DevicePoll::Token(token) => break token,
            DevicePoll::Pending => {}
            DevicePoll::SlowDown => interval += Duration::from_secs(5),
            DevicePoll::Denied => {
                eprintln!("jeny: the sign-in was denied in the browser");
                return Ok(exit::REFUSED);
            }
            DevicePoll::Expired => {
                eprintln!("jeny: the code expired before it was approved: run `jeny login` again");
                return Ok(exit::NOT_SIGNED_IN);
            }
            DevicePoll::Refused(reason) => {
                eprintln!("jeny: the server refused the sign-in: {reason}");
                return Ok(exit::REFUSED);
            }
        }
    };
    let path = store_login(server, &token)?;
    let me = client.with_token(Some(token)).me().await?;
    println!(
        "signed in to {server} as {} ({}); the token is in {}",
        me.email,
        me.role,
        path.display()
    );
    Ok(0)
}

pub(crate) async fn logout(connection: &Connection) -> anyhow::Result<i32> {
    let client = connection.client()?;
    let revoked = match client.me().await {
        Ok(me) => match me.token {
            Some(token) => {
                client.revoke_token(&token.id).await?;
                true
            }
            None => false,
        },
        // a token the server no longer accepts is as good as revoked
        Err(error) if error.status() == Some(401) => false,
        Err(error) => return Err(error.into()),
    };
    let stored_here = connection.token.is_none();
    if stored_here
        && let Some(path) = login_file()
        && path.exists()
    {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    match (revoked, stored_here) {
        (true, true) => println!(
            "signed out of {}: the token is revoked and forgotten",
            client.base_url()
        ),
        (true, false) => println!("the token is revoked"),
        (false, _) => println!(
            "signed out of {}: the token was no longer valid",
            client.base_url()
        ),
    }
    Ok(0)
}
