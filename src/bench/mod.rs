//! `pgchat bench <scenario> --url …`: a load generator that drives a running
//! server over real WebSockets and REST, and reports latency percentiles,
//! persisted and delivered rates, errors, and the server's CPU and memory (from
//! its `/metrics`). `--pgbench` runs PostgreSQL's own pgbench on the same
//! INSERT beside it, with and without NOTIFY: the physical limit.
//!
//! Latency is send → receive: each message body carries the send time, and
//! every subscriber that receives it records now − then (one machine, one clock).

mod client;
mod pgbench;
mod report;
mod scenarios;

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;

use crate::auth::Role;
use crate::config::{AuthConfig, DataDir};

pub use report::Report;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// R conversations × S subscribers each, P publishers at a target rate.
    FanOut,
    /// Many concurrent customer/agent pairs answering each other.
    Support,
    /// Idle connections up to a count or a server memory budget; RSS per connection.
    Capacity,
    /// Raise the send rate until p99 latency passes a bound; the highest sustained rate.
    Ramp,
    /// A subscriber that missed N messages reconnects: time until caught up.
    Resume,
    /// Many subscribers that each missed messages reconnect at once.
    Storm,
}

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    pub scenario: Scenario,
    /// The server to drive.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Print the report as JSON (the last line is one JSON object).
    #[arg(long)]
    pub json: bool,
    /// Seconds of steady load (fan-out, support; each ramp step).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Conversations (fan-out, ramp).
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Subscribers per conversation (fan-out, ramp).
    #[arg(long, default_value_t = 10)]
    pub subscribers: usize,
    /// Publishing connections (fan-out, ramp); at most two per conversation.
    #[arg(long, default_value_t = 10)]
    pub publishers: usize,
    /// Target messages per second, all publishers together (0: as fast as acks allow).
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Customer/agent pairs (support).
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// Idle connections to open (capacity); subscribers that reconnect (storm).
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Stop opening connections when the server's RSS reaches this (capacity).
    #[arg(long, default_value_t = 1024)]
    pub memory_mb: u64,
    /// p99 bound for the ramp, in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub p99_bound_ms: f64,
    /// Messages missed before reconnecting (resume; per conversation in a storm).
    #[arg(long, default_value_t = 10_000)]
    pub backlog: usize,
    /// Also run pgbench on the same INSERT against this database server (a scratch database is created there).
    #[arg(long)]
    pub pgbench: bool,
    /// PostgreSQL server for --pgbench (its maintenance database).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Client concurrency of the pgbench runs.
    #[arg(long, default_value_t = 8)]
    pub pgbench_clients: u32,
    /// Where pgbench's script goes.
    #[arg(long, default_value = "target/bench")]
    pub work_dir: PathBuf,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub data: DataDir,
}

/// Runs the scenario (and pgbench beside it) and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    crate::startup::raise_fd_limit();
    let secret = args
        .auth
        .hs256_secret(&args.data.path)?
        .context("bench mints tokens: set PGCHAT_JWT_SECRET to the server's secret")?;
    let ctx = client::Context::new(&args.url, secret)?;
    let mut report = match args.scenario {
        Scenario::FanOut => scenarios::fan_out(&ctx, &args, args.rate).await?,
        Scenario::Support => scenarios::support(&ctx, &args).await?,
        Scenario::Capacity => scenarios::capacity(&ctx, &args).await?,
        Scenario::Ramp => scenarios::ramp(&ctx, &args).await?,
        Scenario::Resume => scenarios::resume(&ctx, &args).await?,
        Scenario::Storm => scenarios::storm(&ctx, &args).await?,
    };
    if args.pgbench {
        let url = args
            .database_url
            .as_deref()
            .context("--pgbench needs DATABASE_URL")?;
        report.attach_pgbench(pgbench::run(url, &args).await?);
    }
    report.print(args.json);
    Ok(())
}

pub(crate) fn role_token(ctx: &client::Context, sub: &str, role: Role) -> String {
    crate::auth::mint(&ctx.secret, sub, role, Some(sub), None, 24 * 3600).expect("minting a token")
}
