//! Contacts: the caller's own details, `GET|PATCH /v1/contacts/me`
//! (`{"email"?, "email_notifications"?, "name"?, "attributes"?}`; `"email":
//! null` removes the address), and a customer as staff see them,
//! `GET /v1/contacts/{user_id}`; and the widget's verified sign-in,
//! `POST /v1/widget/token` (`{"user_id", "user_hash"}`: a customer of the host
//! site, vouched for by the HMAC-SHA256 of their id under
//! `PGCHAT_IDENTITY_SECRET`, gets a token and a verified contact).

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{self, Role};
use crate::domain::contact::{Attributes, DisplayName, UserHash};
use crate::domain::email::EmailAddress;
use crate::domain::{nullable, UserId};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path};
use crate::service::contacts::{self, ContactChanges};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts/me", get(me).patch(update_me))
        .route("/v1/contacts/{user_id}", get(contact))
        .route("/v1/widget/token", post(widget_token))
}

/// How long a token from the verified sign-in lasts; the widget asks again
/// before it ends (the hash does not expire).
const WIDGET_TOKEN_TTL_SECS: i64 = 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WidgetTokenInput {
    user_id: UserId,
    user_hash: UserHash,
}

/// The verified sign-in: no bearer token; the hash is the credential.
#[tracing::instrument(skip(state, input), fields(user = %input.user_id.as_str()))]
async fn widget_token(
    State(state): State<AppState>,
    Json(input): Json<WidgetTokenInput>,
) -> Result<axum::Json<Value>, ApiError> {
    let config = &state.config;
    let secret = config
        .auth
        .identity_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "identity_verification_off",
                "this server has no identity secret (PGCHAT_IDENTITY_SECRET): identify visitors unverified",
            )
        })?;
    let signing = config
        .auth
        .hs256_secret(&config.database.data.path)?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "widget_signin_unavailable",
                "the verified sign-in mints HS256 tokens: it needs PGCHAT_JWT_SECRET",
            )
        })?;
    contacts::verify_identity(&state.db, secret, &input.user_id, &input.user_hash).await?;
    let sub = input.user_id.as_str();
    let token = auth::mint(&signing, sub, Role::User, None, None, WIDGET_TOKEN_TTL_SECS)?;
    let exp = chrono::Utc::now().timestamp() + WIDGET_TOKEN_TTL_SECS;
    Ok(axum::Json(json!({
        "token": token, "sub": sub, "role": Role::User.as_str(), "exp": exp, "verified": true,
    })))
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
