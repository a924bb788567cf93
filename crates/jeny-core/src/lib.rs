//! The vocabulary every part of jeny shares: identifiers, validated names, timestamps, secrets and
//! their encryption, the closed set of error codes, the `Principal` a request acts as, and pages of
//! results. Nothing here does I/O, so every other crate can depend on it.

pub mod error;
pub mod id;
pub mod name;
pub mod page;
pub mod precondition;
pub mod principal;
pub mod secret;
pub mod time;

pub use error::{DomainError, ErrorChain, ErrorCode};
pub use id::new_id;
pub use name::{Name, NameError};
pub use page::{Page, PageRequest};
pub use precondition::{Precondition, etag_for};
pub use principal::{Credential, Forbidden, Grant, Principal, Role};
pub use secret::{Secret, SecretBox, SecretKey};
pub use time::Timestamp;
