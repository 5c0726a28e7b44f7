//! Bulk actions on support sessions (`POST /v1/support/sessions/bulk`): one
//! action on up to 100 sessions, each authorized on its own exactly as the
//! single action is (they share its code), with a result per item. Without
//! `atomic` each item is its own transaction; with it, all are one and the
//! first refusal rolls every item back.

use serde_json::json;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::desk::Label;
use crate::domain::{Priority, SessionStatus};
use crate::error::ApiError;
use crate::service::assignment::{self, Reassign};
use crate::service::support::{self, SessionChanges, StatusChange};
use crate::service::WireRow;

/// Most sessions one request acts on.
pub const MAX_ITEMS: usize = 100;

/// What to do to each session.
#[derive(Clone, Debug)]
pub enum Action {
    Assign(String),
    Transfer(String),
    Status(StatusChange),
    Label(Label),
    Unlabel(Label),
    Priority(Priority),
}

impl Action {
    async fn apply(
        &self,
        tx: &Transaction<'_>,
        caller: &Identity,
        id: Uuid,
    ) -> Result<(), ApiError> {
        match self {
            Self::Assign(agent) => {
                assignment::reassign_in(tx, id, agent, Reassign::Assign).await?;
            }
            Self::Transfer(agent) => {
                assignment::reassign_in(tx, id, agent, Reassign::Transfer).await?;
            }
            Self::Status(change) => support::apply_status(tx, caller, id, *change).await?,
            Self::Label(label) => support::label_in(tx, id, label, true).await?,
            Self::Unlabel(label) => support::label_in(tx, id, label, false).await?,
            Self::Priority(priority) => {
                let changes = SessionChanges {
                    priority: Some(*priority),
                    ..SessionChanges::default()
                };
                support::apply_changes(tx, id, &changes).await?;
            }
        }
        Ok(())
    }
}

/// A resolve, close or reopen as a bulk action.
pub fn status(name: &str) -> Option<Action> {
    match name {
        "resolve" => Some(Action::Status(StatusChange::To(SessionStatus::Resolved))),
        "close" => Some(Action::Status(StatusChange::To(SessionStatus::Closed))),
        "reopen" => Some(Action::Status(StatusChange::Reopen)),
        _ => None,
    }
}

/// Runs `action` on every id; one result per id, in order:
/// `{"id", "ok": true}` or `{"id", "ok": false, "error": {"code", "message"}}`.
#[tracing::instrument(skip(db, caller, ids), fields(user = %caller.sub, items = ids.len()))]
pub async fn run(
    db: &Db,
    caller: &Identity,
    ids: &[Uuid],
    action: &Action,
    atomic: bool,
) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    if atomic {
        let tx = db.begin_as(&mut client, caller).await?;
        for (at, id) in ids.iter().enumerate() {
            if let Err(error) = action.apply(&tx, caller, *id).await {
                error.log();
                drop(tx); // rolls back every item
                return Ok(ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| match i == at {
                        true => failed(*id, &error),
                        false => failed(
                            *id,
                            &ApiError::conflict(
                                "rolled_back",
                                "not applied: another item of this atomic request failed",
                            ),
                        ),
                    })
                    .collect());
            }
        }
        tx.commit().await?;
        return Ok(ids
            .iter()
            .map(|id| json!({ "id": id, "ok": true }))
            .collect());
    }
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let tx = db.begin_as(&mut client, caller).await?;
        let done = match action.apply(&tx, caller, *id).await {
            Ok(()) => tx.commit().await.map_err(ApiError::from),
            Err(error) => Err(error),
        };
        results.push(match done {
            Ok(()) => json!({ "id": id, "ok": true }),
            Err(error) => {
                error.log();
                failed(*id, &error)
            }
        });
    }
    Ok(results)
}

fn failed(id: Uuid, error: &ApiError) -> WireRow {
    json!({ "id": id, "ok": false, "error": { "code": error.code(), "message": error.public_message() } })
}
