//! Which git repositories a project may name. Git reaches a repository through a transport named
//! by the URL: `https://`, `ssh://` (and the scp-like `user@host:path`), `git://`, a local path,
//! and also `ext::<command>` (runs a command), `fd::<n>` (talks over a file descriptor, and hangs
//! on one that is not there) and any `<helper>::` or unknown `<scheme>://` it hands to a
//! `git-remote-<helper>` program. jeny allows only the schemes of its `repository_schemes`
//! setting (`https`, `ssh`, `git` and `file` — local paths and `file://` — by default), checked
//! when a project is created or changed, again before a checkout, and once more by git itself,
//! which is told the same list (`GIT_ALLOW_PROTOCOL`).

use crate::ProjectError;

/// The schemes allowed when the setting is not given.
pub const DEFAULT_REPOSITORY_SCHEMES: &[&str] = &["https", "ssh", "git", "file"];

/// The schemes the setting may list: the transports git has built in (`ext` and `fd` left out
/// on purpose: they run a command or read a descriptor, never a repository).
pub const KNOWN_REPOSITORY_SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file"];

/// The scheme git would use for `repository`, lowercased: `https`, `ssh` (for `ssh://`,
/// `git+ssh://`, `ssh+git://` and `user@host:path`), `git`, `file` (for `file://` and local
/// paths), or whatever else the URL names (`ext`, `fd`, a remote helper's name), by git's own
/// rules (`transport.c`, `connect.c`).
pub fn scheme_of(repository: &str) -> String {
    let scheme_length = repository
        .char_indices()
        .take_while(|(index, c)| {
            c.is_ascii_alphabetic() || (*index > 0 && (c.is_ascii_digit() || "+-.".contains(*c)))
        })
        .count();
    let (scheme, rest) = repository.split_at(scheme_length);
    if !scheme.is_empty() && rest.starts_with("::") {
        // `<helper>::<address>`: git hands the address to `git-remote-<helper>`.
        return scheme.to_ascii_lowercase();
    }
    if !scheme.is_empty() && rest.starts_with("://") {
        return match scheme.to_ascii_lowercase().as_str() {
            "git+ssh" | "ssh+git" => "ssh".to_owned(),
            other => other.to_owned(),
        };
    }
    // Git's scp-like syntax: a colon before the first slash (`git@github.com:org/repo.git`).
    match (repository.find(':'), repository.find('/')) {
        (Some(colon), Some(slash)) if colon < slash => "ssh".to_owned(),
        (Some(_), None) => "ssh".to_owned(),
        _ => "file".to_owned(),
    }
}

/// The allowed repository schemes (the `repository_schemes` setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySchemes(Vec<String>);

impl Default for RepositorySchemes {
    fn default() -> RepositorySchemes {
        RepositorySchemes(
            DEFAULT_REPOSITORY_SCHEMES
                .iter()
                .map(|scheme| (*scheme).to_owned())
                .collect(),
        )
    }
}

impl RepositorySchemes {
    /// The setting's list, each one of `KNOWN_REPOSITORY_SCHEMES`; at least one.
    pub fn parse<S: AsRef<str>>(schemes: &[S]) -> Result<RepositorySchemes, String> {
        let mut allowed: Vec<String> = Vec::new();
        for scheme in schemes {
            let scheme = scheme.as_ref().trim().to_ascii_lowercase();
            if !KNOWN_REPOSITORY_SCHEMES.contains(&scheme.as_str()) {
                return Err(format!(
                    "repository scheme {scheme:?} is not one jeny allows; choose among {}",
                    KNOWN_REPOSITORY_SCHEMES.join(", ")
                ));
            }
            if !allowed.contains(&scheme) {
                allowed.push(scheme);
            }
        }
        if allowed.is_empty() {
            return Err("repository_schemes needs at least one scheme".to_owned());
        }
        Ok(RepositorySchemes(allowed))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether `repository` uses an allowed scheme; the message says which schemes are.
    pub fn check(&self, repository: &str) -> Result<(), String> {
        let scheme = scheme_of(repository);
        if self.0.contains(&scheme) {
            return Ok(());
        }
        Err(format!(
            "a repository using {scheme:?} is not allowed here; allowed: {} (https://host/repo.git, ssh://host/repo.git or user@host:repo.git, git://host/repo.git, a local path)",
            self.0.join(", ")
        ))
    }

    /// `check` of a project's `repository` field, as the API's 422.
    pub fn check_field(&self, repository: Option<&str>) -> Result<(), ProjectError> {
        match repository.map(str::trim).filter(|r| !r.is_empty()) {
            Some(repository) => self
                .check(repository)
                .map_err(|message| ProjectError::invalid("repository", message)),
            None => Ok(()),
        }
    }

    /// The value of git's `GIT_ALLOW_PROTOCOL` for a checkout: the allowed schemes (git only
    /// runs these transports, whatever the URL says), with `file` for the local clone of jeny's
    /// own mirror.
    pub fn git_allow_protocol(&self) -> String {
        let mut protocols = self.0.clone();
        if !protocols.iter().any(|scheme| scheme == "file") {
            protocols.push("file".to_owned());
        }
        protocols.join(":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_read_the_way_git_reads_them() {
        for (repository, scheme) in [
            ("https://github.com/example/shop.git", "https"),
            ("HTTPS://github.com/example/shop.git", "https"),
            ("http://git.internal/shop.git", "http"),
            ("ssh://git@github.com/example/shop.git", "ssh"),
            ("git+ssh://git@github.com/example/shop.git", "ssh"),
            ("git@github.com:example/shop.git", "ssh"),
            ("github.com:shop", "ssh"),
            ("git://git.internal/shop.git", "git"),
            ("/srv/git/shop.git", "file"),
            ("./shop", "file"),
            ("shop.git", "file"),
            ("dir/with:colon", "file"),
            ("file:///srv/git/shop.git", "file"),
            ("fd::17", "fd"),
            ("ext::sh -c id", "ext"),
            ("EXT::sh", "ext"),
            ("hg::https://example.com/repo", "hg"),
            ("foo://example.com/repo", "foo"),
        ] {
            assert_eq!(scheme_of(repository), scheme, "{repository}");
        }
    }

    #[test]
    fn only_the_allowed_schemes_pass() {
        let allowed = RepositorySchemes::default();
        for good in [
            "https://github.com/example/shop.git",
            "git@github.com:example/shop.git",
            "git://host/shop.git",
            "/srv/git/shop.git",
        ] {
            assert!(allowed.check(good).is_ok(), "{good}");
        }
        for bad in ["fd::17", "ext::sh -c id", "http://host/shop.git", "foo://x"] {
            let message = allowed.check(bad).unwrap_err();
            assert!(
                message.contains("allowed: https, ssh, git, file"),
                "{message}"
            );
        }
        let https_only = RepositorySchemes::parse(&["HTTPS"]).unwrap();
        assert!(https_only.check("/srv/git/shop.git").is_err());
        assert_eq!(https_only.git_allow_protocol(), "https:file");
    }

    #[test]
    fn the_setting_lists_only_transports_that_reach_a_repository() {
        assert!(RepositorySchemes::parse(&["https", "ext"]).is_err());
        assert!(RepositorySchemes::parse(&["fd"]).is_err());
        assert!(RepositorySchemes::parse::<&str>(&[]).is_err());
        assert_eq!(
            RepositorySchemes::parse(&["ssh", "ssh"])
                .unwrap()
                .as_slice(),
            ["ssh"]
        );
    }
}
