//! The admin dashboard: `GET /v1/admin/stats?from=&to=` and one agent's
//! figures, `GET /v1/admin/stats/agents/{id}?from=&to=`; erasing a user's data
//! on request, `POST /v1/admin/users/{id}/erase`, and the audit trail of
//! deletions, `GET /v1/admin/audit`; reports,
//! `GET /v1/admin/reports?from=&to=&group_by=&format=json|csv`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::Limit;
use crate::error::ApiError;
use crate::http::support::drain_blobs_now;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::deletion::{self, ErasedMessages};
use crate::service::reports::{self, Format, Report};
use crate::service::stats::{self, Range};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/stats", get(desk))
        .route("/v1/admin/stats/agents/{id}", get(agent))
        .route("/v1/admin/users/{id}/erase", post(erase))
        .route("/v1/admin/audit", get(audit))
        .route("/v1/admin/reports", get(report))
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
    format: Option<String>,
}

/// JSON, or CSV with a header row (`text/csv`, as a download).
async fn report(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let format = Format::parse(query.format.as_deref())?;
    let range = reports::range(query.from.as_deref(), query.to.as_deref())?;
    let group_by = query.group_by.as_deref().unwrap_or("day");
    match reports::report(&state.db, &caller, range, group_by, format).await? {
        Report::Json(body) => Ok(axum::Json(body).into_response()),
        Report::Csv(body) => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"pgchat-report-{group_by}.csv\""),
                ),
            ],
            body,
        )
            .into_response()),
    }
}
