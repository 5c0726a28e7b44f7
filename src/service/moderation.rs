//! Content moderation: the admins' word lists and patterns, the review queue
//! and its decisions. The filter itself runs in PostgreSQL on the send path
//! (sql/47_moderation.sql, sql/25_send_batch.sql); these operations read and
//! write its lists and decide its queue, each as the caller (RLS: the queue
//! shows a reviewer the items of the conversations they review).

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::moderation::{EntryList, Reason};
use crate::domain::Limit;
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// `{"words", "patterns", "updated_at", "updated_by"}` (admins).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn lists(db: &Db, caller: &Identity) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::ModerationLists).await?;
    let row = tx
        .query_one(
            "SELECT pgchat.moderation_lists_json(l) FROM moderation_lists l",
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Replaces both lists (admins; audited). A pattern PostgreSQL cannot compile
/// is refused by the database with its text (`invalid_pattern`, 422).
#[tracing::instrument(skip(db, caller, words, patterns), fields(user = %caller.sub))]
pub async fn replace_lists(
    db: &Db,
    caller: &Identity,
    words: &EntryList,
    patterns: &EntryList,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_one(
            "SELECT pgchat.moderation_put($1, $2)",
            &[&words.to_strings(), &patterns.to_strings()],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Which items of the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    #[default]
    Pending,
    Approved,
    Rejected,
    All,
}

pub struct QueuePage {
    pub items: Vec<WireRow>,
    pub next_cursor: Option<i64>,
}

/// The items the caller reviews, oldest first, after `cursor` (an item id).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn queue(
    db: &Db,
    caller: &Identity,
    status: QueueStatus,
    limit: Limit,
    cursor: Option<i64>,
) -> Result<QueuePage, ApiError> {
    let status = match status {
        QueueStatus::Pending => Some("pending"),
        QueueStatus::Approved => Some("approved"),
        QueueStatus::Rejected => Some("rejected"),
        QueueStatus::All => None,
    };
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "SELECT q.id, pgchat.moderation_item_json(q) FROM moderation_queue q
              WHERE ($1::text IS NULL OR q.status = $1) AND q.id > $2
              ORDER BY q.id LIMIT $3",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[&status, &cursor.unwrap_or(0), &(limit.get() + 1)],
        )
        .await?;
    tx.commit().await?;
    let more = rows.len() as i64 > limit.get();
    let rows = &rows[..rows.len().min(limit.get() as usize)];
    Ok(QueuePage {
        items: rows.iter().map(|r| r.get(1)).collect(),
        next_cursor: if more {
            rows.last().map(|r| r.get(0))
        } else {
            None
        },
    })
}

/// A reviewer's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// Approves or rejects a pending item (`pgchat.moderation_decide`: what it
/// does to the message, the audit row); 404 when the caller does not review it.
#[tracing::instrument(skip(db, caller, reason), fields(user = %caller.sub))]
pub async fn decide(
    db: &Db,
    caller: &Identity,
    item: i64,
    decision: Decision,
    reason: Option<&Reason>,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::Edit, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached("SELECT 1 FROM moderation_queue WHERE id = $1")
        .await?;
    if tx.query_opt(&statement, &[&item]).await?.is_none() {
        return Err(ApiError::NotFound("moderation item"));
    }
    let decision = match decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    };
    let statement = tx
        .prepare_cached("SELECT pgchat.moderation_decide($1, $2, $3)")
        .await?;
    let row = tx
        .query_one(&statement, &[&item, &decision, &reason.map(Reason::as_str)])
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}
