//! What can happen to a message after it is sent, in every kind of chat: its
//! sender edits it (`edited_at`); its sender or a room moderator deletes it
//! (a tombstone: body, reactions and pin removed, place kept); members react
//! (a per-emoji summary on the message). Each is an UPDATE of the message row,
//! so it takes a change_seq and reaches subscribers live and on resume.
//!
//! Every path here locks the message row before anything else it writes
//! (`facts`), the one lock order of ARCHITECTURE.md: concurrent adds and
//! removes of a reaction wait for each other instead of deadlocking.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::{Emoji, MessageBody};
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::WireRow;

/// What decides what the caller may do with a message they can see.
struct Facts {
    mine: bool,
    deleted: bool,
    kind: String,
    may_write: bool,
    may_moderate: bool,
    may_react: bool,
}

/// Locks the message (the first lock of every path that touches a message and
/// its satellites: `pgchat.lock_message`), then reads what decides, as it is
/// once locked. 404 when the message is absent or invisible to the caller (RLS).
async fn facts(tx: &Transaction<'_>, message: Uuid) -> Result<Facts, ApiError> {
    let lock = tx.prepare_cached("SELECT pgchat.lock_message($1)").await?;
    tx.execute(&lock, &[&message]).await?;
    let statement = tx
        .prepare_cached(
            "SELECT m.sender_id = auth.uid(), m.deleted_at IS NOT NULL, m.kind,
                    pgchat.can_write(m.conversation_id, auth.uid(), auth.role()),
                    pgchat.can_moderate(m.conversation_id, auth.uid(), auth.role()),
                    pgchat.can_react(m.conversation_id, auth.uid(), auth.role())
               FROM chat_messages m WHERE m.id = $1",
        )
        .await?;
    let row = tx
        .query_opt(&statement, &[&message])
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    Ok(Facts {
        mine: row.get::<_, Option<bool>>(0).unwrap_or(false),
        deleted: row.get(1),
        kind: row.get(2),
        may_write: row.get(3),
        may_moderate: row.get(4),
        may_react: row.get(5),
    })
}

async fn message_json(tx: &Transaction<'_>, message: Uuid) -> Result<WireRow, ApiError> {
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
    let facts = facts(&tx, message).await?;
    if !facts.mine {
        return Err(ApiError::forbidden(
            "not_your_message",
            "you may only edit your own messages",
        ));
    }
    if facts.deleted {
        return Err(ApiError::conflict(
            "message_deleted",
            "a deleted message cannot be edited",
        ));
    }
    if matches!(facts.kind.as_str(), "system" | "ai_response") {
        return Err(ApiError::unprocessable(
            "not_editable",
            "system messages cannot be edited",
        ));
    }
    if !facts.may_write {
        return Err(ApiError::forbidden(
            "cannot_write",
            "you may no longer write in this conversation",
        ));
    }
    let statement = tx
        .prepare_cached(
            "UPDATE chat_messages SET body = $2, edited_at = now()
              WHERE id = $1 AND body IS DISTINCT FROM $2",
        )
        .await?;
    tx.execute(&statement, &[&message, &body.as_str()]).await?;
    let json = message_json(&tx, message).await?;
    tx.commit().await?;
    Ok(json)
}

/// Deletes a message: its sender, or a moderator of its room. The message
/// stays as a tombstone (`deleted_at`, `deleted_by`, empty body); deleting
/// again changes nothing.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn delete(db: &Db, caller: &Identity, message: Uuid) -> Result<WireRow, ApiError> {
    limits::check(db, Write::Edit, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let facts = facts(&tx, message).await?;
    if !facts.mine && !facts.may_moderate {
        return Err(ApiError::forbidden(
            "not_your_message",
            "only its sender or a moderator deletes a message",
        ));
    }
    if !facts.deleted {
        // the rules trigger empties the body, reactions and pin
        let statement = tx
            .prepare_cached("UPDATE chat_messages SET deleted_at = now(), body = '' WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&message]).await?;
    }
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
    let facts = facts(&tx, message).await?;
    if add {
        if facts.deleted {
            return Err(ApiError::conflict(
                "message_deleted",
                "a deleted message takes no reactions",
            ));
        }
        if !facts.may_react {
            return Err(ApiError::forbidden(
                "cannot_react",
                "only current members who may speak react here",
            ));
        }
        let mine: i64 = tx
            .query_one(
                "SELECT count(*) FROM message_reactions WHERE message_id = $1 AND user_id = $2",
                &[&message, &caller.sub],
            )
            .await?
            .get(0);
        if mine >= 20 {
            return Err(ApiError::unprocessable(
                "too_many_reactions",
                "at most 20 reactions per person on one message",
            ));
        }
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
