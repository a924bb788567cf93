//! InfluxDB 1.x for the metrics tests: the Debian package's `influxd` (1.6.7), installed by
//! `tests/peers/influxdb/setup`, started with its own configuration in a temporary folder (data,
//! WAL and meta there, HTTP and RPC on free loopback ports, no reporting, errors-only logs). The
//! line-protocol differential test writes the same bodies to it and to jeny's parser; the InfluxDB
//! sink writes to it, and `stop`/`restart` (a kill -9, then the same folder and ports) take it
//! away from under the sink mid-stream.

use std::path::{Path, PathBuf};

const INFLUXD: &str = "/usr/bin/influxd";

pub struct Influx {
    /// The HTTP API's base URL (`/ping`, `/write`, `/query`).
    pub url: String,
    /// `None` while stopped.
    process: Option<tokio::process::Child>,
    config_path: PathBuf,
    log_path: PathBuf,
    _folder: tempfile::TempDir,
}

impl Influx {
    /// Starts `influxd` and returns once `GET /ping` answers 204.
    pub async fn start() -> Influx {
        assert!(
            Path::new(INFLUXD).exists(),
            "a peer of the tests is missing: run tests/peers/influxdb/setup ({INFLUXD} not found)"
        );
        let folder = tempfile::tempdir().expect("a temporary folder for influxd");
        let http_port = crate::free_port();
        let rpc_port = loop {
            let port = crate::free_port();
            if port != http_port {
                break port;
            }
        };
        let root = folder.path().display();
        let config = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  trace-logging-enabled = false

[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[logging]
  level = "error"
  suppress-logo = true

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[retention]
  enabled = false

[shard-precreation]
  enabled = false
"#
        );
        let config_path = folder.path().join("influxdb.conf");
        std::fs::write(&config_path, config).expect("influxd's configuration is written");
        let log_path = folder.path().join("influxd.log");
        let url = format!("http://127.0.0.1:{http_port}");
        let process = run(&config_path, &log_path, &url).await;
        Influx {
            url,
            process: Some(process),
            config_path,
            log_path,
            _folder: folder,
        }
    }

    /// Kills `influxd` (SIGKILL, as a crash) and waits for it to exit; its data stays, and its
    /// port refuses connections until `restart`.
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await.expect("influxd is killed");
        }
    }

    /// Starts `influxd` again (killing it first if it runs) on the same folder, data and ports;
    /// returns once `GET /ping` answers 204.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.process = Some(run(&self.config_path, &self.log_path, &self.url).await);
    }
}

/// Starts `influxd` with `config_path`, its output appended to `log_path`, and waits until it
/// answers `GET <url>/ping` with 204.
async fn run(config_path: &Path, log_path: &Path, url: &str) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .expect("influxd's log file");
    let process = tokio::process::Command::new(INFLUXD)
        .arg("-config")
        .arg(config_path)
        .stdout(log.try_clone().expect("influxd's log file"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start influxd");
    let http = reqwest::Client::new();
    let process = std::sync::Mutex::new(process);
    crate::poll_until(&format!("influxd answers GET {url}/ping"), || {
        let (http, process) = (&http, &process);
        async move {
            let exited = process
                .lock()
                .expect("the process lock")
                .try_wait()
                .expect("influxd's status");
            if let Some(status) = exited {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                panic!("influxd exited ({status}) before answering:\n{log}");
            }
            let answer = http.get(format!("{url}/ping")).send().await.ok()?;
            (answer.status() == reqwest::StatusCode::NO_CONTENT).then_some(())
        }
    })
    .await;
    process.into_inner().expect("the process lock")
}
