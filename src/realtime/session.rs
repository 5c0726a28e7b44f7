//! The session core: what a subscriber's session means, whatever carries it.
//! WebSocket (`ws`), Server-Sent Events (`sse`) and long polling (`poll`) are
//! thin adapters that drive a [`Session`]; so are the protocol adapters
//! (`compat::supabase`: Supabase Realtime's Phoenix channels).
//!
//! A session owns:
//! - the caller's identity and the token's deadline: no session starts with an
//!   expired token, and [`Session::next`] ends it when the token runs out
//!   (WebSocket clients may refresh it: [`Session::refresh`]);
//! - the connection permit: the per-user and per-address caps
//!   (`limits::Limits::admit`) count every transport alike, and the
//!   `pgchat_realtime_sessions{transport}` gauge counts them;
//! - the subscription set and each topic's cursor: live events at or below a
//!   topic's cursor are dropped, so backlog and live events meet with no gap
//!   and no duplicate (register before reading);
//! - catch-up in chunks ([`Backfill`]): at most one chunk of the backlog
//!   (`changes::CHUNK` changes) is in memory at a time, whatever its length;
//! - a bounded outbound queue (the hub's, `PGCHAT_WS_QUEUE` frames) and a write
//!   deadline (`PGCHAT_WRITE_TIMEOUT_MS`): a consumer that stops reading either
//!   overflows the queue or misses the deadline, and is evicted ([`End::TooSlow`],
//!   counted in `slow_consumer_closes_total`) to resume by cursor — the session
//!   task itself never waits on a peer longer than the deadline, so its timers
//!   (heartbeats, expiry, shutdown) keep running.
//!
//! Revocation comes from the listener through the hub (`Event::ends_subscription`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntGauge;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::auth::Identity;
use crate::domain::Since;
use crate::error::ApiError;
use crate::limits::Permit;
use crate::realtime::frames;
use crate::realtime::hub::{Connection, Event, MessageRef, Topic};
use crate::realtime::RealtimeState;
use crate::service::changes::{self, Position};
use crate::service::topics::{self, Followed};

/// The transport carrying a session (the gauge's label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Sse,
    LongPoll,
    /// STOMP, over a WebSocket or SockJS (`compat::stomp`).
    Stomp,
    /// Supabase Realtime's Phoenix channels (`compat::supabase`).
    Supabase,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::WebSocket => "ws",
            Self::Sse => "sse",
            Self::LongPoll => "poll",
            Self::Stomp => "stomp",
            Self::Supabase => "supabase",
        }
    }
}

/// Frames a long poll may have queued while it reads: it only needs a wake-up.
const POLL_QUEUE: usize = 16;

/// Why a session ends. Each transport tells its client in its own way
/// (a WebSocket close code, a last SSE event, an HTTP status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The consumer stopped reading: its queue overflowed or a write missed
    /// its deadline. It reconnects and resumes by cursor.
    TooSlow,
    /// The token expired (and was not refreshed).
    TokenExpired,
    /// The server is shutting down: reconnect elsewhere.
    Restarting,
    /// The only topic of a single-topic session was revoked.
    Unsubscribed,
    /// The peer went away; there is nobody to tell.
    Gone,
}

impl End {
    /// The WebSocket close code (also in SSE's last event).
    pub fn code(self) -> Option<u16> {
        match self {
            Self::TooSlow => Some(4008),
            Self::TokenExpired => Some(4001),
            Self::Restarting => Some(1012),
            Self::Unsubscribed | Self::Gone => None,
        }
    }

    /// A short, stable reason (the `reason` of SSE's last event).
    pub fn reason(self) -> &'static str {
        match self {
            Self::TooSlow => "too_slow",
            Self::TokenExpired => "token_expired",
            Self::Restarting => "server_restarting",
            Self::Unsubscribed => "unsubscribed",
            Self::Gone => "gone",
        }
    }

    /// What the client should do, in words (the WebSocket close reason).
    pub fn advice(self) -> &'static str {
        match self {
            Self::TooSlow => "too slow: reconnect and resume with since",
            Self::TokenExpired => "token expired: reconnect with a fresh token",
            Self::Restarting => "server restarting: reconnect",
            Self::Unsubscribed => "unsubscribed",
            Self::Gone => "gone",
        }
    }
}

/// A subscription failed: an error to answer with, or the session is over.
#[derive(Debug)]
pub enum Failure {
    Api(ApiError),
    End(End),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure::Api(error)
    }
}

impl From<End> for Failure {
    fn from(end: End) -> Self {
        Failure::End(end)
    }
}

/// Where a transport writes events (a WebSocket sink, an SSE stream's
/// channel). A write may wait while the peer is not reading; the session
/// bounds that wait with its deadline.
pub trait Outbound: Send {
    /// Queues one event for the peer (Err: the peer is gone).
    fn feed(&mut self, event: Event) -> impl Future<Output = Result<(), ()>> + Send;
    /// Pushes what was fed out to the peer.
    fn flush(&mut self) -> impl Future<Output = Result<(), ()>> + Send;
}

/// One subscriber's session: see the module documentation.
pub struct Session {
    state: RealtimeState,
    caller: Identity,
    transport: Transport,
    conn: Arc<Connection>,
    rx: mpsc::Receiver<Event>,
    /// Subscribed topics → highest change_seq delivered (conversations; 0 otherwise).
    cursors: HashMap<Topic, i64>,
    /// Messages the caller hid for themselves (delete for me) in the
    /// conversations subscribed: their live changes are dropped here, as
    /// `pgchat.changes` drops them on resume. Loaded per subscription (after
    /// registering), grown by `message_hidden` events; small, per user.
    hidden: HashSet<Uuid>,
    write_timeout: Duration,
    gauge: IntGauge,
    _permit: Permit,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.state.realtime.hub.disconnect(self.conn.id);
        self.gauge.dec();
    }
}

impl Session {
    /// Starts a session for `caller` connecting from `peer`: refuses an
    /// expired token (401) and a user or address over its cap (429).
    pub fn open(
        state: &RealtimeState,
        caller: Identity,
        peer: IpAddr,
        transport: Transport,
    ) -> Result<Self, ApiError> {
        if caller.exp <= chrono::Utc::now().timestamp() {
            return Err(ApiError::Unauthorized("token expired".into()));
        }
        let permit = state.limits.admit(&caller, peer)?;
        let realtime = &state.realtime;
        let queue = match transport {
            Transport::LongPoll => POLL_QUEUE,
            Transport::WebSocket | Transport::Sse | Transport::Stomp | Transport::Supabase => {
                realtime.config.ws_queue
            }
        };
        let (conn, rx) = realtime.hub.connect(queue);
        let gauge = realtime
            .metrics
            .sessions
            .with_label_values(&[transport.label()]);
        gauge.inc();
        Ok(Self {
            state: state.clone(),
            caller,
            transport,
            conn,
            rx,
            cursors: HashMap::new(),
            hidden: HashSet::new(),
            write_timeout: Duration::from_millis(realtime.config.write_timeout_ms.max(1)),
            gauge,
            _permit: permit,
        })
    }

    pub fn caller(&self) -> &Identity {
        &self.caller
    }

    pub fn state(&self) -> &RealtimeState {
        &self.state
    }

    pub fn subscriptions(&self) -> usize {
        self.cursors.len()
    }

    /// The cursor of a subscribed topic (for "resume from here" notices).
    pub fn cursor(&self, topic: &Topic) -> Option<i64> {
        self.cursors.get(topic).copied()
    }

    /// Replaces the token (same user and role) and so moves the deadline.
    pub async fn refresh(&mut self, token: &str) -> Result<i64, ApiError> {
        let fresh = self.state.verifier.verify(token).await?;
        if fresh.sub != self.caller.sub || fresh.role != self.caller.role {
            return Err(ApiError::forbidden(
                "token_identity_mismatch",
                "a refreshed token must be for the same user and role",
            ));
        }
        self.caller = fresh;
        Ok(self.caller.exp)
    }

    /// When the token runs out.
    fn deadline(&self) -> tokio::time::Instant {
        let left = self.caller.exp - chrono::Utc::now().timestamp();
        tokio::time::Instant::now() + Duration::from_secs(left.max(0) as u64)
    }

    /// Checks access to `topic` and registers the live subscription (events
    /// start queueing now), then reads the first chunk of the backlog after
    /// `since` — which is also the access check for a conversation (404 when
    /// invisible). Without `since` the backfill is empty and its cursor is
    /// where the conversation stands. Hand the result to [`Session::backfill`].
    pub async fn subscribe(
        &mut self,
        topic: Topic,
        since: Option<Since>,
    ) -> Result<Backfill, ApiError> {
        if self.cursors.remove(&topic).is_some() {
            self.state.realtime.hub.unsubscribe(self.conn.id, &topic);
        }
        self.authorize(&topic).await?;
        self.state
            .realtime
            .hub
            .subscribe(&self.conn, &self.caller, topic.clone());
        let mut started = self.start_backfill(&topic, since.map(Since::get)).await;
        if let (Ok(_), Some(conversation)) = (&started, topic.conversation()) {
            match changes::hidden(&self.state.db, &self.caller, conversation).await {
                Ok(ids) => self.hidden.extend(ids),
                Err(error) => started = Err(error),
            }
        }
        if started.is_err() {
            self.state.realtime.hub.unsubscribe(self.conn.id, &topic);
        }
        started
    }

    async fn start_backfill(
        &self,
        topic: &Topic,
        since: Option<i64>,
    ) -> Result<Backfill, ApiError> {
        let mut backfill = Backfill {
            topic: topic.clone(),
            pending: Vec::new(),
            catch_up: None,
            cursor: 0,
        };
        let Some(conversation) = topic.conversation() else {
            return Ok(backfill);
        };
        match since {
            None => {
                let head = changes::head(&self.state.db, &self.caller, conversation).await?;
                self.state.realtime.hub.seed(conversation, head);
                backfill.cursor = head;
            }
            Some(since) => {
                let mut catch_up = CatchUp::new(conversation, since);
                let chunk = catch_up.next(&self.state, &self.caller).await?;
                backfill.pending = chunk.events;
                backfill.cursor = catch_up.cursor();
                backfill.catch_up = (!catch_up.done).then_some(catch_up);
            }
        }
        Ok(backfill)
    }

    /// Writes the backfill to `out` chunk by chunk (each chunk within the write
    /// deadline), then makes the subscription live at the backfill's cursor.
    /// Returns that cursor. On failure the topic is unsubscribed.
    pub async fn backfill<O: Outbound>(
        &mut self,
        mut backfill: Backfill,
        out: &mut O,
    ) -> Result<i64, Failure> {
        let written: Result<(), Failure> = async {
            loop {
                let events = std::mem::take(&mut backfill.pending);
                let Some(catch_up) = backfill.catch_up.as_mut() else {
                    if !events.is_empty() {
                        self.write_all(out, events).await?;
                    }
                    return Ok(());
                };
                // The next chunk is read while this one is written: the
                // database and the peer work at once (two chunks in memory).
                let write = async {
                    if events.is_empty() {
                        Ok(())
                    } else {
                        self.write_all(out, events).await
                    }
                };
                let (written, chunk) =
                    tokio::join!(write, catch_up.next(&self.state, &self.caller));
                written?;
                let chunk = chunk?;
                backfill.pending = chunk.events;
                backfill.cursor = catch_up.cursor();
                if catch_up.done {
                    backfill.catch_up = None;
                }
            }
        }
        .await;
        match written {
            Ok(()) => {
                self.cursors.insert(backfill.topic, backfill.cursor);
                Ok(backfill.cursor)
            }
            Err(failure) => {
                self.state
                    .realtime
                    .hub
                    .unsubscribe(self.conn.id, &backfill.topic);
                Err(failure)
            }
        }
    }

    /// Registers `topic` at `cursor` without reading anything (a long poll
    /// reads for itself, one chunk at a time).
    pub fn watch(&mut self, topic: Topic, cursor: i64) {
        self.state
            .realtime
            .hub
            .subscribe(&self.conn, &self.caller, topic.clone());
        self.cursors.insert(topic, cursor);
    }

    pub fn unsubscribe(&mut self, topic: &Topic) {
        self.state.realtime.hub.unsubscribe(self.conn.id, topic);
        self.cursors.remove(topic);
    }

    /// May the caller subscribe to `topic`? The database says
    /// (`service::topics`); a conversation's backlog read is its check.
    async fn authorize(&self, topic: &Topic) -> Result<(), ApiError> {
        let followed = match topic {
            Topic::Conversation(_) => return Ok(()),
            Topic::Inbox(user) => Followed::Inbox(user),
            Topic::SupportQueue => Followed::SupportQueue,
            Topic::Presence(user) => Followed::Presence(user),
        };
        topics::may_follow(&self.state.db, &self.caller, followed).await
    }

    /// Waits for the next live event to deliver, or for the reason the
    /// session must end: evicted (counted), server shutdown, token expiry.
    /// A long poll is a request in flight, which the drain lets finish: it
    /// does not end on shutdown. Cancel-safe: nothing is lost if another
    /// branch of a `select!` wins.
    pub async fn next(&mut self) -> Result<Event, End> {
        let shutdown = self.state.realtime.shutting_down();
        let persistent = self.transport != Transport::LongPoll;
        loop {
            let expiry = self.deadline();
            let event = tokio::select! {
                biased;
                () = self.conn.evicted.notified() => return Err(self.evicted()),
                () = shutdown.cancelled(), if persistent => return Err(End::Restarting),
                () = tokio::time::sleep_until(expiry) => return Err(End::TokenExpired),
                event = self.rx.recv() => event.ok_or(End::Gone)?,
            };
            if let Some(event) = self.admit(event) {
                return Ok(event);
            }
        }
    }

    /// The next live event already queued, without waiting (to batch writes).
    pub fn try_next(&mut self) -> Option<Event> {
        while let Ok(event) = self.rx.try_recv() {
            if let Some(event) = self.admit(event) {
                return Some(event);
            }
        }
        None
    }

    /// Keeps an event of a subscribed topic above its cursor, moving the cursor.
    fn admit(&mut self, event: Event) -> Option<Event> {
        let cursor = self.cursors.get_mut(&event.topic)?;
        if let Some(cs) = event.change_seq {
            if cs <= *cursor {
                return None;
            }
            *cursor = cs;
        }
        if event.ends_subscription {
            self.cursors.remove(&event.topic);
        }
        match event.message {
            Some(MessageRef::Hidden(id)) => {
                self.hidden.insert(id);
            }
            Some(MessageRef::Changed(id)) if self.hidden.contains(&id) => return None,
            _ => {}
        }
        Some(event)
    }

    /// Counts an eviction (once per session: the session ends with it).
    fn evicted(&self) -> End {
        self.state.realtime.metrics.slow_consumer_closes.inc();
        End::TooSlow
    }

    /// Runs one write to the peer within the write deadline: a peer that does
    /// not take it in time has stopped reading and is evicted.
    pub async fn write<T, E>(&self, write: impl Future<Output = Result<T, E>>) -> Result<T, End> {
        match tokio::time::timeout(self.write_timeout, write).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(self.evicted()),
        }
    }

    /// Writes `events` to `out` and flushes, within one write deadline.
    pub async fn write_all<O: Outbound>(&self, out: &mut O, events: Vec<Event>) -> Result<(), End> {
        let count = events.len() as u64;
        self.write(async {
            for event in events {
                out.feed(event).await?;
            }
            out.flush().await
        })
        .await?;
        self.state.realtime.metrics.frames_delivered.inc_by(count);
        Ok(())
    }

    /// One chunk of a conversation's changes after `since` (a long poll's
    /// answer): the frames, the cursor after them, and whether more remain.
    pub async fn read_chunk(&self, conversation: Uuid, since: i64) -> Result<Chunk, ApiError> {
        CatchUp::new(conversation, since)
            .next(&self.state, &self.caller)
            .await
    }
}

/// The last frame of a stream that the server ends (SSE): why, and the
/// cursor to resume from (conversation topics).
pub fn end_frame(end: End, topic: &Topic, cursor: Option<i64>) -> Event {
    let mut frame = json!({
        "type": "closed",
        "topic": topic.to_string(),
        "reason": end.reason(),
        "code": end.code(),
    });
    if let Some(cursor) = cursor.filter(|_| topic.conversation().is_some()) {
        frame["cursor"] = json!(cursor);
    }
    Event {
        topic: topic.clone(),
        change_seq: None,
        audience: crate::realtime::hub::Audience::Everyone,
        frame: frames::encode(&frame),
        ends_subscription: true,
        message: None,
    }
}

/// A subscription's backlog, not yet written: at most one chunk in memory.
pub struct Backfill {
    topic: Topic,
    pending: Vec<Event>,
    catch_up: Option<CatchUp>,
    cursor: i64,
}

/// One chunk of a backlog.
pub struct Chunk {
    pub events: Vec<Event>,
    /// Everything up to here was read (and is in `events`) or is invisible to the reader.
    pub cursor: i64,
    /// More changes remain after `cursor`.
    pub more: bool,
}

/// Reads a conversation's backlog after a cursor, chunk by chunk, under the caller's RLS.
struct CatchUp {
    conversation: Uuid,
    topic: Topic,
    at: Position,
    snapshot: Option<i64>,
    done: bool,
}

impl CatchUp {
    fn new(conversation: Uuid, since: i64) -> Self {
        Self {
            conversation,
            topic: Topic::Conversation(conversation),
            at: Position::start(since),
            snapshot: None,
            done: false,
        }
    }

    /// The next chunk (empty once caught up).
    async fn next(&mut self, state: &RealtimeState, caller: &Identity) -> Result<Chunk, ApiError> {
        if self.done {
            return Ok(Chunk {
                events: Vec::new(),
                cursor: self.cursor(),
                more: false,
            });
        }
        let backlog = changes::since(&state.db, caller, self.conversation, self.at).await?;
        if self.snapshot.is_none() {
            state
                .realtime
                .hub
                .seed(self.conversation, backlog.snapshot_seq);
        }
        self.snapshot = Some(backlog.snapshot_seq);
        self.done = !backlog.more;
        self.at = self.at.next(&backlog);
        Ok(Chunk {
            events: backlog
                .changes
                .iter()
                .map(|c| frames::change(c, &self.topic))
                .collect(),
            cursor: self.cursor(),
            more: backlog.more,
        })
    }

    /// Where the reader stands: the last change read while more remain; once
    /// caught up, the snapshot (everything up to it was read or is invisible).
    fn cursor(&self) -> i64 {
        if self.done {
            self.snapshot.unwrap_or(self.at.origin).max(self.at.origin)
        } else {
            self.at.after
        }
    }
}
