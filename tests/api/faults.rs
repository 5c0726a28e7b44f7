//! Faults injected under load — a server node killed with SIGKILL, PostgreSQL
//! restarted — each ending with the check that matters: every acknowledged
//! message reached the subscriber exactly once, in seq order, and the database
//! holds no duplicate.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{as_id, spawn_app, wait_for};
use crate::ws_client::{Node, Ws};

/// Collects message_new frames whose body starts with `prefix`, reconnecting
/// (to `ports`, in turn) with its cursor whenever the socket dies, until it has
/// `want` of them or `patience` runs out. Returns the messages in arrival order.
async fn watch(
    ports: Vec<u16>,
    token: String,
    topic: String,
    prefix: &'static str,
    want: usize,
    patience: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + patience;
    let mut cursor = 0i64;
    let mut got = Vec::new();
    let mut attempt = 0usize;
    while got.len() < want && Instant::now() < deadline {
        let port = ports[attempt.min(ports.len() - 1)];
        attempt += 1;
        let Some(mut ws) = Ws::try_connect(port, &token).await else {
            tokio::time::sleep(Duration::from_millis(100)).await; // a client's retry backoff
            continue;
        };
        let subscribe = json!({ "type": "subscribe", "topic": topic, "since": cursor, "ref": "w" });
        if !ws.try_send(&subscribe).await {
            continue;
        }
        while got.len() < want {
            let Some(frame) = ws.next_frame(Duration::from_secs(5)).await else {
                break;
            };
            if let Some(cs) = frame["change_seq"].as_i64() {
                cursor = cursor.max(cs);
            }
            if frame["type"] == "message_new"
                && frame["message"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with(prefix))
            {
                got.push(frame["message"].clone());
            }
        }
    }
    got
}

/// Every acked message exactly once, in seq order; no duplicate rows.
async fn assert_exactly_once(
    app_db: &tokio_postgres::Client,
    received: &[Value],
    acked: &HashSet<String>,
    prefix: &str,
) {
    let ids: Vec<String> = received
        .iter()
        .map(|m| as_id(&m["id"]).to_owned())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no duplicate deliveries");
    let seqs: Vec<i64> = received
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "delivered in seq order"
    );
    let delivered_bodies: HashSet<String> = received
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    for body in acked {
        assert!(
            delivered_bodies.contains(body),
            "acked {body} was delivered"
        );
    }
    let rows = app_db
        .query(
            "SELECT body, count(*) FROM chat_messages WHERE body LIKE $1 GROUP BY body",
            &[&format!("{prefix}%")],
        )
        .await
        .unwrap();
    let stored: BTreeMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(stored.values().all(|&n| n == 1), "no duplicate rows");
    for body in acked {
        assert!(stored.contains_key(body), "acked {body} is stored");
    }
    assert_eq!(
        stored.len(),
        received.len(),
        "everything stored was delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_node_under_load_loses_and_duplicates_nothing() {
    let app = spawn_app().await;
    let customer = app.token("fc", "user");
    let agent = app.token("fa", "agent");
    let session = app.open_session(&customer).await;
    app.session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    let conversation = as_id(&session["conversation_id"]).to_owned();
    let topic = format!("conversation:{conversation}");
    let mut doomed = Node::start(&app, &[]).await;
    let survivor = Node::start(&app, &[]).await;

    const N: usize = 300;
    let watcher = tokio::spawn(watch(
        vec![doomed.port, survivor.port],
        customer.clone(),
        topic,
        "k",
        N,
        Duration::from_secs(60),
    ));

    // The agent publishes through the doomed node, 20 frames in flight; when
    // the node dies it reconnects to the survivor and re-sends what was not acked.
    let client_ids: Vec<Uuid> = (0..N).map(|_| Uuid::new_v4()).collect();
    let mut acked: HashSet<String> = HashSet::new();
    let mut ws = Ws::connect(doomed.port, &agent).await;
    let mut killed = false;
    let mut next = 0usize;
    while acked.len() < N {
        let chunk: Vec<usize> = (next..N)
            .chain(0..next)
            .filter(|i| !acked.contains(&format!("k{i}")))
            .take(20)
            .collect();
        for &i in &chunk {
            let frame = json!({ "type": "send_message", "conversation_id": conversation,
                                "client_msg_id": client_ids[i], "body": format!("k{i}"), "ref": i });
            if !ws.try_send(&frame).await {
                break;
            }
        }
        if !killed && acked.len() >= 100 {
            doomed.kill(); // SIGKILL with 20 sends in flight
            killed = true;
        }
        let mut answered = 0;
        while answered < chunk.len() {
            let Some(frame) = ws.next_frame(Duration::from_secs(5)).await else {
                break;
            };
            if frame["type"] == "ack" {
                acked.insert(frame["message"]["body"].as_str().unwrap().to_owned());
                answered += 1;
            }
        }
        if answered < chunk.len() {
            ws = Ws::connect(survivor.port, &agent).await;
        }
        next = chunk.last().map_or(0, |i| i + 1) % N;
    }
    assert!(killed);
    let received = watcher.await.unwrap();
    let stored = app
        .count("SELECT count(*) FROM chat_messages WHERE body LIKE 'k%'")
        .await;
    eprintln!(
        "{} acked, {stored} stored, {} delivered",
        acked.len(),
        received.len()
    );
    assert_exactly_once(&app.db, &received, &acked, "k").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarting_postgres_under_load_loses_nothing_and_sends_fail_retryably() {
    // A cluster of this test's own: restarting the shared one would hurt other tests.
    let dir = std::env::temp_dir().join(format!("pgchat-fault-{}", Uuid::new_v4().simple()));
    let cluster = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || pgchat::embedded::EmbeddedPostgres::start(&dir)
    })
    .await
    .unwrap()
    .expect("a private cluster");
    let url = cluster.connection_string("pgchat");
    pgchat::db::ensure_database(
        &pgchat::db::pg_config(&cluster.connection_string("postgres")).unwrap(),
        "pgchat",
    )
    .await
    .unwrap();
    let db_config = pgchat::db::pg_config(&url).unwrap();
    pgchat::db::migrate::run(&mut pgchat::db::connect(&db_config).await.unwrap())
        .await
        .unwrap();
    let secret = pgchat::auth::random_secret();
    let node = Node::start_with(&url, &secret, &[]).await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", node.port);
    let token = |sub: &str, role| pgchat::auth::mint(&secret, sub, role, None, None, 3600).unwrap();
    let (customer, agent) = (
        token("pc", pgchat::auth::Role::User),
        token("pa", pgchat::auth::Role::Agent),
    );
    let opened: Value = http
        .post(format!("{base}/v1/support/sessions"))
        .bearer_auth(&customer)
        .json(&json!({ "subject": "s", "message": { "body": "hi", "client_msg_id": Uuid::new_v4() } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = as_id(&opened["conversation_id"]).to_owned();
    http.post(format!(
        "{base}/v1/support/sessions/{}/claim",
        as_id(&opened["id"])
    ))
    .bearer_auth(&agent)
    .send()
    .await
    .unwrap();

    const N: usize = 200;
    let watcher = tokio::spawn(watch(
        vec![node.port],
        customer.clone(),
        format!("conversation:{conversation}"),
        "r",
        N,
        Duration::from_secs(90),
    ));
    let mut acked = HashSet::new();
    let mut failures = Vec::new();
    let mut outage: Option<std::thread::JoinHandle<Duration>> = None;
    for i in 0..N {
        let body = json!({ "body": format!("r{i}"), "client_msg_id": Uuid::new_v4() });
        loop {
            let sent = http
                .post(format!("{base}/v1/conversations/{conversation}/messages"))
                .bearer_auth(&agent)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = sent.status();
            let retry_after = sent.headers().get("retry-after").is_some();
            let answer: Value = sent.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                acked.insert(format!("r{i}"));
                break;
            }
            failures.push((status, answer["error"]["code"].clone(), retry_after));
            tokio::time::sleep(Duration::from_millis(100)).await; // a client's retry backoff
        }
        if i == 60 && outage.is_none() {
            // Down for 1.5 s while the sends go on.
            let dir = dir.clone();
            let stopper = pgchat::embedded::EmbeddedPostgres::start(&dir).unwrap();
            outage = Some(std::thread::spawn(move || {
                let started = Instant::now();
                stopper.stop().unwrap();
                // the outage's length: time is what this step is about
                std::thread::sleep(Duration::from_millis(1500));
                pgchat::embedded::EmbeddedPostgres::start(&dir).unwrap();
                started.elapsed()
            }));
        }
    }
    let restarted = outage.map(|t| t.join().unwrap());
    let received = watcher.await.unwrap();
    assert!(restarted.is_some(), "PostgreSQL was restarted mid-run");
    eprintln!(
        "outage of {restarted:?}; {} sends failed (and were retried) meanwhile",
        failures.len()
    );
    assert!(!failures.is_empty(), "some sends met the outage");
    for (status, code, retry_after) in &failures {
        assert_eq!(
            (*status, code.as_str(), *retry_after),
            (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"), true)
        );
    }
    let check = pgchat::db::connect(&db_config).await.unwrap();
    assert_exactly_once(&check, &received, &acked, "r").await;
    // readiness comes back by itself (the listener reconnects with backoff)
    wait_for("/readyz to answer 200 again", || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    drop(node);
    let _ = cluster.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
