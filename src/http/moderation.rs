//! Moderation: the word lists and patterns (`GET|PUT /v1/admin/moderation`,
//! admins) and the review queue (`GET /v1/moderation/queue`,
//! `POST /v1/moderation/queue/{id}/approve|reject`: a room's moderators, the
//! desk's agents, admins).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::domain::moderation::{EntryList, Reason};
use crate::domain::Limit;
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::moderation::{self, Decision, QueueStatus};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/moderation", get(get_lists).put(put_lists))
        .route("/v1/moderation/queue", get(queue))
        .route("/v1/moderation/queue/{id}/approve", post(approve))
        .route("/v1/moderation/queue/{id}/reject", post(reject))
}

async fn get_lists(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(moderation::lists(&state.db, &caller).await?))
}

/// Both lists, replaced at once (absent: empty).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListsInput {
    #[serde(default)]
    words: EntryList,
    #[serde(default)]
    patterns: EntryList,
}

async fn put_lists(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<ListsInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        moderation::replace_lists(&state.db, &caller, &input.words, &input.patterns).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueQuery {
    #[serde(default)]
    status: QueueStatus,
    #[serde(default)]
    limit: Limit,
    cursor: Option<String>,
}

async fn queue(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<QueueQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this server issued")
            })
        })
        .transpose()?;
    let page = moderation::queue(&state.db, &caller, query.status, query.limit, cursor).await?;
    Ok(axum::Json(json!({
        "items": page.items,
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
    })))
}

/// Why (optional; kept in the item and the audit trail).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionInput {
    reason: Option<Reason>,
}

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

async fn approve(
    state: State<AppState>,
    caller: Caller,
    id: Path<i64>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    decide(state, caller, id, body, Decision::Approve).await
}

async fn reject(
    state: State<AppState>,
    caller: Caller,
    id: Path<i64>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    decide(state, caller, id, body, Decision::Reject).await
}

/// The body is optional (`{"reason"}`, `{}` or nothing).
async fn decide(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<i64>,
    body: Body,
    decision: Decision,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("request body is too large".into())
        }
        _ => ApiError::bad_request("invalid_body", rejection.body_text()),
    })?;
    let input: DecisionInput = if body.iter().all(u8::is_ascii_whitespace) {
        DecisionInput::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?
    };
    Ok(axum::Json(
        moderation::decide(&state.db, &caller, id, decision, input.reason.as_ref()).await?,
    ))
}
