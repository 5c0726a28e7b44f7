//! The AI assistant: a `Provider` trait, the chain of providers tried in
//! order (OpenAI-compatible APIs, then the built-in offline provider), and
//! the operations — answer a question (`ask`), summarize a conversation for
//! staff (`summarize`) — plus the worker that answers `@ai` mentions and
//! greets waiting support sessions (`worker`).
//!
//! What the model sees is read under the asking user's RLS identity (so a
//! customer's question never carries an internal note), bounded in messages
//! and characters. An answer that goes into a conversation is public when the
//! question was, so a public answer is built without internal notes even when
//! staff ask. Answers are rate-limited per user (`pgchat.ai_take_quota`,
//! shared by every node). A provider that fails or times out hands over to
//! the next; when all fail the caller gets a clear error, never a hung
//! request: each API provider has a time budget, retries included.

pub mod auto_translate;
pub mod moderate;
pub mod offline;
pub mod openai;
pub mod sentiment;
pub mod translate;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Identity;
use crate::config::{AiConfig, SentimentScorer};
use crate::db::{Db, Transaction};
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// One message of the context, oldest first.
#[derive(Clone, Debug)]
pub struct Line {
    /// The message (None for lines that are not stored messages).
    pub id: Option<Uuid>,
    pub author: String,
    pub role: String,
    pub body: String,
    /// The message itself calls the assistant (`pgchat.ai_call`): a question, not an answer.
    pub calls_ai: bool,
}

/// A question and answer of the FAQ (`ai_faq`).
#[derive(Clone, Debug)]
pub struct FaqEntry {
    pub id: i64,
    pub question: String,
    pub answer: String,
}

/// What an answer drew on: a message of the conversation or an FAQ entry.
/// Serialized as the answer's `sources` (`{"kind": "message", "id"}`,
/// `{"kind": "faq", "id", "question"}`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Message { id: Uuid },
    Faq { id: i64, question: String },
}

impl Source {
    fn of_line(line: &Line) -> Option<Self> {
        line.id.map(|id| Source::Message { id })
    }

    fn of_faq(entry: &FaqEntry) -> Self {
        Source::Faq {
            id: entry.id,
            question: entry.question.clone(),
        }
    }
}

/// What the assistant is asked to do.
#[derive(Clone, Debug)]
pub enum Task {
    /// Answer a question (with the conversation as context, if any).
    Answer { question: String },
    /// Summarize the conversation for an agent taking it over.
    Summarize,
    /// Greet a customer waiting while no agent is online, and help if the FAQ can.
    FirstResponse { subject: String, question: String },
    /// Translate a message's text into a language (a BCP 47 tag).
    Translate { text: String, lang: String },
    /// Score the sentiment of each text from -1 to 1: the answer is a JSON
    /// array of numbers, one per text, in order (`sentiment::parse_scores`).
    Sentiment { texts: Vec<String> },
}

impl Task {
    pub fn name(&self) -> &'static str {
        match self {
            Task::Answer { .. } => "answer",
            Task::Summarize => "summary",
            Task::FirstResponse { .. } => "first_response",
            Task::Translate { .. } => "translate",
            Task::Sentiment { .. } => "sentiment",
        }
    }
}

/// Everything a provider gets.
#[derive(Clone, Debug)]
pub struct Prompt {
    pub task: Task,
    /// The conversation, oldest first, already bounded.
    pub conversation: Vec<Line>,
    /// FAQ entries relevant to the question (best first).
    pub faq: Vec<FaqEntry>,
}

/// A provider's answer.
#[derive(Clone, Debug)]
pub struct Completion {
    pub text: String,
    pub provider: String,
    pub model: Option<String>,
    /// The messages and FAQ entries the answer used (cited by the model, or
    /// matched by the offline provider), without duplicates.
    pub sources: Vec<Source>,
    /// 0..1 where the provider gives one: the offline provider's match score,
    /// or an API's mean token probability when it returns log-probabilities.
    pub confidence: Option<f64>,
}

impl Completion {
    /// `sources` and `confidence` as the API shows them (rounded to 3 places).
    fn provenance(&self) -> (serde_json::Value, Option<f64>) {
        (
            json!(self.sources),
            self.confidence
                .map(|c| (c.clamp(0.0, 1.0) * 1000.0).round() / 1000.0),
        )
    }
}

/// Why a provider gave no answer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("timed out")]
    Timeout,
    #[error("answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("could not be reached: {0}")]
    Transport(String),
    #[error("gave an unusable answer: {0}")]
    Invalid(String),
}

/// Something that answers prompts: an API, or the offline provider.
pub trait Provider: Send + Sync {
    fn name(&self) -> &str;
    /// Whether it can translate (`Task::Translate`): the offline provider cannot.
    fn translates(&self) -> bool {
        true
    }
    fn complete<'a>(
        &'a self,
        prompt: &'a Prompt,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;
    /// The content check of a text (`moderate::Verdict`).
    fn moderate<'a>(
        &'a self,
        text: &'a str,
    ) -> BoxFuture<'a, Result<moderate::Verdict, ProviderError>>;
}

/// Every provider of the chain failed.
#[derive(Debug)]
pub struct AiFailure {
    pub attempts: Vec<(String, ProviderError)>,
}

impl AiFailure {
    /// A short code for metadata and logs: `timeout` when the last provider timed out.
    pub fn code(&self) -> &'static str {
        match self.attempts.last() {
            Some((_, ProviderError::Timeout)) => "timeout",
            Some(_) => "provider_error",
            None => "no_provider",
        }
    }
}

impl std::fmt::Display for AiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.attempts.last() {
            None => f.write_str("no AI provider is configured"),
            Some((name, ProviderError::Timeout)) => write!(f, "the AI service ({name}) timed out"),
            Some((name, error)) => write!(f, "the AI service ({name}) {error}"),
        }
    }
}

/// Limits of the operations.
#[derive(Clone, Debug)]
pub struct Limits {
    pub rate_limit: u32,
    pub rate_window_secs: u32,
    pub context_messages: u32,
    pub context_chars: usize,
}

/// The chain of providers, each with its time budget, and the limits.
pub struct Assistant {
    providers: Vec<(Arc<dyn Provider>, Duration)>,
    pub limits: Limits,
    /// Settings the database's triggers read (written at start-up).
    pub support_enabled: bool,
    pub first_response: bool,
    /// Phrases that call the assistant, and that ask for a translation (`pgchat.ai_call`).
    pub triggers: Vec<String>,
    pub translate_triggers: Vec<String>,
    /// Messages the content filter checks also get the model check (`moderate`).
    pub moderation_check: bool,
    /// Sentiment is asked of the API providers (`PGCHAT_AI_SENTIMENT=model`).
    pub sentiment_by_model: bool,
}

/// Time given to a provider without a budget of its own (the offline one).
const LOCAL_BUDGET: Duration = Duration::from_secs(5);

impl Assistant {
    /// The chain from the configuration: the API (if any), the fallback API
    /// (if any), then the offline provider (unless turned off).
    pub fn from_config(config: &AiConfig) -> anyhow::Result<Self> {
        let budget = Duration::from_millis(config.ai_timeout_ms.max(1));
        // An empty variable (as docker-compose passes an unset one) means unset.
        let set = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        let mut providers: Vec<(Arc<dyn Provider>, Duration)> = Vec::new();
        if let Some(url) = set(&config.ai_base_url) {
            let api = openai::OpenAi::new(openai::Settings {
                name: "openai".into(),
                base_url: url,
                model: config.ai_model.clone(),
                api_key: set(&config.ai_api_key),
                budget,
                retries: config.ai_retries,
                max_tokens: config.ai_max_tokens,
                logprobs: config.ai_logprobs,
                moderation_model: config.ai_moderation_model.clone(),
            })?;
            providers.push((Arc::new(api), budget));
        }
        if let Some(url) = set(&config.ai_fallback_base_url) {
            let api = openai::OpenAi::new(openai::Settings {
                name: "openai-fallback".into(),
                base_url: url,
                model: set(&config.ai_fallback_model).unwrap_or_else(|| config.ai_model.clone()),
                api_key: set(&config.ai_fallback_api_key),
                budget,
                retries: config.ai_retries,
                max_tokens: config.ai_max_tokens,
                logprobs: config.ai_logprobs,
                moderation_model: config.ai_moderation_model.clone(),
            })?;
            providers.push((Arc::new(api), budget));
        }
        if config.ai_offline {
            providers.push((Arc::new(offline::Offline), LOCAL_BUDGET));
        }
        Ok(Self {
            providers,
            limits: Limits {
                rate_limit: config.ai_rate_limit,
                rate_window_secs: config.ai_rate_window_secs.max(1),
                context_messages: config.ai_context_messages.clamp(1, 200),
                context_chars: config.ai_context_chars.clamp(200, 200_000),
            },
            support_enabled: config.ai_support,
            first_response: config.ai_first_response,
            triggers: config.ai_triggers.clone(),
            translate_triggers: config.ai_translate_triggers.clone(),
            moderation_check: config.ai_moderation,
            sentiment_by_model: config.ai_sentiment == SentimentScorer::Model,
        })
    }

    /// The names of the providers, in the order they are tried.
    pub fn chain(&self) -> Vec<&str> {
        self.providers.iter().map(|(p, _)| p.name()).collect()
    }

    /// Whether some provider of the chain translates.
    pub fn translates(&self) -> bool {
        self.providers.iter().any(|(p, _)| p.translates())
    }

    /// Tries each provider in turn within its budget; the first answer wins.
    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, AiFailure> {
        let mut attempts = Vec::new();
        for (provider, budget) in &self.providers {
            let outcome = match tokio::time::timeout(*budget, provider.complete(prompt)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ProviderError::Timeout),
            };
            match outcome {
                Ok(completion) if !completion.text.trim().is_empty() => return Ok(completion),
                Ok(_) => attempts.push((
                    provider.name().to_owned(),
                    ProviderError::Invalid("empty answer".into()),
                )),
                Err(error) => {
                    tracing::warn!(provider = provider.name(), %error, "AI provider failed");
                    attempts.push((provider.name().to_owned(), error));
                }
            }
        }
        Err(AiFailure { attempts })
    }
}

// ── the operations ──────────────────────────────────────────────────────

/// A question to the assistant: 1 to 2000 characters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Question(String);

impl Question {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Question {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err("question must not be empty".into());
        }
        if trimmed.chars().count() > 2000 || trimmed.contains('\0') {
            return Err("question must be at most 2000 characters, without NUL".into());
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// Answers a question, with a conversation the caller can read as context.
#[tracing::instrument(skip(db, assistant, caller, question), fields(user = %caller.sub))]
pub async fn ask(
    db: &Db,
    assistant: &Assistant,
    caller: &Identity,
    question: Question,
    conversation_id: Option<Uuid>,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let conversation = match conversation_id {
        Some(id) => {
            ensure_enabled(&tx, id).await?;
            // Only the caller reads this answer: staff may have their notes in it.
            read_context(&tx, &assistant.limits, id, caller.role.is_staff(), None).await?
        }
        None => Vec::new(),
    };
    let faq = offline::relevant_faq(question.as_str(), &read_faq(&tx).await?, 3);
    take_quota(&tx, &assistant.limits).await?;
    tx.commit().await?;
    drop(client);
    let prompt = Prompt {
        task: Task::Answer {
            question: question.as_str().to_owned(),
        },
        conversation,
        faq,
    };
    let completion = assistant.complete(&prompt).await.map_err(unavailable)?;
    let (sources, confidence) = completion.provenance();
    Ok(json!({
        "answer": completion.text,
        "provider": completion.provider,
        "model": completion.model,
        "sources": sources,
        "confidence": confidence,
        "conversation_id": conversation_id,
    }))
}

/// A summary of a conversation for staff (internal notes included); with
/// `post`, also stored in the conversation as an internal `ai_response` note.
#[tracing::instrument(skip(db, assistant, caller), fields(user = %caller.sub))]
pub async fn summarize(
    db: &Db,
    assistant: &Assistant,
    caller: &Identity,
    conversation_id: Uuid,
    post: bool,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Summarize).await?;
    ensure_enabled(&tx, conversation_id).await?;
    let conversation = read_context(&tx, &assistant.limits, conversation_id, true, None).await?;
    take_quota(&tx, &assistant.limits).await?;
    tx.commit().await?;
    drop(client);
    let count = conversation.len();
    let prompt = Prompt {
        task: Task::Summarize,
        conversation,
        faq: Vec::new(),
    };
    let completion = assistant.complete(&prompt).await.map_err(unavailable)?;
    let message = if post {
        let metadata = answer_metadata(&completion, "summary", &caller.sub);
        Some(
            post_message(
                db,
                conversation_id,
                None,
                true,
                "ai_response",
                &completion.text,
                metadata,
            )
            .await?,
        )
    } else {
        None
    };
    Ok(json!({
        "conversation_id": conversation_id,
        "summary": completion.text,
        "provider": completion.provider,
        "model": completion.model,
        "messages_considered": count,
        "message": message,
    }))
}

pub(super) fn unavailable(failure: AiFailure) -> ApiError {
    ApiError::Unavailable(format!(
        "the assistant could not answer: {failure}; try again later"
    ))
}

/// 404 when the conversation is not visible, 403 when the assistant is off there.
pub(super) async fn ensure_enabled(
    tx: &Transaction<'_>,
    conversation_id: Uuid,
) -> Result<(), ApiError> {
    let statement = tx
        .prepare_cached("SELECT pgchat.ai_enabled(c.id) FROM conversations c WHERE c.id = $1")
        .await?;
    let enabled: bool = tx
        .query_opt(&statement, &[&conversation_id])
        .await?
        .ok_or(ApiError::NotFound("conversation"))?
        .get(0);
    if !enabled {
        return Err(ApiError::forbidden(
            "ai_disabled",
            "the assistant is turned off in this conversation (settings.enable_ai)",
        ));
    }
    Ok(())
}

/// Takes one answer from the caller's quota, or 429 with Retry-After.
pub(super) async fn take_quota(tx: &Transaction<'_>, limits: &Limits) -> Result<(), ApiError> {
    let statement = tx
        .prepare_cached("SELECT pgchat.ai_take_quota($1, $2)")
        .await?;
    let wait: i32 = tx
        .query_one(
            &statement,
            &[
                &(limits.rate_limit as i32),
                &(limits.rate_window_secs as i32),
            ],
        )
        .await?
        .get(0);
    if wait > 0 {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait as u64,
        });
    }
    Ok(())
}

/// The newest messages of a conversation as the transaction's identity sees
/// them (RLS), oldest first, at most `context_messages` and `context_chars`.
/// Internal notes only with `internal` (and RLS shows them to staff only).
/// `up_to_seq`: nothing after this message.
async fn read_context(
    tx: &Transaction<'_>,
    limits: &Limits,
    conversation_id: Uuid,
    internal: bool,
    up_to_seq: Option<i64>,
) -> Result<Vec<Line>, ApiError> {
    let statement = tx
        .prepare_cached(
            "SELECT coalesce(pgchat.message_json(m) ->> 'sender_name',
                             CASE WHEN m.anonymous THEN 'anonymous' ELSE m.sender_id END,
                             CASE WHEN m.kind = 'ai_response' THEN 'assistant' ELSE 'system' END),
                    m.sender_role, m.kind, m.body, m.id,
                    m.body ~* (SELECT pgchat.ai_call_prefix()) AND (pgchat.ai_call(m.body)).kind IS NOT NULL
               FROM chat_messages m
              WHERE m.conversation_id = $1 AND m.deleted_at IS NULL AND ($2 OR NOT m.internal)
                AND m.seq <= $3
              ORDER BY m.seq DESC LIMIT $4",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[
                &conversation_id,
                &internal,
                &up_to_seq.unwrap_or(i64::MAX),
                &(limits.context_messages as i64),
            ],
        )
        .await?;
    let mut budget = limits.context_chars;
    let mut lines = Vec::new();
    for row in rows {
        let body: String = row.get(3);
        let body: String = body.chars().take(1000).collect();
        let cost = body.chars().count() + 20;
        if cost > budget {
            break;
        }
        budget -= cost;
        let kind: String = row.get(2);
        let role: String = row.get(1);
        lines.push(Line {
            id: Some(row.get(4)),
            calls_ai: row.get(5),
            author: row.get(0),
            role: if kind == "ai_response" {
                "assistant".into()
            } else {
                role
            },
            body,
        });
    }
    lines.reverse();
    Ok(lines)
}

async fn read_faq(tx: &Transaction<'_>) -> Result<Vec<FaqEntry>, ApiError> {
    let statement = tx
        .prepare_cached("SELECT id, question, answer FROM ai_faq ORDER BY id LIMIT 500")
        .await?;
    Ok(tx
        .query(&statement, &[])
        .await?
        .iter()
        .map(|r| FaqEntry {
            id: r.get(0),
            question: r.get(1),
            answer: r.get(2),
        })
        .collect())
}

fn answer_metadata(completion: &Completion, task: &str, asked_by: &str) -> serde_json::Value {
    let (sources, confidence) = completion.provenance();
    json!({ "ai": {
        "task": task,
        "provider": completion.provider,
        "model": completion.model,
        "asked_by": asked_by,
        "sources": sources,
        "confidence": confidence,
    }})
}

/// Stores the assistant's message (an `ai_response`, or a `system` notice
/// when it could not answer) as the server: through the ordinary INSERT, so
/// the seq and NOTIFY triggers apply and it fans out like any other message.
/// No user sends it (sender_id is NULL, sender_role `system`), so no request
/// can forge one. Answers are cut to the longest body a message may have.
pub(crate) async fn post_message(
    db: &Db,
    conversation_id: Uuid,
    reply_to: Option<Uuid>,
    internal: bool,
    kind: &str,
    body: &str,
    metadata: serde_json::Value,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    // An ended support session takes no more messages, as for a person's send;
    // the share lock keeps it from ending until this insert commits.
    let ended = tx
        .query_opt(
            "SELECT status = 'ended' FROM live_chat_sessions WHERE conversation_id = $1 FOR SHARE",
            &[&conversation_id],
        )
        .await?
        .is_some_and(|row| row.get(0));
    if ended {
        return Err(ApiError::conflict(
            "session_ended",
            "this support session has ended",
        ));
    }
    let message = insert_message(
        &tx,
        conversation_id,
        reply_to,
        internal,
        kind,
        body,
        metadata,
    )
    .await?;
    tx.commit().await?;
    Ok(message)
}

async fn insert_message(
    client: &impl deadpool_postgres::GenericClient,
    conversation_id: Uuid,
    reply_to: Option<Uuid>,
    internal: bool,
    kind: &str,
    body: &str,
    metadata: serde_json::Value,
) -> Result<WireRow, ApiError> {
    let body: String = body
        .trim()
        .chars()
        .filter(|c| *c != '\0')
        .take(crate::domain::MAX_BODY_CHARS)
        .collect();
    let row = client
        .query_one(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, reply_to, internal, metadata)
             VALUES ($1, NULL, 'system', $2, $3, $4, $5, $6)
             RETURNING pgchat.message_json(chat_messages.*)",
            &[&conversation_id, &kind, &body, &reply_to, &internal, &metadata],
        )
        .await?;
    Ok(row.get(0))
}
