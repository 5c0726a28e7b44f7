//! Building and running the server: resolve the database (embedded or
//! `DATABASE_URL`), migrate, bind, serve until a shutdown signal.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth::{RoleClaim, Verifier};
use crate::config::{Config, DatabaseConfig};
use crate::db::{self, Db};
use crate::embedded::EmbeddedPostgres;
use crate::http::{self, AppState};
use crate::limits::Limits;
use crate::realtime::Realtime;
use crate::service::ai::worker;
use crate::service::ai::Assistant;
use crate::service::attachments;
use crate::service::send::Sender;
use crate::storage::Storage;
use crate::supervisor::Supervisor;

/// The database to use, and the embedded cluster behind it if we started one.
pub struct Database {
    pub config: tokio_postgres::Config,
    /// `DATABASE_URL`'s TLS settings (the embedded cluster's Unix socket needs none).
    pub tls: db::tls::MakeTls,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// `DATABASE_URL` if set; otherwise the embedded cluster under the data folder.
    pub async fn open(config: &DatabaseConfig) -> anyhow::Result<Self> {
        if let Some(url) = &config.database_url {
            let (config, tls) = db::pg_config_tls(url)?;
            return Ok(Self {
                config,
                tls: db::tls::MakeTls::new(&tls)?,
                embedded: None,
            });
        }
        let root = config.data.path.join("postgres");
        let cluster = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&root)).await??;
        let admin = db::pg_config(&cluster.connection_string("postgres"))?;
        db::ensure_database(&admin, "pgchat").await?;
        tracing::info!(
            psql = %format!("psql \"{}\"", cluster.connection_string("pgchat")),
            "embedded PostgreSQL running"
        );
        let config = db::pg_config(&cluster.connection_string("pgchat"))?;
        Ok(Self {
            tls: db::tls::MakeTls::from_config(&config)?,
            config,
            embedded: Some(cluster),
        })
    }

    /// Applies migrations/, sql/ and policies/.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut client = db::connect_tls(&self.config, &self.tls).await?;
        db::migrate::run(&mut client).await
    }

    /// Stops the embedded cluster, if we started one.
    pub fn close(self) {
        if let Some(cluster) = self.embedded {
            if let Err(error) = cluster.stop() {
                tracing::warn!(error = format!("{error:#}"), "stopping embedded PostgreSQL");
            }
        }
    }
}

/// How long a graceful shutdown waits for requests in flight and sockets to close.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long background tasks get to stop once cancelled.
const BACKGROUND_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// A bound, ready server. Tests build it on port 0 and read `port()`.
pub struct Application {
    listener: TcpListener,
    /// `PGCHAT_METRICS_BIND`: `/metrics` on an address of its own.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// Every background task: stopped and awaited when serving stops.
    supervisor: Supervisor,
}

impl Application {
    pub async fn build(config: Config, database: tokio_postgres::Config) -> anyhow::Result<Self> {
        let secret = config.auth.hs256_secret(&config.database.data.path)?;
        let public_key = match &config.auth.jwt_public_key {
            Some(path) => {
                Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            }
            None => None,
        };
        let jwks = match &config.auth.jwt_jwks {
            Some(source) => Some(
                crate::auth::load_jwks(
                    source,
                    std::time::Duration::from_secs(config.auth.jwt_jwks_min_refresh_secs),
                )
                .await?,
            ),
            None => None,
        };
        let roles = RoleClaim::new(
            &config.auth.jwt_role_claim,
            &RoleClaim::parse_map(&config.auth.jwt_role_map)?,
        )?;
        let verifier = Verifier::new(
            secret.as_deref(),
            public_key.as_deref(),
            jwks,
            config.auth.jwt_leeway_secs,
        )?
        .with_roles(roles);
        let limits = Arc::new(Limits::new(&config.limits));
        // DATABASE_URL's TLS settings; without one (embedded cluster, tests), `database`'s sslmode.
        let tls = match &config.database.database_url {
            Some(url) => db::tls::MakeTls::new(&db::pg_config_tls(url)?.1)?,
            None => db::tls::MakeTls::from_config(&database)?,
        };
        let db = Db::new(database.clone(), tls, config.database.db_pool_size)?
            .with_limits(limits.clone());
        check_database(&db, &config).await;
        let sends = if config.database.group_commit {
            Sender::group_commit(
                db.clone(),
                config.database.send_workers,
                config.database.send_batch_max,
                config.database.send_queue,
            )
        } else {
            Sender::alone(db.clone())
        };
        let mut supervisor = Supervisor::new();
        crate::desk::start(
            db.clone(),
            database.clone(),
            config.desk.clone(),
            &mut supervisor,
        )
        .await?;
        if config.retention.retention_interval_secs > 0 {
            let every = std::time::Duration::from_secs(config.retention.retention_interval_secs);
            supervisor.spawn(
                "retention",
                crate::service::retention::run(db.clone(), every),
            );
        }
        if config.ops.stats_check_secs > 0 {
            let every = std::time::Duration::from_secs(config.ops.stats_check_secs);
            supervisor.spawn("planner statistics", db::statistics::run(db.clone(), every));
        }
        let storage = Arc::new(
            Storage::open(&config.storage, &config.database.data.path)
                .await
                .context("opening the attachment store")?,
        );
        let older_than = (config.storage.upload_pending_ttl_hours > 0)
            .then(|| Duration::from_secs(config.storage.upload_pending_ttl_hours * 3600));
        supervisor.spawn(
            "upload purge",
            attachments::run_purge(
                db.clone(),
                storage.clone(),
                older_than,
                Duration::from_secs(60),
            ),
        );
        let ai = Arc::new(Assistant::from_config(&config.ai).context("configuring the assistant")?);
        worker::start(db.clone(), database.clone(), ai.clone(), &mut supervisor).await?;
        let supabase =
            crate::compat::supabase::Node::start(db.clone(), database.clone(), &mut supervisor);
        let realtime = Arc::new(Realtime::start(
            db.clone(),
            database,
            config.realtime.clone(),
            &mut supervisor,
        ));
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let metrics_listener = match config.ops.metrics_bind {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding {address} (PGCHAT_METRICS_BIND)"))?,
            ),
            None => None,
        };
        supervisor.spawn("rate limit sweep", {
            let limits = limits.clone();
            async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    limits.sweep();
                }
            }
        });
        let state = AppState {
            db,
            sends,
            verifier: Arc::new(verifier),
            config: Arc::new(config),
            realtime,
            limits,
            storage,
            ai,
            supabase,
        };
        Ok(Self {
            listener,
            metrics_listener,
            state,
            supervisor,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of `/metrics` when PGCHAT_METRICS_BIND gives it an address of its own.
    pub fn metrics_port(&self) -> Option<u16> {
        let address = self.metrics_listener.as_ref()?.local_addr().ok()?;
        Some(address.port())
    }

    /// Serves until `shutdown` resolves, then drains: stop accepting (new
    /// connections are refused), close every WebSocket with 1012 so its client
    /// reconnects elsewhere, let requests in flight finish (at most
    /// `DRAIN_TIMEOUT`), and wait briefly for the sockets' close frames to go out.
    ///
    /// The accept loop is hyper's own rather than `axum::serve`, for one setting
    /// axum does not expose: a client must send its request headers within
    /// `PGCHAT_HEADER_READ_TIMEOUT_SECS`, so connections that trickle bytes or
    /// send nothing (slowloris) cannot pile up.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        use axum::extract::connect_info::ConnectInfo;
        use hyper_util::rt::{TokioIo, TokioTimer};
        use hyper_util::service::TowerToHyperService;
        use tower::Layer;

        tracing::info!(address = %self.listener.local_addr()?, "serving");
        let realtime = self.state.realtime.clone();
        let header_timeout = std::time::Duration::from_secs(
            self.state.config.limits.header_read_timeout_secs.max(1),
        );
        let trusted: Arc<[crate::client_addr::IpBlock]> =
            self.state.config.ops.trusted_proxies.clone().into();
        let metrics = self.metrics_listener.map(|listener| {
            let router = http::health::metrics_router().with_state(self.state.clone());
            tokio::spawn(async move { axum::serve(listener, router).await })
        });
        let mut app = http::router(self.state);
        if !trusted.is_empty() {
            app = app.layer(axum::middleware::map_request_with_state(
                trusted,
                crate::client_addr::rewrite,
            ));
        }
        // `stop` tells connections to finish; each holds a `done` receiver until it has.
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let (done, connections) = tokio::sync::watch::channel(());
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, say: wait instead of spinning.
                        tracing::warn!(%error, "accepting a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let service =
                TowerToHyperService::new(axum::Extension(ConnectInfo(peer)).layer(app.clone()));
            let mut stopping = stopping.clone();
            let connection = connections.clone();
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout);
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    served = conn.as_mut() => {
                        if let Err(error) = served {
                            tracing::debug!(%error, "connection ended");
                        }
                    }
                    () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                drop(connection);
            });
        }
        drop(self.listener); // new connections are refused from here on
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        realtime.shutdown();
        let _ = stop.send(true);
        drop(connections);
        // A long poll or a client that never finishes must not hold the process forever.
        tokio::select! {
            _ = done.closed() => {}
            _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!(
                secs = DRAIN_TIMEOUT.as_secs(),
                "connections still open after the drain timeout; stopping anyway"
            ),
        }
        // Upgraded connections are not tracked above: give the sockets a moment to
        // send their close frames (each session counts itself out when it has).
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while realtime.metrics.connections.get() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.supervisor.shutdown(BACKGROUND_PATIENCE).await;
        Ok(())
    }
}

/// Warns (once, at start-up) when the database's settings do not suit this
/// deployment; see `db::capacity`.
async fn check_database(db: &Db, config: &Config) {
    let settings = match db.client().await {
        Ok(client) => db::capacity::Settings::read(&client)
            .await
            .map_err(anyhow::Error::from),
        Err(error) => Err(anyhow::anyhow!("{error}")),
    };
    match settings {
        Ok(settings) => {
            let warnings =
                settings.warnings(config.database.db_pool_size, config.ops.expected_nodes);
            for warning in warnings {
                tracing::warn!("{warning}");
            }
        }
        Err(error) => tracing::warn!(
            error = format!("{error:#}"),
            "could not read the database's settings"
        ),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Raises the open-file limit to the hard limit: every WebSocket is a file
/// descriptor, and the usual soft limit (1024) would cap connections.
pub fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}
