//! The physical limit beside our figures: PostgreSQL's own pgbench running the
//! very INSERT a send performs (with the seq trigger), in a scratch database
//! with the same schema — with per-row NOTIFY and a listener draining it,
//! without NOTIFY, and with 10-row INSERTs (batching, as group commit does).

use std::process::Command;

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{Map, Value};
use tokio_postgres::config::Host;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::bench::report::round;
use crate::bench::BenchArgs;
use crate::db;

const SCRATCH: &str = "pgchat_bench_scratch";
const CONVERSATIONS: u32 = 10;

pub async fn run(url: &str, args: &BenchArgs) -> anyhow::Result<Map<String, Value>> {
    let admin = db::pg_config(url)?;
    let client = db::connect(&admin).await?;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {SCRATCH}"))
        .await?;
    let mut scratch = admin.clone();
    scratch.dbname(SCRATCH);
    let result = measure(&scratch, args).await;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"))
        .await?;
    result
}

async fn measure(
    scratch: &tokio_postgres::Config,
    args: &BenchArgs,
) -> anyhow::Result<Map<String, Value>> {
    let mut client = db::connect(scratch).await?;
    db::migrate::run(&mut client).await?;
    client
        .batch_execute("INSERT INTO users (id) VALUES ('b')")
        .await?;
    for n in 1..=CONVERSATIONS {
        client
            .execute(
                "INSERT INTO conversations (id, kind, created_by) VALUES ($1::text::uuid, 'group', 'b')",
                &[&uuid_of(n)],
            )
            .await?;
    }
    // A listener drains the notifications, as the server's would.
    let (listener, mut connection) = scratch.connect(NoTls).await?;
    let drain = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if !matches!(message, AsyncMessage::Notification(_)) {
                continue;
            }
        }
    });
    listener.batch_execute("LISTEN pgchat").await?;

    std::fs::create_dir_all(&args.work_dir)?;
    let single = args.work_dir.join("insert.sql");
    let batch = args.work_dir.join("insert10.sql");
    let target = "(('00000000-0000-0000-0000-' || lpad(:r::text, 12, '0'))::uuid)";
    std::fs::write(
        &single,
        format!(
            "\\set r random(1, {CONVERSATIONS})\nINSERT INTO chat_messages (conversation_id, sender_id, sender_role, body) VALUES ({target}, 'b', 'user', 'b|1700000000000000');\n"
        ),
    )?;
    std::fs::write(
        &batch,
        format!(
            "\\set r random(1, {CONVERSATIONS})\nINSERT INTO chat_messages (conversation_id, sender_id, sender_role, body) SELECT {target}, 'b', 'user', 'b|1700000000000000' FROM generate_series(1, 10);\n"
        ),
    )?;
    let conninfo = conninfo(scratch);
    let mut figures = Map::new();
    let notify = pgbench(&conninfo, &single, args)?;
    figures.insert("pgbench_notify_tps".into(), round(notify).into());
    let notify10 = pgbench(&conninfo, &batch, args)?;
    figures.insert(
        "pgbench_notify_10row_rows_per_s".into(),
        round(notify10 * 10.0).into(),
    );
    client
        .batch_execute("ALTER TABLE chat_messages DISABLE TRIGGER chat_messages_notify")
        .await?;
    let without = pgbench(&conninfo, &single, args)?;
    figures.insert("pgbench_no_notify_tps".into(), round(without).into());
    figures.insert("pgbench_clients".into(), args.pgbench_clients.into());
    drain.abort();
    Ok(figures)
}

fn uuid_of(n: u32) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

/// Runs pgbench for the run's duration; its tps.
fn pgbench(conninfo: &str, script: &std::path::Path, args: &BenchArgs) -> anyhow::Result<f64> {
    let clients = args.pgbench_clients.to_string();
    let duration = args.duration.to_string();
    let output = Command::new("pgbench")
        .args(["-n", "-c", &clients, "-j", "2", "-T", &duration, "-f"])
        .arg(script)
        .arg(conninfo)
        .output()
        .context("running pgbench (install PostgreSQL's client tools)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .context("reading pgbench's tps")
}

/// libpq's key=value form of a connection config.
fn conninfo(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let mut info = format!(
        "host={host} port={port} user={} dbname={}",
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres")
    );
    if let Some(password) = config.get_password() {
        info.push_str(&format!(" password={}", String::from_utf8_lossy(password)));
    }
    info
}
