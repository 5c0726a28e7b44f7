//! The retention job: rooms with `retention_days` lose messages older than
//! that (with their reactions). Every node runs it; `pgchat.purge_expired`
//! takes rows with `FOR UPDATE SKIP LOCKED`, so nodes running at once share
//! the work instead of deleting the same rows or waiting on each other, and
//! each batch is its own short transaction.
//!
//! A purge is not a realtime event and takes no change_seq: the messages
//! simply are no longer there when a client pages back (replies keep their
//! `reply_to`, and lose their `reply_preview`).

use std::time::Duration;

use crate::db::Db;
use crate::error::ApiError;

/// Messages deleted per transaction.
pub const BATCH: i32 = 1000;

/// Deletes every expired message, batch by batch; returns how many.
pub async fn purge(db: &Db) -> Result<u64, ApiError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached("SELECT pgchat.purge_expired($1)")
        .await?;
    let mut total = 0u64;
    loop {
        let purged: i32 = client.query_one(&statement, &[&BATCH]).await?.get(0);
        total += purged as u64;
        if purged == 0 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// Runs `purge` every `interval`, forever (a task of the server).
pub async fn run(db: Db, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match purge(&db).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "retention: purged expired messages"),
            Err(error) => {
                error.log();
                tracing::warn!(error = %error, "retention purge failed");
            }
        }
    }
}
