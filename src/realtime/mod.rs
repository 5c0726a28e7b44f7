//! The realtime gateway: the listener turns NOTIFY into hub events; the hub
//! fans them out to WebSocket, SSE and long-poll subscribers. The hub learns of
//! changes only from the database.

pub mod frames;
pub mod hub;
pub mod listener;
pub mod poll;
pub mod protocol;
pub mod sse;
pub mod subscription;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::RealtimeConfig;
use crate::db::Db;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::service::ephemeral;
use hub::Hub;
use listener::{Listener, ListenerStatus};

pub struct Realtime {
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub listener: Arc<ListenerStatus>,
    /// This process among the nodes sharing the database (presence rows).
    pub node_id: Uuid,
    pub config: RealtimeConfig,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Realtime {
    /// Starts the listener and the presence heartbeat of this node.
    pub fn start(db: Db, database: tokio_postgres::Config, config: RealtimeConfig) -> Self {
        let hub = Arc::new(Hub::default());
        let metrics = Arc::new(Metrics::new());
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
        let heartbeat = tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl / 3);
            loop {
                tick.tick().await;
                if let Err(error) = ephemeral::heartbeat(&db, node_id, ttl).await {
                    tracing::warn!(%error, "presence heartbeat");
                }
            }
        });
        let (shutdown, _) = watch::channel(false);
        Self {
            hub,
            metrics,
            listener: status,
            node_id,
            config,
            shutdown,
            tasks: vec![tokio::spawn(listener.run()), heartbeat],
        }
    }

    /// Resolves when the server is shutting down (sessions close with 1012).
    pub fn shutting_down(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Asks every open session to close so clients reconnect elsewhere.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn presence_ttl(&self) -> Duration {
        Duration::from_secs(self.config.presence_ttl_secs.max(3))
    }
}

impl Drop for Realtime {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ws", get(ws::upgrade))
        .route("/v1/events", get(sse::stream))
        .route("/v1/conversations/{id}/poll", get(poll::poll))
}
