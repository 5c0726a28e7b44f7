//! The session core (`realtime::session`): what every transport guarantees —
//! one cap over WebSocket, SSE and long poll; the token's deadline; eviction
//! of a consumer that stops reading; chunked catch-up; the end of an SSE
//! stream on `unsubscribed` — and the layering around it.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::chat_helpers::{invite, moderate, room_of, user};
use crate::helpers::{as_id, spawn_app, spawn_app_with, wait_for, wait_for_within, TestApp};
use crate::ws_client::{Ws, PATIENCE};

/// A Server-Sent Events reader that reads the response as it comes.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    async fn open(app: &TestApp, token: &str, query: &str) -> Result<Sse, StatusCode> {
        let response = app
            .http
            .get(app.url(&format!("/v1/events?{query}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::OK => Ok(Sse {
                response,
                buffer: String::new(),
            }),
            status => Err(status),
        }
    }

    /// The next event's data, or None when the stream ended.
    async fn event(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if !data.is_empty() {
                    return Some(serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("an SSE chunk in time")
                .expect("reading the stream")?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// A customer's support conversation (claimed by an agent).
async fn support_chat(app: &TestApp) -> (String, String, Uuid) {
    let customer = app.token_named("cust", "user", "Cus");
    let agent = app.token_named("agent", "agent", "Agnes");
    let session = app.open_session(&customer).await;
    let (status, _) = app
        .session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let conversation = Uuid::parse_str(as_id(&session["conversation_id"])).unwrap();
    (customer, agent, conversation)
}

/// `n` messages from the agent, in one statement (the triggers number and announce them).
async fn backlog(app: &TestApp, conversation: Uuid, n: i32, body_bytes: i32) {
    app.db
        .execute(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             SELECT $1, 'agent', 'agent', i || ':' || repeat('x', $3) FROM generate_series(1, $2) i",
            &[&conversation, &n, &body_bytes],
        )
        .await
        .unwrap();
}

/// The number before the colon of a backlog message's body.
fn number(message: &Value) -> i32 {
    let body = message["body"].as_str().unwrap();
    body.split(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn sse_streams_and_websockets_share_the_per_user_cap() {
    let app = spawn_app_with(|config| config.limits.ws_max_per_user = 3).await;
    let (customer, _, conversation) = support_chat(&app).await;
    let topic = format!("topic=conversation:{conversation}");
    let _ws = Ws::connect(app.port, &customer).await;
    let first = Sse::open(&app, &customer, &topic).await.unwrap();
    let _second = Sse::open(&app, &customer, &topic).await.unwrap();
    assert_eq!(
        app.metric(r#"pgchat_realtime_sessions{transport="sse"}"#)
            .await,
        2.0
    );
    assert_eq!(
        Sse::open(&app, &customer, &topic).await.err(),
        Some(StatusCode::TOO_MANY_REQUESTS),
        "a fourth session (SSE) is over the cap"
    );
    let url = format!("ws://127.0.0.1:{}/v1/ws?token={customer}", app.port);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429, "and so is a WebSocket")
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    let poll = app
        .get(
            &customer,
            &format!("/v1/conversations/{conversation}/poll?since=0&timeout_ms=0"),
        )
        .await;
    assert_eq!(poll.0, StatusCode::TOO_MANY_REQUESTS, "and a long poll");

    // Closing a stream gives its place back.
    drop(first);
    wait_for("the stream's place back", || async {
        app.metric(r#"pgchat_realtime_sessions{transport="sse"}"#)
            .await
            == 1.0
    })
    .await;
    assert!(Sse::open(&app, &customer, &topic).await.is_ok());
}

#[tokio::test]
async fn an_sse_stream_ends_at_token_expiry_and_delivers_nothing_after() {
    let app = spawn_app().await;
    let (_, agent, conversation) = support_chat(&app).await;
    let short = pgchat::auth::mint(
        &app.secret,
        "cust",
        pgchat::auth::Role::User,
        Some("Cus"),
        None,
        3,
    )
    .unwrap();
    let opened = Instant::now();
    let mut stream = Sse::open(&app, &short, &format!("topic=conversation:{conversation}"))
        .await
        .unwrap();
    app.send(&agent, &json!(conversation), "before").await;
    while stream.event().await.unwrap()["type"] != "message_new" {}
    let last = loop {
        let event = stream.event().await.expect("a last event");
        if event["type"] == "closed" {
            break event;
        }
    };
    assert_eq!(
        (
            last["type"].as_str(),
            last["reason"].as_str(),
            last["code"].as_u64()
        ),
        (Some("closed"), Some("token_expired"), Some(4001)),
        "{last}"
    );
    assert!(last["cursor"].as_i64().is_some(), "{last}");
    assert!(
        opened.elapsed() < Duration::from_secs(8),
        "ended {:?} after opening with a 3 s token",
        opened.elapsed()
    );
    app.send(&agent, &json!(conversation), "after").await;
    assert_eq!(stream.event().await, None, "the stream ended");

    // A long poll with an expired token is refused. Time must pass: the token's
    // expiry is what is tested (3 s, and its whole second).
    tokio::time::sleep_until((opened + Duration::from_secs(4)).into()).await;
    let (status, body) = app
        .get(
            &short,
            &format!("/v1/conversations/{conversation}/poll?since=0&timeout_ms=0"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn an_sse_stream_ends_after_unsubscribed() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let club = room_of(&app, &alice, "private", "Club").await;
    invite(&app, &alice, &club, "bob", "member").await;
    let topic = format!("conversation:{}", as_id(&club["id"]));
    let mut stream = Sse::open(&app, &bob, &format!("topic={topic}"))
        .await
        .unwrap();
    app.send(&alice, &club["id"], "welcome").await;
    while stream.event().await.unwrap()["type"] != "message_new" {}

    moderate(&app, &alice, &club, "bob", json!({ "banned": true })).await;
    loop {
        let event = stream.event().await.expect("unsubscribed before the end");
        if event["type"] == "unsubscribed" {
            assert_eq!(event["topic"], json!(topic));
            break;
        }
    }
    app.send(&alice, &club["id"], "bob is gone").await;
    assert_eq!(stream.event().await, None, "the stream ended");
}

#[tokio::test]
async fn a_websocket_that_never_reads_is_evicted_within_the_write_deadline() {
    // A queue larger than the whole burst: only the write deadline can evict.
    let app = spawn_app_with(|config| {
        config.realtime.ws_queue = 100_000;
        config.realtime.write_timeout_ms = 2_000;
    })
    .await;
    let (customer, agent, conversation) = support_chat(&app).await;
    let topic = format!("conversation:{conversation}");
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let url = format!("ws://127.0.0.1:{}/v1/ws?token={customer}", app.port);
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (mut write, mut read) = socket.split();
        let subscribe = json!({ "type": "subscribe", "topic": topic, "ref": 1 });
        write
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .unwrap();
        // Read up to the ack, then never again.
        loop {
            let frame = read.next().await.unwrap().unwrap();
            if frame.to_text().unwrap().contains("\"ack\"") {
                break;
            }
        }
        stalled.push((write, read));
    }
    let mut reader = Ws::connect(app.port, &agent).await;
    reader.subscribe(&topic, None).await;
    let before = app.metric("pgchat_slow_consumer_closes_total").await;
    let reading = tokio::spawn(async move {
        let got = reader.messages(3000).await;
        (reader, got)
    });
    // ~15 MB: more than the kernel buffers hold for a socket nobody reads.
    for _ in 0..6 {
        backlog(&app, conversation, 500, 4900).await;
    }
    let started = Instant::now();
    wait_for_within(
        Duration::from_secs(60),
        "the stalled sockets' eviction",
        || async { app.metric("pgchat_slow_consumer_closes_total").await >= before + 3.0 },
    )
    .await;
    let (_reader, got) = tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 3000, "the reading client got everything");
    wait_for("the evicted sessions gone", || async {
        app.metric(r#"pgchat_realtime_sessions{transport="ws"}"#)
            .await
            == 1.0
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "evicted after {:?}",
        started.elapsed()
    );
    drop(stalled);
}

#[tokio::test]
async fn a_20000_message_backlog_arrives_complete_and_in_order_over_sse_in_chunks() {
    let app = spawn_app().await;
    let (customer, _, conversation) = support_chat(&app).await;
    let start: i64 = app
        .db
        .query_one(
            "SELECT last_seq FROM conversations WHERE id = $1",
            &[&conversation],
        )
        .await
        .unwrap()
        .get(0);
    backlog(&app, conversation, 20_000, 400).await;
    let delivered = app.metric("pgchat_frames_delivered_total").await;
    let mut stream = Sse::open(
        &app,
        &customer,
        &format!("topic=conversation:{conversation}&since={start}"),
    )
    .await
    .unwrap();
    let first = stream.event().await.unwrap();
    assert_eq!(number(&first["message"]), 1);
    // The first event is here while the server has handed out only part of
    // the backlog: it streams chunk by chunk instead of reading it all first.
    let handed_out = app.metric("pgchat_frames_delivered_total").await - delivered;
    assert!(handed_out < 20_000.0, "{handed_out} frames out already");
    let mut expected = 2;
    let mut last_seq = first["change_seq"].as_i64().unwrap();
    while expected <= 20_000 {
        let event = stream.event().await.unwrap();
        assert_eq!(event["type"], "message_new");
        assert_eq!(number(&event["message"]), expected);
        let seq = event["change_seq"].as_i64().unwrap();
        assert!(seq > last_seq);
        last_seq = seq;
        expected += 1;
    }
}

#[tokio::test]
async fn a_long_poll_answers_a_20000_message_backlog_one_chunk_at_a_time() {
    let app = spawn_app().await;
    let (customer, _, conversation) = support_chat(&app).await;
    let mut cursor: i64 = app
        .db
        .query_one(
            "SELECT last_seq FROM conversations WHERE id = $1",
            &[&conversation],
        )
        .await
        .unwrap()
        .get(0);
    backlog(&app, conversation, 20_000, 400).await;
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let (status, page) = app
            .get(
                &customer,
                &format!("/v1/conversations/{conversation}/poll?since={cursor}&timeout_ms=0"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 2000, "a page is at most one chunk");
        for event in events {
            seen += 1;
            assert_eq!(number(&event["message"]), seen);
        }
        pages += 1;
        cursor = page["cursor"].as_i64().unwrap();
        if page["has_more"] == json!(false) {
            break;
        }
        assert_eq!(events.len(), 2000, "a page with more after it is full");
    }
    assert_eq!(seen, 20_000);
    assert!(pages >= 10, "{pages} pages");
}

/// Transports translate; services run SQL. Reads the sources of the HTTP
/// transport and the realtime transports (and their session core).
#[test]
fn transports_contain_no_sql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("src/http"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    for name in ["ws", "sse", "poll", "session", "protocol", "mod"] {
        files.push(root.join(format!("src/realtime/{name}.rs")));
    }
    files.push(root.join("src/extract.rs"));
    for folder in ["src/compat/stomp", "src/compat/sockjs"] {
        files.extend(
            std::fs::read_dir(root.join(folder))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "rs")),
        );
    }
    // the Supabase adapter's transports (its SQL is in compat/supabase/tables.rs)
    for name in [
        "socket", "rest", "phoenix", "changes", "schema", "resume", "relay",
    ] {
        files.push(root.join(format!("src/compat/supabase/{name}.rs")));
    }
    let markers = [
        "SELECT ",
        "INSERT ",
        "UPDATE ",
        "DELETE ",
        "prepare_cached",
        ".query(",
    ];
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Route docs (`GET|PUT|DELETE /v1/…`) are not SQL.
            if line.trim_start().starts_with("//") {
                continue;
            }
            // `uri.query()` reads a query string; an SQL query takes arguments.
            let line_sql = line.replace(".query()", "");
            for marker in markers {
                if line_sql.contains(marker) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL in a transport:\n{}",
        found.join("\n")
    );
}

/// A backlog decides the reader's visibility once per read, not per row. The
/// reader's delete-for-me point, passed to `pgchat.changes` as a call, was
/// inlined into it and asked again for every row scanned: a chunk of 1,000
/// messages took five times as long.
#[tokio::test]
async fn a_backlog_decides_the_readers_visibility_once_per_read() {
    let app = spawn_app().await;
    let token = app.token("reader", "user");
    let session = app.open_session(&token).await;
    let conversation = &session["conversation_id"];
    for n in 0..20 {
        let body = json!({ "body": format!("m{n}"), "client_msg_id": Uuid::new_v4() });
        let (status, _) = app.send_json(&token, conversation, &body).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let id = Uuid::parse_str(as_id(conversation)).unwrap();
    let claims = json!({ "sub": "reader", "role": "user" }).to_string();
    let (rows, calls) = app
        .calls_of(
            "hidden_before",
            &claims,
            "SELECT * FROM pgchat.changes_as_caller($1, 0, 9223372036854775807, 0, 1000)",
            &[&id],
        )
        .await;
    assert!(
        rows.len() > 20,
        "the head and every change: {} rows",
        rows.len()
    );
    assert_eq!(calls, 1, "the delete-for-me point was asked {calls} times");
}
