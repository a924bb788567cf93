//! The web app: the files Vite built into `web/dist/` (embedded in the binary by `build.rs` and
//! `rust-embed`, or read from a folder while developing), served precompressed (`.br`, `.gz`
//! siblings written by the app's build), with `index.html` for every app route so that each page
//! is deep-linkable.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::borrow::Cow;
use std::path::PathBuf;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
struct Embedded;

/// Where the app's files come from.
#[derive(Debug, Clone, Default)]
pub struct WebApp {
    /// A folder to read them from on each request (development: `JENY_WEB_DIR`), instead of the
    /// copy embedded at build time.
    dir: Option<PathBuf>,
}

/// Content security policy of the app's page: only jeny's own scripts, styles, and API.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct File {
    data: Cow<'static, [u8]>,
    etag: String,
}

impl WebApp {
    /// The app embedded in this binary.
    pub fn embedded() -> WebApp {
        WebApp { dir: None }
    }

    /// The app read from `dir` (a `web/dist` folder) on each request.
    pub fn from_dir(dir: PathBuf) -> WebApp {
        WebApp { dir: Some(dir) }
    }

    /// Answers a GET of `path`: the file there, `index.html` for an app route, or 404 for a
    /// missing asset (an old page asking for a chunk a new version no longer has must fail
    /// clearly, not receive HTML).
    pub fn respond(&self, path: &str, request_headers: &HeaderMap) -> Response {
        let relative = path.trim_start_matches('/');
        let is_file_path = !relative.is_empty() && relative != "index.html";
        if is_file_path
            && !relative
                .split('/')
                .any(|part| part == ".." || part.is_empty())
        {
            if let Some(response) = self.file_response(relative, request_headers) {
                return response;
            }
            if relative.starts_with("assets/") {
                return plain(StatusCode::NOT_FOUND, "no such asset\n");
            }
        }
        self.file_response("index.html", request_headers)
            .unwrap_or_else(|| plain(StatusCode::NOT_FOUND, "the web app is missing\n"))
    }

    fn file_response(&self, relative: &str, request_headers: &HeaderMap) -> Option<Response> {
        let accepted = request_headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let (file, encoding) = [("br", ".br"), ("gzip", ".gz")]
            .into_iter()
            .filter(|(name, _)| accepts(accepted, name))
            .find_map(|(name, suffix)| {
                self.load(&format!("{relative}{suffix}"))
                    .map(|file| (file, Some(name)))
            })
            .or_else(|| self.load(relative).map(|file| (file, None)))?;
        let is_index = relative == "index.html";
        let cache_control = if relative.starts_with("assets/") {
            // Vite names assets by their content's hash.
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let mut response = if if_none_match(request_headers, &file.etag) {
            status_only(StatusCode::NOT_MODIFIED)
        } else {
            Response::new(Body::from(file.data))
        };
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(relative)),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Ok(etag) = HeaderValue::from_str(&file.etag) {
            headers.insert(header::ETAG, etag);
        }
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        if is_index {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
        }
        Some(response)
    }

    fn load(&self, relative: &str) -> Option<File> {
        match &self.dir {
            None => Embedded::get(relative).map(|file| File {
                etag: format!("\"{}\"", hex(&file.metadata.sha256_hash()[..12])),
                data: file.data,
            }),
            Some(dir) => {
                let path = dir.join(relative);
                let metadata = std::fs::metadata(&path)
                    .ok()
                    .filter(|meta| meta.is_file())?;
                let data = std::fs::read(&path).ok()?;
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |age| age.as_nanos());
                Some(File {
                    etag: format!("\"{:x}-{modified:x}\"", data.len()),
                    data: Cow::Owned(data),
                })
            }
        }
    }
}

/// Whether an Accept-Encoding value admits `encoding` (a `q=0` refuses it).
fn accepts(accept_encoding: &str, encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let refused = parts.any(|param| {
            param
                .strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case(encoding) && !refused
    })
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag))
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn status_only(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("gzip;q=0.5", "gzip"));
        assert!(!accepts("gzip;q=0", "gzip"));
        assert!(!accepts("identity", "gzip"));
        assert!(!accepts("", "br"));
    }
}
