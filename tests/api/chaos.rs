//! Client sockets dropped at random under load: subscribers vanish without a
//! goodbye (or close politely) at random moments and come back with their
//! cursor; a WebSocket sender loses its socket with sends in flight and
//! resends what was not acknowledged under the same client_msg_id. At the end
//! every subscriber has every acknowledged message exactly once, in seq order,
//! and the database holds each client_msg_id once.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::helpers::{as_id, spawn_app};
use crate::ws_client::Ws;

const MESSAGES: usize = 300;
const WATCHERS: usize = 6;

/// A subscriber that drops its socket at random and resumes from its cursor.
/// Returns the messages it received (by arrival) and how many times it dropped.
async fn flaky_watcher(port: u16, token: String, topic: String, seed: u64) -> (Vec<Value>, usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut cursor = 0i64;
    let mut got: Vec<Value> = Vec::new();
    let mut seen = HashSet::new();
    let mut drops = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < MESSAGES && Instant::now() < deadline {
        let Some(mut ws) = Ws::try_connect(port, &token).await else {
            tokio::time::sleep(Duration::from_millis(50)).await; // a client's retry backoff
            continue;
        };
        if !ws
            .try_send(&json!({ "type": "subscribe", "topic": topic, "since": cursor, "ref": "s" }))
            .await
        {
            continue;
        }
        // Read a random number of frames, then vanish.
        let budget = rng.random_range(1..60);
        let mut read = 0;
        while read < budget && seen.len() < MESSAGES {
            let Some(frame) = ws.next_frame(Duration::from_secs(5)).await else {
                break;
            };
            read += 1;
            if let Some(cs) = frame["change_seq"].as_i64() {
                cursor = cursor.max(cs);
            }
            if frame["type"] == "message_new"
                && frame["message"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with("chaos "))
            {
                seen.insert(frame["message"]["id"].to_string());
                got.push(frame["message"].clone());
            }
        }
        if seen.len() < MESSAGES {
            drops += 1;
            if rng.random_bool(0.5) {
                drop(ws); // no close frame: the TCP connection just goes
            } else {
                ws.close().await;
            }
            if rng.random_bool(0.3) {
                // a random pause before coming back: the chaos itself, not a wait
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
            }
        }
    }
    (got, drops)
}

#[tokio::test]
async fn subscribers_and_a_sender_dropping_sockets_at_random_lose_and_duplicate_nothing() {
    let app = spawn_app().await;
    let customer = app.token("carol", "user");
    let agent = app.token("ann", "agent");
    let session = app.open_session(&customer).await;
    app.session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    let conversation = as_id(&session["conversation_id"]).to_owned();
    let topic = format!("conversation:{conversation}");
    let seed: u64 = rand::rng().random();
    eprintln!("chaos seed {seed}");

    let watchers: Vec<_> = (0..WATCHERS)
        .map(|w| {
            let token = if w % 2 == 0 {
                customer.clone()
            } else {
                app.token(&format!("admin{w}"), "admin")
            };
            tokio::spawn(flaky_watcher(
                app.port,
                token,
                topic.clone(),
                seed + w as u64,
            ))
        })
        .collect();

    // The sender: pipelined sends over a socket it loses at random; whatever was
    // not acknowledged is sent again, same client_msg_id, on a new socket.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let ids: Vec<Uuid> = (0..MESSAGES).map(|_| Uuid::new_v4()).collect();
    let mut acked: BTreeMap<usize, Value> = BTreeMap::new();
    let mut sender_drops = 0;
    let mut deduplicated = 0;
    let started = Instant::now();
    while acked.len() < MESSAGES {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the sender got stuck"
        );
        let mut ws = Ws::connect(app.port, &agent).await;
        let pending: Vec<usize> = (0..MESSAGES).filter(|i| !acked.contains_key(i)).collect();
        let burst = rng.random_range(1..40).min(pending.len());
        for &i in &pending[..burst] {
            let frame = json!({
                "type": "send_message", "ref": i, "conversation_id": conversation,
                "client_msg_id": ids[i], "body": format!("chaos {i:04}"),
            });
            ws.send_raw(Message::Text(frame.to_string().into())).await;
        }
        // Read some of the acks, then lose the socket (sometimes before any).
        let keep = rng.random_range(0..=burst);
        let mut answered = 0;
        while answered < keep {
            let Some(frame) = ws.next_frame(Duration::from_secs(10)).await else {
                break;
            };
            if frame["type"] == "ack" {
                let i = frame["ref"].as_u64().unwrap() as usize;
                if frame["created"] == false {
                    deduplicated += 1; // committed before the socket went; found again by its id
                }
                acked.insert(i, frame["message"].clone());
                answered += 1;
            } else if frame["type"] == "error" {
                panic!("a send failed: {frame}");
            }
        }
        sender_drops += 1;
        drop(ws);
    }
    let mut received = Vec::new();
    let mut watcher_drops = 0;
    for watcher in watchers {
        let (got, drops) = watcher.await.expect("a watcher");
        watcher_drops += drops;
        received.push(got);
    }

    // Every acknowledged message, once, in seq order, to every watcher.
    let want: Vec<String> = {
        let mut messages: Vec<&Value> = acked.values().collect();
        messages.sort_by_key(|m| m["seq"].as_i64());
        messages.iter().map(|m| m["id"].to_string()).collect()
    };
    for (w, got) in received.iter().enumerate() {
        let ids: Vec<String> = got.iter().map(|m| m["id"].to_string()).collect();
        assert_eq!(
            ids.len(),
            want.len(),
            "watcher {w}: {} of {} (no loss, no duplicate)",
            ids.len(),
            want.len()
        );
        assert_eq!(
            ids, want,
            "watcher {w}: exactly the acked messages, in seq order"
        );
    }
    // One row per client_msg_id, and each acked id is that row.
    let rows = app
        .count(&format!(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = '{conversation}' AND body LIKE 'chaos %'"
        ))
        .await;
    let distinct = app
        .count(&format!(
            "SELECT count(DISTINCT client_msg_id) FROM chat_messages WHERE conversation_id = '{conversation}' AND body LIKE 'chaos %'"
        ))
        .await;
    assert_eq!(
        (rows, distinct),
        (MESSAGES as i64, MESSAGES as i64),
        "no duplicate rows"
    );
    for (i, message) in &acked {
        assert_eq!(
            message["client_msg_id"],
            json!(ids[*i]),
            "ack {i} names its own message"
        );
    }
    eprintln!(
        "chaos: {MESSAGES} messages acked to {WATCHERS} watchers ({} deliveries checked); sender lost its socket {sender_drops} times, \
         watchers {watcher_drops} times; {deduplicated} resent messages were found stored already",
        MESSAGES * WATCHERS
    );
}
