//! `GET /realtime/v1/websocket`: Supabase Realtime's Phoenix channels over the
//! session core. One task per socket owns the socket and, from the first join
//! that carries a user's `access_token`, one `Session` (identity and token
//! deadline, the connection permit, subscriptions with cursors, backfill,
//! write deadline). Channels are this adapter's own: each joined channel has
//! its `postgres_changes` bindings, and a binding reads from hub topics of the
//! session (`changes`), which apply RLS's visibility before anything is sent.
//!
//! The socket's `apikey` (query or header) must verify like any token (a
//! project key: signature and expiry); channels need a signed-in user's
//! token, and one socket serves one user at a time (later tokens refresh it;
//! the project key as `access_token` — supabase-js after sign-out — ends the
//! user's channels and session).
//!
//! No missed changes (pgchat's extension): when a channel ends with its socket
//! or a leave, its cursors are remembered for the user and channel name
//! (`resume`); joining that channel again — realtime-js does so by itself
//! after a reconnect — first replays what changed meanwhile. A binding may also
//! carry `since` (a change_seq) to resume from a cursor the app kept.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::compat::supabase::changes::{self, Binding};
use crate::compat::supabase::phoenix::{self, Incoming, Vsn};
use crate::compat::supabase::relay;
use crate::compat::supabase::SupabaseState;
use crate::domain::Since;
use crate::error::ApiError;
use crate::realtime::hub::{Event, Topic};
use crate::realtime::session::{Backfill, End, Failure, Outbound, Session, Transport};

/// A socket silent this long (realtime-js beats every 25 s) is closed.
const IDLE: Duration = Duration::from_secs(60);

/// Phoenix's close code for a lost heartbeat, as `realtime::ws` uses it.
const HEARTBEAT_LOST: u16 = 4000;

/// How long a closing socket may take to accept its close frame.
const CLOSE_PATIENCE: Duration = Duration::from_secs(1);

/// Per-connection read buffer (see `realtime::ws`).
const READ_BUFFER_BYTES: usize = 4 * 1024;

pub async fn upgrade(
    State(state): State<SupabaseState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let params: HashMap<String, String> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let apikey = params.get("apikey").cloned().or_else(|| {
        headers
            .get("apikey")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let Some(apikey) = apikey else {
        return ApiError::Unauthorized("missing apikey: pass ?apikey=<project key>".into())
            .into_response();
    };
    if let Err(error) = state.realtime.verifier.verify_key(&apikey).await {
        return error.into_response();
    }
    let vsn = match Vsn::parse(params.get("vsn").map(String::as_str)) {
        Ok(vsn) => vsn,
        Err(why) => return ApiError::bad_request("invalid_vsn", why).into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::bad_request("not_a_websocket", rejection.body_text()).into_response()
        }
    };
    let max = state.realtime.realtime.config.ws_max_frame_bytes;
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            Socket::new(state, vsn, peer.ip()).serve(socket).await;
        })
}

type Sink = SplitSink<WebSocket, Message>;

/// One joined channel.
struct Channel {
    join_ref: Option<String>,
    bindings: Vec<Binding>,
    /// Highest change_seq this channel was given, per conversation topic
    /// (several channels may share a topic; each gets a change once).
    cursors: HashMap<Topic, i64>,
    /// Broadcast and presence settings of its join.
    relay: relay::ChannelConfig,
}

impl Channel {
    fn reads(&self, topic: &Topic) -> bool {
        self.bindings.iter().any(|b| b.sources.contains(topic))
    }
}

/// The socket's channels by topic, and how frames are written to it.
struct Channels {
    vsn: Vsn,
    map: HashMap<String, Channel>,
    next_binding: u32,
}

impl Channels {
    /// Where every channel stands, to put back if a write fails: what did
    /// not reach the peer must be replayed on its next join.
    fn snapshot(&self) -> Vec<(String, HashMap<Topic, i64>)> {
        self.map
            .iter()
            .map(|(name, c)| (name.clone(), c.cursors.clone()))
            .collect()
    }

    fn restore(&mut self, snapshot: Vec<(String, HashMap<Topic, i64>)>) {
        for (name, cursors) in snapshot {
            if let Some(channel) = self.map.get_mut(&name) {
                channel.cursors = cursors;
            }
        }
    }

    fn frame(
        &self,
        join_ref: Option<&str>,
        r: Option<&str>,
        topic: &str,
        event: &str,
        payload: &Value,
    ) -> Message {
        phoenix::encode(self.vsn, join_ref, r, topic, event, payload)
    }

    /// The frames a hub event becomes on this socket: one `postgres_changes`
    /// per channel with bindings that want it; the end of a subscription
    /// (access revoked) is a `phx_error` for the channels reading it, which
    /// realtime-js answers by joining again — and access is checked afresh.
    fn translate(&mut self, event: &Event) -> Vec<Message> {
        let Ok(frame) = serde_json::from_str::<Value>(event.frame.as_str()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if event.ends_subscription {
            let ended: Vec<String> = self
                .map
                .iter()
                .filter(|(_, c)| c.reads(&event.topic))
                .map(|(t, _)| t.clone())
                .collect();
            for topic in ended {
                if let Some(channel) = self.map.remove(&topic) {
                    out.push(self.frame(
                        channel.join_ref.as_deref(),
                        None,
                        &topic,
                        "phx_error",
                        &json!({}),
                    ));
                }
            }
            return out;
        }
        let Some(change) = changes::translate(&frame) else {
            return out;
        };
        for (name, channel) in &mut self.map {
            if !channel.reads(&event.topic) {
                continue;
            }
            if let Some(cs) = event.change_seq {
                let seen = channel.cursors.entry(event.topic.clone()).or_insert(0);
                if cs <= *seen {
                    continue;
                }
                *seen = cs;
            }
            let ids = changes::matching(&channel.bindings, &event.topic, &change);
            if !ids.is_empty() {
                let payload = changes::payload(&ids, &change);
                out.push(phoenix::encode(
                    self.vsn,
                    channel.join_ref.as_deref(),
                    None,
                    name,
                    "postgres_changes",
                    &payload,
                ));
            }
        }
        out
    }
}

/// Where the session core writes: through the channels' translation to the socket.
struct Out<'a> {
    sink: &'a mut Sink,
    channels: &'a mut Channels,
}

impl Outbound for Out<'_> {
    async fn feed(&mut self, event: Event) -> Result<(), ()> {
        for message in self.channels.translate(&event) {
            SinkExt::feed(self.sink, message).await.map_err(drop)?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ()> {
        SinkExt::flush(self.sink).await.map_err(drop)
    }
}

/// Why the socket closes; `Some` closes with that code and reason.
type Close = Option<(u16, &'static str)>;

struct Socket {
    state: SupabaseState,
    peer: IpAddr,
    session: Option<Session>,
    channels: Channels,
    /// This socket on the broadcast and presence relay.
    member: relay::Member,
    last_heard: Instant,
}

/// A reply to a client frame: `ok` or `error` with a response.
type Reply = Result<Value, String>;

impl Socket {
    fn new(state: SupabaseState, vsn: Vsn, peer: IpAddr) -> Self {
        let member = state.relay.member();
        Self {
            state,
            peer,
            session: None,
            channels: Channels {
                vsn,
                map: HashMap::new(),
                next_binding: 1,
            },
            member,
            last_heard: Instant::now(),
        }
    }

    async fn serve(mut self, socket: WebSocket) {
        // Counted among the node's sockets, so a graceful stop waits for this
        // one's channels to leave (its presences leave with it, on every node).
        let metrics = self.state.realtime.realtime.metrics.clone();
        metrics.connections.inc();
        let (mut sink, mut stream) = socket.split();
        let shutdown = self.state.realtime.realtime.shutting_down();
        let mut idle = tokio::time::interval(IDLE / 2);
        let close: Close = loop {
            tokio::select! {
                next = next_event(&mut self.session) => match next {
                    Ok(event) => {
                        if let Err(end) = self.deliver(event, &mut sink).await {
                            break self.end(end, &mut sink).await;
                        }
                    }
                    Err(end) => break self.end(end, &mut sink).await,
                },
                Some(relayed) = self.member.next() => {
                    let frame = self.channels.map.get(relayed.topic()).and_then(|channel| {
                        relayed.frame(self.channels.vsn, channel.join_ref.as_deref(), &channel.relay, &self.member)
                    });
                    if let Err(end) = self.write(&mut sink, frame.into_iter().collect()).await {
                        break self.end(end, &mut sink).await;
                    }
                }
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        self.last_heard = Instant::now();
                        let frame = phoenix::decode_text(self.channels.vsn, &text);
                        if let Err(end) = self.handle(frame, &mut sink).await {
                            break self.end(end, &mut sink).await;
                        }
                    }
                    Some(Ok(Message::Binary(data))) => {
                        self.last_heard = Instant::now();
                        let frame = match self.channels.vsn {
                            Vsn::V2 => phoenix::decode_binary(&data),
                            Vsn::V1 => Err("binary frames need vsn=2.0.0".into()),
                        };
                        if let Err(end) = self.handle(frame, &mut sink).await {
                            break self.end(end, &mut sink).await;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => self.last_heard = Instant::now(),
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(error)) => {
                        let text = error.to_string();
                        break (text.contains("too long") || text.contains("too big"))
                            .then_some((1009, "frame too large"));
                    }
                },
                () = shutdown.cancelled(), if self.session.is_none() => break close_for(End::Restarting),
                _ = idle.tick() => {
                    if self.last_heard.elapsed() > IDLE {
                        break Some((HEARTBEAT_LOST, "no heartbeat"));
                    }
                }
            }
        };
        if let Some((code, reason)) = close {
            crate::realtime::ws::close_with(&mut sink, code, reason).await;
        }
        let names: Vec<String> = self.channels.map.keys().cloned().collect();
        for name in names {
            self.leave(&name).await;
        }
        drop(self);
        metrics.connections.dec();
    }

    /// Tells the channels why the session ends (a token that expired
    /// closes them, as Supabase does) and picks the close code.
    async fn end(&mut self, end: End, sink: &mut Sink) -> Close {
        if end == End::TokenExpired {
            let frames: Vec<Message> = self
                .channels
                .map
                .iter()
                .flat_map(|(name, channel)| {
                    let system = json!({
                        "channel": name.strip_prefix("realtime:").unwrap_or(name),
                        "extension": "system", "status": "error",
                        "message": "Token has expired",
                    });
                    [
                        self.channels.frame(
                            channel.join_ref.as_deref(),
                            None,
                            name,
                            "system",
                            &system,
                        ),
                        self.channels.frame(
                            channel.join_ref.as_deref(),
                            None,
                            name,
                            "phx_close",
                            &json!({}),
                        ),
                    ]
                })
                .collect();
            let _ = tokio::time::timeout(CLOSE_PATIENCE, async {
                for frame in frames {
                    SinkExt::feed(sink, frame).await?;
                }
                SinkExt::flush(sink).await
            })
            .await;
        }
        close_for(end)
    }

    /// Writes a live event and whatever else is queued, within one write deadline.
    async fn deliver(&mut self, first: Event, sink: &mut Sink) -> Result<(), End> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let mut batch = vec![first];
        while batch.len() < 256 {
            match session.try_next() {
                Some(event) => batch.push(event),
                None => break,
            }
        }
        let before = self.channels.snapshot();
        let mut out = Out {
            sink,
            channels: &mut self.channels,
        };
        let written = session.write_all(&mut out, batch).await;
        if written.is_err() {
            self.channels.restore(before);
        }
        written
    }

    /// Writes frames within the write deadline (the session's, once there is one).
    async fn write(&self, sink: &mut Sink, frames: Vec<Message>) -> Result<(), End> {
        if frames.is_empty() {
            return Ok(());
        }
        let write = async {
            for frame in frames {
                SinkExt::feed(sink, frame).await?;
            }
            SinkExt::flush(sink).await
        };
        match &self.session {
            Some(session) => session.write(write).await,
            None => match tokio::time::timeout(CLOSE_PATIENCE * 10, write).await {
                Ok(Ok(())) => Ok(()),
                _ => Err(End::Gone),
            },
        }
    }

    async fn handle(
        &mut self,
        frame: Result<Incoming, String>,
        sink: &mut Sink,
    ) -> Result<(), End> {
        let frame = match frame {
            Ok(frame) => frame,
            Err(why) => {
                let reply =
                    phoenix::reply(false, json!({ "reason": format!("invalid frame: {why}") }));
                let message = self
                    .channels
                    .frame(None, None, "phoenix", "phx_reply", &reply);
                return self.write(sink, vec![message]).await;
            }
        };
        let reply: Option<Reply> = match (frame.topic.as_str(), frame.event.as_str()) {
            ("phoenix", "heartbeat") => Some(Ok(json!({}))),
            (_, "phx_join") => {
                let joined = self.join(&frame, sink).await;
                match joined {
                    Ok(done) => {
                        // the reply went out before the backfill; now the rest
                        return self.after_join(done, &frame, sink).await;
                    }
                    Err(JoinError::End(end)) => return Err(end),
                    Err(JoinError::Refused(why)) => Some(Err(why)),
                }
            }
            (topic, _) if !self.channels.map.contains_key(topic) => {
                Some(Err("unmatched topic".into()))
            }
            (topic, "phx_leave") => {
                let topic = topic.to_owned();
                self.leave(&topic).await;
                Some(Ok(json!({})))
            }
            (_, "access_token") if self.signs_out(&frame.payload).await => {
                return self.sign_out(sink).await;
            }
            (_, "access_token") => Some(self.refresh(&frame.payload).await),
            (topic, "broadcast" | "presence") => {
                let topic = topic.to_owned();
                let channel = &self.channels.map[&topic];
                let outcome = self.member.push(&topic, &channel.relay, &frame).await;
                // a broadcast is acknowledged only when its join asked for it
                match outcome {
                    Ok(relay::Ack::Silent) => None,
                    Ok(relay::Ack::Reply) => Some(Ok(json!({}))),
                    Err(why) => Some(Err(why)),
                }
            }
            (_, event) => Some(Err(format!("unknown event `{event}`"))),
        };
        match reply {
            Some(reply) => self.reply(sink, &frame, reply).await,
            None => Ok(()),
        }
    }

    async fn reply(&self, sink: &mut Sink, frame: &Incoming, reply: Reply) -> Result<(), End> {
        let payload = match reply {
            Ok(response) => phoenix::reply(true, response),
            Err(reason) => phoenix::reply(false, json!({ "reason": reason })),
        };
        let message = self.channels.frame(
            frame.join_ref.as_deref(),
            frame.reference.as_deref(),
            &frame.topic,
            "phx_reply",
            &payload,
        );
        self.write(sink, vec![message]).await
    }

    /// A channel's `access_token` push: moves the session's deadline (same user and role).
    async fn refresh(&mut self, payload: &Value) -> Reply {
        let token = payload["access_token"]
            .as_str()
            .ok_or("access_token is a string")?;
        match self.session.as_mut() {
            Some(session) => session
                .refresh(token)
                .await
                .map(|exp| json!({ "exp": exp }))
                .map_err(|e| e.public_message()),
            None => Err("join a channel with a user's access_token first".into()),
        }
    }

    /// Whether an `access_token` push names no user but verifies as the
    /// project's key: supabase-js sends its `anon` key when the user signs
    /// out.
    async fn signs_out(&self, payload: &Value) -> bool {
        let verifier = &self.state.realtime.verifier;
        match (&self.session, payload["access_token"].as_str()) {
            (Some(_), Some(token)) => {
                verifier.verify(token).await.is_err() && verifier.verify_key(token).await.is_ok()
            }
            _ => false,
        }
    }

    /// The user signed out: every channel ends with `phx_error` and the
    /// session closes, so nothing more of theirs reaches this socket;
    /// realtime-js keeps joining again, refused until a user signs in.
    async fn sign_out(&mut self, sink: &mut Sink) -> Result<(), End> {
        let names: Vec<String> = self.channels.map.keys().cloned().collect();
        let mut frames = Vec::new();
        for name in names {
            let join_ref = self.channels.map[&name].join_ref.clone();
            self.leave(&name).await;
            frames.push(self.channels.frame(
                join_ref.as_deref(),
                None,
                &name,
                "phx_error",
                &json!({}),
            ));
        }
        self.session = None;
        self.write(sink, frames).await
    }

    /// Opens the session with the join's token, or refreshes it (same user).
    /// A join without a user's token is refused with the reason, and
    /// realtime-js joins again by itself (with the token, once the app has one).
    async fn sign_in(&mut self, payload: &Value) -> Result<(), String> {
        const SIGN_IN: &str = "sign in first: a channel needs a signed-in user's access_token";
        let token = payload["access_token"].as_str();
        match (&mut self.session, token) {
            (Some(session), Some(token)) => session
                .refresh(token)
                .await
                .map(drop)
                .map_err(|e| e.public_message()),
            (Some(_), None) => Ok(()),
            (None, None) => Err(SIGN_IN.into()),
            (None, Some(token)) => {
                let state = &self.state.realtime;
                let caller = match state.verifier.verify(token).await {
                    Ok(caller) => caller,
                    Err(_) if state.verifier.verify_key(token).await.is_ok() => {
                        return Err(format!(
                            "{SIGN_IN} (this one is a project key, such as anon, that names no user)"
                        ))
                    }
                    Err(error) => return Err(error.public_message()),
                };
                let session = Session::open(state, caller, self.peer, Transport::Supabase)
                    .map_err(|e| e.public_message())?;
                self.session = Some(session);
                Ok(())
            }
        }
    }

    /// Joins a channel: its bindings are checked and their topics
    /// subscribed (each conversation's access checked by the core, under
    /// RLS) before the reply; backfills are written after it.
    async fn join(&mut self, frame: &Incoming, sink: &mut Sink) -> Result<Joined, JoinError> {
        let name = frame.topic.clone();
        if !name.starts_with("realtime:") || name.len() <= "realtime:".len() {
            return Err(JoinError::Refused(
                "a channel topic is realtime:<name>".into(),
            ));
        }
        if self.channels.map.contains_key(&name) {
            self.leave(&name).await;
        }
        self.sign_in(&frame.payload)
            .await
            .map_err(JoinError::Refused)?;
        let config = &frame.payload["config"];
        let relay_config = relay::ChannelConfig::parse(config).map_err(JoinError::Refused)?;
        let specs = match &config["postgres_changes"] {
            Value::Null => Vec::new(),
            Value::Array(specs) => specs.clone(),
            _ => {
                return Err(JoinError::Refused(
                    "config.postgres_changes is a list".into(),
                ))
            }
        };
        let session = self.session.as_mut().expect("signed in");
        let mut bindings = Vec::new();
        for spec in &specs {
            let id = self.channels.next_binding;
            self.channels.next_binding += 1;
            bindings.push(Binding::parse(id, spec, session.caller()).map_err(JoinError::Refused)?);
        }
        // The cursor each conversation topic resumes from: the binding's own
        // `since`, else what this user's channel of that name had reached.
        let remembered = self.state.resume.take(&session.caller().sub, &name);
        let mut wanted: HashMap<Topic, Option<i64>> = HashMap::new();
        for binding in &bindings {
            for topic in &binding.sources {
                let since = binding.since.or_else(|| remembered.get(topic).copied());
                let entry = wanted.entry(topic.clone()).or_insert(since);
                *entry = match (*entry, since) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        let max = self.state.realtime.realtime.config.ws_max_subscriptions;
        let mut backfills = Vec::new();
        let mut cursors = HashMap::new();
        let mut added = Vec::new();
        for (topic, since) in wanted {
            let current = session.cursor(&topic);
            let start = match (current, since) {
                (None, _) => true,
                (Some(at), Some(since)) => since < at,
                (Some(_), None) => false,
            };
            if !start {
                cursors.insert(topic.clone(), current.unwrap_or(0));
                continue;
            }
            if current.is_none() && session.subscriptions() >= max {
                self.unwind(&added);
                return Err(JoinError::Refused(
                    "too many subscriptions on this socket".into(),
                ));
            }
            match session
                .subscribe(topic.clone(), since.map(Since::cursor))
                .await
            {
                Ok(backfill) => {
                    if let Some(since) = since {
                        cursors.insert(topic.clone(), since);
                    }
                    if current.is_none() {
                        added.push(topic.clone());
                    }
                    backfills.push((topic, since.is_none(), backfill));
                }
                Err(error) => {
                    error.log();
                    self.unwind(&added);
                    let reason = match error {
                        ApiError::NotFound(_) => format!("{topic} not found"),
                        other => other.public_message(),
                    };
                    return Err(JoinError::Refused(reason));
                }
            }
        }
        let replies: Vec<Value> = bindings.iter().map(|b| b.reply.clone()).collect();
        let has_changes = !bindings.is_empty();
        self.channels.map.insert(
            name.clone(),
            Channel {
                join_ref: frame.join_ref.clone(),
                bindings,
                cursors,
                relay: relay_config,
            },
        );
        let reply = phoenix::reply(true, json!({ "postgres_changes": replies }));
        let message = self.channels.frame(
            frame.join_ref.as_deref(),
            frame.reference.as_deref(),
            &name,
            "phx_reply",
            &reply,
        );
        self.write(sink, vec![message])
            .await
            .map_err(JoinError::End)?;
        Ok(Joined {
            backfills,
            has_changes,
        })
    }

    /// After the join's reply: the backfills (then the channel's cursor of a
    /// topic joined without one is where its backfill ended), Supabase's
    /// `system` notice, and presence.
    async fn after_join(
        &mut self,
        joined: Joined,
        frame: &Incoming,
        sink: &mut Sink,
    ) -> Result<(), End> {
        let name = frame.topic.as_str();
        for (topic, fresh, backfill) in joined.backfills {
            let cursor = self.backfill(backfill, sink).await?;
            if let Some(channel) = self.channels.map.get_mut(name) {
                if fresh {
                    channel.cursors.insert(topic, cursor);
                }
            }
        }
        let Some(channel) = self.channels.map.get(name) else {
            return Ok(());
        };
        let mut frames = Vec::new();
        if joined.has_changes {
            let system = json!({
                "channel": name.strip_prefix("realtime:").unwrap_or(name),
                "extension": "postgres_changes", "status": "ok",
                "message": "Subscribed to PostgreSQL",
            });
            frames.push(self.channels.frame(
                channel.join_ref.as_deref(),
                None,
                name,
                "system",
                &system,
            ));
        }
        let relay_config = channel.relay.clone();
        let join_ref = channel.join_ref.clone();
        if let Some(state) = self.member.join(name, &relay_config).await {
            frames.push(self.channels.frame(
                join_ref.as_deref(),
                None,
                name,
                "presence_state",
                &state,
            ));
        }
        self.write(sink, frames).await
    }

    async fn backfill(&mut self, backfill: Backfill, sink: &mut Sink) -> Result<i64, End> {
        let session = self.session.as_mut().expect("signed in");
        let before = self.channels.snapshot();
        let mut out = Out {
            sink,
            channels: &mut self.channels,
        };
        let written = session.backfill(backfill, &mut out).await;
        if written.is_err() {
            self.channels.restore(before);
        }
        match written {
            Ok(cursor) => Ok(cursor),
            Err(Failure::End(end)) => Err(end),
            Err(Failure::Api(error)) => {
                // a later chunk of a backlog the first showed: the database failed
                error.log();
                Err(End::Gone)
            }
        }
    }

    /// Leaves a channel: its cursors are remembered for a later join, topics
    /// no other channel reads are unsubscribed, its presence is dropped.
    async fn leave(&mut self, name: &str) {
        let Some(channel) = self.channels.map.remove(name) else {
            return;
        };
        self.member.leave(name).await;
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let sources: Vec<Topic> = channel
            .bindings
            .iter()
            .flat_map(|b| b.sources.clone())
            .collect();
        let mut cursors = channel.cursors;
        cursors.retain(|topic, _| topic.conversation().is_some());
        if !cursors.is_empty() {
            self.state.resume.keep(&session.caller().sub, name, cursors);
        }
        for topic in sources {
            if !self.channels.map.values().any(|c| c.reads(&topic)) {
                session.unsubscribe(&topic);
            }
        }
    }

    /// Undoes the subscriptions of a join that failed half-way.
    fn unwind(&mut self, added: &[Topic]) {
        if let Some(session) = self.session.as_mut() {
            for topic in added {
                session.unsubscribe(topic);
            }
        }
    }
}

/// A join that went out, and what remains to write after its reply.
struct Joined {
    /// (topic, joined without a cursor, its backlog)
    backfills: Vec<(Topic, bool, Backfill)>,
    has_changes: bool,
}

enum JoinError {
    Refused(String),
    End(End),
}

/// The session's next event; without a session, nothing ever comes.
async fn next_event(session: &mut Option<Session>) -> Result<Event, End> {
    match session {
        Some(session) => session.next().await,
        None => std::future::pending().await,
    }
}

fn close_for(end: End) -> Close {
    end.code().map(|code| (code, end.advice()))
}
