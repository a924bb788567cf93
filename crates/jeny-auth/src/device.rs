//! The OAuth 2.0 device authorization grant (RFC 8628), served by jeny for `jeny login`: the
//! CLI asks for a device code, shows the person a short user code and a URL, and polls; the
//! person opens the URL while signed in and approves; the next poll receives a personal API
//! token. Codes live ten minutes; user codes are 8 letters from a 20-letter alphabet without
//! vowels (RFC 8628 section 6.1), so about 2^34 of them, and guessing is rate limited.

use crate::authenticator::micros;
use crate::store::flows::{self, DeviceCode};
use crate::{AuthError, AuthService, DeviceAuthorization, DevicePollError, token};
use jeny_core::{Principal, Timestamp};
use jeny_events::NewEvent;
use serde_json::json;
use std::time::Duration;

/// How long a device code works.
pub const DEVICE_CODE_TTL: Duration = Duration::from_secs(600);
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// `ABCD-EFGH` from any spelling a person may type (case, spaces, dashes).
pub(crate) fn normalise_user_code(raw: &str) -> Option<String> {
    let letters: String = raw
        .chars()
        .filter(|character| character.is_ascii_alphanumeric())
        .map(|character| character.to_ascii_uppercase())
        .collect();
    (letters.len() == 8).then(|| format!("{}-{}", &letters[..4], &letters[4..]))
}

fn new_user_code() -> String {
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random).expect("the operating system has no random source");
    let letters: String = random
        .iter()
        .map(|byte| char::from(USER_CODE_ALPHABET[usize::from(*byte) % USER_CODE_ALPHABET.len()]))
        .collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// A pending request as the approval page shows it.
pub(crate) struct PendingDevice {
    pub user_code: String,
    pub client_name: String,
}

impl AuthService {
    /// Starts a device authorization for client `client_id`, which calls itself `client_name`.
    /// Only a poll by the same `client_id` gets the token.
    pub async fn device_authorization(
        &self,
        client_id: &str,
        client_name: &str,
    ) -> Result<DeviceAuthorization, AuthError> {
        let client_name: String = client_name
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let client_name = if client_name.trim().is_empty() {
            "a command-line client".to_owned()
        } else {
            client_name.trim().to_owned()
        };
        let device_code = token::generate_with(token::DEVICE_PREFIX);
        let user_code = new_user_code();
        let expires_at =
            Timestamp::from_micros(Timestamp::now().as_micros() + micros(DEVICE_CODE_TTL));
        let mut tx = self.store.begin().await?;
        flows::insert_device_code(
            &mut tx,
            &device_code_hash(device_code.expose(), client_id),
            &user_code,
            &client_name,
            expires_at,
        )
        .await?;
        tx.commit().await?;
        let verification_uri = format!("{}/auth/device", self.config.public_url);
        Ok(DeviceAuthorization {
            device_code: device_code.expose().clone(),
            verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
            user_code,
            verification_uri,
            expires_in: DEVICE_CODE_TTL.as_secs(),
            interval: self.config.device_poll_interval.as_secs().max(1),
        })
    }

    /// The pending request with this user code, if there is one to approve.
    pub(crate) async fn pending_device(
        &self,
        user_code: &str,
    ) -> Result<Option<PendingDevice>, AuthError> {
        let Some(user_code) = normalise_user_code(user_code) else {
            return Ok(None);
        };
        let mut tx = self.store.begin().await?;
        let found = flows::device_by_user_code(&mut tx, &user_code).await?;
        tx.commit().await?;
        Ok(found.filter(is_pending).map(|device| PendingDevice {
            user_code: device.user_code,
            client_name: device.client_name,
        }))
    }

    /// The signed-in person approves (or denies) the request with this user code.
    pub(crate) async fn decide_device(
        &self,
        principal: &Principal,
        user_code: &str,
        approve: bool,
    ) -> Result<String, AuthError> {
        let unknown = || {
            AuthError::NotFound(
                "no sign-in request has this code (or it expired, or was already answered): \
                 run `jeny login` again"
                    .to_owned(),
            )
        };
        let user_code = normalise_user_code(user_code).ok_or_else(unknown)?;
        let mut tx = self.store.begin().await?;
        let device = flows::device_by_user_code(&mut tx, &user_code)
            .await?
            .filter(is_pending)
            .ok_or_else(unknown)?;
        flows::decide_device(
            &mut tx,
            &device.id,
            approve.then_some(principal.person_id.as_str()),
        )
        .await?;
        let kind = if approve {
            "device.approved"
        } else {
            "device.denied"
        };
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                kind,
                principal.actor(),
                json!({"user_code": user_code, "client": device.client_name}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(device.client_name)
    }

    /// A poll of the token endpoint by client `client_id`: the new API token once approved. A
    /// device code polled by another client than the one that asked for it is unknown
    /// (`invalid_grant`), and its token stays where it is.
    pub async fn device_token(
        &self,
        device_code: &str,
        client_id: &str,
    ) -> Result<Result<(String, String), DevicePollError>, AuthError> {
        if !device_code.starts_with(token::DEVICE_PREFIX) {
            return Ok(Err(DevicePollError::InvalidGrant));
        }
        let now = Timestamp::now().as_micros();
        let mut tx = self.store.begin().await?;
        let Some(device) =
            flows::device_by_hash(&mut tx, &device_code_hash(device_code, client_id)).await?
        else {
            return Ok(Err(DevicePollError::InvalidGrant));
        };
        if device.consumed {
            return Ok(Err(DevicePollError::InvalidGrant));
        }
        if device.denied {
            return Ok(Err(DevicePollError::AccessDenied));
        }
        if device.expires_at <= now {
            return Ok(Err(DevicePollError::ExpiredToken));
        }
        let Some(person_id) = device.approved_by.clone() else {
            let too_soon = device.last_polled_at.is_some_and(|last| {
                // a little slack: timers on the client's side are not exact
                now - last < micros(self.config.device_poll_interval) * 4 / 5
            });
            flows::device_polled(&mut tx, &device.id, now).await?;
            tx.commit().await?;
            return Ok(Err(if too_soon {
                DevicePollError::SlowDown
            } else {
                DevicePollError::AuthorizationPending
            }));
        };
        flows::device_consumed(&mut tx, &device.id).await?;
        let secret = token::generate();
        let token_id = crate::store::insert_token(
            &mut tx,
            &person_id,
            &device.client_name,
            &token::hash(secret.expose()),
        )
        .await?;
        let email = crate::store::people::email_of(&mut tx, &person_id).await?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "token.created",
                &email,
                json!({"token_id": token_id, "name": device.client_name, "email": email, "via": "device"}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok((secret.expose().clone(), token_id)))
    }
}

/// What is stored of a device code: the hash of the code together with the client it was given
/// to (RFC 8628 binds a device code to its `client_id`), so that only that client's poll finds
/// it. A device code is `jenyd_` and base64url characters, never a space, so the pair is
/// unambiguous.
fn device_code_hash(device_code: &str, client_id: &str) -> String {
    token::hash(&format!("{device_code} {client_id}"))
}

fn is_pending(device: &DeviceCode) -> bool {
    device.approved_by.is_none()
        && !device.denied
        && !device.consumed
        && device.expires_at > Timestamp::now().as_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_consonants_and_read_back_in_any_spelling() {
        let code = new_user_code();
        assert_eq!(code.len(), 9);
        assert!(
            code.chars()
                .filter(|c| *c != '-')
                .all(|c| USER_CODE_ALPHABET.contains(&(c as u8)))
        );
        assert_eq!(
            normalise_user_code(&code.to_lowercase().replace('-', " ")),
            Some(code)
        );
        assert_eq!(normalise_user_code("bcdf-ghj"), None);
    }
}
