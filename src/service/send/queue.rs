//! The send queue (group commit). Concurrent sends are gathered into batches
//! and stored by `batch::store` (sql/25_send_batch.sql) in one transaction:
//! one commit, and so one pass through NOTIFY's cluster-wide commit lock, for
//! many messages. Every guarantee of a single send holds: each
//! row is inserted under its sender's identity (RLS), `client_msg_id` dedupes,
//! seq order follows commit order, and a sender hears back only after COMMIT.
//!
//! Batching is natural: a worker takes whatever is queued when it becomes free
//! (up to `max_batch`), so at low load a send goes alone, with no added wait.
//! Whatever the batch function does not handle (`slow`), and every message of a
//! batch that failed as a whole, goes through the ordinary one-message path,
//! which applies all the rules and produces the precise error.
//!
//! A conversation's messages keep their order: every conversation is served
//! by one worker (by hash), a worker runs its batches one after the other, and
//! a sender's held-back (`slow`) messages are sent, in order, before the
//! worker's next batch. Workers own disjoint conversations, so their batches
//! never wait for each other's row locks on a conversation: they commit in
//! parallel.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::error::ApiError;
use crate::service::send::{batch, one, NewMessage, Sent};

pub(super) struct Job {
    pub(super) caller: Identity,
    pub(super) conversation_id: Uuid,
    pub(super) new: NewMessage,
    reply: oneshot::Sender<Result<Sent, ApiError>>,
    /// This send's place in the node's bound, given back when it is answered.
    _place: OwnedSemaphorePermit,
}

/// The queues in front of the batch workers, one per worker, and the node's
/// bound on the sends they hold together.
pub struct SendQueue {
    queues: Vec<mpsc::UnboundedSender<Job>>,
    /// One permit per send queued or in a batch. A node-wide bound, not one
    /// per worker: conversations hash unevenly over the workers, and a busy
    /// worker must not refuse sends while the node has room.
    places: Arc<Semaphore>,
    capacity: usize,
}

/// The answer to a queued send, to await.
pub type Answer = oneshot::Receiver<Result<Sent, ApiError>>;

impl SendQueue {
    /// Starts `workers` tasks, each taking a pooled connection per batch;
    /// together they hold at most `capacity` queued sends.
    pub fn start(db: Db, workers: usize, max_batch: usize, capacity: usize) -> Self {
        let queues = (0..workers.max(1))
            .map(|_| {
                let (queue, mut rx) = mpsc::unbounded_channel::<Job>();
                let db = db.clone();
                tokio::spawn(async move {
                    while let Some(batch) = next_batch(&mut rx, max_batch.max(1)).await {
                        run(&db, batch).await;
                    }
                });
                queue
            })
            .collect();
        let capacity = capacity.max(1);
        Self {
            queues,
            places: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Queues a send behind its conversation's earlier ones; the answer comes after
    /// COMMIT. A full queue refuses at once (`Overloaded`, retryable): waiting
    /// behind an unbounded queue would make every accepted send slow.
    pub fn submit(
        &self,
        caller: &Identity,
        conversation_id: Uuid,
        new: NewMessage,
    ) -> Result<Answer, ApiError> {
        let place = self.reserve(1)?;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            caller: caller.clone(),
            conversation_id,
            new,
            reply,
            _place: place,
        };
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&conversation_id, &mut hasher);
        let worker = std::hash::Hasher::finish(&hasher) as usize % self.queues.len();
        match self.queues[worker].send(job) {
            Ok(()) => Ok(answer),
            Err(_) => Err(shutting_down()),
        }
    }

    /// Takes `count` places in the node's bound at once, for sends that do not
    /// go through the queue (an all-or-nothing array, `one::send_all`) but
    /// hold the database as long; given back when the permit drops. Too few
    /// free places refuse at once, like a full queue; more than the bound
    /// takes the whole bound (it could never be had otherwise).
    pub fn reserve(&self, count: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let count = u32::try_from(count.min(self.capacity)).map_err(|_| ApiError::Overloaded)?;
        match self.places.clone().try_acquire_many_owned(count) {
            Ok(places) => Ok(places),
            Err(tokio::sync::TryAcquireError::NoPermits) => Err(ApiError::Overloaded),
            Err(tokio::sync::TryAcquireError::Closed) => Err(shutting_down()),
        }
    }
}

fn shutting_down() -> ApiError {
    ApiError::Unavailable("server shutting down; retry".into())
}

/// What a queued send's answer means when its worker went away.
pub fn interrupted() -> ApiError {
    ApiError::Unavailable("send interrupted; retry with the same client_msg_id".into())
}

/// Waits for one job, then takes whatever else is already queued.
async fn next_batch(rx: &mut mpsc::UnboundedReceiver<Job>, max: usize) -> Option<Vec<Job>> {
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn run(db: &Db, mut batch: Vec<Job>) {
    // The same lock order in every batch: no deadlock between concurrent batches.
    batch.sort_by_key(|job| job.conversation_id);
    let outcomes = match batch::store(db, &batch).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            tracing::debug!(%error, size = batch.len(), "batch failed; sending one by one");
            vec![Outcome::Slow; batch.len()]
        }
    };
    let mut held_back = Vec::new();
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Done(sent) => {
                let _ = job.reply.send(Ok(sent));
            }
            Outcome::Slow => held_back.push(job),
        }
    }
    // In order, before this worker's next batch: a sender's order holds.
    for job in held_back {
        let result = one::send(db, &job.caller, job.conversation_id, job.new).await;
        let _ = job.reply.send(result);
    }
}

/// What became of one queued send in its batch.
#[derive(Clone)]
pub(super) enum Outcome {
    Done(Sent),
    /// Left to the one-message path.
    Slow,
}
