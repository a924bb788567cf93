//! The sandbox a deploy's command runs in, made with bubblewrap (`bwrap`): a PID namespace of its
//! own (the server, other deploys and every other process of the machine are invisible, and
//! whatever the command starts dies with it), a private `/tmp`, the machine's files read-only
//! except the deploy's own folder and its user's home, and jeny's own state (the data folder, the
//! secret key, the configuration and secret files) hidden. The network, the tools of the machine
//! (`ansible-playbook`, `ssh`, `git`) and the deploy user's keys stay reachable.
//!
//! The supervisor stays outside: it starts `bwrap`, reads the command's output from pipes, and
//! stops the command by signalling the processes of its namespace (SIGTERM, the grace period,
//! then SIGKILL to `bwrap`, whose `--die-with-parent` takes the namespace down).
//!
//! A server running as root runs deploys as the deploy user (`deploy_user`): `bwrap` runs as
//! root, so that it can mount the deploy's folder from the private data folder, and the command
//! itself is started inside the sandbox by `setpriv`, which takes the user's id, group and
//! supplementary groups and drops every capability. A server running as another user runs
//! deploys as itself, in the same sandbox.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The program bubblewrap is installed as.
pub const BUBBLEWRAP: &str = "bwrap";

/// How a deploy's command is isolated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sandbox {
    /// bubblewrap.
    pub program: PathBuf,
    /// The user the command runs as when that is not the supervisor's own.
    pub user: Option<DeployUser>,
    /// Folders and files the command must not see (replaced by an empty folder or file).
    pub hidden: Vec<PathBuf>,
    /// Folders the command may read and write besides its own folder, its home and its `/tmp`.
    pub writable: Vec<PathBuf>,
    /// Folders the command may read although they are inside a hidden one (the git objects its
    /// checkout borrows from the project's mirror).
    #[serde(default)]
    pub readable: Vec<PathBuf>,
}

/// A user of this machine deploys run as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "jeny runs as root, and deploys do not run as root unless told to: pass --deploy-user USER \
         (JENY_DEPLOY_USER), a user of this machine with the SSH keys your playbooks use, or \
         --deploy-user root to run them as root anyway"
    )]
    RootRefused,
    #[error("the deploy user {0:?} is not a user of this machine (create it, or name another)")]
    UnknownUser(String),
    #[error("cannot look the deploy user {name:?} up: {error}")]
    Lookup { name: String, error: nix::Error },
    #[error(
        "jeny runs as {server}, which cannot start deploys as {deploy}: run jeny as root, or leave \
         deploy_user unset to run deploys as {server}"
    )]
    CannotSwitch { server: String, deploy: String },
    #[error(
        "deploys run in a bubblewrap sandbox, and {program} cannot be started ({error}): install \
         bubblewrap (Debian and Ubuntu: apt-get install bubblewrap; Fedora: dnf install \
         bubblewrap; Alpine: apk add bubblewrap)"
    )]
    Missing {
        program: String,
        error: std::io::Error,
    },
    #[error(
        "deploys run in a bubblewrap sandbox, and a trial sandbox failed: {output} (in a container, \
         allow user namespaces or run the container with the privileges bwrap needs; \
         docs/security.md)"
    )]
    Broken { output: String },
}

impl DeployUser {
    /// The user called `name`.
    pub fn named(name: &str) -> Result<DeployUser, SandboxError> {
        match nix::unistd::User::from_name(name) {
            Ok(Some(user)) => Ok(DeployUser::from(user)),
            Ok(None) => Err(SandboxError::UnknownUser(name.to_owned())),
            Err(error) => Err(SandboxError::Lookup {
                name: name.to_owned(),
                error,
            }),
        }
    }

    fn is_root(&self) -> bool {
        self.uid == 0
    }
}

impl From<nix::unistd::User> for DeployUser {
    fn from(user: nix::unistd::User) -> DeployUser {
        DeployUser {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
        }
    }
}

/// Whom deploys run as, from the `deploy_user` setting: `None` when they run as this process's
/// own user (no setting, or the setting names it). Root is refused unless named.
pub fn deploy_user(setting: Option<&str>) -> Result<Option<DeployUser>, SandboxError> {
    let me = nix::unistd::geteuid();
    let Some(name) = setting else {
        return if me.is_root() {
            Err(SandboxError::RootRefused)
        } else {
            Ok(None)
        };
    };
    let user = DeployUser::named(name)?;
    if user.uid == me.as_raw() {
        return Ok(None);
    }
    if !me.is_root() {
        let server = nix::unistd::User::from_uid(me)
            .ok()
            .flatten()
            .map_or_else(|| me.to_string(), |user| user.name);
        return Err(SandboxError::CannotSwitch {
            server,
            deploy: user.name,
        });
    }
    Ok(Some(user))
}

/// The name of the user this process runs as (tests name it as the deploy user).
pub fn own_user_name() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|user| user.name)
}

impl Sandbox {
    /// A sandbox with bubblewrap from `PATH`.
    pub fn new(user: Option<DeployUser>, hidden: Vec<PathBuf>, writable: Vec<PathBuf>) -> Sandbox {
        Sandbox {
            program: PathBuf::from(BUBBLEWRAP),
            user,
            hidden,
            writable,
            readable: Vec::new(),
        }
    }

    /// Runs a trial command in the sandbox, so that a missing or unusable bubblewrap is said at
    /// start rather than by the first deploy.
    pub async fn check(&self) -> Result<(), SandboxError> {
        let folder = std::env::temp_dir();
        let output = self
            .command("sh", "exit 0", &folder, &folder)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|error| SandboxError::Missing {
                program: self.program.display().to_string(),
                error,
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(SandboxError::Broken {
                output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    /// `bwrap` with its arguments, then `shell -c command` (started as the deploy user), in
    /// `chdir`, with `work_dir` writable.
    pub fn command(
        &self,
        shell: &str,
        command: &str,
        work_dir: &Path,
        chdir: &Path,
    ) -> tokio::process::Command {
        let mut bwrap = tokio::process::Command::new(&self.program);
        bwrap.args(self.arguments(work_dir, chdir));
        if let Some(user) = self.user.as_ref().filter(|user| !user.is_root()) {
            bwrap
                .arg("setpriv")
                .arg(format!("--reuid={}", user.uid))
                .arg(format!("--regid={}", user.gid))
                .arg("--init-groups")
                .arg("--");
        }
        bwrap.arg(shell).arg("-c").arg(command);
        bwrap
    }

    fn arguments(&self, work_dir: &Path, chdir: &Path) -> Vec<std::ffi::OsString> {
        let mut arguments = Arguments::default();
        arguments
            .flags(&["--die-with-parent", "--unshare-pid", "--unshare-ipc"])
            .flags(&["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
            .flags(&["--tmpfs", "/tmp"]);
        if Path::new("/var/tmp").is_dir() {
            arguments.flags(&["--tmpfs", "/var/tmp"]);
        }
        let home = match &self.user {
            Some(user) => Some(user.home.clone()),
            None => std::env::var_os("HOME").map(PathBuf::from),
        };
        if let Some(home) = home.filter(|home| home.is_dir() && home != Path::new("/")) {
            arguments.mount("--bind", &home, &home);
        }
        // Writable folders before the hidden ones, so that one holding a hidden folder cannot
        // show it again; what is shown inside a hidden folder (the deploy's own, the objects it
        // borrows) after them.
        for writable in &self.writable {
            arguments.mount("--bind", writable, writable);
        }
        for hidden in &self.hidden {
            if hidden.is_dir() {
                arguments.flags(&["--tmpfs"]).path(hidden);
            } else if hidden.exists() {
                arguments.mount("--ro-bind", Path::new("/dev/null"), hidden);
            }
        }
        for readable in &self.readable {
            arguments.mount("--ro-bind", readable, readable);
        }
        arguments.mount("--bind", work_dir, work_dir);
        arguments.flags(&["--chdir"]).path(chdir).flags(&["--"]);
        arguments.0
    }
}

#[derive(Default)]
struct Arguments(Vec<std::ffi::OsString>);

impl Arguments {
    fn flags(&mut self, flags: &[&str]) -> &mut Arguments {
        self.0.extend(flags.iter().map(std::ffi::OsString::from));
        self
    }

    fn path(&mut self, path: &Path) -> &mut Arguments {
        self.0.push(path.as_os_str().to_owned());
        self
    }

    fn mount(&mut self, how: &str, source: &Path, destination: &Path) -> &mut Arguments {
        self.flags(&[how]).path(source).path(destination)
    }
}

/// The folders a checkout borrows objects from (`git clone --shared` writes them into
/// `.git/objects/info/alternates`): the sandbox shows them read-only, so that git works inside.
pub fn git_alternates(checkout: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(checkout.join(".git/objects/info/alternates"))
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(PathBuf::from)
                .filter(|path| path.is_absolute() && path.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Gives `folder` and everything in it to `user` (a deploy's folder, made by the supervisor).
pub fn give_to(folder: &Path, user: &DeployUser) -> std::io::Result<()> {
    std::os::unix::fs::lchown(folder, Some(user.uid), Some(user.gid))?;
    if std::fs::symlink_metadata(folder)?.is_dir() {
        for entry in std::fs::read_dir(folder)? {
            give_to(&entry?.path(), user)?;
        }
    }
    Ok(())
}

/// The processes of this machine, by pid, as `/proc` lists them.
pub(crate) fn processes() -> impl Iterator<Item = (i32, PathBuf)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            Some((pid, entry.path()))
        })
}

/// Sends `signal` to every process in the PID namespace `bwrap` (started with `pid`) made, except
/// the namespace's own init, which only a SIGKILL reaches. Returns false when there is no such
/// namespace (yet, or any more).
pub(crate) fn signal_namespace(bwrap: i32, signal: nix::sys::signal::Signal) -> bool {
    let Some(init) = std::fs::read_to_string(format!("/proc/{bwrap}/task/{bwrap}/children"))
        .ok()
        .and_then(|children| children.split_whitespace().next()?.parse::<i32>().ok())
    else {
        return false;
    };
    let Ok(namespace) = std::fs::read_link(format!("/proc/{init}/ns/pid")) else {
        return false;
    };
    // Never this process's own namespace (a `program` that made none, a child not yet in its
    // new one): that would signal every process of the machine.
    if std::fs::read_link("/proc/self/ns/pid").map_or(true, |own| own == namespace) {
        return false;
    }
    for (pid, path) in processes() {
        if pid != init && std::fs::read_link(path.join("ns/pid")).is_ok_and(|ns| ns == namespace) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(arguments: Vec<std::ffi::OsString>) -> Vec<String> {
        arguments
            .into_iter()
            .map(|argument| argument.into_string().unwrap())
            .collect()
    }

    #[test]
    fn hidden_folders_come_after_home_and_writable_ones_and_the_work_folder_after_them() {
        let data = tempfile::tempdir().unwrap();
        let key = data.path().join("secret.key");
        std::fs::write(&key, "k").unwrap();
        let work = data.path().join("deploys/d1");
        std::fs::create_dir_all(&work).unwrap();
        // A writable folder holding the data folder must not show it again.
        let parent = data.path().parent().unwrap().to_path_buf();
        let sandbox = Sandbox::new(
            None,
            vec![
                data.path().to_path_buf(),
                key.clone(),
                PathBuf::from("/nowhere/at/all"),
            ],
            vec![parent.clone()],
        );
        let arguments = strings(sandbox.arguments(&work, &work.join("src")));
        let at = |wanted: &[&str]| {
            arguments
                .windows(wanted.len())
                .position(|window| window == wanted)
                .unwrap_or_else(|| panic!("{wanted:?} is not in {arguments:?}"))
        };
        let data = data.path().to_str().unwrap();
        let hide = at(&["--tmpfs", data]);
        let bind_work = at(&["--bind", work.to_str().unwrap(), work.to_str().unwrap()]);
        assert!(hide < bind_work, "{arguments:?}");
        let parent = parent.to_str().unwrap();
        assert!(at(&["--bind", parent, parent]) < hide, "{arguments:?}");
        at(&["--ro-bind", "/dev/null", key.to_str().unwrap()]);
        assert!(
            !arguments
                .iter()
                .any(|argument| argument == "/nowhere/at/all")
        );
        assert_eq!(arguments.last().map(String::as_str), Some("--"));
        at(&["--unshare-pid"]);
        at(&["--die-with-parent"]);
    }

    #[test]
    fn a_process_tree_in_this_namespace_is_never_signalled_as_a_sandbox() {
        // A shell with a child, as a `program` that made no namespace would leave: its child's
        // namespace is this process's own, which must never be signalled whole. (SIGCONT, so
        // that a failure harms nothing.)
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 100 & echo started; wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = shell.id() as i32;
        // The child was forked before the line was printed.
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(shell.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "started\n");
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
        assert!(!children.trim().is_empty(), "the shell started no child");
        let signalled = signal_namespace(pid, nix::sys::signal::Signal::SIGCONT);
        for child in children.split_whitespace() {
            let child = nix::unistd::Pid::from_raw(child.parse().unwrap());
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
        }
        shell.kill().unwrap();
        let _ = shell.wait();
        assert!(
            !signalled,
            "this process's own namespace was taken for a sandbox's"
        );
    }

    #[test]
    fn git_alternates_reads_absolute_existing_folders() {
        let checkout = tempfile::tempdir().unwrap();
        let objects = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(checkout.path().join(".git/objects/info")).unwrap();
        std::fs::write(
            checkout.path().join(".git/objects/info/alternates"),
            format!(
                "{}\nrelative/objects\n/no/such/folder\n",
                objects.path().display()
            ),
        )
        .unwrap();
        assert_eq!(
            git_alternates(checkout.path()),
            vec![objects.path().to_path_buf()]
        );
        assert!(git_alternates(objects.path()).is_empty());
    }
}
