//! Keeps the planner's statistics of growing tables true, so that cached plans
//! are made again as tables grow.
//!
//! The hot path runs on plans cached per connection: PL/pgSQL keeps each
//! statement's plan, and the send batch and the backlog reads force generic
//! plans (sql/25_send_batch.sql). A cached plan is made for the table sizes the
//! statistics claimed then, and is made again only when statistics change.
//! A table that grows far past its statistics keeps plans made for a table of
//! a few rows: a whole-table join where a lookup was meant, every batch slower
//! than the one before. A fresh database under load is the sharp case: its
//! tables were empty when planned, and autovacuum (when it is on at all) looks
//! only once a minute. BENCHMARKS.md (seventh pass) measured 170 msgs/s on a
//! fresh database, where a grown one took 5,700; with this check, 3,400.
//!
//! So every node looks, every few seconds, for a table of its own whose live
//! rows have more than doubled since its statistics were taken (past a floor
//! of `FLOOR_ROWS`), and analyzes it. New statistics invalidate the cached
//! plans of every connection, which are made again for the table's size. A
//! table analyzed at each doubling costs a few ANALYZEs in all; where
//! autovacuum keeps up, the check finds nothing.

use std::time::Duration;

use crate::db::Db;
use crate::error::ApiError;

/// Live rows a table may hold beyond twice what its statistics say before it is
/// analyzed: below that, a plan made for an empty table still costs little.
pub const FLOOR_ROWS: i64 = 1000;

/// The tables this role owns (it created them: migrations) that outgrew their
/// statistics, as names to analyze. A table someone else owns is left alone:
/// this role could not analyze it.
const OUTGROWN: &str = "
    SELECT format('%I.%I', s.schemaname, s.relname)
      FROM pg_stat_user_tables s
      JOIN pg_class c ON c.oid = s.relid
     WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
       AND s.n_live_tup > 2 * greatest(c.reltuples, 0)::bigint + $1
     ORDER BY 1";

/// Analyzes every table that outgrew its statistics; returns their names.
///
/// One node at a time (an advisory lock; a node that does not get it skips the
/// round): ANALYZE locks its table against another ANALYZE, so nodes would
/// only queue to do the same work twice. A table held by a VACUUM or DDL
/// waits for the next round rather than holding this connection.
pub async fn refresh(db: &Db) -> Result<Vec<String>, ApiError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let ours: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock(hashtext('pgchat planner statistics'))",
            &[],
        )
        .await?
        .get(0);
    if !ours {
        return Ok(Vec::new());
    }
    tx.batch_execute("SET LOCAL lock_timeout = '1s'").await?;
    let tables: Vec<String> = tx
        .query(OUTGROWN, &[&FLOOR_ROWS])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for table in &tables {
        // quoted by format('%I.%I') above
        tx.batch_execute(&format!("ANALYZE {table}")).await?;
    }
    tx.commit().await?;
    Ok(tables)
}

/// Runs `refresh` every `interval`, forever (a task of the server).
pub async fn run(db: Db, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match refresh(&db).await {
            Ok(tables) if tables.is_empty() => {}
            Ok(tables) => tracing::info!(
                ?tables,
                "tables outgrew their planner statistics: analyzed them"
            ),
            Err(error) => {
                tracing::warn!(error = %error, "refreshing planner statistics failed");
            }
        }
    }
}
