//! Translating a message (`POST /v1/messages/{id}/translate`): read as the
//! caller (a message they may not read is a 404, and its translation is as
//! visible as the message: `policies/message_translations.sql`), answered
//! from the cache when the message has not changed since, otherwise by the
//! provider chain and cached per message and language. A translation costs
//! the caller's assistant quota only when a provider is asked.

use serde::Deserialize;
use uuid::Uuid;

use super::{ensure_enabled, take_quota, unavailable, Assistant, Completion, Prompt, Task};
use crate::auth::Identity;
use crate::db::Db;
use crate::error::ApiError;
use crate::service::WireRow;

/// A target language: a BCP 47 tag such as `de`, `pt-BR` or `zh-Hant`, in
/// its canonical case (language lower, script title, region upper) — the
/// shape and case of `pgchat.lang_canonical` (sql/77_translation.sql), which
/// decides members' languages; tests/api/auto_translate.rs compares the two.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Lang(String);

impl TryFrom<String> for Lang {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let mut parts = value.trim().split('-');
        let primary = parts.next().unwrap_or_default().to_ascii_lowercase();
        let primary_ok =
            (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
        let rest: Vec<&str> = parts.collect();
        let rest_ok = rest
            .iter()
            .all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !primary_ok || !rest_ok || rest.len() > 3 {
            return Err("lang must be a language tag such as \"de\" or \"pt-BR\"".into());
        }
        let subtag = |p: &str| {
            let alpha = p.bytes().all(|b| b.is_ascii_alphabetic());
            match p.len() {
                4 if alpha => p[..1].to_ascii_uppercase() + &p[1..].to_ascii_lowercase(),
                2 if alpha => p.to_ascii_uppercase(),
                _ => p.to_ascii_lowercase(),
            }
        };
        Ok(Self(
            std::iter::once(primary)
                .chain(rest.into_iter().map(subtag))
                .collect::<Vec<_>>()
                .join("-"),
        ))
    }
}

impl Lang {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A text (not a stored message) in `lang`, by the provider chain; the
/// caller has taken the quota. For `Translate to de: …` messages.
pub async fn text(assistant: &Assistant, text: &str, lang: &Lang) -> Result<Completion, ApiError> {
    let prompt = Prompt {
        task: Task::Translate {
            text: text.to_owned(),
            lang: lang.0.clone(),
        },
        conversation: Vec::new(),
        faq: Vec::new(),
    };
    assistant.complete(&prompt).await.map_err(unavailable)
}

/// The message in `lang`, from the cache or the providers.
#[tracing::instrument(skip(db, assistant, caller), fields(user = %caller.sub))]
pub async fn translate(
    db: &Db,
    assistant: &Assistant,
    caller: &Identity,
    message_id: Uuid,
    lang: Lang,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "SELECT m.conversation_id, m.body, m.deleted_at IS NOT NULL,
                    (SELECT pgchat.translation_json(t) FROM message_translations t
                      WHERE t.message_id = m.id AND t.lang = $2 AND t.source = m.body)
               FROM chat_messages m WHERE m.id = $1",
        )
        .await?;
    let row = tx
        .query_opt(&statement, &[&message_id, &lang.0])
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    let (conversation_id, body, deleted, cached): (Uuid, String, bool, Option<WireRow>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if deleted {
        return Err(ApiError::conflict(
            "message_deleted",
            "a deleted message has nothing to translate",
        ));
    }
    ensure_enabled(&tx, conversation_id).await?;
    if let Some(cached) = cached {
        return Ok(cached);
    }
    take_quota(&tx, &assistant.limits).await?;
    tx.commit().await?;
    // No pool connection is held while a provider answers (seconds, at worst).
    drop(client);
    let completion = text(assistant, &body, &lang).await?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO message_translations AS t (message_id, lang, source, text, provider, model)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (message_id, lang) DO UPDATE
               SET source = EXCLUDED.source, text = EXCLUDED.text, provider = EXCLUDED.provider,
                   model = EXCLUDED.model, created_at = now()
             RETURNING pgchat.translation_json(t)",
        )
        .await?;
    let translation: WireRow = tx
        .query_one(
            &statement,
            &[
                &message_id,
                &lang.0,
                &body,
                &completion.text.trim(),
                &completion.provider,
                &completion.model,
            ],
        )
        .await?
        .get(0);
    tx.commit().await?;
    Ok(translation)
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn languages_are_tags() {
        let ok = |s: &str| Lang::try_from(s.to_owned()).map(|l| l.0);
        assert_eq!(ok("de"), Ok("de".into()));
        assert_eq!(ok("PT-BR"), Ok("pt-BR".into()));
        assert_eq!(ok("zh-Hant"), Ok("zh-Hant".into()));
        assert_eq!(ok("zh-hant"), Ok("zh-Hant".into()));
        assert_eq!(ok("sr-latn-rs"), Ok("sr-Latn-RS".into()));
        assert_eq!(ok("es-419"), Ok("es-419".into()));
        for bad in ["", "d", "deutsch", "de_DE", "de-", "1a", "en-x", "de-<b>"] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }
}
