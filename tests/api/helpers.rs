//! The harness, zero-to-production style: `spawn_app()` gives each test its own
//! database (cloned from a migrated template) and its own server on port 0.
//!
//! The database server is `DATABASE_URL` (its maintenance database, as given)
//! when set, otherwise the shared embedded cluster under the temp folder. The
//! template is named after the schema's fingerprint, so a schema change builds a
//! new one; it is built under an advisory lock and renamed into place only when
//! complete, so concurrent test processes never see a half-migrated template.

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pgchat::auth::Role;
use pgchat::config::{AuthConfig, Config, DataDir, DatabaseConfig};
use pgchat::startup::Application;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

/// The admin connection (the server's maintenance database), resolved once per process.
static ADMIN: OnceLock<tokio_postgres::Config> = OnceLock::new();
/// The template's name, once this process has made sure it exists.
static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// Advisory lock key serializing template builds across test processes ("pgchtp").
const TEMPLATE_LOCK: i64 = 0x7067_6368_7470;

/// A running server with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    #[allow(dead_code)] // for tests that speak to the port directly (WebSocket)
    pub port: u16,
    /// `/metrics`' own port, with PGCHAT_METRICS_BIND.
    #[allow(dead_code)]
    pub metrics_port: Option<u16>,
    pub db_name: String,
    /// Connection settings of this test's database, as the server's role.
    pub db_config: tokio_postgres::Config,
    /// A connection to this test's database as the server's role (like psql: RLS does not apply).
    pub db: tokio_postgres::Client,
    /// The HS256 secret the server verifies tokens with.
    pub secret: String,
    pub http: reqwest::Client,
    admin: tokio_postgres::Config,
    pub data_dir: PathBuf,
    server: tokio::task::JoinHandle<()>,
    /// Tells the server to shut down gracefully (`stop`).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// `spawn_app` with settings changed by `configure` (say, the desk's).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        pgchat::telemetry::init("text");
    }
    let admin = admin_config().await;
    let template = TEMPLATE
        .get_or_init(|| ensure_template(admin.clone()))
        .await
        .clone();

    let db_name = format!("test_{}", Uuid::new_v4().simple());
    let client = pgchat::db::connect(&admin)
        .await
        .expect("connecting to the test database server");
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE {}",
            ident(&db_name),
            ident(&template)
        ))
        .await
        .expect("creating the test database from the template");
    drop(client);
    let mut db_config = admin.clone();
    db_config.dbname(&db_name);

    let data_dir = std::env::temp_dir().join(format!("pgchat-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).expect("creating the data folder");
    let secret = pgchat::auth::random_secret();
    let mut config = test_config(&data_dir, &secret);
    configure(&mut config);
    let app = Application::build(config, db_config.clone())
        .await
        .expect("building the application");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async {
            if stopped.await.is_err() {
                std::future::pending::<()>().await // dropped: the test ended; Drop aborts us
            }
        };
        if let Err(error) = app.run_until_stopped(shutdown).await {
            eprintln!("test server stopped: {error:#}");
        }
    });
    let db = pgchat::db::connect(&db_config)
        .await
        .expect("connecting to the test database");
    // Ready means the listener is LISTENing: a change committed before that
    // reaches subscribers only by the refill on connect, as the rows are then
    // (one event per row), and a test counting live events would miss some.
    let ready = format!("http://127.0.0.1:{port}/readyz");
    wait_for(
        "the server to be ready (its listener connected)",
        || async {
            reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        },
    )
    .await;
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_port,
        db_name,
        db_config,
        db,
        secret,
        http: reqwest::Client::new(),
        admin,
        data_dir,
        server,
        stop: Some(stop),
    }
}

/// The settings every test server starts from: its data folder, an HS256
/// secret, port 0, tests' limits. No `DATABASE_URL`: the caller passes the
/// database to `Application::build`.
pub fn test_config(data_dir: &std::path::Path, secret: &str) -> Config {
    Config {
        database: DatabaseConfig {
            database_url: None,
            data: DataDir {
                path: data_dir.to_owned(),
            },
            db_pool_size: 8,
            group_commit: true,
            send_batch_max: 50,
            send_workers: 2,
            send_queue: 2048,
        },
        auth: AuthConfig {
            jwt_secret: Some(secret.to_owned()),
            jwt_public_key: None,
            jwt_jwks: None,
            jwt_jwks_min_refresh_secs: 30,
            jwt_leeway_secs: 30,
            jwt_role_claim: "role".into(),
            jwt_role_map: Vec::new(),
            identity_secret: None,
        },
        realtime: pgchat::config::RealtimeConfig::default(),
        stomp: pgchat::config::StompConfig::default(),
        // Tests write hundreds of times as one user; tests of the limits turn them on.
        limits: pgchat::config::LimitsConfig {
            send_rate: 0,
            edit_rate: 0,
            reaction_rate: 0,
            session_open_rate: 0,
            max_open_sessions: 0,
            room_create_rate: 0,
            room_write_rate: 0,
            upload_rate: 0,
            ..Default::default()
        },
        retention: pgchat::config::RetentionConfig::default(),
        desk: pgchat::config::DeskConfig::default(),
        storage: pgchat::config::StorageConfig::default(),
        ai: pgchat::config::AiConfig::default(),
        ops: pgchat::config::OpsConfig::default(),
        bind: "127.0.0.1:0".parse().expect("a socket address"),
        max_body_bytes: 64 * 1024,
        dev: false,
        log_format: "text".into(),
    }
}

async fn admin_config() -> tokio_postgres::Config {
    if let Some(config) = ADMIN.get() {
        return config.clone();
    }
    // Starting the embedded cluster is blocking std code.
    tokio::task::spawn_blocking(|| ADMIN.get_or_init(resolve_admin).clone())
        .await
        .expect("resolving the test database server")
}

fn resolve_admin() -> tokio_postgres::Config {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            // Shared by every test process (a file lock serializes start-up) and never
            // stopped here: another process may be using it.
            let root = std::env::temp_dir().join("pgchat-test-cluster");
            let cluster = pgchat::embedded::EmbeddedPostgres::start(&root).unwrap_or_else(|e| {
                panic!("starting the embedded test cluster (or set DATABASE_URL): {e:#}")
            });
            cluster.connection_string("postgres")
        }
    };
    pgchat::db::pg_config(&url).expect("parsing the test DATABASE_URL")
}

/// Makes sure `pgchat_tpl_<fingerprint>` exists and returns its name.
async fn ensure_template(admin: tokio_postgres::Config) -> String {
    let name = format!("pgchat_tpl_{}", pgchat::db::migrate::fingerprint());
    let client = pgchat::db::connect(&admin)
        .await
        .expect("connecting to the test database server");
    client
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await
        .expect("taking the template lock");
    let built = build_template(&client, &admin, &name).await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await;
    if let Err(error) = built {
        panic!("building the template database {name}: {error:#}");
    }
    name
}

async fn build_template(
    client: &tokio_postgres::Client,
    admin: &tokio_postgres::Config,
    name: &str,
) -> anyhow::Result<()> {
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    // Leftovers of an interrupted build (we hold the lock: nobody else is building).
    let leftovers = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'pgchat\\_tplbuild\\_%'",
            &[],
        )
        .await?;
    for row in leftovers {
        let leftover: String = row.get(0);
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                ident(&leftover)
            ))
            .await?;
    }

    let building = format!("pgchat_tplbuild_{}", Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {}", ident(&building)))
        .await?;
    {
        let mut config = admin.clone();
        config.dbname(&building);
        let mut db = pgchat::db::connect(&config).await?;
        pgchat::db::migrate::run(&mut db).await?;
    }
    // The migration's connection may linger for a moment after being dropped:
    // a database with a session cannot be renamed.
    wait_for("the template build's connections to end", || async {
        client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&building],
            )
            .await
            .expect("ending the template build's connections")
            .get::<_, i64>(0)
            == 0
    })
    .await;
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            ident(&building),
            ident(name)
        ))
        .await?;
    // Nobody connects to the template, so CREATE DATABASE ... TEMPLATE never finds it busy.
    client
        .batch_execute(&format!(
            "ALTER DATABASE {0} WITH IS_TEMPLATE true; ALTER DATABASE {0} WITH ALLOW_CONNECTIONS false",
            ident(name)
        ))
        .await?;
    Ok(())
}

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        let admin = self.admin.clone();
        let name = self.db_name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: use a
        // thread with a runtime of its own.
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = pgchat::db::connect(&admin).await?;
                client
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        ident(&name)
                    ))
                    .await?;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("dropping test database {}: {error:#}", self.db_name),
            Err(_) => eprintln!("dropping test database {}: panicked", self.db_name),
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// How long `wait_for` waits for a fact before it fails the test: generous,
/// since a fact that holds is noticed at once; only a failure waits this long.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// What a `wait_for` check answers: `true` or `Some(value)` once the fact holds.
pub trait Fact {
    type Value;
    fn holds(self) -> Option<Self::Value>;
}

impl Fact for bool {
    type Value = ();
    fn holds(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Fact for Option<T> {
    type Value = T;
    fn holds(self) -> Option<T> {
        self
    }
}

/// Waits until `check` holds (`true`, or `Some` of what it found, which is
/// returned), polling; fails the test naming `what` after `PATIENCE`. Tests
/// wait on facts like this, never for a while: a sleep passes vacuously on a
/// slow machine.
pub async fn wait_for<C, F>(what: &str, check: impl FnMut() -> F) -> C::Value
where
    F: Future<Output = C>,
    C: Fact,
{
    wait_for_within(PATIENCE, what, check).await
}

/// `wait_for` with a patience of its own (for what takes long by design).
pub async fn wait_for_within<C, F>(
    patience: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> C::Value
where
    F: Future<Output = C>,
    C: Fact,
{
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = check().await.holds() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "waited {patience:?} for {what}: it did not happen"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The value of a metric line of the `/metrics` page at `base`
/// (`http://host:port`): `name` with its labels as rendered; 0 when absent.
pub async fn metric_at(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("reading /metrics");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a metric's value"))
}

/// Base64url without padding, as JWT parts are encoded.
pub fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Asserts an error answer: the status, and the JSON error body with `code`.
#[track_caller]
/// A write refused by a database rule that says why (`pgchat.refuse`):
/// SQLSTATE PC001 with the reason in DETAIL.
pub fn assert_sql_refused(
    result: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>,
    reason: &str,
) {
    let error = result.expect_err("the write should be refused");
    let db = error.as_db_error().unwrap_or_else(|| panic!("{error}"));
    assert_eq!(db.code().code(), "PC001", "{db}");
    assert_eq!(db.detail(), Some(reason), "{db}");
}

pub fn assert_error(response: &(StatusCode, Value), status: StatusCode, code: &str) {
    let (got, body) = response;
    assert_eq!(*got, status, "status of {body}");
    assert_eq!(body["error"]["code"], code, "error code in {body}");
    assert!(
        body["error"]["message"].is_string(),
        "error message in {body}"
    );
}

/// Asserts a 4xx answer with a JSON error body (never a 500 for bad input).
#[track_caller]
pub fn assert_client_error(response: &(StatusCode, Value)) {
    let (status, body) = response;
    assert!(
        status.is_client_error(),
        "expected 4xx, got {status}: {body}"
    );
    assert!(
        body["error"]["code"].is_string() && body["error"]["message"].is_string(),
        "expected a JSON error body, got {body}"
    );
}

/// Row counts of the tables a request could write (users excepted: every
/// authenticated request provisions its caller).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Counts {
    pub conversations: i64,
    pub members: i64,
    pub sessions: i64,
    pub messages: i64,
}

impl TestApp {
    /// Shuts the server down gracefully and waits until `run_until_stopped` returns.
    #[allow(dead_code)] // for the shutdown tests
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.server).await.expect("the server task");
    }

    /// A metric of this server's `/metrics` (see `metric_at`).
    pub async fn metric(&self, name: &str) -> f64 {
        metric_at(&self.address, name).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A token for `sub` with `role` (`user`, `agent` or `admin`), valid for an hour.
    pub fn token(&self, sub: &str, role: &str) -> String {
        self.mint(sub, role, None)
    }

    pub fn token_named(&self, sub: &str, role: &str, name: &str) -> String {
        self.mint(sub, role, Some(name))
    }

    fn mint(&self, sub: &str, role: &str, name: Option<&str>) -> String {
        let role: Role = role.parse().expect("a role");
        pgchat::auth::mint(&self.secret, sub, role, name, None, 3600).expect("minting a token")
    }

    /// Sends a request and returns its status and JSON body (`Null` when empty,
    /// a string when not JSON).
    pub async fn call(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("sending the request");
        let status = response.status();
        let text = response.text().await.expect("reading the response");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call(self.http.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(self.http.post(self.url(path)).bearer_auth(token).json(body))
            .await
    }

    #[allow(dead_code)]
    pub async fn patch(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(
            self.http
                .patch(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    #[allow(dead_code)]
    pub async fn delete(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call(self.http.delete(self.url(path)).bearer_auth(token))
            .await
    }

    /// Opens a support session as `customer` (a token) and returns it (asserting 201).
    pub async fn open_session(&self, customer: &str) -> Value {
        self.open_session_with(customer, "I need help", "Hello?")
            .await
    }

    pub async fn open_session_with(&self, customer: &str, subject: &str, body: &str) -> Value {
        let response = self
            .post(
                customer,
                "/v1/support/sessions",
                &json!({
                    "subject": subject,
                    "message": { "body": body, "client_msg_id": Uuid::new_v4() },
                }),
            )
            .await;
        assert_eq!(response.0, StatusCode::CREATED, "opening: {}", response.1);
        response.1
    }

    /// Sends a message as `token` and returns it (asserting 201).
    pub async fn send(&self, token: &str, conversation_id: &Value, body: &str) -> Value {
        let response = self
            .send_json(
                token,
                conversation_id,
                &json!({ "body": body, "client_msg_id": Uuid::new_v4() }),
            )
            .await;
        assert_eq!(response.0, StatusCode::CREATED, "sending: {}", response.1);
        response.1
    }

    /// POSTs `message` to the conversation's messages, whatever the answer.
    pub async fn send_json(
        &self,
        token: &str,
        conversation_id: &Value,
        message: &Value,
    ) -> (StatusCode, Value) {
        let path = format!("/v1/conversations/{}/messages", as_id(conversation_id));
        self.post(token, &path, message).await
    }

    /// The conversation's messages as `token` sees them (asserting 200).
    pub async fn messages(&self, token: &str, conversation_id: &Value, query: &str) -> Value {
        let path = format!(
            "/v1/conversations/{}/messages{query}",
            as_id(conversation_id)
        );
        let response = self.get(token, &path).await;
        assert_eq!(response.0, StatusCode::OK, "listing: {}", response.1);
        response.1
    }

    /// The session as `token` sees it (asserting 200).
    pub async fn session(&self, token: &str, session_id: &Value) -> Value {
        let path = format!("/v1/support/sessions/{}", as_id(session_id));
        let response = self.get(token, &path).await;
        assert_eq!(response.0, StatusCode::OK, "getting: {}", response.1);
        response.1
    }

    /// POSTs to `/v1/support/sessions/{id}/{action}`.
    pub async fn session_action(
        &self,
        token: &str,
        session_id: &Value,
        action: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let path = format!("/v1/support/sessions/{}/{action}", as_id(session_id));
        self.post(token, &path, body).await
    }

    /// The ids of the sessions `token` lists with `query` (one page, asserting 200).
    pub async fn session_ids(&self, token: &str, query: &str) -> Vec<String> {
        let response = self
            .get(token, &format!("/v1/support/sessions{query}"))
            .await;
        assert_eq!(response.0, StatusCode::OK, "listing: {}", response.1);
        ids(&response.1["items"])
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    pub async fn counts(&self) -> Counts {
        let row = self
            .db
            .query_one(
                "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM conversation_members),
                        (SELECT count(*) FROM live_chat_sessions), (SELECT count(*) FROM chat_messages)",
                &[],
            )
            .await
            .expect("counting rows");
        Counts {
            conversations: row.get(0),
            members: row.get(1),
            sessions: row.get(2),
            messages: row.get(3),
        }
    }

    /// Lets new connections into this test's database, or refuses them all
    /// (superusers too: `ALLOW_CONNECTIONS false`); open connections stay. A
    /// database outage for whoever must reconnect, such as the listener.
    pub async fn allow_connections(&self, allow: bool) {
        let admin = pgchat::db::connect(&self.admin)
            .await
            .expect("connecting to the maintenance database");
        let sql = format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allow}",
            self.db_name
        );
        admin.batch_execute(&sql).await.expect(&sql);
    }

    /// Ends this node's LISTEN connection (it reconnects when it can).
    pub async fn kill_listener(&self) {
        let kill = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE application_name = '{}' AND datname = current_database()",
            pgchat::realtime::listener::APPLICATION_NAME
        );
        assert_eq!(self.count(&kill).await, 1, "one listener backend per node");
    }

    /// Runs `sql` as the request role (`pgchat_user`) with the claims of `sub`
    /// and `role`, in a transaction, as the server does for a request. Commits
    /// on success; an error rolls back.
    pub async fn sql_as(
        &self,
        sub: &str,
        role: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let claims = json!({ "sub": sub, "role": role }).to_string();
        self.sql_with_claims(&claims, sql, params).await
    }

    /// Like `sql_as`, with the raw `request.jwt.claims` text ("" for none).
    pub async fn sql_with_claims(
        &self,
        claims: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let mut client = pgchat::db::connect(&self.db_config)
            .await
            .expect("connecting to the test database");
        let tx = client.transaction().await?;
        as_caller(&tx, claims).await?;
        let rows = tx.query(sql, params).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Runs `sql` as `sql_with_claims` does, and counts how often it called
    /// the PL/pgSQL function `pgchat.<function>` (PostgreSQL's own function
    /// statistics of the transaction, which is rolled back): for tests that a
    /// per-call decision is not taken per row.
    pub async fn calls_of(
        &self,
        function: &str,
        claims: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> (Vec<Row>, i64) {
        let mut client = pgchat::db::connect(&self.db_config)
            .await
            .expect("connecting to the test database");
        let tx = client.transaction().await.unwrap();
        tx.batch_execute("SET LOCAL track_functions = 'pl'")
            .await
            .unwrap();
        as_caller(&tx, claims).await.unwrap();
        let rows = tx.query(sql, params).await.unwrap();
        tx.batch_execute("RESET ROLE").await.unwrap();
        let calls: i64 = tx
            .query_one(
                "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_xact_user_functions
                  WHERE schemaname = 'pgchat' AND funcname = $1",
                &[&function],
            )
            .await
            .unwrap()
            .get(0);
        (rows, calls)
    }
}

/// Makes the rest of `tx` run as a request does: role `pgchat_user` with
/// these `request.jwt.claims` ("" for none).
async fn as_caller(
    tx: &tokio_postgres::Transaction<'_>,
    claims: &str,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "SELECT set_config('role', 'pgchat_user', true), set_config('request.jwt.claims', $1, true)",
        &[&claims],
    )
    .await
    .map(drop)
}

/// A JSON id (string) as text for a path.
pub fn as_id(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected an id string, got {value}"))
}

/// The `id`s of a JSON array of rows.
pub fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {items}"))
        .iter()
        .map(|item| as_id(&item["id"]).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::b64url;

    #[test]
    fn b64url_matches_rfc_4648_without_padding() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64url(input.as_bytes()), expected);
        }
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }
}
