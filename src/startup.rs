//! Building and running the server: resolve the database (embedded or
//! `DATABASE_URL`), migrate, bind, serve until a shutdown signal.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth::Verifier;
use crate::config::{Config, DatabaseConfig};
use crate::db::{self, Db};
use crate::desk::Desk;
use crate::embedded::EmbeddedPostgres;
use crate::http::{self, AppState};
use crate::limits::Limits;
use crate::realtime::Realtime;
use crate::service::ai::worker::AiWorker;
use crate::service::ai::Assistant;
use crate::service::attachments;
use crate::storage::Storage;

/// The database to use, and the embedded cluster behind it if we started one.
pub struct Database {
    pub config: tokio_postgres::Config,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// `DATABASE_URL` if set; otherwise the embedded cluster under the data folder.
    pub async fn open(config: &DatabaseConfig) -> anyhow::Result<Self> {
        if let Some(url) = &config.database_url {
            return Ok(Self {
                config: db::pg_config(url)?,
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
        Ok(Self {
            config: db::pg_config(&cluster.connection_string("pgchat"))?,
            embedded: Some(cluster),
        })
    }

    /// Applies migrations/, sql/ and policies/.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut client = db::connect(&self.config).await?;
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

/// A bound, ready server. Tests build it on port 0 and read `port()`.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    desk: Desk,
    ai_worker: AiWorker,
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
        let verifier = Verifier::new(
            secret.as_deref(),
            public_key.as_deref(),
            config.auth.jwt_leeway_secs,
        )?;
        let mut db = Db::new(database.clone(), config.database.db_pool_size)?;
        if config.database.group_commit {
            db = db.with_group_commit(config.database.send_workers, config.database.send_batch_max);
        }
        let desk = Desk::start(db.clone(), database.clone(), config.desk.clone()).await?;
        if config.retention.retention_interval_secs > 0 {
            let every = std::time::Duration::from_secs(config.retention.retention_interval_secs);
            tokio::spawn(crate::service::retention::run(db.clone(), every));
        }
        let storage = Arc::new(
            Storage::open(&config.storage, &config.database.data.path)
                .await
                .context("opening the attachment store")?,
        );
        if config.storage.upload_pending_ttl_hours > 0 {
            let older_than = Duration::from_secs(config.storage.upload_pending_ttl_hours * 3600);
            let every = Duration::from_secs(600);
            tokio::spawn(attachments::run_purge(
                db.clone(),
                storage.clone(),
                older_than,
                every,
            ));
        }
        let ai = Arc::new(Assistant::from_config(&config.ai).context("configuring the assistant")?);
        let ai_worker = AiWorker::start(db.clone(), database.clone(), ai.clone()).await?;
        let realtime = Arc::new(Realtime::start(
            db.clone(),
            database,
            config.realtime.clone(),
        ));
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let limits = Arc::new(Limits::new(&config.limits));
        tokio::spawn({
            let limits = Arc::downgrade(&limits);
            async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                while let Some(limits) = {
                    tick.tick().await;
                    limits.upgrade()
                } {
                    limits.sweep();
                }
            }
        });
        let state = AppState {
            db,
            verifier: Arc::new(verifier),
            config: Arc::new(config),
            realtime,
            limits,
            storage,
            ai,
        };
        Ok(Self {
            listener,
            state,
            desk,
            ai_worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "serving");
        let _desk = self.desk; // the desk's workers run while we serve
        let _ai_worker = self.ai_worker; // and the assistant's
        let realtime = self.state.realtime.clone();
        let (draining, drain_started) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            // axum stops accepting once this resolves and lets requests in flight
            // finish; every socket closes with 1012 so its client reconnects elsewhere.
            realtime.shutdown();
            let _ = draining.send(());
        };
        let app = http::router(self.state);
        let serve = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .into_future();
        // A long poll or a client that never finishes must not hold the process forever.
        let drain_deadline = async {
            match drain_started.await {
                Ok(()) => tokio::time::sleep(DRAIN_TIMEOUT).await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            served = serve => served?,
            _ = drain_deadline => tracing::warn!(
                secs = DRAIN_TIMEOUT.as_secs(),
                "connections still open after the drain timeout; stopping anyway"
            ),
        }
        Ok(())
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
