//! What a browser does that the sign-in tests need: it keeps cookies (by name, for one host),
//! sends `Origin` with its POSTs, and lets the test follow redirects one at a time. The pages
//! themselves are driven by headless Chromium in the web UI's tests.

use std::collections::BTreeMap;

pub struct Browser {
    http: reqwest::Client,
    origin: String,
    pub cookies: BTreeMap<String, String>,
}

/// A response as the test sees it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Browser {
    /// A browser on the site at `origin` (`http://127.0.0.1:port`).
    pub fn new(origin: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("jeny-testkit browser")
                .build()
                .expect("an HTTP client"),
            origin: origin.trim_end_matches('/').to_owned(),
            cookies: BTreeMap::new(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.origin)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn take(&mut self, request: reqwest::RequestBuilder, to_site: bool) -> Page {
        let request = if to_site && !self.cookies.is_empty() {
            request.header("cookie", self.cookie_header())
        } else {
            request
        };
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect();
        if to_site {
            for cookie in &set_cookies {
                let pair = cookie.split(';').next().unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    let expired = cookie.contains("Max-Age=0");
                    if expired || value.is_empty() {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            location,
            set_cookies,
            body,
        }
    }

    /// GET a path on the site (or any URL; cookies go only to the site).
    pub async fn get(&mut self, path_or_url: &str) -> Page {
        let url = self.url(path_or_url);
        let to_site = url.starts_with(&self.origin);
        self.take(self.http.get(url), to_site).await
    }

    /// POST a form from one of the site's own pages (with its `Origin`).
    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(self.url(path))
            .header("origin", self.origin.clone())
            .form(form);
        self.take(request, true).await
    }

    /// A request built by the test, sent with the site's cookies.
    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        self.take(request, true).await
    }

    /// The underlying client, to build requests for `send`.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}
