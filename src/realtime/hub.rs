//! The hub: topic → subscribers. Frames are serialized once (`Utf8Bytes` is a
//! shared, reference-counted buffer) and handed to every subscriber's bounded
//! queue with `try_send`; a connection whose queue is full is evicted from every
//! topic and told to close (it resumes by cursor), so memory stays bounded.
//!
//! The hub also keeps, per conversation topic, the highest `change_seq`
//! dispatched: the listener reads each conversation's changes above it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

use crate::auth::{Identity, Role};

/// What a client can subscribe to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Messages, edits, session and member changes, typing and reads of one conversation.
    Conversation(Uuid),
    /// One user's own feed: new conversations and sessions, new messages, flags.
    Inbox(Arc<str>),
    /// The support desk's live feed (staff only).
    SupportQueue,
    /// One user's presence.
    Presence(Arc<str>),
}

impl Topic {
    /// Parses a client's topic name; `inbox` is the caller's own.
    pub fn parse(name: &str, caller: &Identity) -> Option<Self> {
        match name {
            "inbox" => Some(Self::Inbox(caller.sub.as_str().into())),
            "support:queue" => Some(Self::SupportQueue),
            _ => {
                if let Some(id) = name.strip_prefix("conversation:") {
                    Uuid::parse_str(id).ok().map(Self::Conversation)
                } else {
                    let user = name.strip_prefix("presence:")?;
                    (!user.is_empty() && user.len() <= 200).then(|| Self::Presence(user.into()))
                }
            }
        }
    }

    pub fn conversation(&self) -> Option<Uuid> {
        match self {
            Self::Conversation(id) => Some(*id),
            _ => None,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conversation(id) => write!(f, "conversation:{id}"),
            Self::Inbox(_) => f.write_str("inbox"),
            Self::SupportQueue => f.write_str("support:queue"),
            Self::Presence(user) => write!(f, "presence:{user}"),
        }
    }
}

/// Who may receive an event on a topic they are subscribed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    Everyone,
    /// Agents and admins (internal notes).
    Staff,
    /// Everyone but this user (their own typing indicator).
    AllBut(Arc<str>),
    /// Staff but this user (typing an internal note).
    StaffBut(Arc<str>),
    /// Admins, and this user if any (a session's assigned agent).
    AdminsAnd(Option<Arc<str>>),
    /// Agents who are not admins, but this user if any.
    AgentsBut(Option<Arc<str>>),
    /// This user alone.
    Only(Arc<str>),
}

impl Audience {
    fn admits(&self, who: &Subscriber) -> bool {
        let is = |user: &Option<Arc<str>>| user.as_deref() == Some(&*who.user);
        match self {
            Self::Everyone => true,
            Self::Staff => who.role.is_staff(),
            Self::AllBut(user) => *who.user != **user,
            Self::StaffBut(user) => who.role.is_staff() && *who.user != **user,
            Self::AdminsAnd(user) => who.role == Role::Admin || is(user),
            Self::AgentsBut(user) => who.role == Role::Agent && !is(user),
            Self::Only(user) => *who.user == **user,
        }
    }
}

/// The message an event is about, for the one per-reader rule the hub cannot
/// apply: messages a reader hid for themselves (delete for me), which each
/// session keeps as a set (`session::Session`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageRef {
    /// A change of this message (new, edited, deleted, reacted to, voted on).
    Changed(Uuid),
    /// The reader (the event's `Audience::Only`) hid this message.
    Hidden(Uuid),
}

/// One frame for one topic, serialized once.
#[derive(Clone, Debug)]
pub struct Event {
    pub topic: Topic,
    /// The conversation's change_seq, for changes that have one (not typing or presence).
    pub change_seq: Option<i64>,
    pub audience: Audience,
    pub frame: Utf8Bytes,
    /// This frame tells the subscriber it was unsubscribed (access revoked).
    pub ends_subscription: bool,
    /// The message it is about, if any.
    pub message: Option<MessageRef>,
}

/// A connection as the hub knows it.
pub struct Connection {
    pub id: u64,
    tx: mpsc::Sender<Event>,
    /// Signalled when the hub evicted the connection because its queue was full.
    pub evicted: Notify,
}

struct Subscriber {
    conn: Arc<Connection>,
    user: Arc<str>,
    role: Role,
}

#[derive(Default)]
struct TopicState {
    subscribers: HashMap<u64, Subscriber>,
    /// Highest change_seq dispatched on this (conversation) topic.
    last_cs: Option<i64>,
    /// Lowest cursor a subscriber started from, for a refill before any dispatch.
    floor: Option<i64>,
}

#[derive(Default)]
pub struct Hub {
    topics: RwLock<HashMap<Topic, TopicState>>,
    /// connection id → its topics (for eviction and cleanup).
    memberships: Mutex<HashMap<u64, HashSet<Topic>>>,
    next_id: AtomicU64,
}

impl Hub {
    /// Registers a connection with a queue of `capacity` frames.
    pub fn connect(&self, capacity: usize) -> (Arc<Connection>, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        (
            Arc::new(Connection {
                id,
                tx,
                evicted: Notify::new(),
            }),
            rx,
        )
    }

    /// Subscribes; live events start queueing at once (register before reading).
    pub fn subscribe(&self, conn: &Arc<Connection>, who: &Identity, topic: Topic) {
        let subscriber = Subscriber {
            conn: conn.clone(),
            user: who.sub.as_str().into(),
            role: who.role,
        };
        self.topics
            .write()
            .expect("poisoned")
            .entry(topic.clone())
            .or_default()
            .subscribers
            .insert(conn.id, subscriber);
        self.memberships
            .lock()
            .expect("poisoned")
            .entry(conn.id)
            .or_default()
            .insert(topic);
    }

    pub fn unsubscribe(&self, conn_id: u64, topic: &Topic) {
        self.remove(conn_id, std::slice::from_ref(topic));
        if let Some(topics) = self.memberships.lock().expect("poisoned").get_mut(&conn_id) {
            topics.remove(topic);
        }
    }

    /// Drops every subscription of a connection (it closed or was evicted).
    pub fn disconnect(&self, conn_id: u64) {
        let topics = self.memberships.lock().expect("poisoned").remove(&conn_id);
        if let Some(topics) = topics {
            self.remove(conn_id, &topics.into_iter().collect::<Vec<_>>());
        }
    }

    fn remove(&self, conn_id: u64, topics: &[Topic]) {
        let mut map = self.topics.write().expect("poisoned");
        for topic in topics {
            if let Some(state) = map.get_mut(topic) {
                state.subscribers.remove(&conn_id);
                if state.subscribers.is_empty() {
                    map.remove(topic);
                }
            }
        }
    }

    /// Marks a change as dispatched (the listener walks each conversation in seq order).
    pub fn advance(&self, conversation: Uuid, change_seq: i64) {
        if let Some(state) = self
            .topics
            .write()
            .expect("poisoned")
            .get_mut(&Topic::Conversation(conversation))
        {
            state.last_cs = Some(
                state
                    .last_cs
                    .map_or(change_seq, |last| last.max(change_seq)),
            );
        }
    }

    /// A subscriber tells the hub where the conversation stood when it
    /// subscribed, so that a listener outage before any dispatch can still be
    /// refilled from there. (It never causes a drop: duplicates below a
    /// subscriber's own cursor are dropped by its connection.)
    pub fn seed(&self, conversation: Uuid, change_seq: i64) {
        if let Some(state) = self
            .topics
            .write()
            .expect("poisoned")
            .get_mut(&Topic::Conversation(conversation))
        {
            state.floor = Some(state.floor.map_or(change_seq, |f| f.min(change_seq)));
        }
    }

    /// Whether a conversation's topic has subscribers (None if not) and the
    /// highest change_seq dispatched on it, or else its subscribers' lowest
    /// starting cursor (None: nothing yet).
    pub fn dispatched(&self, conversation: Uuid) -> Option<Option<i64>> {
        let map = self.topics.read().expect("poisoned");
        map.get(&Topic::Conversation(conversation))
            .map(|state| state.last_cs.or(state.floor))
    }

    /// The users whose presence someone follows.
    pub fn followed_users(&self) -> Vec<Arc<str>> {
        let map = self.topics.read().expect("poisoned");
        map.keys()
            .filter_map(|topic| match topic {
                Topic::Presence(user) => Some(user.clone()),
                _ => None,
            })
            .collect()
    }

    /// Conversation topics with subscribers, and from where to refill each.
    pub fn watched_conversations(&self) -> Vec<(Uuid, Option<i64>)> {
        let map = self.topics.read().expect("poisoned");
        map.iter()
            .filter_map(|(topic, state)| {
                topic
                    .conversation()
                    .map(|id| (id, state.last_cs.or(state.floor)))
            })
            .collect()
    }

    pub fn has_subscribers(&self, topic: &Topic) -> bool {
        self.topics.read().expect("poisoned").contains_key(topic)
    }

    /// Whether anybody listens on any inbox (so the listener can skip member lookups).
    pub fn any_inbox(&self) -> bool {
        self.topics
            .read()
            .expect("poisoned")
            .keys()
            .any(|t| matches!(t, Topic::Inbox(_)))
    }

    /// The users (with their roles) listening on their inbox on this node.
    pub fn inbox_subscribers(&self) -> Vec<(Arc<str>, Role)> {
        let map = self.topics.read().expect("poisoned");
        map.iter()
            .filter(|(topic, _)| matches!(topic, Topic::Inbox(_)))
            .filter_map(|(_, state)| {
                state
                    .subscribers
                    .values()
                    .next()
                    .map(|s| (s.user.clone(), s.role))
            })
            .collect()
    }

    /// The distinct identities subscribed to a topic (to re-check their access).
    pub fn subscribers_of(&self, topic: &Topic) -> Vec<(Arc<str>, Role)> {
        let map = self.topics.read().expect("poisoned");
        let mut seen = HashSet::new();
        map.get(topic)
            .map(|state| {
                state
                    .subscribers
                    .values()
                    .filter(|s| seen.insert(s.user.clone()))
                    .map(|s| (s.user.clone(), s.role))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes `user`'s subscriptions to `topic` (their access was revoked) and
    /// hands each affected connection `notice`.
    pub fn revoke(&self, topic: &Topic, user: &str, notice: Event) {
        let conns: Vec<Arc<Connection>> = {
            let map = self.topics.read().expect("poisoned");
            map.get(topic)
                .map(|s| {
                    s.subscribers
                        .values()
                        .filter(|s| &*s.user == user)
                        .map(|s| s.conn.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        for conn in conns {
            self.unsubscribe(conn.id, topic);
            if conn.tx.try_send(notice.clone()).is_err() {
                self.evict(&conn);
            }
        }
    }

    /// Hands the event to every admitted subscriber of its topic.
    pub fn dispatch(&self, event: Event) {
        let mut overflowed = Vec::new();
        {
            let map = self.topics.read().expect("poisoned");
            let Some(state) = map.get(&event.topic) else {
                return;
            };
            for subscriber in state.subscribers.values() {
                if event.audience.admits(subscriber)
                    && subscriber.conn.tx.try_send(event.clone()).is_err()
                {
                    overflowed.push(subscriber.conn.clone());
                }
            }
        }
        for conn in overflowed {
            self.evict(&conn);
        }
    }

    fn evict(&self, conn: &Arc<Connection>) {
        self.disconnect(conn.id);
        conn.evicted.notify_one();
    }
}
