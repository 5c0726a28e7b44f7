//! Subscribing, the same for every transport: check access under the caller's
//! identity, register with the hub first, then catch up from the tables; the
//! transport then forwards live events above the returned cursor.

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::Identity;
use crate::error::ApiError;
use crate::http::AppState;
use crate::realtime::frames;
use crate::realtime::hub::{Connection, Event, Topic};
use crate::service::changes::{self, Position};
use crate::service::ephemeral;

/// May `caller` subscribe to `topic`? (Conversations are checked by the catch-up read itself.)
pub async fn authorize(state: &AppState, caller: &Identity, topic: &Topic) -> Result<(), ApiError> {
    match topic {
        Topic::Conversation(_) => Ok(()),
        Topic::Inbox(user) if **user == *caller.sub => Ok(()),
        Topic::Inbox(_) => Err(ApiError::NotFound("topic")),
        Topic::SupportQueue if caller.role.is_staff() => Ok(()),
        Topic::SupportQueue => Err(ApiError::forbidden(
            "staff_only",
            "the support queue is for agents and admins",
        )),
        Topic::Presence(user) => match ephemeral::can_see_user(&state.db, caller, user).await? {
            true => Ok(()),
            false => Err(ApiError::NotFound("user")),
        },
    }
}

/// Reads a conversation's backlog after a cursor, chunk by chunk, under the caller's RLS.
pub struct CatchUp {
    conversation: Uuid,
    topic: Topic,
    at: Position,
    snapshot: Option<i64>,
    done: bool,
}

impl CatchUp {
    pub fn new(conversation: Uuid, since: i64) -> Self {
        Self {
            conversation,
            topic: Topic::Conversation(conversation),
            at: Position::start(since),
            snapshot: None,
            done: false,
        }
    }

    /// The next chunk of events, or None when caught up.
    pub async fn next(
        &mut self,
        state: &AppState,
        caller: &Identity,
    ) -> Result<Option<Vec<Event>>, ApiError> {
        if self.done {
            return Ok(None);
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
        Ok(Some(
            backlog
                .changes
                .iter()
                .map(|c| frames::change(c, &self.topic))
                .collect(),
        ))
    }

    /// The cursor once caught up: everything up to here was sent or is invisible to the caller.
    pub fn cursor(&self) -> i64 {
        self.snapshot.unwrap_or(self.at.origin).max(self.at.origin)
    }
}

/// Registers `conn` for `topic` after checking access.
pub async fn register(
    state: &AppState,
    caller: &Identity,
    conn: &Arc<Connection>,
    topic: &Topic,
) -> Result<(), ApiError> {
    authorize(state, caller, topic).await?;
    state.realtime.hub.subscribe(conn, caller, topic.clone());
    Ok(())
}

/// The cursor of a subscription without `since`: where the conversation stands now.
pub async fn head(
    state: &AppState,
    caller: &Identity,
    conversation: Uuid,
) -> Result<i64, ApiError> {
    let head = changes::head(&state.db, caller, conversation).await?;
    state.realtime.hub.seed(conversation, head);
    Ok(head)
}
