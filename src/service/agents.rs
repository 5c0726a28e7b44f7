//! Agents of the desk: availability (online, away, busy, offline), capacity,
//! skills. A staff user joins the desk (and the auto-assignment pool) by
//! setting their own status or capacity, or when an admin enrols them.
//! WebSocket presence keeps an enrolled agent's status current: connecting
//! makes them online, `set_presence` sets it, losing the last connection makes
//! them offline (`sync_presence`, called by `service::ephemeral`).

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::desk::{AgentStatus, Capacity};
use crate::domain::Category;
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// Fields to change; absent ones stay as they are (defaults for a new agent).
#[derive(Debug, Default)]
pub struct AgentChanges {
    pub status: Option<AgentStatus>,
    pub capacity: Option<Capacity>,
    /// Admins only.
    pub skills: Option<Vec<Category>>,
    /// Admins only.
    pub enabled: Option<bool>,
}

/// The caller sets their own status and capacity (and joins the desk if new).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn update_me(
    db: &Db,
    caller: &Identity,
    changes: &AgentChanges,
) -> Result<WireRow, ApiError> {
    // asking to set skills or enablement is the admins' whatever the values
    let mut gates = vec![Gate::Desk];
    if changes.skills.is_some() || changes.enabled.is_some() {
        gates.push(Gate::AgentSettings);
    }
    upsert(db, caller, &caller.sub, changes, &gates).await
}

/// An admin enrols or changes an agent.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn update(
    db: &Db,
    caller: &Identity,
    agent_id: &str,
    changes: &AgentChanges,
) -> Result<WireRow, ApiError> {
    upsert(db, caller, agent_id, changes, &[Gate::ManageAgents]).await
}

/// Enrols or changes `agent_id` after passing `gates`; the guard trigger
/// (`pgchat.tg_agent_guard`) says why a row may not be written: an unknown
/// user (404), a customer (`not_staff`), someone else's row or skills for a
/// non-admin (`admins_only`). A new status also becomes the agent's presence,
/// in the same transaction (`pgchat.tg_agent_notify`).
async fn upsert(
    db: &Db,
    caller: &Identity,
    agent_id: &str,
    changes: &AgentChanges,
    gates: &[Gate],
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    for gate in gates {
        gates::pass(&tx, *gate).await?;
    }
    let skills: Option<Vec<&str>> = changes
        .skills
        .as_ref()
        .map(|s| s.iter().map(|c| c.as_str()).collect());
    tx.execute(
        "INSERT INTO agents (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
        &[&agent_id],
    )
    .await?;
    let row = tx
        .query_one(
            "UPDATE agents
                SET status = coalesce($2, status), capacity = coalesce($3, capacity),
                    skills = coalesce($4, skills), enabled = coalesce($5, enabled)
              WHERE user_id = $1
             RETURNING pgchat.agent_json(agents.*)",
            &[
                &agent_id,
                &changes.status.map(AgentStatus::as_str),
                &changes.capacity.map(Capacity::value),
                &skills,
                &changes.enabled,
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Agents of the desk (staff only), optionally only those with `status`.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn list(
    db: &Db,
    caller: &Identity,
    status: Option<AgentStatus>,
) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Desk).await?;
    let rows = tx
        .query(
            "SELECT pgchat.agent_json(a) FROM agents a
              WHERE $1::text IS NULL OR a.status = $1
              ORDER BY a.status = 'online' DESC, a.user_id
              LIMIT 1000",
            &[&status.map(AgentStatus::as_str)],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// One agent (staff only; 404 when not on the desk).
pub async fn get(db: &Db, caller: &Identity, agent_id: &str) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Desk).await?;
    let row = tx
        .query_opt(
            "SELECT pgchat.agent_json(a) FROM agents a WHERE a.user_id = $1",
            &[&agent_id],
        )
        .await?;
    tx.commit().await?;
    row.map(|r| r.get(0)).ok_or(ApiError::NotFound("agent"))
}

/// An admin takes an agent off the desk (their sessions stay theirs).
pub async fn remove(db: &Db, caller: &Identity, agent_id: &str) -> Result<(), ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::ManageAgents).await?;
    let deleted = tx
        .execute("DELETE FROM agents WHERE user_id = $1", &[&agent_id])
        .await?;
    tx.commit().await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("agent"));
    }
    Ok(())
}

/// WebSocket presence of a staff user becomes their desk status (if they are
/// on the desk). Called by `service::ephemeral` with the server's connection.
pub(crate) async fn sync_presence(
    client: &deadpool_postgres::Object,
    user: &str,
    role: &str,
    status: &str,
) -> Result<(), ApiError> {
    if role == "user" {
        return Ok(());
    }
    client
        .execute("SELECT pgchat.agent_presence($1, $2)", &[&user, &status])
        .await?;
    Ok(())
}
