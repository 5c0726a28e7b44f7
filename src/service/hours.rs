//! Business hours (`GET|PUT /v1/admin/business-hours`, admins) and what a
//! customer's widget asks before opening a chat (`GET
//! /v1/support/availability`): open now, agents online, when the desk opens
//! next, the expected first reply from recent figures. Computed in SQL
//! (sql/64_business_hours.sql), which also marks a session opened while the
//! desk is closed `offline`: it waits as a ticket.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::hours::Schedule;
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// Every schedule: `{"desk": schedule | null, "teams": [{"team_id", ...}]}`.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn get(db: &Db, caller: &Identity) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::BusinessHours).await?;
    let row = tx
        .query_one("SELECT pgchat.business_hours_json()", &[])
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Replaces every schedule at once: the desk's (`None`: always open) and the
/// teams' (a team left out keeps the desk's).
#[tracing::instrument(skip(db, caller, desk, teams), fields(user = %caller.sub))]
pub async fn replace(
    db: &Db,
    caller: &Identity,
    desk: Option<&Schedule>,
    teams: &[(Uuid, Schedule)],
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::BusinessHours).await?;
    tx.execute("DELETE FROM business_hours", &[]).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO business_hours (team_id, time_zone, weekly, holidays) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    let scopes = desk
        .map(|s| (None, s))
        .into_iter()
        .chain(teams.iter().map(|(team, s)| (Some(*team), s)));
    for (team, schedule) in scopes {
        tx.execute(
            &insert,
            &[
                &team,
                &schedule.time_zone.as_str(),
                &schedule.weekly.stored(),
                &schedule.holidays.dates(),
            ],
        )
        .await?;
    }
    let row = tx
        .query_one("SELECT pgchat.business_hours_json()", &[])
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Whether the desk (or a team) is open now, for any signed-in caller.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn availability(
    db: &Db,
    caller: &Identity,
    team: Option<Uuid>,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_one("SELECT pgchat.availability_json($1)", &[&team])
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}
