//! Contacts: the caller's own details, `GET|PATCH /v1/contacts/me`
//! (`{"email"?, "email_notifications"?, "name"?, "attributes"?}`; `"email":
//! null` removes the address), and a customer as staff see them,
//! `GET /v1/contacts/{user_id}`.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::domain::contact::{Attributes, DisplayName};
use crate::domain::email::EmailAddress;
use crate::domain::{nullable, UserId};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path};
use crate::service::contacts::{self, ContactChanges};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts/me", get(me).patch(update_me))
        .route("/v1/contacts/{user_id}", get(contact))
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
    #[serde(default)]
    name: Option<DisplayName>,
    #[serde(default)]
    attributes: Option<Attributes>,
}

async fn update_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<UpdateInput>,
) -> Result<impl IntoResponse, ApiError> {
    let changes = ContactChanges {
        email: input.email,
        email_notifications: input.email_notifications,
        name: input.name,
        attributes: input.attributes,
    };
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give email, email_notifications, name or attributes",
        ));
    }
    Ok(axum::Json(
        contacts::update_me(&state.db, &caller, &changes).await?,
    ))
}

/// Staff read a contact: `404` for a user the server has never seen.
async fn contact(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user_id): Path<UserId>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        contacts::get(&state.db, &caller, user_id.as_str()).await?,
    ))
}
