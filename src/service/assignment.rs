//! Who gets a session: auto-assignment (the queue drains by priority, then age,
//! onto online agents with free capacity, by the configured mode), manual
//! assignment and transfer. The rules are SQL (`pgchat.assign_waiting`,
//! `pgchat.desk_assign` in sql/60_desk.sql) so that psql and every node apply
//! the same ones; every path that checks capacity holds the desk's advisory
//! lock, so no agent goes over capacity and no session is assigned twice.
//!
//! An agent's own claim (`support::claim`, or a first reply) is their choice
//! and is not bounded by capacity; anything that gives an agent work they did
//! not take (auto-assignment, assign, transfer) is.

use uuid::Uuid;

use crate::auth::Identity;
use crate::config::DeskConfig;
use crate::db::{Db, Transaction};
use crate::error::ApiError;
use crate::service::support;
use crate::service::WireRow;

/// Writes this server's desk settings where SQL reads them (`desk_settings`),
/// all but those an admin has set (`admin_set`, PATCH /v1/admin/settings):
/// theirs outlive restarts. Returns the inactivity timeout in force (seconds).
pub async fn configure(db: &Db, config: &DeskConfig) -> Result<u64, ApiError> {
    let client = db.client().await?;
    let secs = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
    let row = client
        .query_one(
            "UPDATE desk_settings
                SET assignment_mode = CASE WHEN 'assignment_mode' = ANY (admin_set)
                                           THEN assignment_mode ELSE $1 END,
                    sla_first_response_secs = CASE WHEN 'sla_first_response_secs' = ANY (admin_set)
                                                   THEN sla_first_response_secs ELSE $2 END,
                    inactivity_timeout_secs = CASE WHEN 'inactivity_timeout_secs' = ANY (admin_set)
                                                   THEN inactivity_timeout_secs ELSE $3 END,
                    notifications_enabled = $4,
                    reopen_window_secs = CASE WHEN 'reopen_window_secs' = ANY (admin_set)
                                              THEN reopen_window_secs ELSE $5 END,
                    escalation_sla_secs = CASE WHEN 'escalation_sla_secs' = ANY (admin_set)
                                               THEN escalation_sla_secs ELSE $6 END,
                    updated_at = now()
              WHERE id
          RETURNING inactivity_timeout_secs",
            &[
                &config.assignment_mode.as_str(),
                &secs(config.sla_first_response_secs),
                &secs(config.inactivity_timeout_secs),
                &config.webhook_url.is_some(),
                &secs(config.reopen_window_secs),
                &secs(config.escalation_sla_secs),
            ],
        )
        .await?;
    let timeout: i32 = row.get(0);
    Ok(u64::try_from(timeout).unwrap_or(0))
}

/// Auto-assignment: drains the queue as far as capacity allows. Returns how
/// many sessions were assigned. (A job: runs as the server's role.)
pub async fn drain(db: &Db) -> Result<i32, ApiError> {
    let client = db.client().await?;
    let row = client
        .query_one("SELECT pgchat.assign_waiting()", &[])
        .await?;
    Ok(row.get(0))
}

/// Ends sessions idle for longer than the inactivity timeout. (A job.)
pub async fn end_inactive(db: &Db) -> Result<i32, ApiError> {
    let client = db.client().await?;
    let row = client
        .query_one("SELECT pgchat.end_inactive()", &[])
        .await?;
    Ok(row.get(0))
}

/// Wakes the snoozed sessions whose time has come. (A job: the server's role.)
pub async fn wake_snoozed(db: &Db) -> Result<i32, ApiError> {
    let client = db.client().await?;
    let row = client
        .query_one("SELECT pgchat.wake_snoozed()", &[])
        .await?;
    Ok(row.get(0))
}

/// Which operation: an assignment may start from a waiting session, a transfer
/// moves an active one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reassign {
    Assign,
    Transfer,
}

/// Gives a session to `agent_id`. Assign: admins any open session; agents a
/// waiting one or their own. Transfer: the session's agent or an admin, for an
/// active session. The receiving agent must be on the desk (an enabled row in
/// `agents`) and below capacity.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn reassign(
    db: &Db,
    caller: &Identity,
    session_id: Uuid,
    agent_id: &str,
    how: Reassign,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let session = reassign_in(&tx, session_id, agent_id, how).await?;
    tx.commit().await?;
    Ok(session)
}

/// `reassign` inside the caller's transaction (bulk actions run several).
/// Who may hand the session on, to whom, and why not is `pgchat.desk_reassign`'s.
pub(crate) async fn reassign_in(
    tx: &Transaction<'_>,
    session_id: Uuid,
    agent_id: &str,
    how: Reassign,
) -> Result<WireRow, ApiError> {
    let statement = tx
        .prepare_cached("SELECT pgchat.desk_reassign($1, $2, $3)")
        .await?;
    let assigned: WireRow = tx
        .query_one(
            &statement,
            &[&session_id, &agent_id, &(how == Reassign::Transfer)],
        )
        .await?
        .get::<_, Option<WireRow>>(0)
        .ok_or(ApiError::NotFound("session"))?;
    // With the caller's unread count, unless they just handed it away (and can no longer read it).
    match support::view_in(tx, session_id).await {
        Ok(session) => Ok(session),
        Err(ApiError::NotFound(_)) => Ok(assigned),
        Err(error) => Err(error),
    }
}
