//! Running a deploy's command: `sh -c COMMAND` (the shell is configurable) in a process group of
//! its own, with exactly the environment it is given, its stdout and stderr captured as chunks
//! marked with their stream and time. Stopping it (cancel, or the timeout) sends SIGTERM to the
//! whole group, waits a grace period, then SIGKILLs the group, so grandchildren (a `sleep` in a
//! script, `ansible-playbook`'s forks) die too. When the command exits on its own, whatever it
//! left running in its group is killed as well: a deploy ends when its command does.
//!
//! A sandboxed command (`CommandSpec::sandbox`, which the server always sets) runs under
//! bubblewrap in a PID namespace of its own: stopping it signals every process of that namespace,
//! whatever session or group it put itself in, and everything in it ends with the command.

use crate::sandbox::{self, Sandbox};
use jeny_core::{Secret, Timestamp};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The shell that runs `command` with `-c` (`sh` by default).
    pub shell: String,
    pub command: String,
    /// The whole environment: nothing of the server's own is added.
    pub environment: BTreeMap<String, Secret<String>>,
    pub working_dir: PathBuf,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL when the command is stopped.
    pub grace: Duration,
    /// The sandbox it runs in; its folder is `working_dir`'s parent (the deploy's folder).
    pub sandbox: Option<Sandbox>,
}

pub use crate::output::{OutputChunk as Chunk, OutputStream as Stream};

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited by itself with this code (128 + the signal when a signal ended it).
    Exited(i32),
    /// It was stopped because `cancel` fired.
    Cancelled,
    /// It was stopped because it ran longer than its timeout.
    TimedOut,
}

/// The pipe size asked for, and the most read at once.
const PIPE_BYTES: usize = 1024 * 1024;

/// How long output is still read after the command's group is gone.
const PIPE_DRAIN: Duration = Duration::from_secs(2);

/// Runs `spec`, sending its output to `chunks` as it comes, until it exits, `cancel` fires or
/// the timeout passes. Fails only when the command cannot be started.
pub async fn run(
    spec: &CommandSpec,
    chunks: mpsc::Sender<Chunk>,
    cancel: CancellationToken,
) -> std::io::Result<Ending> {
    let mut command = match &spec.sandbox {
        Some(sandbox) => sandbox.command(
            &spec.shell,
            &spec.command,
            spec.working_dir.parent().unwrap_or(&spec.working_dir),
            &spec.working_dir,
        ),
        None => {
            let mut command = tokio::process::Command::new(&spec.shell);
            command.arg("-c").arg(&spec.command);
            command
        }
    };
    let mut child = command
        .env_clear()
        .envs(
            spec.environment
                .iter()
                .map(|(name, value)| (name, value.expose())),
        )
        .current_dir(&spec.working_dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let group = Pid::from_raw(child.id().map(|id| id as i32).unwrap_or_default());
    let sandboxed = spec.sandbox.is_some();
    // Larger pipes: a command printing fast is read in fewer, larger pieces (Linux; the size is
    // a request, and a refusal leaves the default).
    for pipe in [
        child.stdout.as_ref().map(std::os::fd::AsFd::as_fd),
        child.stderr.as_ref().map(std::os::fd::AsFd::as_fd),
    ]
    .into_iter()
    .flatten()
    {
        let _ = nix::fcntl::fcntl(pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES as i32));
    }
    let readers = [
        tokio::spawn(forward(child.stdout.take(), Stream::Stdout, chunks.clone())),
        tokio::spawn(forward(child.stderr.take(), Stream::Stderr, chunks)),
    ];
    let ending = tokio::select! {
        status = child.wait() => {
            let status = status?;
            Ending::Exited(exit_code(status))
        }
        _ = cancel.cancelled() => {
            stop_group(&mut child, group, sandboxed, spec.grace).await;
            Ending::Cancelled
        }
        _ = tokio::time::sleep(spec.timeout) => {
            stop_group(&mut child, group, sandboxed, spec.grace).await;
            Ending::TimedOut
        }
    };
    // Whatever the command left in its group ends with it; then its pipes close. A process that
    // left the group (setsid) may still hold them open: its output stops being read after a
    // moment rather than holding the deploy open forever.
    let _ = killpg(group, Signal::SIGKILL);
    for mut reader in readers {
        if tokio::time::timeout(PIPE_DRAIN, &mut reader).await.is_err() {
            reader.abort();
        }
    }
    Ok(ending)
}

/// SIGTERM to the group, the grace period for the command to exit, then SIGKILL to the group.
/// In a sandbox the SIGTERM goes to every process of its namespace but bubblewrap's own (which
/// would die of it at once and take the namespace down with SIGKILL, leaving the command no
/// grace); the SIGKILL to the group reaches bubblewrap, and the namespace dies with it.
async fn stop_group(
    child: &mut tokio::process::Child,
    group: Pid,
    sandboxed: bool,
    grace: Duration,
) {
    if !(sandboxed && sandbox::signal_namespace(group.as_raw(), Signal::SIGTERM)) {
        let _ = killpg(group, Signal::SIGTERM);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

async fn forward(
    pipe: Option<impl AsyncRead + Unpin>,
    stream: Stream,
    chunks: mpsc::Sender<Chunk>,
) {
    let Some(mut pipe) = pipe else { return };
    let mut buffer = vec![0u8; PIPE_BYTES];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                let chunk = Chunk {
                    stream,
                    at: Timestamp::now(),
                    bytes: buffer[..read].to_vec(),
                };
                if chunks.send(chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}
