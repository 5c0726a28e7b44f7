//! Edits, deletes (for everyone, or for me), reactions and receipts of a message; full-text search.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, put};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::{Emoji, Limit, MessageBody, SearchQuery};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::search::Scope;
use crate::service::{conversations, message_features, search};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/messages/{id}", patch(edit).delete(delete))
        .route(
            "/v1/messages/{id}/reactions/{emoji}",
            put(react).delete(unreact),
        )
        .route("/v1/messages/{id}/me", axum::routing::delete(hide))
        .route("/v1/messages/{id}/receipts", get(receipts))
        .route("/v1/search", get(search))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditInput {
    body: MessageBody,
}

async fn edit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<EditInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        message_features::edit(&state.db, &caller, id, input.body).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        message_features::delete(&state.db, &caller, id).await?,
    ))
}

/// Delete for me: 204, the message hidden for the caller alone.
async fn hide(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    message_features::hide(&state.db, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn react(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, emoji)): Path<(Uuid, Emoji)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        message_features::react(&state.db, &caller, id, &emoji, true).await?,
    ))
}

async fn unreact(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, emoji)): Path<(Uuid, Emoji)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        message_features::react(&state.db, &caller, id, &emoji, false).await?,
    ))
}

async fn receipts(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        conversations::receipts(&state.db, &caller, id).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: SearchQuery,
    conversation_id: Option<Uuid>,
    #[serde(default)]
    limit: Limit,
}

async fn search(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<SearchParams>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query.limit;
    let scope = Scope {
        conversation_id: query.conversation_id,
    };
    let items = search::search(&state.db, &caller, &query.q, scope, limit).await?;
    Ok(axum::Json(json!({ "items": items })))
}
