//! The desk's agents: `PUT /v1/agents/me` (status, capacity), `GET /v1/agents`
//! (staff), and the admin's `GET|PUT|DELETE /v1/agents/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::domain::desk::{AgentStatus, Capacity};
use crate::domain::Category;
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::agents::{self, AgentChanges};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents", get(list))
        .route("/v1/agents/me", get(me).put(update_me))
        .route("/v1/agents/{id}", get(get_one).put(update).delete(remove))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentInput {
    #[serde(default)]
    status: Option<AgentStatus>,
    #[serde(default)]
    capacity: Option<Capacity>,
    #[serde(default)]
    skills: Option<Vec<Category>>,
    #[serde(default)]
    enabled: Option<bool>,
}

impl From<AgentInput> for AgentChanges {
    fn from(input: AgentInput) -> Self {
        let skills = input.skills.map(|mut skills| {
            skills.sort_by_key(|c| c.as_str());
            skills.dedup();
            skills
        });
        Self {
            status: input.status,
            capacity: input.capacity,
            skills,
            enabled: input.enabled,
        }
    }
}

async fn update_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<AgentInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        agents::update_me(&state.db, &caller, &input.into()).await?,
    ))
}

async fn me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        agents::get(&state.db, &caller, &caller.sub).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<AgentStatus>,
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let items = agents::list(&state.db, &caller, query.status).await?;
    Ok(axum::Json(json!({ "items": items })))
}

async fn get_one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(agents::get(&state.db, &caller, &id).await?))
}

async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(input): Json<AgentInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        agents::update(&state.db, &caller, &id, &input.into()).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    agents::remove(&state.db, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
