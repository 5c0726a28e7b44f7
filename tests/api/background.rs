//! Background work under one roof: the `Supervisor` stops every task on
//! shutdown, and `pg_listen` — the one LISTEN loop — reports its connection
//! and comes back after losing it.

use std::time::Duration;

use pgchat::pg_listen::{Notice, PgListen};

use crate::helpers::{spawn_app, spawn_app_with, wait_for};
use crate::ws_client::PATIENCE;

#[tokio::test]
async fn shutdown_stops_every_background_task() {
    let mut app = spawn_app().await;
    let background = "SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database()
                         AND application_name IN ('pgchat-listener', 'pgchat-desk', 'pgchat-ai')";
    wait_for("the three LISTEN connections", || async {
        app.count(background).await == 3
    })
    .await;
    app.stop().await;
    wait_for("no LISTEN connection left", || async {
        app.count(background).await == 0
    })
    .await;
}

async fn next(notices: &mut tokio::sync::mpsc::Receiver<Notice>) -> Notice {
    tokio::time::timeout(PATIENCE, notices.recv())
        .await
        .expect("a notice in time")
        .expect("the task runs")
}

#[tokio::test]
async fn pg_listen_reports_its_connection_and_comes_back_after_losing_it() {
    let app = spawn_app().await;
    let (task, mut notices) = PgListen::new(
        app.db_config.clone(),
        pgchat::db::tls::MakeTls::from_config(&app.db_config).unwrap(),
        "pgchat-test-listen",
        &["test_channel"],
    )
    .probe(Duration::from_millis(200), Duration::from_secs(2))
    .start();
    let task = tokio::spawn(task);
    assert!(matches!(next(&mut notices).await, Notice::Connected));
    app.db
        .batch_execute("NOTIFY test_channel, 'one'")
        .await
        .unwrap();
    match next(&mut notices).await {
        Notice::Notification { channel, payload } => {
            assert_eq!(
                (channel.as_str(), payload.as_str()),
                ("test_channel", "one")
            )
        }
        other => panic!("expected the notification, got {other:?}"),
    }
    // An operator (or a failover) kills the connection.
    app.db
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE application_name = 'pgchat-test-listen'",
        )
        .await
        .unwrap();
    assert!(matches!(next(&mut notices).await, Notice::Disconnected));
    assert!(matches!(next(&mut notices).await, Notice::Connected));
    app.db
        .batch_execute("NOTIFY test_channel, 'two'")
        .await
        .unwrap();
    match next(&mut notices).await {
        Notice::Notification { payload, .. } => assert_eq!(payload, "two"),
        other => panic!("expected the notification, got {other:?}"),
    }
    // Dropping the receiver ends the task.
    drop(notices);
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the task ends with its consumer")
        .unwrap();
}

/// A table that outgrew its planner statistics — analyzed empty, then filled,
/// with autovacuum off for it, as on a fresh database under load — is analyzed
/// by the server, so that every connection's cached plans are made again for
/// its size (src/db/statistics.rs).
#[tokio::test]
async fn a_table_that_outgrew_its_planner_statistics_is_analyzed() {
    let app = spawn_app_with(|config| config.ops.stats_check_secs = 1).await;
    let analyzed =
        "SELECT analyze_count FROM pg_stat_user_tables WHERE relid = 'chat_messages'::regclass";
    app.db
        .batch_execute(
            "ALTER TABLE chat_messages SET (autovacuum_enabled = false);
             ANALYZE chat_messages;
             INSERT INTO users (id, role) VALUES ('stats-u', 'user');
             INSERT INTO conversations (id, kind, created_by)
               VALUES ('5ea70000-0000-0000-0000-000000000001', 'group', 'stats-u');",
        )
        .await
        .expect("an empty table, analyzed");
    let before = app.count(analyzed).await;
    let rows = pgchat::db::statistics::FLOOR_ROWS + 200;
    app.db
        .execute(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             SELECT '5ea70000-0000-0000-0000-000000000001', 'stats-u', 'user', 'b'
               FROM generate_series(1, $1::bigint)",
            &[&rows],
        )
        .await
        .expect("filling it");
    // this session's counts reach pg_stat_user_tables now, not in a second
    app.db
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .expect("flushing statistics");
    wait_for("the server to analyze the grown table", || async {
        app.count(analyzed).await > before
            && app
                .count(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = 'chat_messages'::regclass",
                )
                .await
                >= rows
    })
    .await;
}
