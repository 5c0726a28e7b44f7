//! The web clients in a real browser: starts the `pgchat` binary (with the
//! development sign-in on, against a fresh database) and runs the node tests of
//! `tests/browser/` (`node --test`, playwright-core driving Debian's headless
//! `chromium`). A missing node or chromium fails this test: it never skips.
//! Screenshots land in `test-artifacts/browser/`; `TEST_LOG=1` shows the
//! server's log.

mod node_harness;

use std::path::{Path, PathBuf};

const IDENTITY_SECRET: &str = "browser-tests-identity-secret";

#[test]
fn web_clients_work_in_headless_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "the browser tests need Chromium at {chromium} (apt-get install chromium, or set CHROMIUM_PATH)"
    );
    node_harness::Suite {
        folder: "browser",
        // The newest of its packages: an older install lacks it and is redone.
        installed_marker: "axe-core",
        // The scenarios claim chats by hand (start, wait, claim); the desk
        // shows auto-assigned chats too, but they would race the claims.
        // The host site's identity secret: the tests sign customers in with
        // user hashes made from it (widget-identity.test.js).
        server_env: vec![
            ("PGCHAT_ASSIGNMENT_MODE", "manual".into()),
            ("PGCHAT_IDENTITY_SECRET", IDENTITY_SECRET.into()),
        ],
        node_env: vec![
            ("PGCHAT_IDENTITY_SECRET", IDENTITY_SECRET.into()),
            ("CHROMIUM_PATH", chromium),
            (
                "PGCHAT_ARTIFACTS",
                root.join("test-artifacts")
                    .join("browser")
                    .display()
                    .to_string(),
            ),
        ],
    }
    .run();
}
