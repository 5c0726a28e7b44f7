//! The operations, one function each, shared by every transport (REST, the
//! WebSocket, SSE). Each runs in a transaction as the caller, so RLS applies;
//! none knows about sockets or HTTP.
//!
//! Rows come back in their wire shape, built by the SQL functions of
//! `sql/05_json.sql` — the same JSON the NOTIFY triggers carry — so a message or
//! a session reads the same on every path.

pub mod agents;
pub mod ai;
pub mod assignment;
pub mod attachments;
pub mod bulk;
pub mod cancel;
pub mod canned;
pub mod changes;
pub mod contacts;
pub mod conversations;
pub mod deletion;
pub mod email;
pub mod ephemeral;
pub mod escalation;
pub mod gates;
pub mod health;
pub mod hours;
pub mod message_features;
pub mod messages;
pub mod moderation;
pub mod notifications;
pub mod polls;
pub mod reports;
pub mod retention;
pub mod rooms;
pub mod search;
pub mod send;
pub mod settings;
pub mod stats;
pub mod support;
pub mod teams;
pub mod topics;

/// A row in its wire shape, as built by `pgchat.*_json()`.
pub type WireRow = serde_json::Value;

/// A position in a list ordered newest first by a timestamp, then id: the
/// last item's pair. Sent to clients as `"{micros}_{uuid}"`, an opaque string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyset {
    pub at: chrono::DateTime<chrono::Utc>,
    pub id: uuid::Uuid,
}

impl Keyset {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.timestamp_micros(), self.id.simple())
    }

    pub fn parse(text: &str) -> Result<Self, crate::error::ApiError> {
        let invalid = || {
            crate::error::ApiError::bad_request(
                "invalid_cursor",
                "cursor is not one this server issued",
            )
        };
        let (micros, id) = text.split_once('_').ok_or_else(invalid)?;
        Ok(Self {
            at: micros
                .parse()
                .ok()
                .and_then(chrono::DateTime::from_timestamp_micros)
                .ok_or_else(invalid)?,
            id: uuid::Uuid::parse_str(id).map_err(|_| invalid())?,
        })
    }
}
