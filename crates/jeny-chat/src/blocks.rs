//! The messages the bot writes, in Block Kit: short, readable on a phone, every jeny object a
//! link to its page.

use crate::slack::Message;
use jeny_deploys::{Deploy, DeployStatus};
use serde_json::{Value, json};

/// Lines of output a running deploy's message shows.
pub(crate) const RUNNING_TAIL_LINES: usize = 5;
/// Lines of output a failure's thread reply shows.
pub(crate) const FAILURE_TAIL_LINES: usize = 40;
/// Block Kit's limit on a section's text is 3000 characters.
const SECTION_TEXT_MAX: usize = 2900;

/// Escapes text for Slack's mrkdwn (`&`, `<`, `>`).
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn link(url: &str, label: &str) -> String {
    format!("<{url}|{}>", esc(label))
}

pub(crate) fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)}})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)}]})
}

pub(crate) fn button(label: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
    let mut button = json!({
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    });
    if let Some(style) = style {
        button["style"] = json!(style);
    }
    button
}

fn url_button(label: &str, action_id: &str, url: &str) -> Value {
    json!({"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "url": url})
}

pub(crate) fn actions(block_id: &str, elements: Vec<Value>) -> Value {
    json!({"type": "actions", "block_id": block_id, "elements": elements})
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

pub(crate) fn status_emoji(status: DeployStatus) -> &'static str {
    match status {
        DeployStatus::Queued => ":hourglass_flowing_sand:",
        DeployStatus::Running => ":arrows_counterclockwise:",
        DeployStatus::Succeeded => ":white_check_mark:",
        DeployStatus::Failed => ":x:",
        DeployStatus::Cancelled => ":no_entry_sign:",
        DeployStatus::TimedOut => ":alarm_clock:",
        DeployStatus::Errored => ":warning:",
        DeployStatus::Interrupted => ":electric_plug:",
    }
}

pub(crate) fn status_word(status: DeployStatus) -> &'static str {
    match status {
        DeployStatus::Queued => "queued",
        DeployStatus::Running => "running",
        DeployStatus::Succeeded => "succeeded",
        DeployStatus::Failed => "failed",
        DeployStatus::Cancelled => "cancelled",
        DeployStatus::TimedOut => "timed out",
        DeployStatus::Errored => "errored",
        DeployStatus::Interrupted => "interrupted",
    }
}

/// `1h 2m`, `3m 4s`, `5s`.
pub(crate) fn duration(millis: i64) -> String {
    let seconds = millis.max(0) / 1000;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// What was deployed, as a short label: the ref and the commit.
pub(crate) fn what(deploy: &Deploy) -> String {
    let sha = deploy.sha.as_deref().map(|sha| &sha[..sha.len().min(7)]);
    match (deploy.git_ref.as_deref(), sha) {
        (Some(git_ref), Some(sha)) => format!("`{}` ({sha})", esc(git_ref)),
        (Some(git_ref), None) => format!("`{}`", esc(git_ref)),
        (None, Some(sha)) => format!("`{sha}`"),
        (None, None) => "the default branch".to_owned(),
    }
}

pub(crate) fn project_url(base: &str, project: &str) -> String {
    format!("{base}/p/{project}")
}

pub(crate) fn environment_url(base: &str, project: &str, environment: &str) -> String {
    format!("{base}/p/{project}/e/{environment}")
}

/// A deploy's live message: status, what, who, how long, the last lines while it runs, and
/// buttons (cancel while it can be cancelled, redeploy once finished, the output always).
pub(crate) fn deploy_message(
    deploy: &Deploy,
    base: &str,
    tail: &[String],
    now_micros: i64,
) -> Message {
    let status = deploy.status;
    let elapsed = match (deploy.duration_ms, deploy.started_at) {
        (Some(duration_ms), _) => format!(" in {}", duration(duration_ms)),
        (None, Some(started)) => format!(
            " for {}",
            duration((now_micros - started.as_micros()) / 1000)
        ),
        (None, None) => String::new(),
    };
    let place = link(
        &environment_url(base, &deploy.project, &deploy.environment),
        &format!("{} / {}", deploy.project, deploy.environment),
    );
    let headline = format!(
        "{} {} {}{elapsed}",
        status_emoji(status),
        link(&deploy.url, &format!("Deploy {}", status_word(status))),
        format_args!("to {place}"),
    );
    let mut details = vec![format!("{} by {}", what(deploy), esc(&deploy.user))];
    if let Some(position) = deploy
        .queue_position
        .filter(|_| status == DeployStatus::Queued)
    {
        details.push(format!("position {position} in the queue"));
    }
    if !deploy.hosts.is_empty() {
        let hosts = deploy.hosts.len();
        details.push(format!("{hosts} host{}", if hosts == 1 { "" } else { "s" }));
    }
    if let Some(code) = deploy.exit_code.filter(|_| status == DeployStatus::Failed) {
        details.push(format!("exit code {code}"));
    }
    let mut blocks = vec![section(&format!("{headline}\n{}", details.join(" · ")))];
    if let Some(reason) = deploy.reason.as_deref().filter(|_| status.is_finished()) {
        blocks.push(context(&esc(reason)));
    }
    if status == DeployStatus::Running && !tail.is_empty() {
        blocks.push(section(&code_block(tail)));
    }
    let mut buttons = Vec::new();
    if !status.is_finished() {
        let mut cancel = button("Cancel", "deploy_cancel", &deploy.id, Some("danger"));
        cancel["confirm"] = json!({
            "title": {"type": "plain_text", "text": "Cancel this deploy?"},
            "text": {"type": "mrkdwn", "text": format!("{} to {} / {}", what(deploy), esc(&deploy.project), esc(&deploy.environment))},
            "confirm": {"type": "plain_text", "text": "Cancel it"},
            "deny": {"type": "plain_text", "text": "Keep it"},
        });
        buttons.push(cancel);
    } else {
        buttons.push(button("Redeploy", "deploy_redeploy", &deploy.id, None));
    }
    buttons.push(url_button("View output", "deploy_view", &deploy.url));
    blocks.push(actions(&format!("deploy:{}", deploy.id), buttons));
    blocks.push(context(&format!("deploy `{}`", deploy.id)));
    Message {
        text: format!(
            "Deploy {} to {} / {}: {}",
            status_word(status),
            deploy.project,
            deploy.environment,
            what(deploy)
        ),
        blocks,
    }
}

/// A failed deploy's thread reply: the end of its output.
pub(crate) fn failure_tail(deploy: &Deploy, tail: &[String]) -> Message {
    let intro = format!(
        "The last lines of the output ({}):",
        link(&deploy.url, "all of it")
    );
    let body = if tail.is_empty() {
        "_no output_".to_owned()
    } else {
        code_block(tail)
    };
    Message {
        text: format!("The end of the output of deploy {}", deploy.id),
        blocks: vec![section(&intro), section(&body)],
    }
}

/// Lines in a code block that fits a section, keeping the last ones.
fn code_block(lines: &[String]) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut size = 8;
    for line in lines.iter().rev() {
        let line = clip(&line.replace("```", "'''"), 300);
        if size + line.len() + 1 > SECTION_TEXT_MAX {
            break;
        }
        size += line.len() + 1;
        kept.push(line);
    }
    kept.reverse();
    format!("```{}```", esc(&kept.join("\n")))
}

/// Strips ANSI escape sequences and keeps what a terminal would show after carriage returns.
pub(crate) fn plain_lines(text: &str, last: usize) -> Vec<String> {
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for next in chars.by_ref() {
                    if ('@'..='~').contains(&next) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
            continue;
        }
        clean.push(c);
    }
    let lines: Vec<String> = clean
        .lines()
        .map(|line| {
            line.rsplit('\r')
                .find(|part| !part.is_empty())
                .unwrap_or("")
                .to_owned()
        })
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(last)..].to_vec()
}

pub(crate) fn text(text: &str) -> Message {
    Message {
        text: text.to_owned(),
        blocks: vec![section(text)],
    }
}

pub(crate) fn help() -> Message {
    let lines = [
        "*jeny* — deploys from chat. Commands (also by mentioning me):",
        "`/jeny deploy PROJECT ENV [REF]` — deploy (production asks to confirm)",
        "`/jeny status PROJECT [ENV]` — what each environment runs",
        "`/jeny deploys PROJECT` — the latest deploys",
        "`/jeny cancel ID` · `/jeny redeploy ID`",
        "`/jeny lock PROJECT ENV REASON` · `/jeny unlock PROJECT ENV`",
        "You act as your jeny self (your Slack email), with your own role.",
    ];
    Message {
        text: "jeny commands: deploy, status, deploys, cancel, redeploy, lock, unlock".to_owned(),
        blocks: vec![section(&lines.join("\n"))],
    }
}

/// One line about a deploy, for lists.
pub(crate) fn deploy_line(deploy: &Deploy) -> String {
    format!(
        "{} {} {} to *{}* by {} · {}",
        status_emoji(deploy.status),
        link(&deploy.url, status_word(deploy.status)),
        what(deploy),
        esc(&deploy.environment),
        esc(&deploy.user),
        slack_date(deploy.queued_at),
    )
}

/// A time Slack shows in each reader's own time zone.
pub(crate) fn slack_date(time: jeny_core::Timestamp) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        time.as_micros() / 1_000_000,
        time.to_rfc3339()
    )
}
