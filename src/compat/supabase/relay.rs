//! Broadcast and presence of Supabase Realtime channels, across server
//! nodes. Every broadcast and every presence change is announced with NOTIFY
//! on `pgchat_supabase` (`store`); each node LISTENs (through `pg_listen`)
//! and hands what it hears to its sockets on that channel — a message sent on
//! node A reaches clients on node B exactly like one on A. Presence state
//! lives in `supabase_presence` rows, so a client joining on any node gets the
//! whole channel's `presence_state`; a node's rows expire when it dies.
//!
//! Channels are Supabase's public channels: any signed-in user may join one
//! by name. Private channels (`config.private`, authorized in Supabase by RLS
//! on `realtime.messages`) are refused; conversations' own events come
//! through `postgres_changes`, where RLS decides.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::ws::Message;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::compat::supabase::phoenix::{self, Incoming, Vsn};
use crate::compat::supabase::store;
use crate::db::Db;
use crate::pg_listen::{Notice, PgListen};
use crate::supervisor::Supervisor;

/// Relayed messages a socket may have waiting; a socket that falls further
/// behind misses broadcasts (they are ephemeral, as in Supabase).
const MEMBER_QUEUE: usize = 256;

/// How long a node's presence rows live without its heartbeat.
const PRESENCE_TTL: Duration = Duration::from_secs(30);

/// A channel's broadcast and presence settings (its join's `config`).
#[derive(Clone, Debug, Default)]
pub struct ChannelConfig {
    /// `broadcast.self`: the sender hears its own broadcasts.
    echo: bool,
    /// `broadcast.ack`: a broadcast is answered once relayed.
    ack: bool,
    /// `presence.key` ('' → one of the server's choosing).
    key: String,
    /// `presence.enabled`: this client hears presence.
    presence: bool,
}

impl ChannelConfig {
    pub fn parse(config: &Value) -> Result<Self, String> {
        if config["private"] == json!(true) {
            return Err("private channels are not served: join a public channel, or use postgres_changes for a conversation's events".into());
        }
        let flag = |v: &Value| v.as_bool().unwrap_or(false);
        let key = match &config["presence"]["key"] {
            Value::String(k) if k.len() <= 200 => k.clone(),
            Value::Null => String::new(),
            _ => return Err("presence.key is a string of at most 200 bytes".into()),
        };
        Ok(Self {
            echo: flag(&config["broadcast"]["self"]),
            ack: flag(&config["broadcast"]["ack"]),
            key,
            presence: flag(&config["presence"]["enabled"]),
        })
    }
}

/// How a push is answered.
pub enum Ack {
    /// Nothing (a broadcast without `ack`).
    Silent,
    /// `phx_reply` ok.
    Reply,
}

/// What a node heard on `pgchat_supabase`.
#[derive(Debug)]
pub enum Relayed {
    Broadcast {
        topic: String,
        event: String,
        payload: Option<Value>,
        binary: Option<Bytes>,
        meta: Option<Value>,
        node: Uuid,
        member: u64,
    },
    Presence {
        topic: String,
        joins: Value,
        leaves: Value,
    },
}

impl Relayed {
    fn parse(payload: &str) -> Option<Self> {
        let note: Value = serde_json::from_str(payload).ok()?;
        let topic = note["t"].as_str()?.to_owned();
        match note["k"].as_str()? {
            "broadcast" => Some(Self::Broadcast {
                topic,
                event: note["e"].as_str()?.to_owned(),
                payload: note.get("p").cloned(),
                binary: note["b"]
                    .as_str()
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(Bytes::from),
                meta: note.get("m").cloned(),
                node: note["n"].as_str()?.parse().ok()?,
                member: note["s"].as_u64()?,
            }),
            "presence" => Some(Self::Presence {
                topic,
                joins: note["joins"].clone(),
                leaves: note["leaves"].clone(),
            }),
            _ => None,
        }
    }

    pub fn topic(&self) -> &str {
        match self {
            Self::Broadcast { topic, .. } | Self::Presence { topic, .. } => topic,
        }
    }

    /// The frame this socket's channel (joined as `join_ref` with `config`) gets, if any.
    pub fn frame(
        &self,
        vsn: Vsn,
        join_ref: Option<&str>,
        config: &ChannelConfig,
        me: &Member,
    ) -> Option<Message> {
        match self {
            Self::Broadcast {
                topic,
                event,
                payload,
                binary,
                meta,
                node,
                member,
            } => {
                if !config.echo && *node == me.relay.node && *member == me.id {
                    return None;
                }
                match (binary, vsn) {
                    (Some(body), Vsn::V2) => Some(phoenix::encode_binary_broadcast(
                        topic,
                        event,
                        meta.as_ref(),
                        body,
                    )),
                    (binary, _) => {
                        let mut body =
                            json!({ "type": "broadcast", "event": event, "payload": payload });
                        // A 1.0.0 socket carries JSON only: opaque bytes come as base64.
                        if let Some(bytes) = binary {
                            body["payload"] =
                                json!(base64::engine::general_purpose::STANDARD.encode(bytes));
                            body["payload_encoding"] = json!("base64");
                        }
                        if let Some(meta) = meta {
                            body["meta"] = meta.clone();
                        }
                        Some(phoenix::encode(
                            vsn,
                            join_ref,
                            None,
                            topic,
                            "broadcast",
                            &body,
                        ))
                    }
                }
            }
            Self::Presence {
                topic,
                joins,
                leaves,
            } => config.presence.then(|| {
                let diff = json!({ "joins": joins, "leaves": leaves });
                phoenix::encode(vsn, join_ref, None, topic, "presence_diff", &diff)
            }),
        }
    }
}

/// The sockets of one channel on this node: member id → its queue.
type Members = HashMap<u64, mpsc::Sender<Arc<Relayed>>>;

/// This node's relay: its sockets by channel, its presence heartbeat.
pub struct Relay {
    db: Db,
    node: Uuid,
    next_member: AtomicU64,
    /// channel topic → its members here
    channels: RwLock<HashMap<String, Members>>,
}

impl Relay {
    /// Starts the node's LISTEN connection and presence heartbeat under `supervisor`.
    pub fn start(
        db: Db,
        database: tokio_postgres::Config,
        supervisor: &mut Supervisor,
    ) -> Arc<Self> {
        let relay = Arc::new(Self {
            db: db.clone(),
            node: Uuid::new_v4(),
            next_member: AtomicU64::new(1),
            channels: RwLock::default(),
        });
        let (listen, notices) =
            PgListen::new(database, db.tls(), "pgchat-supabase", &[store::CHANNEL]).start();
        supervisor.spawn("supabase relay listener", listen);
        supervisor.spawn("supabase relay", relay.clone().fan_out(notices));
        let node = relay.node;
        supervisor.spawn("supabase presence heartbeat", async move {
            let mut tick = tokio::time::interval(PRESENCE_TTL / 3);
            loop {
                tick.tick().await;
                if let Err(error) = store::heartbeat(&db, node, PRESENCE_TTL.as_secs_f64()).await {
                    tracing::warn!(%error, "supabase presence heartbeat");
                }
            }
        });
        relay
    }

    async fn fan_out(self: Arc<Self>, mut notices: mpsc::Receiver<Notice>) {
        while let Some(notice) = notices.recv().await {
            let Notice::Notification { payload, .. } = notice else {
                continue;
            };
            let Some(relayed) = Relayed::parse(&payload) else {
                tracing::warn!("unreadable relay notification");
                continue;
            };
            let relayed = Arc::new(relayed);
            let channels = self.channels.read().expect("poisoned");
            for queue in channels
                .get(relayed.topic())
                .into_iter()
                .flat_map(HashMap::values)
            {
                // a socket this far behind misses ephemeral messages
                let _ = queue.try_send(relayed.clone());
            }
        }
    }

    /// A socket's place on the relay.
    pub fn member(self: &Arc<Self>) -> Member {
        let (tx, rx) = mpsc::channel(MEMBER_QUEUE);
        Member {
            relay: self.clone(),
            id: self.next_member.fetch_add(1, Ordering::Relaxed),
            tx,
            rx,
            tracked: HashMap::new(),
        }
    }
}

/// One socket on the relay: the channels it joined, what it tracks.
pub struct Member {
    relay: Arc<Relay>,
    id: u64,
    tx: mpsc::Sender<Arc<Relayed>>,
    rx: mpsc::Receiver<Arc<Relayed>>,
    /// channel topic → (presence key, the ref of what it tracks)
    tracked: HashMap<String, (String, Option<String>)>,
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut channels = self.relay.channels.write().expect("poisoned");
        for topic in self.tracked.keys() {
            if let Some(members) = channels.get_mut(topic) {
                members.remove(&self.id);
                if members.is_empty() {
                    channels.remove(topic);
                }
            }
        }
        let refs: Vec<String> = self
            .tracked
            .values()
            .filter_map(|(_, r)| r.clone())
            .collect();
        if !refs.is_empty() {
            let db = self.relay.db.clone();
            tokio::spawn(async move {
                if let Err(error) = store::untrack(&db, &refs).await {
                    tracing::warn!(%error, "supabase presence on disconnect");
                }
            });
        }
    }
}

impl Member {
    /// The next relayed message for this socket's channels.
    pub async fn next(&mut self) -> Option<Arc<Relayed>> {
        self.rx.recv().await
    }

    /// Joins `topic` on the relay; returns the presence state to send when
    /// the channel listens to presence.
    pub async fn join(&mut self, topic: &str, config: &ChannelConfig) -> Option<Value> {
        self.relay
            .channels
            .write()
            .expect("poisoned")
            .entry(topic.to_owned())
            .or_default()
            .insert(self.id, self.tx.clone());
        let key = if config.key.is_empty() {
            Uuid::new_v4().to_string()
        } else {
            config.key.clone()
        };
        self.tracked.insert(topic.to_owned(), (key, None));
        if !config.presence {
            return None;
        }
        match store::state(&self.relay.db, topic).await {
            Ok(state) => Some(state),
            Err(error) => {
                error.log();
                Some(json!({}))
            }
        }
    }

    /// Leaves `topic`: what this socket tracked there leaves too.
    pub async fn leave(&mut self, topic: &str) {
        {
            let mut channels = self.relay.channels.write().expect("poisoned");
            if let Some(members) = channels.get_mut(topic) {
                members.remove(&self.id);
                if members.is_empty() {
                    channels.remove(topic);
                }
            }
        }
        if let Some((_, Some(reference))) = self.tracked.remove(topic) {
            if let Err(error) = store::untrack(&self.relay.db, &[reference]).await {
                error.log();
            }
        }
    }

    /// A client's `broadcast` or `presence` push on a joined channel.
    pub async fn push(
        &mut self,
        topic: &str,
        config: &ChannelConfig,
        frame: &Incoming,
    ) -> Result<Ack, String> {
        let payload = &frame.payload;
        let db = &self.relay.db;
        match (frame.event.as_str(), payload["event"].as_str()) {
            ("broadcast", Some(event)) => {
                let mut note = json!({
                    "k": "broadcast", "t": topic, "e": event,
                    "n": self.relay.node, "s": self.id,
                });
                match &frame.binary {
                    Some(bytes) => {
                        note["b"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                    }
                    None => note["p"] = payload["payload"].clone(),
                }
                if let Some(meta) = payload.get("meta") {
                    note["m"] = meta.clone();
                }
                store::broadcast(db, &note)
                    .await
                    .map_err(|e| e.public_message())?;
                Ok(if config.ack { Ack::Reply } else { Ack::Silent })
            }
            ("presence", Some("track")) => {
                let meta = match &payload["payload"] {
                    Value::Object(meta) => Value::Object(meta.clone()),
                    Value::Null => json!({}),
                    _ => return Err("a tracked presence is a JSON object".into()),
                };
                if meta.to_string().len() > store::MAX_PAYLOAD / 2 {
                    return Err("a tracked presence is too large".into());
                }
                let (key, previous) = self
                    .tracked
                    .get(topic)
                    .cloned()
                    .ok_or("join the channel first")?;
                let reference = Uuid::new_v4().simple().to_string();
                let track = store::Track {
                    topic,
                    key: &key,
                    reference: &reference,
                    replaces: previous.as_deref(),
                    meta: &meta,
                };
                store::track(db, self.relay.node, PRESENCE_TTL.as_secs_f64(), &track)
                    .await
                    .map_err(|e| e.public_message())?;
                self.tracked
                    .insert(topic.to_owned(), (key, Some(reference)));
                Ok(Ack::Reply)
            }
            ("presence", Some("untrack")) => {
                if let Some((_, reference)) = self.tracked.get_mut(topic) {
                    if let Some(reference) = reference.take() {
                        store::untrack(db, &[reference])
                            .await
                            .map_err(|e| e.public_message())?;
                    }
                }
                Ok(Ack::Reply)
            }
            (event, inner) => Err(format!("unsupported {event} push {inner:?}")),
        }
    }
}
