//! API token secrets: `jeny_` followed by 43 base64url characters (256 random bits). The prefix
//! lets secret scanners recognise a leaked jeny token. Only the SHA-256 hash is stored: the
//! secret has enough entropy that a slow hash adds nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jeny_core::Secret;
use sha2::{Digest, Sha256};

pub(crate) const PREFIX: &str = "jeny_";

pub(crate) fn generate() -> Secret<String> {
    let mut random = [0u8; 32];
    getrandom::getrandom(&mut random).expect("the operating system has no random source");
    Secret::new(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random)))
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
    }
}
