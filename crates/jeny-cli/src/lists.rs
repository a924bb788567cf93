//! `jeny projects`, `envs`, `hosts` and `deploys`: a table for people, `--json` (an array of the
//! API's objects) for scripts, `--quiet` for names or ids only.

use crate::connection::Connection;
use crate::{OutputFormat, table};
use jeny_core::Page;
use serde::Serialize;

/// Every page of a list.
async fn all<T, F, Fut>(mut page: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, jeny_client::ClientError>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let next = page(cursor).await?;
        items.extend(next.items);
        match next.next_cursor {
            Some(next_cursor) => cursor = Some(next_cursor),
            None => return Ok(items),
        }
    }
}

fn show<T: Serialize>(
    format: &OutputFormat,
    items: &[T],
    quiet: impl Fn(&T) -> String,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<i32> {
    if format.json {
        println!("{}", serde_json::to_string_pretty(items)?);
    } else if format.quiet {
        for item in items {
            println!("{}", quiet(item));
        }
    } else {
        let rows: Vec<Vec<String>> = items.iter().map(row).collect();
        table::print(headers, &rows);
    }
    Ok(0)
}

fn tags(tags: &std::collections::BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn projects(connection: &Connection, format: &OutputFormat) -> anyhow::Result<i32> {
    let client = connection.client()?;
    let projects = all(|cursor| {
        let client = client.clone();
        async move { client.list_projects(Some(500), cursor.as_deref()).await }
    })
    .await?;
    show(
        format,
        &projects,
        |p| p.name.clone(),
        &["NAME", "TITLE", "REPOSITORY", "DEPLOY COMMAND"],
        |p| {
            vec![
                p.name.clone(),
                p.title.clone(),
                p.repository.clone().unwrap_or_default(),
                p.deploy_command
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ]
        },
    )
}

pub async fn environments(
    connection: &Connection,
    format: &OutputFormat,
    project: &str,
) -> anyhow::Result<i32> {
    let client = connection.client()?;
    let environments = all(|cursor| {
        let client = client.clone();
        async move {
            client
                .list_environments(project, Some(500), cursor.as_deref())
                .await
        }
    })
    .await?;
    show(
        format,
        &environments,
        |e| e.name.clone(),
        &["NAME", "HOST SELECTOR", "QUEUE", "TIMEOUT", "COMMAND"],
        |e| {
            vec![
                e.name.clone(),
                tags(&e.host_selector),
                serde_json::to_value(e.queue_policy)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                format!("{}s", e.deploy_timeout_secs),
                e.deploy_command
                    .as_deref()
                    .map(|c| c.lines().next().unwrap_or_default().to_owned())
                    .unwrap_or_else(|| "(the project's)".to_owned()),
            ]
        },
    )
}

pub async fn hosts(
    connection: &Connection,
    format: &OutputFormat,
    conditions: &[String],
) -> anyhow::Result<i32> {
    let client = connection.client()?;
    let conditions: Vec<&str> = conditions.iter().map(String::as_str).collect();
    let hosts = all(|cursor| {
        let client = client.clone();
        let conditions = conditions.clone();
        async move {
            client
                .list_hosts(&conditions, Some(500), cursor.as_deref())
                .await
        }
    })
    .await?;
    show(
        format,
        &hosts,
        |h| h.name.clone(),
        &["NAME", "ADDRESS", "SOURCE", "TAGS"],
        |h| {
            vec![
                h.name.clone(),
                h.address.clone(),
                h.source.as_str().to_owned(),
                tags(&h.tags),
            ]
        },
    )
}

pub async fn deploys(
    connection: &Connection,
    format: &OutputFormat,
    project: &str,
    environment: Option<&str>,
    status: Option<&str>,
    limit: usize,
) -> anyhow::Result<i32> {
    let client = connection.client()?;
    let status = match status {
        None => None,
        Some(text) => Some(jeny_api::deploys::DeployStatus::parse(text).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown status {text:?}; one of: {}",
                jeny_api::deploys::DeployStatus::ALL
                    .map(|s| s.as_str())
                    .join(", ")
            )
        })?),
    };
    let page = client
        .list_deploys(
            Some(project),
            environment,
            status,
            Some(limit.clamp(1, 500)),
            None,
        )
        .await?;
    show(
        format,
        &page.items,
        |d| d.id.clone(),
        &[
            "ID", "ENV", "STATUS", "REF", "SHA", "USER", "QUEUED", "DURATION",
        ],
        |d| {
            vec![
                d.id.clone(),
                d.environment.clone(),
                d.status.as_str().to_owned(),
                d.git_ref.clone().unwrap_or_else(|| "-".into()),
                d.sha
                    .as_deref()
                    .map(|s| s[..s.len().min(10)].to_owned())
                    .unwrap_or_else(|| "-".into()),
                d.user.clone(),
                d.queued_at.to_rfc3339(),
                d.duration_ms
                    .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
                    .unwrap_or_else(|| "-".into()),
            ]
        },
    )
}
