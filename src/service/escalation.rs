//! `POST /v1/support/sessions/{id}/escalate`: a session goes to another team
//! or up a tier, with a higher priority, a reason and a deadline of its own.
//! What may be escalated by whom, and what escalating does, is
//! `pgchat.escalate` (sql/63_teams.sql); this runs it as the caller.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::desk::EscalationReason;
use crate::domain::Priority;
use crate::error::ApiError;
use crate::service::support;
use crate::service::WireRow;

pub struct Escalation {
    /// Where to: a team; else the session team's next tier (`escalate_to`),
    /// else a tier up within its team.
    pub team_id: Option<Uuid>,
    /// At least the session's; else one step up.
    pub priority: Option<Priority>,
    pub reason: EscalationReason,
}

#[tracing::instrument(skip(db, caller, escalation), fields(user = %caller.sub))]
pub async fn escalate(
    db: &Db,
    caller: &Identity,
    session_id: Uuid,
    escalation: &Escalation,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // 404 unless the caller sees the session; the rest is the database's to say
    support::state_of(&tx, session_id).await?;
    let escalated: WireRow = tx
        .query_one(
            "SELECT pgchat.escalate($1, $2, $3, $4)",
            &[
                &session_id,
                &escalation.team_id,
                &escalation.priority.map(Priority::as_str),
                &escalation.reason.as_str(),
            ],
        )
        .await?
        .get(0);
    // With the caller's unread count, unless the escalation released them
    // from it and they can no longer read it.
    let session = match support::view_in(&tx, session_id).await {
        Ok(session) => session,
        Err(ApiError::NotFound(_)) => escalated,
        Err(error) => return Err(error),
    };
    tx.commit().await?;
    Ok(session)
}
