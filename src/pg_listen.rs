//! One way to `LISTEN`, for every job that waits on PostgreSQL notifications
//! (the realtime listener, the desk, the assistant's worker), so they agree on
//! what a lost connection looks like and what happens then:
//!
//! - connect, `LISTEN` each channel, then report [`Notice::Connected`] —
//!   notifications may have been missed while down, so a consumer treats it as
//!   "look at the tables" (the desk drains its queue, the listener refills);
//! - a liveness probe (`SELECT 1` every `probe_every`, answered within
//!   `probe_timeout`): a dead peer or a half-open TCP connection shows within
//!   seconds, not when the kernel gives up;
//! - on any failure, [`Notice::Disconnected`], then reconnect with exponential
//!   backoff and jitter (nodes restarted together do not reconnect in
//!   step), reset once a connection has lasted a while;
//! - a bounded queue: when the consumer falls behind, the connection is not
//!   read and PostgreSQL keeps the notifications in its own queue (visible as
//!   `pg_notification_queue_usage()`), so our memory stays bounded. The probe
//!   waits too: a consumer that is behind is not a dead connection.
//!
//! The task ends when the receiver is dropped; run it under the supervisor.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use crate::db::tls::MakeTls;

/// What the LISTEN task reports, in order.
#[derive(Debug)]
pub enum Notice {
    /// Listening (first time or after a reconnect): anything sent while we
    /// were not may have been missed.
    Connected,
    /// One notification.
    Notification { channel: String, payload: String },
    /// The connection was lost; a reconnect follows (with backoff).
    Disconnected,
}

/// Settings of one LISTEN connection; [`PgListen::start`] runs it.
#[derive(Clone)]
pub struct PgListen {
    config: tokio_postgres::Config,
    /// TLS as the pool's connections have it (`DATABASE_URL`'s sslmode).
    tls: MakeTls,
    channels: Vec<String>,
    queue: usize,
    probe_every: Duration,
    probe_timeout: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
}

impl PgListen {
    /// LISTENs on `channels` over a connection named `application_name`
    /// (operators find it in `pg_stat_activity`). Defaults: a queue of 1024
    /// notifications, a probe every 5 s answered within 5 s, backoff 100 ms → 5 s.
    pub fn new(
        mut config: tokio_postgres::Config,
        tls: MakeTls,
        application_name: &str,
        channels: &[&str],
    ) -> Self {
        config.application_name(application_name);
        Self {
            config,
            tls,
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            queue: 1024,
            probe_every: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }

    /// Notifications held for a consumer that is behind.
    pub fn queue(mut self, notifications: usize) -> Self {
        self.queue = notifications.max(1);
        self
    }

    /// How often the connection is probed, and how soon the probe must answer.
    pub fn probe(mut self, every: Duration, timeout: Duration) -> Self {
        self.probe_every = every;
        self.probe_timeout = timeout;
        self
    }

    /// The task to spawn, and the notices it sends.
    pub fn start(
        self,
    ) -> (
        impl Future<Output = ()> + Send + 'static,
        mpsc::Receiver<Notice>,
    ) {
        let (tx, rx) = mpsc::channel(self.queue);
        (self.run(tx), rx)
    }

    async fn run(self, tx: mpsc::Sender<Notice>) {
        let mut backoff = self.backoff_min;
        loop {
            let started = tokio::time::Instant::now();
            match self.session(&tx).await {
                Ok(()) => return, // the consumer is gone
                Err(error) => {
                    tracing::warn!(
                        channels = ?self.channels,
                        error = format!("{error:#}"),
                        "LISTEN connection lost"
                    );
                }
            }
            if tx.send(Notice::Disconnected).await.is_err() {
                return;
            }
            if started.elapsed() > Duration::from_secs(30) {
                backoff = self.backoff_min;
            }
            // Jitter: anywhere in [backoff/2, backoff].
            let half = backoff.as_millis() as u64 / 2;
            let wait = Duration::from_millis(half + rand::random::<u64>() % (half + 1));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = tx.closed() => return,
            }
            backoff = (backoff * 2).min(self.backoff_max);
        }
    }

    /// One connection's life. `Ok` means the consumer is gone; `Err` a failure.
    async fn session(&self, tx: &mpsc::Sender<Notice>) -> anyhow::Result<()> {
        let (client, mut connection) = tokio::time::timeout(
            self.probe_timeout.max(Duration::from_secs(5)),
            self.config.connect(self.tls.clone()),
        )
        .await
        .context("connecting timed out")?
        .context("connecting")?;
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        let listen: String = self
            .channels
            .iter()
            .map(|c| format!("LISTEN {};", quote_ident(c)))
            .collect();
        {
            // The connection must be driven while LISTEN runs.
            let listening = client.batch_execute(&listen);
            tokio::pin!(listening);
            loop {
                tokio::select! {
                    done = &mut listening => { done.context("LISTEN")?; break; }
                    message = messages.next() => match message {
                        Some(Ok(_)) => {}
                        Some(Err(error)) => return Err(error).context("connection"),
                        None => anyhow::bail!("connection closed"),
                    },
                }
            }
        }
        if tx.send(Notice::Connected).await.is_err() {
            return Ok(());
        }
        let mut probe = tokio::time::interval(self.probe_every);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        probe.tick().await;
        // A probe in flight and when it must have answered.
        let mut probing = None;
        let mut probe_deadline = None::<tokio::time::Instant>;
        // A notification waiting for room in the queue (the consumer is behind).
        let mut pending: Option<Notice> = None;
        loop {
            tokio::select! {
                permit = tx.reserve(), if pending.is_some() => {
                    let Ok(permit) = permit else { return Ok(()) };
                    permit.send(pending.take().expect("pending"));
                    // Waiting for the consumer is not the server's silence.
                    if let Some(deadline) = probe_deadline.as_mut() {
                        *deadline = (*deadline).max(tokio::time::Instant::now() + self.probe_timeout);
                    }
                }
                message = messages.next(), if pending.is_none() => match message {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        pending = Some(Notice::Notification {
                            channel: n.channel().to_owned(),
                            payload: n.payload().to_owned(),
                        });
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error).context("connection"),
                    None => anyhow::bail!("connection closed"),
                },
                _ = probe.tick(), if probing.is_none() => {
                    probing = Some(Box::pin(client.simple_query("SELECT 1")));
                    probe_deadline = Some(tokio::time::Instant::now() + self.probe_timeout);
                }
                answered = async { probing.as_mut().expect("probing").await }, if probing.is_some() => {
                    answered.context("liveness probe")?;
                    probing = None;
                    probe_deadline = None;
                }
                () = sleep_until_opt(probe_deadline), if pending.is_none() => {
                    anyhow::bail!("liveness probe unanswered for {:?}", self.probe_timeout);
                }
                () = tx.closed() => return Ok(()),
            }
        }
    }
}

/// `"name"`, quoted as an SQL identifier (channel names are ours, but LISTEN
/// cannot take a parameter).
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn channel_names_are_quoted_as_identifiers() {
        assert_eq!(quote_ident("pgchat_desk"), "\"pgchat_desk\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
