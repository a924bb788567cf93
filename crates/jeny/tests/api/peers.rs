//! Real peers these tests start as processes of their own (a Prometheus, InfluxDB's clients):
//! where their setup scripts put them, and a free loopback port to run them on. A missing peer
//! fails the test with the script to run, never passes silently.

use std::path::{Path, PathBuf};

/// The peers' folder: `$JENY_PEERS_DIR`, by default `~/.cache/jeny/peers`.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("JENY_PEERS_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/jeny/peers"),
        PathBuf::from,
    )
}

/// `program` (a path of the machine, or one under the peers' folder), which `setup` installs.
pub fn require(program: impl AsRef<Path>, setup: &str) -> PathBuf {
    let program = peers_dir().join(program);
    assert!(
        program.exists(),
        "a peer of the tests is missing: run {setup} ({} not found)",
        program.display()
    );
    program
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
