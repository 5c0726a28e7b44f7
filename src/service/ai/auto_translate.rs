//! Auto-translation in rooms with `auto_translate` (sql/77_translation.sql):
//! the assistant's trigger queues one `auto_translate` job per new message
//! and language its members read; the worker (`worker.rs`) hands each here.
//! It is the translate endpoint's operation (`translate::translate`) done in
//! the sender's name: the message is read under their RLS, a cached
//! translation is reused, a provider call takes one answer from the sender's
//! quota (their messages cause it), and the text lands in
//! `message_translations`, whose trigger announces it as `message_translated`.
//!
//! Nothing here is anyone's request, so nothing is answered: a translation
//! that cannot be made (the sender's quota spent, the providers failing, the
//! message gone or edited) is left out — readers can still ask for one — and
//! said in the log. Without a provider that translates (only the offline
//! one), jobs are dropped and that is logged once.

use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use super::translate::{self, Lang};
use super::Assistant;
use crate::auth::Identity;
use crate::db::Db;
use crate::error::ApiError;

/// Set once the missing translation model has been logged.
static NO_MODEL_LOGGED: AtomicBool = AtomicBool::new(false);

/// Translates `message_id` into `lang` for the room's readers. `Err` only
/// for what is worth a retry (the database); the job is done otherwise.
pub async fn run(
    db: &Db,
    assistant: &Assistant,
    sender: &Identity,
    message_id: Uuid,
    lang: &str,
) -> Result<(), ApiError> {
    if !assistant.translates() {
        if !NO_MODEL_LOGGED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "a room has auto_translate on, but no AI provider translates \
                 (the offline provider cannot; set PGCHAT_AI_BASE_URL): its messages stay untranslated"
            );
        }
        return Ok(());
    }
    // The trigger stored a canonical tag (sql/77_translation.sql).
    let lang = Lang::try_from(lang.to_owned())
        .map_err(|why| ApiError::Internal(anyhow::anyhow!("queued language {lang:?}: {why}")))?;
    match translate::translate(db, assistant, sender, message_id, lang.clone()).await {
        Ok(_) => Ok(()),
        Err(error @ (ApiError::Internal(_) | ApiError::Timeout)) => Err(error),
        Err(error) => {
            tracing::info!(
                message = %message_id,
                lang = lang.as_str(),
                code = error.code(),
                "no auto-translation: {}",
                error.public_message()
            );
            Ok(())
        }
    }
}
