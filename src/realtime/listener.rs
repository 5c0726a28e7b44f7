//! The listener: one LISTEN connection per node turns NOTIFY payloads into hub
//! events. It reconnects with backoff; after every (re)connect it refills each
//! watched conversation from the tables, and a jump in a conversation's
//! change_seq triggers a refill too — so nothing committed is lost while it was
//! down, and nothing is delivered twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};
use uuid::Uuid;

use crate::db::Db;
use crate::metrics::Metrics;
use crate::realtime::frames;
use crate::realtime::hub::{Hub, Sequence, Topic};
use crate::service::changes::{self, Change, Position, Table};

/// The NOTIFY channel every trigger and ephemeral event uses.
pub const CHANNEL: &str = "pgchat";

/// The application_name of the LISTEN connection (operators and tests find its backend by it).
pub const APPLICATION_NAME: &str = "pgchat-listener";

/// A NOTIFY payload (see sql/30_notify.sql and service::ephemeral).
#[derive(Debug, Deserialize)]
struct Note {
    t: String,
    #[serde(default)]
    ev: Option<String>,
    #[serde(default)]
    c: Option<Uuid>,
    #[serde(default)]
    cs: Option<i64>,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    users: Vec<Option<String>>,
    #[serde(default)]
    row: Option<Value>,
    // ephemeral events
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    typing: Option<bool>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

/// Shared state other parts read (readiness).
#[derive(Default)]
pub struct ListenerStatus {
    pub up: AtomicBool,
}

pub struct Listener {
    db: Db,
    config: tokio_postgres::Config,
    hub: Arc<Hub>,
    status: Arc<ListenerStatus>,
    metrics: Arc<Metrics>,
    /// conversation → (member, is staff), for inbox fan-out; dropped on member changes.
    members: HashMap<Uuid, Arc<Vec<(String, bool)>>>,
}

impl Listener {
    pub fn new(
        db: Db,
        mut config: tokio_postgres::Config,
        hub: Arc<Hub>,
        status: Arc<ListenerStatus>,
        metrics: Arc<Metrics>,
    ) -> Self {
        config.application_name(APPLICATION_NAME);
        Self {
            db,
            config,
            hub,
            status,
            metrics,
            members: HashMap::new(),
        }
    }

    /// Runs forever: listen, and after any failure reconnect with backoff.
    pub async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = std::time::Instant::now();
            if let Err(error) = self.listen().await {
                tracing::warn!(error = format!("{error:#}"), "listener connection lost");
            }
            self.status.up.store(false, Ordering::SeqCst);
            self.metrics.listener_up.set(0);
            self.metrics.listener_reconnects.inc();
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_millis(100);
            }
            let jitter =
                Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
            tokio::time::sleep(backoff + jitter).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn listen(&mut self) -> anyhow::Result<()> {
        let (client, mut connection) = self.config.connect(NoTls).await.context("connecting")?;
        // Bounded: when we fall behind, we stop reading the socket and PostgreSQL
        // keeps the notifications in its own queue.
        let (tx, mut rx) = mpsc::channel::<String>(65_536);
        let driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message? {
                    AsyncMessage::Notification(n) => {
                        if tx.send(n.payload().to_owned()).await.is_err() {
                            break;
                        }
                    }
                    _ => continue,
                }
            }
            Ok::<_, tokio_postgres::Error>(())
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .context("LISTEN")?;
        self.status.up.store(true, Ordering::SeqCst);
        self.metrics.listener_up.set(1);
        tracing::info!("listener connected");
        self.members.clear();
        self.refill_all().await;

        let mut probe = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                payload = rx.recv() => match payload {
                    Some(payload) => self.handle(&payload).await,
                    None => break,
                },
                _ = probe.tick() => {
                    // A dead TCP peer may take long to show; a query shows it now.
                    tokio::time::timeout(Duration::from_secs(5), client.simple_query("SELECT 1"))
                        .await
                        .context("listener probe timed out")?
                        .context("listener probe")?;
                }
            }
        }
        driver
            .await
            .context("listener task")?
            .context("listener connection")?;
        anyhow::bail!("listener connection closed")
    }

    async fn handle(&mut self, payload: &str) {
        let note: Note = match serde_json::from_str(payload) {
            Ok(note) => note,
            Err(error) => {
                tracing::warn!(%error, payload, "unreadable notification");
                return;
            }
        };
        match note.t.as_str() {
            "message" | "session" | "member" | "room" => {
                let users: Vec<String> = note.users.iter().flatten().cloned().collect();
                if let Some(change) = self.change_of(note).await {
                    self.conversation_change(change, &users).await;
                }
            }
            "flags" => {
                if let (Some(user), Some(c), Some(row)) = (note.user_id, note.c, note.row) {
                    self.hub.dispatch(frames::flags(&user, c, row));
                }
            }
            "typing" => {
                if let (Some(c), Some(user), Some(typing)) = (note.c, note.user_id, note.typing) {
                    self.hub
                        .dispatch(frames::typing(c, &user, note.name.as_deref(), typing));
                }
            }
            "presence" => {
                if let (Some(user), Some(status)) = (note.user_id, note.status) {
                    let role = note.role.unwrap_or_else(|| "user".into());
                    self.hub.dispatch(frames::presence(
                        Topic::Presence(user.as_str().into()),
                        &user,
                        &status,
                        &role,
                    ));
                    if role != "user" {
                        self.hub.dispatch(frames::presence(
                            Topic::SupportQueue,
                            &user,
                            &status,
                            &role,
                        ));
                    }
                }
            }
            other => tracing::warn!(kind = other, "unknown notification"),
        }
    }

    /// The change a notification announces; rows too big for NOTIFY are read back.
    async fn change_of(&self, note: Note) -> Option<Change> {
        let (table, c, cs, ev) = (Table::parse(&note.t)?, note.c?, note.cs?, note.ev?);
        let row = match note.row {
            Some(row) => row,
            None => {
                let at = Position {
                    origin: cs - 1,
                    after: cs - 1,
                    upto: Some(cs),
                };
                match changes::refill(&self.db, c, at).await {
                    // Changed again since: that later change brings the row.
                    Ok(backlog) => {
                        backlog
                            .changes
                            .into_iter()
                            .find(|ch| ch.change_seq == cs)?
                            .row
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "reading a large row");
                        return None;
                    }
                }
            }
        };
        Some(Change {
            table,
            event: ev,
            conversation_id: c,
            change_seq: cs,
            internal: note.internal,
            user_id: note.user_id,
            row,
        })
    }

    async fn conversation_change(&mut self, change: Change, users: &[String]) {
        if change.event == "message_new" {
            self.metrics.messages_persisted.inc();
            if let Some(age) = commit_age(&change.row) {
                self.metrics.dispatch_latency.observe(age);
            }
        }
        let c = change.conversation_id;
        let topic = Topic::Conversation(c);
        match self.hub.sequence(c, change.change_seq) {
            Sequence::Duplicate => return,
            Sequence::Unwatched => {}
            Sequence::Next => self.hub.dispatch(frames::change(&change, &topic)),
            Sequence::Gap { after } => {
                tracing::debug!(conversation = %c, after, upto = change.change_seq, "gap: refilling");
                self.refill(c, after, Some(change.change_seq)).await;
            }
        }
        self.side_topics(&change, users).await;
        let revokes = matches!(change.table, Table::Session)
            || matches!(change.event.as_str(), "member_left" | "member_updated");
        if revokes && self.hub.has_subscribers(&topic) {
            self.revalidate(c).await;
        }
    }

    /// The inbox and support-queue feeds.
    async fn side_topics(&mut self, change: &Change, users: &[String]) {
        match change.table {
            Table::Session => {
                self.hub
                    .dispatch(frames::change(change, &Topic::SupportQueue));
                for user in users {
                    self.hub
                        .dispatch(frames::change(change, &Topic::Inbox(user.as_str().into())));
                }
            }
            Table::Member => {
                self.members.remove(&change.conversation_id);
                // the member hears on their inbox that they were added or removed
                if matches!(change.event.as_str(), "member_joined" | "member_left") {
                    if let Some(user) = &change.user_id {
                        self.hub
                            .dispatch(frames::change(change, &Topic::Inbox(user.as_str().into())));
                    }
                }
            }
            Table::Message if change.event == "message_new" && self.hub.any_inbox() => {
                let Some(members) = self.members_of(change.conversation_id).await else {
                    return;
                };
                for (user, staff) in members.iter() {
                    let topic = Topic::Inbox(user.as_str().into());
                    if (!change.internal || *staff) && self.hub.has_subscribers(&topic) {
                        self.hub.dispatch(frames::change(change, &topic));
                    }
                }
            }
            Table::Message | Table::Room => {}
        }
    }

    async fn members_of(&mut self, c: Uuid) -> Option<Arc<Vec<(String, bool)>>> {
        if let Some(members) = self.members.get(&c) {
            return Some(members.clone());
        }
        let client = self.db.client().await.ok()?;
        let rows = client
            .query(
                "SELECT cm.user_id, u.role IN ('agent', 'admin') FROM conversation_members cm
                   JOIN users u ON u.id = cm.user_id
                  WHERE cm.conversation_id = $1 AND cm.left_at IS NULL AND NOT cm.banned",
                &[&c],
            )
            .await
            .ok()?;
        if self.members.len() > 10_000 {
            self.members.clear();
        }
        let members = Arc::new(
            rows.iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect::<Vec<_>>(),
        );
        self.members.insert(c, members.clone());
        Some(members)
    }

    /// Removes subscribers who may no longer read the conversation (the same
    /// `pgchat.can_read` the RLS policies use).
    async fn revalidate(&self, c: Uuid) {
        let topic = Topic::Conversation(c);
        let subscribers = self.hub.subscribers_of(&topic);
        let users: Vec<&str> = subscribers.iter().map(|(u, _)| &**u).collect();
        let roles: Vec<&str> = subscribers.iter().map(|(_, r)| r.as_str()).collect();
        let revoked = async {
            let client = self.db.client().await.ok()?;
            client
                .query(
                    "SELECT x.u FROM unnest($2::text[], $3::text[]) AS x(u, r) WHERE NOT pgchat.can_read($1, x.u, x.r)",
                    &[&c, &users, &roles],
                )
                .await
                .ok()
        }
        .await;
        for row in revoked.unwrap_or_default() {
            let user: String = row.get(0);
            self.hub.revoke(&topic, &user, frames::revoked(&topic));
        }
    }

    /// After a (re)connect: every watched conversation from where it was.
    async fn refill_all(&mut self) {
        for (c, last) in self.hub.watched_conversations() {
            if let Some(after) = last {
                self.refill(c, after, None).await;
            }
        }
    }

    /// Dispatches the conversation's changes after `after` (up to `upto`) from the tables.
    async fn refill(&self, c: Uuid, after: i64, upto: Option<i64>) {
        let topic = Topic::Conversation(c);
        let mut at = Position {
            origin: after,
            after,
            upto,
        };
        loop {
            let backlog = match changes::refill(&self.db, c, at).await {
                Ok(backlog) => backlog,
                Err(error) => {
                    tracing::warn!(error = %error, conversation = %c, "refill failed");
                    return;
                }
            };
            for change in &backlog.changes {
                self.hub.dispatch(frames::change(change, &topic));
                self.hub.advance(c, change.change_seq);
            }
            if !backlog.more {
                // Numbers taken by changes that left no row (a retried send's
                // trigger, say) are passed too.
                self.hub.advance(c, backlog.snapshot_seq);
                return;
            }
            at = at.next(&backlog);
        }
    }
}

/// Seconds since a message row was created (its transaction's start, so an
/// upper bound of commit → dispatch).
fn commit_age(row: &Value) -> Option<f64> {
    let created = chrono::DateTime::parse_from_rfc3339(row.get("created_at")?.as_str()?).ok()?;
    let age = chrono::Utc::now().signed_duration_since(created);
    Some(age.num_microseconds()? as f64 / 1e6)
}
