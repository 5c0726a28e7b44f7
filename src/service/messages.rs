//! Messages of every kind of chat: page through by seq, mark read, the
//! inbox snapshot. Sending is `service::send`.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::{Limit, MessageIds};
use crate::error::ApiError;
use crate::service::{conversations, WireRow};

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

/// A page of messages. Each carries its cached translation into `lang` (a
/// tag as the client gave it: the database canonicalizes it or refuses it,
/// `invalid_lang`) or, without one, into the language the caller reads this
/// conversation in (`conversation_members.lang`), when there is one:
/// `translation: {lang, text}` (`pgchat.translation_field`).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn list(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    page: Page,
    limit: Limit,
    lang: Option<&str>,
) -> Result<MessagePage, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    conversation_kind(&tx, conversation_id).await?;
    let (sql, cursor) = match page {
        Page::Before(seq) => (
            "SELECT pgchat.message_json(m)
                    || CASE WHEN l.lang IS NULL THEN '{}'::jsonb ELSE pgchat.translation_field(m, l.lang) END
               FROM chat_messages m,
                    (SELECT coalesce(pgchat.lang_tag($4),
                                     (SELECT me.lang FROM conversation_members me
                                       WHERE me.conversation_id = $1 AND me.user_id = auth.uid())) AS lang) l
              WHERE m.conversation_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3",
            seq.unwrap_or(i64::MAX),
        ),
        Page::After(seq) => (
            "SELECT pgchat.message_json(m)
                    || CASE WHEN l.lang IS NULL THEN '{}'::jsonb ELSE pgchat.translation_field(m, l.lang) END
               FROM chat_messages m,
                    (SELECT coalesce(pgchat.lang_tag($4),
                                     (SELECT me.lang FROM conversation_members me
                                       WHERE me.conversation_id = $1 AND me.user_id = auth.uid())) AS lang) l
              WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3",
            seq,
        ),
    };
    let statement = tx.prepare_cached(sql).await?;
    let rows = tx
        .query(
            &statement,
            &[&conversation_id, &cursor, &(limit.get() + 1), &lang],
        )
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

/// How far a mark-read goes: up to a seq, or up to the newest of some
/// messages (read by ids: the cursor's meaning does not change — everything
/// up to the newest of them that the caller can see counts as read).
#[derive(Clone, Debug)]
pub enum ReadUpTo {
    Seq(i64),
    Messages(MessageIds),
}

impl From<i64> for ReadUpTo {
    fn from(seq: i64) -> Self {
        Self::Seq(seq)
    }
}

impl ReadUpTo {
    /// Exactly one of the two forms a request may carry.
    pub fn from_parts(seq: Option<i64>, ids: Option<MessageIds>) -> Result<Self, ApiError> {
        match (seq, ids) {
            (Some(seq), None) => Ok(Self::Seq(seq)),
            (None, Some(ids)) => Ok(Self::Messages(ids)),
            _ => Err(ApiError::bad_request(
                "seq_or_message_ids",
                "give either seq or message_ids",
            )),
        }
    }
}

/// Moves the caller's read cursor forward (never back, never past the
/// conversation's end) and returns where it stands. By ids, the cursor moves
/// to the newest of them that is a message of this conversation the caller
/// can see (RLS: not an internal note to a customer, not one hidden for
/// them); the others are ignored, and 404 when none is.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn mark_read(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    upto: impl Into<ReadUpTo> + std::fmt::Debug,
) -> Result<i64, ApiError> {
    let upto = upto.into();
    if let ReadUpTo::Seq(seq) = upto {
        if seq < 0 {
            return Err(ApiError::bad_request(
                "invalid_seq",
                "seq must not be negative",
            ));
        }
    }
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let seq = match upto {
        ReadUpTo::Seq(seq) => seq,
        ReadUpTo::Messages(ids) => {
            let statement = tx
                .prepare_cached(
                    "SELECT max(m.seq) FROM chat_messages m
                      WHERE m.conversation_id = $1 AND m.id = ANY($2)",
                )
                .await?;
            tx.query_one(&statement, &[&conversation_id, &ids.ids()])
                .await?
                .get::<_, Option<i64>>(0)
                .ok_or(ApiError::NotFound("message"))?
        }
    };
    let statement = tx
        .prepare_cached(
            // capped by pgchat.cursor_limit, the rule of both cursors
            "WITH top AS (SELECT pgchat.cursor_limit($1) AS seq)
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
                None => return Err(conversations::not_member(&tx, conversation_id).await),
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
            "SELECT pgchat.inbox_item(c, me)
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
