//! Secrets. `Secret<T>` keeps a value out of `Debug` output and logs; `SecretKey` is the server's
//! 256-bit key, and `SecretBox` encrypts values at rest with XChaCha20-Poly1305 (random 192-bit
//! nonce per value, so no nonce bookkeeping). A sealed value is bound to the context it was
//! sealed for (associated data, such as the variable's id), so a ciphertext copied onto another
//! row does not decrypt.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;

/// A value that must not appear in logs. `Debug` prints `Secret(***)`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The secret itself; call sites are easy to grep for.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Secret<T> {
        Secret(value)
    }
}

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
/// First byte of every sealed value: lets a later key or algorithm change recognise old values.
const FORMAT_V1: u8 = 1;

/// The server's secret key: 32 random bytes, kept base64-encoded in the key file.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_LEN]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key must be 32 bytes encoded as base64 (44 characters)")]
    BadKey,
    #[error("a sealed value could not be opened: wrong key, wrong context or corrupted data")]
    CannotOpen,
}

impl SecretKey {
    pub fn generate() -> SecretKey {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        SecretKey(key.into())
    }

    /// Parses the key file's text (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<SecretKey, SecretError> {
        let bytes = STANDARD
            .decode(text.trim().as_bytes())
            .map_err(|_| SecretError::BadKey)?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(SecretKey(key))
    }

    pub fn to_base64(&self) -> Secret<String> {
        Secret(STANDARD.encode(self.0))
    }
}

/// Seals and opens values with the server's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn new(key: &SecretKey) -> SecretBox {
        SecretBox {
            cipher: XChaCha20Poly1305::new(&key.0.into()),
        }
    }

    /// Encrypts `plaintext` for `context`: `[version][nonce][ciphertext+tag]`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(&nonce, payload)
            .expect("xchacha20poly1305 encryption cannot fail for in-memory buffers");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts a value sealed by `seal` with the same key and context.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Secret<Vec<u8>>, SecretError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(SecretError::CannotOpen);
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        let payload = Payload {
            msg: &sealed[1 + NONCE_LEN..],
            aad: context.as_bytes(),
        };
        self.cipher
            .decrypt(nonce, payload)
            .map(Secret)
            .map_err(|_| SecretError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_and_context() {
        let sealer = SecretBox::new(&SecretKey::generate());
        let sealed = sealer.seal(b"hunter2", "variable:1");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            sealer.open(&sealed, "variable:1").unwrap().expose(),
            b"hunter2"
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let sealer = SecretBox::new(&SecretKey::generate());
        assert_ne!(sealer.seal(b"x", "c"), sealer.seal(b"x", "c"));
    }

    #[test]
    fn another_context_key_or_a_flipped_bit_cannot_open() {
        let key = SecretKey::generate();
        let sealer = SecretBox::new(&key);
        let sealed = sealer.seal(b"hunter2", "variable:1");
        assert_eq!(
            sealer.open(&sealed, "variable:2").unwrap_err(),
            SecretError::CannotOpen
        );
        let stranger = SecretBox::new(&SecretKey::generate());
        assert!(stranger.open(&sealed, "variable:1").is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open(&tampered, "variable:1").is_err());
        assert!(sealer.open(&[], "variable:1").is_err());
    }

    #[test]
    fn keys_round_trip_through_base64_and_bad_keys_are_refused() {
        let key = SecretKey::generate();
        let text = key.to_base64();
        let again = SecretKey::from_base64(&format!("{}\n", text.expose())).unwrap();
        assert_eq!(again.0, key.0);
        assert_eq!(
            SecretKey::from_base64("short").unwrap_err(),
            SecretError::BadKey
        );
        assert_eq!(format!("{key:?}"), "SecretKey(***)");
        assert_eq!(format!("{:?}", Secret::new("pw")), "Secret(***)");
    }
}
