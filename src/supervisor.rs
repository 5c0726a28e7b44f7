//! Every background task of a node under one roof: the realtime listener, the
//! presence heartbeat, the desk's jobs, the assistant's worker, retention, the
//! upload purge, the planner statistics check. They are spawned into one
//! `JoinSet` and stopped with one `CancellationToken`, so shutdown can stop
//! them all and wait until they have, instead of leaving detached tasks
//! running against a closing pool.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Starts background tasks and stops them together. Dropping it aborts them.
#[derive(Default)]
pub struct Supervisor {
    tasks: JoinSet<()>,
    cancel: CancellationToken,
}

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` until it ends or shutdown begins, whichever comes first. The
    /// jobs are loops that never end by themselves, so an end is logged.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = task => tracing::warn!(task = name, "background task ended by itself"),
            }
        });
    }

    /// Cancels every task and waits for them, at most `patience`; whatever is
    /// still running then is aborted. A task that panicked is logged.
    pub async fn shutdown(mut self, patience: Duration) {
        self.cancel.cancel();
        let drained = tokio::time::timeout(patience, async {
            while let Some(joined) = self.tasks.join_next().await {
                if let Err(error) = joined {
                    if error.is_panic() {
                        tracing::error!(%error, "background task panicked");
                    }
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = self.tasks.len(),
                "background tasks still running after shutdown; aborting them"
            );
            self.tasks.shutdown().await;
        }
    }
}
