//! Polls: voting, changing and taking back a vote, closing a poll. A ballot is
//! a row of `poll_votes` written as the caller (RLS: your own, on a poll you
//! can see, where you may write); a trigger rewrites the poll's results on the
//! message, which takes a change_seq, so every member sees `message_updated`
//! live and on resume. The rules — closed, deleted, which indexes — are the
//! database's (sql/46_polls.sql), which says why it refuses.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::poll::Ballot;
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::message_features::{lock, message_json};
use crate::service::WireRow;

/// Casts the caller's ballot, replacing any earlier one; the message with its results.
#[tracing::instrument(skip(db, caller, ballot), fields(user = %caller.sub))]
pub async fn vote(
    db: &Db,
    caller: &Identity,
    message: Uuid,
    ballot: &Ballot,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::React, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    lock(&tx, message).await?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO poll_votes (message_id, user_id, options) VALUES ($1, $2, $3)
             ON CONFLICT (message_id, user_id) DO UPDATE SET options = EXCLUDED.options",
        )
        .await?;
    tx.execute(&statement, &[&message, &caller.sub, &ballot.options()])
        .await?;
    let json = message_json(&tx, message).await?;
    tx.commit().await?;
    Ok(json)
}

/// Takes the caller's ballot back (none: nothing changes); the message with its results.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn unvote(db: &Db, caller: &Identity, message: Uuid) -> Result<WireRow, ApiError> {
    limits::check(db, Write::React, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    lock(&tx, message).await?;
    let statement = tx
        .prepare_cached("DELETE FROM poll_votes WHERE message_id = $1 AND user_id = $2")
        .await?;
    tx.execute(&statement, &[&message, &caller.sub]).await?;
    let json = message_json(&tx, message).await?;
    tx.commit().await?;
    Ok(json)
}

/// Closes a poll before its time: its author or a moderator (`pgchat.close_poll`).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn close(db: &Db, caller: &Identity, message: Uuid) -> Result<WireRow, ApiError> {
    limits::check(db, Write::Edit, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    lock(&tx, message).await?;
    let statement = tx.prepare_cached("SELECT pgchat.close_poll($1)").await?;
    if !tx
        .query_one(&statement, &[&message])
        .await?
        .get::<_, bool>(0)
    {
        return Err(ApiError::NotFound("message"));
    }
    let json = message_json(&tx, message).await?;
    tx.commit().await?;
    Ok(json)
}
