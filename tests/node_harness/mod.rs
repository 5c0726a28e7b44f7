//! Runs a folder of node tests (`node --test`) against a real `pgchat serve`:
//! the browser tests and the outside-protocol client tests share it. Each suite
//! gets a fresh database and its own server process; `npm ci` installs the
//! folder's pinned packages when they are missing. A missing node fails the
//! test: it never skips.
//!
//! The database server is `DATABASE_URL` when set, otherwise the embedded test
//! cluster the API tests share (`$TMPDIR/pgchat-test-cluster`). `TEST_LOG=1`
//! shows the server's log. `PGCHAT_NODE_TESTS=word` runs only the test files
//! whose name holds `word`.
//!
//! A node test may start servers of its own on the suite's database (a second
//! node, or one it stops and starts again): `PGCHAT_SERVE` tells it how, as
//! JSON `{program, cwd, env}` — the command this harness runs, so every server
//! of a suite has the same settings (`serve()` in `tests/node_common.mjs`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::config::Host;
use uuid::Uuid;

/// One node test folder under `tests/` and how to run it.
pub struct Suite<'a> {
    /// Folder under `tests/` holding `package.json` and `tests/*.test.js`.
    pub folder: &'a str,
    /// A package whose presence in `node_modules` means `npm ci` already ran.
    pub installed_marker: &'a str,
    /// Extra environment for the server (`PGCHAT_*` settings of the suite).
    pub server_env: Vec<(&'a str, String)>,
    /// Extra environment for the node processes.
    pub node_env: Vec<(&'a str, String)>,
}

impl Suite<'_> {
    /// Starts a server on a fresh database and runs every `*.test.js` of the
    /// folder, one file at a time; panics listing the files that failed.
    pub fn run(&self) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let project = root.join("tests").join(self.folder);
        let node = command_output("node", &["--version"])
            .expect("the node client tests need node (apt-get install nodejs npm)");
        eprintln!("{}: node {node}", self.folder);
        install_packages(&project, self.installed_marker);

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let database = runtime.block_on(TestDatabase::create());
        let serve = Serve::new(&database.url, &root, &self.server_env);
        let server = Server::start(&serve);
        runtime.block_on(server.wait_ready());

        // One file at a time (a browser scenario runs two or three contexts on a
        // small machine); node before 20.10 has no --test-concurrency.
        // PGCHAT_NODE_TESTS=word runs only the files whose name holds it.
        let only = std::env::var("PGCHAT_NODE_TESTS")
            .ok()
            .filter(|w| !w.is_empty());
        let runs: Vec<Vec<String>> = if let Some(word) = only {
            let files: Vec<String> = test_files(&project)
                .into_iter()
                .filter(|f| f.contains(&word))
                .collect();
            assert!(
                !files.is_empty(),
                "no test file matches PGCHAT_NODE_TESTS={word}"
            );
            vec![[vec!["--test-concurrency=1".to_owned()], files].concat()]
        } else if node_version(&node) >= (20, 10) {
            vec![vec!["--test-concurrency=1".into(), "tests/".into()]]
        } else {
            test_files(&project).into_iter().map(|f| vec![f]).collect()
        };
        let mut failed = Vec::new();
        for args in runs {
            let status = Command::new("node")
                .arg("--test")
                .args(&args)
                .current_dir(&project)
                .env("PGCHAT_URL", &server.url)
                .env("PGCHAT_DATABASE_URL", &database.url)
                .env("PGCHAT_SERVE", serve.to_json())
                .envs(self.node_env.iter().map(|(k, v)| (k, v)))
                .status()
                .expect("running node --test");
            if !status.success() {
                failed.push(format!("{} ({status})", args.join(" ")));
            }
        }
        drop(server);
        runtime.block_on(database.drop());
        assert!(
            failed.is_empty(),
            "{} tests failed: {failed:?}",
            self.folder
        );
    }
}

/// `v20.20.2` → (20, 20).
fn node_version(version: &str) -> (u32, u32) {
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn test_files(project: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(project.join("tests"))
        .expect("the suite's tests/ folder")
        .filter_map(|e| e.ok())
        .map(|e| format!("tests/{}", e.file_name().to_string_lossy()))
        .filter(|f| f.ends_with(".test.js"))
        .collect();
    files.sort();
    files
}

/// `npm ci` when the folder's packages are not installed yet (never a browser
/// download: the browser tests drive the system's chromium).
fn install_packages(project: &Path, marker: &str) {
    if project
        .join("node_modules")
        .join(marker)
        .join("package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(project)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status()
        .expect("the node client tests need npm");
    assert!(status.success(), "npm ci in {} failed", project.display());
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A fresh, empty database; the server migrates it on start.
struct TestDatabase {
    admin: tokio_postgres::Config,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create() -> Self {
        let admin = tokio::task::spawn_blocking(admin_config)
            .await
            .expect("resolving the database server");
        let name = format!("node_{}", Uuid::new_v4().simple());
        let client = pgchat::db::connect(&admin)
            .await
            .expect("connecting to the test database server");
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("creating the test database");
        let url = key_value(&admin, &name);
        Self { admin, name, url }
    }

    async fn drop(self) {
        if let Ok(client) = pgchat::db::connect(&self.admin).await {
            let _ = client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

fn admin_config() -> tokio_postgres::Config {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            let root = std::env::temp_dir().join("pgchat-test-cluster");
            pgchat::embedded::EmbeddedPostgres::start(&root)
                .unwrap_or_else(|e| panic!("starting the embedded test cluster: {e:#}"))
                .connection_string("postgres")
        }
    };
    pgchat::db::pg_config(&url).expect("parsing DATABASE_URL")
}

/// The admin connection's settings pointed at `dbname`, as a key=value string.
fn key_value(config: &tokio_postgres::Config, dbname: &str) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = Vec::new();
    if let Some(host) = config.get_hosts().first() {
        let host = match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        };
        parts.push(format!("host={}", quote(&host)));
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!(
            "password={}",
            quote(&String::from_utf8_lossy(password))
        ));
    }
    parts.push(format!("dbname={}", quote(dbname)));
    parts.join(" ")
}

/// How the suite's servers run: `pgchat serve` in the project folder with
/// these settings (each server adds its own `PGCHAT_BIND` and `PGCHAT_DATA_DIR`).
struct Serve {
    cwd: PathBuf,
    env: Vec<(String, String)>,
}

impl Serve {
    fn new(database_url: &str, root: &Path, extra: &[(&str, String)]) -> Self {
        let verbose = std::env::var_os("TEST_LOG").is_some();
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url.into()),
            ("PGCHAT_DEV".into(), "1".into()),
            ("PGCHAT_JWT_SECRET".into(), pgchat::auth::random_secret()),
            (
                "RUST_LOG".into(),
                if verbose { "info" } else { "error" }.into(),
            ),
        ];
        for (key, value) in extra {
            env.retain(|(k, _)| k != key);
            env.push((key.to_string(), value.clone()));
        }
        Self {
            cwd: root.to_owned(),
            env,
        }
    }

    fn to_json(&self) -> String {
        let env: serde_json::Map<String, serde_json::Value> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        serde_json::json!({
            "program": env!("CARGO_BIN_EXE_pgchat"),
            "cwd": self.cwd,
            "env": env,
        })
        .to_string()
    }
}

/// `pgchat serve` as a child process, killed on drop.
struct Server {
    child: Child,
    url: String,
    data_dir: PathBuf,
}

impl Server {
    fn start(serve: &Serve) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data_dir =
            std::env::temp_dir().join(format!("pgchat-node-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir).expect("creating the data folder");
        let verbose = std::env::var_os("TEST_LOG").is_some();
        let child = Command::new(env!("CARGO_BIN_EXE_pgchat"))
            .arg("serve")
            .current_dir(&serve.cwd)
            .envs(serve.env.iter().map(|(k, v)| (k, v)))
            .env("PGCHAT_BIND", format!("127.0.0.1:{port}"))
            .env("PGCHAT_DATA_DIR", &data_dir)
            .stdout(if verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(if verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("starting pgchat serve");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data_dir,
        }
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http
                .get(format!("{}/readyz", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pgchat serve did not become ready at {} (TEST_LOG=1 shows its log)",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
