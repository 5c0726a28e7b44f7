//! Messages of every kind of chat: send (idempotent by `client_msg_id`), page
//! through by seq, mark read.

use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::{Limit, MessageBody, MessageKind};
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::{attachments, group_commit, support, WireRow};

/// A message as a client sends it.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub client_msg_id: Uuid,
    pub body: MessageBody,
    pub kind: MessageKind,
    pub reply_to: Option<Uuid>,
    pub internal: bool,
    /// A completed upload of the sender's in this conversation (see `service::attachments`).
    pub attachment_id: Option<Uuid>,
}

/// The stored message, and whether this call stored it (false: a retry).
#[derive(Clone, Debug)]
pub struct Sent {
    pub message: WireRow,
    pub created: bool,
}

/// Sends a message: through group commit when the server runs it (the
/// default), otherwise alone. Either way the answer comes after COMMIT.
#[tracing::instrument(skip(db, caller, new), fields(user = %caller.sub))]
pub async fn send(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    new: NewMessage,
) -> Result<Sent, ApiError> {
    submit(db, caller, conversation_id, new).await?.await
}

/// Queues a send and returns its answer to await, so a connection can have
/// several sends in flight; a sender's sends are stored in the order queued.
pub async fn submit(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    new: NewMessage,
) -> Result<futures::future::BoxFuture<'static, Result<Sent, ApiError>>, ApiError> {
    limits::check(db, Write::Send, caller)?;
    use futures::FutureExt;
    match db.send_batcher() {
        Some(batcher) => {
            let answer = batcher.submit(caller, conversation_id, new)?;
            Ok(async move { answer.await.map_err(|_| group_commit::interrupted())? }.boxed())
        }
        None => {
            let sent = send_one(db, caller, conversation_id, new).await;
            Ok(futures::future::ready(sent).boxed())
        }
    }
}

/// Sends one message in a transaction of its own, applying every rule. The
/// batch path (sql/25_send_batch.sql) relies on the database alone (RLS and
/// `pgchat.can_write`) and hands anything unusual back here; so a rule that
/// checks are made here for must also be enforced in SQL.
pub(crate) async fn send_one(
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

/// Sends within a transaction already running as `caller`. When the result is
/// a retry (`created == false`) the transaction must be rolled back, not committed.
pub(crate) async fn send_in(
    tx: &Transaction<'_>,
    caller: &Identity,
    conversation_id: Uuid,
    new: &NewMessage,
) -> Result<Sent, ApiError> {
    if let Some(existing) = find_by_client_id(tx, caller, new.client_msg_id).await? {
        return retried(existing, conversation_id);
    }
    if new.internal && !caller.role.is_staff() {
        return Err(ApiError::forbidden(
            "staff_only",
            "only agents and admins write internal notes",
        ));
    }
    let kind = conversation_kind(tx, conversation_id).await?;
    if kind == "support" {
        support::before_message(tx, caller, conversation_id, new.internal).await?;
    }
    if let Some(parent) = new.reply_to {
        check_reply_target(tx, conversation_id, parent).await?;
    }
    let kind = match new.attachment_id {
        Some(attachment) => {
            attachments::message_kind(tx, caller, conversation_id, attachment, new.kind).await?
        }
        None => new.kind,
    };
    let statement = tx
        .prepare_cached(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, client_msg_id, kind, body, reply_to, internal, attachment_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (sender_id, client_msg_id) DO NOTHING
             RETURNING pgchat.message_json(chat_messages.*)",
        )
        .await?;
    let params: [&(dyn ToSql + Sync); 9] = [
        &conversation_id,
        &caller.sub,
        &caller.role.as_str(),
        &new.client_msg_id,
        &kind.as_str(),
        &new.body.as_str(),
        &new.reply_to,
        &new.internal,
        &new.attachment_id,
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
pub(crate) async fn send_system(
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

/// The conversation's kind, or 404 when it does not exist or is not visible.
pub(crate) async fn conversation_kind(
    tx: &Transaction<'_>,
    conversation_id: Uuid,
) -> Result<String, ApiError> {
    let statement = tx
        .prepare_cached("SELECT kind FROM conversations WHERE id = $1")
        .await?;
    let row = tx.query_opt(&statement, &[&conversation_id]).await?;
    row.map(|r| r.get(0))
        .ok_or(ApiError::NotFound("conversation"))
}

async fn check_reply_target(
    tx: &Transaction<'_>,
    conversation_id: Uuid,
    parent: Uuid,
) -> Result<(), ApiError> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM chat_messages WHERE id = $1 AND conversation_id = $2")
        .await?;
    match tx
        .query_opt(&statement, &[&parent, &conversation_id])
        .await?
    {
        Some(_) => Ok(()),
        None => Err(ApiError::unprocessable(
            "invalid_reply_to",
            "reply_to must name a message of this conversation",
        )),
    }
}

/// Which page of a conversation's messages.
#[derive(Clone, Copy, Debug)]
pub enum Page {
    /// The newest messages below `seq` (no seq: the newest of all).
    Before(Option<i64>),
    /// The oldest messages above `seq`.
    After(i64),
}

#[derive(Debug)]
pub struct MessagePage {
    pub items: Vec<WireRow>,
    pub has_more: bool,
}

#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn list(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    page: Page,
    limit: Limit,
) -> Result<MessagePage, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    conversation_kind(&tx, conversation_id).await?;
    let (sql, cursor) = match page {
        Page::Before(seq) => (
            "SELECT pgchat.message_json(m) FROM chat_messages m
              WHERE m.conversation_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3",
            seq.unwrap_or(i64::MAX),
        ),
        Page::After(seq) => (
            "SELECT pgchat.message_json(m) FROM chat_messages m
              WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3",
            seq,
        ),
    };
    let statement = tx.prepare_cached(sql).await?;
    let rows = tx
        .query(&statement, &[&conversation_id, &cursor, &(limit.get() + 1)])
        .await?;
    tx.commit().await?;
    let has_more = rows.len() as i64 > limit.get();
    let mut items: Vec<WireRow> = rows
        .iter()
        .take(limit.get() as usize)
        .map(|r| r.get(0))
        .collect();
    if matches!(page, Page::Before(_)) {
        items.reverse();
    }
    Ok(MessagePage { items, has_more })
}

/// Moves the caller's read cursor forward to `seq` (never back, never past the
/// conversation's end) and returns where it stands.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn mark_read(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    seq: i64,
) -> Result<i64, ApiError> {
    if seq < 0 {
        return Err(ApiError::bad_request(
            "invalid_seq",
            "seq must not be negative",
        ));
    }
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            // Capped at the newest message the caller can see: a read cursor
            // points at a message, and marking read (itself a change that takes
            // a seq) must not chase the conversation's counter.
            "WITH top AS (SELECT coalesce(max(m.seq), 0) AS seq FROM chat_messages m WHERE m.conversation_id = $1)
             UPDATE conversation_members cm
                SET last_read_seq = least($2, top.seq),
                    last_delivered_seq = greatest(cm.last_delivered_seq, least($2, top.seq))
               FROM top
              WHERE cm.conversation_id = $1 AND cm.user_id = $3
                AND cm.left_at IS NULL AND cm.last_read_seq < least($2, top.seq)
             RETURNING cm.last_read_seq",
        )
        .await?;
    let updated = tx
        .query_opt(&statement, &[&conversation_id, &seq, &caller.sub])
        .await?;
    let position = match updated {
        Some(row) => row.get(0),
        None => {
            let statement = tx
                .prepare_cached(
                    "SELECT last_read_seq FROM conversation_members
                      WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL",
                )
                .await?;
            match tx
                .query_opt(&statement, &[&conversation_id, &caller.sub])
                .await?
            {
                Some(row) => row.get(0),
                None => {
                    conversation_kind(&tx, conversation_id).await?;
                    return Err(ApiError::forbidden(
                        "not_a_member",
                        "you are not a member of this conversation",
                    ));
                }
            }
        }
    };
    tx.commit().await?;
    Ok(position)
}

/// The caller's conversations with their unread counts: what an `inbox`
/// subscriber starts from before live events update it.
pub async fn inbox_snapshot(db: &Db, caller: &Identity) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "SELECT jsonb_build_object(
                      'conversation_id', c.id, 'kind', c.kind, 'title', c.title,
                      'last_seq', c.last_seq, 'last_message_at', pgchat.ts(c.last_message_at),
                      'unread', (SELECT count(*) FROM chat_messages m
                                  WHERE m.conversation_id = c.id AND m.seq > me.last_read_seq
                                    AND m.sender_id IS DISTINCT FROM me.user_id
                                    AND m.kind <> 'system' AND m.deleted_at IS NULL))
                    || pgchat.flags_json(me)
               FROM conversation_members me JOIN conversations c ON c.id = me.conversation_id
              WHERE me.user_id = $1 AND me.left_at IS NULL AND NOT me.banned
                AND (me.deleted_at IS NULL OR c.last_message_seq > me.hidden_before_seq)
              ORDER BY me.pinned DESC, c.last_message_at DESC NULLS LAST
              LIMIT 500",
        )
        .await?;
    let rows = tx.query(&statement, &[&caller.sub]).await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
