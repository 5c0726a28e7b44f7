//! Database access: the request pool, the caller's transaction, migrations.
//!
//! Every request's work runs in a transaction that first switches to role
//! `pgchat_user` and sets the caller's JWT claims, so the RLS policies in
//! `policies/` decide what it sees. The server's own role is used only for
//! migrations, the realtime listener and fan-out reads.

pub mod capacity;
pub mod migrate;
pub mod statistics;
pub mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
pub use deadpool_postgres::{Object as Client, Pool, Transaction};

use crate::auth::Identity;
use crate::error::ApiError;
use crate::limits::Limits;

/// Parses a `DATABASE_URL` (URL or key=value form) into tokio-postgres's
/// settings and the TLS options it names (`sslmode`, `sslrootcert`, `sslcert`,
/// `sslkey`: see [`tls`]).
pub fn pg_config_tls(url: &str) -> anyhow::Result<(tokio_postgres::Config, tls::TlsOptions)> {
    let (mut config, options) = tls::parse(url)?;
    if config.get_application_name().is_none() {
        config.application_name("pgchat");
    }
    Ok((config, options))
}

/// [`pg_config_tls`] without the certificate options, for connections that
/// need only what tokio-postgres knows (the embedded cluster, tests, tools).
pub fn pg_config(url: &str) -> anyhow::Result<tokio_postgres::Config> {
    Ok(pg_config_tls(url)?.0)
}

/// Opens one standalone connection, with no certificate checks (see [`connect_tls`]).
pub async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    connect_tls(config, &tls::MakeTls::from_config(config)?).await
}

/// Opens one standalone connection with `tls` (migrations, tools, tests).
pub async fn connect_tls(
    config: &tokio_postgres::Config,
    tls: &tls::MakeTls,
) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(tls.clone())
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "database connection closed");
        }
    });
    Ok(client)
}

/// Creates `dbname` on the server if it does not exist (the embedded default).
pub async fn ensure_database(admin: &tokio_postgres::Config, dbname: &str) -> anyhow::Result<()> {
    let client = connect(admin).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&dbname])
        .await?
        .is_some();
    if !exists {
        // Identifiers cannot be bound as parameters; the name is ours, quoted anyway.
        let sql = format!("CREATE DATABASE \"{}\"", dbname.replace('"', "\"\""));
        client
            .batch_execute(&sql)
            .await
            .context("creating the database")?;
    }
    Ok(())
}

/// The shared database handle: the pool plus the users already provisioned.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// The pool's TLS connector, for the LISTEN connections beside it.
    tls: tls::MakeTls,
    known_users: Arc<Mutex<HashMap<String, Identity>>>,
    /// Rates per user and the statement timeout of requests, when the server sets them.
    limits: Option<Arc<Limits>>,
}

impl Db {
    pub fn new(
        config: tokio_postgres::Config,
        tls: tls::MakeTls,
        size: usize,
    ) -> anyhow::Result<Self> {
        let manager = Manager::from_config(
            config,
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("building the connection pool")?;
        Ok(Self {
            pool,
            tls,
            known_users: Arc::default(),
            limits: None,
        })
    }

    /// This handle, with `limits` taken by the services and applied to requests.
    pub fn with_limits(self, limits: Arc<Limits>) -> Self {
        Self {
            limits: Some(limits),
            ..self
        }
    }

    pub fn limits(&self) -> Option<&Limits> {
        self.limits.as_deref()
    }

    /// How to reach the pool's server with TLS, for connections outside the
    /// pool (LISTEN): `config.connect(db.tls())`.
    pub fn tls(&self) -> tls::MakeTls {
        self.tls.clone()
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A pooled connection; an unreachable database is a retryable 503.
    pub async fn client(&self) -> Result<Client, ApiError> {
        Ok(self.pool.get().await?)
    }

    /// Begins a transaction that runs as `caller`: RLS applies to everything in
    /// it, and each statement may run for the statement timeout at most.
    pub async fn begin_as<'c>(
        &self,
        client: &'c mut Client,
        caller: &Identity,
    ) -> Result<Transaction<'c>, ApiError> {
        self.provision(client, caller).await?;
        let tx = client.transaction().await?;
        let claims = caller.claims_json();
        let timeout_ms = self
            .limits()
            .map_or(0, |l| l.statement_timeout().as_millis())
            .to_string();
        let statement = tx
            .prepare_cached(
                "SELECT set_config('role', 'pgchat_user', true), set_config('request.jwt.claims', $1, true),
                        set_config('statement_timeout', $2, true)",
            )
            .await?;
        tx.execute(&statement, &[&claims, &timeout_ms]).await?;
        Ok(tx)
    }

    /// Makes sure the caller has a `users` row matching their token. The token is
    /// the authority on role and name; rows are written only when they change.
    pub(crate) async fn provision(
        &self,
        client: &Client,
        caller: &Identity,
    ) -> Result<(), ApiError> {
        let known = self.known_users.lock().expect("poisoned").get(&caller.sub) == Some(caller);
        if known {
            return Ok(());
        }
        let statement = client
            .prepare_cached(
                "INSERT INTO users (id, role, name, email) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE
                    SET role = excluded.role,
                        name = coalesce(excluded.name, users.name),
                        email = coalesce(excluded.email, users.email)
                  WHERE (users.role, users.name, users.email) IS DISTINCT FROM
                        (excluded.role, coalesce(excluded.name, users.name), coalesce(excluded.email, users.email))",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &caller.sub,
                    &caller.role.as_str(),
                    &caller.name,
                    &caller.email,
                ],
            )
            .await?;
        self.known_users
            .lock()
            .expect("poisoned")
            .insert(caller.sub.clone(), caller.clone());
        Ok(())
    }
}
