use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
async fn healthz() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers.
async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    let client = state.db.client().await?;
    client.query_one("SELECT 1", &[]).await?;
    Ok(axum::Json(json!({ "status": "ready", "database": "up" })))
}
