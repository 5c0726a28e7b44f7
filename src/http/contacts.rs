//! The caller's own contact details: `GET|PATCH /v1/contacts/me`
//! (`{"email"?, "email_notifications"?}`; `"email": null` removes the address).

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::domain::email::EmailAddress;
use crate::domain::nullable;
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json};
use crate::service::contacts::{self, ContactChanges};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/contacts/me", get(me).patch(update_me))
}

async fn me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(contacts::me(&state.db, &caller).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    #[serde(default, deserialize_with = "nullable")]
    email: Option<Option<EmailAddress>>,
    #[serde(default)]
    email_notifications: Option<bool>,
}

async fn update_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<UpdateInput>,
) -> Result<impl IntoResponse, ApiError> {
    let changes = ContactChanges {
        email: input.email,
        email_notifications: input.email_notifications,
    };
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give email or email_notifications",
        ));
    }
    Ok(axum::Json(
        contacts::update_me(&state.db, &caller, &changes).await?,
    ))
}
