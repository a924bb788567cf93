//! Configuration, layered: built-in defaults, then the TOML file (`--config` / `JENY_CONFIG`),
//! then `JENY_*` environment variables, then command-line flags; each layer overrides the one
//! before. Unknown `JENY_*` variables are reported at start, since a typo there would otherwise
//! be silently ignored. A secret setting (`database_url`, `oidc_client_secret`) can instead be
//! read from a file by its `_file` form (`JENY_DATABASE_URL_FILE=/run/secrets/db`), as
//! containers mount secrets; one layer may not set both forms.

use anyhow::Context;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The flags of `jeny server` (each also readable from its `JENY_*` variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// TOML file with any of the settings below (flags and variables override it).
    #[arg(long, env = "JENY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "JENY_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Folder for the SQLite database, the secret key and other state [default: ./jeny-data].
    #[arg(long, env = "JENY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://...` to use PostgreSQL, or `sqlite://PATH` [default: SQLite at <data-dir>/jeny.db].
    #[arg(
        long,
        env = "JENY_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// File holding the database URL (instead of --database-url).
    #[arg(long, env = "JENY_DATABASE_URL_FILE", value_name = "FILE")]
    pub database_url_file: Option<PathBuf>,
    /// File holding the key that seals secret variables [default: <data-dir>/secret.key].
    #[arg(long, env = "JENY_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// The URL people use to reach jeny, for links it prints and sends [default: http://<listen>].
    #[arg(long, env = "JENY_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes [default: 1048576].
    #[arg(long, env = "JENY_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Seconds a client has to send a request's headers, from its connection's start or its
    /// first byte after an idle wait; then the connection is closed [default: 10].
    #[arg(long, env = "JENY_HEADER_READ_TIMEOUT_SECS", value_name = "SECONDS")]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's whole body once its headers are in; a slower
    /// body gets 408 and the connection is closed [default: 30].
    #[arg(long, env = "JENY_BODY_READ_TIMEOUT_SECS", value_name = "SECONDS")]
    pub body_read_timeout_secs: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request before it is closed
    /// [default: 60].
    #[arg(long, env = "JENY_IDLE_TIMEOUT_SECS", value_name = "SECONDS")]
    pub idle_timeout_secs: Option<u64>,
    /// Repository schemes projects may use, comma-separated, among https, http, ssh (also
    /// user@host:path), git and file (local paths) [default: https,ssh,git,file].
    #[arg(
        long,
        env = "JENY_REPOSITORY_SCHEMES",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub repository_schemes: Option<Vec<String>>,
    /// Database connections (PostgreSQL pool size; SQLite readers) [default: 8].
    #[arg(long, env = "JENY_DATABASE_MAX_CONNECTIONS", value_name = "N")]
    pub database_max_connections: Option<u32>,
    /// Log filter, such as `info` or `warn,jeny_server=debug` [default: info].
    #[arg(long, env = "JENY_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Deploys this node runs at once, across environments [default: 4].
    #[arg(long, env = "JENY_DEPLOY_RUNNERS", value_name = "N")]
    pub deploy_runners: Option<usize>,
    /// The shell that runs deploy commands, with `-c` [default: sh].
    #[arg(long, env = "JENY_DEPLOY_SHELL", value_name = "PROGRAM")]
    pub deploy_shell: Option<String>,
    /// Output kept per deploy, in bytes; past it the head and tail halves are kept [default: 52428800].
    #[arg(long, env = "JENY_DEPLOY_OUTPUT_CAP_BYTES", value_name = "BYTES")]
    pub deploy_output_cap_bytes: Option<u64>,
    /// Seconds a deploy's supervisor may go without renewing its lease before the deploy is
    /// marked interrupted [default: 15].
    #[arg(long, env = "JENY_DEPLOY_LEASE_SECS", value_name = "SECONDS")]
    pub deploy_lease_secs: Option<u64>,
    /// Series a project may have in the embedded metrics store; a point that would add one more
    /// is refused, naming the tag with the most values [default: 100000].
    #[arg(
        long,
        env = "JENY_METRICS_MAX_SERIES_PER_PROJECT",
        value_name = "SERIES"
    )]
    pub metrics_max_series_per_project: Option<u64>,
    /// Days a project's raw metric points are kept (0: forever); a write of older points is
    /// refused as InfluxDB refuses it [default: 30].
    #[arg(long, env = "JENY_METRICS_RETENTION_RAW_DAYS", value_name = "DAYS")]
    pub metrics_retention_raw_days: Option<u32>,
    /// Days a project's 5-minute rollups (count, sum, min, max, first, last) are kept (0:
    /// forever) [default: 365].
    #[arg(long, env = "JENY_METRICS_RETENTION_5M_DAYS", value_name = "DAYS")]
    pub metrics_retention_5m_days: Option<u32>,
    /// Days a project's 1-hour rollups are kept (0: forever) [default: 0].
    #[arg(long, env = "JENY_METRICS_RETENTION_1H_DAYS", value_name = "DAYS")]
    pub metrics_retention_1h_days: Option<u32>,
    /// InfluxDB (or a server speaking its write and query APIs) that metrics go to instead of the
    /// embedded store, such as http://influxdb:8086 [default: none: the embedded store].
    #[arg(long, env = "JENY_METRICS_INFLUXDB_URL", value_name = "URL")]
    pub metrics_influxdb_url: Option<String>,
    /// The InfluxDB write API: 1 (`/write`) or 2 (`/api/v2/write`) [default: 1].
    #[arg(long, env = "JENY_METRICS_INFLUXDB_VERSION", value_name = "1|2")]
    pub metrics_influxdb_version: Option<u8>,
    /// InfluxDB 2.x: the organisation written to.
    #[arg(long, env = "JENY_METRICS_INFLUXDB_ORG", value_name = "ORG")]
    pub metrics_influxdb_org: Option<String>,
    /// InfluxDB 1.x: the retention policy written to [default: the database's default].
    #[arg(
        long,
        env = "JENY_METRICS_INFLUXDB_RETENTION_POLICY",
        value_name = "RP"
    )]
    pub metrics_influxdb_retention_policy: Option<String>,
    /// InfluxDB 1.x: the retention policy jeny keeps each project's 5-minute rollups in, created
    /// and sized by it [default: jeny_5m].
    #[arg(
        long,
        env = "JENY_METRICS_INFLUXDB_ROLLUP_5M_POLICY",
        value_name = "RP"
    )]
    pub metrics_influxdb_rollup_5m_policy: Option<String>,
    /// InfluxDB 1.x: the retention policy of the 1-hour rollups [default: jeny_1h].
    #[arg(
        long,
        env = "JENY_METRICS_INFLUXDB_ROLLUP_1H_POLICY",
        value_name = "RP"
    )]
    pub metrics_influxdb_rollup_1h_policy: Option<String>,
    /// InfluxDB 1.x: the user name (sent with the password as Basic).
    #[arg(long, env = "JENY_METRICS_INFLUXDB_USERNAME", value_name = "USER")]
    pub metrics_influxdb_username: Option<String>,
    /// InfluxDB 1.x: the password.
    #[arg(long, env = "JENY_METRICS_INFLUXDB_PASSWORD", value_name = "PASSWORD")]
    pub metrics_influxdb_password: Option<String>,
    /// InfluxDB 2.x (or 1.8): the API token, sent as `Authorization: Token <t>`.
    #[arg(long, env = "JENY_METRICS_INFLUXDB_TOKEN", value_name = "TOKEN")]
    pub metrics_influxdb_token: Option<String>,
    /// The user deploys run as when jeny runs as root; `root` runs them as root [default: jeny's
    /// own user, which must not be root].
    #[arg(long, env = "JENY_DEPLOY_USER", value_name = "USER")]
    pub deploy_user: Option<String>,
    /// Folders deploys may write besides their own folder, their user's home and a private
    /// /tmp, comma-separated.
    #[arg(
        long,
        env = "JENY_DEPLOY_WRITABLE_PATHS",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub deploy_writable_paths: Option<Vec<PathBuf>>,
    /// This node's name on the deploys it runs [default: the host name].
    #[arg(long, env = "JENY_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// OpenID Connect issuer people sign in with [default: https://accounts.google.com when a
    /// client id is set].
    #[arg(
        long,
        env = "JENY_OIDC_ISSUER",
        value_name = "URL",
        help_heading = "Sign-in"
    )]
    pub oidc_issuer: Option<String>,
    /// OAuth client id registered with the issuer; setting it turns on sign-in with it.
    #[arg(
        long,
        env = "JENY_OIDC_CLIENT_ID",
        value_name = "ID",
        help_heading = "Sign-in"
    )]
    pub oidc_client_id: Option<String>,
    /// The client's secret.
    #[arg(
        long,
        env = "JENY_OIDC_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        help_heading = "Sign-in"
    )]
    pub oidc_client_secret: Option<String>,
    /// File holding the client's secret (instead of --oidc-client-secret).
    #[arg(
        long,
        env = "JENY_OIDC_CLIENT_SECRET_FILE",
        value_name = "FILE",
        help_heading = "Sign-in"
    )]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Where the issuer sends people back [default: <public-url>/auth/callback].
    #[arg(
        long,
        env = "JENY_OIDC_REDIRECT_URL",
        value_name = "URL",
        help_heading = "Sign-in"
    )]
    pub oidc_redirect_url: Option<String>,
    /// Google Workspace domain whose accounts alone may sign in (Google's `hd` claim).
    #[arg(
        long,
        env = "JENY_OIDC_HOSTED_DOMAIN",
        value_name = "DOMAIN",
        help_heading = "Sign-in"
    )]
    pub oidc_hosted_domain: Option<String>,
    /// Who may sign in: emails and @domains, comma-separated (admins add more in the API).
    #[arg(
        long,
        env = "JENY_ALLOWLIST",
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "Sign-in"
    )]
    pub allowlist: Option<Vec<String>>,
    /// Becomes admin when signing in, and is whom the console's one-time link signs in
    /// [default: admin@localhost; without it the first person to sign in becomes admin].
    #[arg(
        long,
        env = "JENY_ADMIN_EMAIL",
        value_name = "EMAIL",
        help_heading = "Sign-in"
    )]
    pub admin_email: Option<String>,
    /// Seconds a browser session may go unused before it ends [default: 86400].
    #[arg(
        long,
        env = "JENY_SESSION_IDLE_SECS",
        value_name = "SECONDS",
        help_heading = "Sign-in"
    )]
    pub session_idle_secs: Option<u64>,
    /// Seconds a browser session lasts at most [default: 2592000, 30 days].
    #[arg(
        long,
        env = "JENY_SESSION_MAX_AGE_SECS",
        value_name = "SECONDS",
        help_heading = "Sign-in"
    )]
    pub session_max_age_secs: Option<u64>,
    /// Sign-in attempts one address may make per minute [default: 30].
    #[arg(
        long,
        env = "JENY_SIGNIN_ATTEMPTS_PER_MINUTE",
        value_name = "N",
        help_heading = "Sign-in"
    )]
    pub signin_attempts_per_minute: Option<u32>,
    /// Hosts besides jeny's own that sign-in may return to (tools behind forward auth),
    /// comma-separated; `.example.com` means every subdomain.
    #[arg(
        long,
        env = "JENY_AUTH_REDIRECT_DOMAINS",
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "Sign-in"
    )]
    pub auth_redirect_domains: Option<Vec<String>>,
    /// The session cookie's Domain, for tools on sibling hosts behind forward auth
    /// [default: jeny's host only].
    #[arg(
        long,
        env = "JENY_COOKIE_DOMAIN",
        value_name = "DOMAIN",
        help_heading = "Sign-in"
    )]
    pub cookie_domain: Option<String>,
    /// Addresses of reverse proxies in front of jeny whose X-Forwarded-For is believed for the
    /// client's address (sign-in rate limit, session records), comma-separated.
    #[arg(
        long,
        env = "JENY_TRUSTED_PROXIES",
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "Sign-in"
    )]
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Seconds `jeny login` waits between polls while the person approves [default: 5].
    #[arg(
        long,
        env = "JENY_DEVICE_POLL_INTERVAL_SECS",
        value_name = "SECONDS",
        help_heading = "Sign-in"
    )]
    pub device_poll_interval_secs: Option<u64>,
    /// Serve the web app from this folder (a `web/dist` build) instead of the copy embedded in
    /// the binary: for developing the app without rebuilding jeny.
    #[arg(long, env = "JENY_WEB_DIR", value_name = "DIR")]
    pub web_dir: Option<PathBuf>,
    /// Print a commented sample configuration file with the values in effect, and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// The settings a TOML configuration file may hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    secret_key_file: Option<PathBuf>,
    public_url: Option<String>,
    max_body_bytes: Option<usize>,
    header_read_timeout_secs: Option<u64>,
    body_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    repository_schemes: Option<Vec<String>>,
    database_max_connections: Option<u32>,
    log: Option<String>,
    deploy_runners: Option<usize>,
    deploy_shell: Option<String>,
    deploy_output_cap_bytes: Option<u64>,
    deploy_lease_secs: Option<u64>,
    metrics_max_series_per_project: Option<u64>,
    metrics_retention_raw_days: Option<u32>,
    metrics_retention_5m_days: Option<u32>,
    metrics_retention_1h_days: Option<u32>,
    metrics_influxdb_url: Option<String>,
    metrics_influxdb_version: Option<u8>,
    metrics_influxdb_org: Option<String>,
    metrics_influxdb_retention_policy: Option<String>,
    metrics_influxdb_rollup_5m_policy: Option<String>,
    metrics_influxdb_rollup_1h_policy: Option<String>,
    metrics_influxdb_username: Option<String>,
    metrics_influxdb_password: Option<String>,
    metrics_influxdb_token: Option<String>,
    deploy_user: Option<String>,
    deploy_writable_paths: Option<Vec<PathBuf>>,
    node_name: Option<String>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_client_secret: Option<String>,
    oidc_client_secret_file: Option<PathBuf>,
    oidc_redirect_url: Option<String>,
    oidc_hosted_domain: Option<String>,
    allowlist: Option<Vec<String>>,
    admin_email: Option<String>,
    session_idle_secs: Option<u64>,
    session_max_age_secs: Option<u64>,
    signin_attempts_per_minute: Option<u32>,
    auth_redirect_domains: Option<Vec<String>>,
    cookie_domain: Option<String>,
    device_poll_interval_secs: Option<u64>,
    trusted_proxies: Option<Vec<std::net::IpAddr>>,
}

/// The settings in effect.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The database URL, read from `database_url_file` when that was the setting given.
    pub database_url: Option<String>,
    /// The file `database_url` was read from, if it came from one (for `--print-config`).
    pub database_url_file: Option<PathBuf>,
    pub secret_key_file: Option<PathBuf>,
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    /// How long a client has to send a request's headers (`limits.rs`).
    pub header_read_timeout_secs: u64,
    /// How long a client has to send a request's body once its headers are in.
    pub body_read_timeout_secs: u64,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout_secs: u64,
    /// The git transports a project's repository may use.
    pub repository_schemes: jeny_projects::RepositorySchemes,
    pub database_max_connections: u32,
    pub log: String,
    pub deploy_runners: usize,
    pub deploy_shell: String,
    pub deploy_output_cap_bytes: u64,
    pub deploy_lease_secs: u64,
    /// Series a project may have in the embedded metrics store.
    pub metrics_max_series_per_project: u64,
    /// Days each resolution of a project's metrics is kept (0: forever) unless the project
    /// says otherwise.
    pub metrics_retention_raw_days: u32,
    pub metrics_retention_5m_days: u32,
    pub metrics_retention_1h_days: u32,
    /// The InfluxDB sink: when `metrics_influxdb_url` is set, metrics go there (docs/metrics.md).
    pub metrics_influxdb_url: Option<String>,
    pub metrics_influxdb_version: Option<u8>,
    pub metrics_influxdb_org: Option<String>,
    pub metrics_influxdb_retention_policy: Option<String>,
    pub metrics_influxdb_rollup_5m_policy: Option<String>,
    pub metrics_influxdb_rollup_1h_policy: Option<String>,
    pub metrics_influxdb_username: Option<String>,
    pub metrics_influxdb_password: Option<String>,
    pub metrics_influxdb_token: Option<String>,
    /// Whom deploys run as (`None`: jeny's own user; see `jeny_deploys::sandbox::deploy_user`).
    pub deploy_user: Option<String>,
    pub deploy_writable_paths: Vec<PathBuf>,
    /// The configuration file read, if any: deploys do not see it.
    pub config_file: Option<PathBuf>,
    pub node_name: String,
    /// The program started as `PROGRAM supervise` for each deploy: this executable unless set
    /// (tests, whose executable is not jeny, set it).
    pub supervisor_program: Option<PathBuf>,
    /// Serve the web app from this folder instead of the embedded copy (development).
    pub web_dir: Option<PathBuf>,
    pub sign_in: SignInConfig,
}

/// The sign-in settings (see `jeny server --help`, "Sign-in").
#[derive(Debug, Clone)]
pub struct SignInConfig {
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    /// The client's secret, read from `oidc_client_secret_file` when that was the setting given.
    pub oidc_client_secret: Option<String>,
    /// The file `oidc_client_secret` was read from, if it came from one (for `--print-config`).
    pub oidc_client_secret_file: Option<PathBuf>,
    pub oidc_redirect_url: Option<String>,
    pub oidc_hosted_domain: Option<String>,
    pub allowlist: Vec<String>,
    pub admin_email: Option<String>,
    pub session_idle_secs: u64,
    pub session_max_age_secs: u64,
    pub signin_attempts_per_minute: u32,
    pub auth_redirect_domains: Vec<String>,
    pub cookie_domain: Option<String>,
    pub device_poll_interval_secs: u64,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for SignInConfig {
    fn default() -> SignInConfig {
        SignInConfig {
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_client_secret_file: None,
            oidc_redirect_url: None,
            oidc_hosted_domain: None,
            allowlist: Vec::new(),
            admin_email: None,
            session_idle_secs: 24 * 3600,
            session_max_age_secs: 30 * 24 * 3600,
            signin_attempts_per_minute: 30,
            auth_redirect_domains: Vec::new(),
            cookie_domain: None,
            device_poll_interval_secs: 5,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The `JENY_*` variables jeny reads; any other is reported.
pub const KNOWN_VARIABLES: &[&str] = &[
    "JENY_CONFIG",
    "JENY_LISTEN",
    "JENY_DATA_DIR",
    "JENY_DATABASE_URL",
    "JENY_DATABASE_URL_FILE",
    "JENY_SECRET_KEY_FILE",
    "JENY_PUBLIC_URL",
    "JENY_MAX_BODY_BYTES",
    "JENY_HEADER_READ_TIMEOUT_SECS",
    "JENY_BODY_READ_TIMEOUT_SECS",
    "JENY_IDLE_TIMEOUT_SECS",
    "JENY_REPOSITORY_SCHEMES",
    "JENY_DATABASE_MAX_CONNECTIONS",
    "JENY_LOG",
    "JENY_DEPLOY_RUNNERS",
    "JENY_DEPLOY_SHELL",
    "JENY_DEPLOY_OUTPUT_CAP_BYTES",
    "JENY_DEPLOY_LEASE_SECS",
    "JENY_DEPLOY_USER",
    "JENY_DEPLOY_WRITABLE_PATHS",
    "JENY_NODE_NAME",
    // A test seam: shifts this node's wall clock (jeny_core::time::CLOCK_OFFSET_VARIABLE).
    "JENY_CLOCK_OFFSET_MS",
    "JENY_OIDC_ISSUER",
    "JENY_OIDC_CLIENT_ID",
    "JENY_OIDC_CLIENT_SECRET",
    "JENY_OIDC_CLIENT_SECRET_FILE",
    "JENY_OIDC_REDIRECT_URL",
    "JENY_OIDC_HOSTED_DOMAIN",
    "JENY_ALLOWLIST",
    "JENY_ADMIN_EMAIL",
    "JENY_SESSION_IDLE_SECS",
    "JENY_SESSION_MAX_AGE_SECS",
    "JENY_SIGNIN_ATTEMPTS_PER_MINUTE",
    "JENY_AUTH_REDIRECT_DOMAINS",
    "JENY_COOKIE_DOMAIN",
    "JENY_DEVICE_POLL_INTERVAL_SECS",
    "JENY_TRUSTED_PROXIES",
    "JENY_WEB_DIR",
    // read when building jeny, not by the server
    "JENY_SKIP_WEB_BUILD",
    "JENY_TEST_DATABASE_URL",
    // read by the client commands (`jeny deploy`, `jeny inventory`, ...), not by the server
    "JENY_SERVER",
    "JENY_TOKEN",
    "JENY_PROJECT",
    "JENY_ENVIRONMENT",
];

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./jeny-data"),
            database_url: None,
            database_url_file: None,
            secret_key_file: None,
            public_url: None,
            max_body_bytes: 1024 * 1024,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            idle_timeout_secs: 60,
            repository_schemes: jeny_projects::RepositorySchemes::default(),
            database_max_connections: 8,
            log: "info".to_owned(),
            deploy_runners: 4,
            deploy_shell: "sh".to_owned(),
            deploy_output_cap_bytes: 50 * 1024 * 1024,
            deploy_lease_secs: 15,
            metrics_max_series_per_project: 100_000,
            metrics_retention_raw_days: 30,
            metrics_retention_5m_days: 365,
            metrics_retention_1h_days: 0,
            metrics_influxdb_url: None,
            metrics_influxdb_version: None,
            metrics_influxdb_org: None,
            metrics_influxdb_retention_policy: None,
            metrics_influxdb_rollup_5m_policy: None,
            metrics_influxdb_rollup_1h_policy: None,
            metrics_influxdb_username: None,
            metrics_influxdb_password: None,
            metrics_influxdb_token: None,
            deploy_user: None,
            deploy_writable_paths: Vec::new(),
            config_file: None,
            node_name: host_name(),
            supervisor_program: None,
            web_dir: None,
            sign_in: SignInConfig::default(),
        }
    }
}

impl Config {
    /// Resolves the layers: defaults < file < environment < flags.
    pub fn resolve(args: &ServerArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| {
                    format!("{} is not a valid jeny configuration", path.display())
                })?
            }
            None => FileConfig::default(),
        };
        // Without a file this layer is empty, so its name is never shown.
        let file_layer = Layer::File(
            args.config
                .as_deref()
                .unwrap_or(Path::new("the configuration file")),
        );
        let database_url = SecretSetting::DATABASE_URL.resolve(
            (
                Layer::Arguments,
                args.database_url.clone(),
                args.database_url_file.clone(),
            ),
            (
                file_layer,
                file.database_url.clone(),
                file.database_url_file.clone(),
            ),
        )?;
        let oidc_client_secret = SecretSetting::OIDC_CLIENT_SECRET.resolve(
            (
                Layer::Arguments,
                args.oidc_client_secret.clone(),
                args.oidc_client_secret_file.clone(),
            ),
            (
                file_layer,
                file.oidc_client_secret.clone(),
                file.oidc_client_secret_file.clone(),
            ),
        )?;
        let defaults = Config::default();
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or(defaults.data_dir),
            database_url: database_url.value,
            database_url_file: database_url.file,
            secret_key_file: args.secret_key_file.clone().or(file.secret_key_file),
            public_url: args.public_url.clone().or(file.public_url),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            header_read_timeout_secs: args
                .header_read_timeout_secs
                .or(file.header_read_timeout_secs)
                .unwrap_or(defaults.header_read_timeout_secs)
                .max(1),
            body_read_timeout_secs: args
                .body_read_timeout_secs
                .or(file.body_read_timeout_secs)
                .unwrap_or(defaults.body_read_timeout_secs)
                .max(1),
            idle_timeout_secs: args
                .idle_timeout_secs
                .or(file.idle_timeout_secs)
                .unwrap_or(defaults.idle_timeout_secs)
                .max(1),
            repository_schemes: match args.repository_schemes.clone().or(file.repository_schemes) {
                Some(schemes) => {
                    jeny_projects::RepositorySchemes::parse(&schemes).map_err(anyhow::Error::msg)?
                }
                None => defaults.repository_schemes.clone(),
            },
            database_max_connections: args
                .database_max_connections
                .or(file.database_max_connections)
                .unwrap_or(defaults.database_max_connections),
            log: args.log.clone().or(file.log).unwrap_or(defaults.log),
            deploy_runners: args
                .deploy_runners
                .or(file.deploy_runners)
                .unwrap_or(defaults.deploy_runners)
                .max(1),
            deploy_shell: args
                .deploy_shell
                .clone()
                .or(file.deploy_shell)
                .unwrap_or(defaults.deploy_shell),
            deploy_output_cap_bytes: args
                .deploy_output_cap_bytes
                .or(file.deploy_output_cap_bytes)
                .unwrap_or(defaults.deploy_output_cap_bytes),
            deploy_lease_secs: args
                .deploy_lease_secs
                .or(file.deploy_lease_secs)
                .unwrap_or(defaults.deploy_lease_secs)
                .max(1),
            metrics_max_series_per_project: args
                .metrics_max_series_per_project
                .or(file.metrics_max_series_per_project)
                .unwrap_or(defaults.metrics_max_series_per_project),
            metrics_retention_raw_days: args
                .metrics_retention_raw_days
                .or(file.metrics_retention_raw_days)
                .unwrap_or(defaults.metrics_retention_raw_days),
            metrics_retention_5m_days: args
                .metrics_retention_5m_days
                .or(file.metrics_retention_5m_days)
                .unwrap_or(defaults.metrics_retention_5m_days),
            metrics_retention_1h_days: args
                .metrics_retention_1h_days
                .or(file.metrics_retention_1h_days)
                .unwrap_or(defaults.metrics_retention_1h_days),
            metrics_influxdb_url: args
                .metrics_influxdb_url
                .clone()
                .or(file.metrics_influxdb_url.clone()),
            metrics_influxdb_version: args
                .metrics_influxdb_version
                .or(file.metrics_influxdb_version),
            metrics_influxdb_org: args
                .metrics_influxdb_org
                .clone()
                .or(file.metrics_influxdb_org.clone()),
            metrics_influxdb_retention_policy: args
                .metrics_influxdb_retention_policy
                .clone()
                .or(file.metrics_influxdb_retention_policy.clone()),
            metrics_influxdb_rollup_5m_policy: args
                .metrics_influxdb_rollup_5m_policy
                .clone()
                .or(file.metrics_influxdb_rollup_5m_policy.clone()),
            metrics_influxdb_rollup_1h_policy: args
                .metrics_influxdb_rollup_1h_policy
                .clone()
                .or(file.metrics_influxdb_rollup_1h_policy.clone()),
            metrics_influxdb_username: args
                .metrics_influxdb_username
                .clone()
                .or(file.metrics_influxdb_username.clone()),
            metrics_influxdb_password: args
                .metrics_influxdb_password
                .clone()
                .or(file.metrics_influxdb_password.clone()),
            metrics_influxdb_token: args
                .metrics_influxdb_token
                .clone()
                .or(file.metrics_influxdb_token.clone()),
            deploy_user: args.deploy_user.clone().or(file.deploy_user),
            deploy_writable_paths: args
                .deploy_writable_paths
                .clone()
                .or(file.deploy_writable_paths)
                .unwrap_or_default(),
            config_file: args.config.clone(),
            node_name: args
                .node_name
                .clone()
                .or(file.node_name)
                .unwrap_or(defaults.node_name),
            supervisor_program: None,
            web_dir: args.web_dir.clone(),
            sign_in: SignInConfig {
                oidc_issuer: args.oidc_issuer.clone().or(file.oidc_issuer),
                oidc_client_id: args.oidc_client_id.clone().or(file.oidc_client_id),
                oidc_client_secret: oidc_client_secret.value,
                oidc_client_secret_file: oidc_client_secret.file,
                oidc_redirect_url: args.oidc_redirect_url.clone().or(file.oidc_redirect_url),
                oidc_hosted_domain: args.oidc_hosted_domain.clone().or(file.oidc_hosted_domain),
                allowlist: args
                    .allowlist
                    .clone()
                    .or(file.allowlist)
                    .unwrap_or_default(),
                admin_email: args.admin_email.clone().or(file.admin_email),
                session_idle_secs: args
                    .session_idle_secs
                    .or(file.session_idle_secs)
                    .unwrap_or(defaults.sign_in.session_idle_secs)
                    .max(60),
                session_max_age_secs: args
                    .session_max_age_secs
                    .or(file.session_max_age_secs)
                    .unwrap_or(defaults.sign_in.session_max_age_secs)
                    .max(60),
                signin_attempts_per_minute: args
                    .signin_attempts_per_minute
                    .or(file.signin_attempts_per_minute)
                    .unwrap_or(defaults.sign_in.signin_attempts_per_minute)
                    .max(1),
                auth_redirect_domains: args
                    .auth_redirect_domains
                    .clone()
                    .or(file.auth_redirect_domains)
                    .unwrap_or_default(),
                cookie_domain: args.cookie_domain.clone().or(file.cookie_domain),
                device_poll_interval_secs: args
                    .device_poll_interval_secs
                    .or(file.device_poll_interval_secs)
                    .unwrap_or(defaults.sign_in.device_poll_interval_secs)
                    .max(1),
                trusted_proxies: args
                    .trusted_proxies
                    .clone()
                    .or(file.trusted_proxies)
                    .unwrap_or_default(),
            },
        })
    }

    /// The auth part's configuration for a server reached at `public_url`, or why the sign-in
    /// settings do not make sense together.
    pub fn auth_config(&self, public_url: &str) -> anyhow::Result<jeny_auth::AuthConfig> {
        let sign_in = &self.sign_in;
        let mut auth = jeny_auth::AuthConfig::new(public_url);
        let mut allowlist = Vec::new();
        for entry in sign_in
            .allowlist
            .iter()
            .filter(|entry| !entry.trim().is_empty())
        {
            allowlist.push(
                jeny_auth::parse_allowlist_entry(entry)
                    .map_err(|error| anyhow::anyhow!("allowlist: {error}"))?,
            );
        }
        auth.allowlist = allowlist;
        if let Some(email) = &sign_in.admin_email {
            auth.admin_email = Some(
                jeny_auth::Email::parse(email)
                    .map_err(|error| anyhow::anyhow!("admin_email: {error}"))?
                    .as_str()
                    .to_owned(),
            );
        }
        auth.session_idle = std::time::Duration::from_secs(sign_in.session_idle_secs);
        auth.session_max_age = std::time::Duration::from_secs(sign_in.session_max_age_secs);
        auth.signin_attempts_per_minute = sign_in.signin_attempts_per_minute;
        auth.redirect_domains = sign_in
            .auth_redirect_domains
            .iter()
            .map(|domain| domain.trim().to_owned())
            .filter(|domain| !domain.is_empty())
            .collect();
        auth.cookie_domain = sign_in.cookie_domain.clone();
        auth.device_poll_interval =
            std::time::Duration::from_secs(sign_in.device_poll_interval_secs);
        auth.trusted_proxies = sign_in.trusted_proxies.clone();
        auth.oidc = match &sign_in.oidc_client_id {
            None => {
                let secret_from_file = sign_in.oidc_client_secret_file.is_some();
                let orphans: Vec<&str> = [
                    ("oidc_issuer", sign_in.oidc_issuer.is_some()),
                    (
                        "oidc_client_secret",
                        sign_in.oidc_client_secret.is_some() && !secret_from_file,
                    ),
                    ("oidc_client_secret_file", secret_from_file),
                    ("oidc_redirect_url", sign_in.oidc_redirect_url.is_some()),
                    ("oidc_hosted_domain", sign_in.oidc_hosted_domain.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, set)| set.then_some(name))
                .collect();
                if !orphans.is_empty() {
                    anyhow::bail!(
                        "{} set without oidc_client_id: set the client id too (or remove them)",
                        orphans.join(", ")
                    );
                }
                None
            }
            Some(client_id) => {
                // `resolve` has read the secret file, if that was how the secret was given.
                let Some(client_secret) = sign_in.oidc_client_secret.clone() else {
                    anyhow::bail!(
                        "oidc_client_id is set but not its secret (oidc_client_secret or oidc_client_secret_file)"
                    )
                };
                Some(jeny_auth::OidcConfig {
                    issuer: sign_in
                        .oidc_issuer
                        .clone()
                        .unwrap_or_else(|| jeny_auth::GOOGLE_ISSUER.to_owned()),
                    client_id: client_id.clone(),
                    client_secret,
                    redirect_url: sign_in.oidc_redirect_url.clone(),
                    hosted_domain: sign_in.oidc_hosted_domain.clone(),
                })
            }
        };
        Ok(auth)
    }

    /// The program deploy supervisors are started with.
    pub fn supervisor_program(&self) -> anyhow::Result<PathBuf> {
        match &self.supervisor_program {
            Some(program) => Ok(program.clone()),
            None => std::env::current_exe().context("cannot find the jeny executable"),
        }
    }

    /// The sandbox deploys run in: as the deploy user, with jeny's data folder, key,
    /// configuration and secret files hidden. Fails when the settings ask for what cannot be
    /// (root without being named, a user that does not exist).
    pub fn deploy_sandbox(&self) -> anyhow::Result<jeny_deploys::Sandbox> {
        let user = jeny_deploys::sandbox::deploy_user(self.deploy_user.as_deref())?;
        let absolute = |path: &Path| {
            std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
        };
        let hidden = [
            Some(self.data_dir.clone()),
            Some(self.secret_key_file()),
            self.config_file.clone(),
            self.database_url_file.clone(),
            self.sign_in.oidc_client_secret_file.clone(),
        ]
        .into_iter()
        .flatten()
        .map(|path| absolute(&path))
        .collect::<anyhow::Result<Vec<_>>>()?;
        let writable = self
            .deploy_writable_paths
            .iter()
            .filter(|path| !path.as_os_str().is_empty())
            .map(|path| absolute(path))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Said at start rather than by every deploy's bubblewrap ("can't find source path").
        if let Some(missing) = writable.iter().find(|path| !path.is_dir()) {
            anyhow::bail!(
                "deploy_writable_paths: {} is not a folder of this machine",
                missing.display()
            );
        }
        Ok(jeny_deploys::Sandbox::new(user, hidden, writable))
    }

    /// The database URL, defaulting to the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("jeny.db").display()),
        }
    }

    /// The database URL without its password.
    pub fn database_url_for_display(&self) -> String {
        let url = self.database_url();
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let credentials = &url[scheme_end + 3..at];
                match credentials.split_once(':') {
                    Some((user, _)) => {
                        format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                    }
                    None => url,
                }
            }
            _ => url,
        }
    }

    pub fn secret_key_file(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    /// The URL to print and link to.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }

    /// Creates the data directory (mode 0700) if needed.
    pub fn prepare_data_dir(&self) -> anyhow::Result<()> {
        create_private_dir(&self.data_dir)
    }

    /// The `JENY_*` variables in the environment that jeny does not know.
    pub fn unknown_variables() -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| name.starts_with("JENY_") && !KNOWN_VARIABLES.contains(&name.as_str()))
            .collect()
    }

    /// How long projects keep their metrics unless they say otherwise.
    pub fn metrics_retention(&self) -> jeny_metrics::store::Retention {
        let days = |d: u32| (d > 0).then_some(d);
        jeny_metrics::store::Retention {
            raw_days: days(self.metrics_retention_raw_days),
            rollup_5m_days: days(self.metrics_retention_5m_days),
            rollup_1h_days: days(self.metrics_retention_1h_days),
        }
    }

    /// The InfluxDB sink's settings, for `metrics_influxdb_url` = `url`.
    pub fn influx_sink_config(
        &self,
        url: &str,
    ) -> anyhow::Result<jeny_metrics::sink_influx::InfluxSinkConfig> {
        use jeny_metrics::sink_influx::{InfluxAuth, InfluxSinkConfig, InfluxVersion};
        let version = match self.metrics_influxdb_version.unwrap_or(1) {
            1 => InfluxVersion::V1,
            2 => InfluxVersion::V2,
            other => anyhow::bail!("metrics_influxdb_version is 1 or 2, not {other}"),
        };
        let mut influx = InfluxSinkConfig::new(url, version, self.data_dir.join("metrics-spool"));
        influx.org = self.metrics_influxdb_org.clone();
        influx.retention_policy = self.metrics_influxdb_retention_policy.clone();
        if let Some(policies) = &mut influx.rollup_policies {
            if let Some(name) = &self.metrics_influxdb_rollup_5m_policy {
                policies.five_minutes = name.clone();
            }
            if let Some(name) = &self.metrics_influxdb_rollup_1h_policy {
                policies.hour = name.clone();
            }
        }
        influx.auth = match (
            &self.metrics_influxdb_token,
            &self.metrics_influxdb_username,
        ) {
            (Some(token), _) => InfluxAuth::Token(jeny_core::Secret::new(token.clone())),
            (None, Some(username)) => InfluxAuth::UserPassword {
                username: username.clone(),
                password: jeny_core::Secret::new(
                    self.metrics_influxdb_password.clone().unwrap_or_default(),
                ),
            },
            (None, None) => InfluxAuth::None,
        };
        if version == InfluxVersion::V2 && influx.org.is_none() {
            anyhow::bail!("metrics_influxdb_version = 2 needs metrics_influxdb_org");
        }
        Ok(influx)
    }

    /// A commented TOML file with these values, for `--print-config`.
    pub fn sample_file(&self) -> String {
        // A setting in effect is printed as a line; one left to its default, commented out with
        // an example.
        let line = |key: &str, value: Option<String>, example: &str| match value {
            Some(value) => format!("{key} = {value:?}"),
            None => format!("# {key} = {example:?}"),
        };
        let database_url = match &self.database_url {
            Some(_) if self.database_url_file.is_some() => line(
                "database_url_file",
                self.database_url_file
                    .as_ref()
                    .map(|path| path.display().to_string()),
                "",
            ),
            Some(_) if self.database_url_for_display() != self.database_url() => format!(
                "# The password is not printed: put it back here, or pass JENY_DATABASE_URL.\n{}",
                line("database_url", Some(self.database_url_for_display()), "")
            ),
            Some(url) => line("database_url", Some(url.clone()), ""),
            None => line("database_url", None, "postgres://jeny@localhost/jeny"),
        };
        let secret_key_file = line(
            "secret_key_file",
            self.secret_key_file
                .as_ref()
                .map(|path| path.display().to_string()),
            &self.secret_key_file().display().to_string(),
        );
        let public_url = line(
            "public_url",
            self.public_url.clone(),
            "https://jeny.example.com",
        );
        format!(
            "# jeny server configuration. Pass it with --config FILE or JENY_CONFIG=FILE.\n\
             # Environment variables (JENY_LISTEN, ...) and flags override what is here.\n\n\
             # Address and port to listen on.\nlisten = \"{listen}\"\n\n\
             # Folder for the SQLite database, the secret key and other state.\ndata_dir = {data_dir:?}\n\n\
             # postgres://user@host/db for PostgreSQL (several nodes may share it); unset: SQLite in data_dir.\n\
             # database_url_file instead names a file holding it (JENY_DATABASE_URL_FILE, as containers mount secrets).\n\
             {database_url}\n\n\
             # The key that seals secret variables; every node of a cluster needs the same file.\n\
             {secret_key_file}\n\n\
             # The URL people use to reach jeny (links in notifications).\n{public_url}\n\n\
             # Largest request body accepted, in bytes; a larger declared Content-Length gets 413 at once.\nmax_body_bytes = {max_body_bytes}\n\n\
             # Seconds a client has to send a request's headers (from its connection's start, or its first byte after a wait).\n\
             header_read_timeout_secs = {header_read_timeout_secs}\n\n\
             # Seconds a client has to send a request's body once its headers are in (slower: 408, connection closed).\n\
             body_read_timeout_secs = {body_read_timeout_secs}\n\n\
             # Seconds a kept-alive connection may wait for its next request. Live streams are not cut by any of these.\n\
             idle_timeout_secs = {idle_timeout_secs}\n\n\
             # Git transports a project's repository may use: https, http, ssh (also user@host:path), git,\n\
             # file (local paths). ext:: and fd:: are never allowed.\nrepository_schemes = {repository_schemes}\n\n\
             # Database connections: PostgreSQL pool size, or SQLite reader connections.\n\
             database_max_connections = {database_max_connections}\n\n\
             # Log filter: a level (info, debug, warn) and per-module overrides (warn,jeny_server=debug).\nlog = {log:?}\n\n\
             # Deploys this node runs at once, across environments.\ndeploy_runners = {deploy_runners}\n\n\
             # The shell that runs deploy commands with -c.\ndeploy_shell = {deploy_shell:?}\n\n\
             # Output kept per deploy, in bytes (past it: the first and last halves).\ndeploy_output_cap_bytes = {deploy_output_cap_bytes}\n\n\
             # Seconds a deploy's supervisor may go silent before its deploy is marked interrupted.\ndeploy_lease_secs = {deploy_lease_secs}\n\n\
             # Whom deploys run as when jeny runs as root (\"root\" to run them as root).\n{deploy_user}\n\n\
             # Folders deploys may write besides their own, their home and a private /tmp.\n\
             deploy_writable_paths = {deploy_writable_paths}\n\n\
             # This node's name on the deploys it runs (each node of a cluster needs its own).\nnode_name = {node_name:?}\n\n\
             # Series a project may have in the embedded metrics store (past it, new series are refused).\n\
             metrics_max_series_per_project = {metrics_max_series_per_project}\n\n\
             # Days each resolution of a project's metrics is kept, unless the project sets its own\n\
             # (0: forever): raw points, 5-minute and 1-hour rollups.\n\
             metrics_retention_raw_days = {metrics_retention_raw_days}\n\
             metrics_retention_5m_days = {metrics_retention_5m_days}\n\
             metrics_retention_1h_days = {metrics_retention_1h_days}\n\n\
             # Metrics to an InfluxDB instead of the embedded store (version 1 or 2; 1.x: username and\n\
             # password, or 2.x: org and token). Points are spooled in data_dir/metrics-spool meanwhile.\n\
             {influx_url}\n{influx_version}\n{influx_org}\n{influx_rp}\n{influx_user}\n\
             # InfluxDB 1.x: the retention policies jeny keeps each project's rollups in (it creates them).\n\
             {influx_rollup_5m}\n{influx_rollup_1h}\n\
             # The password and token are not printed: set them here or in JENY_METRICS_INFLUXDB_PASSWORD / _TOKEN.\n\
             # metrics_influxdb_password = \"...\"\n# metrics_influxdb_token = \"...\"\n\n\
             {sign_in}",
            listen = self.listen,
            data_dir = self.data_dir.display().to_string(),
            max_body_bytes = self.max_body_bytes,
            header_read_timeout_secs = self.header_read_timeout_secs,
            body_read_timeout_secs = self.body_read_timeout_secs,
            idle_timeout_secs = self.idle_timeout_secs,
            repository_schemes = toml_list(self.repository_schemes.as_slice().iter()),
            database_max_connections = self.database_max_connections,
            log = self.log,
            deploy_runners = self.deploy_runners,
            deploy_shell = self.deploy_shell,
            deploy_output_cap_bytes = self.deploy_output_cap_bytes,
            deploy_lease_secs = self.deploy_lease_secs,
            deploy_user = line("deploy_user", self.deploy_user.clone(), "deploy"),
            deploy_writable_paths = toml_list(
                self.deploy_writable_paths
                    .iter()
                    .map(|path| path.display().to_string())
            ),
            node_name = self.node_name,
            metrics_max_series_per_project = self.metrics_max_series_per_project,
            metrics_retention_raw_days = self.metrics_retention_raw_days,
            metrics_retention_5m_days = self.metrics_retention_5m_days,
            metrics_retention_1h_days = self.metrics_retention_1h_days,
            influx_url = line(
                "metrics_influxdb_url",
                self.metrics_influxdb_url.clone(),
                "http://influxdb:8086"
            ),
            influx_version = match self.metrics_influxdb_version {
                Some(v) => format!("metrics_influxdb_version = {v}"),
                None => "# metrics_influxdb_version = 1".to_owned(),
            },
            influx_org = line(
                "metrics_influxdb_org",
                self.metrics_influxdb_org.clone(),
                "my-org"
            ),
            influx_rp = line(
                "metrics_influxdb_retention_policy",
                self.metrics_influxdb_retention_policy.clone(),
                "autogen"
            ),
            influx_rollup_5m = line(
                "metrics_influxdb_rollup_5m_policy",
                self.metrics_influxdb_rollup_5m_policy.clone(),
                "jeny_5m"
            ),
            influx_rollup_1h = line(
                "metrics_influxdb_rollup_1h_policy",
                self.metrics_influxdb_rollup_1h_policy.clone(),
                "jeny_1h"
            ),
            influx_user = line(
                "metrics_influxdb_username",
                self.metrics_influxdb_username.clone(),
                "jeny"
            ),
            sign_in = self.sign_in_sample(&line),
        )
    }

    fn sign_in_sample(&self, line: &dyn Fn(&str, Option<String>, &str) -> String) -> String {
        let sign_in = &self.sign_in;
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
            format!("[{}]", quoted.join(", "))
        };
        format!(
            "# Sign-in. Without an OpenID Connect client, people sign in only with the one-time link\n\
             # the server prints at start (or `jeny admin sign-in-link`): production needs OIDC.\n\
             # The issuer (Google unless set), the client registered there, and its secret.\n\
             {issuer}\n{client_id}\n\
             # The secret is not printed: set it here, or in JENY_OIDC_CLIENT_SECRET, or in a file.\n\
             # oidc_client_secret = \"...\"\n{secret_file}\n\
             # Where the issuer sends people back (register it there) [default: <public_url>/auth/callback].\n{redirect}\n\
             # Only accounts of this Google Workspace domain (the hd claim).\n{hosted}\n\
             # Who may sign in: emails and whole @domains (admins add more in the API).\nallowlist = {allowlist}\n\
             # Admin at sign-in, and whom the console link signs in.\n{admin}\n\
             # Browser sessions: seconds unused before they end, and seconds at most.\n\
             session_idle_secs = {idle}\nsession_max_age_secs = {max_age}\n\
             # Sign-in attempts per minute from one address.\nsignin_attempts_per_minute = {attempts}\n\
             # Hosts sign-in may return to besides jeny's (tools behind forward auth; .example.com: all subdomains).\n\
             auth_redirect_domains = {redirect_domains}\n\
             # The session cookie's Domain, for those tools on sibling hosts.\n{cookie_domain}\n\
             # Seconds `jeny login` waits between polls.\ndevice_poll_interval_secs = {interval}\n\
             # Reverse proxies whose X-Forwarded-For is believed for the client's address (rate limit, sessions).\n\
             trusted_proxies = {trusted_proxies}\n",
            issuer = line(
                "oidc_issuer",
                sign_in.oidc_issuer.clone(),
                jeny_auth::GOOGLE_ISSUER
            ),
            client_id = line(
                "oidc_client_id",
                sign_in.oidc_client_id.clone(),
                "1234.apps.googleusercontent.com"
            ),
            secret_file = line(
                "oidc_client_secret_file",
                sign_in
                    .oidc_client_secret_file
                    .as_ref()
                    .map(|path| path.display().to_string()),
                "/etc/jeny/oidc-secret",
            ),
            redirect = line(
                "oidc_redirect_url",
                sign_in.oidc_redirect_url.clone(),
                "https://jeny.example.com/auth/callback"
            ),
            hosted = line(
                "oidc_hosted_domain",
                sign_in.oidc_hosted_domain.clone(),
                "example.com"
            ),
            allowlist = list(&sign_in.allowlist),
            admin = line(
                "admin_email",
                sign_in.admin_email.clone(),
                "you@example.com"
            ),
            idle = sign_in.session_idle_secs,
            max_age = sign_in.session_max_age_secs,
            attempts = sign_in.signin_attempts_per_minute,
            redirect_domains = list(&sign_in.auth_redirect_domains),
            cookie_domain = line(
                "cookie_domain",
                sign_in.cookie_domain.clone(),
                "example.com"
            ),
            interval = sign_in.device_poll_interval_secs,
            trusted_proxies = list(
                &sign_in
                    .trusted_proxies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            ),
        )
    }
}

/// A setting holding a secret, which may instead be read from a file by its `_file` form: the
/// TOML key `NAME_file`, the variable `JENY_NAME_FILE` and the flag `--name-file`.
struct SecretSetting {
    /// The TOML key, such as `database_url`.
    name: &'static str,
}

/// Where a setting was given: flags and variables are one layer (clap merges them), the TOML
/// file the one beneath.
#[derive(Clone, Copy)]
enum Layer<'a> {
    Arguments,
    File(&'a Path),
}

/// A secret setting's value in effect, and the file it was read from, if it was.
#[derive(Default)]
struct SecretValue {
    value: Option<String>,
    file: Option<PathBuf>,
}

impl SecretSetting {
    const DATABASE_URL: SecretSetting = SecretSetting {
        name: "database_url",
    };
    const OIDC_CLIENT_SECRET: SecretSetting = SecretSetting {
        name: "oidc_client_secret",
    };

    /// The value from the higher layer that gives one (flags and variables over the file). A
    /// file is read only when its layer is the one in effect.
    fn resolve(
        &self,
        arguments: (Layer<'_>, Option<String>, Option<PathBuf>),
        file: (Layer<'_>, Option<String>, Option<PathBuf>),
    ) -> anyhow::Result<SecretValue> {
        for (layer, value, path) in [arguments, file] {
            match (value, path) {
                (Some(_), Some(_)) => anyhow::bail!("{}", self.both_set(layer)),
                (Some(value), None) => {
                    return Ok(SecretValue {
                        value: Some(value),
                        file: None,
                    });
                }
                (None, Some(path)) => {
                    return Ok(SecretValue {
                        value: Some(self.read(&path)?),
                        file: Some(path),
                    });
                }
                (None, None) => {}
            }
        }
        Ok(SecretValue::default())
    }

    fn both_set(&self, layer: Layer<'_>) -> String {
        let name = self.name;
        match layer {
            Layer::Arguments => {
                let variable = format!("JENY_{}", name.to_uppercase());
                let flag = format!("--{}", name.replace('_', "-"));
                format!(
                    "{variable} (or {flag}) and {variable}_FILE (or {flag}-file) are both set: set one"
                )
            }
            Layer::File(path) => format!(
                "{name} and {name}_file are both set in {}: set one",
                path.display()
            ),
        }
    }

    /// The file's content without its trailing line break: the secret, as a container mounts it.
    fn read(&self, path: &Path) -> anyhow::Result<String> {
        let name = self.name;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {name}_file {}", path.display()))?;
        let value = text.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            anyhow::bail!("{name}_file {} is empty", path.display());
        }
        Ok(value.to_owned())
    }
}

/// The machine's host name, or `jeny` when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "jeny".to_owned())
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .with_context(|| format!("cannot create the data directory {}", path.display()))
}

/// A TOML list of strings: `["a", "b"]`.
fn toml_list<T: std::fmt::Debug>(items: impl Iterator<Item = T>) -> String {
    let quoted: Vec<String> = items.map(|item| format!("{item:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile_dir();
        let file = dir.join("jeny.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nlog = \"debug\"\nmax_body_bytes = 10\n",
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(file),
            log: Some("warn".into()),
            ..ServerArgs::default()
        };
        let config = Config::resolve(&args).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.log, "warn");
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(config.database_max_connections, 8);
    }

    #[test]
    fn unknown_file_settings_are_refused() {
        let dir = tempfile_dir();
        let file = dir.join("jeny.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let error = Config::resolve(&ServerArgs {
            config: Some(file),
            ..ServerArgs::default()
        })
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("unknown field `lisen`"),
            "{error:#}"
        );
    }

    #[test]
    fn sign_in_settings_are_checked_together() {
        let with = |change: &dyn Fn(&mut SignInConfig)| {
            let mut config = Config::default();
            change(&mut config.sign_in);
            config.auth_config("https://jeny.example.com/")
        };
        let auth = with(&|_| {}).unwrap();
        assert!(auth.oidc.is_none());
        assert_eq!(auth.public_url, "https://jeny.example.com");
        let error =
            with(&|sign_in| sign_in.oidc_hosted_domain = Some("example.com".into())).unwrap_err();
        assert!(format!("{error}").contains("oidc_hosted_domain set without oidc_client_id"));
        let error = with(&|sign_in| sign_in.oidc_client_id = Some("id".into())).unwrap_err();
        assert!(format!("{error}").contains("not its secret"), "{error}");
        let auth = with(&|sign_in| {
            sign_in.oidc_client_id = Some("id".into());
            sign_in.oidc_client_secret = Some("secret".into());
            sign_in.allowlist = vec![" Alice@Example.com".into(), "@Example.org".into()];
            sign_in.auth_redirect_domains = vec![" .example.com ".into(), "".into()];
        })
        .unwrap();
        let oidc = auth.oidc.unwrap();
        assert_eq!(oidc.issuer, jeny_auth::GOOGLE_ISSUER);
        assert_eq!(auth.allowlist, ["alice@example.com", "@example.org"]);
        assert_eq!(auth.redirect_domains, [".example.com"]);
        let error = with(&|sign_in| sign_in.allowlist = vec!["example.com".into()]).unwrap_err();
        assert!(format!("{error}").contains("allowlist"), "{error}");
    }

    #[test]
    fn the_sample_file_parses_back_with_the_values_in_effect() {
        let config = Config::default();
        let parsed: FileConfig = toml::from_str(&config.sample_file()).unwrap();
        assert_eq!(parsed.listen, Some(config.listen));
        assert_eq!(parsed.database_url, None);
        let config = Config {
            database_url: Some("postgres://jeny@db/jeny".into()),
            public_url: Some("https://jeny.example.org".into()),
            ..Config::default()
        };
        let parsed: FileConfig = toml::from_str(&config.sample_file()).unwrap();
        assert_eq!(
            parsed.database_url.as_deref(),
            Some("postgres://jeny@db/jeny")
        );
        assert_eq!(
            parsed.public_url.as_deref(),
            Some("https://jeny.example.org")
        );
    }

    #[test]
    fn passwords_are_hidden_when_shown() {
        let config = Config {
            database_url: Some("postgres://jeny:hunter2@db/jeny".into()),
            ..Config::default()
        };
        assert_eq!(
            config.database_url_for_display(),
            "postgres://jeny:***@db/jeny"
        );
    }

    #[test]
    fn a_secret_file_setting_reads_the_file_without_its_trailing_newline() {
        let dir = tempfile_dir();
        let url_file = dir.join("database-url");
        std::fs::write(&url_file, "postgres://jeny:hunter2@db/jeny\n").unwrap();
        let secret_file = dir.join("oidc-secret");
        std::fs::write(&secret_file, "s3cret\r\n").unwrap();
        let config = Config::resolve(&ServerArgs {
            database_url_file: Some(url_file.clone()),
            oidc_client_id: Some("id".into()),
            oidc_client_secret_file: Some(secret_file.clone()),
            ..ServerArgs::default()
        })
        .unwrap();
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://jeny:hunter2@db/jeny")
        );
        assert_eq!(
            config.database_url_file.as_deref(),
            Some(url_file.as_path())
        );
        let auth = config.auth_config("https://jeny.example.com").unwrap();
        assert_eq!(auth.oidc.unwrap().client_secret, "s3cret");
        // The sample names the file, never the secret it holds.
        let sample = config.sample_file();
        assert!(!sample.contains("hunter2"), "{sample}");
        assert!(!sample.contains("s3cret"), "{sample}");
        let parsed: FileConfig = toml::from_str(&sample).unwrap();
        assert_eq!(parsed.database_url_file, Some(url_file));
        assert_eq!(parsed.oidc_client_secret_file, Some(secret_file));
    }

    #[test]
    fn a_secret_and_its_file_set_together_are_refused() {
        let dir = tempfile_dir();
        let url_file = dir.join("database-url");
        std::fs::write(&url_file, "postgres://jeny@db/jeny\n").unwrap();
        let error = Config::resolve(&ServerArgs {
            database_url: Some("postgres://jeny@other/jeny".into()),
            database_url_file: Some(url_file.clone()),
            ..ServerArgs::default()
        })
        .unwrap_err();
        assert!(
            format!("{error:#}").contains(
                "JENY_DATABASE_URL (or --database-url) and JENY_DATABASE_URL_FILE (or --database-url-file) are both set"
            ),
            "{error:#}"
        );
        let toml_file = dir.join("jeny.toml");
        std::fs::write(
            &toml_file,
            "oidc_client_secret = \"s3cret\"\noidc_client_secret_file = \"/run/secrets/oidc\"\n",
        )
        .unwrap();
        let error = Config::resolve(&ServerArgs {
            config: Some(toml_file),
            ..ServerArgs::default()
        })
        .unwrap_err();
        assert!(
            format!("{error:#}")
                .contains("oidc_client_secret and oidc_client_secret_file are both set in"),
            "{error:#}"
        );
    }

    #[test]
    fn a_secret_file_in_a_higher_layer_overrides_the_value_beneath() {
        let dir = tempfile_dir();
        let url_file = dir.join("database-url");
        std::fs::write(&url_file, "postgres://jeny@from-file/jeny\n").unwrap();
        let toml_file = dir.join("jeny.toml");
        std::fs::write(
            &toml_file,
            "database_url = \"postgres://jeny@from-toml/jeny\"\n",
        )
        .unwrap();
        let config = Config::resolve(&ServerArgs {
            config: Some(toml_file),
            database_url_file: Some(url_file),
            ..ServerArgs::default()
        })
        .unwrap();
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://jeny@from-file/jeny")
        );
    }

    #[test]
    fn a_missing_or_empty_secret_file_is_refused_with_its_path() {
        let dir = tempfile_dir();
        let missing = dir.join("no-such-secret");
        let error = Config::resolve(&ServerArgs {
            database_url_file: Some(missing.clone()),
            ..ServerArgs::default()
        })
        .unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains(&format!(
                "cannot read database_url_file {}",
                missing.display()
            )),
            "{message}"
        );
        let empty = dir.join("empty-secret");
        std::fs::write(&empty, "\n").unwrap();
        let error = Config::resolve(&ServerArgs {
            oidc_client_secret_file: Some(empty.clone()),
            ..ServerArgs::default()
        })
        .unwrap_err();
        assert!(
            format!("{error:#}").contains(&format!(
                "oidc_client_secret_file {} is empty",
                empty.display()
            )),
            "{error:#}"
        );
    }

    #[test]
    fn the_file_forms_of_secret_variables_are_known() {
        for variable in ["JENY_DATABASE_URL_FILE", "JENY_OIDC_CLIENT_SECRET_FILE"] {
            assert!(KNOWN_VARIABLES.contains(&variable), "{variable}");
        }
    }

    #[test]
    fn deploy_writable_paths_must_be_folders_and_the_data_folder_is_hidden() {
        let folder = tempfile_dir();
        let mut config = Config {
            deploy_user: jeny_deploys::sandbox::own_user_name(),
            deploy_writable_paths: vec![folder.clone(), folder.join("missing")],
            data_dir: folder.join("data"),
            ..Config::default()
        };
        let error = config.deploy_sandbox().unwrap_err();
        assert!(
            format!("{error:#}").contains(&format!(
                "deploy_writable_paths: {} is not a folder",
                folder.join("missing").display()
            )),
            "{error:#}"
        );
        config.deploy_writable_paths.pop();
        let sandbox = config.deploy_sandbox().unwrap();
        assert_eq!(sandbox.writable, vec![folder.clone()]);
        assert!(sandbox.hidden.contains(&folder.join("data")));
        assert!(sandbox.hidden.contains(&folder.join("data/secret.key")));
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("jeny-config-test-{}", jeny_core::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
