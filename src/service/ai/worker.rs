//! The assistant's background work, on every node: answering messages that
//! call it (`@ai …`, `Translate to de: …`; the phrases are configured, and
//! `pgchat.ai_call` reads them), greeting new support sessions while no
//! agent is online, and translating the messages of auto-translated rooms
//! (`auto_translate.rs`). Triggers (sql/75_ai.sql) queue `ai_jobs` rows and wake the workers
//! with `NOTIFY pgchat_ai`; a node takes a job with `FOR UPDATE SKIP LOCKED`
//! and a lease, so each job is answered once however many nodes run, and a job
//! whose node died is taken again when its lease runs out.
//!
//! The context is read under the asker's identity (RLS), so what the model
//! sees is what the asker may see; a public question is answered without
//! internal notes, an internal note's question with them (and the answer is
//! an internal note too). The answer is inserted as the server, through the
//! ordinary INSERT: seq and NOTIFY triggers apply, and it fans out like any
//! other message. When the providers fail, a `system` notice says so.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

use super::translate::Lang;
use super::{Assistant, Prompt, Task};
use crate::auth::{Identity, Role};
use crate::db::Db;
use crate::error::ApiError;
use crate::pg_listen::{Notice, PgListen};
use crate::supervisor::Supervisor;

/// The NOTIFY channel of the assistant's triggers.
pub const CHANNEL: &str = "pgchat_ai";
/// How often the queue is looked at without being asked.
const SWEEP: Duration = Duration::from_secs(5);
/// Jobs one node answers at the same time.
const CONCURRENCY: usize = 4;
/// A job is given up after this many takes (its nodes kept dying).
const MAX_ATTEMPTS: i32 = 3;

/// Records the assistant's settings in the database (the triggers read
/// them), then starts listening and answering under `supervisor`.
pub async fn start(
    db: Db,
    database: tokio_postgres::Config,
    assistant: Arc<Assistant>,
    supervisor: &mut Supervisor,
) -> anyhow::Result<()> {
    let client = db.client().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    client
        .execute(
            "UPDATE ai_settings SET support_enabled = $1, first_response = $2, triggers = $3,
                    translate_triggers = $4, updated_at = now() WHERE id",
            &[
                &assistant.support_enabled,
                &assistant.first_response,
                &assistant.triggers,
                &assistant.translate_triggers,
            ],
        )
        .await
        .context("writing the assistant's settings")?;
    super::moderate::record_setting(&client, &assistant)
        .await
        .context("writing the moderation check's setting")?;
    drop(client);
    let wake = Arc::new(Notify::new());
    let (listen, notices) = PgListen::new(database, db.tls(), "pgchat-ai", &[CHANNEL]).start();
    supervisor.spawn("assistant listener", listen);
    supervisor.spawn("assistant wake-ups", wake_on(notices, wake.clone()));
    supervisor.spawn("assistant worker", work(db, assistant, wake));
    Ok(())
}

/// Wakes the worker on every notification and after every (re)connect
/// (whatever was queued while we were away).
async fn wake_on(mut notices: tokio::sync::mpsc::Receiver<Notice>, wake: Arc<Notify>) {
    while let Some(notice) = notices.recv().await {
        if !matches!(notice, Notice::Disconnected) {
            wake.notify_one();
        }
    }
}

/// Takes due jobs (up to `CONCURRENCY` at once) whenever woken, and every `SWEEP`.
async fn work(db: Db, assistant: Arc<Assistant>, wake: Arc<Notify>) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    // Longer than any answer can take: every provider's budget, plus the database.
    let lease = assistant
        .providers
        .iter()
        .map(|(_, budget)| *budget)
        .sum::<Duration>()
        + Duration::from_secs(30);
    // Jobs in flight belong to this task: stopping it stops them (a job cut
    // short is taken again when its lease runs out).
    let mut jobs = tokio::task::JoinSet::new();
    loop {
        while jobs.try_join_next().is_some() {}
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            match claim(&db, lease).await {
                Ok(Some(job)) => {
                    let (db, assistant) = (db.clone(), assistant.clone());
                    jobs.spawn(async move {
                        let id = job.id;
                        if let Err(error) = run(&db, &assistant, job).await {
                            tracing::warn!(job = id, error = %error, "assistant job failed; it will be retried");
                        }
                        drop(permit);
                    });
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(error = %error, "taking an assistant job");
                    break;
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(SWEEP) => {}
        }
    }
}

struct Job {
    id: i64,
    kind: String,
    conversation_id: Uuid,
    message_id: Option<Uuid>,
    user_id: String,
    user_role: String,
    attempts: i32,
    /// The target language of an `auto_translate` job.
    lang: Option<String>,
}

async fn claim(db: &Db, lease: Duration) -> Result<Option<Job>, ApiError> {
    let client = db.client().await?;
    let statement = client
        .prepare_cached(
            "UPDATE ai_jobs SET attempts = attempts + 1, locked_until = now() + make_interval(secs => $1)
              WHERE id = (SELECT id FROM ai_jobs
                           WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now())
                           ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, conversation_id, message_id, user_id, user_role, attempts, lang",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&lease.as_secs_f64()])
        .await?;
    Ok(row.map(|r| Job {
        id: r.get(0),
        kind: r.get(1),
        conversation_id: r.get(2),
        message_id: r.get(3),
        user_id: r.get(4),
        user_role: r.get(5),
        attempts: r.get(6),
        lang: r.get(7),
    }))
}

/// What a job ends with: a message to post (or nothing), then the job is deleted.
struct Post {
    reply_to: Option<Uuid>,
    internal: bool,
    kind: &'static str,
    body: String,
    metadata: serde_json::Value,
}

/// Answers to a message that called the assistant: in reply to it, internal
/// when it was (a mention's answer and a translation's alike).
struct ReplyTo {
    message_id: Uuid,
    internal: bool,
}

impl ReplyTo {
    fn post(&self, kind: &'static str, body: String, metadata: serde_json::Value) -> Post {
        Post {
            reply_to: Some(self.message_id),
            internal: self.internal,
            kind,
            body,
            metadata,
        }
    }
}

async fn run(db: &Db, assistant: &Assistant, job: Job) -> Result<(), ApiError> {
    let post = if job.kind == "moderation" {
        // given up, the message is queued for a reviewer: never left unchecked
        if let Some(message) = job.message_id {
            let gave_up = job.attempts > MAX_ATTEMPTS;
            super::moderate::run(db, assistant, message, gave_up).await?;
        }
        None
    } else if job.attempts > MAX_ATTEMPTS {
        tracing::warn!(
            job = job.id,
            "assistant job given up after {MAX_ATTEMPTS} attempts"
        );
        None
    } else {
        match job.kind.as_str() {
            "mention" => mention(db, assistant, &job).await?,
            "translate" => translate(db, assistant, &job).await?,
            "first_response" => first_response(db, assistant, &job).await?,
            "auto_translate" => {
                if let (Some(message_id), Some(lang)) = (job.message_id, job.lang.as_deref()) {
                    super::auto_translate::run(db, assistant, &identity(&job), message_id, lang)
                        .await?;
                }
                None
            }
            other => {
                tracing::warn!(job = job.id, kind = other, "unknown assistant job");
                None
            }
        }
    };
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    if let Some(post) = post {
        super::insert_message(
            &tx,
            job.conversation_id,
            post.reply_to,
            post.internal,
            post.kind,
            &post.body,
            post.metadata,
        )
        .await?;
    }
    tx.execute("DELETE FROM ai_jobs WHERE id = $1", &[&job.id])
        .await?;
    tx.commit().await?;
    Ok(())
}

fn identity(job: &Job) -> Identity {
    Identity {
        sub: job.user_id.clone(),
        role: job.user_role.parse().unwrap_or(Role::User),
        name: None,
        email: None,
        exp: i64::MAX,
    }
}

/// Answers an `@ai` message: context under the asker's identity, the quota,
/// then the chain; an `ai_response` in reply, or a notice of why not.
async fn mention(db: &Db, assistant: &Assistant, job: &Job) -> Result<Option<Post>, ApiError> {
    let Some(message_id) = job.message_id else {
        return Ok(None);
    };
    let asker = identity(job);
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, &asker).await?;
    // Read as the asker: gone, deleted or no longer visible → nothing to answer.
    let found = tx
        .query_opt(
            "SELECT c.rest, m.internal, m.seq
               FROM chat_messages m, pgchat.ai_call(m.body) c
              WHERE m.id = $1 AND m.deleted_at IS NULL",
            &[&message_id],
        )
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    let (question, internal, seq): (Option<String>, bool, i64) =
        (found.get(0), found.get(1), found.get(2));
    let reply = ReplyTo {
        message_id,
        internal,
    };
    match super::take_quota(&tx, &assistant.limits).await {
        Ok(()) => {}
        Err(ApiError::RateLimited { retry_after_secs }) => {
            tx.commit().await?;
            return Ok(Some(reply.post(
            "system",
            format!(
                "The assistant answers at most {} questions per person every {} s; ask again in {retry_after_secs} s.",
                assistant.limits.rate_limit, assistant.limits.rate_window_secs
            ),
            json!({ "ai_error": "rate_limited", "retry_after": retry_after_secs, "asked_by": job.user_id }),
        )));
        }
        Err(error) => return Err(error),
    }
    // A public question gets a public answer: no internal notes in its context.
    let conversation = super::read_context(
        &tx,
        &assistant.limits,
        job.conversation_id,
        internal,
        Some(seq),
    )
    .await?;
    let question = question.unwrap_or_default();
    let faq = super::offline::relevant_faq(&question, &super::read_faq(&tx).await?, 3);
    tx.commit().await?;
    drop(client);
    let task = if question.is_empty() {
        Task::Summarize
    } else {
        Task::Answer { question }
    };
    let task_name = task.name();
    let prompt = Prompt {
        task,
        conversation,
        faq,
    };
    Ok(Some(match assistant.complete(&prompt).await {
        Ok(completion) => {
            let metadata = super::answer_metadata(&completion, task_name, &job.user_id);
            reply.post("ai_response", completion.text, metadata)
        }
        Err(failure) => reply.post(
            "system",
            format!("The assistant could not answer: {failure}. Please try again later."),
            json!({ "ai_error": failure.code(), "asked_by": job.user_id }),
        ),
    }))
}

/// Translates as a message asked (`pgchat.ai_call`): `Translate to de: text`
/// answers with the text in German; `Translate [to de]` in reply to a message
/// answers with that message translated, through the translation cache as
/// `POST /v1/messages/{id}/translate` (read as the asker: a message they may
/// not read is not translated). No language named: English. The answer is an
/// `ai_response` in reply; a failure is a `system` notice saying why.
async fn translate(db: &Db, assistant: &Assistant, job: &Job) -> Result<Option<Post>, ApiError> {
    let Some(message_id) = job.message_id else {
        return Ok(None);
    };
    let asker = identity(job);
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, &asker).await?;
    let found = tx
        .query_opt(
            "SELECT c.lang, c.rest, m.reply_to, m.internal
               FROM chat_messages m, pgchat.ai_call(m.body) c
              WHERE m.id = $1 AND m.deleted_at IS NULL AND c.kind = 'translate'",
            &[&message_id],
        )
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    let (lang, text, parent, internal): (Option<String>, String, Option<Uuid>, bool) =
        (found.get(0), found.get(1), found.get(2), found.get(3));
    let reply = ReplyTo {
        message_id,
        internal,
    };
    let notice = |error: ApiError| {
        reply.post(
            "system",
            format!(
                "The assistant could not translate: {}",
                error.public_message()
            ),
            json!({ "ai_error": error.code(), "asked_by": job.user_id }),
        )
    };
    let lang = match Lang::try_from(lang.unwrap_or_else(|| "en".into())) {
        Ok(lang) => lang,
        Err(why) => return Ok(Some(notice(ApiError::bad_request("invalid_lang", why)))),
    };
    // The message translated, when it is another one (not the asking message's own text).
    let translated_message = if text.is_empty() { parent } else { None };
    let translated = if !text.is_empty() {
        if let Err(error) = super::take_quota(&tx, &assistant.limits).await {
            tx.commit().await?;
            return Ok(Some(notice(error)));
        }
        tx.commit().await?;
        drop(client);
        super::translate::text(assistant, &text, &lang)
            .await
            .map(|c| (c.text, json!(c.provider), json!(c.model)))
    } else if let Some(parent) = parent {
        tx.commit().await?;
        drop(client);
        super::translate::translate(db, assistant, &asker, parent, lang.clone())
            .await
            .map(|t| {
                (
                    t["text"].as_str().unwrap_or_default().to_owned(),
                    t["provider"].clone(),
                    t["model"].clone(),
                )
            })
    } else {
        return Ok(Some(notice(ApiError::bad_request(
            "nothing_to_translate",
            "write `Translate to de: your text`, or reply to a message with `Translate`",
        ))));
    };
    Ok(Some(match translated {
        Ok((text, provider, model)) => reply.post(
            "ai_response",
            text,
            json!({ "ai": {
                "task": "translate",
                "lang": lang.as_str(),
                "provider": provider,
                "model": model,
                "asked_by": job.user_id,
                "translated_message_id": translated_message,
            }}),
        ),
        Err(error) => notice(error),
    }))
}

/// Greets a new support session when it still waits and no agent is online.
async fn first_response(
    db: &Db,
    assistant: &Assistant,
    job: &Job,
) -> Result<Option<Post>, ApiError> {
    let client = db.client().await?;
    let state = client
        .query_opt(
            "SELECT s.subject,
                    s.status = 'waiting'
                    AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.enabled AND a.status = 'online')
                    AND NOT EXISTS (SELECT 1 FROM chat_messages m
                                     WHERE m.conversation_id = s.conversation_id AND m.kind = 'ai_response')
               FROM live_chat_sessions s WHERE s.conversation_id = $1",
            &[&job.conversation_id],
        )
        .await?;
    drop(client);
    let Some(state) = state else {
        return Ok(None);
    };
    let (subject, due): (String, bool) = (state.get(0), state.get(1));
    if !due {
        return Ok(None);
    }
    let customer = identity(job);
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, &customer).await?;
    let conversation =
        super::read_context(&tx, &assistant.limits, job.conversation_id, false, None).await?;
    let question = conversation
        .iter()
        .rev()
        .find(|line| line.role == "user")
        .map(|line| line.body.clone())
        .unwrap_or_default();
    let faq = super::offline::relevant_faq(
        &format!("{subject} {question}"),
        &super::read_faq(&tx).await?,
        3,
    );
    tx.commit().await?;
    drop(client);
    let prompt = Prompt {
        task: Task::FirstResponse { subject, question },
        conversation,
        faq,
    };
    match assistant.complete(&prompt).await {
        Ok(completion) => Ok(Some(Post {
            reply_to: None,
            internal: false,
            kind: "ai_response",
            metadata: super::answer_metadata(&completion, "first_response", &job.user_id),
            body: completion.text,
        })),
        Err(failure) => {
            // Nobody asked: no notice, the session simply waits for an agent.
            tracing::warn!(job = job.id, %failure, "no first response for a waiting session");
            Ok(None)
        }
    }
}
