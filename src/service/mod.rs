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
pub mod canned;
pub mod changes;
pub mod conversations;
pub mod ephemeral;
pub mod group_commit;
pub mod message_features;
pub mod messages;
pub mod notifications;
pub mod retention;
pub mod rooms;
pub mod search;
pub mod stats;
pub mod support;

/// A row in its wire shape, as built by `pgchat.*_json()`.
pub type WireRow = serde_json::Value;
