//! The admin dashboard: `GET /v1/admin/stats?from=&to=` and one agent's
//! figures, `GET /v1/admin/stats/agents/{id}?from=&to=`; erasing a user's data
//! on request, `POST /v1/admin/users/{id}/erase`, and the audit trail of
//! deletions, `GET /v1/admin/audit`.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::Limit;
use crate::error::ApiError;
use crate::http::support::drain_blobs_now;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::deletion::{self, ErasedMessages};
use crate::service::stats::{self, Range};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/stats", get(desk))
        .route("/v1/admin/stats/agents/{id}", get(agent))
        .route("/v1/admin/users/{id}/erase", post(erase))
        .route("/v1/admin/audit", get(audit))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseInput {
    #[serde(default)]
    messages: ErasedMessages,
}

/// 200 with what was erased; the files' bytes are deleted right after.
async fn erase(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user): Path<String>,
    Json(input): Json<EraseInput>,
) -> Result<impl IntoResponse, ApiError> {
    let done = deletion::erase_user(&state.db, &caller, &user, input.messages).await?;
    drain_blobs_now(&state).await;
    Ok(axum::Json(done))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    limit: Limit,
}

async fn audit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let items = deletion::audit(&state.db, &caller, query.limit).await?;
    Ok(axum::Json(serde_json::json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

async fn desk(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<RangeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let range = Range::parse(query.from, query.to)?;
    Ok(axum::Json(
        stats::desk(&state.db, &caller, range, None).await?,
    ))
}

async fn agent(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let range = Range::parse(query.from, query.to)?;
    Ok(axum::Json(
        stats::desk(&state.db, &caller, range, Some(&id)).await?,
    ))
}
