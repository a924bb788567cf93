//! The chat commands: `/jeny help|deploy|status|deploys|cancel|redeploy|lock|unlock`, also said
//! to the bot in a channel. Each runs as the person who asked, with their role where it applies;
//! names are matched forgivingly ("did you mean production?"), and production deploys ask for a
//! confirmation first.

use crate::blocks::{self, esc, link};
use crate::identity::Who;
use crate::slack::Message;
use crate::{Chat, Settings};
use jeny_core::{PageRequest, Principal, Role};
use jeny_deploys::{DeployFilter, DeployRequest, LockRequest};

/// What a command answers: shown to the person who asked.
pub(crate) struct Reply {
    pub message: Message,
}

impl From<Message> for Reply {
    fn from(message: Message) -> Reply {
        Reply { message }
    }
}

fn say(text: &str) -> Reply {
    blocks::text(text).into()
}

/// An environment whose deploys ask for a confirmation in chat: `production`, `prod`,
/// `prod-eu`, ...
pub(crate) fn needs_confirmation(environment: &str) -> bool {
    environment.to_ascii_lowercase().starts_with("prod")
}

/// What a confirmation button carries.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Confirmed {
    Deploy {
        project: String,
        environment: String,
        #[serde(default)]
        git_ref: Option<String>,
    },
    Redeploy {
        id: String,
    },
}

impl Chat {
    /// Runs the text of a command (after `/jeny`, or after the bot's mention) for `slack_user`.
    pub(crate) async fn command(&self, settings: &Settings, slack_user: &str, text: &str) -> Reply {
        let words: Vec<&str> = text.split_whitespace().collect();
        let Some((verb, arguments)) = words.split_first() else {
            return blocks::help().into();
        };
        let verb = verb.to_ascii_lowercase();
        if verb == "help" {
            return blocks::help().into();
        }
        let known = [
            "deploy", "status", "deploys", "cancel", "redeploy", "lock", "unlock",
        ];
        if !known.contains(&verb.as_str()) {
            let hint = closest(&verb, known.iter().copied())
                .map(|word| format!(" Did you mean `{word}`?"))
                .unwrap_or_default();
            return say(&format!(
                "I do not know `{}`.{hint} Try `/jeny help`.",
                esc(&verb)
            ));
        }
        let principal = match self.who(settings, slack_user).await {
            Who::Person(principal) => principal,
            Who::Stranger(message) => return say(&message),
        };
        let result = match (verb.as_str(), arguments) {
            ("deploy", [project, environment]) => {
                self.deploy_command(&principal, project, environment, None)
                    .await
            }
            ("deploy", [project, environment, git_ref]) => {
                self.deploy_command(&principal, project, environment, Some(git_ref))
                    .await
            }
            ("status", [project]) => self.status_of(project, None).await,
            ("status", [project, environment]) => self.status_of(project, Some(environment)).await,
            ("deploys", [project]) => self.recent(project).await,
            ("cancel", [id]) => self.cancel(&principal, id).await,
            ("redeploy", [id]) => self.redeploy_command(&principal, id).await,
            ("lock", [project, environment, reason @ ..]) if !reason.is_empty() => {
                self.lock(&principal, project, environment, &reason.join(" "))
                    .await
            }
            ("unlock", [project, environment]) => {
                self.unlock(&principal, project, environment).await
            }
            _ => Err(usage(&verb)),
        };
        result.unwrap_or_else(|reply| reply)
    }

    async fn deploy_command(
        &self,
        principal: &Principal,
        project: &str,
        environment: &str,
        git_ref: Option<&str>,
    ) -> Result<Reply, Reply> {
        let project = self.project_named(project).await?;
        let (environment, guessed) = self.environment_named(&project, environment).await?;
        allowed(principal, &project, Some(&environment), "deploying")?;
        let git_ref = git_ref.map(str::to_owned);
        if guessed || needs_confirmation(&environment) {
            let question = if guessed {
                format!(
                    "There is no such environment in {}. Did you mean *{}*?",
                    esc(&project),
                    esc(&environment)
                )
            } else {
                format!("Deploy to *{}*?", esc(&environment))
            };
            return Ok(confirmation(
                &question,
                &Confirmed::Deploy {
                    project,
                    environment,
                    git_ref,
                },
            ));
        }
        self.start(
            principal,
            Confirmed::Deploy {
                project,
                environment,
                git_ref,
            },
        )
        .await
    }

    async fn redeploy_command(&self, principal: &Principal, id: &str) -> Result<Reply, Reply> {
        let deploy = self.deploy_by_id(id).await?;
        allowed(
            principal,
            &deploy.project,
            Some(&deploy.environment),
            "redeploying",
        )?;
        if needs_confirmation(&deploy.environment) {
            return Ok(confirmation(
                &format!(
                    "Redeploy {} to *{}* / *{}*?",
                    blocks::what(&deploy),
                    esc(&deploy.project),
                    esc(&deploy.environment)
                ),
                &Confirmed::Redeploy { id: deploy.id },
            ));
        }
        self.start(principal, Confirmed::Redeploy { id: deploy.id })
            .await
    }

    /// Starts what was asked (and confirmed, where it had to be), checking the role again.
    pub(crate) async fn start(
        &self,
        principal: &Principal,
        what: Confirmed,
    ) -> Result<Reply, Reply> {
        let deploy = match what {
            Confirmed::Deploy {
                project,
                environment,
                git_ref,
            } => {
                allowed(principal, &project, Some(&environment), "deploying")?;
                let request = DeployRequest {
                    git_ref,
                    description: Some("from Slack".to_owned()),
                    ..DeployRequest::default()
                };
                jeny_deploys::create_deploy(
                    self.store(),
                    self.links(),
                    principal.actor(),
                    &project,
                    &environment,
                    request,
                )
                .await
            }
            Confirmed::Redeploy { id } => {
                let original = self.deploy_by_id(&id).await?;
                allowed(
                    principal,
                    &original.project,
                    Some(&original.environment),
                    "redeploying",
                )?;
                jeny_deploys::redeploy(self.store(), self.links(), principal.actor(), &id).await
            }
        }
        .map_err(refused)?;
        let state = match deploy.queue_position {
            Some(position) if deploy.status == jeny_deploys::DeployStatus::Queued => {
                format!("is queued (position {position})")
            }
            _ => format!("is {}", blocks::status_word(deploy.status)),
        };
        Ok(say(&format!(
            "{} Deploy of {} to *{}* / *{}* {state}: <{}|follow it>.",
            blocks::status_emoji(deploy.status),
            blocks::what(&deploy),
            esc(&deploy.project),
            esc(&deploy.environment),
            deploy.url,
        )))
    }

    async fn status_of(&self, project: &str, environment: Option<&str>) -> Result<Reply, Reply> {
        let project = self.project_named(project).await?;
        let only = match environment {
            Some(environment) => Some(self.environment_named(&project, environment).await?.0),
            None => None,
        };
        let latest = jeny_deploys::latest_deploys(self.store(), self.links(), Some(&project), None)
            .await
            .map_err(internal)?;
        let succeeded = jeny_deploys::latest_deploys(
            self.store(),
            self.links(),
            Some(&project),
            Some(jeny_deploys::DeployStatus::Succeeded),
        )
        .await
        .map_err(internal)?;
        let environments =
            jeny_projects::list_environments(self.store(), &project, &PageRequest::first(200))
                .await
                .map_err(internal)?;
        let base = &self.links().base;
        let mut lines = vec![format!(
            "*{}*",
            link(&blocks::project_url(base, &project), &project)
        )];
        for environment in environments
            .items
            .iter()
            .filter(|env| only.as_deref().is_none_or(|only| only == env.name))
        {
            let name = &environment.name;
            let running = succeeded.iter().find(|deploy| &deploy.environment == name);
            let last = latest.iter().find(|deploy| &deploy.environment == name);
            let mut line = format!(
                "*{}*: ",
                link(&blocks::environment_url(base, &project, name), name)
            );
            match running {
                Some(deploy) => line.push_str(&format!(
                    "{} by {} ({})",
                    blocks::what(deploy),
                    esc(&deploy.user),
                    link(&deploy.url, "deploy")
                )),
                None => line.push_str("nothing deployed yet"),
            }
            if let Some(last) =
                last.filter(|last| running.is_none_or(|running| running.id != last.id))
            {
                line.push_str(&format!("\n    last: {}", blocks::deploy_line(last)));
            }
            if let Ok(Some(lock)) = jeny_deploys::get_lock(self.store(), &project, name).await {
                line.push_str(&format!(
                    "\n    :lock: locked by {}: {}",
                    esc(&lock.locked_by),
                    esc(&lock.reason)
                ));
            }
            lines.push(line);
        }
        Ok(say(&lines.join("\n")))
    }

    async fn recent(&self, project: &str) -> Result<Reply, Reply> {
        let project = self.project_named(project).await?;
        let filter = DeployFilter {
            project: Some(project.clone()),
            ..DeployFilter::default()
        };
        let page = jeny_deploys::list_deploys(
            self.store(),
            self.links(),
            &filter,
            &PageRequest::first(10),
        )
        .await
        .map_err(internal)?;
        if page.items.is_empty() {
            return Ok(say(&format!("{} has no deploys yet.", esc(&project))));
        }
        let mut lines = vec![format!(
            "The latest deploys of *{}*:",
            link(
                &format!(
                    "{}/deploys",
                    blocks::project_url(&self.links().base, &project)
                ),
                &project
            )
        )];
        lines.extend(page.items.iter().map(blocks::deploy_line));
        Ok(say(&lines.join("\n")))
    }

    pub(crate) async fn cancel(&self, principal: &Principal, id: &str) -> Result<Reply, Reply> {
        let deploy = self.deploy_by_id(id).await?;
        allowed(
            principal,
            &deploy.project,
            Some(&deploy.environment),
            "cancelling",
        )?;
        let deploy =
            jeny_deploys::cancel_deploy(self.store(), self.links(), principal.actor(), &deploy.id)
                .await
                .map_err(refused)?;
        Ok(say(&format!(
            ":no_entry_sign: {} the deploy of {} to *{}* / *{}*.",
            if deploy.status.is_finished() {
                "Cancelled"
            } else {
                "Cancelling"
            },
            blocks::what(&deploy),
            esc(&deploy.project),
            esc(&deploy.environment)
        )))
    }

    async fn lock(
        &self,
        principal: &Principal,
        project: &str,
        environment: &str,
        reason: &str,
    ) -> Result<Reply, Reply> {
        let project = self.project_named(project).await?;
        let (environment, _) = self.exact_environment(&project, environment).await?;
        allowed(principal, &project, Some(&environment), "locking")?;
        let request = LockRequest {
            reason: reason.to_owned(),
            expires_at: None,
        };
        jeny_deploys::lock_environment(
            self.store(),
            principal.actor(),
            &project,
            &environment,
            request,
        )
        .await
        .map_err(refused)?;
        Ok(say(&format!(
            ":lock: Locked *{}* / *{}*: {}",
            esc(&project),
            esc(&environment),
            esc(reason)
        )))
    }

    async fn unlock(
        &self,
        principal: &Principal,
        project: &str,
        environment: &str,
    ) -> Result<Reply, Reply> {
        let project = self.project_named(project).await?;
        let (environment, _) = self.exact_environment(&project, environment).await?;
        allowed(principal, &project, Some(&environment), "unlocking")?;
        jeny_deploys::unlock_environment(self.store(), principal.actor(), &project, &environment)
            .await
            .map_err(refused)?;
        Ok(say(&format!(
            ":unlock: Unlocked *{}* / *{}*.",
            esc(&project),
            esc(&environment)
        )))
    }

    pub(crate) async fn deploy_by_id(&self, id: &str) -> Result<jeny_deploys::Deploy, Reply> {
        let id = id.trim_matches(|c| c == '`' || c == '#');
        jeny_deploys::get_deploy(self.store(), self.links(), id)
            .await
            .map_err(|_| say(&format!("There is no deploy `{}`.", esc(id))))
    }

    /// A project by its name, or the reply that says it does not exist (and what was meant).
    async fn project_named(&self, name: &str) -> Result<String, Reply> {
        let projects =
            jeny_projects::list_projects(self.store(), &PageRequest::first(PageRequest::MAX_LIMIT))
                .await
                .map_err(internal)?;
        let names: Vec<&str> = projects
            .items
            .iter()
            .map(|project| project.name.as_str())
            .collect();
        if let Some(exact) = names.iter().find(|known| known.eq_ignore_ascii_case(name)) {
            return Ok((*exact).to_owned());
        }
        Err(say(&match closest(name, names.iter().copied()) {
            Some(guess) => format!(
                "There is no project `{}`. Did you mean *{}*?",
                esc(name),
                esc(guess)
            ),
            None => format!(
                "There is no project `{}`. Projects: {}.",
                esc(name),
                if names.is_empty() {
                    "none yet".to_owned()
                } else {
                    code_list(&names)
                }
            ),
        }))
    }

    /// An environment by its name; a close name is returned as a guess (true) to be confirmed.
    async fn environment_named(&self, project: &str, name: &str) -> Result<(String, bool), Reply> {
        let environments =
            jeny_projects::list_environments(self.store(), project, &PageRequest::first(200))
                .await
                .map_err(internal)?;
        let names: Vec<&str> = environments
            .items
            .iter()
            .map(|environment| environment.name.as_str())
            .collect();
        if let Some(exact) = names.iter().find(|known| known.eq_ignore_ascii_case(name)) {
            return Ok(((*exact).to_owned(), false));
        }
        match closest(name, names.iter().copied()) {
            Some(guess) => Ok((guess.to_owned(), true)),
            None => Err(say(&format!(
                "{} has no environment `{}`. Its environments: {}.",
                esc(project),
                esc(name),
                code_list(&names)
            ))),
        }
    }

    /// An environment by its exact name; a close one is only suggested.
    async fn exact_environment(&self, project: &str, name: &str) -> Result<(String, bool), Reply> {
        match self.environment_named(project, name).await? {
            (guess, true) => Err(say(&format!(
                "{} has no environment `{}`. Did you mean *{}*?",
                esc(project),
                esc(name),
                esc(&guess)
            ))),
            found => Ok(found),
        }
    }
}

/// Refuses with the person's actual role when it is short of deployer there.
fn allowed(
    principal: &Principal,
    project: &str,
    environment: Option<&str>,
    doing: &str,
) -> Result<(), Reply> {
    principal.require_in(project, environment, Role::Deployer).map_err(|forbidden| {
        say(&format!(
            ":no_entry: {doing} needs the deployer role{}; {} is {}{}. Ask an admin for access.",
            forbidden.place, forbidden.email, forbidden.has, forbidden.place
        ))
    })
}

/// What jeny refused, said as it is (a locked environment, nothing to deploy, ...).
fn refused(error: jeny_deploys::DeployError) -> Reply {
    say(&format!(":warning: {}", esc(&error.to_string())))
}

/// Names as `a`, `b`, `c`.
fn code_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{}`", esc(name)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn internal(error: impl std::fmt::Display) -> Reply {
    tracing::warn!(%error, "a chat command failed");
    say("jeny could not do that just now. Try again in a moment.")
}

fn usage(verb: &str) -> Reply {
    let usage = match verb {
        "deploy" => "/jeny deploy PROJECT ENV [REF]",
        "status" => "/jeny status PROJECT [ENV]",
        "deploys" => "/jeny deploys PROJECT",
        "cancel" => "/jeny cancel DEPLOY_ID",
        "redeploy" => "/jeny redeploy DEPLOY_ID",
        "lock" => "/jeny lock PROJECT ENV REASON",
        _ => "/jeny unlock PROJECT ENV",
    };
    say(&format!("Usage: `{usage}`"))
}

/// A question with Deploy / Never mind buttons.
fn confirmation(question: &str, what: &Confirmed) -> Reply {
    let value = serde_json::to_string(what).unwrap_or_default();
    Reply {
        message: Message {
            text: question.replace('*', ""),
            blocks: vec![
                blocks::section(question),
                blocks::actions(
                    "confirm",
                    vec![
                        blocks::button("Deploy", "deploy_confirm", &value, Some("primary")),
                        blocks::button("Never mind", "dismiss", "dismiss", None),
                    ],
                ),
            ],
        },
    }
}

/// The known name closest to `typed`, if one is close enough to be what was meant: a unique
/// prefix, or a few typing mistakes away.
pub(crate) fn closest<'a>(
    typed: &str,
    known: impl Iterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    let typed = typed.to_ascii_lowercase();
    let mut prefixed = known
        .clone()
        .filter(|name| name.to_ascii_lowercase().starts_with(&typed));
    if typed.len() >= 2
        && let (Some(only), None) = (prefixed.next(), prefixed.next())
    {
        return Some(only);
    }
    let allowed = (typed.chars().count() / 3).clamp(1, 3);
    known
        .map(|name| {
            (
                strsim::damerau_levenshtein(&typed, &name.to_ascii_lowercase()),
                name,
            )
        })
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn close_names_are_suggested_and_far_ones_are_not() {
        let environments = ["staging", "production", "preview"];
        assert_eq!(
            closest("prod", environments.iter().copied()),
            Some("production")
        );
        assert_eq!(
            closest("prodution", environments.iter().copied()),
            Some("production")
        );
        assert_eq!(
            closest("stagign", environments.iter().copied()),
            Some("staging")
        );
        assert_eq!(
            closest("pr", environments.iter().copied()),
            None,
            "two names start with pr"
        );
        assert_eq!(closest("qa", environments.iter().copied()), None);
        assert_eq!(
            closest("deplyo", ["deploy", "deploys"].iter().copied()),
            Some("deploy")
        );
    }

    #[test]
    fn production_like_environments_need_confirmation() {
        assert!(needs_confirmation("production"));
        assert!(needs_confirmation("prod-eu"));
        assert!(!needs_confirmation("staging"));
        assert!(!needs_confirmation("preview"));
    }

    #[test]
    fn a_confirmation_carries_what_to_start() {
        let value = serde_json::to_value(Confirmed::Deploy {
            project: "shop".into(),
            environment: "production".into(),
            git_ref: Some("v1".into()),
        })
        .unwrap();
        assert_eq!(
            value,
            json!({"kind": "deploy", "project": "shop", "environment": "production", "git_ref": "v1"})
        );
    }
}
