//! The composition root: reads the configuration, opens the store, wires every part's routes
//! behind the shared middleware (request ids, problem+json errors, authentication, body limit,
//! metrics), serves the web app with request read limits (`limits.rs`), and shuts down
//! gracefully. Parts never know about each other
//! here; this is the only place that knows about all of them.

mod app;
pub mod config;
mod limits;
mod metrics;
mod openapi;
mod secret_key;
mod web;

pub use config::{Config, ServerArgs};
pub use openapi::openapi_json;

use anyhow::Context;
use jeny_store::{Store, StoreOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A server bound to its listener and running until its shutdown token is cancelled.
pub struct Running {
    pub address: SocketAddr,
    pub store: Store,
    /// The auth part, for what a test or the console does outside HTTP (sign-in links).
    pub auth: Arc<jeny_auth::AuthService>,
    /// The metrics part, for tests that look beneath the API.
    pub metrics: jeny_metrics::Metrics,
    /// Why this node cannot run deploys, if it cannot (said at start).
    pub deploys_refused: Option<String>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Opens the store (creating the data directory, key and database on first start) and starts
/// serving on `listener`. The one seam tests use: they bind port 0 and pass the listener in.
pub async fn launch_with_listener(
    listener: TcpListener,
    config: &Config,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let address = listener.local_addr()?;
    // A setting that cannot be right (an unknown deploy user) stops the start; what the machine
    // lacks (bubblewrap) or root without a deploy user is said at start and by every deploy, and
    // leaves the rest of jeny working.
    let sandbox = match config.deploy_sandbox() {
        Ok(sandbox) => match sandbox.check().await {
            Ok(()) => Ok(sandbox),
            Err(error) => Err(error.to_string()),
        },
        Err(error) => match error.downcast_ref::<jeny_deploys::SandboxError>() {
            Some(jeny_deploys::SandboxError::RootRefused) => Err(error.to_string()),
            _ => return Err(error),
        },
    };
    if let Err(why) = &sandbox {
        tracing::warn!("this node cannot run deploys: {why}");
    }
    let deploys_refused = sandbox.as_ref().err().cloned();
    config.prepare_data_dir()?;
    let key = secret_key::load_or_create(&config.secret_key_file())?;
    let store = Store::open(
        &config.database_url(),
        StoreOptions {
            max_connections: config.database_max_connections,
            ..StoreOptions::default()
        },
    )
    .await
    .with_context(|| {
        format!(
            "cannot open the database at {}",
            config.database_url_for_display()
        )
    })?;
    secret_key::verify_against_store(&store, &key, &config.secret_key_file()).await?;
    let links = jeny_deploys::Links {
        base: config.public_url(address),
    };
    let runner = jeny_deploys::RunnerConfig {
        node: config.node_name.clone(),
        concurrency: config.deploy_runners,
        shell: config.deploy_shell.clone(),
        lease_ttl: std::time::Duration::from_secs(config.deploy_lease_secs),
        output_cap_bytes: config.deploy_output_cap_bytes,
        repository_schemes: config.repository_schemes.clone(),
        // Absolute: a deploy's command runs in its own folder, where a relative path to its
        // inventory would point nowhere.
        data_dir: std::path::absolute(&config.data_dir)
            .with_context(|| format!("cannot resolve {}", config.data_dir.display()))?,
        database_url: config.database_url(),
        supervisor_program: config.supervisor_program()?,
        sandbox,
    };
    // Deploys keep running when the server stops: the dispatcher only stops starting new ones.
    let dispatcher = tokio::spawn(jeny_deploys::run_dispatcher(
        store.clone(),
        jeny_core::SecretBox::new(&key),
        links.clone(),
        runner,
        shutdown.clone(),
    ));
    // Deploy output retention: a job of its own, on one node of a cluster at a time.
    let retention = tokio::spawn(jeny_deploys::run_retention(
        store.clone(),
        format!("{}/{}", config.node_name, jeny_core::new_id()),
        shutdown.clone(),
    ));
    let auth = Arc::new(jeny_auth::AuthService::new(
        store.clone(),
        config.auth_config(&config.public_url(address))?,
    ));
    // The Slack bot: its notifier (one node at a time, through a lease) and, in Socket Mode,
    // its connection to Slack. Slack being slow or down never holds back anything else.
    let chat = jeny_chat::Chat::new(
        store.clone(),
        jeny_core::SecretBox::new(&key),
        auth.clone(),
        links.clone(),
        &config.node_name,
    );
    let chat_task = tokio::spawn(chat.clone().run(shutdown.clone()));
    // Metrics: the embedded store in its own files in the data dir (never the main store), or an
    // InfluxDB when one is configured (points spooled in the data dir meanwhile).
    let sink = match &config.metrics_influxdb_url {
        None => {
            let metrics_dir = config.data_dir.join("metrics");
            let metrics_options = jeny_metrics::store::Options {
                max_series_per_database: config.metrics_max_series_per_project,
                retention: jeny_metrics::store::Retentions {
                    default: config.metrics_retention(),
                    databases: Default::default(),
                },
                ..jeny_metrics::store::Options::default()
            };
            let embedded = tokio::task::spawn_blocking({
                let dir = metrics_dir.clone();
                move || jeny_metrics::store::Store::open(&dir, metrics_options)
            })
            .await?
            .with_context(|| {
                format!("cannot open the metrics store in {}", metrics_dir.display())
            })?;
            jeny_metrics::Sink::Embedded(embedded)
        }
        Some(url) => {
            let influx = config.influx_sink_config(url)?;
            let sink =
                jeny_metrics::sink_influx::InfluxSink::start(influx.clone(), shutdown.clone())
                    .await
                    .with_context(|| format!("cannot start the metrics sink to {url}"))?;
            jeny_metrics::Sink::Influx(Arc::new(jeny_metrics::service::InfluxTarget::new(
                sink, influx,
            )))
        }
    };
    let metrics = jeny_metrics::Metrics {
        store: store.clone(),
        sink: Arc::new(sink),
        max_body_bytes: config.max_body_bytes,
    };
    // The projects' own retention before the first write is taken (a project that keeps its
    // points longer than the server's default must not see one refused at start).
    if let Some(embedded) = metrics.embedded() {
        let (retentions, _) = jeny_metrics::retention::load(&store, config.metrics_retention())
            .await
            .map_err(|error| {
                anyhow::anyhow!("cannot load the projects' metrics retention: {error}")
            })?;
        embedded.set_retention(retentions);
    }
    // Metrics retention: the projects' policies, kept in step with them (reads only).
    let metrics_retention = tokio::spawn(jeny_metrics::retention::run_retention(
        metrics.clone(),
        config.metrics_retention(),
        format!("{}/{}", config.node_name, jeny_core::new_id()),
        shutdown.clone(),
    ));
    // Syncs AWS accounts when they are due. A node that stops finishes the sync it runs (which
    // releases its lease); a node that dies leaves the lease to run out, and another node takes
    // the account then. Beside it, the CloudWatch and load balancer metrics import of the
    // accounts that ask for it (a lease per account; asleep until a window is due).
    let aws = jeny_aws::Aws {
        store: store.clone(),
        secrets: jeny_core::SecretBox::new(&key),
        node: config.node_name.clone(),
        metrics: metrics.clone(),
    };
    let syncer = tokio::spawn(aws.clone().run_syncer(shutdown.clone()));
    let metrics_importer = tokio::spawn(aws.run_metrics_importer(shutdown.clone()));
    // Deploy metrics: a point per finished deploy, from the event log (one node at a time).
    let deploy_metrics = tokio::spawn(jeny_metrics::deploys::run_deploy_metrics(
        metrics.clone(),
        format!("{}/{}", config.node_name, jeny_core::new_id()),
        shutdown.clone(),
    ));
    let read_limits = limits::Limits::of(config);
    let connections = limits::Connections::default();
    let app = app::build(app::Parts {
        store: store.clone(),
        key,
        config: config.clone(),
        shutdown: shutdown.clone(),
        links,
        auth: auth.clone(),
        chat,
        metrics: metrics.clone(),
        read_limits: limits::ReadLimits {
            limits: read_limits,
            connections: connections.clone(),
        },
    });
    let serve_store = store.clone();
    let task = tokio::spawn(async move {
        // Each connection keeps its header and idle clocks (limits.rs).
        let listener = limits::LimitedListener::new(listener, read_limits, connections);
        // No Nagle delay: a live stream's small event would otherwise wait for the client's
        // delayed ACK (about 40 ms on Linux) before it leaves.
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
            if let Err(error) = stream.set_nodelay() {
                tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot set TCP_NODELAY on a connection");
            }
        });
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("the HTTP server failed")?;
        let _ = dispatcher.await;
        let _ = syncer.await;
        let _ = metrics_importer.await;
        let _ = retention.await;
        let _ = chat_task.await;
        let _ = deploy_metrics.await;
        let _ = metrics_retention.await;
        serve_store.close().await;
        Ok(())
    });
    Ok(Running {
        address,
        store,
        auth,
        metrics,
        deploys_refused,
        task,
    })
}

/// Runs `jeny server` until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // The handlers are installed before anything is served: a SIGTERM that arrives as soon as
    // /readyz answers must still stop the server gracefully, not kill it.
    let signals = Signals::install().context("cannot install the signal handlers")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    let running = launch_with_listener(listener, &config, shutdown).await?;
    let url = config.public_url(running.address);
    println!("jeny is running at {url}");
    if running.auth.has_oidc() {
        println!("sign in at {url}/auth/login");
    } else {
        // As Jupyter does: no identity provider yet, so the console that started the server
        // is trusted to hand out one sign-in.
        let link = running
            .auth
            .create_signin_link()
            .await
            .context("cannot create a sign-in link")?;
        println!(
            "sign in as {} with this one-time link (valid {} minutes): {url}/auth/link/{}",
            running
                .auth
                .config()
                .admin_email
                .as_deref()
                .unwrap_or(jeny_auth::DEFAULT_ADMIN_EMAIL),
            jeny_auth::LINK_TTL.as_secs() / 60,
            link.expose()
        );
        println!("no identity provider is configured: production needs OIDC (docs/auth.md)");
    }
    if let Some(why) = &running.deploys_refused {
        println!("deploys cannot run until this is fixed: {why}");
    }
    println!(
        "get an API token with: jeny login --server {url}  (or: jeny admin token --data-dir {} --email you@example.com --role admin)",
        config.data_dir.display()
    );
    running.task.await.context("the server task panicked")?
}

/// SIGINT and SIGTERM, registered when created.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
