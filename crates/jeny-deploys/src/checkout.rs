//! The working directory of a deploy whose project has a git repository: jeny keeps one mirror
//! per project (cloned once, fetched before each deploy), resolves the ref asked for (the
//! repository's default branch when none is), and checks that commit out into the deploy's own
//! fresh directory, sharing the mirror's objects so nothing is copied. The resolved sha is what
//! the deploy records. Git's own output is kept: on failure it is what the person reads.
//!
//! Each deploy's supervisor is a process of its own, so a mirror is guarded by a file lock
//! (`<project>.lock`, `flock`) as well as by an in-process lock: two environments of one project
//! deploying at once fetch one after the other instead of tripping over git's ref locks.
//!
//! Only the repository schemes of the `repository_schemes` setting are fetched: a checkout
//! refuses any other before git runs, and git itself is told the same list
//! (`GIT_ALLOW_PROTOCOL`), so `ext::` and `fd::` never run whatever the URL says.

use jeny_projects::RepositorySchemes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A checked-out commit.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub dir: PathBuf,
    /// The full commit sha the ref resolved to.
    pub sha: String,
    /// What git printed on the way, for the deploy's output.
    pub git_output: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Git refused (unreachable repository, unknown ref, ...); its output says why.
    #[error("git {step} failed:\n{output}")]
    Git { step: &'static str, output: String },
    /// The repository's scheme is not an allowed one.
    #[error("{0}")]
    Refused(String),
    #[error("cannot run git: {0}")]
    Io(#[from] std::io::Error),
}

/// The mirrors of every project, under one folder; fetches of one project's mirror run one at a
/// time (git locks its refs), different projects' in parallel.
#[derive(Debug, Clone)]
pub struct Mirrors {
    root: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    schemes: RepositorySchemes,
}

impl Mirrors {
    pub fn new(root: impl Into<PathBuf>) -> Mirrors {
        Mirrors {
            root: root.into(),
            locks: Arc::default(),
            schemes: RepositorySchemes::default(),
        }
    }

    /// The same mirrors, fetching only repositories of `schemes` (jeny's default ones unless
    /// told).
    pub fn allowing(self, schemes: RepositorySchemes) -> Mirrors {
        Mirrors { schemes, ..self }
    }

    /// Brings `project`'s mirror of `repository` up to date and checks out `git_ref` (the default
    /// branch when `None`) into `into`, which must not exist yet.
    pub async fn checkout(
        &self,
        project: &str,
        repository: &str,
        git_ref: Option<&str>,
        into: &Path,
    ) -> Result<Checkout, CheckoutError> {
        self.schemes
            .check(repository)
            .map_err(CheckoutError::Refused)?;
        let allow = self.schemes.git_allow_protocol();
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(project.to_owned()).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        tokio::fs::create_dir_all(&self.root).await?;
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(format!("{project}.lock")))?;
        let _one_process_at_a_time = tokio::task::spawn_blocking(move || {
            nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
                .map_err(|(_, errno)| std::io::Error::from(errno))
        })
        .await
        .map_err(std::io::Error::other)??;
        let mirror = self.root.join(format!("{project}.git"));
        let mut output = String::new();
        if mirror.join("HEAD").exists() {
            // The project's repository may have changed since the mirror was cloned.
            git(
                &allow,
                "remote set-url",
                &[
                    "--git-dir",
                    path(&mirror)?,
                    "remote",
                    "set-url",
                    "origin",
                    repository,
                ],
            )
            .await?;
            output += &git(
                &allow,
                "fetch",
                &["--git-dir", path(&mirror)?, "fetch", "--prune", "origin"],
            )
            .await?;
        } else {
            output += &git(
                &allow,
                "clone",
                &[
                    "clone",
                    "--mirror",
                    "--quiet",
                    "--",
                    repository,
                    path(&mirror)?,
                ],
            )
            .await?;
        }
        let wanted = format!("{}^{{commit}}", git_ref.unwrap_or("HEAD"));
        let sha = git(
            &allow,
            "rev-parse",
            &[
                "--git-dir",
                path(&mirror)?,
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &wanted,
            ],
        )
        .await
        .map_err(|error| match error {
            CheckoutError::Git { output, .. } => CheckoutError::Git {
                step: "rev-parse",
                output: format!(
                    "{output}the ref {:?} is not a branch, tag or commit of {repository}\n",
                    git_ref.unwrap_or("HEAD")
                ),
            },
            other => other,
        })?
        .trim()
        .to_owned();
        output += &git(
            &allow,
            "clone",
            &[
                "clone",
                "--quiet",
                "--shared",
                "--no-checkout",
                "--",
                path(&mirror)?,
                path(into)?,
            ],
        )
        .await?;
        output += &git(
            &allow,
            "checkout",
            &["-C", path(into)?, "checkout", "--quiet", "--detach", &sha],
        )
        .await?;
        Ok(Checkout {
            dir: into.to_path_buf(),
            sha,
            git_output: output,
        })
    }
}

fn path(path: &Path) -> Result<&str, CheckoutError> {
    path.to_str().ok_or_else(|| {
        CheckoutError::Io(std::io::Error::other(format!(
            "{} is not valid UTF-8",
            path.display()
        )))
    })
}

/// Runs git without a terminal (it must never wait for a password) and returns its output. Git
/// runs in a process group of its own, killed as a whole when the checkout is dropped (a cancel,
/// the deploy's timeout) or done: a hung `git fetch` takes its transport helpers (`ssh`,
/// `git-remote-https`) with it, and nothing outlives the mirror lock. Git may use only the
/// transports of `allow` (`GIT_ALLOW_PROTOCOL`, colon-separated).
async fn git(allow: &str, step: &'static str, args: &[&str]) -> Result<String, CheckoutError> {
    let child = tokio::process::Command::new("git")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", allow)
        .process_group(0)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let _group = child.id().map(|pid| GroupKiller(pid as i32));
    let output = child.wait_with_output().await?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text)
    } else {
        Err(CheckoutError::Git { step, output: text })
    }
}

/// SIGKILLs a process group when dropped.
struct GroupKiller(i32);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The `user:password` part of a repository URL (`https://user:token@host/repo.git`), if any.
fn userinfo(repository: &str) -> Option<&str> {
    let (_, rest) = repository.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _host) = authority.rsplit_once('@')?;
    Some(userinfo)
}

/// The repository URL as it may be shown: its credentials replaced by `***`.
pub fn without_credentials(repository: &str) -> String {
    match userinfo(repository) {
        Some(userinfo) => repository.replacen(&format!("{userinfo}@"), "***@", 1),
        None => repository.to_owned(),
    }
}

/// The secrets a repository URL carries, to mask in a deploy's output: its whole user
/// information, and the password (or token) alone. Empty for a URL without them.
pub fn credentials_in(repository: &str) -> Vec<String> {
    let Some(userinfo) = userinfo(repository) else {
        return Vec::new();
    };
    match userinfo.split_once(':') {
        Some((_user, password)) if !password.is_empty() => {
            vec![userinfo.to_owned(), password.to_owned()]
        }
        // `https://TOKEN@host/...`: over HTTP a lone user name is a token; over ssh it is a
        // user name (`ssh://git@host/...`), nothing secret.
        _ if repository.starts_with("http") => vec![userinfo.to_owned()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{credentials_in, without_credentials};

    #[tokio::test]
    async fn git_itself_refuses_the_transports_it_is_not_allowed() {
        let work = tempfile::tempdir().unwrap();
        let marker = work.path().join("ran");
        for repository in [
            format!("ext::sh -c touch% {}", marker.display()),
            "fd::17".to_owned(),
        ] {
            let refused = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                super::git(
                    "https:ssh:git:file",
                    "ls-remote",
                    &["ls-remote", "--", &repository],
                ),
            )
            .await
            .unwrap_or_else(|_| panic!("git hung on {repository}"));
            match refused {
                Err(super::CheckoutError::Git { output, .. }) => {
                    assert!(output.contains("not allowed"), "{repository}: {output}")
                }
                other => panic!("{repository}: {other:?}"),
            }
        }
        assert!(!marker.exists(), "the ext:: command ran");
    }

    #[test]
    fn a_repository_url_is_shown_without_its_credentials() {
        assert_eq!(
            without_credentials("https://deployer:s3cr3t-token@git.example.com/shop.git"),
            "https://***@git.example.com/shop.git"
        );
        assert_eq!(
            without_credentials("https://ghp_abcdef123456@github.com/o/r.git"),
            "https://***@github.com/o/r.git"
        );
        assert_eq!(
            without_credentials("git@github.com:o/r.git"),
            "git@github.com:o/r.git",
            "an scp-like address has a user, not credentials"
        );
        assert_eq!(without_credentials("/srv/git/r.git"), "/srv/git/r.git");
    }

    #[test]
    fn the_credentials_of_a_repository_url_are_masked_whole_and_alone() {
        assert_eq!(
            credentials_in("https://deployer:s3cr3t-token@git.example.com/shop.git"),
            vec![
                "deployer:s3cr3t-token".to_owned(),
                "s3cr3t-token".to_owned()
            ]
        );
        assert_eq!(
            credentials_in("https://ghp_abcdef123456@github.com/o/r.git"),
            vec!["ghp_abcdef123456".to_owned()]
        );
        assert!(credentials_in("ssh://deployer@host/r.git").is_empty());
        assert!(credentials_in("/srv/git/r.git").is_empty());
    }
}
