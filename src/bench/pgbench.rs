//! The physical limit beside our figures, in the same run: PostgreSQL's own
//! pgbench on (1) the reference — a minimal durable chat INSERT (uuid id,
//! conversation, body, a per-conversation seq from a BEFORE trigger, no
//! NOTIFY), the figure pgchat's persisted rate is measured against; (2)
//! pgchat's own message INSERT one row per transaction (all its triggers, as
//! a psql user's insert runs them), with its notification and a listener
//! draining it, and without; (3) 10-row INSERTs of it.

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
    client.batch_execute(MINIMAL_SCHEMA).await?;
    let minimal = args.work_dir.join("minimal.sql");
    std::fs::write(
        &minimal,
        format!(
            "\\set r random(1, {CONVERSATIONS})\nINSERT INTO minimal_messages (conversation_id, body) VALUES ({target}, 'b|1700000000000000');\n"
        ),
    )?;
    let conninfo = conninfo(scratch);
    let mut figures = Map::new();
    let reference = pgbench(&conninfo, &minimal, args)?;
    figures.insert(
        "pgbench_minimal_insert_rows_per_s".into(),
        round(reference).into(),
    );
    let notify = pgbench(&conninfo, &single, args)?;
    figures.insert("pgbench_notify_tps".into(), round(notify).into());
    let notify10 = pgbench(&conninfo, &batch, args)?;
    figures.insert(
        "pgbench_notify_10row_rows_per_s".into(),
        round(notify10 * 10.0).into(),
    );
    client
        .batch_execute("ALTER TABLE chat_messages DISABLE TRIGGER chat_messages_notify_insert")
        .await?;
    let without = pgbench(&conninfo, &single, args)?;
    figures.insert("pgbench_no_notify_tps".into(), round(without).into());
    figures.insert("pgbench_clients".into(), args.pgbench_clients.into());
    drain.abort();
    Ok(figures)
}

/// The reference: the least a durable chat INSERT does (an id, the
/// conversation, the body, the conversation's next seq from a BEFORE trigger).
const MINIMAL_SCHEMA: &str = "
    CREATE TABLE minimal_conversations (id uuid PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0);
    INSERT INTO minimal_conversations (id) SELECT id FROM conversations;
    CREATE TABLE minimal_messages (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      conversation_id uuid NOT NULL REFERENCES minimal_conversations (id),
      seq bigint NOT NULL,
      body text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (conversation_id, seq));
    CREATE FUNCTION minimal_seq() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE minimal_conversations SET last_seq = last_seq + 1 WHERE id = NEW.conversation_id
      RETURNING last_seq INTO NEW.seq;
      RETURN NEW;
    END $$;
    CREATE TRIGGER minimal_seq BEFORE INSERT ON minimal_messages
      FOR EACH ROW EXECUTE FUNCTION minimal_seq();";

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
