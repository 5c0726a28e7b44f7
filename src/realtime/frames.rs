//! Server → client frames, built in one place for every transport (WebSocket,
//! SSE, long poll). Each is serialized once per topic and shared.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::realtime::hub::{Audience, Event, MessageRef, Topic};
use crate::service::changes::{Change, ChangeEvent, Table};

/// The event of a committed conversation change, for one topic.
pub fn change(change: &Change, topic: &Topic) -> Event {
    let mut frame = json!({
        "type": change.event,
        "topic": topic.to_string(),
        "change_seq": change.change_seq,
        "conversation_id": change.conversation_id,
    });
    match change.table {
        Table::Message => frame["message"] = change.row.clone(),
        Table::Session => frame["session"] = change.row.clone(),
        Table::Room => frame["room"] = change.row.clone(),
        Table::Member => {
            frame["user_id"] = json!(change.user_id);
            match change.event {
                ChangeEvent::Read => frame["seq"] = change.row["last_read_seq"].clone(),
                ChangeEvent::Delivered => frame["seq"] = change.row["last_delivered_seq"].clone(),
                _ => {}
            }
            frame["member"] = change.row.clone();
        }
    }
    let message = match change.table {
        Table::Message => change.row["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .map(MessageRef::Changed),
        _ => None,
    };
    Event {
        // The cursor is the conversation's: only its own topic dedupes by it.
        change_seq: matches!(topic, Topic::Conversation(_)).then_some(change.change_seq),
        audience: audience(change),
        topic: topic.clone(),
        frame: encode(&frame),
        ends_subscription: false,
        message,
    }
}

/// Who hears of a change: staff of an internal note; its sender alone of a
/// message moderation holds (`moderation` in the message's JSON: held or
/// rejected; reviewers read such messages through REST and the queue, as the
/// messages policy lets them); everyone else of the rest.
fn audience(change: &Change) -> Audience {
    if change.table == Table::Message && change.row["moderation"].is_string() {
        let sender = change.row["sender_id"].as_str().unwrap_or_default();
        return Audience::Only(sender.into());
    }
    if change.internal {
        Audience::Staff
    } else {
        Audience::Everyone
    }
}

/// A session change on the support queue, told to each agent as much as
/// they may read of it (the REST view's rule): a waiting session to all staff;
/// otherwise the whole session to admins and its agent, and to agents who saw
/// it waiting or had it only that it left them (id, status, change_seq).
pub fn queue(change: &Change, was: Option<&str>, was_agent: Option<&str>) -> Vec<Event> {
    let topic = Topic::SupportQueue;
    let full = |audience| Event {
        audience,
        ..self::change(change, &topic)
    };
    let session = &change.row;
    if session["status"] == "waiting" {
        return vec![full(Audience::Staff)];
    }
    let agent: Option<Arc<str>> = session["agent_id"].as_str().map(Into::into);
    let mut events = vec![full(Audience::AdminsAnd(agent.clone()))];
    let left = match (was, was_agent) {
        (Some("waiting"), _) => Some(Audience::AgentsBut(agent.clone())),
        (_, Some(old)) if Some(old) != agent.as_deref() => Some(Audience::Only(old.into())),
        _ => None,
    };
    if let Some(audience) = left {
        let redacted = json!({
            "type": change.event,
            "topic": topic.to_string(),
            "change_seq": change.change_seq,
            "conversation_id": change.conversation_id,
            "session": {
                "id": session["id"],
                "conversation_id": change.conversation_id,
                "status": session["status"],
                "change_seq": change.change_seq,
            },
        });
        events.push(Event {
            topic: topic.clone(),
            change_seq: None,
            audience,
            frame: encode(&redacted),
            ends_subscription: false,
            message: None,
        });
    }
    events
}

/// Someone typing; an internal note's typing goes to staff only.
pub fn typing(
    conversation_id: Uuid,
    user_id: &str,
    name: Option<&str>,
    typing: bool,
    internal: bool,
) -> Event {
    let topic = Topic::Conversation(conversation_id);
    let frame = json!({
        "type": "typing",
        "topic": topic.to_string(),
        "conversation_id": conversation_id,
        "user_id": user_id,
        "name": name,
        "typing": typing,
        "internal": internal,
    });
    Event {
        topic,
        change_seq: None,
        audience: if internal {
            Audience::StaffBut(user_id.into())
        } else {
            Audience::AllBut(user_id.into())
        },
        frame: encode(&frame),
        ends_subscription: false,
        message: None,
    }
}

/// A user's presence as announced (`pgchat.presence_json`).
pub struct Presence<'a> {
    pub user_id: &'a str,
    pub status: &'a str,
    pub role: &'a str,
    pub status_text: Option<&'a str>,
    pub last_seen: Option<&'a str>,
}

pub fn presence(topic: Topic, presence: &Presence<'_>) -> Event {
    let audience = if topic == Topic::SupportQueue {
        Audience::Staff
    } else {
        Audience::Everyone
    };
    let frame = json!({
        "type": "presence",
        "topic": topic.to_string(),
        "user_id": presence.user_id,
        "status": presence.status,
        "role": presence.role,
        "status_text": presence.status_text,
        "last_seen": presence.last_seen,
    });
    Event {
        topic,
        change_seq: None,
        audience,
        frame: encode(&frame),
        ends_subscription: false,
        message: None,
    }
}

/// A member's own flags (pinned, muted, archived, deleted, read position), for their inbox.
pub fn flags(user: &str, conversation_id: Uuid, row: Value) -> Event {
    let topic = Topic::Inbox(user.into());
    let frame = json!({ "type": "flags", "topic": "inbox", "conversation_id": conversation_id, "flags": row });
    Event {
        topic,
        change_seq: None,
        audience: Audience::Everyone,
        frame: encode(&frame),
        ends_subscription: false,
        message: None,
    }
}

/// The reader hid a message for themselves (delete for me): told to their own
/// sockets on the conversation, so other devices drop it too — and so each
/// session learns to drop that message's later changes.
pub fn hidden(conversation_id: Uuid, user_id: &str, message_id: Uuid) -> Event {
    let topic = Topic::Conversation(conversation_id);
    let frame = json!({
        "type": "message_hidden",
        "topic": topic.to_string(),
        "conversation_id": conversation_id,
        "message_id": message_id,
    });
    Event {
        topic,
        change_seq: None,
        audience: Audience::Only(user_id.into()),
        frame: encode(&frame),
        ends_subscription: false,
        message: Some(MessageRef::Hidden(message_id)),
    }
}

/// A message's translation was stored (`message_translated`): told on its
/// conversation's topic to whoever may read the message; a session drops it
/// for a reader who hid the message, as it drops the message's changes.
pub fn translated(
    conversation_id: Uuid,
    message_id: Uuid,
    lang: &str,
    text: &str,
    audience: Audience,
) -> Event {
    let topic = Topic::Conversation(conversation_id);
    let frame = json!({
        "type": "message_translated",
        "topic": topic.to_string(),
        "conversation_id": conversation_id,
        "message_id": message_id,
        "lang": lang,
        "text": text,
    });
    Event {
        topic,
        change_seq: None,
        audience,
        frame: encode(&frame),
        ends_subscription: false,
        message: Some(MessageRef::Changed(message_id)),
    }
}

/// Why a subscription ended on the server's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unsubscribed {
    /// The subscriber may no longer see the topic (removed, banned, reassigned).
    AccessRevoked,
    /// Access could not be re-checked (the database failed): subscribe again
    /// with the cursor, and access is checked afresh.
    RecheckFailed,
    /// The conversation was deleted (an admin deleted its support session).
    Deleted,
}

/// Told to a subscriber whose subscription the server ended.
pub fn unsubscribed(topic: &Topic, reason: Unsubscribed) -> Event {
    let frame = json!({ "type": "unsubscribed", "topic": topic.to_string(), "reason": reason });
    Event {
        topic: topic.clone(),
        change_seq: None,
        audience: Audience::Everyone,
        frame: encode(&frame),
        ends_subscription: true,
        message: None,
    }
}

pub fn encode(value: &Value) -> Utf8Bytes {
    Utf8Bytes::from(value.to_string())
}
