//! Polls: vote, take the vote back, close (a poll is sent as a message of
//! kind `poll`, `http::messages`).

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{post, put};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::poll::Ballot;
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path};
use crate::service::polls;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/messages/{id}/vote", put(vote).delete(unvote))
        .route("/v1/messages/{id}/close-poll", post(close))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteInput {
    options: Ballot,
}

async fn vote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<VoteInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        polls::vote(&state.db, &caller, id, &input.options).await?,
    ))
}

async fn unvote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(polls::unvote(&state.db, &caller, id).await?))
}

async fn close(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(polls::close(&state.db, &caller, id).await?))
}
