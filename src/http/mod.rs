//! The REST transport: thin handlers that turn requests into service calls.
//! Each feature module exports its `router()`; `router()` here merges them and
//! adds the cross-cutting layers (body limit, CORS, tracing, request ids).

mod admin;
mod agents;
mod ai;
mod attachments;
mod canned;
mod contacts;
mod conversations;
mod dev;
mod email;
pub(crate) mod health;
mod hours;
mod message_features;
mod messages;
mod moderation;
mod openapi;
mod polls;
mod presence;
mod rooms;
mod settings;
mod support;
mod teams;
mod web;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::HeaderName;
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::Verifier;
use crate::compat::supabase;
use crate::config::Config;
use crate::db::Db;
use crate::error::ApiError;
use crate::limits::Limits;
use crate::realtime::{self, Realtime, RealtimeState};

pub use crate::extract::{Caller, Json, Path, Query};

/// What every handler can reach. Parts that need less take a sub-state
/// (`FromRef`): the realtime transports get `RealtimeState`, `Caller` the
/// `Verifier`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    /// Where every transport's sends go (group commit).
    pub sends: crate::service::send::Sender,
    pub verifier: Arc<Verifier>,
    pub config: Arc<Config>,
    pub realtime: Arc<Realtime>,
    pub limits: Arc<Limits>,
    pub storage: Arc<crate::storage::Storage>,
    pub ai: Arc<crate::service::ai::Assistant>,
    /// Supabase compatibility's node state (broadcast/presence relay, resume cursors).
    pub supabase: crate::compat::supabase::Node,
}

impl FromRef<AppState> for RealtimeState {
    fn from_ref(state: &AppState) -> Self {
        RealtimeState {
            db: state.db.clone(),
            sends: state.sends.clone(),
            verifier: state.verifier.clone(),
            realtime: state.realtime.clone(),
            limits: state.limits.clone(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let max_body = state.config.max_body_bytes;
    Router::new()
        .merge(health::router().merge(openapi::router()))
        .merge(support::router().merge(teams::router()).merge(hours::router()))
        .merge(agents::router().merge(canned::router()).merge(admin::router()))
        .merge(settings::router())
        .merge(contacts::router().merge(email::router()))
        .merge(messages::router())
        .merge(conversations::router())
        .merge(rooms::router())
        .merge(message_features::router())
        .merge(polls::router().merge(presence::router()))
        .merge(moderation::router())
        .merge(attachments::router().merge(ai::router()))
        .merge(realtime::router(RealtimeState::from_ref(&state)))
        .merge(crate::compat::stomp::router(
            RealtimeState::from_ref(&state),
            &state.config.stomp,
        ))
        .merge(supabase::router(supabase::SupabaseState::new(
            RealtimeState::from_ref(&state),
            &state.supabase,
        )))
        .merge(web::router(&state.config))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CorsLayer::new().allow_origin(Any).allow_headers(Any).allow_methods(Any))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
