//! The sandbox with real bubblewrap: a deploy's command sees no other process, cannot read what
//! is hidden, writes only where it may, gets its grace period when stopped, and everything it
//! starts (a `setsid` daemon included) ends with it. As root, it runs as the deploy user.

use jeny_core::Secret;
use jeny_deploys::runner::{Chunk, CommandSpec, Ending, Stream, run};
use jeny_deploys::{DeployUser, Sandbox};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A deploy's folders as the server lays them out: `data/deploys/<id>/src`, with `data` hidden.
struct Layout {
    data: tempfile::TempDir,
    source: PathBuf,
    /// Set in the command's environment: finds every process it started, from outside.
    marker: String,
}

impl Layout {
    fn new() -> Layout {
        let data = tempfile::tempdir().unwrap();
        let source = data.path().join("deploys/d1/src");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(data.path().join("secret.key"), "the server's key").unwrap();
        Layout {
            data,
            source,
            marker: format!("JENY_TEST_MARKER={}", jeny_core::new_id()),
        }
    }

    fn spec(&self, command: &str) -> CommandSpec {
        let mut environment = BTreeMap::new();
        environment.insert(
            "PATH".to_owned(),
            Secret::new(std::env::var("PATH").unwrap_or_default()),
        );
        let (name, value) = self.marker.split_once('=').unwrap();
        environment.insert(name.to_owned(), Secret::new(value.to_owned()));
        CommandSpec {
            shell: "sh".into(),
            command: command.into(),
            environment,
            working_dir: self.source.clone(),
            timeout: Duration::from_secs(60),
            grace: Duration::from_secs(30),
            sandbox: Some(Sandbox::new(
                None,
                vec![self.data.path().to_path_buf()],
                Vec::new(),
            )),
        }
    }

    /// The processes of this machine that carry the marker (the command and its offspring).
    fn marked_processes(&self) -> Vec<i32> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let zombie = std::fs::read_to_string(entry.path().join("stat"))
                .is_ok_and(|stat| stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')));
            if !zombie
                && environ
                    .split(|byte| *byte == 0)
                    .any(|variable| variable == self.marker.as_bytes())
            {
                found.push(pid);
            }
        }
        found
    }

    /// Waits (with a generous deadline) until no marked process is left.
    async fn all_gone(&self) -> Vec<i32> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = self.marked_processes();
            if left.is_empty() || std::time::Instant::now() > deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs `spec`; `cancel_when` fires the cancel once the output contains it.
async fn run_collecting(spec: &CommandSpec, cancel_when: Option<&str>) -> (Ending, String) {
    let (sender, mut receiver) = mpsc::channel::<Chunk>(64);
    let cancel = CancellationToken::new();
    let runner = {
        let (spec, cancel) = (spec.clone(), cancel.clone());
        tokio::spawn(async move { run(&spec, sender, cancel).await })
    };
    let mut seen = String::new();
    while let Some(chunk) = receiver.recv().await {
        if chunk.stream != Stream::Jeny {
            seen.push_str(&String::from_utf8_lossy(&chunk.bytes));
        }
        if cancel_when.is_some_and(|marker| seen.contains(marker)) {
            cancel.cancel();
        }
    }
    (runner.await.unwrap().unwrap(), seen)
}

#[tokio::test]
async fn a_sandboxed_command_sees_no_process_but_its_own() {
    let layout = Layout::new();
    // A process outside, with a secret in its environment, as another deploy would have.
    let mut outside = std::process::Command::new("sleep")
        .arg("300")
        .env("OTHER_DEPLOYS_SECRET", "hunter2-hunter2")
        .spawn()
        .unwrap();
    let (ending, output) = run_collecting(
        &layout.spec(
            "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c OTHER_DEPLOYS_SECRET; \
             echo processes: $(ls -d /proc/[0-9]* | wc -l); echo parent: $(tr '\\0' ' ' < /proc/$PPID/cmdline)",
        ),
        None,
    )
    .await;
    outside.kill().unwrap();
    let _ = outside.wait();
    assert_eq!(ending, Ending::Exited(0), "{output}");
    assert!(
        output.starts_with("0\n"),
        "another process's environment was read: {output}"
    );
    assert!(!output.contains("hunter2"), "{output}");
    let processes: usize = output
        .lines()
        .find_map(|line| line.strip_prefix("processes: "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap();
    // bubblewrap's init, the shell, and the pipeline's commands.
    assert!(
        processes <= 6,
        "the sandbox shows {processes} processes: {output}"
    );
    assert!(
        !output.contains("jeny"),
        "the server is the command's parent: {output}"
    );
}

#[tokio::test]
async fn the_data_folder_is_hidden_and_the_deploys_folder_writable() {
    let layout = Layout::new();
    let key = layout.data.path().join("secret.key");
    let command = format!(
        "cat ../../../secret.key && echo READ-RELATIVE; cat {key} && echo READ-ABSOLUTE; \
         ls ../.. ; echo written > ../written && echo WROTE-OWN; \
         echo x > {data}/planted && echo WROTE-DATA; touch /tmp/mine && echo TMP-OK; \
         ls /tmp",
        key = key.display(),
        data = layout.data.path().display(),
    );
    std::fs::write("/tmp/jeny-sandbox-test-outside", "outside").unwrap();
    let (ending, output) = run_collecting(&layout.spec(&command), None).await;
    assert_eq!(ending, Ending::Exited(0), "{output}");
    assert!(!output.contains("the server's key"), "{output}");
    assert!(!output.contains("READ-"), "{output}");
    assert!(
        output.contains("WROTE-OWN") && output.contains("TMP-OK"),
        "{output}"
    );
    assert!(
        !output.contains("jeny-sandbox-test-outside"),
        "/tmp is shared: {output}"
    );
    assert_eq!(
        std::fs::read_to_string(layout.data.path().join("deploys/d1/written")).unwrap(),
        "written\n"
    );
    // What it wrote over the hidden folder went to an empty folder that is gone now.
    assert!(!layout.data.path().join("planted").exists());
    assert!(!Path::new("/tmp/mine").exists());
}

#[tokio::test]
async fn cancel_gives_a_sandboxed_command_its_grace_and_then_ends_everything_it_started() {
    let layout = Layout::new();
    let command = "trap 'echo cleaning up; exit 0' TERM; setsid sleep 1000 & \
                   sh -c 'trap \"\" TERM; sleep 1000' & echo started; while true; do sleep 0.05; done";
    let (ending, output) = run_collecting(&layout.spec(command), Some("started")).await;
    assert_eq!(ending, Ending::Cancelled);
    assert!(
        output.contains("cleaning up"),
        "the command got no SIGTERM: {output}"
    );
    let left = layout.all_gone().await;
    assert!(left.is_empty(), "{left:?} outlived the cancel");
}

#[tokio::test]
async fn what_a_sandboxed_command_leaves_behind_ends_with_it() {
    let layout = Layout::new();
    let (ending, _) = run_collecting(
        &layout.spec("setsid sleep 1000 & sleep 1000 & echo done"),
        None,
    )
    .await;
    assert_eq!(ending, Ending::Exited(0));
    let left = layout.all_gone().await;
    assert!(left.is_empty(), "{left:?} outlived the deploy");
}

#[tokio::test]
async fn a_sandboxed_command_past_its_timeout_is_stopped() {
    let layout = Layout::new();
    let mut spec = layout.spec("trap '' TERM; sleep 1000");
    spec.timeout = Duration::from_millis(300);
    spec.grace = Duration::from_millis(300);
    let (ending, _) = run_collecting(&spec, None).await;
    assert_eq!(ending, Ending::TimedOut);
    assert!(layout.all_gone().await.is_empty());
}

#[tokio::test]
async fn as_root_the_command_runs_as_the_deploy_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: the deploy user cannot be switched to here");
        return;
    }
    let layout = Layout::new();
    let user = DeployUser::named("nobody").unwrap();
    let mut spec = layout.spec("id -u; id -g; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status");
    spec.sandbox.as_mut().unwrap().user = Some(user.clone());
    let (ending, output) = run_collecting(&spec, None).await;
    assert_eq!(ending, Ending::Exited(0), "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], user.uid.to_string(), "{output}");
    assert_eq!(lines[1], user.gid.to_string(), "{output}");
    assert!(output.contains("CapEff:\t0000000000000000"), "{output}");
    assert!(output.contains("NoNewPrivs:\t1"), "{output}");
}

#[tokio::test]
async fn a_folder_shown_read_only_still_serves_its_ssh_agent() {
    // The supervisor shows the server's SSH agent folder read-only (it is usually under /tmp,
    // which the sandbox replaces): connecting to a socket needs no write to its file system.
    let layout = Layout::new();
    let folder = tempfile::tempdir().unwrap();
    let socket = folder.path().join("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .arg("-a")
        .arg(&socket)
        .output()
        .unwrap();
    assert!(agent.status.success(), "{agent:?}");
    let pid = String::from_utf8_lossy(&agent.stdout)
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned)
        .unwrap();
    let mut spec = layout.spec(&format!(
        "SSH_AUTH_SOCK={} ssh-add -l; echo \"exit=$?\"",
        socket.display()
    ));
    spec.sandbox
        .as_mut()
        .unwrap()
        .readable
        .push(folder.path().to_path_buf());
    let (_, output) = run_collecting(&spec, None).await;
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    // 1: the agent answered and has no keys; 2 would be "cannot connect".
    assert!(output.contains("exit=1"), "{output}");
}

#[tokio::test]
async fn a_writable_folder_holding_the_data_folder_does_not_show_it() {
    let outer = tempfile::tempdir().unwrap();
    let data = outer.path().join("data");
    let source = data.join("deploys/d1/src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(data.join("secret.key"), "the server's key").unwrap();
    let layout = Layout::new();
    let mut spec = layout.spec(&format!(
        "cat {data}/secret.key; echo mark > {outer}/mark && echo WROTE",
        data = data.display(),
        outer = outer.path().display()
    ));
    spec.working_dir = source;
    let sandbox = spec.sandbox.as_mut().unwrap();
    sandbox.hidden = vec![data.clone()];
    sandbox.writable = vec![outer.path().to_path_buf()];
    let (ending, output) = run_collecting(&spec, None).await;
    assert_eq!(ending, Ending::Exited(0), "{output}");
    assert!(!output.contains("the server's key"), "{output}");
    assert!(output.contains("WROTE"), "{output}");
    assert_eq!(
        std::fs::read_to_string(outer.path().join("mark")).unwrap(),
        "mark\n"
    );
}
