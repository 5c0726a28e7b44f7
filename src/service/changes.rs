//! A conversation's changes after a cursor, rebuilt from the tables: the
//! backfill of a subscribe with `since`, long polling, SSE resume, and the
//! listener's refill after a gap or an outage. Every row change of a
//! conversation carries a `change_seq`, so "everything after the cursor" is one
//! ordered query; no event log is kept.

use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::auth::Identity;

use crate::db::Db;
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
    fn parse(name: &str) -> Option<Self> {
        match name {
            "message" => Some(Self::Message),
            "session" => Some(Self::Session),
            "member" => Some(Self::Member),
            "room" => Some(Self::Room),
            _ => None,
        }
    }
}

/// The client event of a committed change, named once: the wire `type` of
/// its frame, and the `ev` of NOTIFY payloads and of `pgchat.changes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeEvent {
    MessageNew,
    MessageUpdated,
    MessageDeleted,
    /// Live only (replayed as message_updated), like the two pin events.
    Reaction,
    MessagePinned,
    MessageUnpinned,
    SessionUpdated,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
    Read,
    Delivered,
    RoomUpdated,
}

impl ChangeEvent {
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(Value::String(name.to_owned())).ok()
    }

    /// A change after which some subscribers may have lost access.
    pub fn may_revoke(self) -> bool {
        matches!(
            self,
            Self::SessionUpdated | Self::MemberLeft | Self::MemberUpdated
        )
    }
}

/// One committed change of a conversation, in wire shape.
#[derive(Clone, Debug)]
pub struct Change {
    pub table: Table,
    pub event: ChangeEvent,
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

/// The changes `caller` may see from `at`, at most one chunk, read by
/// `pgchat.changes_as_caller` (the visibility RLS gives, decided once for the
/// conversation rather than per row). An invisible conversation is a 404.
pub async fn since(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    at: Position,
) -> Result<Backlog, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached("SELECT * FROM pgchat.changes_as_caller($1, $2, $3, $4, $5)")
        .await?;
    let rows = tx
        .query(
            &statement,
            &[
                &conversation_id,
                &at.after,
                &at.upto.unwrap_or(i64::MAX),
                &at.origin,
                &(CHUNK + 1),
            ],
        )
        .await?;
    tx.commit().await?;
    let (header, rows) = rows
        .split_first()
        .ok_or(ApiError::NotFound("conversation"))?;
    let head: i64 = header.get("head");
    let snapshot_seq = at.upto.map_or(head, |upto| upto.min(head));
    let rows: Vec<&Row> = rows.iter().collect();
    Ok(backlog(conversation_id, &rows, snapshot_seq))
}

/// Every change after `after` up to `upto`, as the server sees them (for the
/// hub's refill; the hub applies each subscriber's visibility). None: the
/// conversation is gone (deleted).
pub async fn refill(
    db: &Db,
    conversation_id: Uuid,
    at: Position,
) -> Result<Option<Backlog>, ApiError> {
    let range = Range {
        conversation_id,
        after: at.after,
        upto: at.upto.unwrap_or(i64::MAX),
        origin: at.origin,
    };
    let mut backlogs = fetch(db, &[range]).await?;
    Ok(backlogs.pop().map(|(_, backlog)| backlog))
}

/// A range of one conversation's changes for the server to read.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub conversation_id: Uuid,
    pub after: i64,
    pub upto: i64,
    /// The reader's original cursor (see `Position::origin`).
    pub origin: i64,
}

/// Several conversations' ranges in one query, at most one chunk each, as the
/// server sees them: the listener's fan-out of what the triggers announced.
/// Conversations that no longer exist are left out.
pub async fn fetch(db: &Db, ranges: &[Range]) -> Result<Vec<(Uuid, Backlog)>, ApiError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached("SELECT * FROM pgchat.changes_of($1, $2, $3, $4, $5)")
        .await?;
    let ids: Vec<Uuid> = ranges.iter().map(|r| r.conversation_id).collect();
    let afters: Vec<i64> = ranges.iter().map(|r| r.after).collect();
    let uptos: Vec<i64> = ranges.iter().map(|r| r.upto).collect();
    let origins: Vec<i64> = ranges.iter().map(|r| r.origin).collect();
    let rows = client
        .query(&statement, &[&ids, &afters, &uptos, &origins, &(CHUNK + 1)])
        .await?;
    // rows come grouped by range, in the ranges' order (each conversation once)
    let uptos: std::collections::HashMap<Uuid, i64> =
        ranges.iter().map(|r| (r.conversation_id, r.upto)).collect();
    Ok(rows
        .chunk_by(|a, b| a.get::<_, Uuid>(0) == b.get::<_, Uuid>(0))
        .map(|group| {
            let c: Uuid = group[0].get(0);
            let head: i64 = group[0].get("head");
            // a conversation without changes in range is one row of NULLs
            let changes: Vec<&Row> = group
                .iter()
                .filter(|r| r.get::<_, Option<i64>>("change_seq").is_some())
                .collect();
            (c, backlog(c, &changes, uptos[&c].min(head)))
        })
        .collect())
}

/// Rows of `pgchat.changes` (columns change_seq, t, ev, internal, user_id,
/// wire) as a backlog; more than `CHUNK` rows means more remain.
fn backlog(conversation_id: Uuid, rows: &[&Row], snapshot_seq: i64) -> Backlog {
    let more = rows.len() as i64 > CHUNK;
    let changes = rows
        .iter()
        .take(CHUNK as usize)
        .filter_map(|r| change(conversation_id, r))
        .collect();
    Backlog {
        changes,
        snapshot_seq,
        more,
    }
}

/// One row of `pgchat.changes`; None for a kind this server does not know
/// (a newer server's change, logged).
fn change(conversation_id: Uuid, row: &Row) -> Option<Change> {
    let (t, ev): (&str, &str) = (row.get("t"), row.get("ev"));
    let (Some(table), Some(event)) = (Table::parse(t), ChangeEvent::parse(ev)) else {
        tracing::warn!(table = t, event = ev, "unknown change");
        return None;
    };
    Some(Change {
        table,
        event,
        conversation_id,
        change_seq: row.get("change_seq"),
        internal: row.get("internal"),
        user_id: row.get("user_id"),
        row: row.get("wire"),
    })
}

/// Where a conversation `caller` can read stands now (its last change_seq).
pub async fn head(db: &Db, caller: &Identity, conversation_id: Uuid) -> Result<i64, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached("SELECT head FROM pgchat.changes_as_caller($1, 0, 0, 0, 0)")
        .await?;
    let row = tx.query_opt(&statement, &[&conversation_id]).await?;
    tx.commit().await?;
    row.map(|r| r.get(0))
        .ok_or(ApiError::NotFound("conversation"))
}

/// The messages of a conversation the caller hid for themselves (delete for
/// me), whose live changes their session drops (`pgchat.my_hidden_in`).
pub async fn hidden(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
) -> Result<Vec<Uuid>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx.prepare_cached("SELECT pgchat.my_hidden_in($1)").await?;
    let rows = tx.query(&statement, &[&conversation_id]).await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
