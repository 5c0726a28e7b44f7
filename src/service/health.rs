//! What `/readyz` and `/metrics` ask the database, kept here so the HTTP
//! transport runs no SQL.

use crate::db::Db;
use crate::error::ApiError;

/// The database answers a query (not only accepts connections).
pub async fn database_answers(db: &Db) -> Result<(), ApiError> {
    db.client().await?.query_one("SELECT 1", &[]).await?;
    Ok(())
}

/// The fraction of PostgreSQL's NOTIFY queue in use (`pg_notification_queue_usage`).
pub async fn notify_queue_usage(db: &Db) -> Result<f64, ApiError> {
    let row = db
        .client()
        .await?
        .query_one("SELECT pg_notification_queue_usage()", &[])
        .await?;
    Ok(row.get(0))
}
