//! Extractors whose rejections are `ApiError`s, so malformed JSON, unknown
//! fields, bad UUIDs and bad query strings all answer with the JSON error body.
//! They belong to no transport: REST (`http`) and the realtime transports use
//! them alike, each with its own state (`Caller` needs only the `Verifier`).

use axum::extract::rejection::{JsonRejection, PathRejection};
use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;

use crate::auth::{Identity, Verifier};
use crate::error::ApiError;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The query string, minus `token` (that authenticates: see `Caller`), so
/// query structs can reject unknown fields and still accept `?token=`.
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let invalid = |e: &dyn std::fmt::Display| {
            ApiError::bad_request("invalid_query", format!("invalid query: {e}"))
        };
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).map_err(|e| invalid(&e))?;
        let rest: Vec<_> = pairs
            .into_iter()
            .filter(|(key, _)| key != "token")
            .collect();
        let rest = serde_urlencoded::to_string(&rest).map_err(|e| invalid(&e))?;
        let pairs = form_urlencoded::parse(rest.as_bytes());
        serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
            .map(Query)
            .map_err(|e| field_error(e, "invalid_query"))
    }
}

/// A field that did not parse, with the code its field has on every
/// transport (`invalid_limit`, `invalid_since`) or `fallback`.
pub fn field_error<E: std::fmt::Display>(
    error: serde_path_to_error::Error<E>,
    fallback: &'static str,
) -> ApiError {
    let field = error.path().iter().next_back().map(|s| s.to_string());
    let code = crate::domain::invalid_field_code(field.as_deref().unwrap_or(""), fallback);
    let message = match code {
        "invalid_query" => format!("invalid query: {}", error.inner()),
        _ => error.inner().to_string(),
    };
    ApiError::bad_request(code, message)
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request("invalid_json", e.body_text())
            }
            JsonRejection::JsonDataError(e) => ApiError::bad_request("invalid_body", e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "send a JSON body with Content-Type: application/json".into(),
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("request body is too large".into())
            }
            other => ApiError::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

/// The verified caller. The token comes from `Authorization: Bearer …` or, for
/// browsers' WebSocket and EventSource which cannot set headers, `?token=…`.
pub struct Caller(pub Identity);

impl<S> FromRequestParts<S> for Caller
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .or_else(|| query_token(parts))
            .ok_or_else(|| {
                ApiError::Unauthorized("missing token: send Authorization: Bearer <JWT>".into())
            })?;
        Ok(Caller(
            Arc::<Verifier>::from_ref(state).verify(&token).await?,
        ))
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn query_token(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    url_pairs(query).find(|(k, _)| k == "token").map(|(_, v)| v)
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
}
