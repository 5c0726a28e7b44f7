//! The assistant over REST: a question, a conversation's summary and a
//! support session's sentiment for staff, and a message's translation. (`@ai` mentions in messages are answered by
//! the worker, not here.)

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path};
use crate::service::ai::translate::Lang;
use crate::service::ai::{self, Question};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ai/ask", post(ask))
        .route("/v1/conversations/{id}/summary", post(summary))
        .route("/v1/messages/{id}/translate", post(translate))
        .route("/v1/support/sessions/{id}/sentiment", get(sentiment))
}

async fn sentiment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let sentiment = ai::sentiment::of_session(&state.db, &state.ai, &caller, id).await?;
    Ok(axum::Json(sentiment))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TranslateInput {
    lang: Lang,
}

async fn translate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<TranslateInput>,
) -> Result<impl IntoResponse, ApiError> {
    let translation =
        ai::translate::translate(&state.db, &state.ai, &caller, id, input.lang).await?;
    Ok(axum::Json(translation))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskInput {
    question: Question,
    #[serde(default)]
    conversation_id: Option<Uuid>,
}

async fn ask(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<AskInput>,
) -> Result<impl IntoResponse, ApiError> {
    let answer = ai::ask(
        &state.db,
        &state.ai,
        &caller,
        input.question,
        input.conversation_id,
    )
    .await?;
    Ok(axum::Json(answer))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryInput {
    /// Also store the summary in the conversation, as an internal note.
    #[serde(default)]
    post: bool,
}

/// The body is optional (`{}` or nothing: just the summary).
async fn summary(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    // The body limit's rejection as the JSON error every other endpoint gives.
    let body = body.map_err(|rejection| match rejection.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("request body is too large".into())
        }
        _ => ApiError::bad_request("invalid_body", rejection.body_text()),
    })?;
    let input: SummaryInput = if body.iter().all(u8::is_ascii_whitespace) {
        SummaryInput::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?
    };
    let summary = ai::summarize(&state.db, &state.ai, &caller, id, input.post).await?;
    Ok(axum::Json(summary))
}
