//! My conversations: the list, direct conversations, my flags and the
//! language I read a conversation in, delete for me, the delivered cursor.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::{nullable, ConversationKind, Limit, UserId};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::conversations::{self, Flags, ListCursor, ListFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/conversations", get(list))
        .route("/v1/conversations/direct", post(direct))
        .route("/v1/conversations/{id}", get(get_one))
        .route(
            "/v1/conversations/{id}/me",
            patch(set_flags).delete(delete_for_me),
        )
        .route("/v1/conversations/{id}/delivered", post(delivered))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    kind: Option<ConversationKind>,
    archived: Option<bool>,
    #[serde(default)]
    limit: Limit,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query.limit;
    let cursor = query.cursor.as_deref().map(ListCursor::parse).transpose()?;
    let filter = ListFilter {
        kind: query.kind,
        archived: query.archived.unwrap_or(false),
    };
    let page = conversations::list(&state.db, &caller, filter, limit, cursor).await?;
    Ok(axum::Json(json!({
        "items": page.items,
        "next_cursor": page.next_cursor.map(|c| c.encode()),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectInput {
    user_id: UserId,
}

async fn direct(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<DirectInput>,
) -> Result<impl IntoResponse, ApiError> {
    let (conversation, created) = conversations::direct(&state.db, &caller, &input.user_id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(conversation)))
}

async fn get_one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        conversations::get(&state.db, &caller, id).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlagsInput {
    pinned: Option<bool>,
    muted: Option<bool>,
    archived: Option<bool>,
    /// A BCP 47 tag, checked by the database; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    lang: Option<Option<String>>,
}

async fn set_flags(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<FlagsInput>,
) -> Result<impl IntoResponse, ApiError> {
    let flags = Flags {
        pinned: input.pinned,
        muted: input.muted,
        archived: input.archived,
        lang: input.lang,
    };
    Ok(axum::Json(
        conversations::set_flags(&state.db, &caller, id, flags).await?,
    ))
}

async fn delete_for_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        conversations::delete_for_me(&state.db, &caller, id).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveredInput {
    seq: i64,
}

async fn delivered(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<DeliveredInput>,
) -> Result<impl IntoResponse, ApiError> {
    let seq = conversations::mark_delivered(&state.db, &caller, id, input.seq).await?;
    Ok(axum::Json(
        json!({ "conversation_id": id, "last_delivered_seq": seq }),
    ))
}
