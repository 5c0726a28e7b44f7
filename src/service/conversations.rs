//! The caller's own conversations: a direct conversation with someone (one per
//! pair, also under concurrent creation), the list of mine (pinned first, with
//! the last message and my unread count), my flags (pinned, muted, archived),
//! delete-for-me, the delivered cursor, and the read/delivered state of a
//! message derived from the other members' cursors.

use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::{ConversationKind, Limit, UserId};
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::WireRow;

/// A conversation as its member sees it in their list (sql/05_json.sql);
/// `me` is the caller's membership row (RLS shows it to its owner).
const ITEM: &str = "pgchat.conversation_item(c, me)";

/// Get-or-create the direct conversation of the caller and `peer`. Returns it
/// and whether this call created it. Reopening a conversation I deleted for me
/// brings it back (its older history stays hidden).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn direct(
    db: &Db,
    caller: &Identity,
    peer: &UserId,
) -> Result<(WireRow, bool), ApiError> {
    limits::check(db, Write::RoomCreate, caller)?;
    if peer.as_str() == caller.sub {
        return Err(ApiError::unprocessable(
            "invalid_peer",
            "a direct conversation is with someone else",
        ));
    }
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let known: bool = tx
        .query_one("SELECT pgchat.user_exists($1)", &[&peer.as_str()])
        .await?
        .get(0);
    if !known {
        return Err(ApiError::NotFound("user"));
    }
    let conversation_id = match find_direct(&tx, caller, peer).await? {
        Some(existing) => existing,
        None => {
            // A concurrent creator of the same pair makes our INSERT wait on the
            // unique key, then fail: theirs is then committed and visible.
            // (Not ON CONFLICT: with RLS it would need the new row to be
            // visible to us before our membership exists.)
            let id = Uuid::new_v4();
            tx.batch_execute("SAVEPOINT direct").await?;
            let inserted = tx
                .execute(
                    "INSERT INTO conversations (id, kind, created_by, direct_key)
                     VALUES ($1, 'direct', $2, pgchat.direct_key($2, $3))",
                    &[&id, &caller.sub, &peer.as_str()],
                )
                .await;
            match inserted {
                Ok(_) => {
                    let add = "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'member')";
                    tx.execute(add, &[&id, &caller.sub]).await?;
                    tx.execute(add, &[&id, &peer.as_str()]).await?;
                    let item = item(&tx, caller, id).await?;
                    tx.commit().await?;
                    return Ok((item, true));
                }
                Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    tx.batch_execute("ROLLBACK TO SAVEPOINT direct").await?;
                    find_direct(&tx, caller, peer).await?.ok_or_else(|| {
                        ApiError::conflict("retry", "the conversation is being created; retry")
                    })?
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    // reopening a conversation I deleted for me brings it back
    tx.execute(
        "UPDATE conversation_members SET deleted_at = NULL
          WHERE conversation_id = $1 AND user_id = $2 AND deleted_at IS NOT NULL",
        &[&conversation_id, &caller.sub],
    )
    .await?;
    let item = item(&tx, caller, conversation_id).await?;
    tx.commit().await?;
    Ok((item, false))
}

/// The direct conversation of the caller and `peer`, if it exists.
async fn find_direct(
    tx: &Transaction<'_>,
    caller: &Identity,
    peer: &UserId,
) -> Result<Option<Uuid>, ApiError> {
    let row = tx
        .query_opt(
            "SELECT id FROM conversations WHERE direct_key = pgchat.direct_key($1, $2)",
            &[&caller.sub, &peer.as_str()],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Which of my conversations to list.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListFilter {
    pub kind: Option<ConversationKind>,
    /// Archived ones only (true) or unarchived ones only (false, the default).
    pub archived: bool,
}

/// A position in my list: pinned first, then the most recently active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListCursor {
    pinned: bool,
    active_at: DateTime<Utc>,
    id: Uuid,
}

impl ListCursor {
    pub fn encode(&self) -> String {
        format!(
            "{}_{}_{}",
            u8::from(self.pinned),
            self.active_at.timestamp_micros(),
            self.id.simple()
        )
    }

    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let invalid =
            || ApiError::bad_request("invalid_cursor", "cursor is not one this server issued");
        let mut parts = text.splitn(3, '_');
        let (Some(pinned), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        Ok(Self {
            pinned: match pinned {
                "1" => true,
                "0" => false,
                _ => return Err(invalid()),
            },
            active_at: micros
                .parse()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(invalid)?,
            id: Uuid::parse_str(id).map_err(|_| invalid())?,
        })
    }
}

pub struct ConversationPage {
    pub items: Vec<WireRow>,
    pub next_cursor: Option<ListCursor>,
}

/// My conversations: current memberships, pinned first, then by last activity.
/// One I deleted for me is listed again once a message came after the deletion.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn list(
    db: &Db,
    caller: &Identity,
    filter: ListFilter,
    limit: Limit,
    after: Option<ListCursor>,
) -> Result<ConversationPage, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let sql = format!(
        "SELECT {ITEM}, me.pinned, coalesce(c.last_message_at, c.created_at), c.id
           FROM conversation_members me JOIN conversations c ON c.id = me.conversation_id
          WHERE me.user_id = $1 AND me.left_at IS NULL AND NOT me.banned
            AND (me.deleted_at IS NULL OR c.last_message_seq > me.hidden_before_seq)
            AND me.archived = $2
            AND ($3::text IS NULL OR c.kind = $3)
            AND ($4::boolean IS NULL
                 OR (me.pinned, coalesce(c.last_message_at, c.created_at), c.id) < ($4, $5::timestamptz, $6::uuid))
          ORDER BY me.pinned DESC, coalesce(c.last_message_at, c.created_at) DESC, c.id DESC
          LIMIT $7"
    );
    let statement = tx.prepare_cached(&sql).await?;
    let params: [&(dyn ToSql + Sync); 7] = [
        &caller.sub,
        &filter.archived,
        &filter.kind.map(ConversationKind::as_str),
        &after.map(|c| c.pinned),
        &after.map(|c| c.active_at),
        &after.map(|c| c.id),
        &(limit.get() + 1),
    ];
    let rows = tx.query(&statement, &params).await?;
    tx.commit().await?;
    let more = rows.len() as i64 > limit.get();
    let rows = &rows[..rows.len().min(limit.get() as usize)];
    let next_cursor = rows.last().filter(|_| more).map(|r| ListCursor {
        pinned: r.get(1),
        active_at: r.get(2),
        id: r.get(3),
    });
    Ok(ConversationPage {
        items: rows.iter().map(|r| r.get(0)).collect(),
        next_cursor,
    })
}

/// One of my conversations, as listed.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn get(db: &Db, caller: &Identity, conversation_id: Uuid) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let item = item(&tx, caller, conversation_id).await?;
    tx.commit().await?;
    Ok(item)
}

/// The list item of a conversation the caller is a current member of: 404 if
/// it is not visible, 403 `not_a_member` if visible without membership (an
/// admin, an agent looking at the queue).
pub(crate) async fn item(
    tx: &Transaction<'_>,
    caller: &Identity,
    conversation_id: Uuid,
) -> Result<WireRow, ApiError> {
    let sql = format!(
        "SELECT {ITEM} FROM conversation_members me JOIN conversations c ON c.id = me.conversation_id
          WHERE me.conversation_id = $1 AND me.user_id = $2 AND me.left_at IS NULL AND NOT me.banned"
    );
    let statement = tx.prepare_cached(&sql).await?;
    match tx
        .query_opt(&statement, &[&conversation_id, &caller.sub])
        .await?
    {
        Some(row) => Ok(row.get(0)),
        None => Err(not_member(tx, conversation_id).await),
    }
}

/// The error for a caller without a current membership, as the database
/// says it (`pgchat.refuse_non_member`): 404, or 403 `not_a_member` where
/// they can see the conversation.
pub(crate) async fn not_member(tx: &Transaction<'_>, conversation_id: Uuid) -> ApiError {
    match tx
        .execute("SELECT pgchat.refuse_non_member($1)", &[&conversation_id])
        .await
    {
        Err(error) => error.into(),
        Ok(_) => ApiError::NotFound("conversation"),
    }
}

/// The flags a member sets on their own conversation; absent: unchanged.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub pinned: Option<bool>,
    pub muted: Option<bool>,
    pub archived: Option<bool>,
    /// The language I read this conversation in: `Some(None)` clears it.
    /// As given: the database canonicalizes or refuses it (`invalid_lang`).
    pub lang: Option<Option<String>>,
}

/// Sets my flags; other devices hear of it on the `inbox` topic (`flags`).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn set_flags(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    flags: Flags,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE conversation_members
                SET pinned = coalesce($3, pinned), muted = coalesce($4, muted),
                    archived = coalesce($5, archived),
                    lang = CASE WHEN $6 THEN $7 ELSE lang END
              WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL AND NOT banned",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &conversation_id,
            &caller.sub,
            &flags.pinned,
            &flags.muted,
            &flags.archived,
            &flags.lang.is_some(),
            &flags.lang.as_ref().and_then(|l| l.as_deref()),
        ],
    )
    .await?;
    let item = item(&tx, caller, conversation_id).await?;
    tx.commit().await?;
    Ok(item)
}

/// Deletes the conversation for the caller only: it leaves their list, and
/// everything in it so far stays hidden from them (`hidden_before_seq`, applied
/// by RLS). The other members see no change. A later message brings the
/// conversation back, with only what came after.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn delete_for_me(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE conversation_members cm
                SET deleted_at = now(), hidden_before_seq = c.last_seq, pinned = false
               FROM conversations c
              WHERE c.id = cm.conversation_id AND cm.conversation_id = $1 AND cm.user_id = $2
                AND cm.left_at IS NULL AND NOT cm.banned
             RETURNING pgchat.me_json(cm)",
        )
        .await?;
    let Some(row) = tx
        .query_opt(&statement, &[&conversation_id, &caller.sub])
        .await?
    else {
        return Err(not_member(&tx, conversation_id).await);
    };
    tx.commit().await?;
    Ok(row.get(0))
}

/// Moves the caller's delivered cursor forward to `seq` (never back, never past
/// the conversation's end): the senders' "delivered" ticks. Members see a
/// `delivered` event.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn mark_delivered(
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
            // capped by pgchat.cursor_limit, the rule of both cursors
            "UPDATE conversation_members cm
                SET last_delivered_seq = greatest(cm.last_delivered_seq, least($3, pgchat.cursor_limit($1)))
              WHERE cm.conversation_id = $1 AND cm.user_id = $2
                AND cm.left_at IS NULL AND NOT cm.banned
             RETURNING cm.last_delivered_seq",
        )
        .await?;
    let Some(row) = tx
        .query_opt(&statement, &[&conversation_id, &caller.sub, &seq])
        .await?
    else {
        return Err(not_member(&tx, conversation_id).await);
    };
    tx.commit().await?;
    Ok(row.get(0))
}

/// Who has received and read a message (`pgchat.receipts_json`), read as the
/// caller: 404 for a message they cannot see.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn receipts(db: &Db, caller: &Identity, message_id: Uuid) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached("SELECT r FROM pgchat.receipts_json($1) r WHERE r IS NOT NULL")
        .await?;
    let row = tx
        .query_opt(&statement, &[&message_id])
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    tx.commit().await?;
    Ok(row.get(0))
}
