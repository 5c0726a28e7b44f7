//! One STOMP connection over the session core, whatever carries its bytes (a
//! raw WebSocket, SockJS's websocket or xhr transports): the carrier hands
//! [`serve`] a [`Link`] — received bytes in, encoded frames out — and pumps.
//!
//! The connection waits for CONNECT (or STOMP), verifies the bearer token,
//! opens a `realtime::session::Session` (the per-user and per-address caps,
//! the token's deadline, eviction of a consumer that stops reading) and then
//! translates: SUBSCRIBE registers the chat's conversation topic with the core
//! (register, then backfill from `x-since`, then live), UNSUBSCRIBE leaves it,
//! SEND calls the same services as the JSON WebSocket, and the core's events
//! become MESSAGE frames in pgchat's STOMP profile. Several subscriptions
//! (messages, typing, read, presence) share one core topic; each event goes to
//! those of its feed.
//!
//! Every refusal is an ERROR frame, and the connection closes after it, as
//! STOMP says; so does a revoked subscription (the client resubscribes and
//! is checked afresh).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::compat::stomp::destinations::{self, Action, Feed, Subscription};
use crate::compat::stomp::frame::{self, Decoder, Frame, FrameError, Item, Limits, Version};
use crate::compat::stomp::profile::{self, SendBody};
use crate::compat::stomp::StompState;
use crate::domain::Since;
use crate::error::ApiError;
use crate::realtime::hub::{Event, Topic};
use crate::realtime::session::{End, Failure, Outbound, Session, Transport};
use crate::service::send::NewMessage;
use crate::service::{conversations, ephemeral, messages, rooms, support};

/// A connection's two directions, as its carrier sees them.
pub struct Link {
    /// What the peer sent (any cut: the decoder reassembles frames).
    pub inbound: mpsc::Receiver<Bytes>,
    /// Encoded frames and heart-beats for the peer; closed when the
    /// connection ends (the carrier then closes its side).
    pub outbound: mpsc::Sender<String>,
}

/// How long a peer may take to send CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Typing starts are forwarded at most this often per chat (as on the JSON WebSocket).
const TYPING_REFRESH: Duration = Duration::from_secs(1);

/// Chat ids resolved to conversations, kept per connection.
const MAX_RESOLVED_CHATS: usize = 256;

/// Frame limits besides the frame size (a CONNECT with a long token fits).
const MAX_HEADERS: usize = 32;
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Serves one STOMP connection until it ends; returning drops the outbound
/// channel, which tells the carrier to close.
pub async fn serve(state: StompState, peer: IpAddr, mut link: Link) {
    let limits = Limits {
        frame_bytes: state.realtime.realtime.config.ws_max_frame_bytes,
        headers: MAX_HEADERS,
        header_bytes: MAX_HEADER_BYTES,
    };
    // CONNECT headers are never unescaped, whatever the version.
    let mut decoder = Decoder::new(Version::V1_0, limits);
    // A stopping server does not wait for a CONNECT that has not come.
    let shutdown = state.realtime.realtime.shutting_down();
    let waiting = first_frame(&mut decoder, &mut link.inbound);
    let first = tokio::select! {
        first = tokio::time::timeout(CONNECT_TIMEOUT, waiting) => first,
        () = shutdown.cancelled() => {
            Stop::end(End::Restarting).tell(&link.outbound, Version::V1_2, &state).await;
            return;
        }
    };
    let connect = match first {
        Ok(Ok(Some(frame))) => frame,
        Ok(Ok(None)) | Err(_) => return,
        Ok(Err(error)) => {
            let stop = Stop::frame_error(&error);
            stop.tell(&link.outbound, Version::V1_2, &state).await;
            return;
        }
    };
    let (mut stomp, beats) = match Stomp::connect(&state, peer, &connect, &link.outbound).await {
        Ok(connected) => connected,
        Err(stop) => {
            let version =
                Version::negotiate(connect.header("accept-version")).unwrap_or(Version::V1_2);
            stop.tell(&link.outbound, version, &state).await;
            return;
        }
    };
    decoder.set_version(stomp.version);
    let realtime = state.realtime.realtime.clone();
    let db = state.realtime.db.clone();
    let caller = stomp.session.caller().clone();
    if let Err(error) = ephemeral::connected(
        &db,
        realtime.node_id,
        &caller,
        realtime.presence_ttl(),
        None,
    )
    .await
    {
        tracing::warn!(%error, "presence on connect");
    }
    let stop = match stomp.connected(&connect, beats).await {
        Ok(()) => stomp.run(&mut decoder, &mut link.inbound, beats).await,
        Err(stop) => stop,
    };
    let (version, typing): (Version, Vec<Uuid>) =
        (stomp.version, stomp.typing.keys().copied().collect());
    drop(stomp); // leaves the hub and gives the permit back before the last write
    stop.tell(&link.outbound, version, &state).await;
    for conversation in typing {
        let _ = ephemeral::typing(&db, &caller, conversation, false, false).await;
    }
    if let Err(error) = ephemeral::disconnected(&db, realtime.node_id, &caller).await {
        tracing::warn!(%error, "presence on disconnect");
    }
}

/// The first frame (heart-beats before it are ignored); `None`: the peer left.
async fn first_frame(
    decoder: &mut Decoder,
    inbound: &mut mpsc::Receiver<Bytes>,
) -> Result<Option<Frame>, FrameError> {
    loop {
        while let Some(item) = decoder.next_item()? {
            if let Item::Frame(frame) = item {
                return Ok(Some(frame));
            }
        }
        let Some(bytes) = inbound.recv().await else {
            return Ok(None);
        };
        decoder.push(&bytes)?;
    }
}

/// Why a connection ends: quietly, or with an ERROR frame first.
enum Stop {
    Quiet,
    Error {
        message: String,
        code: &'static str,
        receipt: Option<String>,
        extra: Vec<(&'static str, String)>,
    },
}

impl Stop {
    fn api(error: &ApiError, receipt: Option<&str>) -> Self {
        error.log();
        Stop::Error {
            message: error.public_message(),
            code: error.code(),
            receipt: receipt.map(str::to_owned),
            extra: Vec::new(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>, receipt: Option<&str>) -> Self {
        Stop::api(&ApiError::bad_request(code, message), receipt)
    }

    fn frame_error(error: &FrameError) -> Self {
        let code = match error {
            FrameError::TooLarge => "frame_too_large",
            _ => "invalid_frame",
        };
        Stop::bad(code, error.to_string(), None)
    }

    fn end(end: End) -> Self {
        match end.code() {
            None => Stop::Quiet,
            Some(_) => Stop::Error {
                message: end.advice().to_owned(),
                code: end.reason(),
                receipt: None,
                extra: Vec::new(),
            },
        }
    }

    fn failure(failure: Failure, receipt: Option<&str>) -> Self {
        match failure {
            Failure::Api(error) => Stop::api(&error, receipt),
            Failure::End(end) => Stop::end(end),
        }
    }

    /// Sends the ERROR frame, if any, within a short wait: the connection
    /// closes after it either way.
    async fn tell(self, out: &mpsc::Sender<String>, version: Version, state: &StompState) {
        let Stop::Error {
            message,
            code,
            receipt,
            extra,
        } = self
        else {
            return;
        };
        let mut headers: Vec<(&str, &str)> = vec![
            ("message", &message),
            ("x-error-code", code),
            ("content-type", "text/plain"),
        ];
        if let Some(receipt) = &receipt {
            headers.push(("receipt-id", receipt));
        }
        headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        let text = frame::encode("ERROR", &headers, &message, version);
        let patience =
            Duration::from_millis(state.realtime.realtime.config.write_timeout_ms.max(1));
        let _ = tokio::time::timeout(patience, out.send(text)).await;
    }
}

impl From<End> for Stop {
    fn from(end: End) -> Self {
        Stop::end(end)
    }
}

/// The negotiated heart-beats: how often we send one, how often we expect one.
#[derive(Clone, Copy, Debug)]
struct Beats {
    send: Option<Duration>,
    expect: Option<Duration>,
    /// What CONNECTED says we can do.
    offer: u64,
}

impl Beats {
    /// `heart-beat: cx,cy` from the client against our interval (0: none).
    fn negotiate(header: Option<&str>, ours: u64) -> Result<Self, Stop> {
        let (cx, cy) = match header {
            None => (0, 0),
            Some(value) => {
                let parsed = value
                    .split_once(',')
                    .and_then(|(x, y)| Some((x.trim().parse().ok()?, y.trim().parse().ok()?)));
                parsed.ok_or_else(|| {
                    Stop::bad(
                        "invalid_heart_beat",
                        "heart-beat is two numbers: cx,cy",
                        None,
                    )
                })?
            }
        };
        let every =
            |theirs: u64| (theirs > 0 && ours > 0).then(|| Duration::from_millis(theirs.max(ours)));
        Ok(Self {
            send: every(cy),
            expect: every(cx),
            offer: ours,
        })
    }
}

/// One subscription: the core topic it rides on and the part it wants.
struct Sub {
    destination: String,
    topic: Topic,
    /// The chat feed, `None` for the inbox.
    feed: Option<Feed>,
    /// The id the client named the chat by (a session's or a conversation's).
    chat_id: Option<Uuid>,
}

struct Stomp {
    session: Session,
    version: Version,
    out: mpsc::Sender<String>,
    subs: HashMap<String, Sub>,
    /// Chat ids (a session's or a conversation's) → the conversation.
    chats: HashMap<Uuid, Uuid>,
    /// Chats the caller types in → (when it expires, when we last announced it).
    typing: HashMap<Uuid, (Instant, Instant)>,
    messages_sent: u64,
}

impl Stomp {
    /// Checks a CONNECT (version, token) and opens the core session.
    async fn connect(
        state: &StompState,
        peer: IpAddr,
        frame: &Frame,
        out: &mpsc::Sender<String>,
    ) -> Result<(Self, Beats), Stop> {
        if frame.command != "CONNECT" && frame.command != "STOMP" {
            return Err(Stop::bad(
                "expected_connect",
                format!("the first frame must be CONNECT, not {}", frame.command),
                None,
            ));
        }
        let Some(version) = Version::negotiate(frame.header("accept-version")) else {
            let mut stop = Stop::bad(
                "unsupported_version",
                "supported protocol versions are 1.0, 1.1 and 1.2",
                None,
            );
            if let Stop::Error { extra, .. } = &mut stop {
                extra.push(("version", "1.0,1.1,1.2".into()));
            }
            return Err(stop);
        };
        let beats = Beats::negotiate(frame.header("heart-beat"), state.config.stomp_heartbeat_ms)?;
        let token = token(frame).ok_or_else(|| {
            Stop::api(
                &ApiError::Unauthorized(
                    "CONNECT needs `Authorization: Bearer <token>` (or the token as passcode)"
                        .into(),
                ),
                None,
            )
        })?;
        let caller = state
            .realtime
            .verifier
            .verify(token)
            .await
            .map_err(|e| Stop::api(&e, None))?;
        let session = Session::open(&state.realtime, caller, peer, Transport::Stomp)
            .map_err(|e| Stop::api(&e, None))?;
        let stomp = Self {
            session,
            version,
            out: out.clone(),
            subs: HashMap::new(),
            chats: HashMap::new(),
            typing: HashMap::new(),
            messages_sent: 0,
        };
        Ok((stomp, beats))
    }

    async fn connected(&mut self, connect: &Frame, beats: Beats) -> Result<(), Stop> {
        let heart_beat = format!("{},{}", beats.offer, beats.offer);
        let session_id = Uuid::new_v4().to_string();
        let server = concat!("pgchat/", env!("CARGO_PKG_VERSION"));
        let caller = self.session.caller().sub.clone();
        let mut headers = vec![
            ("version", self.version.as_str()),
            ("heart-beat", heart_beat.as_str()),
            ("server", server),
            ("session", session_id.as_str()),
            ("user-name", caller.as_str()),
        ];
        if self.version == Version::V1_0 && connect.header("accept-version").is_none() {
            headers.remove(0); // a 1.0 client did not ask: answer as 1.0 servers do
        }
        let text = frame::encode("CONNECTED", &headers, "", self.version);
        self.write(text).await
    }

    /// Reads frames and delivers events until the connection ends.
    async fn run(
        &mut self,
        decoder: &mut Decoder,
        inbound: &mut mpsc::Receiver<Bytes>,
        beats: Beats,
    ) -> Stop {
        let mut heard = Instant::now();
        let mut beat = beats
            .send
            .map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
        let mut housekeeping = tokio::time::interval(Duration::from_secs(1));
        loop {
            loop {
                match decoder.next_item() {
                    Ok(Some(Item::HeartBeat)) => {}
                    Ok(Some(Item::Frame(frame))) => {
                        if let Err(stop) = self.handle(frame).await {
                            return stop;
                        }
                    }
                    Ok(None) => break,
                    Err(error) => return Stop::frame_error(&error),
                }
            }
            tokio::select! {
                next = self.session.next() => match next {
                    Ok(event) => {
                        if let Err(stop) = self.deliver(event).await {
                            return stop;
                        }
                    }
                    Err(end) => return end.into(),
                },
                bytes = inbound.recv() => match bytes {
                    Some(bytes) => {
                        heard = Instant::now();
                        if let Err(error) = decoder.push(&bytes) {
                            return Stop::frame_error(&error);
                        }
                    }
                    None => return Stop::Quiet,
                },
                _ = tick(beat.as_mut()) => {
                    if let Err(stop) = self.write("\n".to_owned()).await {
                        return stop;
                    }
                }
                _ = housekeeping.tick() => {
                    if beats.expect.is_some_and(|every| heard.elapsed() > every * 2) {
                        return Stop::bad("heart_beat_lost", "no heart-beat from the client", None);
                    }
                    self.expire_typing().await;
                }
            }
        }
    }

    /// Writes one frame within the session's write deadline.
    async fn write(&self, text: String) -> Result<(), Stop> {
        self.session
            .write(self.out.send(text))
            .await
            .map_err(Stop::from)
    }

    async fn receipt(&self, frame: &Frame, extra: &[(&str, &str)]) -> Result<(), Stop> {
        let Some(receipt) = frame.header("receipt") else {
            return Ok(());
        };
        let mut headers = vec![("receipt-id", receipt)];
        headers.extend_from_slice(extra);
        self.write(frame::encode("RECEIPT", &headers, "", self.version))
            .await
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), Stop> {
        let receipt = frame.header("receipt");
        match frame.command.as_str() {
            "SEND" => self.send(&frame).await,
            "SUBSCRIBE" => self.subscribe(&frame).await,
            "UNSUBSCRIBE" => {
                let id = frame
                    .header("id")
                    .or_else(|| frame.header("destination"))
                    .ok_or_else(|| Stop::bad("missing_id", "UNSUBSCRIBE needs an id", receipt))?;
                if let Some(sub) = self.subs.remove(id) {
                    if !self.subs.values().any(|s| s.topic == sub.topic) {
                        self.session.unsubscribe(&sub.topic);
                    }
                }
                self.receipt(&frame, &[]).await
            }
            // Deliveries are acknowledged automatically (ack mode `auto`).
            "ACK" | "NACK" => self.receipt(&frame, &[]).await,
            "DISCONNECT" => {
                self.receipt(&frame, &[]).await?;
                Err(Stop::Quiet)
            }
            "BEGIN" | "COMMIT" | "ABORT" => Err(Stop::bad(
                "unsupported",
                "pgchat's STOMP profile has no transactions",
                receipt,
            )),
            "CONNECT" | "STOMP" => {
                Err(Stop::bad("already_connected", "already connected", receipt))
            }
            other => Err(Stop::bad(
                "unknown_command",
                format!("unknown command {other}"),
                receipt,
            )),
        }
    }

    /// The conversation a chat id names: a support session's, or the id itself.
    async fn chat(&mut self, id: Uuid) -> Result<Uuid, ApiError> {
        if let Some(conversation) = self.chats.get(&id) {
            return Ok(*conversation);
        }
        let state = self.session.state();
        let conversation = match support::get(&state.db, self.session.caller(), id).await {
            Ok(session) => session["conversation_id"]
                .as_str()
                .and_then(|c| Uuid::parse_str(c).ok())
                .ok_or(ApiError::NotFound("chat"))?,
            Err(ApiError::NotFound(_)) => id,
            Err(error) => return Err(error),
        };
        if self.chats.len() >= MAX_RESOLVED_CHATS {
            self.chats.clear();
        }
        self.chats.insert(id, conversation);
        Ok(conversation)
    }

    async fn subscribe(&mut self, frame: &Frame) -> Result<(), Stop> {
        let receipt = frame.header("receipt");
        let destination = frame.header("destination").ok_or_else(|| {
            Stop::bad(
                "missing_destination",
                "SUBSCRIBE needs a destination",
                receipt,
            )
        })?;
        // STOMP 1.0 made the id optional: the destination then names the subscription.
        let id = match (frame.header("id"), self.version) {
            (Some(id), _) => id,
            (None, Version::V1_0) => destination,
            (None, _) => return Err(Stop::bad("missing_id", "SUBSCRIBE needs an id", receipt)),
        };
        if self.subs.contains_key(id) {
            return Err(Stop::bad(
                "duplicate_subscription",
                format!("subscription id {id} is already in use"),
                receipt,
            ));
        }
        let since = match frame.header("x-since") {
            None => None,
            Some(text) => Some(
                text.parse::<Since>()
                    .map_err(|e| Stop::bad("invalid_since", format!("x-since: {e}"), receipt))?,
            ),
        };
        let target = destinations::subscription(destination)
            .ok_or_else(|| Stop::api(&ApiError::NotFound("destination"), receipt))?;
        let max = self.session.state().realtime.config.ws_max_subscriptions;
        if self.subs.len() >= max {
            return Err(Stop::api(
                &ApiError::unprocessable(
                    "too_many_subscriptions",
                    "unsubscribe from something first",
                ),
                receipt,
            ));
        }
        let (topic, feed, chat_id) = match target {
            Subscription::Inbox => (
                Topic::Inbox(self.session.caller().sub.as_str().into()),
                None,
                None,
            ),
            Subscription::Chat { id: chat, feed } => {
                let conversation = self.chat(chat).await.map_err(|e| Stop::api(&e, receipt))?;
                (Topic::Conversation(conversation), Some(feed), Some(chat))
            }
        };
        let fresh = self.session.cursor(&topic).is_none();
        self.subs.insert(
            id.to_owned(),
            Sub {
                destination: destination.to_owned(),
                topic: topic.clone(),
                feed,
                chat_id,
            },
        );
        let started = if fresh {
            self.start(topic, since, id).await
        } else {
            match (since, topic.conversation()) {
                (Some(since), Some(conversation)) => {
                    self.replay(conversation, since.get(), id).await
                }
                _ => Ok(()),
            }
        };
        if let Err(failure) = started {
            self.subs.remove(id);
            return Err(Stop::failure(failure, receipt));
        }
        self.receipt(frame, &[]).await
    }

    /// A topic new to the core: register, backfill from `since`, go live.
    async fn start(&mut self, topic: Topic, since: Option<Since>, id: &str) -> Result<(), Failure> {
        let backfill = self.session.subscribe(topic, since).await?;
        let mut out = Deliver {
            subs: &self.subs,
            only: Some(id),
            out: &self.out,
            version: self.version,
            sent: &mut self.messages_sent,
        };
        self.session.backfill(backfill, &mut out).await?;
        Ok(())
    }

    /// A topic the core already follows (another feed of the same chat): the
    /// backlog after `since` up to the topic's cursor goes to this
    /// subscription alone; what is newer comes live to all.
    async fn replay(&mut self, conversation: Uuid, since: i64, id: &str) -> Result<(), Failure> {
        let topic = Topic::Conversation(conversation);
        let upto = self.session.cursor(&topic).unwrap_or(since);
        let mut at = since;
        while at < upto {
            let chunk = self.session.read_chunk(conversation, at).await?;
            let events: Vec<Event> = chunk
                .events
                .into_iter()
                .filter(|e| e.change_seq.is_some_and(|cs| cs <= upto))
                .collect();
            let mut out = Deliver {
                subs: &self.subs,
                only: Some(id),
                out: &self.out,
                version: self.version,
                sent: &mut self.messages_sent,
            };
            self.session.write_all(&mut out, events).await?;
            if !chunk.more || chunk.cursor <= at {
                break;
            }
            at = chunk.cursor;
        }
        Ok(())
    }

    async fn deliver(&mut self, event: Event) -> Result<(), Stop> {
        if event.ends_subscription {
            // Access revoked (or not re-checkable): fail closed, the client
            // reconnects and is checked afresh.
            let names: Vec<&str> = self
                .subs
                .values()
                .filter(|s| s.topic == event.topic)
                .map(|s| s.destination.as_str())
                .collect();
            return Err(Stop::Error {
                message: format!("subscription ended by the server: {}", names.join(", ")),
                code: "unsubscribed",
                receipt: None,
                extra: Vec::new(),
            });
        }
        let mut out = Deliver {
            subs: &self.subs,
            only: None,
            out: &self.out,
            version: self.version,
            sent: &mut self.messages_sent,
        };
        self.session
            .write_all(&mut out, vec![event])
            .await
            .map_err(Stop::from)
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), Stop> {
        let receipt = frame.header("receipt");
        let refuse = |e: ApiError| Stop::api(&e, receipt);
        let destination = frame
            .header("destination")
            .ok_or_else(|| Stop::bad("missing_destination", "SEND needs a destination", receipt))?;
        let (chat, action) = destinations::action(destination).ok_or_else(|| {
            Stop::bad(
                "unknown_destination",
                "send to /app/chat/{id}/send, typing, read, join or leave",
                receipt,
            )
        })?;
        let conversation = self.chat(chat).await.map_err(refuse)?;
        let state = self.session.state().clone();
        let db = &state.db;
        match action {
            Action::Send => {
                let body =
                    SendBody::parse(&frame.body, frame.header("content-type")).map_err(refuse)?;
                let client_msg_id = client_msg_id(frame, &body).map_err(refuse)?;
                let new = NewMessage {
                    client_msg_id,
                    kind: body.kind().map_err(refuse)?,
                    body: body.content,
                    reply_to: body.reply_to,
                    internal: false,
                    attachment_id: body.attachment_id,
                    poll: None,
                };
                let sent = state
                    .sends
                    .send(self.session.caller(), conversation, new)
                    .await
                    .map_err(refuse)?;
                if self.typing.remove(&conversation).is_some() {
                    let _ =
                        ephemeral::typing(db, self.session.caller(), conversation, false, false)
                            .await;
                }
                let id = text(&sent.message["id"]);
                let seq = text(&sent.message["seq"]);
                return self
                    .receipt(frame, &[("x-message-id", &id), ("x-seq", &seq)])
                    .await;
            }
            Action::Typing => {
                let typing = profile::typing(&frame.body).map_err(refuse)?;
                self.set_typing(conversation, typing)
                    .await
                    .map_err(refuse)?;
            }
            Action::Read => {
                let seq = profile::read_seq(&frame.body).map_err(refuse)?;
                messages::mark_read(db, self.session.caller(), conversation, seq)
                    .await
                    .map_err(refuse)?;
            }
            Action::Join => {
                // A member already: nothing to do; an open room: join it.
                if conversations::get(db, self.session.caller(), conversation)
                    .await
                    .is_err()
                {
                    rooms::join(db, self.session.caller(), conversation)
                        .await
                        .map_err(refuse)?;
                }
            }
            Action::Leave => {
                let item = conversations::get(db, self.session.caller(), conversation)
                    .await
                    .map_err(refuse)?;
                if self.typing.contains_key(&conversation) {
                    self.set_typing(conversation, false).await.map_err(refuse)?;
                }
                // Rooms are left; a direct or support chat is only closed on this side.
                if matches!(
                    item["kind"].as_str(),
                    Some("public" | "private" | "group" | "announcement")
                ) {
                    rooms::leave(db, self.session.caller(), conversation)
                        .await
                        .map_err(refuse)?;
                }
            }
        }
        self.receipt(frame, &[]).await
    }

    async fn set_typing(&mut self, conversation: Uuid, typing: bool) -> Result<(), ApiError> {
        let db = self.session.state().db.clone();
        let caller = self.session.caller();
        if !typing {
            if self.typing.remove(&conversation).is_some() {
                ephemeral::typing(&db, caller, conversation, false, false).await?;
            }
            return Ok(());
        }
        let now = Instant::now();
        let ttl = Duration::from_secs(self.session.state().realtime.config.typing_ttl_secs.max(1));
        let previous = self.typing.get(&conversation).map(|(_, at)| *at);
        let due = previous.is_none_or(|at| now.duration_since(at) >= TYPING_REFRESH);
        if due {
            ephemeral::typing(&db, caller, conversation, true, false).await?;
        }
        let announced = if due { now } else { previous.unwrap_or(now) };
        self.typing.insert(conversation, (now + ttl, announced));
        Ok(())
    }

    async fn expire_typing(&mut self) {
        let now = Instant::now();
        let expired: Vec<Uuid> = self
            .typing
            .iter()
            .filter(|(_, (until, _))| *until <= now)
            .map(|(c, _)| *c)
            .collect();
        for conversation in expired {
            self.typing.remove(&conversation);
            let state = self.session.state();
            let _ = ephemeral::typing(&state.db, self.session.caller(), conversation, false, false)
                .await;
        }
    }
}

/// The bearer token of a CONNECT: `Authorization: Bearer …` (any case), or
/// the `passcode` (clients that only have login/passcode fields).
fn token(frame: &Frame) -> Option<&str> {
    let authorization = frame
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim());
    if let Some(value) = authorization {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    frame.header("passcode").filter(|t| !t.is_empty())
}

/// A send's idempotency key: the `client-msg-id` header, the body's
/// `clientMsgId`, or a `receipt` that is a UUID; otherwise a fresh one (no
/// dedupe: a receipt like `receipt-3` repeats across connections).
fn client_msg_id(frame: &Frame, body: &SendBody) -> Result<Uuid, ApiError> {
    if let Some(header) = frame.header("client-msg-id") {
        return Uuid::parse_str(header.trim()).map_err(|_| {
            ApiError::bad_request("invalid_client_msg_id", "client-msg-id is a UUID")
        });
    }
    if let Some(id) = body.client_msg_id {
        return Ok(id);
    }
    Ok(frame
        .header("receipt")
        .and_then(|r| Uuid::parse_str(r).ok())
        .unwrap_or_else(Uuid::new_v4))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn tick(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Where the core writes events: each becomes a MESSAGE frame for every
/// subscription of its feed (or of `only`, for a subscription's own backlog).
struct Deliver<'a> {
    subs: &'a HashMap<String, Sub>,
    only: Option<&'a str>,
    out: &'a mpsc::Sender<String>,
    version: Version,
    sent: &'a mut u64,
}

impl Outbound for Deliver<'_> {
    async fn feed(&mut self, event: Event) -> Result<(), ()> {
        for text in self.render(&event) {
            self.out.send(text).await.map_err(drop)?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ()> {
        Ok(())
    }
}

impl Deliver<'_> {
    fn render(&mut self, event: &Event) -> Vec<String> {
        let Ok(frame) = serde_json::from_str::<Value>(event.frame.as_str()) else {
            return Vec::new();
        };
        let chat = match event.topic {
            Topic::Conversation(_) => match profile::chat_event(&frame) {
                Some(chat) => Some(chat),
                None => return Vec::new(),
            },
            _ => None,
        };
        let change_seq = event.change_seq.map(|cs| cs.to_string());
        let mut frames = Vec::new();
        for (id, sub) in self.subs {
            if sub.topic != event.topic || self.only.is_some_and(|only| only != id) {
                continue;
            }
            let (body, name) = match (&chat, sub.feed) {
                (Some(chat), Some(feed)) if chat.feed == feed => {
                    let mut body = chat.body.clone();
                    body.insert("chatId".into(), json!(sub.chat_id));
                    (Value::Object(body).to_string(), chat.event.as_str())
                }
                (None, None) => (
                    event.frame.as_str().to_owned(),
                    frame["type"].as_str().unwrap_or("event"),
                ),
                _ => continue,
            };
            *self.sent += 1;
            let message_id = self.sent.to_string();
            let mut headers = vec![
                ("destination", sub.destination.as_str()),
                ("subscription", id.as_str()),
                ("message-id", message_id.as_str()),
                ("content-type", "application/json"),
                ("x-event", name),
            ];
            if let Some(cs) = &change_seq {
                headers.push(("x-change-seq", cs));
            }
            frames.push(frame::encode("MESSAGE", &headers, &body, self.version));
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(headers: &[(&str, &str)]) -> Frame {
        Frame {
            command: "CONNECT".into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn heart_beats_negotiate_to_the_slower_side() {
        let beats = Beats::negotiate(Some("1000,5000"), 10_000)
            .map_err(|_| ())
            .unwrap();
        assert_eq!(beats.send, Some(Duration::from_secs(10)));
        assert_eq!(beats.expect, Some(Duration::from_secs(10)));
        let beats = Beats::negotiate(Some("0,20000"), 10_000)
            .map_err(|_| ())
            .unwrap();
        assert_eq!(beats.send, Some(Duration::from_secs(20)));
        assert_eq!(beats.expect, None);
        let beats = Beats::negotiate(Some("1000,1000"), 0)
            .map_err(|_| ())
            .unwrap();
        assert_eq!((beats.send, beats.expect), (None, None));
        assert!(Beats::negotiate(Some("fast"), 10_000).is_err());
    }

    #[test]
    fn the_token_comes_from_authorization_or_passcode() {
        assert_eq!(
            token(&connect(&[("Authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            token(&connect(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(token(&connect(&[("Authorization", "Basic abc")])), None);
        assert_eq!(
            token(&connect(&[("login", "u"), ("passcode", "abc")])),
            Some("abc")
        );
        assert_eq!(token(&connect(&[])), None);
    }
}
