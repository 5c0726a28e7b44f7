//! A support session's sentiment, for agents: which chats are going badly.
//! Scored offline in SQL (`sql/76_sentiment.sql`: a lexicon with negation,
//! VADER's squashing), when asked and never on the send path, over the
//! customer's messages as the caller may read them.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// The customer's messages of a session, scored, with their mean.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn of_session(db: &Db, caller: &Identity, session_id: Uuid) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Sentiment).await?;
    let statement = tx
        .prepare_cached(
            "SELECT pgchat.session_sentiment(s) FROM live_chat_sessions s WHERE s.id = $1",
        )
        .await?;
    let sentiment = tx
        .query_opt(&statement, &[&session_id])
        .await?
        .ok_or(ApiError::NotFound("session"))?
        .get(0);
    tx.commit().await?;
    Ok(sentiment)
}
