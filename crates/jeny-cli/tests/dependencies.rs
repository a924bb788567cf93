//! The CLI and the client link the wire types (`jeny-api`) and `jeny-core`, never the server: no
//! store, no HTTP server, no concept crate. Otherwise the CLI would carry sqlx and axum and
//! rebuild whenever server code changes (docs/architecture.md, "Wire types in their own crate").
//! `jeny-api` itself does no I/O, so it does not even need a runtime.

use std::process::Command;

/// The packages `package` links (normal dependencies, for the host platform), one name each.
fn linked_packages(package: &str) -> Vec<String> {
    // Read at run time, not compiled in: a test binary reused from a build cache of another,
    // deleted checkout must still look at this one.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let folder = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let output = Command::new(cargo)
        .current_dir(folder)
        .args(["tree", "--offline", "--edges", "normal", "--prefix", "none"])
        .args(["--package", package])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The packages of `linked` that are `forbidden` or start with one of them and a `-`
/// (`sqlx-core`, `axum-core`).
fn forbidden_in<'a>(linked: &'a [String], forbidden: &[&str]) -> Vec<&'a str> {
    let mut found: Vec<&str> = linked
        .iter()
        .map(String::as_str)
        .filter(|name| {
            forbidden.iter().any(|forbidden| {
                *name == *forbidden
                    || name
                        .strip_prefix(forbidden)
                        .is_some_and(|rest| rest.starts_with('-'))
            })
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

const SERVER_CRATES: &[&str] = &[
    "sqlx",
    "axum",
    "jeny-store",
    "jeny-http",
    "jeny-events",
    "jeny-auth",
    "jeny-hosts",
    "jeny-projects",
    "jeny-deploys",
    "jeny-aws",
    "jeny-chat",
    "jeny-server",
];

#[test]
fn the_cli_links_no_server_crate() {
    let linked = linked_packages("jeny-cli");
    assert!(linked.iter().any(|name| name == "jeny-api"), "{linked:?}");
    assert_eq!(forbidden_in(&linked, SERVER_CRATES), Vec::<&str>::new());
}

#[test]
fn the_client_links_no_server_crate() {
    let linked = linked_packages("jeny-client");
    assert_eq!(forbidden_in(&linked, SERVER_CRATES), Vec::<&str>::new());
}

#[test]
fn the_wire_types_do_no_io() {
    let linked = linked_packages("jeny-api");
    let mut forbidden = SERVER_CRATES.to_vec();
    forbidden.extend(["tokio", "reqwest", "hyper", "jeny-client"]);
    assert_eq!(forbidden_in(&linked, &forbidden), Vec::<&str>::new());
}
