//! Ephemeral events: typing indicators and presence. They are `pg_notify` calls
//! (presence also keeps a row per user and node), so every server node hears
//! them, but they take no seq and are not replayed on resume.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::desk::PresenceStatus;
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::{agents, messages};

/// Announces that `caller` started or stopped typing in a conversation they
/// can read; typing an internal note (`note`) is told to staff only, so a
/// customer cannot tell that a note is being written. A start takes from the
/// caller's `Ephemeral` bucket; a stop only follows a start, so it takes nothing.
pub async fn typing(
    db: &Db,
    caller: &Identity,
    conversation_id: Uuid,
    typing: bool,
    note: bool,
) -> Result<(), ApiError> {
    if typing {
        limits::check(db, Write::Ephemeral, caller)?;
    }
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    messages::conversation_kind(&tx, conversation_id).await?;
    let payload = json!({
        "t": "typing", "c": conversation_id, "user_id": caller.sub,
        "name": caller.name, "typing": typing, "internal": note,
    });
    tx.execute("SELECT pg_notify('pgchat', $1)", &[&payload.to_string()])
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn announce(
    client: &deadpool_postgres::Object,
    user: &str,
    role: &str,
    status: &str,
) -> Result<(), ApiError> {
    let payload = json!({ "t": "presence", "user_id": user, "role": role, "status": status });
    client
        .execute("SELECT pg_notify('pgchat', $1)", &[&payload.to_string()])
        .await?;
    agents::sync_presence(client, user, role, status).await // an agent's desk status follows
}

/// A connection of `caller` opened on `node`; announces them if it is their
/// first: `online`, or the `status` the connection asked to start with.
pub async fn connected(
    db: &Db,
    node: Uuid,
    caller: &Identity,
    ttl: Duration,
    status: Option<PresenceStatus>,
) -> Result<(), ApiError> {
    let client = db.client().await?;
    // A socket may be a user's very first request.
    db.provision(&client, caller).await?;
    let ttl_secs = ttl.as_secs_f64();
    let row = client
        .query_one(
            "WITH up AS (
               INSERT INTO presence (user_id, node_id, expires_at, status)
               VALUES ($1, $2, now() + make_interval(secs => $3), coalesce($4, 'online'))
               ON CONFLICT (user_id, node_id) DO UPDATE
                  SET connections = presence.connections + 1, expires_at = excluded.expires_at
               RETURNING connections, status)
             SELECT up.connections, up.status,
                    (SELECT count(*) FROM presence p WHERE p.user_id = $1 AND p.node_id <> $2 AND p.expires_at > now())
               FROM up",
            &[&caller.sub, &node, &ttl_secs, &status.map(PresenceStatus::as_str)],
        )
        .await?;
    let (connections, status, elsewhere): (i32, String, i64) = (row.get(0), row.get(1), row.get(2));
    if connections == 1 && elsewhere == 0 {
        announce(&client, &caller.sub, caller.role.as_str(), &status).await?;
    }
    Ok(())
}

/// A connection closed; announces the user offline when it was their last anywhere.
pub async fn disconnected(db: &Db, node: Uuid, caller: &Identity) -> Result<(), ApiError> {
    let client = db.client().await?;
    let row = client
        .query_opt(
            "UPDATE presence SET connections = connections - 1
              WHERE user_id = $1 AND node_id = $2 AND connections > 0 RETURNING connections",
            &[&caller.sub, &node],
        )
        .await?;
    if row.map(|r| r.get::<_, i32>(0)) != Some(0) {
        return Ok(());
    }
    client
        .execute(
            "DELETE FROM presence WHERE user_id = $1 AND node_id = $2 AND connections = 0",
            &[&caller.sub, &node],
        )
        .await?;
    client
        .execute(
            "UPDATE users SET last_seen_at = now() WHERE id = $1",
            &[&caller.sub],
        )
        .await?;
    let online = client
        .query_opt(
            "SELECT 1 FROM presence WHERE user_id = $1 AND expires_at > now() LIMIT 1",
            &[&caller.sub],
        )
        .await?;
    if online.is_none() {
        announce(&client, &caller.sub, caller.role.as_str(), "offline").await?;
    }
    Ok(())
}

/// The user sets their status on every device.
pub async fn set_status(
    db: &Db,
    caller: &Identity,
    status: PresenceStatus,
) -> Result<(), ApiError> {
    limits::check(db, Write::Ephemeral, caller)?;
    let client = db.client().await?;
    let changed = client
        .execute(
            "UPDATE presence SET status = $2 WHERE user_id = $1 AND status <> $2",
            &[&caller.sub, &status.as_str()],
        )
        .await?;
    if changed > 0 {
        announce(&client, &caller.sub, caller.role.as_str(), status.as_str()).await?;
    }
    agents::sync_presence(&client, &caller.sub, caller.role.as_str(), status.as_str()).await
}

/// This node is alive: extends its rows. Then sweeps rows of dead nodes and
/// announces their users offline (each expired row is deleted by exactly one node).
pub async fn heartbeat(db: &Db, node: Uuid, ttl: Duration) -> Result<(), ApiError> {
    let client = db.client().await?;
    let ttl_secs = ttl.as_secs_f64();
    client
        .execute(
            "UPDATE presence SET expires_at = now() + make_interval(secs => $2) WHERE node_id = $1",
            &[&node, &ttl_secs],
        )
        .await?;
    let gone = client
        .query(
            "WITH expired AS (DELETE FROM presence WHERE expires_at < now() RETURNING user_id)
             SELECT DISTINCT e.user_id, u.role FROM expired e JOIN users u ON u.id = e.user_id
              WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = e.user_id AND p.expires_at >= now())",
            &[],
        )
        .await?;
    for row in gone {
        announce(&client, row.get(0), row.get(1), "offline").await?;
    }
    Ok(())
}

/// Current statuses of some users (absent: offline).
pub async fn statuses(db: &Db, users: &[String]) -> Result<Vec<(String, String)>, ApiError> {
    let client = db.client().await?;
    let rows = client
        .query(
            "SELECT DISTINCT ON (user_id) user_id, status FROM presence
              WHERE user_id = ANY($1) AND expires_at > now() ORDER BY user_id, status",
            &[&users],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Whether `caller` may follow `user`'s presence (themselves, staff, or
/// someone they share a conversation with as current members:
/// `pgchat.can_see_presence` decides, also when the listener re-checks).
pub async fn can_see_user(db: &Db, caller: &Identity, user: &str) -> Result<bool, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_one(
            "SELECT pgchat.can_see_presence($1, $2, $3)",
            &[&caller.sub, &caller.role.as_str(), &user],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}
