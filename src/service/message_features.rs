//! What can happen to a message after it is sent, in every kind of chat: its
//! sender edits it (`edited_at`); its sender or a room moderator deletes it
//! (a tombstone: body, reactions and pin removed, place kept); members react
//! (a per-emoji summary on the message). Each is an UPDATE of the message row,
//! so it takes a change_seq and reaches subscribers live and on resume. A
//! reader may also hide a message for themselves alone (`hide`: a row of
//! `hidden_messages`, which the messages policy and resume read).
//!
//! Every path here locks the message row before anything else it writes
//! (`lock`), the one lock order of ARCHITECTURE.md: concurrent adds and
//! removes of a reaction wait for each other instead of deadlocking. Who may
//! do what is decided in SQL (the rules triggers), which says why it refuses.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::{Emoji, MessageBody};
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::WireRow;

/// Locks the message (the first lock of every path that touches a message and
/// its satellites: `pgchat.lock_message`). 404 when it is absent or invisible
/// to the caller (the SELECT policy: an internal note to a customer, say).
/// What the caller may then do is the rules triggers' to decide
/// (sql/45_rooms.sql), which refuse with the reason.
pub(crate) async fn lock(tx: &Transaction<'_>, message: Uuid) -> Result<(), ApiError> {
    let lock = tx
        .prepare_cached(
            "SELECT pgchat.lock_message($1) AND EXISTS (SELECT 1 FROM chat_messages WHERE id = $1)",
        )
        .await?;
    match tx.query_one(&lock, &[&message]).await?.get(0) {
        true => Ok(()),
        false => Err(ApiError::NotFound("message")),
    }
}

/// A message as the caller sees it (after a change made in `tx`).
pub(crate) async fn message_json(tx: &Transaction<'_>, message: Uuid) -> Result<WireRow, ApiError> {
    let statement = tx
        .prepare_cached("SELECT pgchat.message_json(m) FROM chat_messages m WHERE m.id = $1")
        .await?;
    let row = tx
        .query_opt(&statement, &[&message])
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    Ok(row.get(0))
}

/// Edits one's own message. The same body again changes nothing.
#[tracing::instrument(skip(db, caller, body), fields(user = %caller.sub))]
pub async fn edit(
    db: &Db,
    caller: &Identity,
    message: Uuid,
    body: MessageBody,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::Edit, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    lock(&tx, message).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE chat_messages
                SET body = $2, edited_at = CASE WHEN body IS DISTINCT FROM $2 THEN now() ELSE edited_at END
              WHERE id = $1",
        )
        .await?;
    tx.execute(&statement, &[&message, &body.as_str()]).await?;
    let json = message_json(&tx, message).await?;
    tx.commit().await?;
    Ok(json)
}

/// Deletes a message: its sender, or a moderator of its room. The message
/// stays as a tombstone (`deleted_at`, `deleted_by`, empty body: the rules
/// trigger empties it); deleting again changes nothing.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn delete(db: &Db, caller: &Identity, message: Uuid) -> Result<WireRow, ApiError> {
    limits::check(db, Write::Edit, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    lock(&tx, message).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE chat_messages SET deleted_at = coalesce(deleted_at, now()) WHERE id = $1",
        )
        .await?;
    tx.execute(&statement, &[&message]).await?;
    let json = message_json(&tx, message).await?;
    tx.commit().await?;
    Ok(json)
}

/// Adds (`add`) or takes back the caller's reaction; either is idempotent.
/// The message's `reactions` summary follows, and members see a `reaction` event.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn react(
    db: &Db,
    caller: &Identity,
    message: Uuid,
    emoji: &Emoji,
    add: bool,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::React, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    lock(&tx, message).await?;
    if add {
        let statement = tx
            .prepare_cached(
                "INSERT INTO message_reactions (message_id, emoji, user_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(&statement, &[&message, &emoji.as_str(), &caller.sub])
            .await?;
    } else {
        let statement = tx
            .prepare_cached(
                "DELETE FROM message_reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
            )
            .await?;
        tx.execute(&statement, &[&message, &emoji.as_str(), &caller.sub])
            .await?;
    }
    let json = message_json(&tx, message).await?;
    tx.commit().await?;
    Ok(json)
}

/// Hides a message for the caller alone (delete for me): their history,
/// search, unread counts and resume skip it from now on (the messages policy
/// and `pgchat.changes`); nobody else's view changes. Hiding it again changes
/// nothing. 404 when the caller cannot read it.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn hide(db: &Db, caller: &Identity, message: Uuid) -> Result<(), ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO hidden_messages (user_id, message_id)
             SELECT $2::text, m.id FROM chat_messages m WHERE m.id = $1
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&statement, &[&message, &caller.sub]).await?;
    // hidden now, or before (then no longer readable above)
    let hidden = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM hidden_messages WHERE message_id = $1 AND user_id = $2)",
        )
        .await?;
    if !tx
        .query_one(&hidden, &[&message, &caller.sub])
        .await?
        .get::<_, bool>(0)
    {
        return Err(ApiError::NotFound("message"));
    }
    tx.commit().await?;
    Ok(())
}
