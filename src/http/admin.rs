//! The admin dashboard: `GET /v1/admin/stats?from=&to=` and one agent's
//! figures, `GET /v1/admin/stats/agents/{id}?from=&to=`.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::{AppState, Caller, Path, Query};
use crate::service::stats::{self, Range};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/stats", get(desk))
        .route("/v1/admin/stats/agents/{id}", get(agent))
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
