//! `GET /v1/events?topic=…[&since=…]`: the Server-Sent Events adapter of the
//! session core, for clients without WebSocket. One topic per stream; each
//! event's `data` is the same JSON frame a WebSocket gets and, on conversation
//! topics, its `id` is the change_seq, so a reconnecting EventSource resumes
//! from `Last-Event-ID` with no gap.
//!
//! The access check and the first chunk of the backlog happen before the
//! response (so an invisible conversation is a 404, not an empty stream); then
//! a task drives the session into a small channel that the response body
//! reads: the backlog chunk by chunk, then live events. A client that stops
//! reading fills the channel, the session's write deadline passes, and the
//! stream ends — as it does when the token expires, the server shuts down or
//! the topic is revoked — with a last event saying why (`closed`, or
//! `unsubscribed`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::domain::Since;
use crate::error::ApiError;
use crate::extract::{Caller, Query};
use crate::realtime::hub::{Event, Topic};
use crate::realtime::session::{self, Backfill, End, Failure, Outbound, Session, Transport};
use crate::realtime::RealtimeState;

/// Events between the session task and the response body. Small: the
/// session's own queue is the hub's, and a full channel is how a client that
/// stopped reading shows.
const STREAM_BUFFER: usize = 32;

/// How long the last event of a stream may wait for room.
const LAST_EVENT_PATIENCE: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    topic: String,
    since: Option<Since>,
}

pub async fn stream(
    State(state): State<RealtimeState>,
    Caller(caller): Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let topic = Topic::parse(&query.topic, &caller).ok_or_else(|| {
        ApiError::bad_request("invalid_topic", format!("unknown topic `{}`", query.topic))
    })?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::parse::<Since>);
    let since = match last_event_id {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID is a change_seq, 0 or more",
            ))
        }
        None => query.since,
    };
    let mut session = Session::open(&state, caller, peer.ip(), Transport::Sse)?;
    let backfill = session.subscribe(topic.clone(), since).await?;
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(drive(session, topic, backfill, Channel(tx)));
    let body = ReceiverStream::new(rx).map(Ok);
    Ok(Sse::new(body).keep_alive(KeepAlive::default()))
}

/// The response body's side of the stream.
struct Channel(mpsc::Sender<SseEvent>);

impl Outbound for Channel {
    async fn feed(&mut self, event: Event) -> Result<(), ()> {
        self.0.send(to_sse(event)).await.map_err(drop)
    }

    async fn flush(&mut self) -> Result<(), ()> {
        Ok(())
    }
}

/// Runs the session until it ends, then tells the client why.
async fn drive(mut session: Session, topic: Topic, backfill: Backfill, mut out: Channel) {
    let end = match session.backfill(backfill, &mut out).await {
        Ok(_) => live(&mut session, &mut out).await,
        Err(Failure::End(end)) => end,
        Err(Failure::Api(error)) => {
            // Later chunks of a backlog the first chunk showed us: a database error.
            error.log();
            End::Gone
        }
    };
    if end.code().is_some() {
        let last = session::end_frame(end, &topic, session.cursor(&topic));
        let _ = tokio::time::timeout(LAST_EVENT_PATIENCE, out.feed(last)).await;
    }
}

/// Forwards live events until the session ends or the client goes away.
async fn live(session: &mut Session, out: &mut Channel) -> End {
    loop {
        let event = tokio::select! {
            next = session.next() => match next {
                Ok(event) => event,
                Err(end) => return end,
            },
            () = out.0.closed() => return End::Gone,
        };
        let ends = event.ends_subscription;
        if let Err(end) = session.write_all(out, vec![event]).await {
            return end;
        }
        if ends {
            // Access revoked: `unsubscribed` was the last event.
            return End::Unsubscribed;
        }
    }
}

fn to_sse(event: Event) -> SseEvent {
    let sse = SseEvent::default().data(event.frame.as_str());
    match event.change_seq {
        Some(cs) => sse.id(cs.to_string()),
        None => sse,
    }
}
