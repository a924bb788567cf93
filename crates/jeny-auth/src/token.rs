//! Secrets jeny hands out: a prefix naming the kind followed by 43 base64url characters (256
//! random bits). The prefix lets secret scanners recognise a leaked jeny secret, and tells the
//! authenticator which table to look in. Only the SHA-256 hash is stored: the secrets have
//! enough entropy that a slow hash adds nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jeny_core::Secret;
use sha2::{Digest, Sha256};

/// A personal API token.
pub(crate) const PREFIX: &str = "jeny_";
/// A browser session (the cookie's value).
pub(crate) const SESSION_PREFIX: &str = "jenys_";
/// An agent token.
pub(crate) const AGENT_PREFIX: &str = "jenya_";
/// A device code of `jeny login` (RFC 8628).
pub(crate) const DEVICE_PREFIX: &str = "jenyd_";
/// A one-time console sign-in link.
pub(crate) const LINK_PREFIX: &str = "jenyl_";

pub(crate) fn generate() -> Secret<String> {
    generate_with(PREFIX)
}

pub(crate) fn generate_with(prefix: &str) -> Secret<String> {
    Secret::new(format!("{prefix}{}", random_text(32)))
}

/// `bytes` random bytes as base64url without padding.
pub(crate) fn random_text(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    getrandom::getrandom(&mut random).expect("the operating system has no random source");
    URL_SAFE_NO_PAD.encode(random)
}

pub(crate) fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let first = generate();
        let second = generate();
        assert!(first.expose().starts_with(PREFIX));
        assert_eq!(first.expose().len(), PREFIX.len() + 43);
        assert_ne!(first.expose(), second.expose());
        assert_eq!(hash(first.expose()).len(), 64);
        assert_ne!(hash(first.expose()), hash(second.expose()));
        for prefix in [SESSION_PREFIX, AGENT_PREFIX, DEVICE_PREFIX, LINK_PREFIX] {
            assert!(
                !prefix.starts_with(PREFIX),
                "{prefix} must not pass for an API token"
            );
            assert!(generate_with(prefix).expose().starts_with(prefix));
        }
    }
}
