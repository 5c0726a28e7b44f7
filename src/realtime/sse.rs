//! `GET /v1/events?topic=…[&since=…]`: Server-Sent Events for clients without
//! WebSocket. One topic per stream; each event's `data` is the same JSON frame a
//! WebSocket gets and, on conversation topics, its `id` is the change_seq, so a
//! reconnecting EventSource resumes from `Last-Event-ID` with no gap.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::{AppState, Caller, Query};
use crate::realtime::hub::{Event, Hub, Topic};
use crate::realtime::subscription::{self, CatchUp};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    topic: String,
    since: Option<i64>,
}

/// Unsubscribes when the client goes away (the stream is dropped).
struct Registration {
    hub: Arc<Hub>,
    conn: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.disconnect(self.conn);
    }
}

pub async fn stream(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let topic = Topic::parse(&query.topic, &caller).ok_or_else(|| {
        ApiError::bad_request("invalid_topic", format!("unknown topic `{}`", query.topic))
    })?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::parse::<i64>);
    let since = match last_event_id {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID is a change_seq",
            ))
        }
        None => query.since,
    };
    let hub = state.realtime.hub.clone();
    let (conn, rx) = hub.connect(state.realtime.config.ws_queue);
    let registration = Registration {
        hub: hub.clone(),
        conn: conn.id,
    };
    subscription::register(&state, &caller, &conn, &topic).await?;
    let mut backlog = Vec::new();
    let cursor = match (topic.conversation(), since) {
        (None, _) => 0,
        (Some(c), None) => subscription::head(&state, &caller, c).await?,
        (Some(c), Some(since)) => {
            let mut catch_up = CatchUp::new(c, since);
            while let Some(events) = catch_up.next(&state, &caller).await? {
                backlog.extend(events);
            }
            catch_up.cursor()
        }
    };
    let shutdown = state.realtime.shutting_down();
    let live = futures::stream::unfold(
        (rx, cursor, registration, conn, shutdown),
        |(mut rx, mut cursor, registration, conn, mut shutdown)| async move {
            loop {
                let event = tokio::select! {
                    _ = conn.evicted.notified() => return None,
                    _ = shutdown.changed() => return None,
                    event = rx.recv() => event?,
                };
                if let Some(cs) = event.change_seq {
                    if cs <= cursor {
                        continue;
                    }
                    cursor = cs;
                }
                let ends = event.ends_subscription;
                let item = to_sse(event);
                if ends {
                    // Access revoked: say so, then end the stream.
                    drop(registration);
                    return Some((
                        item,
                        (
                            rx,
                            cursor,
                            Registration {
                                hub: Arc::default(),
                                conn: u64::MAX,
                            },
                            conn,
                            shutdown,
                        ),
                    ));
                }
                return Some((item, (rx, cursor, registration, conn, shutdown)));
            }
        },
    );
    let stream = futures::stream::iter(backlog.into_iter().map(to_sse))
        .chain(live)
        .map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn to_sse(event: Event) -> SseEvent {
    let sse = SseEvent::default().data(event.frame.as_str());
    match event.change_seq {
        Some(cs) => sse.id(cs.to_string()),
        None => sse,
    }
}
