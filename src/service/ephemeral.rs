//! Ephemeral events: typing indicators and presence. They are `pg_notify` calls
//! (presence also keeps a row per user and node), so every server node hears
//! them, but they take no seq and are not replayed on resume.

use std::time::Duration;

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::desk::PresenceStatus;
use crate::domain::StatusText;
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::{agents, WireRow};

/// Announces that `caller` started or stopped typing in a conversation they
/// can read; typing an internal note (`note`) is staff's and is told to staff
/// only, so a customer cannot tell that a note is being written. Both rules
/// and the note's shape are the database's (`pgchat.announce_typing`:
/// `not_found`, `staff_only`). A start takes from the caller's `Ephemeral`
/// bucket; a stop only follows a start, so it takes nothing.
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
    let statement = tx
        .prepare_cached("SELECT pgchat.announce_typing($1, $2, $3, $4)")
        .await?;
    tx.execute(
        &statement,
        &[&conversation_id, &caller.name, &typing, &note],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Tells every node `user`'s presence (`pgchat.announce_presence`: the
/// status with their status text and last seen); an agent's desk status follows.
async fn announce(
    client: &deadpool_postgres::Object,
    user: &str,
    role: &str,
    status: &str,
) -> Result<(), ApiError> {
    client
        .execute("SELECT pgchat.announce_presence($1, $2)", &[&user, &status])
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

/// The user sets their status, their status text (`Some(None)` clears it),
/// or both, on every device; everyone who may see them hears of a change.
/// Returns their presence (`pgchat.presence_now`). A status needs a live
/// connection to show (offline otherwise); the text is kept across connections.
pub async fn set_presence(
    db: &Db,
    caller: &Identity,
    status: Option<PresenceStatus>,
    status_text: Option<Option<StatusText>>,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::Ephemeral, caller)?;
    let client = db.client().await?;
    db.provision(&client, caller).await?;
    let mut changed = false;
    if let Some(status) = status {
        // (is, was) per live connection row of the user
        let rows = client
            .query(
                "UPDATE presence p SET status = $2 FROM presence old
                  WHERE p.user_id = $1 AND old.user_id = p.user_id AND old.node_id = p.node_id
                    AND p.expires_at > now()
                 RETURNING old.status <> $2",
                &[&caller.sub, &status.as_str()],
            )
            .await?;
        changed |= rows.iter().any(|r| r.get::<_, bool>(0));
        // an agent's desk status follows the presence of a connected agent only
        if !rows.is_empty() {
            agents::sync_presence(&client, &caller.sub, caller.role.as_str(), status.as_str())
                .await?;
        }
    }
    if let Some(text) = status_text {
        let text = text.as_ref().map(StatusText::as_str);
        changed |= client
            .execute(
                "UPDATE users SET status_text = $2 WHERE id = $1 AND status_text IS DISTINCT FROM $2",
                &[&caller.sub, &text],
            )
            .await?
            > 0;
    }
    let presence: WireRow = client
        .query_one("SELECT pgchat.presence_now($1)", &[&caller.sub])
        .await?
        .get(0);
    if changed {
        let now = presence["status"].as_str().unwrap_or("offline");
        client
            .execute(
                "SELECT pgchat.announce_presence($1, $2)",
                &[&caller.sub, &now],
            )
            .await?;
    }
    Ok(presence)
}

/// `user`'s presence as `caller` may see it (themselves, staff, someone they
/// share a conversation with: `pgchat.can_see_presence`, the listener's
/// re-check too), or 404: one statement in the caller's transaction.
pub async fn presence(db: &Db, caller: &Identity, user: &str) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_one(
            "SELECT CASE WHEN pgchat.can_see_presence(auth.uid(), auth.role(), $1)
                         THEN pgchat.presence_now($1) END",
            &[&user],
        )
        .await?;
    tx.commit().await?;
    row.get::<_, Option<WireRow>>(0)
        .ok_or(ApiError::NotFound("user"))
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
            "WITH expired AS (DELETE FROM presence WHERE expires_at < now() RETURNING user_id),
                  gone AS (SELECT DISTINCT e.user_id FROM expired e
                            WHERE NOT EXISTS (SELECT 1 FROM presence p
                                               WHERE p.user_id = e.user_id AND p.expires_at >= now()))
             UPDATE users u SET last_seen_at = now() FROM gone
              WHERE u.id = gone.user_id RETURNING u.id, u.role",
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
