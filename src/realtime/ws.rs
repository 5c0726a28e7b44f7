//! `GET /v1/ws`: the WebSocket adapter of the session core. One task per
//! connection owns the socket and its `Session` (identity, permit,
//! subscriptions and cursors, backfill, write deadline). It reads client
//! frames, runs each command through the same services REST uses, and writes
//! what the session hands it.
//!
//! Close codes: 1009 frame too large, 1012 server restarting (reconnect
//! elsewhere), 4000 heartbeat lost, 4001 token expired, 4008 too slow (resume
//! with `since`). docs/realtime.md has the whole protocol.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, SplitSink};
use futures::FutureExt;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Identity;
use crate::domain::desk::PresenceStatus;
use crate::domain::Since;
use crate::error::ApiError;
use crate::extract::{Caller, Query};
use crate::realtime::hub::{Event, Topic};
use crate::realtime::protocol::{self, Command};
use crate::realtime::session::{End, Failure, Outbound, Session, Transport};
use crate::realtime::RealtimeState;
use crate::service::messages::{self, ReadUpTo};
use crate::service::send::NewMessage;
use crate::service::{conversations, ephemeral, message_features, polls, rooms, support};

/// Close codes of this transport alone (the session's own ends — 1012, 4001,
/// 4008 — come from `session::End::code`).
pub mod close {
    pub const TOO_LARGE: u16 = 1009;
    pub const HEARTBEAT_LOST: u16 = 4000;
}

/// Per-connection read buffer.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Sends one socket may have waiting for their commit.
const MAX_SENDS_IN_FLIGHT: usize = 256;

/// Typing starts are forwarded at most this often per conversation.
const TYPING_REFRESH: Duration = Duration::from_secs(1);

/// Live events written to the socket in one go (one flush, one write deadline).
const WRITE_BATCH: usize = 256;

/// How long a closing socket may take to accept its close frame.
const CLOSE_PATIENCE: Duration = Duration::from_secs(1);

/// `?status=`: the presence a connection starts with when it is the user's
/// first (default `online`), so an agent who chose `away` stays away across a
/// reload instead of coming back online (and auto-assignable) until they say so.
#[derive(serde::Deserialize)]
pub struct ConnectParams {
    status: Option<PresenceStatus>,
}

pub async fn upgrade(
    State(state): State<RealtimeState>,
    Caller(caller): Caller,
    Query(params): Query<ConnectParams>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::bad_request("not_a_websocket", rejection.body_text()).into_response()
        }
    };
    let session = match Session::open(&state, caller, peer.ip(), Transport::WebSocket) {
        Ok(session) => session,
        Err(error) => return error.into_response(),
    };
    let max = state.realtime.config.ws_max_frame_bytes;
    // tungstenite allocates its read buffer up front (128 KiB by default): small
    // buffers keep an idle socket cheap; a large frame is simply read in chunks.
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            WsSession::new(session).serve(socket, params.status).await;
        })
}

pub type Sink = SplitSink<WebSocket, Message>;

/// A WebSocket sink is where the session core writes events.
impl Outbound for Sink {
    async fn feed(&mut self, event: Event) -> Result<(), ()> {
        SinkExt::feed(self, Message::Text(event.frame))
            .await
            .map_err(drop)
    }

    async fn flush(&mut self) -> Result<(), ()> {
        SinkExt::flush(self).await.map_err(drop)
    }
}

/// Sends a close frame with `code` and `reason`, waiting at most
/// `CLOSE_PATIENCE`: a peer that stopped reading may never take it. (Every
/// WebSocket adapter closes this way.)
pub async fn close_with(sink: &mut Sink, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(CLOSE_PATIENCE, sink.send(Message::Close(Some(frame)))).await;
}

/// Why the socket closed; `Some` closes with that code and reason.
type Close = Option<(u16, &'static str)>;

fn close_for(end: End) -> Close {
    end.code().map(|code| (code, end.advice()))
}

/// The WebSocket adapter: the session core, plus what only this protocol has
/// (commands and their acks, pipelined sends, typing, pings).
struct WsSession {
    session: Session,
    /// Conversations the caller is typing in → (when it expires, when we last
    /// announced it, whether it is an internal note: staff hear of it only).
    typing: HashMap<Uuid, (Instant, Instant, bool)>,
    last_heard: Instant,
    /// Answers to sends in flight, in the order the sends came.
    sends: FuturesOrdered<BoxFuture<'static, Value>>,
}

impl WsSession {
    fn new(session: Session) -> Self {
        Self {
            session,
            typing: HashMap::new(),
            last_heard: Instant::now(),
            sends: FuturesOrdered::new(),
        }
    }

    fn state(&self) -> &RealtimeState {
        self.session.state()
    }

    fn caller(&self) -> &Identity {
        self.session.caller()
    }

    async fn serve(mut self, socket: WebSocket, status: Option<PresenceStatus>) {
        let realtime = self.state().realtime.clone();
        let db = self.state().db.clone();
        realtime.metrics.connections.inc();
        let (mut sink, mut stream) = socket.split();
        if let Err(error) = ephemeral::connected(
            &db,
            realtime.node_id,
            self.caller(),
            realtime.presence_ttl(),
            status,
        )
        .await
        {
            tracing::warn!(%error, "presence on connect");
        }
        let beat = Duration::from_secs(realtime.config.ws_heartbeat_secs.max(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        let close: Close = loop {
            let typing_due = self.typing.values().map(|(expires, _, _)| *expires).min();
            tokio::select! {
                next = self.session.next() => match next {
                    Ok(event) => {
                        if let Err(end) = self.deliver(event, &mut sink).await {
                            break close_for(end);
                        }
                    }
                    Err(end) => break close_for(end),
                },
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        self.last_heard = Instant::now();
                        if let Err(close) = self.handle(&text, &mut sink).await {
                            break close;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let error = ApiError::bad_request("binary_unsupported", "send JSON text frames");
                        if let Err(end) = self.reply(&mut sink, &protocol::error(&Value::Null, &error)).await {
                            break close_for(end);
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
                    if let Err(end) = self.reply(&mut sink, &reply).await {
                        break close_for(end);
                    }
                }
                _ = sleep_until_opt(typing_due) => self.expire_typing().await,
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > beat * 2 {
                        break Some((close::HEARTBEAT_LOST, "no answer to pings"));
                    }
                    if let Err(end) = self.session.write(sink.send(Message::Ping(Default::default()))).await {
                        break close_for(end);
                    }
                }
            }
        };
        if let Some((code, reason)) = close {
            close_with(&mut sink, code, reason).await;
        }
        let caller = self.caller().clone();
        drop(self.session); // leaves the hub and gives the permit back
        realtime.metrics.connections.dec();
        for (conversation, (_, _, note)) in self.typing.drain() {
            let _ = ephemeral::typing(&db, &caller, conversation, false, note).await;
        }
        if let Err(error) = ephemeral::disconnected(&db, realtime.node_id, &caller).await {
            tracing::warn!(%error, "presence on disconnect");
        }
    }

    /// Writes a live event and whatever else is already queued (up to a
    /// batch), within one write deadline.
    async fn deliver(&mut self, first: Event, sink: &mut Sink) -> Result<(), End> {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match self.session.try_next() {
                Some(event) => batch.push(event),
                None => break,
            }
        }
        self.session.write_all(sink, batch).await
    }

    /// Writes one answer (ack, error, pong) within the write deadline.
    async fn reply(&mut self, sink: &mut Sink, value: &Value) -> Result<(), End> {
        reply(&self.session, sink, value).await
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
                poll,
            }) => {
                let new = NewMessage::body_of(body, poll.as_ref()).map(|body| NewMessage {
                    client_msg_id,
                    body,
                    kind,
                    reply_to,
                    internal,
                    attachment_id,
                    poll,
                });
                let new = match new {
                    Ok(new) => new,
                    Err(error) => {
                        // in line with the sends in flight, like their answers
                        let reply = protocol::error(&reference, &error);
                        self.sends.push_back(futures::future::ready(reply).boxed());
                        return Ok(());
                    }
                };
                return self
                    .pipeline_send(reference, conversation_id, new, sink)
                    .await;
            }
            other => other,
        };
        // Answers keep the order of the frames: the sends in flight come first.
        while let Some(reply) = self.sends.next().await {
            self.reply(sink, &reply).await.map_err(close_for)?;
        }
        let reply = match command {
            Err(error) => protocol::error(&reference, &error),
            Ok(Command::Ping {}) => json!({ "type": "pong", "ref": reference }),
            Ok(command) => match self.execute(command, sink).await {
                Ok(fields) => protocol::ack(&reference, fields),
                Err(Failure::Api(error)) => protocol::error(&reference, &error),
                Err(Failure::End(end)) => return Err(close_for(end)),
            },
        };
        self.reply(sink, &reply).await.map_err(close_for)
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
        let state = self.state().clone();
        if self.sends.len() >= MAX_SENDS_IN_FLIGHT {
            if let Some(reply) = self.sends.next().await {
                self.reply(sink, &reply).await.map_err(close_for)?;
            }
        }
        let reply = match state
            .sends
            .submit(self.caller(), conversation_id, new)
            .await
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
        if let Some((_, _, note)) = self.typing.remove(&conversation_id) {
            let _ = ephemeral::typing(&state.db, self.caller(), conversation_id, false, note).await;
        }
        Ok(())
    }

    async fn execute(&mut self, command: Command, sink: &mut Sink) -> Result<Value, Failure> {
        let state = self.state().clone();
        let db = &state.db;
        match command {
            Command::Subscribe { topic, since } => self.subscribe(&topic, since, sink).await,
            Command::Unsubscribe { topic } => {
                let parsed = Topic::parse(&topic, self.caller()).ok_or_else(|| {
                    ApiError::bad_request("invalid_topic", format!("unknown topic `{topic}`"))
                })?;
                self.session.unsubscribe(&parsed);
                Ok(json!({ "topic": topic }))
            }
            // handle() pipelines sends before they get here.
            Command::SendMessage { .. } => Err(Failure::Api(ApiError::Internal(anyhow::anyhow!(
                "send outside the pipeline"
            )))),
            Command::TypingStart {
                conversation_id,
                internal,
            } => {
                // who may type a note is the database's (`ephemeral::typing`)
                let now = Instant::now();
                let ttl = Duration::from_secs(state.realtime.config.typing_ttl_secs.max(1));
                let previous = self.typing.get(&conversation_id).copied();
                // a switch between note and reply is announced at once
                let due = previous.is_none_or(|(_, at, note)| {
                    note != internal || now.duration_since(at) >= TYPING_REFRESH
                });
                if let Some((_, _, note)) = previous.filter(|(_, _, note)| *note != internal) {
                    ephemeral::typing(db, self.caller(), conversation_id, false, note).await?;
                }
                if due {
                    ephemeral::typing(db, self.caller(), conversation_id, true, internal).await?;
                }
                let announced = match previous {
                    Some((_, at, _)) if !due => at,
                    _ => now,
                };
                self.typing
                    .insert(conversation_id, (now + ttl, announced, internal));
                Ok(json!({}))
            }
            Command::TypingStop { conversation_id } => {
                if let Some((_, _, note)) = self.typing.remove(&conversation_id) {
                    ephemeral::typing(db, self.caller(), conversation_id, false, note).await?;
                }
                Ok(json!({}))
            }
            Command::MarkRead {
                conversation_id,
                seq,
                message_ids,
            } => {
                let upto = ReadUpTo::from_parts(seq, message_ids)?;
                let position =
                    messages::mark_read(db, self.caller(), conversation_id, upto).await?;
                Ok(json!({ "conversation_id": conversation_id, "last_read_seq": position }))
            }
            Command::MarkDelivered {
                conversation_id,
                seq,
            } => {
                let position =
                    conversations::mark_delivered(db, self.caller(), conversation_id, seq).await?;
                Ok(json!({ "conversation_id": conversation_id, "last_delivered_seq": position }))
            }
            Command::SetPresence {
                status,
                status_text,
            } => {
                let presence =
                    ephemeral::set_presence(db, self.caller(), status, status_text).await?;
                Ok(presence)
            }
            Command::React { message_id, emoji } => {
                let message =
                    message_features::react(db, self.caller(), message_id, &emoji, true).await?;
                Ok(json!({ "message": message }))
            }
            Command::Unreact { message_id, emoji } => {
                let message =
                    message_features::react(db, self.caller(), message_id, &emoji, false).await?;
                Ok(json!({ "message": message }))
            }
            Command::EditMessage { message_id, body } => {
                let message = message_features::edit(db, self.caller(), message_id, body).await?;
                Ok(json!({ "message": message }))
            }
            Command::DeleteMessage { message_id } => {
                let message = message_features::delete(db, self.caller(), message_id).await?;
                Ok(json!({ "message": message }))
            }
            Command::HideMessage { message_id } => {
                message_features::hide(db, self.caller(), message_id).await?;
                Ok(json!({ "message_id": message_id }))
            }
            Command::Vote {
                message_id,
                options,
            } => {
                let message = polls::vote(db, self.caller(), message_id, &options).await?;
                Ok(json!({ "message": message }))
            }
            Command::Unvote { message_id } => {
                let message = polls::unvote(db, self.caller(), message_id).await?;
                Ok(json!({ "message": message }))
            }
            Command::ClosePoll { message_id } => {
                let message = polls::close(db, self.caller(), message_id).await?;
                Ok(json!({ "message": message }))
            }
            Command::Pin {
                conversation_id,
                message_id,
            } => {
                let message =
                    rooms::pin(db, self.caller(), conversation_id, message_id, true).await?;
                Ok(json!({ "message": message }))
            }
            Command::Unpin {
                conversation_id,
                message_id,
            } => {
                let message =
                    rooms::pin(db, self.caller(), conversation_id, message_id, false).await?;
                Ok(json!({ "message": message }))
            }
            Command::AccessToken { token } => {
                let exp = self.session.refresh(&token).await?;
                Ok(json!({ "exp": exp }))
            }
            Command::Ping {} => Ok(json!({})),
        }
    }

    /// Subscribes through the core (register, then the backlog in chunks),
    /// then acks with the cursor and the topic's snapshot.
    async fn subscribe(
        &mut self,
        name: &str,
        since: Option<Since>,
        sink: &mut Sink,
    ) -> Result<Value, Failure> {
        let topic = Topic::parse(name, self.caller()).ok_or_else(|| {
            ApiError::bad_request("invalid_topic", format!("unknown topic `{name}`"))
        })?;
        let max = self.state().realtime.config.ws_max_subscriptions;
        if self.session.cursor(&topic).is_none() && self.session.subscriptions() >= max {
            return Err(ApiError::unprocessable(
                "too_many_subscriptions",
                "unsubscribe from something first",
            )
            .into());
        }
        let backfill = self.session.subscribe(topic.clone(), since).await?;
        let cursor = self.session.backfill(backfill, sink).await?;
        let mut ack = json!({ "topic": name });
        if topic.conversation().is_some() {
            ack["cursor"] = json!(cursor);
        }
        let db = &self.state().db;
        match topic {
            Topic::SupportQueue => {
                ack["sessions"] = json!(support::queue_snapshot(db, self.caller()).await?)
            }
            Topic::Inbox(_) => {
                ack["conversations"] = json!(messages::inbox_snapshot(db, self.caller()).await?)
            }
            Topic::Presence(user) => {
                ack["presence"] = ephemeral::presence(db, self.caller(), &user).await?
            }
            Topic::Conversation(_) => {}
        }
        Ok(ack)
    }

    async fn expire_typing(&mut self) {
        let now = Instant::now();
        let expired: Vec<(Uuid, bool)> = self
            .typing
            .iter()
            .filter(|(_, (at, _, _))| *at <= now)
            .map(|(c, (_, _, note))| (*c, *note))
            .collect();
        for (conversation, note) in expired {
            self.typing.remove(&conversation);
            let _ =
                ephemeral::typing(&self.state().db, self.caller(), conversation, false, note).await;
        }
    }
}

/// (A free function: `&Session` may be held across the write, `&WsSession`
/// — with its sends in flight — may not.)
async fn reply(session: &Session, sink: &mut Sink, value: &Value) -> Result<(), End> {
    session
        .write(sink.send(Message::Text(Utf8Bytes::from(value.to_string()))))
        .await
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
