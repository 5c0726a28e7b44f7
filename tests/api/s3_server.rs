//! A real S3-compatible server for the attachment tests: `s3s-fs` (crates.io,
//! `cargo install s3s-fs@^0.14 --features binary --locked`, which .ci/run
//! does), on a free loopback port with its own folder and credentials, one per
//! test, killed when the test drops it.
//!
//! Why s3s-fs and not moto: it verifies SigV4 signatures, credentials and the
//! expiry of presigned URLs, so the tests can prove that a presigned GET works,
//! that a tampered one is refused and that it stops working once it expires.
//! A missing binary fails the tests (it does not skip them).

use std::path::PathBuf;
use std::process::Stdio;

use pgchat::config::{Config, StorageKind};
use uuid::Uuid;

use crate::helpers::wait_for;

pub const ACCESS_KEY: &str = "pgchat-test-key";
pub const SECRET_KEY: &str = "pgchat-test-secret-0123456789";
pub const BUCKET: &str = "pgchat-attachments";

pub struct S3Server {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    root: PathBuf,
    _child: tokio::process::Child,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let binary = std::env::var("PGCHAT_TEST_S3FS").unwrap_or_else(|_| "s3s-fs".into());
        let root = std::env::temp_dir().join(format!("pgchat-s3-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&root).expect("creating the S3 server's folder");
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = tokio::process::Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "starting the S3 test server `{binary}`: {e}. Install it with \
                         `cargo install s3s-fs@^0.14 --features binary --locked` (.ci/run does)"
                    )
                });
            // Listening, or gone (the port was taken meanwhile: try another).
            let listening = wait_for("the S3 test server to listen or exit", || {
                let exited = matches!(child.try_wait(), Ok(Some(_)));
                async move {
                    if exited {
                        return Some(false);
                    }
                    tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .is_ok()
                        .then_some(true)
                }
            })
            .await;
            if listening {
                return S3Server {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    root,
                    _child: child,
                };
            }
        }
        panic!("the S3 test server `{binary}` did not start");
    }

    /// Points `config` at this server (bucket created by pgchat at start-up).
    pub fn configure(&self, config: &mut Config) {
        let storage = &mut config.storage;
        storage.storage = StorageKind::S3;
        storage.s3_bucket = Some(BUCKET.into());
        storage.s3_region = Some("us-east-1".into());
        storage.s3_endpoint = Some(self.endpoint.clone());
        storage.s3_path_style = Some(true);
        storage.s3_access_key_id = Some(ACCESS_KEY.into());
        storage.s3_secret_access_key = Some(SECRET_KEY.into());
        storage.s3_create_bucket = true;
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
