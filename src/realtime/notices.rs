//! Notices for those who decide: a new review-queue item (`moderation_queued`)
//! to the conversation's reviewers, a new request to join a room
//! (`join_requested`) to its moderators, a message the model check withdrew
//! (`moderation_withdrawn`) to its sender — each on the user's `inbox` topic.
//! The database announces them (sql/47_moderation_model.sql) naming the
//! conversation; who hears is decided here among this node's inbox
//! subscribers by the database's own rule (`pgchat.can_review`,
//! `pgchat.can_moderate`), one query per notice, so the payload never lists
//! reviewers. Notices have no seq: a client that was away reads the queues
//! (`GET /v1/moderation/queue`, `GET /v1/rooms/{id}/requests`).
//!
//! Also here, what a listener outage would otherwise lose on inboxes and for
//! delete-for-me (`after_outage`).

use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::error::ApiError;
use crate::realtime::frames;
use crate::realtime::hub::{Audience, Event, Hub, Topic};
use crate::service::messages;

/// The notices, as the NOTIFY payload's `ev` and the frame's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    ModerationQueued,
    JoinRequested,
    ModerationWithdrawn,
}

impl NoticeEvent {
    /// The database's rule of who hears of it (None: the named user only).
    fn rule(self) -> Option<&'static str> {
        match self {
            Self::ModerationQueued => Some("pgchat.can_review"),
            Self::JoinRequested => Some("pgchat.can_moderate"),
            Self::ModerationWithdrawn => None,
        }
    }

    /// The frame's key for the row.
    fn key(self) -> &'static str {
        match self {
            Self::ModerationQueued => "item",
            Self::JoinRequested => "request",
            Self::ModerationWithdrawn => "message",
        }
    }
}

/// Sends a notice to the inboxes it is for on this node.
pub async fn dispatch(
    db: &Db,
    hub: &Hub,
    ev: NoticeEvent,
    c: Uuid,
    user: Option<&str>,
    row: Option<Value>,
) {
    let recipients: Vec<String> = match (ev.rule(), user) {
        (None, Some(user)) => vec![user.to_owned()],
        (None, None) => return,
        (Some(rule), _) => match admitted(db, hub, rule, c).await {
            Ok(users) => users,
            Err(error) => {
                tracing::warn!(%error, conversation = %c, "finding who hears a notice failed");
                return;
            }
        },
    };
    let mut frame = json!({ "type": ev, "topic": "inbox", "conversation_id": c });
    frame[ev.key()] = row.unwrap_or(Value::Null);
    let frame = frames::encode(&frame);
    for user in recipients {
        hub.dispatch(Event {
            topic: Topic::Inbox(user.as_str().into()),
            change_seq: None,
            audience: Audience::Everyone,
            frame: frame.clone(),
            ends_subscription: false,
            message: None,
        });
    }
}

/// The inbox subscribers of this node whom `rule(c, user, role)` admits.
async fn admitted(db: &Db, hub: &Hub, rule: &str, c: Uuid) -> Result<Vec<String>, ApiError> {
    let subscribers = hub.inbox_subscribers();
    if subscribers.is_empty() {
        return Ok(Vec::new());
    }
    let users: Vec<&str> = subscribers.iter().map(|(u, _)| &**u).collect();
    let roles: Vec<&str> = subscribers.iter().map(|(_, r)| r.as_str()).collect();
    let client = db.client().await?;
    // `rule` is one of two fixed names (NoticeEvent::rule), never input
    let rows = client
        .query(
            &format!(
                "SELECT x.u FROM unnest($2::text[], $3::text[]) AS x(u, r) WHERE {rule}($1, x.u, x.r)"
            ),
            &[&c, &users, &roles],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// After a (re)connect, before the watched conversations are refilled:
///
/// - every reader subscribed to a conversation learns which of the messages
///   the refill may bring they hid meanwhile (delete for me, whose
///   `message_hidden` notice was lost), so their sessions drop them;
/// - every inbox subscriber gets their inbox afresh (`inbox_snapshot`, the
///   subscribe ack's `conversations`): a room they joined or were approved
///   into, a session or a flag changed while notices were lost.
pub async fn after_outage(db: &Db, hub: &Hub) -> Result<(), ApiError> {
    for (c, last) in hub.watched_conversations() {
        let Some(after) = last else { continue };
        let users: Vec<String> = hub
            .subscribers_of(&Topic::Conversation(c))
            .iter()
            .map(|(u, _)| u.to_string())
            .collect();
        if users.is_empty() {
            continue;
        }
        let client = db.client().await?;
        let rows = client
            .query(
                "SELECT h.user_id, h.message_id FROM hidden_messages h
                   JOIN chat_messages m ON m.id = h.message_id
                  WHERE m.conversation_id = $1 AND m.change_seq > $2 AND h.user_id = ANY($3)",
                &[&c, &after, &users],
            )
            .await?;
        for row in rows {
            let (user, message): (String, Uuid) = (row.get(0), row.get(1));
            hub.dispatch(frames::hidden(c, &user, message));
        }
    }
    for (user, role) in hub.inbox_subscribers() {
        let identity = Identity {
            sub: user.to_string(),
            role,
            name: None,
            email: None,
            exp: i64::MAX,
        };
        let conversations = messages::inbox_snapshot(db, &identity).await?;
        let frame =
            json!({ "type": "inbox_snapshot", "topic": "inbox", "conversations": conversations });
        hub.dispatch(Event {
            topic: Topic::Inbox(Arc::clone(&user)),
            change_seq: None,
            audience: Audience::Everyone,
            frame: frames::encode(&frame),
            ends_subscription: false,
            message: None,
        });
    }
    Ok(())
}
