//! `jeny deploy`, `deploy-log`, `cancel`, `redeploy`, `lock` and `unlock`: starting a deploy,
//! waiting in its queue, following its output live (resuming after a dropped connection), and
//! exiting with its outcome.

use crate::connection::Connection;
use crate::exit;
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use jeny_api::deploys::{Deploy, DeployRequest, DeployStatus, LockRequest};
use jeny_client::Client;
use std::io::{IsTerminal, Write};
use std::time::Duration;

pub const DEPLOY_HELP: &str = "\
Starts the deploy, shows its place in the queue while it waits, streams its output (the command's
stdout to stdout, its stderr and jeny's own lines to stderr; colours only on a terminal), and exits
with its outcome: 0 when it succeeded, the command's exit code when it failed, 240 cancelled,
241 timed out, 242 errored, 243 interrupted, 244 detached (see `docs/cli.md`).

Ctrl-C asks whether to cancel the deploy or to detach and leave it running; without a terminal it
does what --on-interrupt says (detach by default).

Examples:
  jeny deploy shop production
  jeny deploy shop production --ref v1.4.0 --description 'release 1.4'
  jeny deploy shop production --tag az=us-east-1a        # a canary on one zone
  jeny deploy shop staging --detach                       # prints the id and URL, returns at once
  JENY_SERVER=https://jeny.example.com JENY_TOKEN=... jeny deploy shop production --on-interrupt cancel";

/// What Ctrl-C (SIGINT) does while a deploy is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnInterrupt {
    /// Ask on the terminal (the default when stdin is a terminal).
    Ask,
    /// Cancel the deploy, then wait for it to end.
    Cancel,
    /// Stop following and leave the deploy running (the default without a terminal).
    Detach,
}

#[derive(Debug, Clone, Default, Args)]
pub struct FollowArgs {
    /// What Ctrl-C does while following [default: ask on a terminal, else detach].
    #[arg(long, value_enum, value_name = "WHAT")]
    pub on_interrupt: Option<OnInterrupt>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    pub project: String,
    pub environment: String,
    /// A git ref (branch, tag, commit) or version label [default: the default branch].
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Narrow the environment's hosts for this deploy: `key=value`, repeat for several.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Print the deploy's id and URL and return at once.
    #[arg(long)]
    pub detach: bool,
    #[command(flatten)]
    pub follow: FollowArgs,
    #[command(flatten)]
    pub connection: Connection,
}

pub async fn deploy(args: DeployArgs) -> anyhow::Result<i32> {
    let client = args.connection.client()?;
    let mut host_filter = std::collections::BTreeMap::new();
    for tag in &args.tags {
        let Some((key, value)) = tag.split_once('=') else {
            anyhow::bail!("--tag {tag:?} is not of the form key=value");
        };
        host_filter.insert(key.to_owned(), value.to_owned());
    }
    let request = DeployRequest {
        git_ref: args.git_ref,
        description: args.description,
        host_filter,
    };
    let deploy = client
        .create_deploy(&args.project, &args.environment, &request)
        .await?;
    if args.detach {
        println!("{}\t{}", deploy.id, deploy.url);
        return Ok(0);
    }
    eprintln!("deploy {} ({})", deploy.id, deploy.url);
    follow(&client, deploy, &args.follow).await
}

/// Waits in the queue, then streams the output until the deploy ends (or Ctrl-C detaches).
async fn follow(client: &Client, deploy: Deploy, args: &FollowArgs) -> anyhow::Result<i32> {
    let on_interrupt = args
        .on_interrupt
        .unwrap_or(if std::io::stdin().is_terminal() {
            OnInterrupt::Ask
        } else {
            OnInterrupt::Detach
        });
    let id = deploy.id.clone();
    let watch = async {
        wait_in_queue(client, deploy).await?;
        stream(client, &id).await
    };
    tokio::pin!(watch);
    tokio::select! {
        outcome = &mut watch => outcome,
        _ = tokio::signal::ctrl_c() => {
            let choice = match on_interrupt {
                OnInterrupt::Ask => ask().await,
                other => other,
            };
            match choice {
                OnInterrupt::Cancel => {
                    eprintln!("\ncancelling deploy {id}");
                    client.cancel_deploy(&id).await?;
                    // Follow to the end: the command gets its grace period.
                    watch.await
                }
                _ => {
                    eprintln!("\ndetached; deploy {id} goes on. Follow it again with: jeny deploy-log {id} --follow");
                    Ok(exit::DETACHED)
                }
            }
        }
    }
}

/// Asks on the terminal whether to cancel or detach.
async fn ask() -> OnInterrupt {
    eprint!("\ncancel the deploy (c) or detach and leave it running (d)? [c/d] ");
    let _ = std::io::stderr().flush();
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    match answer {
        Ok(Ok(line)) if line.trim().eq_ignore_ascii_case("c") => OnInterrupt::Cancel,
        _ => OnInterrupt::Detach,
    }
}

/// Shows the deploy's place in its queue until it starts (a spinner on a terminal, a line per
/// change otherwise).
async fn wait_in_queue(client: &Client, mut deploy: Deploy) -> anyhow::Result<()> {
    let terminal = std::io::stderr().is_terminal();
    let spinner = ['|', '/', '-', '\\'];
    let mut shown: Option<i64> = None;
    let mut tick = 0usize;
    while deploy.status == DeployStatus::Queued {
        let position = deploy.queue_position.unwrap_or(1);
        if terminal {
            eprint!(
                "\r{} queued: position {position} in {}/{}   ",
                spinner[tick % spinner.len()],
                deploy.project,
                deploy.environment
            );
            tick += 1;
        } else if shown != Some(position) {
            eprintln!("queued: position {position}");
        }
        shown = Some(position);
        tokio::time::sleep(Duration::from_millis(250)).await;
        deploy = client.get_deploy(&deploy.id).await?;
    }
    if terminal && shown.is_some() {
        eprintln!("\rstarted{}", " ".repeat(40));
    }
    Ok(())
}

/// Streams the output over SSE until the `end` event, reconnecting after the last event seen
/// when the connection drops. Returns the deploy's exit code.
async fn stream(client: &Client, id: &str) -> anyhow::Result<i32> {
    let colours = std::io::stdout().is_terminal();
    let mut last_event: Option<String> = None;
    let mut failures = 0u32;
    loop {
        let mut request = client
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/deploys/{id}/output"),
            )
            .header("accept", "text/event-stream");
        if let Some(last) = &last_event {
            request = request.header("last-event-id", last);
        }
        let response = match request.send().await {
            Ok(response) if response.status().is_success() => response,
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                anyhow::bail!("the server answered {status}: {body}");
            }
            Err(error) => {
                failures += 1;
                if failures > 30 {
                    return Err(jeny_client::ClientError::Http(error).into());
                }
                eprintln!("jeny: lost the output stream ({error}); reconnecting");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(failures.min(4)))).await;
                continue;
            }
        };
        let mut body = response.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            match body.next().await {
                Some(Ok(bytes)) => {
                    failures = 0;
                    buffer.extend_from_slice(&bytes);
                    while let Some(end) = find(&buffer, b"\n\n") {
                        let message: Vec<u8> = buffer.drain(..end + 2).collect();
                        if let Some(outcome) = handle(&message, colours, &mut last_event)? {
                            return Ok(outcome);
                        }
                    }
                }
                Some(Err(error)) => {
                    eprintln!("jeny: lost the output stream ({error}); reconnecting");
                    break;
                }
                None => break,
            }
        }
        failures += 1;
        if failures > 30 {
            anyhow::bail!("the output stream keeps dropping; giving up");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Handles one SSE message; returns the exit code at the `end` event.
fn handle(
    message: &[u8],
    colours: bool,
    last_event: &mut Option<String>,
) -> anyhow::Result<Option<i32>> {
    let text = String::from_utf8_lossy(message);
    let mut event = None;
    let mut data = String::new();
    let mut id = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event: ") {
            event = Some(value.to_owned());
        } else if let Some(value) = line.strip_prefix("data: ") {
            data.push_str(value);
        } else if let Some(value) = line.strip_prefix("id: ") {
            id = Some(value.to_owned());
        }
    }
    match event.as_deref() {
        Some("output") => {
            let event: serde_json::Value = serde_json::from_str(&data)?;
            let mut stdout = std::io::stdout().lock();
            let mut stderr = std::io::stderr().lock();
            for chunk in event["chunks"].as_array().into_iter().flatten() {
                let text = chunk["text"].as_str().unwrap_or_default();
                let text = if colours {
                    text.to_owned()
                } else {
                    strip_ansi(text)
                };
                if chunk["stream"] == "stdout" {
                    stdout.write_all(text.as_bytes())?;
                } else {
                    stderr.write_all(text.as_bytes())?;
                }
            }
            stdout.flush()?;
            if id.is_some() {
                *last_event = id;
            }
            Ok(None)
        }
        Some("end") => {
            let deploy: Deploy = serde_json::from_str(&data)?;
            Ok(Some(exit::of_deploy(&deploy)))
        }
        _ => Ok(None),
    }
}

/// `text` without ANSI escape sequences (CSI `ESC [ ... final`, and two-byte `ESC x`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                // OSC: up to BEL or ESC \.
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

pub async fn log(connection: &Connection, id: &str, follow_it: bool) -> anyhow::Result<i32> {
    let client = connection.client()?;
    if !follow_it {
        let text = client.deploy_output(id, false).await?;
        let text = if std::io::stdout().is_terminal() {
            text
        } else {
            strip_ansi(&text)
        };
        print!("{text}");
        return Ok(0);
    }
    let deploy = client.get_deploy(id).await?;
    follow(&client, deploy, &FollowArgs::default()).await
}

pub async fn cancel(connection: &Connection, id: &str) -> anyhow::Result<i32> {
    let client = connection.client()?;
    let deploy = client.cancel_deploy(id).await?;
    match deploy.status {
        DeployStatus::Cancelled => eprintln!("deploy {id} cancelled"),
        _ => eprintln!("deploy {id} is being cancelled (its command gets its grace period)"),
    }
    Ok(0)
}

pub async fn redeploy(
    connection: &Connection,
    id: &str,
    detach: bool,
    follow_args: &FollowArgs,
) -> anyhow::Result<i32> {
    let client = connection.client()?;
    let deploy = client.redeploy(id).await?;
    if detach {
        println!("{}\t{}", deploy.id, deploy.url);
        return Ok(0);
    }
    eprintln!("deploy {} ({})", deploy.id, deploy.url);
    follow(&client, deploy, follow_args).await
}

pub async fn lock(
    connection: &Connection,
    project: &str,
    environment: &str,
    reason: String,
    duration: Option<Duration>,
) -> anyhow::Result<i32> {
    let client = connection.client()?;
    let expires_at = duration.map(|duration| {
        jeny_core::Timestamp::from_micros(
            jeny_core::Timestamp::now().as_micros() + duration.as_micros() as i64,
        )
    });
    let lock = client
        .lock_environment(project, environment, &LockRequest { reason, expires_at })
        .await?;
    match lock.expires_at {
        Some(at) => eprintln!("{project}/{environment} locked until {}", at.to_rfc3339()),
        None => eprintln!("{project}/{environment} locked until unlocked"),
    }
    Ok(0)
}

pub async fn unlock(
    connection: &Connection,
    project: &str,
    environment: &str,
) -> anyhow::Result<i32> {
    connection
        .client()?
        .unlock_environment(project, environment)
        .await?;
    eprintln!("{project}/{environment} unlocked");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::strip_ansi;

    #[test]
    fn colours_and_other_escapes_are_removed_text_stays() {
        assert_eq!(strip_ansi("\u{1b}[32mgreen\u{1b}[0m ok"), "green ok");
        assert_eq!(strip_ansi("a\u{1b}[1;31;40mb\u{1b}[Kc"), "abc");
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}text"), "text");
        assert_eq!(strip_ansi("plain é"), "plain é");
    }
}
