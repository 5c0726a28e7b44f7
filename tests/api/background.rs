//! Background work under one roof: the `Supervisor` stops every task on
//! shutdown, and `pg_listen` — the one LISTEN loop — reports its connection
//! and comes back after losing it.

use std::time::Duration;

use pgchat::pg_listen::{Notice, PgListen};

use crate::helpers::{spawn_app, wait_for};
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
