//! The web clients as the server serves them (the pages themselves are tested
//! in Chromium by `tests/browser.rs`), and the development sign-in: off unless
//! PGCHAT_DEV=1.

use reqwest::header;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, TestApp};

#[tokio::test]
async fn pages_and_scripts_are_served_with_their_types_and_caching() {
    let app = spawn_app().await;
    for (path, content_type, cache) in [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/desk", "text/html; charset=utf-8", "no-cache"),
        ("/chat", "text/html; charset=utf-8", "no-cache"),
        (
            "/widget.js",
            "text/javascript; charset=utf-8",
            "public, max-age=300",
        ),
        (
            "/client/pgchat.js",
            "text/javascript; charset=utf-8",
            "public, max-age=300",
        ),
        (
            "/client/widget.css",
            "text/css; charset=utf-8",
            "public, max-age=300",
        ),
        (
            "/assets/desk.js",
            "text/javascript; charset=utf-8",
            "public, max-age=300",
        ),
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
        assert_eq!(headers[header::CACHE_CONTROL], cache, "{path}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert!(headers.contains_key(header::ETAG), "{path} has an ETag");
        let is_page = content_type.starts_with("text/html");
        assert_eq!(
            headers.contains_key(header::CONTENT_SECURITY_POLICY),
            is_page,
            "{path}: pages carry a CSP"
        );
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
    }
}

#[tokio::test]
async fn an_unchanged_file_answers_304_to_its_etag() {
    let app = spawn_app().await;
    let first = app.http.get(app.url("/widget.js")).send().await.unwrap();
    let etag = first.headers()[header::ETAG].clone();
    let again = app
        .http
        .get(app.url("/widget.js"))
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = app
        .http
        .get(app.url("/widget.js"))
        .header(header::IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_files_and_paths_outside_web_are_404() {
    let app = spawn_app().await;
    for path in [
        "/client/nope.js",
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/client/..%2f..%2fCargo.toml",
        "/web/widget.js",
    ] {
        let response = app.call(app.http.get(app.url(path))).await;
        assert_eq!(response.0, StatusCode::NOT_FOUND, "{path}: {}", response.1);
    }
}

#[tokio::test]
async fn the_development_sign_in_is_off_by_default() {
    let app = spawn_app().await;
    let minted = app
        .call(
            app.http
                .post(app.url("/v1/dev/token"))
                .json(&json!({ "sub": "mallory", "role": "admin" })),
        )
        .await;
    assert_error(&minted, StatusCode::NOT_FOUND, "not_found");
    let page = app.call(app.http.get(app.url("/dev"))).await;
    assert_error(&page, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn with_pgchat_dev_the_sign_in_mints_tokens_the_server_accepts() {
    let app = spawn_app().await;
    let dev = DevServer::start(&app).await;
    let page = app.http.get(dev.url("/dev")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let minted = app
        .call(
            app.http
                .post(dev.url("/v1/dev/token"))
                .json(&json!({ "sub": "ann", "role": "agent", "name": "Ann" })),
        )
        .await;
    assert_eq!(minted.0, StatusCode::OK, "{}", minted.1);
    assert_eq!(minted.1["role"], "agent");
    let token = minted.1["token"].as_str().unwrap();
    // Signed with the server's own secret: both servers share it and accept it.
    let listed = app.get(token, "/v1/support/sessions?status=waiting").await;
    assert_eq!(listed.0, StatusCode::OK, "{}", listed.1);

    for bad in [
        json!({ "sub": "" }),
        json!({ "sub": "x", "role": "root" }),
        json!({ "sub": "x", "ttl_secs": 0 }),
        json!({ "sub": "x", "extra": true }),
    ] {
        let response = app
            .call(app.http.post(dev.url("/v1/dev/token")).json(&bad))
            .await;
        assert_eq!(response.0, StatusCode::BAD_REQUEST, "{bad}: {}", response.1);
    }
}

/// A second server on the test's database with `PGCHAT_DEV=1` and the same secret.
struct DevServer {
    address: String,
    server: tokio::task::JoinHandle<()>,
    _data: TempDir,
}

impl DevServer {
    async fn start(app: &TestApp) -> Self {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: pgchat::config::Config,
        }
        let data = TempDir::new();
        let data_dir = data.0.display().to_string();
        let cli = <Cli as clap::Parser>::try_parse_from([
            "pgchat",
            "--bind",
            "127.0.0.1:0",
            "--jwt-secret",
            &app.secret,
            "--data-dir",
            &data_dir,
            "--dev",
        ])
        .expect("a development configuration");
        let built = pgchat::startup::Application::build(cli.config, app.db_config.clone())
            .await
            .expect("building the development server");
        let address = format!("http://127.0.0.1:{}", built.port());
        let server = tokio::spawn(async move {
            let _ = built.run_until_stopped(std::future::pending()).await;
        });
        Self {
            address,
            server,
            _data: data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("pgchat-dev-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("a temp folder");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
