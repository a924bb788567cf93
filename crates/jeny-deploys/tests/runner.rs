//! The runner with real processes: output by stream, exit codes, a clean environment, and
//! stopping whole process trees (one that ignores SIGTERM, one that traps it and exits).

use jeny_core::Secret;
use jeny_deploys::runner::{Chunk, CommandSpec, Ending, Stream, run};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn spec(command: &str, dir: &Path) -> CommandSpec {
    let mut environment = BTreeMap::new();
    environment.insert(
        "PATH".to_owned(),
        Secret::new(std::env::var("PATH").unwrap_or_default()),
    );
    environment.insert("GREETING".to_owned(), Secret::new("hello".to_owned()));
    CommandSpec {
        shell: "sh".into(),
        command: command.into(),
        environment,
        working_dir: dir.to_path_buf(),
        timeout: Duration::from_secs(60),
        grace: Duration::from_millis(500),
        sandbox: None,
    }
}

/// Runs `spec` and collects its output; `cancel_when` fires the cancel once the output contains it.
async fn run_collecting(spec: &CommandSpec, cancel_when: Option<&str>) -> (Ending, Vec<Chunk>) {
    let (sender, mut receiver) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let runner = {
        let spec = spec.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { run(&spec, sender, cancel).await })
    };
    let mut chunks = Vec::new();
    let mut seen = String::new();
    while let Some(chunk) = receiver.recv().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.bytes));
        chunks.push(chunk);
        if cancel_when.is_some_and(|marker| seen.contains(marker)) {
            cancel.cancel();
        }
    }
    (runner.await.unwrap().unwrap(), chunks)
}

fn text(chunks: &[Chunk], stream: Stream) -> String {
    chunks
        .iter()
        .filter(|c| c.stream == stream)
        .map(|c| String::from_utf8_lossy(&c.bytes).into_owned())
        .collect()
}

fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    // A zombie (state Z) has exited; only its parent has not collected it yet.
    !stat.is_empty()
        && !stat
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z'))
}

/// Whether the process dies within a generous deadline: a SIGKILLed process takes a moment to
/// finish exiting after its pipes have closed.
async fn dies(pid: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test]
async fn output_is_captured_by_stream_with_the_exit_code_and_only_the_given_environment() {
    let dir = tempfile::tempdir().unwrap();
    let command = "echo \"$GREETING from $(pwd)\"; echo oops >&2; echo \"server secret: [$JENY_TEST_DATABASE_URL$HOSTNAME]\"; exit 3";
    let (ending, chunks) = run_collecting(&spec(command, dir.path()), None).await;
    assert_eq!(ending, Ending::Exited(3));
    let stdout = text(&chunks, Stream::Stdout);
    assert!(
        stdout.starts_with(&format!("hello from {}", dir.path().display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("server secret: []"),
        "the server's environment leaked: {stdout}"
    );
    assert_eq!(text(&chunks, Stream::Stderr), "oops\n");
    assert!(chunks.windows(2).all(|pair| pair[0].at <= pair[1].at));
}

#[tokio::test]
async fn cancel_kills_a_process_tree_that_ignores_sigterm_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let command = "trap '' TERM; sleep 1000 & echo $! > grandchild; sh -c 'trap \"\" TERM; sleep 1000' & echo $! > child2; echo started; wait";
    let started = std::time::Instant::now();
    let (ending, _) = run_collecting(&spec(command, dir.path()), Some("started")).await;
    assert_eq!(ending, Ending::Cancelled);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "SIGKILL came before the grace period"
    );
    for file in ["grandchild", "child2"] {
        let pid = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(
            dies(&pid).await,
            "{file} ({}) survived the cancel",
            pid.trim()
        );
    }
}

#[tokio::test]
async fn cancel_lets_a_command_that_traps_sigterm_finish_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(
        "trap 'echo cleaning up; exit 0' TERM; echo started; while true; do sleep 0.05; done",
        dir.path(),
    );
    spec.grace = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let (ending, chunks) = run_collecting(&spec, Some("started")).await;
    assert_eq!(ending, Ending::Cancelled);
    assert!(text(&chunks, Stream::Stdout).contains("cleaning up"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it waited for the whole grace period"
    );
}

#[tokio::test]
async fn a_command_past_its_timeout_is_stopped_and_so_is_what_it_leaves_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut timed = spec("sleep 1000", dir.path());
    timed.timeout = Duration::from_millis(300);
    let (ending, _) = run_collecting(&timed, None).await;
    assert_eq!(ending, Ending::TimedOut);

    let leftovers = spec("sleep 1000 & echo $! > leftover; echo done", dir.path());
    let (ending, _) = run_collecting(&leftovers, None).await;
    assert_eq!(ending, Ending::Exited(0));
    let pid = std::fs::read_to_string(dir.path().join("leftover")).unwrap();
    assert!(dies(&pid).await, "a background process outlived its deploy");
}
