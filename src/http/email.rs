//! `GET|POST /v1/email/unsubscribe?token=…`: the link at the end of every
//! notification email, followed without signing in (the token is signed for
//! its user). POST is RFC 8058's one-click unsubscribe, which mail clients
//! send when the user presses their own "unsubscribe" button.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::{AppState, Query};
use crate::service::email;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/email/unsubscribe", get(unsubscribe).post(unsubscribe))
}

// Not deny_unknown_fields: mail clients and trackers add their own parameters.
#[derive(Debug, Deserialize)]
struct UnsubscribeQuery {
    token: String,
}

async fn unsubscribe(
    State(state): State<AppState>,
    Query(query): Query<UnsubscribeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        email::unsubscribe(&state.db, &query.token).await?,
    ))
}
