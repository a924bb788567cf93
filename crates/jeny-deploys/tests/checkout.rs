//! Checkouts from a real git repository made in the test: the default branch, a tag, a branch
//! and a sha; the sha recorded; new commits fetched; a bad ref refused with git's reason.

use jeny_deploys::checkout::{CheckoutError, Mirrors};
use jeny_projects::RepositorySchemes;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git is needed by this test");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn commit(repository: &Path, file: &str, content: &str) -> String {
    std::fs::write(repository.join(file), content).unwrap();
    git(repository, &["add", "."]);
    git(repository, &["commit", "--quiet", "-m", content]);
    git(repository, &["rev-parse", "HEAD"])
}

#[tokio::test]
async fn refs_are_checked_out_with_their_sha_and_new_commits_are_fetched() {
    let work = tempfile::tempdir().unwrap();
    let repository = work.path().join("app");
    std::fs::create_dir(&repository).unwrap();
    git(
        &repository,
        &["init", "--quiet", "--initial-branch", "main"],
    );
    let first = commit(&repository, "version", "1");
    git(&repository, &["tag", "v1"]);
    let second = commit(&repository, "version", "2");
    git(&repository, &["checkout", "--quiet", "-b", "feature"]);
    let feature = commit(&repository, "version", "feature");
    git(&repository, &["checkout", "--quiet", "main"]);
    let url = repository.to_str().unwrap();
    let mirrors = Mirrors::new(work.path().join("mirrors"));

    let cases = [
        (None, &second, "2"),
        (Some("v1"), &first, "1"),
        (Some("feature"), &feature, "feature"),
        (Some(first.as_str()), &first, "1"),
    ];
    for (index, (git_ref, sha, content)) in cases.iter().enumerate() {
        let into = work.path().join(format!("deploy-{index}"));
        let checkout = mirrors.checkout("app", url, *git_ref, &into).await.unwrap();
        assert_eq!(&checkout.sha, *sha, "{git_ref:?}");
        assert_eq!(
            std::fs::read_to_string(into.join("version")).unwrap(),
            *content,
            "{git_ref:?}"
        );
    }

    let third = commit(&repository, "version", "3");
    let into = work.path().join("deploy-after-push");
    let checkout = mirrors.checkout("app", url, None, &into).await.unwrap();
    assert_eq!(
        checkout.sha, third,
        "the mirror was fetched before the checkout"
    );
}

#[tokio::test]
async fn a_bad_ref_or_repository_is_refused_with_gits_reason() {
    let work = tempfile::tempdir().unwrap();
    let repository = work.path().join("app");
    std::fs::create_dir(&repository).unwrap();
    git(
        &repository,
        &["init", "--quiet", "--initial-branch", "main"],
    );
    commit(&repository, "version", "1");
    let mirrors = Mirrors::new(work.path().join("mirrors"));
    let refused = mirrors
        .checkout(
            "app",
            repository.to_str().unwrap(),
            Some("no-such-branch"),
            &work.path().join("d1"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            CheckoutError::Git {
                step: "rev-parse",
                ..
            }
        ),
        "{refused}"
    );
    assert!(refused.to_string().contains("no-such-branch"), "{refused}");
    assert!(!work.path().join("d1").exists());

    let missing = work.path().join("nowhere");
    let refused = mirrors
        .checkout(
            "other",
            missing.to_str().unwrap(),
            None,
            &work.path().join("d2"),
        )
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains("git clone failed") && message.contains("nowhere"),
        "{message}"
    );
}

/// A server that accepts connections and never answers: a git fetch from it hangs.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    (format!("http://{address}/app.git"), task)
}

/// The git processes whose command line names `text`.
fn git_processes_naming(text: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !status.contains("State:\tZ") && String::from_utf8_lossy(&command).contains(text)
        })
        .collect()
}

#[tokio::test]
async fn a_hung_fetch_is_killed_with_its_checkout_and_a_changed_repository_is_fetched_next() {
    let work = tempfile::tempdir().unwrap();
    let repository = work.path().join("app");
    std::fs::create_dir(&repository).unwrap();
    git(
        &repository,
        &["init", "--quiet", "--initial-branch", "main"],
    );
    let first = commit(&repository, "version", "1");
    // The silent server speaks http, which the setting must allow.
    let mirrors = Mirrors::new(work.path().join("mirrors"))
        .allowing(RepositorySchemes::parse(&["http", "file"]).unwrap());
    let good = repository.to_str().unwrap();
    mirrors
        .checkout("app", good, None, &work.path().join("deploy-1"))
        .await
        .unwrap();

    // The project's repository moves to a server that never answers: the fetch hangs until the
    // deploy's time runs out, which drops the checkout.
    let (silent, _server) = silent_server().await;
    let hung = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        mirrors.checkout("app", &silent, None, &work.path().join("deploy-2")),
    )
    .await;
    assert!(hung.is_err(), "the fetch from a silent server did not hang");
    // `git fetch` names the mirror; its transport helper names the URL.
    let mirror_folder = work.path().join("mirrors").display().to_string();
    let left = || {
        let mut pids = git_processes_naming(&silent);
        pids.extend(git_processes_naming(&mirror_folder));
        pids
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !left().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "git processes outlived their checkout: {:?}",
            left()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Back to a reachable repository (another one): the mirror lock is free and the mirror
    // fetches from the new origin.
    let moved = work.path().join("moved");
    git(
        work.path(),
        &["clone", "--quiet", good, moved.to_str().unwrap()],
    );
    let newer = commit(&moved, "version", "2");
    assert_ne!(newer, first);
    let checkout = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        mirrors.checkout(
            "app",
            moved.to_str().unwrap(),
            None,
            &work.path().join("deploy-3"),
        ),
    )
    .await
    .expect("the mirror lock was still held after the hung fetch")
    .unwrap();
    assert_eq!(
        checkout.sha, newer,
        "the mirror still fetches from the old origin"
    );
}

#[tokio::test]
async fn a_repository_of_a_refused_transport_is_refused_before_git_runs() {
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("ran");
    let mirrors = Mirrors::new(work.path().join("mirrors"));
    for repository in [
        "fd::17".to_owned(),
        format!("ext::sh -c touch% {}", marker.display()),
        "http://127.0.0.1:9/app.git".to_owned(),
    ] {
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            mirrors.checkout("app", &repository, None, &work.path().join("deploy")),
        )
        .await
        .unwrap_or_else(|_| panic!("the checkout of {repository} hung"));
        match refused {
            Err(CheckoutError::Refused(message)) => {
                assert!(message.contains("is not allowed"), "{message}")
            }
            other => panic!("{repository}: {other:?}"),
        }
    }
    assert!(!marker.exists(), "the ext:: command ran");
    assert!(
        !work.path().join("mirrors").join("app.git").exists(),
        "a mirror was started"
    );
}
