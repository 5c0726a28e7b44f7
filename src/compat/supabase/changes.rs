//! `postgres_changes` on pgchat's tables: a channel's bindings, where each
//! reads its changes from (a hub topic of the session core), and the
//! translation of pgchat's change frames into Supabase's change payloads.
//!
//! pgchat's realtime topics are per conversation, per user (the inbox) and the
//! support queue, and the hub has already applied RLS's visibility to every
//! frame (internal notes reach staff only, revocation ends a subscription);
//! a binding only narrows that stream by table, event and filter. Where a
//! binding reads from:
//! - `conversation_id=eq.X` (or `in.(X,Y)`; `id=eq.X` on `conversations`):
//!   the conversation topics — every change, resumable by change_seq;
//! - otherwise, the caller's inbox (new messages of their conversations,
//!   their sessions, their own memberships) — for staff on
//!   `live_chat_sessions`, the support queue instead.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

use serde::Deserialize;

use crate::auth::Identity;
use crate::compat::supabase::schema::{Filter, Op, Table};
use crate::domain::Since;
use crate::realtime::hub::Topic;

/// INSERT, UPDATE or DELETE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Insert,
    Update,
    Delete,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }
}

/// One `postgres_changes` binding of a joined channel.
#[derive(Debug)]
pub struct Binding {
    pub id: u32,
    /// None: `*`.
    kind: Option<Kind>,
    /// None: every table (`table` absent or `*`).
    table: Option<Table>,
    filter: Option<Filter>,
    /// The hub topics it reads from.
    pub sources: Vec<Topic>,
    /// `since` in the binding (pgchat's extension): resume the conversation topics from there.
    pub since: Option<i64>,
    /// What the join reply says of it: the client's own values and the id.
    pub reply: Value,
}

/// Most conversations one binding may name with `in.(…)`.
const MAX_CONVERSATIONS: usize = 20;

impl Binding {
    /// Parses one entry of the join's `config.postgres_changes`.
    pub fn parse(id: u32, spec: &Value, caller: &Identity) -> Result<Self, String> {
        let text = |key: &str| match &spec[key] {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.as_str())),
            _ => Err(format!("postgres_changes `{key}` is a string")),
        };
        let kind = match text("event")? {
            Some("*") => None,
            Some("INSERT") => Some(Kind::Insert),
            Some("UPDATE") => Some(Kind::Update),
            Some("DELETE") => Some(Kind::Delete),
            other => {
                return Err(format!(
                    "postgres_changes event {other:?}: one of INSERT, UPDATE, DELETE, *"
                ))
            }
        };
        match text("schema")? {
            Some("public" | "*") => {}
            other => return Err(format!("schema {other:?} has no tables here (public)")),
        }
        let table = match text("table")? {
            None | Some("*") => None,
            Some(name) => Some(Table::parse(name).ok_or_else(|| {
                format!(
                    "table `{name}` is not served (chat_messages, live_chat_sessions, conversation_members, conversations)"
                )
            })?),
        };
        let filter = match text("filter")? {
            None => None,
            Some(f) => {
                let on = table.ok_or("a filter needs a table")?;
                Some(Filter::parse_binding(on, f)?)
            }
        };
        let since = match &spec["since"] {
            Value::Null => None,
            v => Some(Since::deserialize(v).map_err(|e| e.to_string())?.get()),
        };
        let sources = sources(table, filter.as_ref(), caller)?;
        let mut reply = json!({
            "id": id,
            "event": spec["event"],
            "schema": spec["schema"],
            "table": spec["table"],
        });
        if let Some(f) = spec.get("filter") {
            reply["filter"] = f.clone();
        }
        Ok(Self {
            id,
            kind,
            table,
            filter,
            sources,
            since,
            reply,
        })
    }

    /// Does this binding want `change` (arriving on `topic`)?
    fn wants(&self, topic: &Topic, change: &Translated) -> bool {
        self.sources.contains(topic)
            && self.kind.is_none_or(|k| k == change.kind)
            && self.table.is_none_or(|t| t == change.table)
            && self.filter.as_ref().is_none_or(|f| f.matches(&change.row))
    }
}

/// The topics a binding reads from (see the module documentation).
fn sources(
    table: Option<Table>,
    filter: Option<&Filter>,
    caller: &Identity,
) -> Result<Vec<Topic>, String> {
    let key = match table {
        Some(Table::Conversations) => "id",
        _ => "conversation_id",
    };
    if let Some(f) = filter.filter(|f| f.column.name == key && matches!(f.op, Op::Eq | Op::In)) {
        if f.values.len() > MAX_CONVERSATIONS {
            return Err(format!(
                "at most {MAX_CONVERSATIONS} conversations per binding"
            ));
        }
        let ids: BTreeSet<Uuid> = f
            .values
            .iter()
            .map(|v| Uuid::parse_str(v).map_err(|_| format!("`{v}` is not a conversation id")))
            .collect::<Result<_, _>>()?;
        return Ok(ids.into_iter().map(Topic::Conversation).collect());
    }
    Ok(match table {
        Some(Table::Sessions) if caller.role.is_staff() => vec![Topic::SupportQueue],
        _ => vec![Topic::Inbox(Arc::from(caller.sub.as_str()))],
    })
}

/// A pgchat change frame, as a table row change.
#[derive(Debug)]
pub struct Translated {
    pub table: Table,
    pub kind: Kind,
    pub row: Value,
}

/// Reads a hub frame (pgchat's wire event); None for what is no row change
/// (typing, presence, flags).
pub fn translate(frame: &Value) -> Option<Translated> {
    let event = frame["type"].as_str()?;
    let (table, kind, key) = match event {
        "message_new" => (Table::Messages, Kind::Insert, "message"),
        "message_updated" | "reaction" | "message_pinned" | "message_unpinned" => {
            (Table::Messages, Kind::Update, "message")
        }
        // pgchat keeps a tombstone; for the app the message is gone
        "message_deleted" => (Table::Messages, Kind::Delete, "message"),
        "session_updated" => {
            let s = &frame["session"];
            // A session is announced as created with its conversation: its
            // row takes the conversation's second number (after the customer's
            // membership) and is still waiting for an agent.
            let created = s["change_seq"].as_i64() == Some(2)
                && s["status"] == "waiting"
                && s["assigned_at"].is_null();
            let kind = if created { Kind::Insert } else { Kind::Update };
            (Table::Sessions, kind, "session")
        }
        "member_joined" => (Table::Members, Kind::Insert, "member"),
        "member_left" => (Table::Members, Kind::Delete, "member"),
        "member_updated" | "read" | "delivered" => (Table::Members, Kind::Update, "member"),
        "room_updated" => (Table::Conversations, Kind::Update, "room"),
        _ => return None,
    };
    Some(Translated {
        table,
        kind,
        row: frame[key].clone(),
    })
}

/// The ids of `bindings` that want a change arriving on `topic`.
pub fn matching(bindings: &[Binding], topic: &Topic, change: &Translated) -> Vec<u32> {
    bindings
        .iter()
        .filter(|b| b.wants(topic, change))
        .map(|b| b.id)
        .collect()
}

/// The `postgres_changes` payload for the bindings `ids`. An UPDATE's
/// `old_record` is the primary key (Supabase without REPLICA IDENTITY FULL);
/// a DELETE's is the row as it was last (a tombstone for messages).
pub fn payload(ids: &[u32], change: &Translated) -> Value {
    let table = change.table;
    let mut data = json!({
        "schema": "public",
        "table": table.name(),
        "commit_timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "type": change.kind.as_str(),
        "columns": table.columns_json(),
        "errors": null,
    });
    match change.kind {
        Kind::Insert => data["record"] = change.row.clone(),
        Kind::Update => {
            data["record"] = change.row.clone();
            data["old_record"] = table
                .primary_key()
                .iter()
                .map(|k| (k.to_string(), change.row[*k].clone()))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        Kind::Delete => {
            data["record"] = json!({});
            data["old_record"] = change.row.clone();
        }
    }
    json!({ "ids": ids, "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn caller(role: Role) -> Identity {
        Identity {
            sub: "u1".into(),
            role,
            name: None,
            email: None,
            exp: 0,
        }
    }

    #[test]
    fn bindings_read_from_the_topics_their_filter_names() {
        let c = Uuid::new_v4();
        let spec = json!({ "event": "*", "schema": "public", "table": "chat_messages",
                           "filter": format!("conversation_id=eq.{c}") });
        let b = Binding::parse(7, &spec, &caller(Role::User)).unwrap();
        assert_eq!(b.sources, vec![Topic::Conversation(c)]);
        assert_eq!(b.reply["id"], 7);
        assert_eq!(b.reply["filter"], spec["filter"]);

        let queue = json!({ "event": "INSERT", "schema": "public", "table": "live_chat_sessions" });
        let staff = Binding::parse(1, &queue, &caller(Role::Agent)).unwrap();
        assert_eq!(staff.sources, vec![Topic::SupportQueue]);
        let user = Binding::parse(1, &queue, &caller(Role::User)).unwrap();
        assert_eq!(user.sources, vec![Topic::Inbox("u1".into())]);
        assert!(user.reply.get("filter").is_none());

        for bad in [
            json!({ "event": "TRUNCATE", "schema": "public", "table": "chat_messages" }),
            json!({ "event": "*", "schema": "private", "table": "chat_messages" }),
            json!({ "event": "*", "schema": "public", "table": "users" }),
            json!({ "event": "*", "schema": "public", "table": "chat_messages", "filter": "conversation_id=eq.nope" }),
            json!({ "event": "*", "schema": "public", "filter": "id=eq.1" }),
        ] {
            assert!(
                Binding::parse(1, &bad, &caller(Role::User)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn changes_translate_to_supabase_payloads() {
        let frame = json!({ "type": "message_updated", "message": { "id": "m1", "seq": 3 } });
        let change = translate(&frame).unwrap();
        assert_eq!((change.table, change.kind), (Table::Messages, Kind::Update));
        let p = payload(&[1, 2], &change);
        assert_eq!(p["ids"], json!([1, 2]));
        assert_eq!(p["data"]["type"], "UPDATE");
        assert_eq!(p["data"]["old_record"], json!({ "id": "m1" }));
        assert_eq!(
            p["data"]["columns"][0],
            json!({ "name": "id", "type": "uuid" })
        );
        assert!(translate(&json!({ "type": "typing" })).is_none());
        let gone =
            translate(&json!({ "type": "message_deleted", "message": { "id": "m1" } })).unwrap();
        assert_eq!(payload(&[1], &gone)["data"]["old_record"]["id"], "m1");
    }
}
