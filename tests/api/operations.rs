//! Operations: a SIGTERM drains a real `pgchat serve` process (sockets closed
//! with 1012, the request in flight answered, new connections refused, exit 0);
//! `/healthz` and `/readyz` tell "up" from "ready".

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{as_id, assert_error, metric_at, spawn_app, wait_for, TestApp};
use crate::ws_client::{Node, Ws};

#[tokio::test]
async fn sigterm_closes_sockets_with_1012_finishes_requests_in_flight_refuses_new_ones_and_exits_0()
{
    let app = spawn_app().await;
    let mut node = Node::start(&app, &[]).await;
    let customer = app.token("carol", "user");
    let session = app.open_session(&customer).await;
    let conversation = as_id(&session["conversation_id"]).to_owned();

    let mut ws = Ws::connect(node.port, &customer).await;
    ws.subscribe(&format!("conversation:{conversation}"), None)
        .await;
    let head = ws.request(json!({ "type": "ping" })).await;
    assert_eq!(head["type"], "pong");

    // A request in flight: a long poll that waits 2 s for changes that never come.
    let base = node.base();
    let poll = {
        let http = reqwest::Client::new();
        let url =
            format!("{base}/v1/conversations/{conversation}/poll?since=1000000&timeout_ms=2000");
        let token = customer.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let response = http.get(url).bearer_auth(token).send().await;
            (response.map(|r| r.status()), started.elapsed())
        })
    };
    // In flight means the node holds it: its poll is open.
    wait_for("the long poll open on the node", || async {
        metric_at(&base, "pgchat_realtime_sessions{transport=\"poll\"}").await == 1.0
    })
    .await;
    node.terminate();

    assert_eq!(ws.closed_with().await, 1012, "sockets close with 1012");
    // Stopped accepting: connecting now fails (once the accept loop has noticed).
    wait_for("new connections refused while draining", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", node.port))
            .await
            .is_err()
    })
    .await;
    let (status, took) = poll.await.expect("the poll task");
    assert_eq!(
        status.expect("the request in flight is answered, not cut"),
        StatusCode::OK
    );
    assert!(
        took >= Duration::from_millis(1500),
        "it ran its course: {took:?}"
    );
    let exit = node.exited().await;
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        Ws::try_connect(node.port, &customer).await.is_none(),
        "nothing listens any more"
    );
    // Nothing was lost: the database still answers through the test's own server.
    app.send(&customer, &session["conversation_id"], "after the restart")
        .await;
}

#[tokio::test]
async fn a_client_resumes_on_another_node_after_a_graceful_shutdown() {
    let app = spawn_app().await;
    let node = Node::start(&app, &[]).await;
    let customer = app.token("carol", "user");
    let agent = app.token("ann", "agent");
    let session = app.open_session(&customer).await;
    let topic = format!("conversation:{}", as_id(&session["conversation_id"]));
    let mut ws = Ws::connect(node.port, &customer).await;
    let ack = ws.subscribe(&topic, None).await;
    let cursor = ack["cursor"].as_i64().expect("a cursor");
    node.terminate();
    assert_eq!(ws.closed_with().await, 1012);
    // Written while the client was away; it reconnects to the other node with its cursor.
    let sent = app
        .send(&agent, &session["conversation_id"], "while you were away")
        .await;
    let mut again = Ws::connect(app.port, &customer).await;
    again.subscribe(&topic, Some(cursor)).await;
    // The backlog (the claim's system message too) then nothing more: exactly
    // once. The fence: a marker sent after the resume comes after any copy.
    app.send(&agent, &session["conversation_id"], "marker")
        .await;
    let frames = again.until_message("marker").await;
    let copies = frames
        .iter()
        .filter(|f| f["type"] == "message_new" && f["message"]["id"] == sent["id"])
        .count();
    assert_eq!(copies, 1, "{frames:#?}");
}

/// Opens or closes the test's database to new connections (superusers included;
/// connections already open stay), from the maintenance database.
async fn allow_connections(app: &TestApp, allow: bool) {
    let mut admin = app.db_config.clone();
    admin.dbname("postgres");
    let client = pgchat::db::connect(&admin)
        .await
        .expect("the maintenance database");
    client
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {allow}",
            app.db_name
        ))
        .await
        .expect("ALTER DATABASE … ALLOW_CONNECTIONS");
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value, Option<String>) {
    let response = app.http.get(app.url(path)).send().await.expect("GET");
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, retry)
}

/// Waits until `/readyz` answers `want`; returns its body and Retry-After.
async fn ready_becomes(app: &TestApp, want: StatusCode) -> (Value, Option<String>) {
    wait_for(&format!("readyz to answer {want}"), || async {
        let (status, body, retry) = get(app, "/readyz").await;
        (status == want).then_some((body, retry))
    })
    .await
}

#[tokio::test]
async fn healthz_is_up_and_readyz_is_ready_when_database_and_listener_are() {
    let app = spawn_app().await;
    let (status, body, _) = get(&app, "/healthz").await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    let (body, _) = ready_becomes(&app, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({ "status": "ready", "database": "up", "listener": "up" })
    );
}

#[tokio::test]
async fn readyz_is_503_while_the_listener_cannot_reconnect_and_recovers_by_itself() {
    let app = spawn_app().await;
    ready_becomes(&app, StatusCode::OK).await;
    // Nobody may open a connection to this database (superusers included), so
    // the listener, once its backend is gone, cannot come back.
    allow_connections(&app, false).await;
    let killed = app
        .count(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE application_name = '{}' AND datname = current_database()",
            pgchat::realtime::listener::APPLICATION_NAME
        ))
        .await;
    assert_eq!(killed, 1, "the listener's backend");

    let (body, retry) = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_error(
        &(StatusCode::SERVICE_UNAVAILABLE, body),
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    assert!(retry.is_some(), "503 carries Retry-After");
    // Still alive: liveness is not readiness.
    let (status, _, _) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    // Stays unready while the listener is down (not a blip). Time must pass:
    // the claim is about a duration, and no metric counts the listener's
    // failed reconnect attempts to fence on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get(&app, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    allow_connections(&app, true).await;
    // The listener's backoff is at most 5 s; no restart, no operator.
    let started = Instant::now();
    let (body, _) = ready_becomes(&app, StatusCode::OK).await;
    assert_eq!(body["listener"], "up");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn readyz_is_503_while_the_database_is_gone_and_healthz_stays_200() {
    let app = spawn_app().await;
    ready_becomes(&app, StatusCode::OK).await;
    allow_connections(&app, false).await;
    // Every backend of the server (pool, listener, desk), not ours.
    app.count(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    let (status, body, _) = get(&app, "/healthz").await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    // A write meanwhile is a retryable 503, never a 500.
    let token = app.token("carol", "user");
    let response = app
        .call(
            app.http
                .post(app.url("/v1/support/sessions"))
                .bearer_auth(&token)
                .json(&json!({ "subject": "down?", "message": { "body": "hi", "client_msg_id": uuid::Uuid::new_v4() } })),
        )
        .await;
    assert_error(&response, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    allow_connections(&app, true).await;
    ready_becomes(&app, StatusCode::OK).await;
    app.open_session(&token).await;
}
