//! Supabase compatibility: unmodified `@supabase/supabase-js` apps run on
//! pgchat. Realtime's Phoenix channels (`socket`: `postgres_changes` through
//! the session core, broadcast and presence through `relay`) at
//! `/realtime/v1/websocket`, and a PostgREST subset for the chat tables
//! (`rest`, run as the caller through `tables`) at `/rest/v1/{table}`.
//! Supabase-style tokens are read by `auth::Verifier` (a configurable role
//! claim). README's "Coming from Supabase" says what differs.

pub mod changes;
pub mod phoenix;
pub mod relay;
pub mod rest;
pub mod resume;
pub mod schema;
pub mod socket;
pub mod store;
pub mod tables;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;

use crate::realtime::RealtimeState;

/// What the adapter needs: the realtime sub-state, the broadcast/presence
/// relay and the remembered cursors of this node.
#[derive(Clone, FromRef)]
pub struct SupabaseState {
    pub realtime: RealtimeState,
    pub relay: Arc<relay::Relay>,
    pub resume: Arc<resume::Resume>,
}

/// This node's part of the adapter, made once at start-up.
#[derive(Clone)]
pub struct Node {
    pub relay: Arc<relay::Relay>,
    pub resume: Arc<resume::Resume>,
}

impl Node {
    /// Starts the relay (its LISTEN connection and presence heartbeat) under `supervisor`.
    pub fn start(
        db: crate::db::Db,
        database: tokio_postgres::Config,
        supervisor: &mut crate::supervisor::Supervisor,
    ) -> Self {
        Self {
            relay: relay::Relay::start(db, database, supervisor),
            resume: Arc::default(),
        }
    }
}

impl SupabaseState {
    pub fn new(realtime: RealtimeState, node: &Node) -> Self {
        Self {
            realtime,
            relay: node.relay.clone(),
            resume: node.resume.clone(),
        }
    }
}

/// The adapter's routes, with their own state (mergeable into any router).
pub fn router<S>(state: SupabaseState) -> Router<S> {
    Router::new()
        .route("/realtime/v1/websocket", get(socket::upgrade))
        .route(
            "/rest/v1/{table}",
            get(rest::get)
                .post(rest::post)
                .patch(rest::patch)
                .fallback(rest::other),
        )
        .with_state(state)
}
