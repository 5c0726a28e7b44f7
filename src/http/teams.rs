//! Teams: `GET|POST /v1/teams`, `PATCH|DELETE /v1/teams/{id}`,
//! `PUT|DELETE /v1/teams/{id}/members/{agent_id}` (staff read, admins write).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, put};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::desk::{EscalationSla, TeamDescription, TeamName};
use crate::domain::{nullable, UserId};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path};
use crate::service::teams::{self, TeamFields};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/teams", get(list).post(create))
        .route("/v1/teams/{id}", patch(update).delete(remove))
        .route(
            "/v1/teams/{id}/members/{agent_id}",
            put(add_member).delete(remove_member),
        )
}

/// A team's settings as a request gives them (`null` clears one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamInput {
    #[serde(default)]
    name: Option<TeamName>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<TeamDescription>>,
    #[serde(default, deserialize_with = "nullable")]
    escalate_to: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    escalation_sla_secs: Option<Option<EscalationSla>>,
}

impl From<TeamInput> for TeamFields {
    fn from(input: TeamInput) -> Self {
        Self {
            name: input.name,
            description: input.description,
            escalate_to: input.escalate_to,
            escalation_sla_secs: input.escalation_sla_secs,
        }
    }
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, ApiError> {
    let items = teams::list(&state.db, &caller).await?;
    Ok(axum::Json(json!({ "items": items })))
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<TeamInput>,
) -> Result<impl IntoResponse, ApiError> {
    let mut fields = TeamFields::from(input);
    let name = fields
        .name
        .take()
        .ok_or_else(|| ApiError::bad_request("invalid_body", "a team needs a name"))?;
    let created = teams::create(&state.db, &caller, &name, &fields).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<TeamInput>,
) -> Result<impl IntoResponse, ApiError> {
    let changes = TeamFields::from(input);
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give name, description, escalate_to or escalation_sla_secs",
        ));
    }
    Ok(axum::Json(
        teams::update(&state.db, &caller, id, &changes).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    teams::delete(&state.db, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, agent_id)): Path<(Uuid, UserId)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        teams::membership(&state.db, &caller, id, agent_id.as_str(), true).await?,
    ))
}

async fn remove_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, agent_id)): Path<(Uuid, UserId)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        teams::membership(&state.db, &caller, id, agent_id.as_str(), false).await?,
    ))
}
