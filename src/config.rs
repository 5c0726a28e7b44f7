//! Configuration: every setting is a command-line flag with an environment
//! variable of the same meaning (README lists them with their defaults).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where pgchat keeps its files.
#[derive(clap::Args, Clone, Debug)]
pub struct DataDir {
    /// Folder for the embedded PostgreSQL cluster, local attachments and the generated JWT secret.
    #[arg(
        long = "data-dir",
        env = "PGCHAT_DATA_DIR",
        default_value = "pgchat-data"
    )]
    pub path: PathBuf,
}

/// Settings shared by every sub-command that talks to the database.
#[derive(clap::Args, Clone, Debug)]
pub struct DatabaseConfig {
    /// PostgreSQL connection string (URL or key=value). Unset: run the embedded cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    #[command(flatten)]
    pub data: DataDir,

    /// Connections in the request pool.
    #[arg(long, env = "PGCHAT_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,

    /// Group commit of concurrent sends (one transaction and one NOTIFY commit for many messages).
    #[arg(long, env = "PGCHAT_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub group_commit: bool,

    /// Most messages in one group commit.
    #[arg(long, env = "PGCHAT_SEND_BATCH_MAX", default_value_t = 50)]
    pub send_batch_max: usize,

    /// Concurrent group-commit workers (each commits its own batches).
    #[arg(long, env = "PGCHAT_SEND_WORKERS", default_value_t = 4)]
    pub send_workers: usize,

    /// Sends this node holds, queued or being committed, over all workers;
    /// past it a send is refused at once with 503 `overloaded` (Retry-After)
    /// instead of waiting.
    #[arg(long, env = "PGCHAT_SEND_QUEUE", default_value_t = 2048)]
    pub send_queue: usize,
}

/// How tokens are verified and minted.
#[derive(clap::Args, Clone, Debug)]
pub struct AuthConfig {
    /// HS256 shared secret. Unset: a random secret is generated once and kept in
    /// `<data dir>/jwt-secret`, which `pgchat token` also reads.
    #[arg(long, env = "PGCHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM public key (RSA or EC) for RS256/ES256 tokens from an outside issuer.
    /// When set, HS256 is accepted only if PGCHAT_JWT_SECRET is also set.
    #[arg(long, env = "PGCHAT_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// JWKS (a file, or an `http(s)://` URL read at start-up) of an outside issuer's
    /// public keys (RS256, ES256, EdDSA; chosen by the token's `kid`), e.g. Supabase
    /// Auth's `/auth/v1/.well-known/jwks.json`. Like PGCHAT_JWT_PUBLIC_KEY, HS256 is
    /// then accepted only if PGCHAT_JWT_SECRET is also set.
    #[arg(long, env = "PGCHAT_JWT_JWKS")]
    pub jwt_jwks: Option<String>,

    /// A JWKS URL is fetched again when a token names a key id it lacks (the
    /// issuer rotated its keys): at most once per this many seconds, since
    /// anyone can make up a key id.
    #[arg(long, env = "PGCHAT_JWT_JWKS_MIN_REFRESH_SECS", default_value_t = 30)]
    pub jwt_jwks_min_refresh_secs: u64,

    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    #[arg(long, env = "PGCHAT_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// The claim naming the caller's pgchat role, as a dotted path (`role`,
    /// `app_metadata.role`). Absent from a token: the caller is a `user`.
    #[arg(long, env = "PGCHAT_JWT_ROLE_CLAIM", default_value = "role")]
    pub jwt_role_claim: String,

    /// Extra `claim value=role` pairs (comma-separated, e.g. `support=agent,owner=admin`)
    /// added to the built-in `user`, `agent`, `admin` and `authenticated=user`. Other
    /// values (Supabase's `anon`, `service_role`) are refused.
    #[arg(long, env = "PGCHAT_JWT_ROLE_MAP", value_delimiter = ',')]
    pub jwt_role_map: Vec<String>,

    /// The host site's identity secret: the widget signs a customer in with
    /// their host user id and its HMAC-SHA256 under this secret
    /// (`POST /v1/widget/token`), and the contact is verified. Unset (or
    /// empty): that sign-in is off, and the widget's `identify` is unverified.
    #[arg(long, env = "PGCHAT_IDENTITY_SECRET", hide_env_values = true)]
    pub identity_secret: Option<String>,
}

impl AuthConfig {
    /// The HS256 secret: configured, or generated once into the data folder.
    pub fn hs256_secret(&self, data_dir: &Path) -> anyhow::Result<Option<String>> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(Some(secret.clone()));
        }
        if self.jwt_public_key.is_some() || self.jwt_jwks.is_some() {
            return Ok(None);
        }
        let path = data_dir.join("jwt-secret");
        if let Ok(secret) = std::fs::read_to_string(&path) {
            return Ok(Some(secret.trim().to_owned()));
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data folder {}", data_dir.display()))?;
        let secret = crate::auth::random_secret();
        write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
        Ok(Some(secret))
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

/// Everything `pgchat serve` needs.
#[derive(clap::Args, Clone, Debug)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub realtime: RealtimeConfig,

    #[command(flatten)]
    pub stomp: StompConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,

    #[command(flatten)]
    pub retention: RetentionConfig,

    #[command(flatten)]
    pub desk: DeskConfig,

    #[command(flatten)]
    pub storage: StorageConfig,

    #[command(flatten)]
    pub ai: AiConfig,

    #[command(flatten)]
    pub ops: OpsConfig,

    /// Address the HTTP/WebSocket server listens on.
    #[arg(long, env = "PGCHAT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "PGCHAT_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Enable development helpers (the sign-in page that mints tokens). Never in production.
    #[arg(long, env = "PGCHAT_DEV", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub dev: bool,

    /// Log format: `text` or `json`.
    #[arg(long, env = "PGCHAT_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

/// Limits and timings of the realtime gateway.
#[derive(clap::Args, Clone, Debug)]
pub struct RealtimeConfig {
    /// Frames queued per connection before it counts as too slow and is closed (code 4008).
    #[arg(long, env = "PGCHAT_WS_QUEUE", default_value_t = 1024)]
    pub ws_queue: usize,

    /// Topics one connection may subscribe to.
    #[arg(long, env = "PGCHAT_WS_MAX_SUBSCRIPTIONS", default_value_t = 100)]
    pub ws_max_subscriptions: usize,

    /// Largest accepted client frame, in bytes (larger: close code 1009).
    #[arg(long, env = "PGCHAT_WS_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_frame_bytes: usize,

    /// Seconds between server pings; a client silent for two intervals is closed.
    #[arg(long, env = "PGCHAT_WS_HEARTBEAT_SECS", default_value_t = 25)]
    pub ws_heartbeat_secs: u64,

    /// Seconds a node's presence rows live without its heartbeat (a dead node's users go offline after this).
    #[arg(long, env = "PGCHAT_PRESENCE_TTL_SECS", default_value_t = 30)]
    pub presence_ttl_secs: u64,

    /// Seconds a typing indicator lasts after the last typing_start.
    #[arg(long, env = "PGCHAT_TYPING_TTL_SECS", default_value_t = 3)]
    pub typing_ttl_secs: u64,

    // ── session core (realtime::session) ────────────────────────────────
    /// Milliseconds one write to a subscriber (WebSocket or SSE) may wait for
    /// the peer to read; past it the consumer counts as stopped and is evicted
    /// (WebSocket close 4008, end of an SSE stream) to resume by cursor.
    #[arg(long, env = "PGCHAT_WRITE_TIMEOUT_MS", default_value_t = 10_000)]
    pub write_timeout_ms: u64,
}

impl Default for RealtimeConfig {
    /// The documented defaults (taken from the flags' own, so they cannot drift).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            realtime: RealtimeConfig,
        }
        <Defaults as clap::Parser>::parse_from(["pgchat"]).realtime
    }
}

/// STOMP over WebSocket and SockJS (`compat::stomp`, `compat::sockjs`).
#[derive(clap::Args, Clone, Debug)]
pub struct StompConfig {
    /// Path of the STOMP endpoint: a STOMP WebSocket at the path (and at
    /// `{path}/websocket`), SockJS under it (`{path}/info`, …).
    #[arg(long, env = "PGCHAT_STOMP_PATH", default_value = "/ws", value_parser = crate::compat::stomp::parse_path)]
    pub stomp_path: String,

    /// Milliseconds of the STOMP heart-beats the server offers (both ways; 0: none).
    /// A client asking for slower ones gets those.
    #[arg(long, env = "PGCHAT_STOMP_HEARTBEAT_MS", default_value_t = 10_000)]
    pub stomp_heartbeat_ms: u64,

    /// SockJS sessions of the xhr transports one node keeps at most (then 503).
    #[arg(long, env = "PGCHAT_SOCKJS_MAX_SESSIONS", default_value_t = 10_000)]
    pub sockjs_max_sessions: usize,
}

impl Default for StompConfig {
    /// The documented defaults (taken from the flags' own).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            stomp: StompConfig,
        }
        <Defaults as clap::Parser>::parse_from(["pgchat"]).stomp
    }
}

/// How sessions are given to agents automatically.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignmentMode {
    /// Nothing is assigned automatically: agents claim, admins assign.
    Manual,
    /// Agents take turns (the one whose last assignment is oldest), whatever their load.
    #[value(name = "round-robin", alias = "round_robin")]
    RoundRobin,
    /// The agent with the fewest active sessions (ties: the longest without an assignment).
    #[value(name = "least-loaded", alias = "least_loaded")]
    LeastLoaded,
}

impl AssignmentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::RoundRobin => "round-robin",
            Self::LeastLoaded => "least-loaded",
        }
    }
}

/// The support desk: assignment, timeouts, SLA, offline notifications.
#[derive(clap::Args, Clone, Debug)]
pub struct DeskConfig {
    /// How waiting sessions are given to online agents with free capacity.
    #[arg(long, env = "PGCHAT_ASSIGNMENT_MODE", value_enum, default_value_t = AssignmentMode::LeastLoaded)]
    pub assignment_mode: AssignmentMode,

    /// Seconds without a message after which a session is ended (0: never).
    #[arg(long, env = "PGCHAT_INACTIVITY_TIMEOUT_SECS", default_value_t = 1800)]
    pub inactivity_timeout_secs: u64,

    /// Seconds after a resolution during which the customer's message reopens
    /// the session (0: never; they open a new one).
    #[arg(long, env = "PGCHAT_REOPEN_WINDOW_SECS", default_value_t = 604_800)]
    pub reopen_window_secs: u64,

    /// First-response target in seconds; later answers count as SLA breaches (0: no target).
    #[arg(long, env = "PGCHAT_SLA_FIRST_RESPONSE_SECS", default_value_t = 120)]
    pub sla_first_response_secs: u64,

    /// Seconds an escalated session may wait for a staff answer, for teams
    /// without a deadline of their own (0: no escalation deadline).
    #[arg(long, env = "PGCHAT_ESCALATION_SLA_SECS", default_value_t = 3600)]
    pub escalation_sla_secs: u64,

    /// Where offline notifications are POSTed. Unset: no notifications are queued.
    #[arg(long, env = "PGCHAT_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Key of the HMAC-SHA256 signature header of webhook deliveries.
    #[arg(long, env = "PGCHAT_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Delivery attempts before a notification becomes a dead letter.
    #[arg(long, env = "PGCHAT_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
    pub webhook_max_attempts: u32,

    /// Delay before the first retry, in milliseconds; it doubles with each attempt (at most an hour).
    #[arg(long, env = "PGCHAT_WEBHOOK_RETRY_BASE_MS", default_value_t = 2000)]
    pub webhook_retry_base_ms: u64,

    /// Seconds one webhook request may take.
    #[arg(long, env = "PGCHAT_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,

    #[command(flatten)]
    pub email: EmailConfig,
}

/// Email notifications over SMTP: off unless `PGCHAT_SMTP_URL` is set, and
/// then `PGCHAT_EMAIL_FROM` and `PGCHAT_PUBLIC_URL` are needed too.
#[derive(clap::Args, Clone, Debug)]
pub struct EmailConfig {
    /// The SMTP server: `smtp://host:port` (plain; `?tls=required` for
    /// STARTTLS), `smtps://user:pass@host:port` (TLS from the start).
    #[arg(long, env = "PGCHAT_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of every email: `desk@example.com` or `Support <desk@example.com>`.
    #[arg(long, env = "PGCHAT_EMAIL_FROM")]
    pub email_from: Option<String>,

    /// The address recipients reach this server at (`https://chat.example.com`),
    /// for the unsubscribe link of every email.
    #[arg(long, env = "PGCHAT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Sending attempts before an email becomes a dead letter.
    #[arg(long, env = "PGCHAT_EMAIL_MAX_ATTEMPTS", default_value_t = 8)]
    pub email_max_attempts: u32,

    /// Delay before the first retry, in milliseconds; it doubles with each attempt (at most an hour).
    #[arg(long, env = "PGCHAT_EMAIL_RETRY_BASE_MS", default_value_t = 30_000)]
    pub email_retry_base_ms: u64,

    /// Seconds one SMTP conversation may take.
    #[arg(long, env = "PGCHAT_EMAIL_TIMEOUT_SECS", default_value_t = 30)]
    pub email_timeout_secs: u64,
}

impl Default for DeskConfig {
    /// The documented defaults (taken from the flags' own, so they cannot drift).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            desk: DeskConfig,
        }
        <Defaults as clap::Parser>::parse_from(["pgchat"]).desk
    }
}

/// The retention job (rooms with `retention_days` lose older messages).
#[derive(clap::Args, Clone, Debug)]
pub struct RetentionConfig {
    /// Seconds between two runs of the retention purge on this node (0: never).
    /// Several nodes may run it at once; they share the work.
    #[arg(long, env = "PGCHAT_RETENTION_INTERVAL_SECS", default_value_t = 300)]
    pub retention_interval_secs: u64,
}

impl Default for RetentionConfig {
    /// The documented defaults (taken from the flags' own, so they cannot drift).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            retention: RetentionConfig,
        }
        <Defaults as clap::Parser>::parse_from(["pgchat"]).retention
    }
}

/// Per-user and per-address limits against floods.
#[derive(clap::Args, Clone, Debug)]
pub struct LimitsConfig {
    /// Messages a user may send per second, over REST and WebSocket together (0: no limit).
    #[arg(long, env = "PGCHAT_SEND_RATE", default_value_t = 20)]
    pub send_rate: u32,

    /// Messages a user may send in a burst above the rate.
    #[arg(long, env = "PGCHAT_SEND_BURST", default_value_t = 40)]
    pub send_burst: u32,

    /// Typing and presence announcements a user may make per second over all
    /// their sockets, in bursts of twice that (0: no limit). Each is a NOTIFY
    /// every node hears; past the limit `typing_start` and `set_presence` get
    /// an `error` frame `rate_limited` with `retry_after`.
    #[arg(long, env = "PGCHAT_EPHEMERAL_RATE", default_value_t = 10)]
    pub ephemeral_rate: u32,

    /// Open realtime connections per user — WebSockets, SSE streams and long
    /// polls alike (0: no limit).
    #[arg(long, env = "PGCHAT_WS_MAX_PER_USER", default_value_t = 20)]
    pub ws_max_per_user: usize,

    /// Open realtime connections (all transports) per client address (0: no limit). Behind a proxy every
    /// client has the proxy's address: raise this or limit at the proxy.
    #[arg(long, env = "PGCHAT_WS_MAX_PER_IP", default_value_t = 5000)]
    pub ws_max_per_ip: usize,

    /// Seconds a client has to send a request's headers (also: how long an idle
    /// keep-alive connection stays open); slower connections are closed.
    #[arg(long, env = "PGCHAT_HEADER_READ_TIMEOUT_SECS", default_value_t = 15)]
    pub header_read_timeout_secs: u64,

    // ── writes per user per minute (0: no limit; a minute's worth at once) ──
    /// Edits, deletes and pins of messages.
    #[arg(long, env = "PGCHAT_EDIT_RATE", default_value_t = 120)]
    pub edit_rate: u32,
    /// Reactions added or taken back.
    #[arg(long, env = "PGCHAT_REACTION_RATE", default_value_t = 240)]
    pub reaction_rate: u32,
    /// Support sessions a customer opens.
    #[arg(long, env = "PGCHAT_SESSION_OPEN_RATE", default_value_t = 10)]
    pub session_open_rate: u32,
    /// Waiting or active support sessions a customer may have at once (0: no cap).
    #[arg(long, env = "PGCHAT_MAX_OPEN_SESSIONS", default_value_t = 5)]
    pub max_open_sessions: u32,
    /// Rooms and direct conversations created.
    #[arg(long, env = "PGCHAT_ROOM_CREATE_RATE", default_value_t = 30)]
    pub room_create_rate: u32,
    /// Other room and conversation writes: settings, joins, leaves, invites,
    /// members' roles and bans, flags, delete-for-me, delivered cursors.
    #[arg(long, env = "PGCHAT_ROOM_WRITE_RATE", default_value_t = 300)]
    pub room_write_rate: u32,
    /// Uploads declared.
    #[arg(long, env = "PGCHAT_UPLOAD_RATE", default_value_t = 60)]
    pub upload_rate: u32,
    // ── what one request's SQL may cost ──
    /// Milliseconds one statement of a request may run before PostgreSQL
    /// cancels it (`503 timeout`); 0: no limit.
    #[arg(long, env = "PGCHAT_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub statement_timeout_ms: u64,
    /// Words a search query may have (more: `422 query_too_complex`; 0: no bound).
    #[arg(long, env = "PGCHAT_SEARCH_MAX_TERMS", default_value_t = 8)]
    pub search_max_terms: usize,
}

impl Default for LimitsConfig {
    /// The documented defaults (taken from the flags' own).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            limits: LimitsConfig,
        }
        <Defaults as clap::Parser>::parse_from(["pgchat"]).limits
    }
}

/// Where attachments are kept.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageKind {
    /// The local filesystem, under `<data dir>/attachments`.
    Fs,
    /// An S3 bucket (AWS or an S3-compatible store).
    S3,
}

/// Attachments: the blob store and the upload rules.
#[derive(clap::Args, Clone, Debug)]
pub struct StorageConfig {
    /// Where attachments are kept: `fs` (the data folder) or `s3`.
    #[arg(long, env = "PGCHAT_STORAGE", value_enum, default_value_t = StorageKind::Fs)]
    pub storage: StorageKind,

    /// The S3 bucket (required with PGCHAT_STORAGE=s3).
    #[arg(long, env = "PGCHAT_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// The S3 region. Unset: the AWS configuration chain (AWS_REGION, profile), else us-east-1.
    #[arg(long, env = "PGCHAT_S3_REGION")]
    pub s3_region: Option<String>,

    /// Endpoint of an S3-compatible store (MinIO, …). Unset: AWS.
    #[arg(long, env = "PGCHAT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Endpoint put in presigned URLs, when clients reach the store at another address than
    /// pgchat does (e.g. `http://minio:9000` inside Docker, `https://files.example.com` outside).
    #[arg(long, env = "PGCHAT_S3_PUBLIC_ENDPOINT")]
    pub s3_public_endpoint: Option<String>,

    /// Path-style addressing (`endpoint/bucket/key`). Unset: on when an endpoint is given.
    #[arg(long, env = "PGCHAT_S3_PATH_STYLE", value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_path_style: Option<bool>,

    /// Access key id. Unset: the AWS credential chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity, instance role).
    #[arg(long, env = "PGCHAT_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,

    /// Secret access key, with PGCHAT_S3_ACCESS_KEY_ID.
    #[arg(long, env = "PGCHAT_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// Create the bucket at start-up when it does not exist.
    #[arg(long, env = "PGCHAT_S3_CREATE_BUCKET", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_create_bucket: bool,

    /// Hand out presigned PUT URLs so clients upload straight to S3 (uploads through the server work either way).
    #[arg(long, env = "PGCHAT_S3_PRESIGNED_UPLOADS", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_presigned_uploads: bool,

    /// Largest attachment, in bytes, unless a conversation sets its own `max_upload_bytes`.
    #[arg(long, env = "PGCHAT_UPLOAD_MAX_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub upload_max_bytes: u64,

    /// MIME types accepted for attachments (comma-separated; each must be one whose content pgchat recognizes).
    #[arg(
        long,
        env = "PGCHAT_UPLOAD_MIME_TYPES",
        value_delimiter = ',',
        default_value = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,audio/mpeg,audio/ogg,audio/wav,video/mp4,video/webm,application/zip"
    )]
    pub upload_mime_types: Vec<String>,

    /// Seconds a presigned download URL (the redirect of GET /v1/attachments/{id}) stays valid.
    #[arg(long, env = "PGCHAT_DOWNLOAD_URL_TTL_SECS", default_value_t = 3600)]
    pub download_url_ttl_secs: u64,

    /// Seconds a presigned upload URL stays valid.
    #[arg(long, env = "PGCHAT_UPLOAD_URL_TTL_SECS", default_value_t = 900)]
    pub upload_url_ttl_secs: u64,

    /// Hours after which an upload never completed is deleted (0: never).
    #[arg(long, env = "PGCHAT_UPLOAD_PENDING_TTL_HOURS", default_value_t = 24)]
    pub upload_pending_ttl_hours: u64,
}

impl Default for StorageConfig {
    /// The documented defaults (taken from the flags' own, so they cannot drift).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            storage: StorageConfig,
        }
        <Defaults as clap::Parser>::parse_from(["pgchat"]).storage
    }
}

/// The AI assistant: providers, limits, where it answers.
#[derive(clap::Args, Clone, Debug)]
pub struct AiConfig {
    /// Base URL of an OpenAI-compatible chat-completions API (e.g. `https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1`). Unset: only the offline provider answers.
    #[arg(long, env = "PGCHAT_AI_BASE_URL")]
    pub ai_base_url: Option<String>,

    /// Model name sent to that API.
    #[arg(long, env = "PGCHAT_AI_MODEL", default_value = "gpt-4o-mini")]
    pub ai_model: String,

    /// Bearer token for that API.
    #[arg(long, env = "PGCHAT_AI_API_KEY", hide_env_values = true)]
    pub ai_api_key: Option<String>,

    /// A second OpenAI-compatible API, tried when the first fails.
    #[arg(long, env = "PGCHAT_AI_FALLBACK_BASE_URL")]
    pub ai_fallback_base_url: Option<String>,

    /// Model name for the fallback API (default: PGCHAT_AI_MODEL).
    #[arg(long, env = "PGCHAT_AI_FALLBACK_MODEL")]
    pub ai_fallback_model: Option<String>,

    /// Bearer token for the fallback API.
    #[arg(long, env = "PGCHAT_AI_FALLBACK_API_KEY", hide_env_values = true)]
    pub ai_fallback_api_key: Option<String>,

    /// End the chain with the built-in offline provider (FAQ lookup, extractive answers and summaries).
    #[arg(long, env = "PGCHAT_AI_OFFLINE", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub ai_offline: bool,

    /// Milliseconds one API provider may take for an answer, retries included.
    #[arg(long, env = "PGCHAT_AI_TIMEOUT_MS", default_value_t = 20_000)]
    pub ai_timeout_ms: u64,

    /// Retries of a failed API call (timeouts, 429, 5xx) within that time.
    #[arg(long, env = "PGCHAT_AI_RETRIES", default_value_t = 2)]
    pub ai_retries: u32,

    /// Most tokens in an answer (`max_tokens`).
    #[arg(long, env = "PGCHAT_AI_MAX_TOKENS", default_value_t = 512)]
    pub ai_max_tokens: u32,

    /// Answers per user per window (questions, mentions and summaries).
    #[arg(long, env = "PGCHAT_AI_RATE_LIMIT", default_value_t = 10)]
    pub ai_rate_limit: u32,

    /// The rate limit's window, in seconds.
    #[arg(long, env = "PGCHAT_AI_RATE_WINDOW_SECS", default_value_t = 60)]
    pub ai_rate_window_secs: u32,

    /// Most recent messages given to the model as context.
    #[arg(long, env = "PGCHAT_AI_CONTEXT_MESSAGES", default_value_t = 30)]
    pub ai_context_messages: u32,

    /// Most characters of context given to the model (newest messages kept).
    #[arg(long, env = "PGCHAT_AI_CONTEXT_CHARS", default_value_t = 8000)]
    pub ai_context_chars: usize,

    /// Answer @ai in support conversations (a conversation's own `enable_ai` setting wins).
    #[arg(long, env = "PGCHAT_AI_SUPPORT", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub ai_support: bool,

    /// Give a new support session a first answer when no agent is online.
    #[arg(long, env = "PGCHAT_AI_FIRST_RESPONSE", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub ai_first_response: bool,

    /// Phrases that call the assistant at the start of a message (comma-separated, any case).
    #[arg(long, env = "PGCHAT_AI_TRIGGERS", value_delimiter = ',', default_value = "@ai,@assistant",
          value_parser = trigger_phrase)]
    pub ai_triggers: Vec<String>,

    /// Phrases that ask for a translation at the start of a message: `Translate to de: text`,
    /// or `Translate` alone in reply to a message (comma-separated, any case).
    #[arg(long, env = "PGCHAT_AI_TRANSLATE_TRIGGERS", value_delimiter = ',', default_value = "translate",
          value_parser = trigger_phrase)]
    pub ai_translate_triggers: Vec<String>,

    /// Ask the API for log-probabilities (`logprobs`) and give answers a confidence from them.
    /// Off by default: not every OpenAI-compatible server accepts the parameter.
    #[arg(long, env = "PGCHAT_AI_LOGPROBS", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub ai_logprobs: bool,

    /// Also check messages the content filter checks (a room's or the desk's moderation mode is
    /// not `off`) with the provider chain's moderation check, after they are stored; its verdict
    /// applies the mode (see docs/api.md, "The model check").
    #[arg(long, env = "PGCHAT_AI_MODERATION", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub ai_moderation: bool,

    /// The model of an API's moderation check (`POST {base}/moderations`).
    #[arg(
        long,
        env = "PGCHAT_AI_MODERATION_MODEL",
        default_value = "omni-moderation-latest"
    )]
    pub ai_moderation_model: String,

    /// Who scores customers' sentiment for agents and reports: `offline` (a lexicon in the
    /// database) or `model` (the API providers, asked when an agent looks; cached per message;
    /// the offline score stands in for whatever the model did not score).
    #[arg(long, env = "PGCHAT_AI_SENTIMENT", value_enum, default_value_t = SentimentScorer::Offline)]
    pub ai_sentiment: SentimentScorer,
}

/// Who scores sentiment (`PGCHAT_AI_SENTIMENT`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentimentScorer {
    /// The lexicon in `sql/76_sentiment.sql`.
    Offline,
    /// The API providers of the chain, the lexicon where they give no score.
    Model,
}

/// A trigger phrase: 1 to 40 characters, no control characters, no comma.
fn trigger_phrase(value: &str) -> Result<String, String> {
    let phrase = value.trim();
    if phrase.is_empty() || phrase.chars().count() > 40 || phrase.chars().any(char::is_control) {
        return Err(format!(
            "a trigger phrase has 1 to 40 characters and no control characters, got {value:?}"
        ));
    }
    Ok(phrase.to_owned())
}

impl Default for AiConfig {
    /// The documented defaults (taken from the flags' own, so they cannot drift).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            ai: AiConfig,
        }
        <Defaults as clap::Parser>::parse_from(["pgchat"]).ai
    }
}

/// Running in production: metrics' exposure, the proxies in front, the
/// database's capacity for every node.
#[derive(clap::Args, Clone, Debug)]
pub struct OpsConfig {
    /// Serve `/metrics` on this address only (say, a private interface) instead of PGCHAT_BIND.
    #[arg(long, env = "PGCHAT_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Require `Authorization: Bearer <token>` on `/metrics`.
    #[arg(long, env = "PGCHAT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Load balancers whose `X-Forwarded-For` is believed (comma-separated addresses or
    /// CIDR blocks, e.g. `10.0.0.0/8,127.0.0.1`); per-address limits then count the client
    /// behind them. Unset: the peer's address counts, and `X-Forwarded-For` is ignored.
    #[arg(long, env = "PGCHAT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::client_addr::IpBlock::parse)]
    pub trusted_proxies: Vec<crate::client_addr::IpBlock>,

    /// pgchat nodes expected to share the database: the start-up check warns when
    /// PostgreSQL's `max_connections` cannot hold all their pools.
    #[arg(long, env = "PGCHAT_EXPECTED_NODES", default_value_t = 1)]
    pub expected_nodes: usize,

    /// Seconds between checks for a table that outgrew its planner statistics (its
    /// live rows more than doubled since they were taken, as on a fresh database
    /// under load): it is analyzed, so that cached plans are made again for its
    /// size. 0: never (leave it to autovacuum).
    #[arg(long, env = "PGCHAT_STATS_CHECK_SECS", default_value_t = 2)]
    pub stats_check_secs: u64,
}

impl Default for OpsConfig {
    /// The documented defaults (taken from the flags' own, so they cannot drift).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            ops: OpsConfig,
        }
        <Defaults as clap::Parser>::parse_from(["pgchat"]).ops
    }
}
