use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::poll::Poll;
use crate::domain::{Limit, MessageBody, MessageIds, MessageKind};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::messages::{self, Page, ReadUpTo};
use crate::service::send::NewMessage;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/conversations/{id}/messages", get(list).post(send))
        .route("/v1/conversations/{id}/read", post(mark_read))
}

/// A message as clients send it (REST body, and the `message` of a new session).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// Optional only for a poll, whose question is then its body.
    #[serde(default)]
    pub body: Option<MessageBody>,
    pub client_msg_id: Uuid,
    #[serde(default)]
    pub kind: MessageKind,
    #[serde(default)]
    pub reply_to: Option<Uuid>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachment_id: Option<Uuid>,
    #[serde(default)]
    pub poll: Option<Poll>,
}

impl TryFrom<MessageInput> for NewMessage {
    type Error = ApiError;
    fn try_from(input: MessageInput) -> Result<Self, ApiError> {
        Ok(NewMessage {
            client_msg_id: input.client_msg_id,
            body: NewMessage::body_of(input.body, input.poll.as_ref())?,
            kind: input.kind,
            reply_to: input.reply_to,
            internal: input.internal,
            attachment_id: input.attachment_id,
            poll: input.poll,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    before: Option<i64>,
    after: Option<i64>,
    #[serde(default)]
    limit: Limit,
    /// Add each message's cached translation into this language (checked
    /// by the database: `invalid_lang`); default: the caller's `lang` here.
    lang: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Query(query): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query.limit;
    let page = match (query.before, query.after) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "give either before or after, not both",
            ))
        }
        (_, Some(after)) => Page::After(after),
        (before, None) => Page::Before(before),
    };
    let page = messages::list(&state.db, &caller, id, page, limit, query.lang.as_deref()).await?;
    Ok(axum::Json(
        json!({ "items": page.items, "has_more": page.has_more }),
    ))
}

async fn send(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<MessageInput>,
) -> Result<impl IntoResponse, ApiError> {
    let sent = state.sends.send(&caller, id, input.try_into()?).await?;
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(sent.message)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadInput {
    #[serde(default)]
    seq: Option<i64>,
    /// Read by ids: up to the newest of them (`messages::ReadUpTo`).
    #[serde(default)]
    message_ids: Option<MessageIds>,
}

async fn mark_read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<ReadInput>,
) -> Result<impl IntoResponse, ApiError> {
    let upto = ReadUpTo::from_parts(input.seq, input.message_ids)?;
    let seq = messages::mark_read(&state.db, &caller, id, upto).await?;
    Ok(axum::Json(
        json!({ "conversation_id": id, "last_read_seq": seq }),
    ))
}
