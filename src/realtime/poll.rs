//! `GET /v1/conversations/{id}/poll?since=…&timeout_ms=…`: long polling. Answers
//! at once with the changes after `since`, or waits (registered with the hub
//! before reading, so nothing slips between) until there are some or the
//! timeout passes. The events are the frames a WebSocket gets.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::{AppState, Caller, Path, Query};
use crate::realtime::hub::Topic;
use crate::realtime::subscription::CatchUp;

const DEFAULT_TIMEOUT_MS: u64 = 25_000;
const MAX_TIMEOUT_MS: u64 = 60_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollQuery {
    #[serde(default)]
    since: i64,
    timeout_ms: Option<u64>,
}

pub async fn poll(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(conversation): Path<Uuid>,
    Query(query): Query<PollQuery>,
) -> Result<impl IntoResponse, ApiError> {
    if query.since < 0 {
        return Err(ApiError::bad_request(
            "invalid_since",
            "since must not be negative",
        ));
    }
    let timeout = Duration::from_millis(
        query
            .timeout_ms
            .unwrap_or(DEFAULT_TIMEOUT_MS)
            .min(MAX_TIMEOUT_MS),
    );
    let hub = state.realtime.hub.clone();
    let (conn, mut rx) = hub.connect(16);
    hub.subscribe(&conn, &caller, Topic::Conversation(conversation));
    let answer: Result<(Vec<String>, i64), ApiError> = async {
        let first = read(&state, &caller, conversation, query.since).await?;
        if !first.0.is_empty() {
            return Ok(first);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) | Ok(None) => return Ok(first),
                // Typing and presence wake us but are not part of the change feed.
                Ok(Some(event)) if event.change_seq.is_none() => continue,
                Ok(Some(_)) => {
                    let next = read(&state, &caller, conversation, query.since).await?;
                    if !next.0.is_empty() {
                        return Ok(next);
                    }
                }
            }
        }
    }
    .await;
    hub.disconnect(conn.id);
    let (frames, cursor) = answer?;
    let body = format!("{{\"events\":[{}],\"cursor\":{cursor}}}", frames.join(","));
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

/// The frames after `since` the caller may see, and the cursor after them.
async fn read(
    state: &AppState,
    caller: &crate::auth::Identity,
    conversation: Uuid,
    since: i64,
) -> Result<(Vec<String>, i64), ApiError> {
    let mut catch_up = CatchUp::new(conversation, since);
    let mut frames = Vec::new();
    while let Some(events) = catch_up.next(state, caller).await? {
        frames.extend(events.into_iter().map(|e| e.frame.as_str().to_owned()));
    }
    Ok((frames, catch_up.cursor()))
}
