//! jeny as the sign-in for a team's other tools: a real nginx (`tests/peers/nginx/setup`)
//! guards a small local app with `auth_request`, asking jeny's `/auth/verify` about each request,
//! and passes the person's email on to the app.

use jeny_testkit::{Backend, TestApp};
use reqwest::StatusCode;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny app that answers every request with the `X-Jeny-Email` header nginx passed to it.
async fn start_app() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let email = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("x-jeny-email")
                            .then(|| value.trim().to_owned())
                    })
                    .unwrap_or_default();
                let body = format!("hello {email}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    address
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx, in the foreground, with its own configuration and folders; killed when dropped.
struct Nginx {
    child: tokio::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(jeny: &str, app: std::net::SocketAddr) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let config = format!(
            r#"
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
user root;
events {{}}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /_jeny {{
            internal;
            proxy_pass {jeny}/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
        location = /_jeny_deployer {{
            internal;
            proxy_pass {jeny}/auth/verify?role=deployer;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
        location /release-tool/ {{
            auth_request /_jeny_deployer;
            auth_request_set $jeny_email $upstream_http_x_jeny_email;
            proxy_set_header X-Jeny-Email $jeny_email;
            proxy_pass http://{app};
        }}
        location /browser-tool/ {{
            auth_request /_jeny;
            auth_request_set $jeny_email $upstream_http_x_jeny_email;
            proxy_set_header X-Jeny-Email $jeny_email;
            error_page 401 = @signin;
            proxy_pass http://{app};
        }}
        location @signin {{
            return 302 {jeny}/auth/login?next=$scheme://$http_host$request_uri;
        }}
        location / {{
            auth_request /_jeny;
            auth_request_set $jeny_email $upstream_http_x_jeny_email;
            proxy_set_header X-Jeny-Email $jeny_email;
            proxy_pass http://{app};
        }}
    }}
}}
"#
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = tokio::process::Command::new(nginx)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx (tests/peers/nginx/setup installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Nginx {
            child,
            url,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_lets_in_only_what_jeny_allows_and_passes_the_email_on() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tool = start_app().await;
    let nginx = Nginx::start(&app.url, tool).await;
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut request = http.get(format!("{}{path}", nginx.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    // No token, or a bad one: nginx answers 401 and the app is never reached.
    assert_eq!(
        get("/dashboard", None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(
            "/dashboard",
            Some("jeny_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        )
        .await
        .unwrap()
        .status(),
        StatusCode::UNAUTHORIZED
    );

    // A valid token: through, and the app learns who it is.
    let viewer = app
        .token_for("viewer@example.com", jeny_core::Role::Viewer)
        .await;
    let response = get("/dashboard", Some(&viewer)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "hello viewer@example.com");

    // A tool that needs deployers: a viewer is refused, a deployer let in.
    assert_eq!(
        get("/release-tool/", Some(&viewer)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let deployer = app
        .token_for("deployer@example.com", jeny_core::Role::Deployer)
        .await;
    let response = get("/release-tool/", Some(&deployer)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "hello deployer@example.com");

    // A revoked token stops opening the tool.
    let own = app.anonymous().with_token(Some(deployer.clone()));
    let me: serde_json::Value = own
        .request(reqwest::Method::GET, "/api/v1/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = me["token"]["id"].as_str().unwrap();
    let revoked = own
        .request(reqwest::Method::DELETE, &format!("/api/v1/me/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        get("/release-tool/", Some(&deployer))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // A browser signed in to jeny (its session cookie reaches the tool's host) goes through;
    // one that is not is sent to sign in, and back to the tool afterwards.
    let browser = app.admin_browser().await;
    let cookie = format!("jeny_session={}", browser.cookies["jeny_session"]);
    let response = http
        .get(format!("{}/browser-tool/report", nginx.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "hello admin@localhost");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(format!("{}/browser-tool/report", nginx.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!(
            "{}/auth/login?next={}/browser-tool/report",
            app.url, nginx.url
        )
    );
    // Traefik's way: jeny answers the redirect itself, built from the X-Forwarded headers.
    let response = no_redirects
        .get(format!("{}/auth/verify?login=redirect", app.url))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "grafana.example.com")
        .header("x-forwarded-uri", "/d/abc?from=now-1h")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!(
            "{}/auth/login?next=https%3A%2F%2Fgrafana.example.com%2Fd%2Fabc%3Ffrom%3Dnow-1h",
            app.url
        )
    );
}
