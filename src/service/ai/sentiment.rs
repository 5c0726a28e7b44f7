//! A support session's sentiment, for agents: which chats are going badly.
//! Scored offline in SQL (`sql/76_sentiment.sql`: a lexicon with negation,
//! VADER's squashing), when asked and never on the send path, over the
//! customer's messages as the caller may read them.
//!
//! With `PGCHAT_AI_SENTIMENT=model` the API providers score the messages no
//! model has scored as they read now, once, when an agent looks; the scores
//! are cached per message (`message_sentiment`) and read by the same SQL, so
//! reports use them too. A model that fails, is over the caller's quota or
//! answers something unusable costs the agent nothing: the offline score
//! stands in, and the answer says which provider scored each message.

use uuid::Uuid;

use super::{take_quota, Assistant, Prompt, Task};
use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// The customer's messages of a session, scored, with their mean.
#[tracing::instrument(skip(db, assistant, caller), fields(user = %caller.sub))]
pub async fn of_session(
    db: &Db,
    assistant: &Assistant,
    caller: &Identity,
    session_id: Uuid,
) -> Result<WireRow, ApiError> {
    if assistant.sentiment_by_model {
        score_by_model(db, assistant, caller, session_id).await?;
    }
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

/// Asks the providers about the session's messages no model scored yet, within
/// the context budget, and caches their scores. Refuses only what the reading
/// would refuse (the gate, an invisible session); a model's failure is logged.
async fn score_by_model(
    db: &Db,
    assistant: &Assistant,
    caller: &Identity,
    session_id: Uuid,
) -> Result<(), ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Sentiment).await?;
    let unscored = unscored(&tx, session_id, assistant.limits.context_chars).await?;
    if unscored.is_empty() {
        return Ok(());
    }
    match take_quota(&tx, &assistant.limits).await {
        Err(ApiError::RateLimited { .. }) => {
            tracing::info!("sentiment scored offline: the caller's assistant quota is used up");
            return Ok(());
        }
        taken => taken?,
    }
    tx.commit().await?;
    // No pool connection is held while a provider answers.
    drop(client);
    let prompt = Prompt {
        task: Task::Sentiment {
            texts: unscored.iter().map(|(_, body)| body.clone()).collect(),
        },
        conversation: Vec::new(),
        faq: Vec::new(),
    };
    let completion = match assistant.complete(&prompt).await {
        Ok(completion) => completion,
        Err(failure) => {
            tracing::warn!(%failure, "sentiment scored offline: no model scored it");
            return Ok(());
        }
    };
    let Some(scores) = parse_scores(&completion.text, unscored.len()) else {
        tracing::warn!(provider = %completion.provider, "sentiment scored offline: the model's answer is not one score per message");
        return Ok(());
    };
    let ids: Vec<Uuid> = unscored.iter().map(|(id, _)| *id).collect();
    let bodies: Vec<&str> = unscored.iter().map(|(_, body)| body.as_str()).collect();
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO message_sentiment (message_id, source, score, provider, model)
             SELECT u.id, u.body, u.score, $4, $5 FROM unnest($1::uuid[], $2::text[], $3::real[]) AS u(id, body, score)
             ON CONFLICT (message_id) DO UPDATE
               SET source = EXCLUDED.source, score = EXCLUDED.score, provider = EXCLUDED.provider,
                   model = EXCLUDED.model, created_at = now()",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &ids,
            &bodies,
            &scores,
            &completion.provider,
            &completion.model,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The session's messages no model has scored as they read now, newest first,
/// as many as fit in `budget` characters (at least one). None for a session
/// the caller cannot see: the reading that follows says 404.
async fn unscored(
    tx: &Transaction<'_>,
    session_id: Uuid,
    budget: usize,
) -> Result<Vec<(Uuid, String)>, ApiError> {
    let statement = tx
        .prepare_cached(
            "SELECT u.id, u.body FROM live_chat_sessions s, pgchat.sentiment_unscored(s) u
              WHERE s.id = $1",
        )
        .await?;
    let mut left = budget;
    let mut picked = Vec::new();
    for row in tx.query(&statement, &[&session_id]).await? {
        let body: String = row.get(1);
        let cost = body.chars().count();
        if !picked.is_empty() && cost > left {
            break;
        }
        left = left.saturating_sub(cost);
        picked.push((row.get(0), body));
    }
    Ok(picked)
}

/// A model's answer to `Task::Sentiment`: a JSON array of `expected` numbers,
/// each clamped to -1..1; possibly inside a Markdown code fence, as chat
/// models like to answer. Anything else is None.
pub fn parse_scores(text: &str, expected: usize) -> Option<Vec<f32>> {
    let text = text.trim();
    let unfenced = text
        .strip_prefix("```json")
        .or_else(|| text.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .unwrap_or(text);
    let scores: Vec<f64> = serde_json::from_str(unfenced.trim()).ok()?;
    (scores.len() == expected && scores.iter().all(|s| s.is_finite()))
        .then(|| scores.iter().map(|s| s.clamp(-1.0, 1.0) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::parse_scores;

    #[test]
    fn a_models_scores_are_one_number_per_message_or_nothing() {
        assert_eq!(parse_scores("[0.5, -1, 0]", 3), Some(vec![0.5, -1.0, 0.0]));
        assert_eq!(
            parse_scores("```json\n[0.9, -2]\n```", 2),
            Some(vec![0.9, -1.0])
        );
        for bad in [
            "[0.5]",
            "[0.5, 0.1, 0.2, 0.3]",
            "positive",
            "{\"a\": 1}",
            "[\"1\", 2]",
            "",
        ] {
            assert_eq!(parse_scores(bad, 2), None, "{bad}");
        }
    }
}
