//! The one-message path: a send in a transaction of its own, with every rule
//! that needs more than the set-based batch (`batch`) does — a support reply
//! that claims the session or is its first response, an attachment, a poll — and the
//! precise error of a refusal. Also system notices, inside other operations'
//! transactions.

use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::error::ApiError;
use crate::service::send::{NewMessage, Sent};
use crate::service::{support, WireRow};

/// Sends one message in a transaction of its own. The rules are the
/// database's: the insert trigger raises why a message may not be written
/// (`pgchat.message_write_check`: banned, silenced, session_ended, ...) and
/// RLS stays the authority; the batch path (sql/25_send_batch.sql) asks the
/// same `pgchat.write_refusal` and hands anything unusual back here.
pub(crate) async fn send(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    new: NewMessage,
) -> Result<Sent, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let sent = send_in(&tx, caller, conversation_id, &new).await?;
    if sent.created {
        tx.commit().await?;
    } else {
        // A retry changes nothing. (One that raced the original through the
        // INSERT has already taken a seq number in the BEFORE trigger.)
        tx.rollback().await?;
    }
    Ok(sent)
}

/// Sends `sends` all or nothing, in order, in one transaction as `caller`:
/// each through [`send_in`] (every rule, and a refusal's precise error), a
/// retry of a stored message answered without writing (its savepoint is
/// rolled back). The first refusal rolls everything back and says which
/// send it was (its index).
pub(crate) async fn send_all(
    db: &Db,
    caller: &Identity,
    sends: Vec<(Uuid, NewMessage)>,
) -> Result<Vec<Sent>, (usize, ApiError)> {
    let mut client = db.client().await.map_err(|e| (0, e))?;
    let mut tx = db.begin_as(&mut client, caller).await.map_err(|e| (0, e))?;
    let mut answers = Vec::with_capacity(sends.len());
    for (i, (conversation_id, new)) in sends.into_iter().enumerate() {
        let sent = async {
            let item = tx.savepoint("send_item").await?;
            let sent = send_in(&item, caller, conversation_id, &new).await?;
            if sent.created {
                item.commit().await?;
            } else {
                item.rollback().await?;
            }
            Ok(sent)
        };
        answers.push(sent.await.map_err(|e: ApiError| (i, e))?);
    }
    tx.commit().await.map_err(|e| (answers.len(), e.into()))?;
    Ok(answers)
}

/// Sends within a transaction already running as `caller`. When the result is
/// a retry (`created == false`) the transaction must be rolled back, not committed.
pub async fn send_in(
    tx: &Transaction<'_>,
    caller: &Identity,
    conversation_id: Uuid,
    new: &NewMessage,
) -> Result<Sent, ApiError> {
    if let Some(existing) = find_by_client_id(tx, caller, new.client_msg_id).await? {
        return retried(existing, conversation_id);
    }
    if caller.role.is_staff() {
        support::before_staff_message(tx, caller, conversation_id, new.internal).await?;
    } else {
        support::before_customer_message(tx, caller, conversation_id).await?;
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, client_msg_id, kind, body, reply_to, internal, attachment_id, poll)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (sender_id, client_msg_id) DO NOTHING
             RETURNING pgchat.message_json(chat_messages.*)",
        )
        .await?;
    let poll = new.poll.as_ref().map(|poll| poll.to_json());
    let params: [&(dyn ToSql + Sync); 10] = [
        &conversation_id,
        &caller.sub,
        &caller.role.as_str(),
        &new.client_msg_id,
        &new.kind.as_str(),
        &new.body.as_str(),
        &new.reply_to,
        &new.internal,
        &new.attachment_id,
        &poll,
    ];
    match tx.query_opt(&statement, &params).await? {
        Some(row) => Ok(Sent {
            message: row.get(0),
            created: true,
        }),
        // A concurrent retry with the same client_msg_id committed first.
        None => match find_by_client_id(tx, caller, new.client_msg_id).await? {
            Some(existing) => retried(existing, conversation_id),
            None => Err(ApiError::conflict(
                "retry",
                "a concurrent send is in progress; retry",
            )),
        },
    }
}

/// A system notice (someone joined, the chat ended) in the caller's name.
pub async fn send_system(
    tx: &Transaction<'_>,
    caller: &Identity,
    conversation_id: Uuid,
    body: &str,
) -> Result<WireRow, ApiError> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body)
             VALUES ($1, $2, 'system', 'system', $3)
             RETURNING pgchat.message_json(chat_messages.*)",
        )
        .await?;
    Ok(tx
        .query_one(&statement, &[&conversation_id, &caller.sub, &body])
        .await?
        .get(0))
}

fn retried(existing: (Uuid, WireRow), conversation_id: Uuid) -> Result<Sent, ApiError> {
    let (stored_in, message) = existing;
    if stored_in != conversation_id {
        return Err(ApiError::conflict(
            "client_msg_id_reused",
            "this client_msg_id was already used for a message in another conversation",
        ));
    }
    Ok(Sent {
        message,
        created: false,
    })
}

pub(crate) async fn find_by_client_id(
    tx: &Transaction<'_>,
    caller: &Identity,
    client_msg_id: Uuid,
) -> Result<Option<(Uuid, WireRow)>, ApiError> {
    let statement = tx
        .prepare_cached(
            "SELECT m.conversation_id, pgchat.message_json(m) FROM chat_messages m
              WHERE m.sender_id = $1 AND m.client_msg_id = $2",
        )
        .await?;
    let row = tx
        .query_opt(&statement, &[&caller.sub, &client_msg_id])
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}
