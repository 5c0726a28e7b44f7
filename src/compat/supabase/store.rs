//! The relay's SQL (broadcast and presence are the server's own, not rows
//! of a caller: they run as the server's role, like the presence of
//! `service::ephemeral`). Every change is announced on `pgchat_supabase` in
//! the same transaction, so every node — this one too — hears it once,
//! in commit order.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiError;

/// The NOTIFY channel of the relay.
pub const CHANNEL: &str = "pgchat_supabase";

/// NOTIFY's payload limit, minus room for the envelope.
pub const MAX_PAYLOAD: usize = 7900;

/// Announces a broadcast to every node.
pub async fn broadcast(db: &Db, note: &Value) -> Result<(), ApiError> {
    let text = note.to_string();
    if text.len() > MAX_PAYLOAD {
        return Err(ApiError::PayloadTooLarge(format!(
            "a broadcast carries at most {MAX_PAYLOAD} bytes"
        )));
    }
    let client = db.client().await?;
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &text])
        .await?;
    Ok(())
}

/// `{key: {metas: [...]}}` of rows (key, meta with phx_ref).
const DIFF: &str = "coalesce(jsonb_object_agg(key, jsonb_build_object('metas', metas)), '{}')";

/// What one channel member tracks.
pub struct Track<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    /// Its new `phx_ref`.
    pub reference: &'a str,
    /// Its previous ref, which leaves.
    pub replaces: Option<&'a str>,
    pub meta: &'a Value,
}

/// Tracks a member's presence on `node`'s behalf and announces the diff.
pub async fn track(db: &Db, node: Uuid, ttl_secs: f64, track: &Track<'_>) -> Result<(), ApiError> {
    let client = db.client().await?;
    let sql = format!(
        "WITH gone AS (DELETE FROM supabase_presence WHERE ref = $6 RETURNING key, meta || jsonb_build_object('phx_ref', ref) AS m),
              added AS (INSERT INTO supabase_presence (ref, topic, key, node_id, meta, expires_at)
                        VALUES ($3, $1, $2, $4, $5, now() + make_interval(secs => $7))
                        RETURNING key, meta || jsonb_build_object('phx_ref', ref) AS m)
         SELECT pg_notify('{CHANNEL}', jsonb_build_object('k', 'presence', 't', $1::text,
                  'joins', (SELECT {DIFF} FROM (SELECT key, jsonb_agg(m) metas FROM added GROUP BY key) j),
                  'leaves', (SELECT {DIFF} FROM (SELECT key, jsonb_agg(m) metas FROM gone GROUP BY key) l))::text)"
    );
    client
        .execute(
            &sql,
            &[
                &track.topic,
                &track.key,
                &track.reference,
                &node,
                track.meta,
                &track.replaces,
                &ttl_secs,
            ],
        )
        .await?;
    Ok(())
}

/// Drops tracked refs and announces them as leaves.
pub async fn untrack(db: &Db, refs: &[String]) -> Result<(), ApiError> {
    if refs.is_empty() {
        return Ok(());
    }
    let client = db.client().await?;
    leave(&client, "ref = ANY($1)", &[&refs]).await
}

async fn leave(
    client: &tokio_postgres::Client,
    condition: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<(), ApiError> {
    let sql = format!(
        "WITH gone AS (DELETE FROM supabase_presence WHERE {condition}
                       RETURNING topic, key, meta || jsonb_build_object('phx_ref', ref) AS m)
         SELECT pg_notify('{CHANNEL}', jsonb_build_object('k', 'presence', 't', topic,
                  'joins', '{{}}'::jsonb, 'leaves', {DIFF})::text)
           FROM (SELECT topic, key, jsonb_agg(m) metas FROM gone GROUP BY topic, key) g
          GROUP BY topic"
    );
    client.execute(&sql, params).await?;
    Ok(())
}

/// Keeps this node's presences alive and lets other nodes' expired ones leave.
pub async fn heartbeat(db: &Db, node: Uuid, ttl_secs: f64) -> Result<(), ApiError> {
    let client = db.client().await?;
    client
        .execute(
            "UPDATE supabase_presence SET expires_at = now() + make_interval(secs => $2) WHERE node_id = $1",
            &[&node, &ttl_secs],
        )
        .await?;
    leave(&client, "expires_at < now()", &[]).await
}

/// A channel's presence state: `{key: {metas: [...]}}`.
pub async fn state(db: &Db, topic: &str) -> Result<Value, ApiError> {
    let client = db.client().await?;
    let sql = format!(
        "SELECT {DIFF} FROM (SELECT key, jsonb_agg(meta || jsonb_build_object('phx_ref', ref) ORDER BY ref) metas
                               FROM supabase_presence WHERE topic = $1 AND expires_at > now() GROUP BY key) s"
    );
    let row = client.query_one(&sql, &[&topic]).await?;
    Ok(row.get::<_, Option<Value>>(0).unwrap_or_else(|| json!({})))
}
