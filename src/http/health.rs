use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
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

/// Prometheus text format. Database-side gauges are read now.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let metrics = &state.realtime.metrics;
    metrics.sample_process();
    let pool = state.db.pool().status();
    metrics.pool_size.set(pool.size as i64);
    metrics.pool_available.set(pool.available as i64);
    if let Ok(usage) = health::notify_queue_usage(&state.db).await {
        metrics.notify_queue_usage.set(usage);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}
