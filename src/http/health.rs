use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::AppState;
use crate::service::health;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers and the listener is connected
/// (without it, sockets would hear nothing).
async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    health::database_answers(&state.db).await?;
    if !state.realtime.listener.up.load(Ordering::SeqCst) {
        return Err(ApiError::Unavailable(
            "the realtime listener is reconnecting".into(),
        ));
    }
    Ok(axum::Json(
        json!({ "status": "ready", "database": "up", "listener": "up" }),
    ))
}

/// `/metrics` alone, for the separate `PGCHAT_METRICS_BIND` listener.
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics_only))
}

/// `/metrics` on the main address: absent when it has an address of its own.
async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if state.config.ops.metrics_bind.is_some() {
        return Err(ApiError::NotFound("route"));
    }
    metrics_only(State(state), headers).await
}

/// Prometheus text format, behind `PGCHAT_METRICS_TOKEN` when set. Database-side gauges are read now.
async fn metrics_only(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = &state.config.ops.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared in constant time: the token is a secret.
        let equal = given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0;
        if !equal {
            return Err(ApiError::Unauthorized(
                "/metrics needs the bearer token of PGCHAT_METRICS_TOKEN".into(),
            ));
        }
    }
    let metrics = &state.realtime.metrics;
    metrics.sample_process();
    let pool = state.db.pool().status();
    metrics.pool_size.set(pool.size as i64);
    metrics.pool_available.set(pool.available as i64);
    if let Ok(usage) = health::notify_queue_usage(&state.db).await {
        metrics.notify_queue_usage.set(usage);
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    ))
}
