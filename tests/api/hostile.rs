//! Hostile input: oversized bodies on every JSON endpoint, deep and broken
//! JSON, invalid UTF-8 in bodies, URLs and WebSocket frames, too many
//! subscriptions, socket floods per address, typing floods. Each attack gets a
//! 4xx (or an error frame, or a close), never a 500; the server stays up
//! (a normal request works after each) and its memory stays bounded.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::chat_helpers::{room_of, user};
use crate::helpers::{
    as_id, assert_client_error, assert_error, metric_at, spawn_app_with, wait_for, TestApp,
};
use crate::routes;
use crate::ws_client::{Node, Ws};

/// The routes whose OpenAPI entry takes a JSON body: (METHOD, path).
fn json_endpoints() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(include_str!("../../docs/openapi.json")).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["requestBody"]["content"]["application/json"].is_object() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The server still serves: health, and an authenticated write.
async fn still_up(app: &TestApp) {
    let (status, _) = app.call(app.http.get(app.url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK, "the server is up");
    let token = app.token("canary", "user");
    app.open_session(&token).await;
}

/// POSTs `chunks` chunks of `size` spaces with chunked transfer encoding over a
/// plain socket; the status of the answer (None if the server closed first).
async fn chunked_post(
    app: &TestApp,
    token: &str,
    path: &str,
    chunks: usize,
    size: usize,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .ok()?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.ok()?;
    let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
    for _ in 0..chunks {
        // The server may answer and close before we are done: stop writing then.
        if socket.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 4096];
    let n = socket.read(&mut answer).await.ok()?;
    let text = String::from_utf8_lossy(&answer[..n]);
    text.split(' ').nth(1)?.parse().ok()
}

async fn raw(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    app.call(
        app.http
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

#[tokio::test]
async fn an_oversized_body_is_413_on_every_json_endpoint_and_writes_nothing() {
    let app = spawn_app_with(|config| config.dev = true).await;
    let admin = app.token("root", "admin");
    let customer = app.token("carol", "user");
    app.open_session(&customer).await;
    let before = app.counts().await;
    let huge = json!({ "body": "x".repeat(100 * 1024) })
        .to_string()
        .into_bytes();
    let endpoints = json_endpoints();
    assert!(endpoints.len() >= 20, "{endpoints:?}");
    let mut wrong = Vec::new();
    for (method, path) in &endpoints {
        for token in [&admin, &customer] {
            let response = raw(&app, token, method, &routes::concrete(path), huge.clone()).await;
            if response.0 != StatusCode::PAYLOAD_TOO_LARGE
                || response.1["error"]["code"] != "payload_too_large"
            {
                wrong.push(format!("{method} {path}: {} {}", response.0, response.1));
            }
        }
    }
    // Chunked, with no Content-Length to refuse it by, and far larger than the limit.
    let status = chunked_post(&app, &customer, "/v1/support/sessions", 160, 64 * 1024).await;
    assert_eq!(status, Some(413), "a 10 MiB chunked body");
    assert!(wrong.is_empty(), "not 413: {wrong:#?}");
    assert_eq!(app.counts().await, before, "nothing was written");
    eprintln!(
        "hostile: {} JSON endpoints × 2 callers refused an oversized body",
        endpoints.len()
    );
    still_up(&app).await;
}

#[tokio::test]
async fn deep_broken_and_non_utf8_json_is_400_never_500() {
    let app = spawn_app_with(|_| {}).await;
    let customer = app.token("carol", "user");
    let session = app.open_session(&customer).await;
    let send = format!(
        "/v1/conversations/{}/messages",
        as_id(&session["conversation_id"])
    );
    let before = app.counts().await;
    let id = Uuid::new_v4();
    let deep_array = format!(
        r#"{{"body": {}"x"{}, "client_msg_id": "{id}"}}"#,
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let deep_object = format!(
        r#"{{"body": "x", "client_msg_id": "{id}", "reply_to": {}1{}}}"#,
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    let mut bodies: Vec<Vec<u8>> = vec![
        deep_array.into_bytes(),
        deep_object.into_bytes(),
        format!(r#"{{"body": "\ud800", "client_msg_id": "{id}"}}"#).into_bytes(),
        format!(r#"{{"body": "\udc00\ud800", "client_msg_id": "{id}"}}"#).into_bytes(),
        format!(r#"{{"body": "a", "body": "b", "client_msg_id": "{id}"}}"#).into_bytes(),
        format!(r#"{{"body": "hi", "client_msg_id": "{id}", "reply_to": 1e400}}"#).into_bytes(),
        format!(r#"{{"body": "hi", "client_msg_id": "{id}", "internal": 1}}"#).into_bytes(),
        b"\xef\xbb\xbf{\"body\": \"bom\"}".to_vec(),
        b"{\"body\": \"\xff\xfe\xfd\", \"client_msg_id\": \"6f1c4c8e-3f4f-4a57-9b0e-6f5bb2a1f2a1\"}".to_vec(),
        b"{\"body\": \"\xc3\x28 overlong \xe0\x80\xaf\", \"client_msg_id\": \"6f1c4c8e-3f4f-4a57-9b0e-6f5bb2a1f2a1\"}".to_vec(),
        b"{\"body\": \"\xed\xa0\x80 surrogate in UTF-8\", \"client_msg_id\": \"6f1c4c8e-3f4f-4a57-9b0e-6f5bb2a1f2a1\"}".to_vec(),
        vec![0u8; 1024],
        b"\x00{}".to_vec(),
        b"{\"body\": \"hi\", \"client_msg_id\": \"6f1c4c8e-3f4f-4a57-9b0e-6f5bb2a1f2a1\"".to_vec(),
        "{\"body\": \"nul \\u0000 inside\", \"client_msg_id\": \"6f1c4c8e-3f4f-4a57-9b0e-6f5bb2a1f2a1\"}".as_bytes().to_vec(),
    ];
    // Every JSON endpoint gets the worst of them too.
    let mut tried = 0;
    for body in bodies.drain(..) {
        let response = raw(&app, &customer, "POST", &send, body.clone()).await;
        tried += 1;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{:.80}: {}",
            String::from_utf8_lossy(&body),
            response.1
        );
        assert_client_error(&response);
    }
    let nested = format!("{}1{}", "[".repeat(30_000), "]".repeat(30_000)).into_bytes();
    for (method, path) in json_endpoints() {
        for body in [nested.clone(), b"{\"x\": \"\xff\"}".to_vec()] {
            let response = raw(&app, &customer, &method, &routes::concrete(&path), body).await;
            tried += 1;
            assert!(
                response.0.is_client_error() && response.0 != StatusCode::NOT_FOUND
                    || path.starts_with("/v1/dev"),
                "{method} {path}: {} {}",
                response.0,
                response.1
            );
        }
    }
    // Invalid UTF-8 and NULs in the URL and the headers.
    for path in [
        "/v1/search?q=%FF%FE",
        "/v1/search?q=%00",
        "/v1/support/sessions?q=%C3%28&agent_id=%ED%A0%80",
        "/v1/rooms?q=%E0%80%AF",
        "/v1/conversations/%FF/messages",
        "/v1/support/canned/lookup?shortcut=%FF",
    ] {
        let (status, body) = app.get(&customer, path).await;
        tried += 1;
        assert!(
            status.is_client_error() || status.is_success(),
            "{path}: {status} {body}"
        );
    }
    let bad_header = app
        .http
        .get(app.url("/v1/conversations"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status(), StatusCode::UNAUTHORIZED);
    // Huge headers and URLs: served within the HTTP layer's buffer (about
    // 400 KiB), refused beyond it; never a 5xx, never a crash.
    for size in [200 * 1024, 1024 * 1024] {
        let long = "a".repeat(size);
        let response = app
            .http
            .get(app.url("/healthz"))
            .header("x-padding", long.clone())
            .send()
            .await;
        assert!(
            response.map_or(true, |r| !r.status().is_server_error()),
            "a {size}-byte header"
        );
        let response = app
            .http
            .get(app.url(&format!("/v1/search?q={long}")))
            .bearer_auth(&customer)
            .send()
            .await;
        assert!(
            response.map_or(true, |r| !r.status().is_server_error()),
            "a {size}-byte URL"
        );
        tried += 2;
    }
    assert_eq!(app.counts().await, before, "nothing was written");
    eprintln!("hostile: {tried} malformed requests refused with 4xx");
    still_up(&app).await;
}

#[tokio::test]
async fn invalid_utf8_and_garbage_on_the_socket_never_take_the_server_down() {
    let app = spawn_app_with(|_| {}).await;
    let customer = app.token("carol", "user");
    let session = app.open_session(&customer).await;

    // A text frame that is not UTF-8: the server drops that connection (it is a
    // protocol violation), and only that one.
    let mut bystander = Ws::connect(app.port, &customer).await;
    let mut ws = Ws::connect(app.port, &customer).await;
    let frame = Frame::message(
        b"{\"type\":\"ping\",\"x\":\"\xff\xfe\"}".to_vec(),
        OpCode::Data(Data::Text),
        true,
    );
    ws.send_raw(Message::Frame(frame)).await;
    let code = ws.closed_with().await;
    assert!(
        matches!(code, 0 | 1002 | 1007),
        "closed (protocol error or invalid data), got {code}"
    );
    assert_eq!(
        bystander.request(json!({ "type": "ping" })).await["type"],
        "pong"
    );

    // Garbage that is valid UTF-8: an error frame each, and the socket stays.
    let mut ws = Ws::connect(app.port, &customer).await;
    let nested = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)); // under the 64 KiB frame limit
    let garbage: Vec<String> = vec![
        "".into(),
        "null".into(),
        "\"just a string\"".into(),
        "[1,2,3]".into(),
        nested,
        "{\"type\": \"\\ud800\"}".into(),
        "{\"type\": \"subscribe\", \"topic\": \"conversation:\\u0000\"}".into(),
        "{\"type\": \"send_message\", \"conversation_id\": \"x\"}".into(),
        "{\"type\": 42}".into(),
        "{\"type\": \"ping\", \"ref\": \"".to_owned() + &"r".repeat(200) + "\"}",
        "{\"type\": \"ping\", \"ref\": [1]}".into(),
        "{\"type\": \"subscribe\", \"topic\": \"inbox\", \"since\": -1}".into(),
        "{\"type\": \"subscribe\", \"topic\": \"conversation:".to_owned()
            + as_id(&session["conversation_id"])
            + "\", \"since\": 1e400}",
        "\u{feff}{\"type\": \"ping\"}".into(),
        "💥".repeat(1000),
    ];
    for text in &garbage {
        ws.send_raw(Message::Text(text.clone().into())).await;
        let answer = ws
            .next_frame(Duration::from_secs(5))
            .await
            .expect("an answer, not a close");
        assert_eq!(answer["type"], "error", "{:.60} → {answer}", text);
    }
    ws.send_raw(Message::Binary(vec![0xff; 1024].into())).await;
    let answer = ws
        .next_frame(Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(answer["code"], "binary_unsupported");
    assert_eq!(ws.request(json!({ "type": "ping" })).await["type"], "pong");
    eprintln!(
        "hostile: {} garbage frames answered with error frames",
        garbage.len() + 1
    );
    still_up(&app).await;
}

#[tokio::test]
async fn too_many_subscriptions_on_one_socket_are_refused_until_one_is_dropped() {
    let app = spawn_app_with(|config| config.realtime.ws_max_subscriptions = 5).await;
    let alice = user(&app, "alice").await;
    let mut topics = Vec::new();
    for n in 0..6 {
        let room = room_of(&app, &alice, "public", &format!("room {n}")).await;
        topics.push(format!("conversation:{}", as_id(&room["id"])));
    }
    let mut ws = Ws::connect(app.port, &alice).await;
    for topic in &topics[..4] {
        ws.subscribe(topic, None).await;
    }
    ws.subscribe("inbox", None).await;
    // The same topic again replaces itself; a sixth is refused.
    ws.subscribe(&topics[0], Some(0)).await;
    let refused = ws
        .request(json!({ "type": "subscribe", "topic": topics[5] }))
        .await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("too_many_subscriptions"))
    );
    ws.request(json!({ "type": "unsubscribe", "topic": topics[1] }))
        .await;
    ws.subscribe(&topics[5], None).await;
    // Floods of subscribe frames to topics that do not exist cost nothing lasting.
    for _ in 0..200 {
        let answer = ws
            .request(
                json!({ "type": "subscribe", "topic": format!("conversation:{}", Uuid::new_v4()) }),
            )
            .await;
        assert_eq!(answer["type"], "error");
    }
    assert_eq!(ws.request(json!({ "type": "ping" })).await["type"], "pong");
    still_up(&app).await;
}

#[tokio::test]
async fn a_socket_flood_from_one_address_is_capped_with_429_and_others_come_back_after() {
    let app = spawn_app_with(|config| {
        config.limits.ws_max_per_ip = 10;
        config.limits.ws_max_per_user = 0;
    })
    .await;
    let mut open = Vec::new();
    for n in 0..10 {
        open.push(Ws::connect(app.port, &app.token(&format!("u{n}"), "user")).await);
    }
    let mut refused = 0;
    for n in 0..50 {
        let url = format!(
            "ws://127.0.0.1:{}/v1/ws?token={}",
            app.port,
            app.token(&format!("flood{n}"), "user")
        );
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 429);
                assert!(response.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("expected a 429, got {:?}", other.map(|_| "a socket")),
        }
    }
    assert_eq!(refused, 50);
    // REST from the same address is not limited by the socket cap.
    still_up(&app).await;
    for ws in open.drain(..) {
        ws.close().await;
    }
    wait_for("places given back when sockets close", || async {
        Ws::try_connect(app.port, &app.token("later", "user"))
            .await
            .is_some()
    })
    .await;
}

#[tokio::test]
async fn a_typing_flood_is_coalesced_and_does_not_reach_others_as_a_flood() {
    let app = spawn_app_with(|_| {}).await;
    let customer = app.token("carol", "user");
    let agent = app.token("ann", "agent");
    let session = app.open_session(&customer).await;
    app.session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    let conversation = as_id(&session["conversation_id"]).to_owned();
    let mut watcher = Ws::connect(app.port, &agent).await;
    watcher
        .subscribe(&format!("conversation:{conversation}"), None)
        .await;
    let mut typist = Ws::connect(app.port, &customer).await;
    let started = Instant::now();
    const FLOOD: usize = 1000;
    for n in 0..FLOOD {
        let frame = json!({ "type": "typing_start", "conversation_id": conversation, "ref": n });
        typist
            .send_raw(Message::Text(frame.to_string().into()))
            .await;
    }
    // Every frame is answered (nothing dropped silently), in order.
    let mut acks = 0;
    while acks < FLOOD {
        let frame = typist
            .next_frame(Duration::from_secs(10))
            .await
            .expect("an answer");
        if frame["type"] == "ack" {
            assert_eq!(frame["ref"], json!(acks));
            acks += 1;
        }
    }
    let elapsed = started.elapsed();
    // The fence: a message sent after the flood comes after what it caused.
    app.send(&customer, &session["conversation_id"], "marker")
        .await;
    let seen = watcher.until_message("marker").await;
    let typing = seen
        .iter()
        .filter(|f| f["type"] == "typing" && f["typing"] == true)
        .count();
    let allowed = elapsed.as_secs() as usize + 2;
    assert!(
        (1..=allowed).contains(&typing),
        "{FLOOD} typing_start in {elapsed:?} reached the other side {typing} times (at most one a second)"
    );
    // Typing in conversations the typist cannot see: errors (not_found, or
    // rate_limited before the lookup once the flood passes the per-user limit).
    for _ in 0..100 {
        let answer = typist
            .request(json!({ "type": "typing_start", "conversation_id": Uuid::new_v4() }))
            .await;
        let code = answer["code"].as_str().unwrap_or("");
        assert!(["not_found", "rate_limited"].contains(&code), "{answer}");
    }
    eprintln!("hostile: {FLOOD} typing_start in {elapsed:?} → {typing} typing events delivered");
    still_up(&app).await;
}

#[tokio::test]
async fn typing_and_presence_announcements_are_rate_limited_per_user() {
    let app = spawn_app_with(|config| config.limits.ephemeral_rate = 5).await;
    let customer = app.token("carol", "user");
    let agent = app.token("ann", "agent");
    let session = app.open_session(&customer).await;
    app.session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    let conversation = as_id(&session["conversation_id"]).to_owned();
    let mut watcher = Ws::connect(app.port, &agent).await;
    watcher
        .subscribe(&format!("conversation:{conversation}"), None)
        .await;
    // Start/stop pairs dodge the once-a-second coalescing of typing_start; the
    // per-user limit (5/s, bursts of 10) still holds them.
    let mut typist = Ws::connect(app.port, &customer).await;
    let started = Instant::now();
    let mut limited = 0;
    for _ in 0..200 {
        for kind in ["typing_start", "typing_stop"] {
            let answer = typist
                .request(json!({ "type": kind, "conversation_id": conversation }))
                .await;
            if answer["type"] == "error" {
                assert_eq!(answer["code"], "rate_limited", "{answer}");
                assert!(answer["retry_after"].as_u64().is_some_and(|s| s >= 1));
                limited += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The fence: a message sent after the flood comes after what it caused.
    app.send(&customer, &session["conversation_id"], "marker")
        .await;
    let seen = watcher.until_message("marker").await;
    let starts = seen
        .iter()
        .filter(|f| f["type"] == "typing" && f["typing"] == true)
        .count();
    let allowed = 10 + (5.0 * elapsed).ceil() as usize;
    assert!(limited > 0, "the flood met the limit");
    assert!(
        starts <= allowed,
        "{starts} typing starts reached the other side in {elapsed:.1} s (allowed {allowed})"
    );
    // set_presence draws from the same bucket.
    let mut refused = 0;
    for status in ["away", "busy"].iter().cycle().take(40) {
        let answer = typist
            .request(json!({ "type": "set_presence", "status": status }))
            .await;
        if answer["code"] == "rate_limited" {
            refused += 1;
        }
    }
    assert!(refused > 0, "a presence flood is limited");
    // Others are not slowed down, and sending messages is a separate bucket.
    let mut other = Ws::connect(app.port, &agent).await;
    let answer = other
        .request(json!({ "type": "typing_start", "conversation_id": conversation }))
        .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    let sent = typist
        .request(json!({ "type": "send_message", "conversation_id": conversation, "client_msg_id": Uuid::new_v4(), "body": "still here" }))
        .await;
    assert_eq!(sent["type"], "ack", "{sent}");
    eprintln!("hostile: 400 typing frames in {elapsed:.1} s → {starts} typing starts delivered, {limited} refused");
}

/// Resident memory of a node, from its /metrics.
async fn rss_mb(base: &str) -> f64 {
    let bytes = metric_at(base, "pgchat_process_resident_memory_bytes").await;
    assert!(bytes > 0.0, "the RSS gauge");
    bytes / 1_048_576.0
}

#[tokio::test]
async fn memory_stays_bounded_through_a_flood_of_hostile_traffic() {
    // A node of its own: its RSS is the server's alone, not the test process's.
    let app = spawn_app_with(|_| {}).await;
    let node = Node::start(
        &app,
        &[
            ("PGCHAT_WS_MAX_PER_IP", "0"),
            ("PGCHAT_WS_MAX_PER_USER", "0"),
        ],
    )
    .await;
    let base = node.base();
    let http = reqwest::Client::new();
    let customer = app.token("carol", "user");
    let session = app.open_session(&customer).await;
    let conversation = as_id(&session["conversation_id"]).to_owned();
    // Warm up: pools, caches, the first sockets.
    for _ in 0..20 {
        let ws = Ws::connect(node.port, &customer).await;
        ws.close().await;
    }
    let before = rss_mb(&base).await;
    let started = Instant::now();
    let mut requests = 0;
    let huge = "x".repeat(200 * 1024);
    for round in 0..20 {
        // oversized and malformed bodies
        for _ in 0..25 {
            let _ = http
                .post(format!("{base}/v1/conversations/{conversation}/messages"))
                .bearer_auth(&customer)
                .header("content-type", "application/json")
                .body(huge.clone())
                .send()
                .await;
            let _ = http
                .post(format!("{base}/v1/support/sessions"))
                .bearer_auth(&customer)
                .header("content-type", "application/json")
                .body(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)))
                .send()
                .await;
            requests += 2;
        }
        // sockets opened, subscribed, flooded with garbage, dropped without a close
        let mut sockets = Vec::new();
        for _ in 0..20 {
            let mut ws = Ws::connect(node.port, &customer).await;
            for n in 0..10 {
                ws.send_raw(Message::Text(
                    format!("{{\"type\":\"nope{n}\",\"pad\":\"{}\"}}", "p".repeat(4000)).into(),
                ))
                .await;
            }
            ws.subscribe(&format!("conversation:{conversation}"), Some(0))
                .await;
            sockets.push(ws);
            requests += 11;
        }
        drop(sockets);
        // and real traffic meanwhile
        app.send(
            &customer,
            &session["conversation_id"],
            &format!("round {round}"),
        )
        .await;
    }
    // Closed sockets are reaped.
    wait_for("the node's sockets closed", || async {
        metric_at(&base, "pgchat_ws_connections").await == 0.0
    })
    .await;
    let after = rss_mb(&base).await;
    eprintln!(
        "hostile: {requests} hostile requests and frames in {:?}; node RSS {before:.1} MB → {after:.1} MB",
        started.elapsed()
    );
    assert!(
        after - before < 64.0,
        "RSS grew from {before:.1} MB to {after:.1} MB"
    );
    let (status, _) = app.call(http.get(format!("{base}/readyz"))).await;
    assert_eq!(status, StatusCode::OK, "the node is still ready");
}

#[tokio::test]
async fn slow_or_silent_connections_are_closed_but_long_requests_and_sockets_are_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|config| config.limits.header_read_timeout_secs = 1).await;
    let customer = app.token("carol", "user");
    let session = app.open_session(&customer).await;
    let conversation = as_id(&session["conversation_id"]).to_owned();

    // A slowloris: headers trickle in and never end. And one that sends nothing.
    let started = Instant::now();
    let mut trickle = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let mut buffer = [0u8; 256];
    for socket in [&mut trickle, &mut silent] {
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // a 408 before the close
                }
            }
        })
        .await;
        assert!(read.is_ok(), "the connection was not closed");
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed after the 1 s header timeout"
    );

    // What legitimately takes longer is left alone: a long poll, an event stream,
    // an idle WebSocket.
    let mut ws = Ws::connect(app.port, &customer).await;
    let events = app
        .http
        .get(app.url(&format!("/v1/events?topic=conversation:{conversation}")))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let (status, _) = app
        .get(
            &customer,
            &format!("/v1/conversations/{conversation}/poll?since=1000000&timeout_ms=2500"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a 2.5 s long poll is answered");
    assert_eq!(
        ws.request(json!({ "type": "ping" })).await["type"],
        "pong",
        "an idle socket stays"
    );
    app.send(&customer, &session["conversation_id"], "to the stream")
        .await;
    let mut stream = events;
    let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("the event stream still delivers")
        .unwrap();
    assert!(chunk.is_some(), "the event stream is open");
    still_up(&app).await;
}

/// A cursor or a page size is parsed once, by its type, whatever carries it:
/// a negative `since` is `invalid_since` on the socket, over SSE (query or
/// `Last-Event-ID`) and long polling alike, and a page size out of range is
/// `invalid_limit` on every list.
#[tokio::test]
async fn a_bad_cursor_or_page_size_gets_the_same_error_on_every_transport() {
    let app = spawn_app_with(|_| {}).await;
    let alice = user(&app, "alice").await;
    let room = room_of(&app, &alice, "public", "Lobby").await;
    let id = as_id(&room["id"]);

    let mut ws = Ws::connect(app.port, &alice).await;
    let answer = ws
        .request(json!({ "type": "subscribe", "topic": format!("conversation:{id}"), "since": -1 }))
        .await;
    assert_eq!(answer["code"], "invalid_since", "{answer}");

    for path in [
        format!("/v1/events?topic=conversation:{id}&since=-1"),
        format!("/v1/conversations/{id}/poll?since=-1&timeout_ms=0"),
    ] {
        assert_error(
            &app.get(&alice, &path).await,
            StatusCode::BAD_REQUEST,
            "invalid_since",
        );
    }
    let response = app
        .call(
            app.http
                .get(app.url(&format!("/v1/events?topic=conversation:{id}")))
                .bearer_auth(&alice)
                .header("Last-Event-ID", "-1"),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_last_event_id");

    for path in [
        "/v1/conversations?limit=0".to_owned(),
        format!("/v1/conversations/{id}/messages?limit=101"),
        "/v1/rooms?limit=-5".to_owned(),
        "/v1/search?q=hello&limit=1000".to_owned(),
    ] {
        assert_error(
            &app.get(&alice, &path).await,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        );
    }
    // a page size that is no number is still the page size's error; any
    // other field that does not parse is `invalid_query`
    let response = app.get(&alice, "/v1/conversations?limit=abc").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_limit");
    let response = app.get(&alice, "/v1/conversations?bogus=1").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_query");
}
