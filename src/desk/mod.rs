//! The support desk's background work, on every node: auto-assignment, the
//! inactivity timeout and offline notifications (the webhook, email). Nodes coordinate
//! only through PostgreSQL — the desk advisory lock for assignment, `FOR
//! UPDATE SKIP LOCKED` for timeouts and notifications — so any number of
//! nodes may run these at once.
//!
//! Triggers (sql/60_desk.sql) wake the workers with `NOTIFY pgchat_desk`
//! (`assign` when a session arrives or capacity frees, `outbox` when a
//! notification is queued, `email` when an email is); each node listens on its own connection. A timer
//! covers what a notification cannot (a node that died mid-way, a retry
//! falling due, a session idling out).

pub mod email;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;

use crate::config::DeskConfig;
use crate::db::Db;
use crate::pg_listen::{Notice, PgListen};
use crate::service::notifications::{self, Attempt, Outbox, Outcome, Retry};
use crate::service::{assignment, email as email_outbox};
use crate::supervisor::Supervisor;
use email::Mailer;
use webhook::Webhook;

/// The NOTIFY channel of the desk's triggers.
pub const CHANNEL: &str = "pgchat_desk";

/// How often the queue is drained without being asked.
const ASSIGN_SWEEP: Duration = Duration::from_secs(5);
/// Notifications (or emails) delivered per transaction.
const NOTIFY_BATCH: i64 = 32;
/// Delivered notifications are deleted after this long (dead letters stay).
const KEEP_DELIVERED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Records the desk settings in the database, then starts the workers under
/// `supervisor`.
pub async fn start(
    db: Db,
    database: tokio_postgres::Config,
    config: DeskConfig,
    supervisor: &mut Supervisor,
) -> anyhow::Result<()> {
    let inactivity_timeout_secs = assignment::configure(&db, &config)
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("writing the desk settings")?;
    let key = email_outbox::signing_key(&db)
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("reading the email settings")?;
    // Checked before anything is recorded: a mistyped setting stops the start.
    let mailer = Mailer::from_config(&config.email, key)?;
    email_outbox::configure(&db, mailer.is_some())
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("writing the email settings")?;
    let assign = Arc::new(Notify::new());
    let outbox = Arc::new(Notify::new());
    let emails = Arc::new(Notify::new());
    let hook = match config.webhook_url.clone() {
        Some(url) => {
            // Refuse a mistyped URL now rather than dead-letter every notification later.
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "PGCHAT_WEBHOOK_URL must be an https:// (or http://) URL"
            );
            Some(Webhook::new(
                url,
                config.webhook_secret.clone(),
                Duration::from_secs(config.webhook_timeout_secs.max(1)),
            )?)
        }
        None => None,
    };
    let (listen, notices) = PgListen::new(database, db.tls(), "pgchat-desk", &[CHANNEL])
        .probe(Duration::from_secs(10), Duration::from_secs(5))
        .start();
    supervisor.spawn("desk listener", listen);
    supervisor.spawn(
        "desk wake-ups",
        wake(notices, assign.clone(), outbox.clone(), emails.clone()),
    );
    supervisor.spawn("desk assigner", assigner(db.clone(), assign));
    supervisor.spawn("desk snoozes", snoozes(db.clone(), SNOOZE_CHECK));
    // Always swept: an admin may set a timeout at any time (PATCH
    // /v1/admin/settings); the sweep reads the one in force.
    let every = match inactivity_timeout_secs {
        0 => Duration::from_secs(60),
        secs => Duration::from_secs(secs)
            .div_f64(4.0)
            .clamp(Duration::from_millis(250), Duration::from_secs(60)),
    };
    supervisor.spawn("desk inactivity sweeper", sweeper(db.clone(), every));
    if let Some(hook) = hook {
        let retry = Retry {
            max_attempts: config.webhook_max_attempts.max(1),
            base: Duration::from_millis(config.webhook_retry_base_ms.max(1)),
        };
        let hook = Arc::new(hook);
        let deliver = move |attempt: Attempt| {
            let hook = hook.clone();
            async move { hook.deliver(&attempt).await }
        };
        let task = notifier(db.clone(), notifications::WEBHOOK, retry, outbox, deliver);
        supervisor.spawn("desk notifier", task);
    }
    if let Some(mailer) = mailer {
        let retry = Retry {
            max_attempts: config.email.email_max_attempts.max(1),
            base: Duration::from_millis(config.email.email_retry_base_ms.max(1)),
        };
        let mailer = Arc::new(mailer);
        let deliver = move |attempt: Attempt| {
            let mailer = mailer.clone();
            async move { mailer.deliver(&attempt).await }
        };
        let task = notifier(db, email_outbox::OUTBOX, retry, emails, deliver);
        supervisor.spawn("desk mailer", task);
    }
    Ok(())
}

/// Wakes the workers on `pgchat_desk` notifications, and after every
/// (re)connect in case something was missed.
async fn wake(
    mut notices: tokio::sync::mpsc::Receiver<Notice>,
    assign: Arc<Notify>,
    outbox: Arc<Notify>,
    emails: Arc<Notify>,
) {
    while let Some(notice) = notices.recv().await {
        match notice {
            Notice::Connected => {
                assign.notify_one();
                outbox.notify_one();
                emails.notify_one();
            }
            Notice::Notification { payload, .. } => match payload.as_str() {
                "assign" => assign.notify_one(),
                "outbox" => outbox.notify_one(),
                "email" => emails.notify_one(),
                other => tracing::debug!(payload = other, "unknown desk notification"),
            },
            Notice::Disconnected => {}
        }
    }
}

/// Drains the queue when woken (many wake-ups coalesce into one drain) and every few seconds.
async fn assigner(db: Db, wake: Arc<Notify>) {
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(ASSIGN_SWEEP) => {}
        }
        match assignment::drain(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "auto-assigned"),
            Err(error) => {
                error.log();
                tracing::warn!(%error, "auto-assignment");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Ends idle sessions.
/// How often snoozed sessions are checked for their time.
const SNOOZE_CHECK: Duration = Duration::from_secs(5);

/// Wakes snoozed sessions whose time has come.
async fn snoozes(db: Db, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match assignment::wake_snoozed(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "snoozes over"),
            Err(error) => {
                error.log();
                tracing::warn!(%error, "snooze check");
            }
        }
    }
}

async fn sweeper(db: Db, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match assignment::end_inactive(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "ended for inactivity"),
            Err(error) => {
                error.log();
                tracing::warn!(%error, "inactivity sweep");
            }
        }
    }
}

/// Delivers the due rows of `outbox` with `deliver`, batch after batch; then
/// sleeps until woken or until the next retry falls due.
async fn notifier<D, F>(db: Db, outbox: Outbox, retry: Retry, wake: Arc<Notify>, deliver: D)
where
    D: Fn(Attempt) -> F,
    F: Future<Output = Outcome>,
{
    let table = outbox.table;
    let mut last_prune = std::time::Instant::now() - Duration::from_secs(3600);
    loop {
        match notifications::deliver_due(&db, outbox, NOTIFY_BATCH, retry, &deliver).await {
            Ok(pass) if pass.handled() > 0 => {
                tracing::debug!(?pass, table, "notifications");
                continue;
            }
            Ok(_) => {}
            Err(error) => {
                error.log();
                tracing::warn!(%error, table, "notification delivery");
            }
        }
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = std::time::Instant::now();
            if let Err(error) = notifications::prune(&db, outbox, KEEP_DELIVERED).await {
                tracing::warn!(%error, table, "pruning delivered notifications");
            }
        }
        // Until the next retry falls due (looked at again at least every second).
        let wait = match notifications::next_due(&db, outbox).await {
            Ok(Some(due)) => due.clamp(Duration::from_millis(10), Duration::from_secs(1)),
            _ => Duration::from_secs(1),
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
