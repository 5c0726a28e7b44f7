//! The notification outboxes: the webhook's (`notification_outbox`, queued by
//! the `chat_messages` trigger in sql/60_desk.sql) and email's (`email_outbox`,
//! sql/62_email.sql). One delivery transaction serves both: a worker on each
//! node takes due rows with `FOR UPDATE SKIP LOCKED`, delivers them while
//! holding the row locks, and records the outcome in the same transaction:
//! two workers never hold one row, and a delivered row is never taken again.
//! Failures are retried with exponential backoff; after the last attempt (or a
//! refusal that no retry can change) a row stays as a dead letter.
//!
//! These run as the server's role (a job, not a request): no outbox is
//! visible to any request.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use crate::db::Db;
use crate::error::ApiError;

/// An outbox table. Its rows have `id`, `status` (`pending`, `delivered`,
/// `dead`), `attempts`, `next_attempt_at`, `last_status`, `last_error` and
/// `delivered_at`; `json` is the SQL function that makes what a delivery gets
/// of a row. Both names are constants of the code, never input.
#[derive(Clone, Copy, Debug)]
pub struct Outbox {
    pub table: &'static str,
    pub json: &'static str,
}

/// The webhook's outbox.
pub const WEBHOOK: Outbox = Outbox {
    table: "notification_outbox",
    json: "pgchat.outbox_json",
};

/// One delivery attempt of a notification.
#[derive(Debug)]
pub struct Attempt {
    pub id: i64,
    /// What the outbox's `json` function makes of the row (for the webhook,
    /// what is POSTed: the stored payload with the notification's `id` and `created_at`).
    pub body: Value,
    /// Attempts made before this one.
    pub attempts: i32,
}

#[derive(Debug)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// Worth another attempt (after the backoff), until the last one.
    Failed {
        status: Option<u16>,
        error: String,
    },
    /// No retry can change it (an SMTP server's permanent refusal, an invalid
    /// address): a dead letter now.
    Rejected {
        status: Option<u16>,
        error: String,
    },
}

/// Retry policy: `base`, then twice as long after each failure, at most an hour.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub max_attempts: u32,
    pub base: Duration,
}

impl Retry {
    /// The wait after the `attempt`-th failed attempt (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        (self.base * factor).min(Duration::from_secs(3600))
    }
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub delivered: usize,
    pub failed: usize,
    pub dead: usize,
}

impl Pass {
    pub fn handled(&self) -> usize {
        self.delivered + self.failed + self.dead
    }
}

/// Takes up to `batch` due rows of `outbox`, delivers them concurrently with
/// `deliver`, and records each outcome. Rows locked by another worker are skipped.
pub async fn deliver_due<F, Fut>(
    db: &Db,
    outbox: Outbox,
    batch: i64,
    retry: Retry,
    deliver: F,
) -> Result<Pass, ApiError>
where
    F: Fn(Attempt) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let Outbox { table, json } = outbox;
    let rows = tx
        .query(
            &format!(
                "SELECT o.id, {json}(o), o.attempts
                   FROM {table} o
                  WHERE o.status = 'pending' AND o.next_attempt_at <= now()
                  ORDER BY o.next_attempt_at, o.id
                  LIMIT $1
                    FOR UPDATE SKIP LOCKED"
            ),
            &[&batch],
        )
        .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(Pass::default());
    }
    let attempts = rows.iter().map(|r| Attempt {
        id: r.get(0),
        body: r.get(1),
        attempts: r.get(2),
    });
    let outcomes = futures::future::join_all(attempts.map(|attempt| {
        let number = attempt.attempts.max(0) as u32 + 1;
        let id = attempt.id;
        let delivering = deliver(attempt);
        async move { (id, number, delivering.await) }
    }))
    .await;

    let mut pass = Pass::default();
    let delivered = tx
        .prepare_cached(&format!(
            "UPDATE {table}
                SET status = 'delivered', attempts = $2, delivered_at = now(), last_status = $3, last_error = NULL
              WHERE id = $1"
        ))
        .await?;
    let failed = tx
        .prepare_cached(&format!(
            "UPDATE {table}
                SET status = CASE WHEN $5 THEN 'dead' ELSE 'pending' END, attempts = $2,
                    last_status = $3, last_error = left($4, 1000),
                    next_attempt_at = now() + make_interval(secs => $6)
              WHERE id = $1"
        ))
        .await?;
    for (id, number, outcome) in outcomes {
        let rejected = matches!(outcome, Outcome::Rejected { .. });
        match outcome {
            Outcome::Delivered { status } => {
                tx.execute(&delivered, &[&id, &(number as i32), &i32::from(status)])
                    .await?;
                pass.delivered += 1;
            }
            Outcome::Failed { status, error } | Outcome::Rejected { status, error } => {
                let dead = rejected || number >= retry.max_attempts;
                let wait = if dead {
                    0.0
                } else {
                    retry.backoff(number).as_secs_f64()
                };
                tracing::debug!(
                    id,
                    attempt = number,
                    dead,
                    error,
                    "notification not delivered"
                );
                let status = status.map(i32::from);
                tx.execute(
                    &failed,
                    &[&id, &(number as i32), &status, &error, &dead, &wait],
                )
                .await?;
                if dead {
                    pass.dead += 1;
                } else {
                    pass.failed += 1;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(pass)
}

/// How long until the next pending row of `outbox` is due (None: none is pending).
pub async fn next_due(db: &Db, outbox: Outbox) -> Result<Option<Duration>, ApiError> {
    let client = db.client().await?;
    let row = client
        .query_one(
            &format!(
                "SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
                   FROM {} WHERE status = 'pending'",
                outbox.table
            ),
            &[],
        )
        .await?;
    let secs: Option<f64> = row.get(0);
    Ok(secs.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

/// Deletes delivered rows of `outbox` older than `keep` (dead letters stay).
pub async fn prune(db: &Db, outbox: Outbox, keep: Duration) -> Result<u64, ApiError> {
    let client = db.client().await?;
    Ok(client
        .execute(
            &format!(
                "DELETE FROM {}
                  WHERE status = 'delivered' AND delivered_at < now() - make_interval(secs => $1)",
                outbox.table
            ),
            &[&keep.as_secs_f64()],
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        let retry = Retry {
            max_attempts: 8,
            base: Duration::from_secs(2),
        };
        assert_eq!(retry.backoff(1), Duration::from_secs(2));
        assert_eq!(retry.backoff(2), Duration::from_secs(4));
        assert_eq!(retry.backoff(5), Duration::from_secs(32));
        assert_eq!(retry.backoff(40), Duration::from_secs(3600));
    }
}
