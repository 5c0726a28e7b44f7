//! Sending a message, one straight line for every transport: a send is
//! parsed at the edge into a [`NewMessage`], queued ([`queue`]), stored with
//! its batch by one set-based SQL call ([`batch`]: `pgchat.send_batch`, where
//! RLS and the database's rules decide), and acknowledged after COMMIT. What
//! the set-based call leaves to the one-message path ([`one`]) — an
//! attachment, a staff reply that claims or first-answers a support session,
//! or a refusal that needs its precise error — is sent right after, in the
//! sender's order.

pub mod batch;
pub mod one;
pub mod queue;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::poll::Poll;
use crate::domain::{MessageBody, MessageKind};
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::WireRow;

pub use one::{send_in, send_system};
use queue::SendQueue;

/// A message as a client sends it.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub client_msg_id: Uuid,
    pub body: MessageBody,
    pub kind: MessageKind,
    pub reply_to: Option<Uuid>,
    pub internal: bool,
    /// A completed upload of the sender's in this conversation (see `service::attachments`).
    pub attachment_id: Option<Uuid>,
    /// A poll message's poll (`kind: poll`; sql/46_polls.sql). Such a send
    /// goes through the one-message path, like an attachment.
    pub poll: Option<Poll>,
}

impl NewMessage {
    /// The body a message is stored with: the one sent, else a poll's
    /// question (a poll's text wherever a client shows a message's body:
    /// lists, previews, search).
    pub fn body_of(
        body: Option<MessageBody>,
        poll: Option<&Poll>,
    ) -> Result<MessageBody, ApiError> {
        match (body, poll) {
            (Some(body), _) => Ok(body),
            (None, Some(poll)) => MessageBody::try_from(poll.question().to_owned())
                .map_err(|e| ApiError::bad_request("invalid_body", e)),
            (None, None) => Err(ApiError::bad_request(
                "invalid_body",
                "missing field `body`",
            )),
        }
    }
}

/// The stored message, and whether this call stored it (false: a retry).
#[derive(Clone, Debug)]
pub struct Sent {
    pub message: WireRow,
    pub created: bool,
}

/// Where sends go: the node's group commit (`queue`) when the server runs it
/// (the default), otherwise the one-message path. Every transport holds one;
/// `db` stays a plain pool that knows no operation.
#[derive(Clone)]
pub struct Sender {
    db: Db,
    queue: Option<Arc<SendQueue>>,
}

impl Sender {
    /// Sends go alone, each in its own transaction (tests, tools).
    pub fn alone(db: Db) -> Self {
        Self { db, queue: None }
    }

    /// Sends go through group commit: `workers` tasks committing batches of
    /// at most `max_batch`, holding at most `capacity` sends (past it a send
    /// is refused with `overloaded`).
    pub fn group_commit(db: Db, workers: usize, max_batch: usize, capacity: usize) -> Self {
        let queue = SendQueue::start(db.clone(), workers, max_batch, capacity);
        Self {
            db,
            queue: Some(Arc::new(queue)),
        }
    }

    /// Sends a message; the answer comes after COMMIT.
    #[tracing::instrument(skip(self, caller, new), fields(user = %caller.sub))]
    pub async fn send(
        &self,
        caller: &Identity,
        conversation_id: Uuid,
        new: NewMessage,
    ) -> Result<Sent, ApiError> {
        self.submit(caller, conversation_id, new).await?.await
    }

    /// Sends several messages all or nothing, in order, in one transaction
    /// (an app's array insert): not through the group commit, whose batches
    /// answer each send on its own, but within its bound (a place per
    /// message, `overloaded` when the node has too few). On a refusal nothing
    /// is stored, and the error comes with the index of the send that was
    /// refused.
    #[tracing::instrument(skip(self, caller, sends), fields(user = %caller.sub, count = sends.len()))]
    pub async fn send_all(
        &self,
        caller: &Identity,
        sends: Vec<(Uuid, NewMessage)>,
    ) -> Result<Vec<Sent>, (usize, ApiError)> {
        for i in 0..sends.len() {
            limits::check(&self.db, Write::Send, caller).map_err(|e| (i, e))?;
        }
        let _places = match &self.queue {
            Some(queue) => Some(queue.reserve(sends.len()).map_err(|e| (0, e))?),
            None => None,
        };
        one::send_all(&self.db, caller, sends).await
    }

    /// Queues a send and returns its answer to await, so a connection can have
    /// several sends in flight; a sender's sends are stored in the order queued.
    pub async fn submit(
        &self,
        caller: &Identity,
        conversation_id: Uuid,
        new: NewMessage,
    ) -> Result<BoxFuture<'static, Result<Sent, ApiError>>, ApiError> {
        limits::check(&self.db, Write::Send, caller)?;
        match &self.queue {
            Some(queue) => {
                let answer = queue.submit(caller, conversation_id, new)?;
                Ok(async move { answer.await.map_err(|_| queue::interrupted())? }.boxed())
            }
            None => {
                let sent = one::send(&self.db, caller, conversation_id, new).await;
                Ok(futures::future::ready(sent).boxed())
            }
        }
    }
}
