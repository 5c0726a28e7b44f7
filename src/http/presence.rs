//! Presence over REST: read someone's (status, status text, last seen) and
//! set one's own — the same service calls as the socket's `set_presence`.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::domain::desk::PresenceStatus;
use crate::domain::{nullable, StatusText, UserId};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path};
use crate::service::ephemeral;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/presence/me", get(me).patch(update_me))
        .route("/v1/presence/{user_id}", get(one))
}

async fn me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, ApiError> {
    let sub = caller.sub.clone();
    Ok(axum::Json(
        ephemeral::presence(&state.db, &caller, &sub).await?,
    ))
}

async fn one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user): Path<UserId>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        ephemeral::presence(&state.db, &caller, user.as_str()).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceInput {
    #[serde(default)]
    status: Option<PresenceStatus>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    status_text: Option<Option<StatusText>>,
}

async fn update_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<PresenceInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        ephemeral::set_presence(&state.db, &caller, input.status, input.status_text).await?,
    ))
}
