//! What the auth part is configured with (the server fills it from its layered configuration).

use std::time::Duration;

/// Google's issuer: the OpenID Connect provider used when only a client id is configured.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// The email that the one-time console link signs in as when `admin_email` is not set.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The URL people reach jeny at, without a trailing slash: links, redirects, cookies'
    /// `Secure` flag (set when it is https) and the Origin that browser writes must come from.
    pub public_url: String,
    /// OpenID Connect sign-in; `None` leaves only API tokens and one-time console links.
    pub oidc: Option<OidcConfig>,
    /// Emails (`alice@example.com`) and domains (`@example.com`) that may sign in, besides the
    /// ones admins add through the API.
    pub allowlist: Vec<String>,
    /// Becomes admin at sign-in, is always allowed, and is who a console link signs in as.
    pub admin_email: Option<String>,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however used.
    pub session_max_age: Duration,
    /// Sign-in attempts (starting a sign-in, callbacks, console links, device codes and their
    /// approval) one client address may make per minute.
    pub signin_attempts_per_minute: u32,
    /// Hosts, besides jeny's own, that a sign-in may return to (`next=`), for the tools behind
    /// forward authentication: `tools.example.com`, or `.example.com` for every subdomain.
    pub redirect_domains: Vec<String>,
    /// The session cookie's `Domain`, so that tools on sibling hosts behind forward
    /// authentication receive it (`example.com`) [default: jeny's host only].
    pub cookie_domain: Option<String>,
    /// Seconds between polls that `jeny login` is told to keep (RFC 8628 `interval`).
    pub device_poll_interval: Duration,
    /// Reverse proxies in front of jeny whose `X-Forwarded-For` is believed: the client's
    /// address (for the sign-in rate limit and session records) is then the nearest untrusted
    /// address in it.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where the provider sends people back [default: <public_url>/auth/callback].
    pub redirect_url: Option<String>,
    /// Google Workspace domain whose accounts alone may sign in (the `hd` claim).
    pub hosted_domain: Option<String>,
}

impl AuthConfig {
    /// Defaults for a server at `public_url`: no OIDC, an empty allowlist.
    pub fn new(public_url: impl Into<String>) -> AuthConfig {
        AuthConfig {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            oidc: None,
            allowlist: Vec::new(),
            admin_email: None,
            session_idle: Duration::from_secs(24 * 3600),
            session_max_age: Duration::from_secs(30 * 24 * 3600),
            signin_attempts_per_minute: 30,
            redirect_domains: Vec::new(),
            cookie_domain: None,
            device_poll_interval: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
        }
    }

    pub(crate) fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub(crate) fn admin_email(&self) -> String {
        self.admin_email
            .clone()
            .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned())
    }

    pub(crate) fn redirect_url(&self) -> Option<String> {
        let oidc = self.oidc.as_ref()?;
        Some(
            oidc.redirect_url
                .clone()
                .unwrap_or_else(|| format!("{}/auth/callback", self.public_url)),
        )
    }
}
