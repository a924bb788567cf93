//! Deploy messages: a consumer of the event log. For each `deploy.*` event it brings the deploy's
//! one message up to date (posting it the first time, `chat.update` after), and while deploys
//! run it refreshes their messages every few seconds with the elapsed time and the last lines.
//! A failure adds the end of the output in the message's thread.
//!
//! Nothing is lost or repeated across restarts: the cursor moves only after the events were
//! handled, every message is rendered from the deploy's current state (so handling an event
//! twice only updates a message to what it already shows), and `chat_posts` remembers which
//! Slack message belongs to which deploy. A post interrupted by a crash is found again in the
//! channel by its metadata before anything is posted again. One node of a cluster does this at
//! a time (a lease). Slack being slow or down holds back only this consumer, never a deploy.

use crate::blocks::{self, FAILURE_TAIL_LINES, RUNNING_TAIL_LINES};
use crate::slack::{Message, SlackApi, SlackError};
use crate::{Chat, Settings, store};
use jeny_deploys::{Deploy, DeployError, DeployStatus};
use jeny_events::{EventFilter, StartFrom};
use jeny_store::Channel;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const CURSOR: &str = "chat-notifier";
const LEASE: &str = "chat-notifier";
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often running deploys' messages are refreshed.
const REFRESH: Duration = Duration::from_secs(5);
const BATCH: i64 = 100;

pub(crate) async fn run(chat: Chat, shutdown: CancellationToken) {
    let mut wake = chat.store().subscribe(Channel::Events);
    let mut backoff = Duration::from_millis(500);
    let mut last_refresh = tokio::time::Instant::now();
    let mut lease_renewed: Option<tokio::time::Instant> = None;
    while !shutdown.is_cancelled() {
        wake.borrow_and_update();
        let pause = match step(&chat, &mut last_refresh, &mut lease_renewed).await {
            Ok(Step::More) => Duration::ZERO,
            Ok(Step::Idle) => {
                backoff = Duration::from_millis(500);
                REFRESH
            }
            Ok(Step::NotLeader) => LEASE_TTL / 4,
            Err(error) => {
                tracing::warn!(error = %jeny_core::ErrorChain(&*error), retry_in_ms = backoff.as_millis() as u64, "chat notifier failed; retrying");
                let pause = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                pause
            }
        };
        if pause.is_zero() {
            continue;
        }
        tokio::select! {
            _ = wake.changed() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    if let Err(error) = jeny_store::release_lease(chat.store(), LEASE, &chat.inner.holder).await {
        tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot release the chat notifier's lease");
    }
}

enum Step {
    More,
    Idle,
    NotLeader,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One look at the event log. It writes only when there is something to record (a commit wakes
/// every waiter on SQLite, this loop included), so an idle server stays idle.
async fn step(
    chat: &Chat,
    last_refresh: &mut tokio::time::Instant,
    lease_renewed: &mut Option<tokio::time::Instant>,
) -> Result<Step, BoxError> {
    let settings = chat.settings().await?;
    let Some(api) = settings.bot(chat.http()) else {
        // Off: keep the cursor at the present, so turning chat on does not replay old deploys.
        *lease_renewed = None;
        let latest = jeny_events::latest_id(chat.store()).await?;
        let position =
            jeny_events::load_or_create_cursor(chat.store(), CURSOR, StartFrom::Now).await?;
        if position != latest {
            jeny_events::save_cursor(chat.store(), CURSOR, latest).await?;
        }
        return Ok(Step::Idle);
    };
    if !hold_lease_when_due(chat, lease_renewed).await? {
        return Ok(Step::NotLeader);
    }
    let position = jeny_events::load_or_create_cursor(chat.store(), CURSOR, StartFrom::Now).await?;
    let filter = EventFilter {
        kind_prefix: Some("deploy.".to_owned()),
        ..EventFilter::default()
    };
    let events = jeny_events::read_after(chat.store(), position, BATCH, &filter).await?;
    for (index, event) in events.iter().enumerate() {
        // A long step (Slack rate limiting) renews the lease as it goes; a node that lost it
        // keeps what it handled and leaves the rest to the new holder.
        if !hold_lease_when_due(chat, lease_renewed).await? {
            if let Some(handled) = index.checked_sub(1).and_then(|last| events.get(last)) {
                jeny_events::save_cursor(chat.store(), CURSOR, handled.id).await?;
            }
            return Ok(Step::NotLeader);
        }
        if let Some(id) = event.payload["id"].as_str() {
            chat.sync_deploy(&settings, &api, id).await?;
        }
    }
    if let Some(last) = events.last() {
        jeny_events::save_cursor(chat.store(), CURSOR, last.id).await?;
    }
    if last_refresh.elapsed() >= REFRESH {
        *last_refresh = tokio::time::Instant::now();
        for post in store::live_posts(chat.store()).await? {
            if let Some(id) = post
                .key
                .strip_prefix("deploy:")
                .filter(|id| !id.contains(':'))
            {
                chat.sync_deploy(&settings, &api, id).await?;
            }
        }
    }
    Ok(if events.len() as i64 == BATCH {
        Step::More
    } else {
        Step::Idle
    })
}

/// Whether this node holds the notifier's lease, renewing it once a third of it has passed (a
/// renewal is a write, so not at every step).
async fn hold_lease_when_due(
    chat: &Chat,
    lease_renewed: &mut Option<tokio::time::Instant>,
) -> Result<bool, BoxError> {
    if lease_renewed.is_some_and(|renewed| renewed.elapsed() < LEASE_TTL / 3) {
        return Ok(true);
    }
    let held = jeny_store::hold_lease(chat.store(), LEASE, &chat.inner.holder, LEASE_TTL).await?;
    *lease_renewed = held.then(tokio::time::Instant::now);
    Ok(held)
}

impl Chat {
    /// Brings a deploy's message up to date. Slack's refusals (no such channel, bot not in it)
    /// are logged and the message given up; an unreachable Slack is an error, retried later.
    async fn sync_deploy(
        &self,
        settings: &Settings,
        api: &SlackApi,
        id: &str,
    ) -> Result<(), BoxError> {
        let deploy = match jeny_deploys::get_deploy(self.store(), self.links(), id).await {
            Ok(deploy) => deploy,
            Err(DeployError::NotFound(_)) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let key = format!("deploy:{id}");
        let existing = store::post(self.store(), &key).await?;
        let channel = match &existing {
            Some(post) => post.channel.clone(),
            None => match self.channel_for(settings, &deploy).await? {
                Some(channel) => channel,
                None => return Ok(()),
            },
        };
        let tail = if deploy.status == DeployStatus::Running {
            self.tail(id, RUNNING_TAIL_LINES).await?
        } else {
            Vec::new()
        };
        let message = blocks::deploy_message(
            &deploy,
            &self.links().base,
            &tail,
            jeny_core::Timestamp::now().as_micros(),
        );
        let state = if deploy.status.is_finished() {
            "done"
        } else {
            "live"
        };
        let posted = self
            .post_once(api, &key, &channel, None, existing, &message, state)
            .await;
        let ts = match slack_outcome(posted, &key)? {
            Some(ts) => ts,
            None => {
                store::abandon_post(self.store(), &key).await?;
                return Ok(());
            }
        };
        let failed = matches!(
            deploy.status,
            DeployStatus::Failed
                | DeployStatus::Errored
                | DeployStatus::TimedOut
                | DeployStatus::Interrupted
        );
        if failed {
            let thread_key = format!("deploy:{id}:failure");
            let existing = store::post(self.store(), &thread_key).await?;
            if existing.as_ref().is_none_or(|post| post.ts.is_none()) {
                let tail = self.tail(id, FAILURE_TAIL_LINES).await?;
                let message = blocks::failure_tail(&deploy, &tail);
                let channel = store::post(self.store(), &key)
                    .await?
                    .map_or(channel, |post| post.channel);
                let posted = self
                    .post_once(
                        api,
                        &thread_key,
                        &channel,
                        Some(&ts),
                        existing,
                        &message,
                        "done",
                    )
                    .await;
                if slack_outcome(posted, &thread_key)?.is_none() {
                    store::abandon_post(self.store(), &thread_key).await?;
                }
            }
        }
        Ok(())
    }

    /// Where a deploy's message goes: its environment's channel, its project's, or the default.
    async fn channel_for(
        &self,
        settings: &Settings,
        deploy: &Deploy,
    ) -> Result<Option<String>, BoxError> {
        let configured =
            store::channel_for(self.store(), &deploy.project, &deploy.environment).await?;
        Ok(configured.or_else(|| settings.default_channel.clone()))
    }

    /// The last `lines` lines of a deploy's output, without colours.
    async fn tail(&self, id: &str, lines: usize) -> Result<Vec<String>, BoxError> {
        let batches = jeny_deploys::output::read_tail(self.store(), id, 4).await?;
        let mut text = String::new();
        for chunk in batches.iter().flat_map(|batch| &batch.chunks) {
            text.push_str(&String::from_utf8_lossy(&chunk.bytes));
        }
        Ok(blocks::plain_lines(&text, lines))
    }

    /// Posts the message for `key` once, or updates it: the message's `ts`. A post that was
    /// under way when jeny stopped is looked for in the channel before posting again.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; the parts of one post"
    )]
    async fn post_once(
        &self,
        api: &SlackApi,
        key: &str,
        channel: &str,
        thread_ts: Option<&str>,
        existing: Option<store::Post>,
        message: &Message,
        state: &str,
    ) -> Result<Option<String>, SlackError> {
        let hash = content_hash(message);
        let store_error =
            |error: jeny_store::StoreError| SlackError::Unreachable(format!("the store: {error}"));
        let known_ts = match &existing {
            Some(post) if post.state == "abandoned" => return Ok(None),
            Some(post) => match &post.ts {
                Some(ts) => Some(ts.clone()),
                None => self.find_interrupted(api, post, key).await?,
            },
            None => {
                store::begin_post(self.store(), key, channel, thread_ts)
                    .await
                    .map_err(store_error)?;
                None
            }
        };
        let (channel_id, ts) = match known_ts {
            Some(ts) => {
                let unchanged = existing.as_ref().is_some_and(|post| {
                    post.content_hash.as_deref() == Some(hash.as_str())
                        && post.state == state
                        && post.ts.is_some()
                });
                if unchanged {
                    return Ok(Some(ts));
                }
                api.update(channel, &ts, message).await?;
                (channel.to_owned(), ts)
            }
            None => {
                api.post_message(channel, message, thread_ts, Some(key))
                    .await?
            }
        };
        store::record_post(self.store(), key, &channel_id, &ts, &hash, state)
            .await
            .map_err(store_error)?;
        Ok(Some(ts))
    }
}

impl Chat {
    /// Looks for a post that was under way when jeny stopped. Slack's history takes a channel
    /// id: a name is resolved from an earlier post to it. A channel Slack does not know by the
    /// name means the post never went out there.
    async fn find_interrupted(
        &self,
        api: &SlackApi,
        post: &store::Post,
        key: &str,
    ) -> Result<Option<String>, SlackError> {
        let channel = if looks_like_id(&post.channel) {
            post.channel.clone()
        } else {
            store::channel_id(self.store(), &post.channel)
                .await
                .map_err(|error| SlackError::Unreachable(format!("the store: {error}")))?
                .unwrap_or_else(|| post.channel.clone())
        };
        match api
            .find_posted(&channel, post.thread_ts.as_deref(), key)
            .await
        {
            Err(SlackError::Api(code)) if code == "channel_not_found" => Ok(None),
            found => found,
        }
    }
}

/// Slack's channel ids: `C…` (public), `G…` (private), `D…` (direct).
fn looks_like_id(channel: &str) -> bool {
    channel.len() >= 9
        && channel.starts_with(['C', 'G', 'D'])
        && channel
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Slack's answer to a post: its `ts`; `None` when Slack refused for good (logged); an error
/// when it may work later.
fn slack_outcome(
    posted: Result<Option<String>, SlackError>,
    key: &str,
) -> Result<Option<String>, BoxError> {
    match posted {
        Ok(ts) => Ok(ts),
        Err(error) if error.is_transient() => Err(error.into()),
        Err(error) => {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), key, "slack refused a deploy message; giving it up");
            Ok(None)
        }
    }
}

fn content_hash(message: &Message) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(message.text.as_bytes());
    hasher.update(serde_json::to_vec(&message.blocks).unwrap_or_default());
    hasher
        .finalize()
        .iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
