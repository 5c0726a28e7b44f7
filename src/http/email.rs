//! `GET|POST /v1/email/unsubscribe?token=…`: the link at the end of every
//! notification email, followed without signing in (the token is signed for
//! its user). POST is RFC 8058's one-click unsubscribe, which mail clients
//! send when the user presses their own "unsubscribe" button.

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::http::AppState;
use crate::service::email;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/email/unsubscribe", get(unsubscribe).post(unsubscribe))
}

/// `token` here is the link's own token, not a sign-in token, so it is read
/// from the raw query (`extract::Query` sets `token` aside for `Caller`).
/// Other parameters are ignored: mail clients and trackers add their own.
async fn unsubscribe(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let token = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    Ok(axum::Json(email::unsubscribe(&state.db, &token).await?))
}
