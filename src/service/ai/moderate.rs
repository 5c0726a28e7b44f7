//! The model check of moderation (`PGCHAT_AI_MODERATION`): messages the
//! content filter checks are also given to the provider chain's moderation
//! check — an API's `POST /moderations`, or the offline provider's small
//! lexicon — after they are stored. A statement-level trigger queues one
//! `moderation` job per message (sql/47_moderation_model.sql), so no network
//! call is made inside a send and the batch path does not wait for it; the
//! assistant's worker runs the job and `pgchat.moderation_model_verdict`
//! applies the room's or desk's mode to the verdict (flag: a queue item;
//! hold: the message held until now is released or queued; reject: the
//! message is withdrawn and its sender told). When every provider fails the
//! message is queued for a reviewer (`model_unavailable`): never passed
//! unseen, never lost.

use uuid::Uuid;

use super::{Assistant, ProviderError};
use crate::db::Db;
use crate::error::ApiError;

/// What a provider's moderation check said of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub flagged: bool,
    /// The categories it found (`harassment`, `violence`, …), sorted.
    pub categories: Vec<String>,
    pub provider: String,
}

/// The offline provider's check: whole words of a small lexicon per category
/// (any case). Deterministic and crude — a stand-in where no API is
/// configured, and the chain's last resort when the APIs fail.
const LEXICON: &[(&str, &[&str])] = &[
    (
        "harassment",
        &[
            "idiot", "idiots", "moron", "morons", "stupid", "loser", "losers", "dumbass", "shut up",
        ],
    ),
    ("hate", &["vermin", "subhuman", "degenerates"]),
    (
        "violence",
        &[
            "kill you",
            "murder you",
            "shoot you",
            "stab you",
            "beat you up",
            "i will hurt you",
        ],
    ),
    ("self-harm", &["kill myself", "suicide", "end my life"]),
    ("sexual", &["porn", "nudes", "xxx"]),
];

pub fn offline(text: &str) -> Verdict {
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let joined = format!(" {} ", words.join(" "));
    let mut categories: Vec<String> = LEXICON
        .iter()
        .filter(|(_, terms)| terms.iter().any(|t| joined.contains(&format!(" {t} "))))
        .map(|(category, _)| (*category).to_owned())
        .collect();
    categories.sort();
    Verdict {
        flagged: !categories.is_empty(),
        categories,
        provider: "offline".into(),
    }
}

impl Assistant {
    /// Tries each provider's check in turn within its budget; the first answer wins.
    pub async fn moderate(&self, text: &str) -> Result<Verdict, Vec<(String, ProviderError)>> {
        let mut attempts = Vec::new();
        for (provider, budget) in &self.providers {
            let outcome = match tokio::time::timeout(*budget, provider.moderate(text)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ProviderError::Timeout),
            };
            match outcome {
                Ok(verdict) => return Ok(verdict),
                Err(error) => {
                    tracing::warn!(provider = provider.name(), %error, "moderation check failed");
                    attempts.push((provider.name().to_owned(), error));
                }
            }
        }
        Err(attempts)
    }
}

/// Runs a `moderation` job: reads the message as the server (the job was
/// queued by the database for a message it checks), asks the chain, and
/// hands the verdict — or the failure — to `pgchat.moderation_model_verdict`.
/// With `gave_up` (the job's nodes kept dying) the chain is not asked and
/// the message goes to a reviewer.
pub async fn run(
    db: &Db,
    assistant: &Assistant,
    message_id: Uuid,
    gave_up: bool,
) -> Result<(), ApiError> {
    let client = db.client().await?;
    let found = client
        .query_opt(
            "SELECT body FROM chat_messages WHERE id = $1 AND deleted_at IS NULL",
            &[&message_id],
        )
        .await?;
    drop(client);
    let Some(found) = found else {
        return Ok(());
    };
    let body: String = found.get(0);
    let checked = if gave_up {
        Err(Vec::new())
    } else {
        assistant.moderate(&body).await
    };
    let (flagged, categories, provider) = match checked {
        Ok(v) => (Some(v.flagged), v.categories, Some(v.provider)),
        Err(attempts) => (
            None,
            Vec::new(),
            attempts.last().map(|(name, _)| name.clone()),
        ),
    };
    let client = db.client().await?;
    let outcome: String = client
        .query_one(
            "SELECT pgchat.moderation_model_verdict($1, $2, $3, $4)",
            &[&message_id, &flagged, &categories, &provider],
        )
        .await?
        .get(0);
    tracing::debug!(message = %message_id, outcome, "moderation check applied");
    Ok(())
}

/// Records the switch where the send path's triggers read it (`ai_settings`).
pub async fn record_setting(
    client: &crate::db::Client,
    assistant: &Assistant,
) -> anyhow::Result<()> {
    client
        .execute(
            "UPDATE ai_settings SET moderation_check = $1 WHERE id",
            &[&assistant.moderation_check],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::offline;

    #[test]
    fn the_offline_check_matches_whole_words_and_phrases() {
        let v = offline("You are an IDIOT, and I will kill you.");
        assert!(v.flagged);
        assert_eq!(v.categories, ["harassment", "violence"]);
        assert!(!offline("Stupidity aside, the skill you showed was great").flagged);
        assert!(!offline("").flagged);
    }
}
