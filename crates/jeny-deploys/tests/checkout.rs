//! Checkouts from a real git repository made in the test: the default branch, a tag, a branch
//! and a sha; the sha recorded; new commits fetched; a bad ref refused with git's reason.

use jeny_deploys::checkout::{CheckoutError, Mirrors};
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
