//! `GET /v1/conversations/{id}/poll?since=…&timeout_ms=…`: the long-poll
//! adapter of the session core. Answers at once with the changes after
//! `since` — at most one chunk (`changes::CHUNK`), with `has_more` telling the
//! client to poll again at once from `cursor` — or, when there are none,
//! waits (registered with the hub before reading, so nothing slips between)
//! until there are some, the timeout passes, or the token expires. A waiting
//! poll holds a session permit like any other transport.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::Since;
use crate::error::ApiError;
use crate::extract::{Caller, Path, Query};
use crate::realtime::hub::Topic;
use crate::realtime::session::{Chunk, End, Session, Transport};
use crate::realtime::RealtimeState;

const DEFAULT_TIMEOUT_MS: u64 = 25_000;
const MAX_TIMEOUT_MS: u64 = 60_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollQuery {
    #[serde(default)]
    since: Since,
    timeout_ms: Option<u64>,
}

pub async fn poll(
    State(state): State<RealtimeState>,
    Caller(caller): Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(conversation): Path<Uuid>,
    Query(query): Query<PollQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let timeout = Duration::from_millis(
        query
            .timeout_ms
            .unwrap_or(DEFAULT_TIMEOUT_MS)
            .min(MAX_TIMEOUT_MS),
    );
    let mut session = Session::open(&state, caller, peer.ip(), Transport::LongPoll)?;
    let since = query.since.get();
    session.watch(Topic::Conversation(conversation), since);
    let first = session.read_chunk(conversation, since).await?;
    let chunk = if first.events.is_empty() {
        wait(&mut session, conversation, since, timeout, first).await?
    } else {
        first
    };
    drop(session);
    let frames: Vec<&str> = chunk.events.iter().map(|e| e.frame.as_str()).collect();
    let body = format!(
        "{{\"events\":[{}],\"cursor\":{},\"has_more\":{}}}",
        frames.join(","),
        chunk.cursor,
        chunk.more
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

/// Waits for the next change, then reads it; answers `empty` when the
/// timeout passes first, 401 when the token expires first.
async fn wait(
    session: &mut Session,
    conversation: Uuid,
    since: i64,
    timeout: Duration,
    empty: Chunk,
) -> Result<Chunk, ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::select! {
            next = session.next() => next,
            () = tokio::time::sleep_until(deadline) => return Ok(empty),
        };
        match next {
            // Typing and presence wake us but are not part of the change feed.
            Ok(event) if event.change_seq.is_none() => continue,
            Ok(_) => {
                let chunk = session.read_chunk(conversation, since).await?;
                if !chunk.events.is_empty() {
                    return Ok(chunk);
                }
            }
            Err(End::TokenExpired) => return Err(ApiError::Unauthorized("token expired".into())),
            Err(_) => return Ok(empty),
        }
    }
}
