//! The listener: one LISTEN connection per node turns NOTIFY payloads into hub
//! events. Notifications name a conversation and the change_seqs a statement
//! wrote; the listener takes every notification that has arrived, reads the
//! announced changes of all their conversations back from the tables in one
//! query, and dispatches each conversation's changes above what its topic has
//! seen, in order — so a gap is filled by the same read. It reconnects with
//! backoff and after every (re)connect refills each watched conversation from
//! its cursor: nothing committed is lost while it was down, and nothing is
//! delivered twice. Every path re-checks access after a change that may revoke
//! it, before anything later goes out, and fails closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::pg_listen::{Notice, PgListen};
use crate::realtime::announced::{Announced, Unannounced};
use crate::realtime::frames;
use crate::realtime::hub::{Audience, Hub, Topic};
use crate::realtime::notices::{self, NoticeEvent};
use crate::service::changes::{self, Backlog, Change, ChangeEvent, Position, Range, Table};

/// The NOTIFY channel every trigger and ephemeral event uses.
pub const CHANNEL: &str = "pgchat";

/// Most notifications handled together (one read of the tables for all).
const MAX_BATCH: usize = 4096;

/// Notifications held while a round is handled; past it they wait in
/// PostgreSQL's own queue.
const QUEUE: usize = 65_536;

/// The application_name of the LISTEN connection (operators and tests find its backend by it).
pub const APPLICATION_NAME: &str = "pgchat-listener";

/// A NOTIFY payload (sql/30_notify.sql, sql/45_rooms.sql, service::ephemeral), by kind.
#[derive(Debug, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Note {
    /// One statement's messages in one conversation: change_seqs `lo..=hi`
    /// (`n` rows inserted, 0 for updates; for updates, `ev` names each
    /// change's live event; `rows` carries each row as of its change, when
    /// they fit).
    Messages {
        c: Uuid,
        lo: i64,
        hi: i64,
        #[serde(default)]
        n: u64,
        #[serde(default)]
        ev: Option<HashMap<String, ChangeEvent>>,
        #[serde(default)]
        rows: Option<HashMap<String, Value>>,
    },
    /// A support session changed; `users` must hear of it on their inbox.
    Session {
        ev: ChangeEvent,
        c: Uuid,
        cs: i64,
        #[serde(default)]
        users: Vec<Option<String>>,
        /// Its status and agent before this change (None: it is new).
        was: Option<String>,
        was_agent: Option<String>,
        /// Absent when too big for NOTIFY (read back).
        row: Option<Value>,
    },
    Member {
        ev: ChangeEvent,
        c: Uuid,
        cs: i64,
        user_id: String,
        row: Option<Value>,
    },
    Room {
        c: Uuid,
        cs: i64,
        row: Option<Value>,
    },
    /// A member's own flags, for their inbox (no change_seq).
    Flags {
        c: Uuid,
        user_id: String,
        row: Value,
    },
    Typing {
        c: Uuid,
        user_id: String,
        name: Option<String>,
        typing: bool,
        /// Typing an internal note: staff only.
        #[serde(default)]
        internal: bool,
    },
    Presence {
        user_id: String,
        status: String,
        role: Option<String>,
        #[serde(default)]
        status_text: Option<String>,
        #[serde(default)]
        last_seen: Option<String>,
    },
    /// A conversation was deleted (pgchat.delete_session): its subscribers are told.
    Gone { c: Uuid },
    /// A notice for those who decide (sql/47_moderation_model.sql): on the
    /// inboxes `notices` picks, or of `user_id`.
    Notice {
        ev: NoticeEvent,
        c: Uuid,
        #[serde(default)]
        user_id: Option<String>,
        /// Absent when too big for NOTIFY.
        #[serde(default)]
        row: Option<Value>,
    },
    /// A reader hid a message for themselves (sql/36_hidden_live.sql).
    Hidden {
        c: Uuid,
        user_id: String,
        message_id: Uuid,
    },
    /// A message's translation was stored (sql/77_translation.sql): for the
    /// readers of its message (`internal`: staff; `only`: the sender of a
    /// message moderation holds). `text` absent when too big for NOTIFY.
    Translation {
        c: Uuid,
        message_id: Uuid,
        lang: String,
        text: Option<String>,
        #[serde(default)]
        internal: bool,
        only: Option<String>,
    },
}

impl Note {
    /// The conversation whose changes this announces.
    fn conversation(&self) -> Option<Uuid> {
        match *self {
            Note::Messages { c, .. }
            | Note::Session { c, .. }
            | Note::Member { c, .. }
            | Note::Room { c, .. } => Some(c),
            _ => None,
        }
    }

    /// Adds what this announces to its conversation's round.
    fn announce(&self, round: &mut Announced) {
        match self {
            Note::Messages {
                lo,
                hi,
                n,
                ev,
                rows,
                ..
            } => {
                if *n > 0 {
                    round.inserted(*lo, *hi, *n, rows.as_ref());
                } else {
                    let events = ev.clone().unwrap_or_default();
                    round.updated(*lo, *hi, &events, rows.as_ref());
                }
            }
            Note::Session { ev, cs, row, .. } => {
                round.row_change(Table::Session, *ev, *cs, None, row.as_ref())
            }
            Note::Member {
                ev,
                cs,
                user_id,
                row,
                ..
            } => round.row_change(Table::Member, *ev, *cs, Some(user_id), row.as_ref()),
            Note::Room { cs, row, .. } => round.row_change(
                Table::Room,
                ChangeEvent::RoomUpdated,
                *cs,
                None,
                row.as_ref(),
            ),
            _ => {}
        }
    }
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
    /// New messages not yet heard of because their row changed again first.
    unannounced: Unannounced,
}

impl Listener {
    pub fn new(
        db: Db,
        config: tokio_postgres::Config,
        hub: Arc<Hub>,
        status: Arc<ListenerStatus>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            config,
            hub,
            status,
            metrics,
            members: HashMap::new(),
            unannounced: Unannounced::default(),
        }
    }

    /// Runs until shutdown: the LISTEN connection is `pg_listen`'s (reconnect
    /// with backoff, liveness probe, bounded queue); after every (re)connect
    /// the watched conversations are refilled from their cursors.
    pub async fn run(mut self) {
        let (listen, mut notices) = PgListen::new(
            self.config.clone(),
            self.db.tls(),
            APPLICATION_NAME,
            &[CHANNEL],
        )
        .queue(QUEUE)
        .start();
        let listen = tokio::spawn(listen);
        while let Some(notice) = notices.recv().await {
            match notice {
                Notice::Connected => {
                    self.status.up.store(true, Ordering::SeqCst);
                    self.metrics.listener_up.set(1);
                    tracing::info!("listener connected");
                    self.members.clear();
                    self.unannounced.clear();
                    self.catch_up().await;
                }
                Notice::Disconnected => {
                    self.status.up.store(false, Ordering::SeqCst);
                    self.metrics.listener_up.set(0);
                    self.metrics.listener_reconnects.inc();
                }
                Notice::Notification { payload, .. } => {
                    let mut batch = vec![payload];
                    while batch.len() < MAX_BATCH {
                        match notices.try_recv() {
                            Ok(Notice::Notification { payload, .. }) => batch.push(payload),
                            // a connection change waits for the next round
                            Ok(other) => {
                                self.handle(std::mem::take(&mut batch)).await;
                                self.after(other).await;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if !batch.is_empty() {
                        self.handle(batch).await;
                    }
                }
            }
        }
        listen.abort();
    }

    /// A connection change seen in the middle of a round.
    async fn after(&mut self, notice: Notice) {
        match notice {
            Notice::Connected => {
                self.status.up.store(true, Ordering::SeqCst);
                self.metrics.listener_up.set(1);
                self.members.clear();
                self.unannounced.clear();
                self.catch_up().await;
            }
            Notice::Disconnected => {
                self.status.up.store(false, Ordering::SeqCst);
                self.metrics.listener_up.set(0);
                self.metrics.listener_reconnects.inc();
            }
            Notice::Notification { payload, .. } => self.handle(vec![payload]).await,
        }
    }

    /// Refills every watched conversation, retrying until the database
    /// answers: what was announced while we could not read is in the tables.
    async fn catch_up(&mut self) {
        let mut wait = Duration::from_millis(100);
        while let Err(error) = self.refill_all().await {
            tracing::warn!(error = %error, "refilling after a gap failed; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    /// Handles a batch of notifications (all that had arrived): ephemeral
    /// events at once, conversation changes read back from the tables with one
    /// query for every conversation in the batch, then fanned out in
    /// change_seq order. When they cannot be read, every watched conversation
    /// is refilled from its cursor once the database answers again.
    async fn handle(&mut self, payloads: Vec<String>) {
        let mut notes = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            match serde_json::from_str::<Note>(payload) {
                Ok(note) => notes.push(note),
                Err(error) => tracing::warn!(%error, payload, "unreadable notification"),
            }
        }
        // conversations in the order first announced, each with what was asked of it
        let mut pending: Vec<Announced> = Vec::new();
        let mut index: HashMap<Uuid, usize> = HashMap::new();
        for note in &notes {
            let Some(c) = note.conversation() else {
                self.ephemeral(note);
                continue;
            };
            let at = *index.entry(c).or_insert_with(|| {
                pending.push(Announced::new(c));
                pending.len() - 1
            });
            if let Note::Messages { n, .. } = note {
                self.metrics.messages_persisted.inc_by(*n);
            }
            note.announce(&mut pending[at]);
        }
        if !pending.is_empty() {
            if let Err(error) = self.conversations(pending).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "reading announced changes failed"
                );
                self.catch_up().await;
            }
        }
        for note in notes {
            self.side_topics(note).await;
        }
    }

    /// Typing, presence, flags and deletions: no seq, straight to the hub.
    fn ephemeral(&self, note: &Note) {
        match note {
            Note::Flags { c, user_id, row } => {
                self.hub.dispatch(frames::flags(user_id, *c, row.clone()))
            }
            Note::Typing {
                c,
                user_id,
                name,
                typing,
                internal,
            } => self.hub.dispatch(frames::typing(
                *c,
                user_id,
                name.as_deref(),
                *typing,
                *internal,
            )),
            Note::Presence {
                user_id,
                status,
                role,
                status_text,
                last_seen,
            } => {
                let presence = frames::Presence {
                    user_id,
                    status,
                    role: role.as_deref().unwrap_or("user"),
                    status_text: status_text.as_deref(),
                    last_seen: last_seen.as_deref(),
                };
                self.hub.dispatch(frames::presence(
                    Topic::Presence(user_id.as_str().into()),
                    &presence,
                ));
                if presence.role != "user" {
                    self.hub
                        .dispatch(frames::presence(Topic::SupportQueue, &presence));
                }
            }
            Note::Gone { c } => self.gone(*c),
            Note::Hidden {
                c,
                user_id,
                message_id,
            } => self.hub.dispatch(frames::hidden(*c, user_id, *message_id)),
            _ => {}
        }
    }

    /// Delivers what the batch announced, for every conversation someone
    /// listens to (its topic, or a member's inbox): the rows that came with
    /// their notifications, and what came without them (rows that did not
    /// fit in NOTIFY, a gap) read back from the tables for all conversations in one
    /// query. Each topic gets the changes above what it has seen, in order.
    async fn conversations(&mut self, pending: Vec<Announced>) -> anyhow::Result<()> {
        let inbox = self.hub.any_inbox();
        let mut rounds = Vec::new();
        let mut ranges = Vec::new();
        for round in pending {
            let c = round.conversation();
            let topic_after = match self.hub.dispatched(c) {
                Some(Some(last)) if last >= round.upto => None,
                Some(Some(last)) => Some(last),
                // watched, nothing dispatched yet: from this batch's first change
                Some(None) => Some(round.from - 1),
                None => None,
            };
            let for_inbox = inbox && (round.has_new() || self.unannounced.has(c));
            if topic_after.is_none() && !for_inbox {
                continue;
            }
            if round.needs_read(topic_after) {
                let inbox_after = for_inbox.then_some(round.from - 1);
                let after = topic_after
                    .into_iter()
                    .chain(inbox_after)
                    .min()
                    .expect("one is set");
                ranges.push(Range {
                    conversation_id: c,
                    after,
                    upto: round.upto,
                    origin: topic_after.unwrap_or(after),
                });
            }
            rounds.push((round, topic_after));
        }
        let mut fetched: HashMap<Uuid, Backlog> = if ranges.is_empty() {
            HashMap::new()
        } else {
            changes::fetch(&self.db, &ranges)
                .await
                .context("reading announced changes")?
                .into_iter()
                .collect()
        };
        let read: std::collections::HashSet<Uuid> =
            ranges.iter().map(|r| r.conversation_id).collect();
        for (round, topic_after) in rounds {
            let c = round.conversation();
            let upto = round.upto;
            let (changes, through, more) = match fetched.remove(&c) {
                Some(backlog) => {
                    let more = backlog.more.then(|| {
                        let last = backlog
                            .changes
                            .last()
                            .map_or(round.from - 1, |ch| ch.change_seq);
                        (last, backlog.snapshot_seq)
                    });
                    let through = more.map_or(backlog.snapshot_seq, |(last, _)| last);
                    (backlog.changes, through, more)
                }
                // gone (deleted) since: nothing to deliver
                None if read.contains(&c) => continue,
                None => (Vec::new(), upto, None),
            };
            let deliveries = round.merge(changes, through, &mut self.unannounced);
            if let Some(last) = topic_after {
                let live = deliveries
                    .iter()
                    .map(|d| &d.change)
                    .filter(|ch| ch.change_seq > last);
                self.deliver(c, live).await;
                match more {
                    Some((after, snapshot)) => {
                        let at = Position {
                            origin: last,
                            after,
                            upto: Some(snapshot),
                        };
                        self.refill(c, at).await?;
                    }
                    None => self.hub.advance(c, through),
                }
            }
            let fresh: Vec<&Change> = deliveries
                .iter()
                .filter(|d| d.fresh)
                .map(|d| &d.change)
                .collect();
            self.inbox_messages(c, &fresh).await;
        }
        Ok(())
    }

    /// Dispatches changes of a conversation in order; after one that may
    /// revoke access (a member left or was banned, a session was reassigned),
    /// re-checks the topic's subscribers before anything later goes out.
    async fn deliver<'a>(&self, c: Uuid, changes: impl Iterator<Item = &'a Change>) {
        let topic = Topic::Conversation(c);
        for change in changes {
            if change.event == ChangeEvent::MessageNew {
                if let Some(age) = commit_age(&change.row) {
                    self.metrics.dispatch_latency.observe(age);
                }
            }
            self.hub.dispatch(frames::change(change, &topic));
            self.hub.advance(c, change.change_seq);
            if change.event.may_revoke() {
                self.revalidate(c).await;
            }
        }
    }

    /// New messages to the inbox of every member who listens there.
    async fn inbox_messages(&mut self, c: Uuid, fresh: &[&Change]) {
        if fresh.is_empty() || !self.hub.any_inbox() {
            return;
        }
        let Some(members) = self.members_of(c).await else {
            return;
        };
        for (user, staff) in members.iter() {
            let topic = Topic::Inbox(user.as_str().into());
            if !self.hub.has_subscribers(&topic) {
                continue;
            }
            for change in fresh.iter().filter(|ch| !ch.internal || *staff) {
                self.hub.dispatch(frames::change(change, &topic));
            }
        }
    }

    /// The inbox and support-queue feeds of session and member changes, and
    /// translations — after the round's messages, so a translation never
    /// reaches a subscriber before the message it translates.
    async fn side_topics(&mut self, note: Note) {
        match note {
            Note::Translation {
                c,
                message_id,
                lang,
                text,
                internal,
                only,
            } => {
                let topic = Topic::Conversation(c);
                if !self.hub.has_subscribers(&topic) {
                    return;
                }
                let text = match text {
                    Some(text) => text,
                    None => match self.translation_text(message_id, &lang).await {
                        Ok(Some(text)) => text,
                        // replaced or gone since: its own notice follows, or nothing
                        Ok(None) => return,
                        Err(error) => {
                            tracing::warn!(%error, "reading a large translation");
                            return;
                        }
                    },
                };
                let audience = match only {
                    Some(user) => Audience::Only(user.into()),
                    None if internal => Audience::Staff,
                    None => Audience::Everyone,
                };
                self.hub
                    .dispatch(frames::translated(c, message_id, &lang, &text, audience));
            }
            Note::Session {
                ev,
                c,
                cs,
                users,
                was,
                was_agent,
                row,
            } => {
                let Some(row) = self.row_of(c, cs, row).await else {
                    return;
                };
                let change = Change {
                    table: Table::Session,
                    event: ev,
                    conversation_id: c,
                    change_seq: cs,
                    internal: false,
                    user_id: None,
                    row,
                };
                for event in frames::queue(&change, was.as_deref(), was_agent.as_deref()) {
                    self.hub.dispatch(event);
                }
                for user in users.iter().flatten() {
                    self.hub
                        .dispatch(frames::change(&change, &Topic::Inbox(user.as_str().into())));
                }
            }
            Note::Member {
                ev,
                c,
                cs,
                user_id,
                row,
            } => {
                self.members.remove(&c);
                if ev == ChangeEvent::MemberLeft {
                    self.revalidate_presence(c, &user_id).await;
                }
                // the member hears on their inbox that they were added or removed
                if matches!(ev, ChangeEvent::MemberJoined | ChangeEvent::MemberLeft) {
                    let Some(row) = self.row_of(c, cs, row).await else {
                        return;
                    };
                    let change = Change {
                        table: Table::Member,
                        event: ev,
                        conversation_id: c,
                        change_seq: cs,
                        internal: false,
                        user_id: Some(user_id.clone()),
                        row,
                    };
                    self.hub
                        .dispatch(frames::change(&change, &Topic::Inbox(user_id.into())));
                }
            }
            Note::Notice {
                ev,
                c,
                user_id,
                row,
            } => notices::dispatch(&self.db, &self.hub, ev, c, user_id.as_deref(), row).await,
            _ => {}
        }
    }

    /// A session or member row as announced, or read back when it was too big
    /// for NOTIFY (None if it changed again since: that change brings it).
    async fn row_of(&self, c: Uuid, cs: i64, row: Option<Value>) -> Option<Value> {
        if row.is_some() {
            return row;
        }
        let at = Position {
            origin: cs - 1,
            after: cs - 1,
            upto: Some(cs),
        };
        match changes::refill(&self.db, c, at).await {
            Ok(backlog) => backlog?
                .changes
                .into_iter()
                .find(|ch| ch.change_seq == cs)
                .map(|ch| ch.row),
            Err(error) => {
                tracing::warn!(%error, "reading a large row");
                None
            }
        }
    }

    /// A translation too big for its notification, as stored now.
    async fn translation_text(
        &self,
        message_id: Uuid,
        lang: &str,
    ) -> Result<Option<String>, ApiError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                "SELECT t.text FROM message_translations t JOIN chat_messages m ON m.id = t.message_id
                  WHERE t.message_id = $1 AND t.lang = $2 AND t.source = m.body AND m.deleted_at IS NULL",
                &[&message_id, &lang],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
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
    /// `pgchat.can_read` the RLS policies use). Fails closed: when the check
    /// cannot run, every subscriber is dropped and resumes by cursor (their
    /// subscribe is checked afresh).
    async fn revalidate(&self, c: Uuid) {
        let topic = Topic::Conversation(c);
        let subscribers = self.hub.subscribers_of(&topic);
        if subscribers.is_empty() {
            return;
        }
        let users: Vec<&str> = subscribers.iter().map(|(u, _)| &**u).collect();
        let roles: Vec<&str> = subscribers.iter().map(|(_, r)| r.as_str()).collect();
        let checked = async {
            let client = self.db.client().await?;
            let rows = client
                .query(
                    "SELECT x.u FROM unnest($2::text[], $3::text[]) AS x(u, r)
                      WHERE NOT pgchat.can_read($1, x.u, x.r)",
                    &[&c, &users, &roles],
                )
                .await?;
            Ok::<_, ApiError>(
                rows.iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>(),
            )
        }
        .await;
        let (revoked, reason) = match checked {
            Ok(revoked) => (revoked, frames::Unsubscribed::AccessRevoked),
            Err(error) => {
                tracing::warn!(%error, conversation = %c, "re-checking access failed: dropping every subscriber");
                let all = users.iter().map(|u| u.to_string()).collect();
                (all, frames::Unsubscribed::RecheckFailed)
            }
        };
        for user in revoked {
            self.hub
                .revoke(&topic, &user, frames::unsubscribed(&topic, reason));
        }
    }

    /// After `user` left (or was banned from) conversation `c`: presence
    /// subscriptions between them and its members are re-checked.
    async fn revalidate_presence(&self, c: Uuid, user: &str) {
        let mut targets = vec![user.to_owned()];
        if let Ok(client) = self.db.client().await {
            if let Ok(rows) = client
                .query(
                    "SELECT user_id FROM conversation_members WHERE conversation_id = $1",
                    &[&c],
                )
                .await
            {
                targets.extend(rows.iter().map(|r| r.get::<_, String>(0)));
            }
        }
        self.recheck_presence(&targets).await;
    }

    /// Re-checks who follows the presence of `targets`
    /// (`pgchat.can_see_presence`), failing closed like `revalidate`.
    async fn recheck_presence(&self, targets: &[String]) {
        let mut watchers = Vec::new();
        for target in targets {
            let topic = Topic::Presence(target.as_str().into());
            for (watcher, role) in self.hub.subscribers_of(&topic) {
                watchers.push((watcher.to_string(), role.as_str(), target.clone()));
            }
        }
        if watchers.is_empty() {
            return;
        }
        let w: Vec<&str> = watchers.iter().map(|(u, _, _)| u.as_str()).collect();
        let r: Vec<&str> = watchers.iter().map(|(_, role, _)| *role).collect();
        let t: Vec<&str> = watchers
            .iter()
            .map(|(_, _, target)| target.as_str())
            .collect();
        let checked = async {
            let client = self.db.client().await?;
            let rows = client
                .query(
                    "SELECT x.w, x.t FROM unnest($1::text[], $2::text[], $3::text[]) AS x(w, r, t)
                      WHERE NOT pgchat.can_see_presence(x.w, x.r, x.t)",
                    &[&w, &r, &t],
                )
                .await?;
            Ok::<_, ApiError>(
                rows.iter()
                    .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1)))
                    .collect::<Vec<_>>(),
            )
        }
        .await;
        let (revoked, reason) = match checked {
            Ok(revoked) => (revoked, frames::Unsubscribed::AccessRevoked),
            Err(error) => {
                tracing::warn!(%error, "re-checking presence failed: dropping those subscriptions");
                let all = watchers
                    .iter()
                    .map(|(w, _, t)| (w.clone(), t.clone()))
                    .collect();
                (all, frames::Unsubscribed::RecheckFailed)
            }
        };
        for (watcher, target) in revoked {
            let topic = Topic::Presence(target.as_str().into());
            self.hub
                .revoke(&topic, &watcher, frames::unsubscribed(&topic, reason));
        }
    }

    /// Conversation `c` was deleted: its subscribers are told, and unsubscribed.
    fn gone(&self, c: Uuid) {
        let topic = Topic::Conversation(c);
        for (user, _) in self.hub.subscribers_of(&topic) {
            self.hub.revoke(
                &topic,
                &user,
                frames::unsubscribed(&topic, frames::Unsubscribed::Deleted),
            );
        }
    }

    /// After a (re)connect: every watched conversation from where it was, and
    /// every presence subscription re-checked (a membership may have ended
    /// while notifications were not heard).
    async fn refill_all(&mut self) -> Result<(), ApiError> {
        notices::after_outage(&self.db, &self.hub).await?;
        for (c, last) in self.hub.watched_conversations() {
            if let Some(after) = last {
                self.refill(c, Position::start(after)).await?;
            }
        }
        let followed: Vec<String> = self
            .hub
            .followed_users()
            .iter()
            .map(|u| u.to_string())
            .collect();
        self.recheck_presence(&followed).await;
        Ok(())
    }

    /// Dispatches the conversation's changes from `at` from the tables, chunk
    /// by chunk, with the same revocation checks as live delivery. A
    /// conversation deleted meanwhile (its `gone` notice may have been missed
    /// in an outage) ends its subscriptions.
    async fn refill(&self, c: Uuid, mut at: Position) -> Result<(), ApiError> {
        loop {
            let Some(backlog) = changes::refill(&self.db, c, at).await? else {
                self.gone(c);
                return Ok(());
            };
            self.deliver(c, backlog.changes.iter()).await;
            if !backlog.more {
                // Numbers taken by changes that left no row (a send that
                // failed after its batch reserved numbers, say) are passed too.
                self.hub.advance(c, backlog.snapshot_seq);
                return Ok(());
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
