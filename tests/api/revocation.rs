//! The batch path and revocation: a batch of sends is one statement that RLS
//! checks row by row and the triggers announce once per conversation; access
//! lost while the listener was down (a ban, a transfer, a deletion) is
//! enforced before the refill delivers anything after it, and a change made
//! then (a session resolved) reaches every transport after it; a full send
//! queue refuses at once, and an all-or-nothing array takes its places in it.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_postgres::AsyncMessage;
use uuid::Uuid;

use crate::chat_helpers::{invite, moderate, room_of, user};
use crate::desk::enrol;
use crate::helpers::{as_id, spawn_app, spawn_app_with, wait_for, TestApp};
use crate::realtime::Sse;
use crate::ws_client::{queue_fence, session_fence, Ws};

/// Frames up to and including the first `unsubscribed`.
async fn until_unsubscribed(ws: &mut Ws) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = ws.event().await;
        let done = frame["type"] == "unsubscribed";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

fn bodies(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "message_new")
        .map(|f| f["message"]["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Takes the listener down and keeps it down: no new connection gets into
/// the database until `allow_connections(true)`.
async fn listener_outage(app: &TestApp) {
    app.allow_connections(false).await;
    app.kill_listener().await;
    wait_for("the listener to be down", || async {
        let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
        ready.status() != StatusCode::OK
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_banned_during_a_listener_outage_receives_nothing_afterwards_over_websocket_or_sse(
) {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let room = room_of(&app, &alice, "private", "outage").await;
    invite(&app, &alice, &room, "bob", "member").await;
    invite(&app, &alice, &room, "carol", "member").await;
    let topic = format!("conversation:{}", as_id(&room["id"]));
    let mut bob_ws = Ws::connect(app.port, &bob).await;
    bob_ws.subscribe(&topic, None).await;
    bob_ws.subscribe("presence:alice", None).await;
    let mut bob_sse = Sse::open(&app, &bob, &topic, None).await;
    let mut carol_ws = Ws::connect(app.port, &carol).await;
    carol_ws.subscribe(&topic, None).await;
    app.send(&alice, &room["id"], "before the outage").await;
    assert_eq!(
        bodies(&[bob_ws.event_of("message_new").await]),
        ["before the outage"]
    );

    listener_outage(&app).await;
    let (status, banned) = moderate(&app, &alice, &room, "bob", json!({ "banned": true })).await;
    assert_eq!(status, StatusCode::OK, "{banned}");
    for i in 0..5 {
        app.send(&alice, &room["id"], &format!("after the ban {i}"))
            .await;
    }
    app.allow_connections(true).await;

    // carol, still a member, gets everything: the refill ran
    let got: Vec<String> = carol_ws
        .messages(6)
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        got[1..],
        (0..5)
            .map(|i| format!("after the ban {i}"))
            .collect::<Vec<_>>()[..]
    );
    // bob is told he left, then unsubscribed (from the room and from alice's
    // presence, which he no longer may follow), and gets no message from after the ban
    let mut frames = until_unsubscribed(&mut bob_ws).await;
    frames.extend(until_unsubscribed(&mut bob_ws).await);
    assert!(bodies(&frames).is_empty(), "{frames:?}");
    assert!(
        frames.iter().any(|f| f["type"] == "member_left"),
        "{frames:?}"
    );
    let mut ended: Vec<String> = frames
        .iter()
        .filter(|f| f["type"] == "unsubscribed")
        .map(|f| f["topic"].as_str().unwrap().to_owned())
        .collect();
    ended.sort();
    assert_eq!(ended, [topic.clone(), "presence:alice".to_owned()]);
    // nor later: the fence is a marker in a conversation of his own
    let later = session_fence(&app, &mut bob_ws, &bob).await;
    assert_eq!(bodies(&later), ["marker"], "{later:?}");
    let mut sse_frames = Vec::new();
    loop {
        let event = bob_sse.event().await;
        let done = event["type"] == "unsubscribed";
        sse_frames.push(event);
        if done {
            break;
        }
    }
    let leaked: Vec<_> = bodies(&sse_frames)
        .into_iter()
        .filter(|b| b.starts_with("after the ban"))
        .collect();
    assert!(leaked.is_empty(), "SSE leaked {leaked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_transferred_away_during_a_listener_outage_gets_neither_the_next_message_nor_the_new_agents_note(
) {
    let app = spawn_app().await;
    enrol(&app, "ann", "online", 5).await;
    let (ann, ben) = (app.token("ann", "agent"), app.token("ben", "agent"));
    let customer = app.token("cus", "user");
    let admin = app.token("boss", "admin");
    let session = app.open_session(&customer).await;
    wait_for("the session to be assigned to ann", || async {
        app.session(&admin, &session["id"]).await["agent_id"] == "ann"
    })
    .await;
    enrol(&app, "ben", "online", 5).await;
    let conversation = session["conversation_id"].clone();
    let topic = format!("conversation:{}", as_id(&conversation));
    let mut ann_ws = Ws::connect(app.port, &ann).await;
    ann_ws.subscribe(&topic, None).await;
    let mut boss_ws = Ws::connect(app.port, &admin).await;
    boss_ws.subscribe(&topic, None).await;

    listener_outage(&app).await;
    let (status, body) = app
        .session_action(
            &admin,
            &session["id"],
            "transfer",
            &json!({ "agent_id": "ben" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.send(&customer, &conversation, "for the new agent")
        .await;
    let note = json!({ "body": "internal: the new agent's note", "client_msg_id": Uuid::new_v4(), "internal": true });
    let (status, body) = app.send_json(&ben, &conversation, &note).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.allow_connections(true).await;

    // the admin gets both (the fence: the refill ran)
    let seen = boss_ws.messages(3).await;
    let seen: Vec<&str> = seen.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(seen.contains(&"internal: the new agent's note"), "{seen:?}");
    let frames = until_unsubscribed(&mut ann_ws).await;
    let leaked: Vec<_> = bodies(&frames)
        .into_iter()
        .filter(|b| b == "for the new agent" || b.starts_with("internal"))
        .collect();
    assert!(leaked.is_empty(), "the old agent got {leaked:?}");
    // nor later: the fence is a new session on the queue
    ann_ws.subscribe("support:queue", None).await;
    let later = queue_fence(&app, &mut ann_ws).await;
    assert!(bodies(&later).is_empty(), "{later:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_deleted_during_a_listener_outage_ends_its_subscriptions_when_the_listener_is_back(
) {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let admin = app.token("root", "admin");
    let session = app.open_session(&carol).await;
    let conversation = session["conversation_id"].clone();
    let topic = format!("conversation:{}", as_id(&conversation));
    let mut live = Ws::connect(app.port, &carol).await;
    live.subscribe(&topic, None).await;
    app.send(&carol, &conversation, "before the outage").await;
    live.event_of("message_new").await;

    // the `gone` notice of the deletion is never heard: the listener is down
    listener_outage(&app).await;
    let path = format!("/v1/support/sessions/{}", as_id(&session["id"]));
    let (status, body) = app.delete(&admin, &path).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    app.allow_connections(true).await;

    // the refill finds the conversation gone and says so
    let told = live.event_of("unsubscribed").await;
    assert_eq!(
        (&told["topic"], &told["reason"]),
        (&json!(topic), &json!("deleted"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_resolved_during_a_listener_outage_reaches_sse_and_a_waiting_long_poll_afterwards(
) {
    let app = spawn_app().await;
    enrol(&app, "ann", "online", 5).await;
    let ann = app.token("ann", "agent");
    let carol = app.token("carol", "user");
    let session = app.open_session(&carol).await;
    wait_for("the session to be assigned to ann", || async {
        app.session(&ann, &session["id"]).await["status"] == "active"
    })
    .await;
    let conversation = as_id(&session["conversation_id"]).to_owned();
    let topic = format!("conversation:{conversation}");
    let poll = format!("/v1/conversations/{conversation}/poll");
    let cursor = app
        .get(&carol, &format!("{poll}?since=0&timeout_ms=0"))
        .await
        .1["cursor"]
        .clone();
    let mut sse = Sse::open(&app, &carol, &topic, Some(cursor.as_i64().unwrap())).await;

    let waiting = {
        let request = app
            .http
            .get(app.url(&format!("{poll}?since={cursor}&timeout_ms=20000")))
            .bearer_auth(&carol);
        tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    wait_for("the long poll waiting", || async {
        app.metric("pgchat_realtime_sessions{transport=\"poll\"}")
            .await
            == 1.0
    })
    .await;

    listener_outage(&app).await;
    let (status, body) = app
        .session_action(&ann, &session["id"], "resolve", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.allow_connections(true).await;

    // both hear of the move once the listener is back (the refill)
    let resolved =
        |e: &Value| e["type"] == "session_updated" && e["session"]["status"] == "resolved";
    loop {
        if resolved(&sse.event().await) {
            break;
        }
    }
    let woken = waiting.await.unwrap();
    assert!(
        woken["events"].as_array().unwrap().iter().any(resolved),
        "the long poll woke with the move: {woken}"
    );
}

#[tokio::test]
async fn a_batch_mixes_senders_and_conversations_refuses_its_forbidden_items_and_notifies_once_per_conversation(
) {
    let app = spawn_app().await;
    let owner = user(&app, "u1").await;
    for u in ["u2", "u3", "u4"] {
        user(&app, u).await;
    }
    let a = room_of(&app, &owner, "private", "a").await;
    let b = room_of(&app, &owner, "private", "b").await;
    invite(&app, &owner, &a, "u2", "member").await;
    invite(&app, &owner, &b, "u3", "member").await;
    let (a_id, b_id) = (as_id(&a["id"]).to_owned(), as_id(&b["id"]).to_owned());
    let head = |c: &str| format!("SELECT last_seq FROM conversations WHERE id = '{c}'");
    let (a_head, b_head) = (app.count(&head(&a_id)).await, app.count(&head(&b_id)).await);

    let (listener, mut connection) = app.db_config.connect(tokio_postgres::NoTls).await.unwrap();
    let (tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = stream.next().await {
            if let AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.payload().to_owned());
            }
        }
    });
    listener.batch_execute("LISTEN pgchat").await.unwrap();

    let item = |sub: &str, role: &str, c: &str, body: &str| {
        json!({ "sub": sub, "role": role, "conversation_id": c, "client_msg_id": Uuid::new_v4(),
                "kind": "text", "body": body, "internal": false })
    };
    let items = json!([
        item("u1", "user", &a_id, "a1"),
        item("u2", "user", &a_id, "a2"),
        item("u4", "user", &a_id, "not a member"),
        item("u1", "user", &b_id, "b1"),
        item("u3", "user", &b_id, "b2"),
        item("u2", "admin", &a_id, "a role the token does not carry"),
        item("u2", "user", &a_id, "after a refused one"),
        item("u1", "user", &a_id, "a3"),
    ]);
    let senders = json!({ "u1": "user", "u2": "user", "u3": "user", "u4": "user" });
    let rows = app
        .sql_with_claims(
            "",
            "SELECT i, outcome, message FROM pgchat.send_batch($1, $2)",
            &[&items, &senders],
        )
        .await
        .unwrap();
    let outcomes: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected = [
        "created", "created", "slow", "created", "created", "slow", "slow", "created",
    ];
    assert_eq!(
        outcomes.iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(),
        expected
    );
    // numbered in item order, per conversation, from where each stood
    let seq_of = |i: usize| rows[i].get::<_, Value>(2)["seq"].as_i64().unwrap();
    assert_eq!(
        [seq_of(0), seq_of(1), seq_of(7)],
        [a_head + 1, a_head + 2, a_head + 3]
    );
    assert_eq!([seq_of(3), seq_of(4)], [b_head + 1, b_head + 2]);
    assert_eq!(rows[1].get::<_, Value>(2)["sender_id"], "u2");
    let stored = app
        .count("SELECT count(*) FROM chat_messages WHERE body IN ('not a member', 'a role the token does not carry', 'after a refused one')")
        .await;
    assert_eq!(stored, 0);

    // one notification per conversation, naming its range and carrying its
    // rows (a few short messages fit), each by its change_seq
    let mut received = Vec::new();
    let mut carried = Vec::new();
    while received.len() < 2 {
        let note = tokio::time::timeout(Duration::from_secs(10), notes.recv())
            .await
            .expect("a notification")
            .unwrap();
        let mut note = serde_json::from_str::<Value>(&note).unwrap();
        let rows = note.as_object_mut().unwrap().remove("rows").expect("rows");
        for (cs, row) in rows.as_object().unwrap() {
            assert_eq!(cs.parse::<i64>().unwrap(), row["change_seq"]);
            carried.push(row["body"].as_str().unwrap().to_owned());
        }
        received.push(note);
    }
    carried.sort();
    assert_eq!(carried, ["a1", "a2", "a3", "b1", "b2"]);
    received.sort_by_key(|n| n["c"] == a_id.as_str());
    assert_eq!(
        received,
        [
            json!({ "t": "messages", "c": b_id, "lo": b_head + 1, "hi": b_head + 2, "n": 2 }),
            json!({ "t": "messages", "c": a_id, "lo": a_head + 1, "hi": a_head + 3, "n": 3 }),
        ]
    );
    listener
        .batch_execute("SELECT pg_notify('pgchat', 'fence')")
        .await
        .unwrap();
    let next = notes.recv().await.unwrap();
    assert_eq!(next, "fence", "no further notification");

    // the batch's senders are no licence for other rows: RLS still decides
    let forged = app
        .sql_with_claims(
            "",
            "SELECT set_config('request.jwt.batch', '{\"u4\": \"user\"}', true);
             INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             VALUES ($1::text::uuid, 'u4', 'user', 'forged')",
            &[&a_id],
        )
        .await;
    assert!(forged.is_err());
    let error = app
        .sql_with_claims(
            "",
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             VALUES ($1::text::uuid, 'u1', 'user', 'no batch, no claims')",
            &[&a_id],
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_send_queue_refuses_at_once_with_503_overloaded_and_retry_after() {
    let app = spawn_app_with(|config| {
        // one send being committed and one queued behind it
        config.database.send_workers = 2;
        config.database.send_queue = 2;
    })
    .await;
    let customer = app.token("cus", "user");
    let session = app.open_session(&customer).await;
    let conversation = session["conversation_id"].clone();
    // hold the conversation row: the worker's batch waits for it
    let mut holder = pgchat::db::connect(&app.db_config).await.unwrap();
    let hold = holder.transaction().await.unwrap();
    hold.execute(
        "SELECT 1 FROM conversations WHERE id = $1::text::uuid FOR UPDATE",
        &[&as_id(&conversation)],
    )
    .await
    .unwrap();
    let send = |n: usize| {
        let (http, url, token) = (
            app.http.clone(),
            app.url(&format!(
                "/v1/conversations/{}/messages",
                as_id(&conversation)
            )),
            customer.clone(),
        );
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({ "body": format!("m{n}"), "client_msg_id": Uuid::new_v4() }))
                .send()
                .await
                .unwrap()
        }
    };
    let first = tokio::spawn(send(1));
    wait_for("the first batch to wait for the row lock", || async {
        app.count(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .await
            == 1
    })
    .await;
    // the first holds one place, the next takes the other (queued, or waiting
    // for the same row): the node's bound, whichever worker a send is for, so
    // the other four are refused at once, while the first still waits
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let others: Vec<_> = (2..=6)
        .map(|n| {
            let (request, refusals) = (send(n), refusals.clone());
            tokio::spawn(async move {
                let response = request.await;
                if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                    refusals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                response
            })
        })
        .collect();
    wait_for("four refusals", || async {
        refusals.load(std::sync::atomic::Ordering::SeqCst) == 4
    })
    .await;
    assert!(!first.is_finished(), "refused while the first still waits");
    hold.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().status(), StatusCode::CREATED);
    let mut statuses = Vec::new();
    for other in others {
        let response = other.await.unwrap();
        let status = response.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(response.headers()["retry-after"], "1");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "overloaded");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_array_insert_takes_a_place_per_row_in_the_send_queue() {
    let app = spawn_app_with(|config| config.database.send_queue = 2).await;
    let customer = app.token("cus", "user");
    let session = app.open_session(&customer).await;
    let conversation = as_id(&session["conversation_id"]).to_owned();
    let insert = |rows: usize| {
        let rows: Vec<Value> = (0..rows)
            .map(|n| {
                json!({ "conversation_id": conversation, "body": format!("row {n}"),
                        "client_msg_id": Uuid::new_v4() })
            })
            .collect();
        app.http
            .post(app.url("/rest/v1/chat_messages"))
            .header("apikey", &customer)
            .bearer_auth(&customer)
            .json(&rows)
            .send()
    };
    // one send holds a place, waiting for the conversation row
    let mut holder = pgchat::db::connect(&app.db_config).await.unwrap();
    let hold = holder.transaction().await.unwrap();
    hold.execute(
        "SELECT 1 FROM conversations WHERE id = $1::text::uuid FOR UPDATE",
        &[&conversation],
    )
    .await
    .unwrap();
    let (http, url, token) = (
        app.http.clone(),
        app.url(&format!("/v1/conversations/{conversation}/messages")),
        customer.clone(),
    );
    let first = tokio::spawn(async move {
        http.post(url)
            .bearer_auth(token)
            .json(&json!({ "body": "first", "client_msg_id": Uuid::new_v4() }))
            .send()
            .await
            .unwrap()
            .status()
    });
    wait_for("the first send to wait for the row lock", || async {
        app.count(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .await
            == 1
    })
    .await;
    // two rows need two places, and one is left: refused at once, nothing stored
    let refused = tokio::time::timeout(Duration::from_secs(10), insert(2))
        .await
        .expect("refused at once, not queued behind the lock")
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");
    hold.rollback().await.unwrap();
    assert_eq!(first.await.unwrap(), StatusCode::CREATED);
    // with the places back, the same array goes in whole
    assert_eq!(insert(2).await.unwrap().status(), StatusCode::CREATED);
    let rows = app
        .count(&format!(
            "SELECT count(*) FROM chat_messages
              WHERE conversation_id = '{conversation}' AND body LIKE 'row %'"
        ))
        .await;
    assert_eq!(rows, 2, "only the accepted array's rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_support_queue_tells_an_agent_only_what_the_rest_api_shows_them() {
    let app = spawn_app().await;
    let (ann, ben) = (app.token("ann", "agent"), app.token("ben", "agent"));
    let admin = app.token("boss", "admin");
    let customer = app.token("cus", "user");
    let mut ben_ws = Ws::connect(app.port, &ben).await;
    ben_ws.subscribe("support:queue", None).await;
    let mut boss_ws = Ws::connect(app.port, &admin).await;
    boss_ws.subscribe("support:queue", None).await;

    let session = app
        .open_session_with(&customer, "my private subject", "hello")
        .await;
    // waiting: every agent sees it whole
    let waiting = ben_ws.event_of("session_updated").await;
    assert_eq!(waiting["session"]["subject"], "my private subject");
    let (status, _) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.session_action(&customer, &session["id"], "end", &json!({}))
        .await;
    let (status, body) = app
        .session_action(
            &customer,
            &session["id"],
            "rating",
            &json!({ "rating": 1, "feedback": "my private feedback" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // the admin sees every change whole (the fence: all of them were dispatched)
    loop {
        let frame = boss_ws.event_of("session_updated").await;
        if frame["session"]["feedback"] == "my private feedback" {
            break;
        }
    }
    // ben, who may not read it once claimed (REST: 404), learnt only that it left the queue
    let (status, _) = app
        .call(
            app.http
                .get(app.url(&format!("/v1/support/sessions/{}", as_id(&session["id"]))))
                .bearer_auth(&ben),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // (the fence: a new session on the queue, after all of these)
    let frames = queue_fence(&app, &mut ben_ws).await;
    let told: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "session_updated" && f["session"]["id"] == session["id"])
        .collect();
    assert_eq!(told.len(), 1, "{frames:?}");
    assert_eq!(
        told[0]["session"],
        json!({ "id": session["id"], "conversation_id": session["conversation_id"],
                "status": "active", "change_seq": told[0]["change_seq"] })
    );
    let text = serde_json::to_string(&frames).unwrap();
    assert!(!text.contains("private"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_subscriptions_end_with_the_membership_that_allowed_them() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let room = room_of(&app, &alice, "private", "friends").await;
    invite(&app, &alice, &room, "bob", "member").await;
    // bob follows alice's presence, alice follows bob's: they share the room
    let mut bob_ws = Ws::connect(app.port, &bob).await;
    bob_ws.subscribe("presence:alice", None).await;
    let mut alice_ws = Ws::connect(app.port, &alice).await;
    alice_ws.subscribe("presence:bob", None).await;

    let (status, body) = moderate(&app, &alice, &room, "bob", json!({ "banned": true })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // both ways: neither may follow the other any more
    let ended = bob_ws.event_of("unsubscribed").await;
    assert_eq!(ended["topic"], "presence:alice");
    assert_eq!(ended["reason"], "access_revoked");
    let ended = alice_ws.event_of("unsubscribed").await;
    assert_eq!(ended["topic"], "presence:bob");
    // and subscribing again is refused like any unknown user
    let again = bob_ws
        .request(json!({ "type": "subscribe", "topic": "presence:alice" }))
        .await;
    assert_eq!(again["type"], "error", "{again}");
    assert_eq!(again["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_typing_an_internal_note_is_not_shown_to_the_customer() {
    let app = spawn_app().await;
    let customer = app.token("cus", "user");
    let agent = app.token("ann", "agent");
    let admin = app.token("boss", "admin");
    let session = app.open_session(&customer).await;
    let (status, _) = app
        .session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let conversation = as_id(&session["conversation_id"]).to_owned();
    let topic = format!("conversation:{conversation}");
    let mut cus_ws = Ws::connect(app.port, &customer).await;
    cus_ws.subscribe(&topic, None).await;
    let mut boss_ws = Ws::connect(app.port, &admin).await;
    boss_ws.subscribe(&topic, None).await;
    let mut ann_ws = Ws::connect(app.port, &agent).await;

    let typing = |internal: bool| json!({ "type": "typing_start", "conversation_id": conversation, "internal": internal });
    assert_eq!(ann_ws.request(typing(true)).await["type"], "ack");
    let seen = boss_ws.event_of("typing").await;
    assert_eq!(
        (seen["user_id"].as_str(), seen["internal"].as_bool()),
        (Some("ann"), Some(true))
    );
    // then a reply: the customer hears of that one only
    assert_eq!(ann_ws.request(typing(false)).await["type"], "ack");
    let first = cus_ws.event_of("typing").await;
    assert_eq!(
        (first["typing"].as_bool(), first["internal"].as_bool()),
        (Some(true), Some(false)),
        "the note's typing never reached the customer: {first}"
    );
    // a customer cannot type "notes"
    let refused = cus_ws.request(typing(true)).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("staff_only"))
    );
}
