//! InfluxDB 1.x for the metrics tests: the Debian package's `influxd` (1.6.7), installed by
//! `tests/peers/influxdb/setup`, started with its own configuration in a temporary folder (data,
//! WAL and meta there, HTTP and RPC on free loopback ports, no reporting, errors-only logs). The
//! line-protocol differential test writes the same bodies to it and to jeny's parser; the InfluxDB
//! sink will write to it.

use std::path::Path;

const INFLUXD: &str = "/usr/bin/influxd";

pub struct Influx {
    /// The HTTP API's base URL (`/ping`, `/write`, `/query`).
    pub url: String,
    _process: tokio::process::Child,
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
        let log = std::fs::File::create(&log_path).expect("influxd's log file");
        let process = tokio::process::Command::new(INFLUXD)
            .arg("-config")
            .arg(&config_path)
            .stdout(log.try_clone().expect("influxd's log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start influxd");
        let url = format!("http://127.0.0.1:{http_port}");
        let http = reqwest::Client::new();
        let process = std::sync::Mutex::new(process);
        crate::poll_until(&format!("influxd answers GET {url}/ping"), || {
            let (http, url, process, log_path) = (&http, &url, &process, &log_path);
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
        Influx {
            url,
            _process: process.into_inner().expect("the process lock"),
            _folder: folder,
        }
    }
}
