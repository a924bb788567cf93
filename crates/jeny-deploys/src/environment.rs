//! The environment a deploy's command runs with, and nothing else: a documented allowlist of
//! the server's own variables (so `sh`, `git` and `ansible-playbook` find their tools, locale and
//! SSH agent), then the project's and the environment's variables, then the `JENY_*` variables
//! jeny sets for every deploy. A variable of the server outside the allowlist never leaks in: a
//! database password in the server's environment is not a deploy's business.

use jeny_core::Secret;
use jeny_projects::ResolvedVariable;
use std::collections::BTreeMap;

/// The server's variables a deploy inherits, by exact name.
pub const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "SSH_AUTH_SOCK",
];

/// The server's variables a deploy inherits, by prefix (locale settings).
pub const INHERITED_PREFIXES: &[&str] = &["LC_"];

/// What jeny says about a deploy to its command.
#[derive(Debug, Clone)]
pub struct DeployFacts {
    pub project: String,
    pub environment: String,
    pub deploy_id: String,
    /// The ref asked for (empty when none was).
    pub git_ref: String,
    /// The email of who started it.
    pub user: String,
    /// The names of the targeted hosts.
    pub hosts: Vec<String>,
    /// The path of the inventory file written for this deploy.
    pub inventory: String,
    /// The deploy's page.
    pub url: String,
}

/// The complete environment of a deploy's command. Later layers win: inherited server variables,
/// then the deploy's variables (`resolved`, already merged project then environment), then
/// jeny's own, which no variable can override (keys starting with `JENY_` are refused when set,
/// and `ANSIBLE_INVENTORY` is jeny's too).
pub fn command_environment(
    server: impl IntoIterator<Item = (String, String)>,
    resolved: &[ResolvedVariable],
    facts: &DeployFacts,
) -> BTreeMap<String, Secret<String>> {
    let mut environment: BTreeMap<String, Secret<String>> = server
        .into_iter()
        .filter(|(name, _)| {
            INHERITED.contains(&name.as_str())
                || INHERITED_PREFIXES
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
        })
        .map(|(name, value)| (name, Secret::new(value)))
        .collect();
    for variable in resolved {
        environment.insert(variable.key.clone(), variable.value.clone());
    }
    let own = [
        ("JENY_PROJECT", facts.project.clone()),
        ("JENY_ENVIRONMENT", facts.environment.clone()),
        ("JENY_DEPLOY_ID", facts.deploy_id.clone()),
        ("JENY_REF", facts.git_ref.clone()),
        ("JENY_USER", facts.user.clone()),
        ("JENY_HOSTS", facts.hosts.join(",")),
        ("JENY_INVENTORY", facts.inventory.clone()),
        ("ANSIBLE_INVENTORY", facts.inventory.clone()),
        ("JENY_DEPLOY_URL", facts.url.clone()),
    ];
    for (name, value) in own {
        environment.insert(name.to_owned(), Secret::new(value));
    }
    environment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(key: &str, value: &str, secret: bool) -> ResolvedVariable {
        ResolvedVariable {
            key: key.to_owned(),
            value: Secret::new(value.to_owned()),
            secret,
            from_environment: false,
            variable_id: format!("id-{key}"),
            version: 1,
        }
    }

    fn facts() -> DeployFacts {
        DeployFacts {
            project: "web".into(),
            environment: "production".into(),
            deploy_id: "d1".into(),
            git_ref: "v1.2".into(),
            user: "dev@example.com".into(),
            hosts: vec!["web-1".into(), "web-2".into()],
            inventory: "/tmp/d1/inventory.json".into(),
            url: "https://jeny.example.com/p/web/deploys/d1".into(),
        }
    }

    #[test]
    fn only_allowlisted_server_variables_come_in_and_jeny_has_the_last_word() {
        let server = [
            ("PATH", "/usr/bin"),
            ("LC_ALL", "C.UTF-8"),
            ("JENY_DATABASE_URL", "postgres://secret"),
            ("AWS_SECRET_ACCESS_KEY", "server-only"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let resolved = [
            variable("DB_PASSWORD", "s3cret", true),
            variable("HOME", "/srv/app", false),
            variable("ANSIBLE_INVENTORY", "elsewhere", false),
        ];
        let environment = command_environment(server, &resolved, &facts());
        let shown: BTreeMap<&str, &str> = environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose().as_str()))
            .collect();
        assert_eq!(shown["PATH"], "/usr/bin");
        assert_eq!(shown["LC_ALL"], "C.UTF-8");
        assert!(
            !shown.contains_key("JENY_DATABASE_URL"),
            "the server's own settings never leak"
        );
        assert!(!shown.contains_key("AWS_SECRET_ACCESS_KEY"));
        assert_eq!(
            shown["HOME"], "/srv/app",
            "a project variable overrides an inherited one"
        );
        assert_eq!(shown["DB_PASSWORD"], "s3cret");
        assert_eq!(
            shown["ANSIBLE_INVENTORY"], "/tmp/d1/inventory.json",
            "jeny's own win"
        );
        assert_eq!(shown["JENY_HOSTS"], "web-1,web-2");
        assert_eq!(shown["JENY_REF"], "v1.2");
        assert_eq!(shown["JENY_USER"], "dev@example.com");
        assert_eq!(
            shown["JENY_DEPLOY_URL"],
            "https://jeny.example.com/p/web/deploys/d1"
        );
        assert_eq!(
            format!("{:?}", environment["DB_PASSWORD"]),
            "Secret(***)",
            "values stay out of logs"
        );
    }
}
