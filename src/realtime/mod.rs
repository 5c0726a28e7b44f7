//! The realtime gateway: the listener turns NOTIFY into hub events; the hub
//! fans them out to sessions (`session`: the one core every transport
//! drives) over WebSocket, SSE and long poll. The hub learns of changes only
//! from the database. Nothing here imports `http`: the transports take
//! `RealtimeState`, a sub-state of the application's.

pub mod announced;
pub mod frames;
pub mod hub;
pub mod listener;
pub mod notices;
pub mod poll;
pub mod protocol;
pub mod session;
pub mod sse;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Verifier;
use crate::config::RealtimeConfig;
use crate::db::Db;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::service::ephemeral;
use crate::supervisor::Supervisor;
use hub::Hub;
use listener::{Listener, ListenerStatus};

/// What the realtime transports need, and nothing more.
#[derive(Clone, FromRef)]
pub struct RealtimeState {
    pub db: Db,
    pub sends: crate::service::send::Sender,
    pub verifier: Arc<Verifier>,
    pub realtime: Arc<Realtime>,
    pub limits: Arc<Limits>,
}

pub struct Realtime {
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub listener: Arc<ListenerStatus>,
    /// This process among the nodes sharing the database (presence rows).
    pub node_id: Uuid,
    pub config: RealtimeConfig,
    /// Cancelled when the server starts draining: every session closes.
    shutdown: CancellationToken,
}

impl Realtime {
    /// Starts the listener and the presence heartbeat of this node under `supervisor`.
    pub fn start(
        db: Db,
        database: tokio_postgres::Config,
        config: RealtimeConfig,
        supervisor: &mut Supervisor,
    ) -> Self {
        let metrics = Arc::new(Metrics::new());
        let hub = Arc::new(Hub::default());
        let status = Arc::new(ListenerStatus::default());
        let node_id = Uuid::new_v4();
        let listener = Listener::new(
            db.clone(),
            database,
            hub.clone(),
            status.clone(),
            metrics.clone(),
        );
        let ttl = Duration::from_secs(config.presence_ttl_secs.max(3));
        supervisor.spawn("realtime listener", listener.run());
        supervisor.spawn("presence heartbeat", async move {
            let mut tick = tokio::time::interval(ttl / 3);
            loop {
                tick.tick().await;
                if let Err(error) = ephemeral::heartbeat(&db, node_id, ttl).await {
                    tracing::warn!(%error, "presence heartbeat");
                }
            }
        });
        Self {
            hub,
            metrics,
            listener: status,
            node_id,
            config,
            shutdown: CancellationToken::new(),
        }
    }

    /// Cancelled when the server is shutting down (sessions close with 1012).
    pub fn shutting_down(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Asks every open session to close so clients reconnect elsewhere.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    pub fn presence_ttl(&self) -> Duration {
        Duration::from_secs(self.config.presence_ttl_secs.max(3))
    }
}

/// The realtime routes, with their own state (mergeable into any router).
pub fn router<S>(state: RealtimeState) -> Router<S> {
    Router::new()
        .route("/v1/ws", get(ws::upgrade))
        .route("/v1/events", get(sse::stream))
        .route("/v1/conversations/{id}/poll", get(poll::poll))
        .with_state(state)
}
