//! Deleting for good (sql/72_deletion.sql): an admin deletes a support
//! session with all it holds, or erases a user's data on request; both are
//! audited (`desk_audit`). Attachment bytes follow their rows out through the
//! `blob_deletions` queue, which `drain_blobs` empties with retries, so no file
//! outlives its row.

use std::time::Duration;

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::Limit;
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;
use crate::storage::Storage;

/// What an erasure does to the user's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ErasedMessages {
    /// They stay, without author (no sender id or name on any path).
    #[default]
    Anonymize,
    /// They become tombstones without author.
    Delete,
}

impl ErasedMessages {
    fn as_str(self) -> &'static str {
        match self {
            Self::Anonymize => "anonymize",
            Self::Delete => "delete",
        }
    }
}

/// Deletes a support session and everything in it (admins).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn delete_session(db: &Db, caller: &Identity, session: Uuid) -> Result<(), ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_one("SELECT pgchat.delete_session($1)", &[&session])
        .await?;
    if row.get::<_, Option<WireRow>>(0).is_none() {
        return Err(ApiError::NotFound("session"));
    }
    tx.commit().await?;
    Ok(())
}

/// Erases a user's data (admins); answers what was done.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn erase_user(
    db: &Db,
    caller: &Identity,
    user: &str,
    messages: ErasedMessages,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_one(
            "SELECT pgchat.erase_user($1, $2)",
            &[&user, &messages.as_str()],
        )
        .await?;
    let details: Option<WireRow> = row.get(0);
    let details = details.ok_or(ApiError::NotFound("user"))?;
    tx.commit().await?;
    Ok(details)
}

/// The audit trail, newest first (admins; others see no rows).
pub async fn audit(db: &Db, caller: &Identity, limit: Limit) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Audit).await?;
    let rows = tx
        .query(
            "SELECT pgchat.audit_json(a) FROM desk_audit a ORDER BY a.at DESC, a.id DESC LIMIT $1",
            &[&limit.get()],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Most queued deletions taken per round.
const BATCH: i64 = 200;
/// How long a node holds queued deletions it took (another may take them after).
const LEASE_SECS: f64 = 300.0;

/// Deletes the queued bytes that are due: each taken under a lease (several
/// nodes share the queue), its row removed once the store has deleted it (a
/// missing key counts as deleted), or retried later with backoff (30 s
/// doubling, at most an hour). Returns how many were deleted.
pub async fn drain_blobs(db: &Db, storage: &Storage) -> anyhow::Result<u64> {
    let client = db.client().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let taken = client
        .query(
            "UPDATE blob_deletions SET attempts = attempts + 1,
                    next_at = now() + make_interval(secs => $2)
              WHERE id IN (SELECT id FROM blob_deletions WHERE next_at <= now()
                            ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
              RETURNING id, storage_key, attempts",
            &[&BATCH, &LEASE_SECS],
        )
        .await?;
    let mut deleted = 0;
    for row in &taken {
        let (id, key, attempts): (i64, String, i32) = (row.get(0), row.get(1), row.get(2));
        match storage.store.delete(&key).await {
            Ok(()) => {
                client
                    .execute("DELETE FROM blob_deletions WHERE id = $1", &[&id])
                    .await?;
                deleted += 1;
            }
            Err(error) => {
                let wait = backoff(attempts);
                tracing::warn!(
                    error = format!("{error:#}"),
                    key,
                    "deleting stored bytes; will retry"
                );
                client
                    .execute(
                        "UPDATE blob_deletions SET last_error = $2,
                                next_at = now() + make_interval(secs => $3) WHERE id = $1",
                        &[&id, &format!("{error:#}"), &wait.as_secs_f64()],
                    )
                    .await?;
            }
        }
    }
    Ok(deleted)
}

fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 8) as u32 - 1;
    Duration::from_secs((30u64 << exp).min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(20), Duration::from_secs(3600));
    }
}
