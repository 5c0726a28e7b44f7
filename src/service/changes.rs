//! A conversation's changes after a cursor, rebuilt from the tables: the
//! backfill of a subscribe with `since`, long polling, SSE resume, and the
//! listener's refill after a gap or an outage. Every row change of a
//! conversation carries a `change_seq`, so "everything after the cursor" is one
//! ordered query; no event log is kept.

use serde_json::Value;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::error::ApiError;

/// The table a change belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Message,
    Session,
    Member,
    /// A room's title, description or settings (`room_updated`).
    Room,
}

impl Table {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "message" => Some(Self::Message),
            "session" => Some(Self::Session),
            "member" => Some(Self::Member),
            "room" => Some(Self::Room),
            _ => None,
        }
    }
}

/// One committed change of a conversation, in wire shape.
#[derive(Clone, Debug)]
pub struct Change {
    pub table: Table,
    /// The client event: message_new, message_updated, message_deleted,
    /// session_updated, member_joined, member_left, read, delivered, member_updated,
    /// room_updated; live only (replayed as message_updated): reaction,
    /// message_pinned, message_unpinned.
    pub event: String,
    pub conversation_id: Uuid,
    pub change_seq: i64,
    /// An internal note: staff only.
    pub internal: bool,
    /// The member concerned (member changes).
    pub user_id: Option<String>,
    pub row: Value,
}

/// Changes after a cursor, oldest first, and how far the conversation had got
/// when they were read: everything up to `snapshot_seq` is in `changes` or is
/// not visible to the reader.
#[derive(Debug)]
pub struct Backlog {
    pub changes: Vec<Change>,
    pub snapshot_seq: i64,
    /// More changes remain below `snapshot_seq` (read the next chunk after the last one).
    pub more: bool,
}

/// `seq > $5` (the reader's original cursor) tells a message created after the
/// cursor from one changed after it, whichever chunk it falls in.
const CHANGES: &str = "
    SELECT * FROM (
      SELECT m.change_seq, 'message' AS t,
             CASE WHEN m.seq > $5 THEN 'message_new'
                  WHEN m.deleted_at IS NOT NULL THEN 'message_deleted'
                  ELSE 'message_updated' END AS ev,
             m.internal, NULL::text AS user_id, pgchat.message_json(m) AS row
        FROM chat_messages m WHERE m.conversation_id = $1 AND m.change_seq > $2 AND m.change_seq <= $3
      UNION ALL
      SELECT s.change_seq, 'session', 'session_updated', false, NULL, pgchat.session_json(s)
        FROM live_chat_sessions s WHERE s.conversation_id = $1 AND s.change_seq > $2 AND s.change_seq <= $3
      UNION ALL
      SELECT cm.change_seq, 'member', pgchat.member_event(cm.last_change), false, cm.user_id, pgchat.member_json(cm)
        FROM conversation_members cm WHERE cm.conversation_id = $1 AND cm.change_seq > $2 AND cm.change_seq <= $3
      UNION ALL
      SELECT c.change_seq, 'room', 'room_updated', false, NULL, pgchat.room_json(c)
        FROM conversations c WHERE c.id = $1 AND c.change_seq > $2 AND c.change_seq <= $3
    ) changes ORDER BY change_seq LIMIT $4";

/// Most changes read in one go; a longer backlog comes in chunks.
pub const CHUNK: i64 = 2000;

/// Where a reader stands in a backlog read chunk by chunk.
#[derive(Clone, Copy, Debug)]
pub struct Position {
    /// The cursor the reader started from.
    pub origin: i64,
    /// The last change read so far.
    pub after: i64,
    /// The snapshot of the first chunk (None: read it now).
    pub upto: Option<i64>,
}

impl Position {
    pub fn start(cursor: i64) -> Self {
        Self {
            origin: cursor,
            after: cursor,
            upto: None,
        }
    }

    /// Where the next chunk starts, after `backlog`.
    pub fn next(self, backlog: &Backlog) -> Self {
        let after = backlog.changes.last().map_or(self.after, |c| c.change_seq);
        Self {
            after,
            upto: Some(backlog.snapshot_seq),
            ..self
        }
    }
}

/// The changes `caller` may see from `at`, at most one chunk. RLS decides
/// visibility; an invisible conversation is a 404.
pub async fn since(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    at: Position,
) -> Result<Backlog, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let backlog = read(&tx, conversation_id, at).await?;
    tx.commit().await?;
    backlog.ok_or(ApiError::NotFound("conversation"))
}

/// Every change after `after` up to `upto`, as the server sees them (for the
/// hub's refill; the hub applies each subscriber's visibility).
pub async fn refill(db: &Db, conversation_id: Uuid, at: Position) -> Result<Backlog, ApiError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let backlog = read(&tx, conversation_id, at).await?;
    tx.commit().await?;
    Ok(backlog.unwrap_or(Backlog {
        changes: Vec::new(),
        snapshot_seq: at.after,
        more: false,
    }))
}

async fn read(
    tx: &Transaction<'_>,
    conversation_id: Uuid,
    at: Position,
) -> Result<Option<Backlog>, ApiError> {
    let statement = tx
        .prepare_cached("SELECT last_seq FROM conversations WHERE id = $1")
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&conversation_id]).await? else {
        return Ok(None);
    };
    let last_seq: i64 = row.get(0);
    let snapshot_seq = at.upto.map_or(last_seq, |u| u.min(last_seq));
    let statement = tx.prepare_cached(CHANGES).await?;
    let rows = tx
        .query(
            &statement,
            &[
                &conversation_id,
                &at.after,
                &snapshot_seq,
                &(CHUNK + 1),
                &at.origin,
            ],
        )
        .await?;
    let more = rows.len() as i64 > CHUNK;
    let changes = rows
        .iter()
        .take(CHUNK as usize)
        .map(|r| Change {
            change_seq: r.get(0),
            table: Table::parse(r.get(1)).expect("the query names known tables"),
            event: r.get(2),
            internal: r.get(3),
            user_id: r.get(4),
            row: r.get(5),
            conversation_id,
        })
        .collect();
    Ok(Some(Backlog {
        changes,
        snapshot_seq,
        more,
    }))
}

/// Where a conversation `caller` can read stands now (its last change_seq).
pub async fn head(db: &Db, caller: &Identity, conversation_id: Uuid) -> Result<i64, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached("SELECT last_seq FROM conversations WHERE id = $1")
        .await?;
    let row = tx.query_opt(&statement, &[&conversation_id]).await?;
    tx.commit().await?;
    row.map(|r| r.get(0))
        .ok_or(ApiError::NotFound("conversation"))
}
