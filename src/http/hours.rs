//! Business hours: `GET|PUT /v1/admin/business-hours` (admins) and
//! `GET /v1/support/availability?team_id=` (any signed-in caller).

use std::collections::HashSet;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::hours::{Holidays, Schedule, TimeZoneName, WeeklyHours};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Query};
use crate::service::hours;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/business-hours", get(get_hours).put(put_hours))
        .route("/v1/support/availability", get(availability))
}

async fn get_hours(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(hours::get(&state.db, &caller).await?))
}

/// A team's schedule: its id and a schedule's fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamSchedule {
    team_id: Uuid,
    time_zone: TimeZoneName,
    weekly: WeeklyHours,
    #[serde(default)]
    holidays: Holidays,
}

/// The whole configuration, replaced at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursInput {
    /// null or absent: the desk is always open
    #[serde(default)]
    desk: Option<Schedule>,
    #[serde(default)]
    teams: Vec<TeamSchedule>,
}

async fn put_hours(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<HoursInput>,
) -> Result<impl IntoResponse, ApiError> {
    let mut seen = HashSet::new();
    if !input.teams.iter().all(|t| seen.insert(t.team_id)) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "teams names each team once",
        ));
    }
    let teams: Vec<(Uuid, Schedule)> = input
        .teams
        .into_iter()
        .map(|t| {
            let schedule = Schedule {
                time_zone: t.time_zone,
                weekly: t.weekly,
                holidays: t.holidays,
            };
            (t.team_id, schedule)
        })
        .collect();
    Ok(axum::Json(
        hours::replace(&state.db, &caller, input.desk.as_ref(), &teams).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailabilityQuery {
    team_id: Option<Uuid>,
}

async fn availability(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<AvailabilityQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        hours::availability(&state.db, &caller, query.team_id).await?,
    ))
}
