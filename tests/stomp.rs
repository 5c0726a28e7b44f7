//! The STOMP profile with unmodified outside clients: starts the `pgchat`
//! binary against a fresh database and runs the node tests of `tests/stomp/`
//! (`@stomp/stompjs` 7 over `ws`, and over `sockjs-client` 1.6 with its
//! websocket, xhr-streaming and xhr-polling transports forced in turn; raw
//! frames over `ws`). A missing node fails this test: it never skips.

mod node_harness;

#[test]
fn stomp_clients_chat_through_pgchat() {
    node_harness::Suite {
        folder: "stomp",
        installed_marker: "@stomp/stompjs",
        // Manual claims (no agent is assigned behind a test's back); fast
        // heart-beats so their test sees several.
        server_env: vec![
            ("PGCHAT_ASSIGNMENT_MODE", "manual".into()),
            ("PGCHAT_STOMP_HEARTBEAT_MS", "1000".into()),
        ],
        node_env: vec![],
    }
    .run();
}
