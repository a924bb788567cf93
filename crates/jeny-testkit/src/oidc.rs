//! A real OpenID Connect provider for sign-in tests: the PyPI package `oidc-provider-mock`,
//! installed by `tests/peers/oidc/setup`, started on a free port. It accepts any client id and
//! secret; a test sets a person's claims with `set_user` (extra claims such as `aud` or `exp`
//! go into the ID token as given, which is how a wrong-audience or expired token is made) and
//! plays the person approving the sign-in with `approve`.

pub struct OidcProvider {
    pub issuer: String,
    http: reqwest::Client,
    _process: tokio::process::Child,
}

impl OidcProvider {
    pub async fn start() -> OidcProvider {
        let program = crate::peer_program(
            "oidc-provider-mock-0.3.4/bin/oidc-provider-mock",
            "tests/peers/oidc/setup",
        );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        // A free port can be taken by another test between the lookup and the provider's bind
        // (a jeny server answers the discovery path too, with its web app): the provider is
        // ready only when its own discovery document names its issuer, and it is started again
        // on another port when it exits.
        for _ in 0..5 {
            let port = crate::free_port();
            let process = tokio::process::Command::new(&program)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .env("PYTHONWARNINGS", "ignore")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("cannot start oidc-provider-mock");
            let issuer = format!("http://127.0.0.1:{port}");
            let pid = process.id().expect("the provider has a pid");
            let ready = crate::poll_until(&format!("oidc-provider-mock on {issuer}"), || {
                let (http, issuer) = (&http, &issuer);
                async move {
                    if !alive(pid) {
                        return Some(false);
                    }
                    let response = http
                        .get(format!("{issuer}/.well-known/openid-configuration"))
                        .send()
                        .await
                        .ok()?;
                    let document = response.json::<serde_json::Value>().await.ok()?;
                    (document["issuer"] == issuer.as_str()).then_some(true)
                }
            })
            .await;
            if ready {
                return OidcProvider {
                    issuer,
                    http,
                    _process: process,
                };
            }
        }
        panic!("oidc-provider-mock exited five times at start (ports taken?)");
    }

    /// Sets the claims the provider gives for subject `sub`.
    pub async fn set_user(&self, sub: &str, claims: serde_json::Value) {
        let response = self
            .http
            .put(format!("{}/users/{sub}", self.issuer))
            .json(&claims)
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(
            response.status().as_u16(),
            204,
            "the provider took the claims"
        );
    }

    /// Plays the person at the provider's sign-in form: approves the authorization request at
    /// `authorization_url` as `sub`. Returns where the provider sends the browser back.
    pub async fn approve(&self, authorization_url: &str, sub: &str) -> String {
        let response = self
            .http
            .post(authorization_url)
            .form(&[("sub", sub), ("action", "authorize")])
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(
            response.status().as_u16(),
            302,
            "the provider approves: {}",
            response.text().await.unwrap_or_default()
        );
        response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .expect("a redirect back")
            .to_owned()
    }
}

/// Whether process `pid` runs (a zombie has exited; only its parent has not reaped it).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(") ")
            .next()
            .is_some_and(|rest| rest.starts_with('Z'))
    })
}
