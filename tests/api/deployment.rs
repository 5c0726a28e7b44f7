//! Running in production: `/metrics` on its own address and behind a token,
//! the client's address behind trusted proxies, the start-up check of the
//! database's settings, webhooks over HTTPS.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::StatusCode as AxumStatus;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{spawn_app, spawn_app_with, wait_for};
use crate::ws_client::Node;

#[tokio::test]
async fn metrics_move_to_their_own_address_and_ask_for_the_token() {
    let app = spawn_app_with(|config| {
        config.ops.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        config.ops.metrics_token = Some("scrape-me".into());
    })
    .await;
    let http = reqwest::Client::new();
    let main = http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        main.status(),
        StatusCode::NOT_FOUND,
        "not on the public address"
    );

    let metrics = format!("http://127.0.0.1:{}/metrics", app.metrics_port.unwrap());
    let anonymous = http.get(&metrics).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = http
        .get(&metrics)
        .bearer_auth("scrape-you")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let scraped = http
        .get(&metrics)
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("pgchat_"));

    // A token alone keeps them on the main address.
    let app = spawn_app_with(|config| config.ops.metrics_token = Some("t".into())).await;
    let anonymous = http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let scraped = http
        .get(app.url("/metrics"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket with `X-Forwarded-For: forwarded_for`; the socket if admitted.
async fn ws_from(port: u16, token: &str, forwarded_for: &str) -> Option<Socket> {
    let mut request = format!("ws://127.0.0.1:{port}/v1/ws?token={token}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-forwarded-for", forwarded_for.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .ok()
        .map(|(socket, _)| socket)
}

#[tokio::test]
async fn per_address_limits_count_the_client_behind_a_trusted_proxy_only() {
    let trusted = spawn_app_with(|config| {
        config.limits.ws_max_per_ip = 1;
        config.ops.trusted_proxies =
            vec![pgchat::client_addr::IpBlock::parse("127.0.0.0/8").unwrap()];
    })
    .await;
    let (a, b, c) = (
        trusted.token("xa", "user"),
        trusted.token("xb", "user"),
        trusted.token("xc", "user"),
    );
    // The proxy (us, 127.0.0.1) appended the client's address. Open sockets hold their permits.
    let first = ws_from(trusted.port, &a, "203.0.113.5").await;
    assert!(first.is_some());
    let same = ws_from(trusted.port, &b, "203.0.113.5").await;
    assert!(same.is_none(), "one per client address");
    // What a client wrote before the proxy's entry changes nothing.
    let spoofed = ws_from(trusted.port, &b, "198.51.100.1, 203.0.113.5").await;
    assert!(spoofed.is_none());
    let other = ws_from(trusted.port, &c, "203.0.113.6").await;
    assert!(other.is_some(), "another client");

    // Without PGCHAT_TRUSTED_PROXIES the header is ignored: the peer counts.
    let untrusted = spawn_app_with(|config| config.limits.ws_max_per_ip = 1).await;
    let (a, b) = (untrusted.token("ya", "user"), untrusted.token("yb", "user"));
    let first = ws_from(untrusted.port, &a, "203.0.113.5").await;
    assert!(first.is_some());
    let second = ws_from(untrusted.port, &b, "203.0.113.6").await;
    assert!(second.is_none());
}

#[tokio::test]
async fn the_startup_check_reads_the_servers_settings_and_warns_when_pools_do_not_fit() {
    let app = spawn_app().await;
    let read = pgchat::db::capacity::Settings::read(&app.db).await.unwrap();
    assert!(read.max_connections > 0);
    assert!((0.0..=1.0).contains(&read.notify_queue_usage));
    // (a development server may run without autovacuum: its own warning,
    // unit-tested in db::capacity)
    let settings = pgchat::db::capacity::Settings {
        autovacuum: true,
        ..read
    };
    assert!(settings.warnings(8, 1).is_empty(), "{settings:?}");
    let too_many = settings.warnings(8, 1000);
    assert_eq!(too_many.len(), 1);
    assert!(too_many[0].starts_with("PostgreSQL's max_connections is"));
}

/// An HTTPS webhook receiver for `localhost` with a certificate from a CA of
/// the test's own; returns its URL, the CA's PEM file and what it received.
async fn https_receiver() -> (String, tempfile_path::Path, Arc<Mutex<Vec<Value>>>) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let ca_file = tempfile_path::Path::new("webhook-ca.pem", &ca.pem());

    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let received = Arc::new(Mutex::new(Vec::new()));
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let received = received.clone();
            move |body: Bytes| async move {
                received
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                AxumStatus::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/hook",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router))
                        .await;
                }
            });
        }
    });
    (url, ca_file, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_delivered_over_https() {
    let (url, ca_file, received) = https_receiver().await;
    let app = spawn_app().await;
    // A node whose webhook is the HTTPS receiver; its CA is trusted through
    // SSL_CERT_FILE, as a private CA would be in production.
    let _node = Node::start(
        &app,
        &[
            ("PGCHAT_WEBHOOK_URL", url.as_str()),
            ("SSL_CERT_FILE", ca_file.as_str()),
        ],
    )
    .await;
    let customer = app.token_named("hcarol", "user", "Carol");
    let agent = app.token_named("hann", "agent", "Ann");
    let session = app.open_session(&customer).await;
    let (status, _) = app
        .session_action(&agent, &session["id"], "claim", &serde_json::json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.send(&agent, &session["conversation_id"], "Delivered over TLS")
        .await;
    wait_for("the HTTPS delivery", || async {
        !received.lock().unwrap().is_empty()
    })
    .await;
    let delivery = received.lock().unwrap()[0].clone();
    assert_eq!(delivery["user_id"], "hcarol");
    assert_eq!(delivery["message"]["body"], "Delivered over TLS");
}

/// A file in the temp folder, removed when dropped.
mod tempfile_path {
    pub struct Path(std::path::PathBuf);

    impl Path {
        pub fn new(name: &str, contents: &str) -> Path {
            let path =
                std::env::temp_dir().join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&path, contents).unwrap();
            Path(path)
        }

        pub fn as_str(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
