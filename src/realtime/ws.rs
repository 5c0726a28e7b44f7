//! `GET /v1/ws`: one task per connection owns the socket, the subscriptions and
//! their cursors. It reads client frames, runs each command through the same
//! services REST uses, and writes hub events above each topic's cursor.
//!
//! Close codes: 1009 frame too large, 1012 server restarting (reconnect
//! elsewhere), 4000 heartbeat lost, 4001 token expired, 4008 too slow (resume
//! with `since`). docs/realtime.md has the whole protocol.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, SplitSink};
use futures::FutureExt;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Identity;
use crate::error::ApiError;
use crate::http::{AppState, Caller};
use crate::realtime::hub::{Event, Topic};
use crate::realtime::protocol::{self, Command};
use crate::realtime::subscription::{self, CatchUp};
use crate::service::messages::{self, NewMessage};
use crate::service::{ephemeral, support};

pub mod close {
    pub const TOO_LARGE: u16 = 1009;
    pub const RESTARTING: u16 = 1012;
    pub const HEARTBEAT_LOST: u16 = 4000;
    pub const TOKEN_EXPIRED: u16 = 4001;
    pub const TOO_SLOW: u16 = 4008;
}

/// Per-connection read buffer.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Sends one socket may have waiting for their commit.
const MAX_SENDS_IN_FLIGHT: usize = 256;

/// Typing starts are forwarded at most this often per conversation.
const TYPING_REFRESH: Duration = Duration::from_secs(1);

pub async fn upgrade(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::bad_request("not_a_websocket", rejection.body_text()).into_response()
        }
    };
    let permit = match state.limits.admit(&caller, peer.ip()) {
        Ok(permit) => permit,
        Err(error) => return error.into_response(),
    };
    let max = state.realtime.config.ws_max_frame_bytes;
    // tungstenite allocates its read buffer up front (128 KiB by default): small
    // buffers keep an idle socket cheap; a large frame is simply read in chunks.
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let (mut session, rx) = Session::new(state, caller);
            session.serve(socket, rx).await;
            drop(permit);
        })
}

type Sink = SplitSink<WebSocket, Message>;

/// Why the session ended; `Some` closes with that code and reason.
type Close = Option<(u16, &'static str)>;

struct Session {
    state: AppState,
    caller: Identity,
    conn: std::sync::Arc<crate::realtime::hub::Connection>,
    /// Subscribed topics → highest change_seq delivered (conversations; 0 otherwise).
    cursors: HashMap<Topic, i64>,
    /// Conversations the caller is typing in → (when it expires, when we last announced it).
    typing: HashMap<Uuid, (Instant, Instant)>,
    last_heard: Instant,
    /// Answers to sends in flight, in the order the sends came.
    sends: FuturesOrdered<BoxFuture<'static, Value>>,
}

impl Session {
    fn new(state: AppState, caller: Identity) -> (Self, tokio::sync::mpsc::Receiver<Event>) {
        let (conn, rx) = state.realtime.hub.connect(state.realtime.config.ws_queue);
        let session = Self {
            state,
            caller,
            conn,
            cursors: HashMap::new(),
            typing: HashMap::new(),
            last_heard: Instant::now(),
            sends: FuturesOrdered::new(),
        };
        (session, rx)
    }
}

impl Session {
    async fn serve(&mut self, socket: WebSocket, mut rx: tokio::sync::mpsc::Receiver<Event>) {
        let realtime = self.state.realtime.clone();
        realtime.metrics.connections.inc();
        let (mut sink, mut stream) = socket.split();
        if let Err(error) = ephemeral::connected(
            &self.state.db,
            realtime.node_id,
            &self.caller,
            realtime.presence_ttl(),
        )
        .await
        {
            tracing::warn!(%error, "presence on connect");
        }
        let mut shutdown = realtime.shutting_down();
        let beat = Duration::from_secs(realtime.config.ws_heartbeat_secs.max(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        let close: Close = loop {
            let expiry = tokio::time::sleep_until(self.token_deadline());
            let typing_due = self.typing.values().map(|(expires, _)| *expires).min();
            tokio::select! {
                biased;
                _ = self.conn.evicted.notified() => {
                    realtime.metrics.slow_consumer_closes.inc();
                    break Some((close::TOO_SLOW, "too slow: reconnect and resume with since"));
                }
                _ = shutdown.changed() => break Some((close::RESTARTING, "server restarting: reconnect")),
                _ = expiry => break Some((close::TOKEN_EXPIRED, "token expired: reconnect with a fresh token")),
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        self.last_heard = Instant::now();
                        if let Err(close) = self.handle(&text, &mut sink).await {
                            break close;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let error = ApiError::bad_request("binary_unsupported", "send JSON text frames");
                        if send(&mut sink, &protocol::error(&Value::Null, &error)).await.is_err() {
                            break None;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => self.last_heard = Instant::now(),
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(error)) => {
                        let text = error.to_string();
                        break (text.contains("too long") || text.contains("too big"))
                            .then_some((close::TOO_LARGE, "frame too large"));
                    }
                },
                Some(reply) = self.sends.next(), if !self.sends.is_empty() => {
                    if send(&mut sink, &reply).await.is_err() {
                        break None;
                    }
                }
                Some(event) = rx.recv() => {
                    if self.deliver(event, &mut sink, &mut rx).await.is_err() {
                        break None;
                    }
                }
                _ = sleep_until_opt(typing_due) => self.expire_typing().await,
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > beat * 2 {
                        break Some((close::HEARTBEAT_LOST, "no answer to pings"));
                    }
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
            }
        };
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        realtime.hub.disconnect(self.conn.id);
        realtime.metrics.connections.dec();
        for conversation in self.typing.keys().copied().collect::<Vec<_>>() {
            let _ = ephemeral::typing(&self.state.db, &self.caller, conversation, false).await;
        }
        if let Err(error) =
            ephemeral::disconnected(&self.state.db, realtime.node_id, &self.caller).await
        {
            tracing::warn!(%error, "presence on disconnect");
        }
    }

    fn token_deadline(&self) -> tokio::time::Instant {
        let left = self.caller.exp - chrono::Utc::now().timestamp();
        tokio::time::Instant::now() + Duration::from_secs(left.max(0) as u64)
    }

    /// Writes an event (and whatever else is queued) if it is above the topic's cursor.
    async fn deliver(
        &mut self,
        first: Event,
        sink: &mut Sink,
        rx: &mut tokio::sync::mpsc::Receiver<Event>,
    ) -> Result<(), axum::Error> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(event) = next.take() {
            if let Some(cursor) = self.cursors.get_mut(&event.topic) {
                let fresh = event.change_seq.is_none_or(|cs| cs > *cursor);
                if let Some(cs) = event.change_seq.filter(|_| fresh) {
                    *cursor = cs;
                }
                if event.ends_subscription {
                    self.cursors.remove(&event.topic);
                }
                if fresh {
                    sink.feed(Message::Text(event.frame)).await?;
                    written += 1;
                }
            }
            if written < 256 {
                next = rx.try_recv().ok();
            }
        }
        self.state.realtime.metrics.frames_delivered.inc_by(written);
        sink.flush().await
    }

    async fn handle(&mut self, text: &str, sink: &mut Sink) -> Result<(), Close> {
        let request = protocol::parse(text);
        let reference = request.reference;
        let command = match request.command {
            Ok(Command::SendMessage {
                conversation_id,
                client_msg_id,
                body,
                kind,
                reply_to,
                internal,
                attachment_id,
            }) => {
                let new = NewMessage {
                    client_msg_id,
                    body,
                    kind,
                    reply_to,
                    internal,
                    attachment_id,
                };
                return self
                    .pipeline_send(reference, conversation_id, new, sink)
                    .await;
            }
            other => other,
        };
        // Answers keep the order of the frames: the sends in flight come first.
        while let Some(reply) = self.sends.next().await {
            send(sink, &reply).await.map_err(|_| None)?;
        }
        let reply = match command {
            Err(error) => protocol::error(&reference, &error),
            Ok(Command::Ping {}) => json!({ "type": "pong", "ref": reference }),
            Ok(command) => match self.execute(command, sink).await {
                Ok(fields) => protocol::ack(&reference, fields),
                Err(Failure::Api(error)) => protocol::error(&reference, &error),
                Err(Failure::Socket) => return Err(None),
            },
        };
        send(sink, &reply).await.map_err(|_| None)
    }

    /// Queues a send (the same service call REST makes) without waiting for its
    /// commit, so one socket can have many sends in flight; the acks are written
    /// in order as the commits land.
    async fn pipeline_send(
        &mut self,
        reference: Value,
        conversation_id: Uuid,
        new: NewMessage,
        sink: &mut Sink,
    ) -> Result<(), Close> {
        if self.sends.len() >= MAX_SENDS_IN_FLIGHT {
            if let Some(reply) = self.sends.next().await {
                send(sink, &reply).await.map_err(|_| None)?;
            }
        }
        let reply = match messages::submit(&self.state.db, &self.caller, conversation_id, new).await
        {
            Ok(answer) => async move {
                match answer.await {
                    Ok(sent) => protocol::ack(
                        &reference,
                        json!({ "message": sent.message, "created": sent.created }),
                    ),
                    Err(error) => protocol::error(&reference, &error),
                }
            }
            .boxed(),
            Err(error) => futures::future::ready(protocol::error(&reference, &error)).boxed(),
        };
        self.sends.push_back(reply);
        if self.typing.remove(&conversation_id).is_some() {
            let _ = ephemeral::typing(&self.state.db, &self.caller, conversation_id, false).await;
        }
        Ok(())
    }

    async fn execute(&mut self, command: Command, sink: &mut Sink) -> Result<Value, Failure> {
        let state = self.state.clone();
        let db = &state.db;
        match command {
            Command::Subscribe { topic, since } => self.subscribe(&topic, since, sink).await,
            Command::Unsubscribe { topic } => {
                let parsed = Topic::parse(&topic, &self.caller).ok_or_else(|| {
                    ApiError::bad_request("invalid_topic", format!("unknown topic `{topic}`"))
                })?;
                state.realtime.hub.unsubscribe(self.conn.id, &parsed);
                self.cursors.remove(&parsed);
                Ok(json!({ "topic": topic }))
            }
            // handle() pipelines sends before they get here.
            Command::SendMessage { .. } => Err(Failure::Api(ApiError::Internal(anyhow::anyhow!(
                "send outside the pipeline"
            )))),
            Command::TypingStart { conversation_id } => {
                let now = Instant::now();
                let ttl = Duration::from_secs(state.realtime.config.typing_ttl_secs.max(1));
                let announced = self.typing.get(&conversation_id).map(|(_, at)| *at);
                let due = announced.is_none_or(|at| now.duration_since(at) >= TYPING_REFRESH);
                if due {
                    ephemeral::typing(db, &self.caller, conversation_id, true).await?;
                }
                self.typing.insert(
                    conversation_id,
                    (now + ttl, if due { now } else { announced.unwrap_or(now) }),
                );
                Ok(json!({}))
            }
            Command::TypingStop { conversation_id } => {
                if self.typing.remove(&conversation_id).is_some() {
                    ephemeral::typing(db, &self.caller, conversation_id, false).await?;
                }
                Ok(json!({}))
            }
            Command::MarkRead {
                conversation_id,
                seq,
            } => {
                let position = messages::mark_read(db, &self.caller, conversation_id, seq).await?;
                Ok(json!({ "conversation_id": conversation_id, "last_read_seq": position }))
            }
            Command::SetPresence { status } => {
                ephemeral::set_status(db, &self.caller, status).await?;
                Ok(json!({ "status": status.as_str() }))
            }
            Command::AccessToken { token } => {
                let fresh = state.verifier.verify(&token)?;
                if fresh.sub != self.caller.sub || fresh.role != self.caller.role {
                    return Err(ApiError::forbidden(
                        "token_identity_mismatch",
                        "a refreshed token must be for the same user and role",
                    )
                    .into());
                }
                self.caller = fresh;
                Ok(json!({ "exp": self.caller.exp }))
            }
            Command::Ping {} => Ok(json!({})),
        }
    }

    async fn subscribe(
        &mut self,
        name: &str,
        since: Option<i64>,
        sink: &mut Sink,
    ) -> Result<Value, Failure> {
        let topic = Topic::parse(name, &self.caller).ok_or_else(|| {
            ApiError::bad_request("invalid_topic", format!("unknown topic `{name}`"))
        })?;
        let hub = self.state.realtime.hub.clone();
        if self.cursors.remove(&topic).is_some() {
            hub.unsubscribe(self.conn.id, &topic);
        }
        if self.cursors.len() >= self.state.realtime.config.ws_max_subscriptions {
            return Err(ApiError::unprocessable(
                "too_many_subscriptions",
                "unsubscribe from something first",
            )
            .into());
        }
        if since.is_some_and(|s| s < 0) {
            return Err(
                ApiError::bad_request("invalid_since", "since must not be negative").into(),
            );
        }
        subscription::register(&self.state, &self.caller, &self.conn, &topic).await?;
        let caught_up = self.catch_up(&topic, since, sink).await;
        let mut ack = json!({ "topic": name });
        match caught_up {
            Ok(cursor) => {
                self.cursors.insert(topic.clone(), cursor);
                if topic.conversation().is_some() {
                    ack["cursor"] = json!(cursor);
                }
            }
            Err(failure) => {
                hub.unsubscribe(self.conn.id, &topic);
                return Err(failure);
            }
        }
        match topic {
            Topic::SupportQueue => {
                ack["sessions"] =
                    json!(support::queue_snapshot(&self.state.db, &self.caller).await?)
            }
            Topic::Inbox(_) => {
                ack["conversations"] =
                    json!(messages::inbox_snapshot(&self.state.db, &self.caller).await?)
            }
            _ => {}
        }
        Ok(ack)
    }

    /// Sends the backlog after `since` (register-then-read: live events wait in
    /// the queue meanwhile and are dropped at or below the returned cursor).
    async fn catch_up(
        &mut self,
        topic: &Topic,
        since: Option<i64>,
        sink: &mut Sink,
    ) -> Result<i64, Failure> {
        let Some(conversation) = topic.conversation() else {
            return Ok(0);
        };
        let Some(since) = since else {
            return Ok(subscription::head(&self.state, &self.caller, conversation).await?);
        };
        let mut catch_up = CatchUp::new(conversation, since);
        while let Some(events) = catch_up.next(&self.state, &self.caller).await? {
            // Read under the caller's RLS: everything in it is theirs to see.
            for event in events {
                sink.feed(Message::Text(event.frame))
                    .await
                    .map_err(|_| Failure::Socket)?;
            }
            sink.flush().await.map_err(|_| Failure::Socket)?;
        }
        Ok(catch_up.cursor())
    }

    async fn expire_typing(&mut self) {
        let now = Instant::now();
        let expired: Vec<Uuid> = self
            .typing
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(c, _)| *c)
            .collect();
        for conversation in expired {
            self.typing.remove(&conversation);
            let _ = ephemeral::typing(&self.state.db, &self.caller, conversation, false).await;
        }
    }
}

enum Failure {
    Api(ApiError),
    Socket,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure::Api(error)
    }
}

async fn send(sink: &mut Sink, value: &Value) -> Result<(), axum::Error> {
    sink.send(Message::Text(Utf8Bytes::from(value.to_string())))
        .await
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
