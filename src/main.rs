//! The `pgchat` binary: parses the command line and calls into the library.

use clap::{Parser, Subcommand};
use pgchat::auth::{self, Role};
use pgchat::config::{AuthConfig, Config, DataDir, DatabaseConfig};
use pgchat::startup::{shutdown_signal, Application, Database};

#[derive(Parser)]
#[command(
    name = "pgchat",
    version,
    about = "Realtime chat and support-desk backend on PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate and serve HTTP/WebSocket (embedded PostgreSQL unless DATABASE_URL is set).
    Serve(Box<Config>),
    /// Apply migrations/, sql/ and policies/ and exit.
    Migrate(DatabaseConfig),
    /// Print a signed token for development and tests.
    Token(TokenArgs),
    /// Drive a running server with load and report what it sustains (BENCHMARKS.md).
    Bench(Box<pgchat::bench::BenchArgs>),
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The user id (`sub` claim).
    #[arg(long)]
    sub: String,
    /// user, agent or admin.
    #[arg(long, default_value = "user")]
    role: Role,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: i64,
    #[command(flatten)]
    auth: AuthConfig,
    #[command(flatten)]
    data: DataDir,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            pgchat::telemetry::init(&config.log_format);
            pgchat::startup::raise_fd_limit();
            let database = Database::open(&config.database).await?;
            let served = async {
                database.migrate().await?;
                let app = Application::build(*config, database.config.clone()).await?;
                app.run_until_stopped(shutdown_signal()).await
            }
            .await;
            database.close();
            served
        }
        Command::Migrate(config) => {
            pgchat::telemetry::init("text");
            let database = Database::open(&config).await?;
            let migrated = database.migrate().await;
            database.close();
            migrated?;
            println!("migrated");
            Ok(())
        }
        Command::Bench(args) => pgchat::bench::run(*args).await,
        Command::Token(args) => {
            let secret = args
                .auth
                .hs256_secret(&args.data.path)?
                .ok_or_else(|| anyhow::anyhow!("no HS256 secret: set PGCHAT_JWT_SECRET"))?;
            let token = auth::mint(
                &secret,
                &args.sub,
                args.role,
                args.name.as_deref(),
                args.email.as_deref(),
                args.ttl,
            )?;
            println!("{token}");
            Ok(())
        }
    }
}
