//! One batch of sends, stored by one set-based SQL call in one transaction:
//! `pgchat.send_batch` (sql/25_send_batch.sql) plans every item, reserves each
//! conversation's numbers at once, inserts the rows with one INSERT that RLS
//! checks row by row in its sender's name, and answers every item.

use serde_json::json;

use crate::db::Db;
use crate::error::ApiError;
use crate::service::send::queue::{Job, Outcome};
use crate::service::send::Sent;

/// Stores the batch with one call of `pgchat.send_batch` in one transaction.
pub(super) async fn store(db: &Db, batch: &[Job]) -> Result<Vec<Outcome>, ApiError> {
    let mut client = db.client().await?;
    for job in batch {
        db.provision(&client, &job.caller).await?;
    }
    let items: Vec<_> = batch
        .iter()
        .map(|job| {
            json!({
                "sub": job.caller.sub,
                "role": job.caller.role,
                "conversation_id": job.conversation_id,
                "client_msg_id": job.new.client_msg_id,
                "kind": job.new.kind.as_str(),
                "body": job.new.body.as_str(),
                "reply_to": job.new.reply_to,
                "internal": job.new.internal,
                "attachment_id": job.new.attachment_id,
                // carried by the one-message path only: the plan sends it there
                "poll": job.new.poll.is_some(),
            })
        })
        .collect();
    // each sender in the role their verified token carries (the insert policy reads it)
    let senders: serde_json::Map<String, serde_json::Value> = batch
        .iter()
        .map(|job| (job.caller.sub.clone(), json!(job.caller.role)))
        .collect();
    let tx = client.transaction().await?;
    let set_role = tx
        .prepare_cached("SELECT set_config('role', 'pgchat_user', true)")
        .await?;
    let send = tx
        .prepare_cached("SELECT i, outcome, message FROM pgchat.send_batch($1, $2)")
        .await?;
    let (items, senders) = (
        serde_json::Value::Array(items),
        serde_json::Value::Object(senders),
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&items, &senders];
    let (_, rows) = tokio::try_join!(tx.execute(&set_role, &[]), tx.query(&send, &params))?;
    tx.commit().await?;
    let mut outcomes = vec![Outcome::Slow; batch.len()];
    for row in rows {
        let position = row.get::<_, i32>(0) as usize - 1;
        let created = match row.get::<_, &str>(1) {
            "created" => true,
            "existing" => false,
            _ => continue,
        };
        outcomes[position] = Outcome::Done(Sent {
            message: row.get(2),
            created,
        });
    }
    Ok(outcomes)
}
