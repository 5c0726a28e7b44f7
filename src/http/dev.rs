//! The development sign-in (`PGCHAT_DEV=1` only; `web::router` does not mount
//! it otherwise, so without the flag these paths answer 404 like any unknown
//! route): `POST /v1/dev/token` mints a token for any user and role with the
//! server's own HS256 secret, so the pages work right after `pgchat serve`.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{self, Role};
use crate::error::ApiError;
use crate::http::{AppState, Json};

/// Default lifetime of a development token: a working day.
const DEFAULT_TTL_SECS: i64 = 8 * 3600;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/dev/token", post(token))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    sub: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    ttl_secs: Option<i64>,
}

#[tracing::instrument(skip(state, request), fields(sub = %request.sub))]
async fn token(
    State(state): State<AppState>,
    Json(request): Json<TokenRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let sub = request.sub.trim();
    if sub.is_empty() || sub.chars().count() > 200 || sub.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "sub must be 1-200 characters without control characters",
        ));
    }
    let role: Role = request
        .role
        .as_deref()
        .unwrap_or("user")
        .parse()
        .map_err(|e: String| ApiError::bad_request("invalid_body", e))?;
    let ttl = request.ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(10..=7 * 86400).contains(&ttl) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "ttl_secs must be between 10 and 604800",
        ));
    }
    let clean = |s: Option<String>| {
        s.map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s.chars().count() <= 200)
    };
    let (name, email) = (clean(request.name), clean(request.email));
    let config = &state.config;
    let secret = config
        .auth
        .hs256_secret(&config.database.data.path)?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "dev_signin_unavailable",
                "the development sign-in needs an HS256 secret (PGCHAT_JWT_SECRET)",
            )
        })?;
    let token = auth::mint(&secret, sub, role, name.as_deref(), email.as_deref(), ttl)?;
    let exp = chrono::Utc::now().timestamp() + ttl;
    Ok(axum::Json(json!({
        "token": token, "sub": sub, "role": role.as_str(), "name": name, "exp": exp,
    })))
}
