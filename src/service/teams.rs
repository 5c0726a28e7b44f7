//! Teams of agents (`GET|POST /v1/teams`, `PATCH|DELETE /v1/teams/{id}`,
//! `PUT|DELETE /v1/teams/{id}/members/{agent_id}`): staff read them, admins
//! write them (RLS, policies/teams.sql). A session with a team waits in that
//! team's queue (`pgchat.assign_waiting`); escalation moves sessions between
//! teams (`service::escalation`).

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::desk::{EscalationSla, TeamDescription, TeamName};
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

fn name_taken(name: &TeamName) -> ApiError {
    ApiError::conflict(
        "team_name_taken",
        format!("there already is a team named {}", name.as_str()),
    )
}

/// A team's settings; for a change, `None` keeps a field and `Some(None)`
/// clears it.
#[derive(Debug, Default)]
pub struct TeamFields {
    pub name: Option<TeamName>,
    pub description: Option<Option<TeamDescription>>,
    pub escalate_to: Option<Option<Uuid>>,
    pub escalation_sla_secs: Option<Option<EscalationSla>>,
}

impl TeamFields {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.escalate_to.is_none()
            && self.escalation_sla_secs.is_none()
    }
}

/// Every team, by name.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn list(db: &Db, caller: &Identity) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Teams).await?;
    let rows = tx
        .query(
            "SELECT pgchat.team_json(t) FROM teams t ORDER BY lower(t.name) LIMIT 500",
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A new team (its name is required: `fields.name`).
#[tracing::instrument(skip(db, caller, fields), fields(user = %caller.sub))]
pub async fn create(
    db: &Db,
    caller: &Identity,
    name: &TeamName,
    fields: &TeamFields,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::ManageTeams).await?;
    let escalate_to = fields.escalate_to.flatten();
    check_team_exists(&tx, escalate_to).await?;
    let row = tx
        .query_opt(
            "INSERT INTO teams (name, description, escalate_to, escalation_sla_secs)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT ((lower(name))) DO NOTHING
             RETURNING pgchat.team_json(teams.*)",
            &[
                &name.as_str(),
                &fields
                    .description
                    .as_ref()
                    .and_then(|d| d.as_ref().map(TeamDescription::as_str)),
                &escalate_to,
                &fields
                    .escalation_sla_secs
                    .flatten()
                    .map(EscalationSla::value),
            ],
        )
        .await?
        .ok_or_else(|| name_taken(name))?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// The team a setting names must exist (`unknown_team`, 422).
async fn check_team_exists(tx: &Transaction<'_>, team: Option<Uuid>) -> Result<(), ApiError> {
    let Some(team) = team else { return Ok(()) };
    if tx
        .query_opt("SELECT 1 FROM teams WHERE id = $1", &[&team])
        .await?
        .is_none()
    {
        return Err(ApiError::unprocessable(
            "unknown_team",
            "escalate_to names no team",
        ));
    }
    Ok(())
}

#[tracing::instrument(skip(db, caller, changes), fields(user = %caller.sub))]
pub async fn update(
    db: &Db,
    caller: &Identity,
    id: Uuid,
    changes: &TeamFields,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::ManageTeams).await?;
    check_team_exists(&tx, changes.escalate_to.flatten()).await?;
    if changes.escalate_to == Some(Some(id)) {
        return Err(ApiError::unprocessable(
            "invalid_escalate_to",
            "a team does not escalate to itself",
        ));
    }
    if let Some(name) = &changes.name {
        let clash = tx
            .query_opt(
                "SELECT 1 FROM teams WHERE lower(name) = lower($1) AND id <> $2",
                &[&name.as_str(), &id],
            )
            .await?;
        if clash.is_some() {
            return Err(name_taken(name));
        }
    }
    // each CASE keeps the column when the change leaves it out ($3, $5, $7)
    let row = tx
        .query_opt(
            "UPDATE teams
                SET name = coalesce($2, name),
                    description = CASE WHEN $3 THEN description ELSE $4 END,
                    escalate_to = CASE WHEN $5 THEN escalate_to ELSE $6 END,
                    escalation_sla_secs = CASE WHEN $7 THEN escalation_sla_secs ELSE $8 END,
                    updated_at = now()
              WHERE id = $1
             RETURNING pgchat.team_json(teams.*)",
            &[
                &id,
                &changes.name.as_ref().map(TeamName::as_str),
                &changes.description.is_none(),
                &changes
                    .description
                    .as_ref()
                    .and_then(|d| d.as_ref().map(TeamDescription::as_str)),
                &changes.escalate_to.is_none(),
                &changes.escalate_to.flatten(),
                &changes.escalation_sla_secs.is_none(),
                &changes
                    .escalation_sla_secs
                    .flatten()
                    .map(EscalationSla::value),
            ],
        )
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Deletes a team; its sessions keep their agents and lose the team.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn delete(db: &Db, caller: &Identity, id: Uuid) -> Result<(), ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::ManageTeams).await?;
    if tx
        .execute("DELETE FROM teams WHERE id = $1", &[&id])
        .await?
        == 0
    {
        return Err(ApiError::NotFound("team"));
    }
    tx.commit().await?;
    Ok(())
}

/// Puts an agent of the desk in a team (`add`) or takes them out; either is
/// idempotent. Returns the team.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn membership(
    db: &Db,
    caller: &Identity,
    id: Uuid,
    agent_id: &str,
    add: bool,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::ManageTeams).await?;
    let team = tx
        .query_opt("SELECT 1 FROM teams WHERE id = $1 FOR UPDATE", &[&id])
        .await?;
    if team.is_none() {
        return Err(ApiError::NotFound("team"));
    }
    if add {
        let agent = tx
            .query_opt("SELECT 1 FROM agents WHERE user_id = $1", &[&agent_id])
            .await?;
        if agent.is_none() {
            return Err(ApiError::unprocessable(
                "unknown_agent",
                format!("{agent_id} is not an agent of the desk"),
            ));
        }
        tx.execute(
            "INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id, &agent_id],
        )
        .await?;
    } else {
        tx.execute(
            "DELETE FROM team_members WHERE team_id = $1 AND agent_id = $2",
            &[&id, &agent_id],
        )
        .await?;
    }
    let row = tx
        .query_one(
            "SELECT pgchat.team_json(t) FROM teams t WHERE t.id = $1",
            &[&id],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}
