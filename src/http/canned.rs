//! Canned responses: `GET|POST /v1/support/canned`, `PATCH|DELETE
//! /v1/support/canned/{id}`, and `GET /v1/support/canned/lookup?shortcut=&session_id=`
//! (the response a `/shortcut` names, with its placeholders filled in).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::desk::{CannedBody, CannedTitle, Shortcut};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::canned::{self, CannedChanges, NewCanned};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/support/canned", get(list).post(create))
        .route("/v1/support/canned/lookup", get(lookup))
        .route("/v1/support/canned/{id}", patch(update).delete(remove))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInput {
    shortcut: Shortcut,
    #[serde(default)]
    title: Option<CannedTitle>,
    body: CannedBody,
    #[serde(default)]
    shared: bool,
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<CreateInput>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewCanned {
        shortcut: input.shortcut,
        title: input.title,
        body: input.body,
        shared: input.shared,
    };
    let created = canned::create(&state.db, &caller, &new).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    q: Option<String>,
    prefix: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let prefix = query.prefix.as_deref().filter(|p| !p.trim().is_empty());
    let items = canned::list(&state.db, &caller, q, prefix).await?;
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    #[serde(default)]
    shortcut: Option<Shortcut>,
    #[serde(default)]
    title: Option<CannedTitle>,
    #[serde(default)]
    body: Option<CannedBody>,
}

async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<UpdateInput>,
) -> Result<impl IntoResponse, ApiError> {
    if input.shortcut.is_none() && input.title.is_none() && input.body.is_none() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give shortcut, title or body",
        ));
    }
    let changes = CannedChanges {
        shortcut: input.shortcut,
        title: input.title,
        body: input.body,
    };
    Ok(axum::Json(
        canned::update(&state.db, &caller, id, &changes).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    canned::delete(&state.db, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupQuery {
    shortcut: Shortcut,
    session_id: Option<Uuid>,
}

async fn lookup(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<LookupQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        canned::lookup(&state.db, &caller, &query.shortcut, query.session_id).await?,
    ))
}
