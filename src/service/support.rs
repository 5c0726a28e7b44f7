//! Support sessions: a customer opens one with a first message; it waits in the
//! queue until an agent claims it (explicitly or by replying); it ends; the
//! customer rates it.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::contact::SessionContext;
use crate::domain::desk::Label;
use crate::domain::{
    Category, Feedback, Limit, Priority, Rating, SessionDescription, SessionStatus, StatusFilter,
    Subject,
};
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::gates::{self, Gate};
use crate::service::send::{self, NewMessage};
use crate::service::WireRow;

/// A session in wire shape plus, for the caller, the unread count (messages of
/// others after the caller's read cursor) and a preview of the last message.
/// Both read `chat_messages` under the caller's RLS, so a customer's count and
/// preview never include an internal note.
const SESSION_VIEW: &str = "pgchat.session_view(s)";

pub struct NewSession {
    pub subject: Subject,
    pub category: Category,
    pub priority: Priority,
    pub message: NewMessage,
    /// Where it was opened from (stored as given).
    pub context: SessionContext,
}

/// The session, its first message, and whether this call created them (false: a retry).
pub struct Opened {
    pub session: WireRow,
    pub message: WireRow,
    pub created: bool,
}

/// Opens a session. Idempotent by the first message's `client_msg_id`: a retry
/// (also a concurrent one) returns the session already opened.
#[tracing::instrument(skip(db, caller, new), fields(user = %caller.sub))]
pub async fn open(db: &Db, caller: &Identity, new: NewSession) -> Result<Opened, ApiError> {
    limits::check(db, Write::SessionOpen, caller)?;
    let mut client = db.client().await?;
    for _ in 0..3 {
        let tx = db.begin_as(&mut client, caller).await?;
        gates::pass(&tx, Gate::OpenSession).await?;
        if let Some(opened) = opened_by(&tx, caller, new.message.client_msg_id).await? {
            return Ok(opened);
        }
        let cap = db.limits().map_or(0, |l| l.max_open_sessions());
        tx.execute("SELECT pgchat.check_open_sessions($1)", &[&cap])
            .await?;
        let conversation_id = Uuid::new_v4();
        let session_id = Uuid::new_v4();
        tx.execute(
            "INSERT INTO conversations (id, kind, title, created_by) VALUES ($1, 'support', $2, $3)",
            &[&conversation_id, &new.subject.as_str(), &caller.sub],
        )
        .await?;
        tx.execute(
            "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'customer')",
            &[&conversation_id, &caller.sub],
        )
        .await?;
        tx.execute(
            "INSERT INTO live_chat_sessions (id, conversation_id, customer_id, subject, category, priority, context)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &session_id,
                &conversation_id,
                &caller.sub,
                &new.subject.as_str(),
                &new.category.as_str(),
                &new.priority.as_str(),
                &new.context.stored(),
            ],
        )
        .await?;
        let sent = match send::send_in(&tx, caller, conversation_id, &new.message).await {
            Ok(sent) if sent.created => sent,
            // A concurrent retry opened it first (its message landed in the other
            // conversation): look again in a fresh transaction.
            Ok(_)
            | Err(ApiError::Conflict {
                code: "client_msg_id_reused",
                ..
            }) => {
                tx.rollback().await?;
                continue;
            }
            Err(error) => return Err(error),
        };
        let session = view(&tx, session_id).await?;
        tx.commit().await?;
        return Ok(Opened {
            session,
            message: sent.message,
            created: true,
        });
    }
    Err(ApiError::conflict(
        "retry",
        "a concurrent request is opening this session; retry",
    ))
}

/// The session a first message (by client id) opened, if any.
async fn opened_by(
    tx: &Transaction<'_>,
    caller: &Identity,
    client_msg_id: Uuid,
) -> Result<Option<Opened>, ApiError> {
    let Some((conversation_id, message)) =
        send::one::find_by_client_id(tx, caller, client_msg_id).await?
    else {
        return Ok(None);
    };
    let sql =
        format!("SELECT {SESSION_VIEW} FROM live_chat_sessions s WHERE s.conversation_id = $1");
    match tx.query_opt(&sql, &[&conversation_id]).await? {
        Some(row) => Ok(Some(Opened {
            session: row.get(0),
            message,
            created: false,
        })),
        None => Err(ApiError::conflict(
            "client_msg_id_reused",
            "this client_msg_id was already used for a message in another conversation",
        )),
    }
}

/// Filters of the session list; all optional.
#[derive(Debug, Default)]
pub struct SessionFilter {
    pub status: Option<StatusFilter>,
    pub agent_id: Option<String>,
    pub customer_id: Option<String>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    /// Words in the subject (substring) or in a message body visible to the caller (full text).
    pub q: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sla_breached: Option<bool>,
    pub label: Option<Label>,
    pub team_id: Option<Uuid>,
}

/// A position in the list (newest first): the last item's start time and id.
pub type Cursor = super::Keyset;

pub struct SessionPage {
    pub items: Vec<WireRow>,
    pub next_cursor: Option<Cursor>,
}

/// Sessions the caller may see (customers: their own; agents: the queue and
/// theirs; admins: all), newest first.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn list(
    db: &Db,
    caller: &Identity,
    filter: &SessionFilter,
    limit: Limit,
    after: Option<Cursor>,
) -> Result<SessionPage, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let sql = format!(
        "SELECT {SESSION_VIEW}, s.started_at, s.id FROM live_chat_sessions s
          WHERE ($1::text[] IS NULL OR s.status = ANY($1))
            AND ($2::text IS NULL OR s.agent_id = $2)
            AND ($3::text IS NULL OR s.category = $3)
            AND ($4::text IS NULL OR s.priority = $4)
            AND ($5::text IS NULL OR strpos(lower(s.subject), lower($5)) > 0
                 OR EXISTS (SELECT 1 FROM chat_messages m
                             WHERE m.conversation_id = s.conversation_id AND m.deleted_at IS NULL
                               AND m.search @@ websearch_to_tsquery('simple', $5)))
            AND ($6::timestamptz IS NULL OR s.started_at >= $6)
            AND ($7::timestamptz IS NULL OR s.started_at < $7)
            AND ($8::timestamptz IS NULL OR (s.started_at, s.id) < ($8, $9::uuid))
            AND ($11::text IS NULL OR s.customer_id = $11)
            AND ($12::bool IS NULL OR pgchat.sla_breached(s) = $12)
            AND ($13::text IS NULL OR s.labels @> ARRAY[$13::text])
            AND ($14::uuid IS NULL OR s.team_id = $14)
          ORDER BY s.started_at DESC, s.id DESC
          LIMIT $10"
    );
    let statement = tx.prepare_cached(&sql).await?;
    let params: [&(dyn ToSql + Sync); 14] = [
        &filter.status.as_ref().map(StatusFilter::statuses),
        &filter.agent_id,
        &filter.category.map(Category::as_str),
        &filter.priority.map(Priority::as_str),
        &filter.q,
        &filter.from,
        &filter.to,
        &after.map(|c| c.at),
        &after.map(|c| c.id),
        &(limit.get() + 1),
        &filter.customer_id,
        &filter.sla_breached,
        &filter.label.as_ref().map(Label::as_str),
        &filter.team_id,
    ];
    let rows = tx.query(&statement, &params).await?;
    tx.commit().await?;
    let more = rows.len() as i64 > limit.get();
    let rows = &rows[..rows.len().min(limit.get() as usize)];
    let next_cursor = rows.last().filter(|_| more).map(|r| Cursor {
        at: r.get(1),
        id: r.get(2),
    });
    Ok(SessionPage {
        items: rows.iter().map(|r| r.get(0)).collect(),
        next_cursor,
    })
}

#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn get(db: &Db, caller: &Identity, session_id: Uuid) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let session = view(&tx, session_id).await?;
    tx.commit().await?;
    Ok(session)
}

/// Where a waiting session stands in the queue (`pgchat.queue_place`), for
/// whoever may see the session (404 otherwise: row-level security decides).
pub async fn queue_place(
    db: &Db,
    caller: &Identity,
    session_id: Uuid,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached("SELECT pgchat.queue_place(s.id) FROM live_chat_sessions s WHERE s.id = $1")
        .await?;
    let row = tx.query_opt(&statement, &[&session_id]).await?;
    tx.commit().await?;
    row.map(|r| r.get(0)).ok_or(ApiError::NotFound("session"))
}

/// The session as the caller sees it, within their transaction (404 when not visible).
pub(crate) async fn view_in(tx: &Transaction<'_>, session_id: Uuid) -> Result<WireRow, ApiError> {
    view(tx, session_id).await
}

async fn view(tx: &Transaction<'_>, session_id: Uuid) -> Result<WireRow, ApiError> {
    let sql = format!("SELECT {SESSION_VIEW} FROM live_chat_sessions s WHERE s.id = $1");
    let statement = tx.prepare_cached(&sql).await?;
    let row = tx.query_opt(&statement, &[&session_id]).await?;
    row.map(|r| r.get(0)).ok_or(ApiError::NotFound("session"))
}

/// The facts about a session that decide what may happen to it.
pub(crate) struct State {
    pub conversation_id: Uuid,
    pub status: SessionStatus,
    pub customer_id: String,
    pub agent_id: Option<String>,
    responded: bool,
}

/// The state of a session visible to the caller (404 otherwise).
pub(crate) async fn state_of(tx: &Transaction<'_>, session_id: Uuid) -> Result<State, ApiError> {
    state_by(tx, "id", session_id).await
}

async fn state_by(tx: &Transaction<'_>, column: &str, id: Uuid) -> Result<State, ApiError> {
    let sql = format!(
        "SELECT conversation_id, status, customer_id, agent_id, first_response_at IS NOT NULL
           FROM live_chat_sessions WHERE {column} = $1"
    );
    let statement = tx.prepare_cached(&sql).await?;
    let row = tx
        .query_opt(&statement, &[&id])
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    let status: String = row.get(1);
    Ok(State {
        conversation_id: row.get(0),
        status: status.parse().map_err(|e: String| anyhow::anyhow!(e))?,
        customer_id: row.get(2),
        agent_id: row.get(3),
        responded: row.get(4),
    })
}

impl State {
    /// Where a reopened session goes: back to its agent, or to the queue.
    fn reopened_status(&self) -> SessionStatus {
        match self.agent_id {
            Some(_) => SessionStatus::Active,
            None => SessionStatus::Waiting,
        }
    }
}

fn display_name(who: &Identity) -> &str {
    who.name.as_deref().unwrap_or(&who.sub)
}

/// Makes `agent` the session's agent (it must be waiting) and a member of its
/// conversation, with a notice in the chat.
async fn assign_in(
    tx: &Transaction<'_>,
    agent: &Identity,
    session_id: Uuid,
    conversation_id: Uuid,
) -> Result<(), ApiError> {
    let statement = tx
        .prepare_cached(
            "UPDATE live_chat_sessions SET status = 'active', agent_id = $2, assigned_at = now()
              WHERE id = $1 AND status = 'waiting'",
        )
        .await?;
    if tx.execute(&statement, &[&session_id, &agent.sub]).await? == 0 {
        return Err(ApiError::conflict(
            "session_not_waiting",
            "another agent took this session first",
        ));
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'agent')
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET left_at = NULL",
        )
        .await?;
    tx.execute(&statement, &[&conversation_id, &agent.sub])
        .await?;
    let notice = format!("{} joined the chat", display_name(agent));
    send::send_system(tx, agent, conversation_id, &notice).await?;
    Ok(())
}

/// What a staff message does to its support session before it goes in: a
/// reply to a waiting session claims it, and the assigned agent's first
/// public answer is recorded. Who may write at all (ended, assigned to
/// another) is the database's rule, raised by the insert (`pgchat.write_refusal`).
/// Not a support conversation, or not one the caller sees: nothing to do.
pub(crate) async fn before_staff_message(
    tx: &Transaction<'_>,
    caller: &Identity,
    conversation_id: Uuid,
    internal: bool,
) -> Result<(), ApiError> {
    let state = match state_by(tx, "conversation_id", conversation_id).await {
        Ok(state) => state,
        Err(ApiError::NotFound(_)) => return Ok(()),
        Err(other) => return Err(other),
    };
    let mut agent_id = state.agent_id.clone();
    if state.status == SessionStatus::Waiting {
        let session_id = session_id_of(tx, conversation_id).await?;
        assign_in(tx, caller, session_id, conversation_id).await?;
        agent_id = Some(caller.sub.clone());
    }
    let mine = agent_id.as_deref() == Some(caller.sub.as_str());
    if mine && !internal && !state.responded && !state.status.is_over() {
        tx.execute(
            "UPDATE live_chat_sessions SET first_response_at = now() WHERE conversation_id = $1",
            &[&conversation_id],
        )
        .await?;
    }
    Ok(())
}

/// What a customer's message does to their session before it goes in: an
/// answer to a pending or snoozed session makes it active again (the SLA
/// clock runs again), and one into a resolved session reopens it — within the
/// reopen window, which the session guard holds to (`session_ended` after
/// it). Not a support conversation, or not theirs: nothing to do.
pub(crate) async fn before_customer_message(
    tx: &Transaction<'_>,
    caller: &Identity,
    conversation_id: Uuid,
) -> Result<(), ApiError> {
    let state = match state_by(tx, "conversation_id", conversation_id).await {
        Ok(state) if state.customer_id == caller.sub => state,
        Ok(_) | Err(ApiError::NotFound(_)) => return Ok(()),
        Err(other) => return Err(other),
    };
    match state.status {
        SessionStatus::Pending | SessionStatus::Snoozed => {
            set_status(tx, conversation_id, SessionStatus::Active, None).await?;
        }
        SessionStatus::Resolved => {
            set_status(tx, conversation_id, state.reopened_status(), None).await?;
            let notice = format!("{} reopened the conversation", display_name(caller));
            send::send_system(tx, caller, conversation_id, &notice).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Where a status action takes a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// pending, resolved, closed, or active (from pending or snoozed; from
    /// resolved it is a reopen).
    To(SessionStatus),
    Snooze(DateTime<Utc>),
    /// Back to its agent (active), or to the queue when it had none.
    Reopen,
}

/// Moves a session along its lifecycle with a notice in the chat (the
/// actions: resolve, reopen, snooze, close). See `apply_status`.
pub async fn change_status(
    db: &Db,
    caller: &Identity,
    session_id: Uuid,
    change: StatusChange,
) -> Result<WireRow, ApiError> {
    update(
        db,
        caller,
        session_id,
        &SessionChanges::default(),
        Some(change),
    )
    .await
}

/// The session guard decides what may happen and says why
/// (`invalid_transition`, `session_ended`, `staff_only`, `invalid_snooze`);
/// asking for the status it has changes nothing.
pub(crate) async fn apply_status(
    tx: &Transaction<'_>,
    caller: &Identity,
    session_id: Uuid,
    change: StatusChange,
) -> Result<(), ApiError> {
    // the session's row before the conversation's, as every writer (see `end`)
    tx.execute(
        "SELECT 1 FROM live_chat_sessions WHERE id = $1 FOR UPDATE",
        &[&session_id],
    )
    .await?;
    let state = state_by(tx, "id", session_id).await?;
    let (to, until) = match change {
        StatusChange::To(SessionStatus::Active) if state.status == SessionStatus::Resolved => {
            (state.reopened_status(), None)
        }
        StatusChange::To(status) => (status, None),
        StatusChange::Snooze(until) => (SessionStatus::Snoozed, Some(until)),
        StatusChange::Reopen => (state.reopened_status(), None),
    };
    if to == state.status && until.is_none() {
        return Ok(());
    }
    set_status(tx, state.conversation_id, to, until).await?;
    let who = display_name(caller);
    let notice = match (to, until) {
        (SessionStatus::Snoozed, Some(until)) => format!(
            "{who} snoozed the conversation until {}",
            until.format("%Y-%m-%d %H:%M UTC")
        ),
        (SessionStatus::Pending, _) => format!("{who} is waiting for the customer's answer"),
        (SessionStatus::Resolved, _) => format!("{who} resolved the conversation"),
        (SessionStatus::Closed, _) => format!("{who} closed the conversation"),
        _ if state.status == SessionStatus::Resolved => format!("{who} reopened the conversation"),
        _ => format!("{who} set the conversation back to active"),
    };
    send::send_system(tx, caller, state.conversation_id, &notice).await?;
    Ok(())
}

/// Sets a session's status (the guard checks the move and keeps its timestamps).
async fn set_status(
    tx: &Transaction<'_>,
    conversation_id: Uuid,
    to: SessionStatus,
    until: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    let statement = tx
        .prepare_cached(
            "UPDATE live_chat_sessions SET status = $2, snoozed_until = $3 WHERE conversation_id = $1",
        )
        .await?;
    if tx
        .execute(&statement, &[&conversation_id, &to.as_str(), &until])
        .await?
        == 0
    {
        return Err(ApiError::forbidden(
            "not_assigned",
            "this session is assigned to another agent",
        ));
    }
    Ok(())
}

async fn session_id_of(tx: &Transaction<'_>, conversation_id: Uuid) -> Result<Uuid, ApiError> {
    let row = tx
        .query_one(
            "SELECT id FROM live_chat_sessions WHERE conversation_id = $1",
            &[&conversation_id],
        )
        .await?;
    Ok(row.get(0))
}

/// An agent takes a waiting session. Claiming a session already yours is a no-op.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn claim(db: &Db, caller: &Identity, session_id: Uuid) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::ClaimSession).await?;
    let state = state_by(&tx, "id", session_id).await?;
    match state.status {
        SessionStatus::Waiting => assign_in(&tx, caller, session_id, state.conversation_id).await?,
        _ if state.agent_id.as_deref() == Some(caller.sub.as_str()) => {}
        status if status.is_over() => {
            return Err(ApiError::conflict(
                "session_ended",
                "this session has ended",
            ))
        }
        _ => {
            return Err(ApiError::conflict(
                "session_not_waiting",
                "this session was already claimed",
            ))
        }
    }
    let session = view(&tx, session_id).await?;
    tx.commit().await?;
    Ok(session)
}

/// Ends a session: its customer, its agent or an admin may.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn end(db: &Db, caller: &Identity, session_id: Uuid) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // The session's row before the conversation's (the notice takes that):
    // every writer of a session locks in this order, so none deadlocks.
    tx.execute(
        "SELECT 1 FROM live_chat_sessions WHERE id = $1 FOR UPDATE",
        &[&session_id],
    )
    .await?;
    let state = state_by(&tx, "id", session_id).await?;
    // Who may end it is the update policy's rule (the customer, its agent, any
    // agent while it waits, an admin); that it is not over already the
    // session guard's (`session_ended`, `invalid_transition`).
    let statement = tx
        .prepare_cached(
            "UPDATE live_chat_sessions SET status = 'ended', ended_at = now(), ended_by = $2 WHERE id = $1",
        )
        .await?;
    if tx.execute(&statement, &[&session_id, &caller.sub]).await? == 0 {
        return Err(ApiError::forbidden(
            "not_allowed",
            "only the customer, the agent or an admin ends a session",
        ));
    }
    let notice = format!("{} ended the chat", display_name(caller));
    send::send_system(&tx, caller, state.conversation_id, &notice).await?;
    let session = view(&tx, session_id).await?;
    tx.commit().await?;
    Ok(session)
}

/// The customer rates an ended session, once.
#[tracing::instrument(skip(db, caller, feedback), fields(user = %caller.sub))]
pub async fn rate(
    db: &Db,
    caller: &Identity,
    session_id: Uuid,
    rating: Rating,
    feedback: Option<Feedback>,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // 404 unless the caller sees the session; who rates when is the session
    // guard's to say (customer_only, session_not_ended, already_rated)
    state_by(&tx, "id", session_id).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE live_chat_sessions SET rating = $2, feedback = $3, rated_at = now() WHERE id = $1",
        )
        .await?;
    let feedback = feedback.as_ref().map(Feedback::as_str);
    if tx
        .execute(&statement, &[&session_id, &rating.value(), &feedback])
        .await?
        == 0
    {
        // visible but not the caller's to change (the update policy)
        return Err(ApiError::forbidden(
            "customer_only",
            "only the customer rates a session",
        ));
    }
    let session = view(&tx, session_id).await?;
    tx.commit().await?;
    Ok(session)
}

/// The open sessions an agent's dashboard starts from when it subscribes to
/// `support:queue`: waiting first (by priority, then age), then active ones.
pub async fn queue_snapshot(db: &Db, caller: &Identity) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let sql = format!(
        "SELECT {SESSION_VIEW} FROM live_chat_sessions s
          WHERE s.status <> 'ended'
          ORDER BY s.status DESC, array_position(ARRAY['urgent', 'high', 'medium', 'low'], s.priority), s.started_at
          LIMIT 200"
    );
    let rows = tx.query(&sql, &[]).await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// What staff may change of a session (PATCH): its priority, category,
/// description and team (the status: `change_status`).
#[derive(Debug, Default)]
pub struct SessionChanges {
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    pub description: Option<SessionDescription>,
    /// `Some(None)` takes the session out of its team's queue.
    pub team_id: Option<Option<Uuid>>,
}

impl SessionChanges {
    pub fn is_empty(&self) -> bool {
        self.priority.is_none()
            && self.category.is_none()
            && self.description.is_none()
            && self.team_id.is_none()
    }
}

/// Re-prioritizes, re-categorizes or describes a session (admins any, agents
/// a waiting session or their own; a waiting session's new priority reorders
/// the queue) and moves it along its lifecycle, in one transaction.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn update(
    db: &Db,
    caller: &Identity,
    session_id: Uuid,
    changes: &SessionChanges,
    status: Option<StatusChange>,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    if !changes.is_empty() {
        apply_changes(&tx, session_id, changes).await?;
    }
    if let Some(change) = status {
        apply_status(&tx, caller, session_id, change).await?;
    }
    let session = view(&tx, session_id).await?;
    tx.commit().await?;
    Ok(session)
}

/// Whether the caller may change the session's details, labels or agent: the
/// database's rule (`pgchat.may_change_session`, sql/40_guards.sql:
/// `staff_only`, `not_assigned`), asked before an update that skips a change
/// that changes nothing, so a repeat is refused alike; 404 when the caller
/// cannot see the session.
pub(crate) async fn may_change(tx: &Transaction<'_>, session_id: Uuid) -> Result<(), ApiError> {
    let statement = tx
        .prepare_cached("SELECT pgchat.may_change_session($1)")
        .await?;
    let visible: bool = tx.query_one(&statement, &[&session_id]).await?.get(0);
    if !visible {
        return Err(ApiError::NotFound("session"));
    }
    Ok(())
}

/// Puts a label on a session (`add`) or takes it off; either is idempotent.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn label(
    db: &Db,
    caller: &Identity,
    session_id: Uuid,
    label: &Label,
    add: bool,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    label_in(&tx, session_id, label, add).await?;
    let session = view(&tx, session_id).await?;
    tx.commit().await?;
    Ok(session)
}

/// `label` inside the caller's transaction.
pub(crate) async fn label_in(
    tx: &Transaction<'_>,
    session_id: Uuid,
    label: &Label,
    add: bool,
) -> Result<(), ApiError> {
    may_change(tx, session_id).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE live_chat_sessions
                SET labels = CASE WHEN $3 THEN labels || $2 ELSE array_remove(labels, $2) END
              WHERE id = $1 AND ($2 = ANY(labels)) <> $3",
        )
        .await?;
    tx.execute(&statement, &[&session_id, &label.as_str(), &add])
        .await?;
    Ok(())
}

pub(crate) async fn apply_changes(
    tx: &Transaction<'_>,
    session_id: Uuid,
    changes: &SessionChanges,
) -> Result<(), ApiError> {
    may_change(tx, session_id).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE live_chat_sessions
                SET priority = coalesce($2, priority), category = coalesce($3, category),
                    description = coalesce($4, description),
                    team_id = CASE WHEN $5 THEN team_id ELSE $6 END
              WHERE id = $1
                AND (priority, category, description, team_id)
                    IS DISTINCT FROM (coalesce($2, priority), coalesce($3, category), coalesce($4, description),
                                      CASE WHEN $5 THEN team_id ELSE $6 END)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &session_id,
            &changes.priority.map(Priority::as_str),
            &changes.category.map(Category::as_str),
            &changes.description.as_ref().map(SessionDescription::as_str),
            // $5: keep the team; $6: the new one
            &changes.team_id.is_none(),
            &changes.team_id.flatten(),
        ],
    )
    .await?;
    Ok(())
}
