//! The realtime gateway over real sockets: fan-out, resume by cursor, listener
//! failure, plain-SQL inserts, internal notes, slow consumers, several nodes,
//! SSE and long polling, and hub delivery equal to RLS.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::helpers::{as_id, assert_sql_refused, spawn_app, wait_for, TestApp};
use crate::ws_client::{queue_fence, Node, Ws};

/// A claimed support chat: a customer, an agent, and an admin watching.
struct Chat {
    conversation: String,
    customer: String,
    agent: String,
    admin: String,
}

impl Chat {
    async fn open(app: &TestApp) -> Chat {
        let customer = app.token_named("cust", "user", "Cus");
        let agent = app.token_named("agent", "agent", "Agnes");
        let admin = app.token("boss", "admin");
        let session = app.open_session(&customer).await;
        let (status, _) = app
            .session_action(&agent, &session["id"], "claim", &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let conversation = as_id(&session["conversation_id"]).to_owned();
        Chat {
            conversation,
            customer,
            agent,
            admin,
        }
    }

    fn topic(&self) -> String {
        format!("conversation:{}", self.conversation)
    }
}

fn send_frame(conversation: &str, body: &str) -> Value {
    json!({ "type": "send_message", "conversation_id": conversation, "client_msg_id": Uuid::new_v4(), "body": body })
}

#[tokio::test]
async fn three_clients_see_each_others_messages_typing_and_read_receipts() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let mut customer = Ws::connect(app.port, &chat.customer).await;
    let mut agent = Ws::connect(app.port, &chat.agent).await;
    let mut admin = Ws::connect(app.port, &chat.admin).await;
    for ws in [&mut customer, &mut agent, &mut admin] {
        ws.subscribe(&chat.topic(), None).await;
    }

    let ack = customer
        .request(send_frame(&chat.conversation, "hello all"))
        .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["message"]["body"], "hello all");
    for ws in [&mut customer, &mut agent, &mut admin] {
        let event = ws.event_of("message_new").await;
        assert_eq!(event["message"]["id"], ack["message"]["id"]);
        assert_eq!(event["topic"], chat.topic());
    }

    agent
        .request(json!({ "type": "typing_start", "conversation_id": chat.conversation }))
        .await;
    for ws in [&mut customer, &mut admin] {
        let typing = ws.event_of("typing").await;
        assert_eq!(
            (typing["user_id"].as_str(), typing["typing"].as_bool()),
            (Some("agent"), Some(true))
        );
    }
    // the typist does not hear themselves; the indicator expires 3 s after the last start
    let stopped = customer.event_of("typing").await;
    assert_eq!(stopped["typing"], false);
    // The fence: a message sent after the typing comes after any echo of it.
    app.send(&chat.customer, &json!(chat.conversation), "marker")
        .await;
    assert!(agent
        .until_message("marker")
        .await
        .iter()
        .all(|f| f["type"] != "typing"));

    let seq = ack["message"]["seq"].as_i64().unwrap();
    let read = agent
        .request(json!({ "type": "mark_read", "conversation_id": chat.conversation, "seq": seq }))
        .await;
    assert_eq!(read["last_read_seq"], seq);
    for ws in [&mut customer, &mut admin] {
        let receipt = ws.event_of("read").await;
        assert_eq!(
            (receipt["user_id"].as_str(), receipt["seq"].as_i64()),
            (Some("agent"), Some(seq))
        );
    }
}

#[tokio::test]
async fn the_inbox_starts_with_unread_counts_and_hears_of_new_messages_and_flags() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    app.send(&chat.agent, &json!(chat.conversation), "one")
        .await;
    app.send(&chat.agent, &json!(chat.conversation), "two")
        .await;
    let mut customer = Ws::connect(app.port, &chat.customer).await;
    let ack = customer.subscribe("inbox", None).await;
    let mine = &ack["conversations"][0];
    assert_eq!(
        (mine["conversation_id"].as_str(), mine["unread"].as_i64()),
        (Some(chat.conversation.as_str()), Some(2))
    );

    let sent = app
        .send(&chat.agent, &json!(chat.conversation), "three")
        .await;
    let event = customer.event_of("message_new").await;
    assert_eq!(
        (event["topic"].as_str(), &event["message"]["id"]),
        (Some("inbox"), &sent["id"])
    );
    let path = format!("/v1/conversations/{}/read", chat.conversation);
    app.post(&chat.customer, &path, &json!({ "seq": sent["seq"] }))
        .await;
    let flags = customer.event_of("flags").await;
    assert_eq!(
        flags["flags"]["last_read_seq"], sent["seq"],
        "read position reaches my other devices"
    );
}

#[tokio::test]
async fn pipelined_sends_on_one_socket_are_acked_and_stored_in_the_order_sent() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let mut ws = Ws::connect(app.port, &chat.customer).await;
    for n in 0..100 {
        let mut frame = send_frame(&chat.conversation, &format!("p{n}"));
        frame["ref"] = json!(n);
        ws.send_raw(Message::Text(frame.to_string().into())).await;
    }
    // One frame of another kind in between: its answer waits its turn.
    ws.send_raw(Message::Text(
        json!({ "type": "ping", "ref": "last" }).to_string().into(),
    ))
    .await;
    let mut seqs = Vec::new();
    for n in 0..100 {
        let ack = ws.event().await;
        assert_eq!(
            (ack["type"].as_str(), ack["ref"].as_i64()),
            (Some("ack"), Some(n)),
            "{ack}"
        );
        assert_eq!(ack["message"]["body"], format!("p{n}"));
        seqs.push(ack["message"]["seq"].as_i64().unwrap());
    }
    assert_eq!(ws.event().await["ref"], "last");
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "stored in the order sent: {seqs:?}"
    );
}

#[tokio::test]
async fn the_inbox_snapshot_leaves_out_a_conversation_deleted_for_me_until_a_new_message() {
    let app = spawn_app().await;
    let (ann, bob) = (app.token("ann", "user"), app.token("bob", "user"));
    app.get(&bob, "/v1/support/sessions").await; // bob becomes known
    let (status, direct) = app
        .post(
            &ann,
            "/v1/conversations/direct",
            &json!({ "user_id": "bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{direct}");
    let id = as_id(&direct["id"]).to_owned();
    app.send(&bob, &json!(id), "hello").await;
    let (status, _) = app
        .delete(&ann, &format!("/v1/conversations/{id}/me"))
        .await;
    assert!(status.is_success());
    let listed = |ack: &Value| {
        ack["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["conversation_id"] == json!(id))
    };
    let mut ws = Ws::connect(app.port, &ann).await;
    assert!(
        !listed(&ws.subscribe("inbox", None).await),
        "hidden after delete-for-me"
    );
    app.send(&bob, &json!(id), "are you there?").await;
    let mut ws2 = Ws::connect(app.port, &ann).await;
    assert!(
        listed(&ws2.subscribe("inbox", None).await),
        "back with a new message"
    );
    ws.close().await;
}

#[tokio::test]
async fn a_client_that_reconnects_with_its_cursor_gets_exactly_what_it_missed_in_order() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let mut customer = Ws::connect(app.port, &chat.customer).await;
    let cursor = customer.subscribe(&chat.topic(), Some(0)).await["cursor"]
        .as_i64()
        .unwrap();
    customer.close().await;

    let mut sent = Vec::new();
    for i in 0..500 {
        sent.push(
            app.send(
                &chat.agent,
                &json!(chat.conversation),
                &format!("missed {i}"),
            )
            .await["id"]
                .clone(),
        );
    }

    let mut customer = Ws::connect(app.port, &chat.customer).await;
    customer.subscribe(&chat.topic(), Some(cursor)).await;
    let backlog = customer.messages(500).await;
    assert_eq!(
        backlog.iter().map(|m| m["id"].clone()).collect::<Vec<_>>(),
        sent,
        "exactly the missed ones, in order"
    );
    let live = app
        .send(&chat.agent, &json!(chat.conversation), "live")
        .await;
    let next = customer.event_of("message_new").await;
    assert_eq!(
        next["message"]["id"], live["id"],
        "then live, with nothing repeated"
    );
}

#[tokio::test]
async fn killing_the_listener_backend_loses_and_duplicates_nothing() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let mut watcher = Ws::connect(app.port, &chat.customer).await;
    watcher.subscribe(&chat.topic(), None).await;

    let sender = {
        let (http, url, token, conversation) = (
            app.http.clone(),
            app.url(&format!("/v1/conversations/{}/messages", chat.conversation)),
            chat.agent.clone(),
            chat.conversation.clone(),
        );
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..300 {
                let body = json!({ "body": format!("m{i}"), "client_msg_id": Uuid::new_v4() });
                let response = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED, "{conversation}");
                ids.push(response.json::<Value>().await.unwrap()["id"].clone());
            }
            ids
        })
    };
    let stored = || app.count("SELECT count(*) FROM chat_messages WHERE body ~ '^m[0-9]+$'");
    for kills in 0..3 {
        // Sends land between kills (unless all are in), and the listener is
        // back from the previous kill: then kill it again.
        let before = stored().await;
        wait_for("a send since the last kill", || async {
            let now = stored().await;
            now > before || now == 300
        })
        .await;
        wait_for("the listener back", || async {
            app.metric("pgchat_listener_reconnects_total").await == f64::from(kills)
                && app.metric("pgchat_listener_up").await == 1.0
        })
        .await;
        app.kill_listener().await;
    }
    let sent = sender.await.unwrap();
    let received = watcher.messages(300).await;
    wait_for("the third reconnect", || async {
        app.metric("pgchat_listener_reconnects_total").await == 3.0
    })
    .await;
    assert_eq!(
        received.iter().map(|m| m["id"].clone()).collect::<Vec<_>>(),
        sent
    );
    // The fence: a marker sent now comes after any duplicate.
    app.send(&chat.agent, &json!(chat.conversation), "marker")
        .await;
    let extra = watcher.until_message("marker").await;
    assert!(
        extra.iter().filter(|f| f["type"] == "message_new").count() == 1,
        "no duplicates: {extra:?}"
    );
}

#[tokio::test]
async fn a_row_inserted_with_plain_sql_reaches_websocket_subscribers() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let mut customer = Ws::connect(app.port, &chat.customer).await;
    customer.subscribe(&chat.topic(), None).await;
    app.db
        .execute(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body) VALUES ($1, 'agent', 'agent', 'from psql')",
            &[&Uuid::parse_str(&chat.conversation).unwrap()],
        )
        .await
        .unwrap();
    let event = customer.event_of("message_new").await;
    assert_eq!(event["message"]["body"], "from psql");
    assert!(event["message"]["seq"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn an_internal_note_never_reaches_a_customer_socket_sse_stream_or_poll() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let mut customer = Ws::connect(app.port, &chat.customer).await;
    let mut agent = Ws::connect(app.port, &chat.agent).await;
    customer.subscribe(&chat.topic(), Some(0)).await;
    agent.subscribe(&chat.topic(), Some(0)).await;
    let mut sse = Sse::open(&app, &chat.customer, &chat.topic(), Some(0)).await;

    let mut note = send_frame(&chat.conversation, "secret: VIP, be nice");
    note["internal"] = json!(true);
    let ack = agent.request(note).await;
    assert_eq!(ack["message"]["internal"], true);
    let public = app
        .send(&chat.agent, &json!(chat.conversation), "public answer")
        .await;

    let seen = agent.messages(4).await; // first message, joined notice, note, answer
    assert!(
        seen.iter().any(|m| m["internal"] == true),
        "staff see the note"
    );
    let customer_saw = customer.messages(3).await;
    assert_eq!(customer_saw.last().unwrap()["id"], public["id"]);
    let sse_saw = sse.messages(3).await;
    assert_eq!(sse_saw.last().unwrap()["id"], public["id"]);
    let polled = app
        .get(
            &chat.customer,
            &format!(
                "/v1/conversations/{}/poll?since=0&timeout_ms=0",
                chat.conversation
            ),
        )
        .await;
    let everywhere = [
        customer_saw,
        sse_saw,
        polled.1["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].clone())
            .collect(),
    ];
    for frames in everywhere {
        assert!(
            frames.iter().all(|m| !m.to_string().contains("secret")),
            "{frames:?}"
        );
    }
    // The fence: a message sent last comes after anything else the customer could get.
    app.send(&chat.agent, &json!(chat.conversation), "marker")
        .await;
    let later = customer.until_message("marker").await;
    assert!(!later.iter().any(|f| f.to_string().contains("secret")));
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_disconnected_while_others_are_unaffected() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    // A small queue (the default is 1024), yet one that holds a few of the
    // listener's reads: each announces a whole statement's rows at once.
    let node = Node::start(&app, &[("PGCHAT_WS_QUEUE", "256")]).await;
    let mut stalled = Ws::connect(node.port, &chat.customer).await;
    stalled.subscribe(&chat.topic(), None).await;
    let mut reader = Ws::connect(node.port, &chat.agent).await;
    reader.subscribe(&chat.topic(), None).await;
    let reading = tokio::spawn(async move {
        let got = reader.messages(3000).await;
        (reader, got)
    });
    // ~15 MB in paced bursts of 20: more than the socket buffers hold for the
    // stalled client, while a reading client keeps up.
    let conversation = Uuid::parse_str(&chat.conversation).unwrap();
    for _ in 0..150 {
        app.db
            .execute(
                "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
                 SELECT $1, 'agent', 'agent', repeat('x', 5000) FROM generate_series(1, 20)",
                &[&conversation],
            )
            .await
            .unwrap();
        // Pacing, not waiting for anything: the reader keeps up with bursts.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_reader, got) = tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 3000, "the reading client got everything");
    assert_eq!(
        stalled.closed_with().await,
        4008,
        "the stalled one was closed as too slow"
    );
}

#[tokio::test]
async fn a_message_sent_through_one_node_reaches_a_subscriber_on_another_with_typing_and_presence()
{
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let node_b = Node::start(&app, &[]).await;
    let mut on_b = Ws::connect(node_b.port, &chat.customer).await;
    on_b.subscribe(&chat.topic(), None).await;
    on_b.subscribe("presence:agent", None).await;

    let mut on_a = Ws::connect(app.port, &chat.agent).await;
    let presence = on_b.event_of("presence").await;
    assert_eq!(
        (presence["user_id"].as_str(), presence["status"].as_str()),
        (Some("agent"), Some("online"))
    );
    let ack = on_a
        .request(send_frame(&chat.conversation, "across nodes"))
        .await;
    let event = on_b.event_of("message_new").await;
    assert_eq!(event["message"]["id"], ack["message"]["id"]);
    on_a.request(json!({ "type": "typing_start", "conversation_id": chat.conversation }))
        .await;
    assert_eq!(on_b.event_of("typing").await["user_id"], "agent");
    on_a.request(json!({ "type": "set_presence", "status": "busy" }))
        .await;
    assert_eq!(on_b.event_of("presence").await["status"], "busy");
    on_a.close().await;
    assert_eq!(on_b.event_of("presence").await["status"], "offline");
}

#[tokio::test]
async fn a_dead_nodes_users_go_offline_by_heartbeat_expiry() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let mut doomed = Node::start(&app, &[("PGCHAT_PRESENCE_TTL_SECS", "3")]).await;
    let mut watcher = Ws::connect(app.port, &chat.customer).await;
    watcher.subscribe("presence:agent", None).await;
    let _agent = Ws::connect(doomed.port, &chat.agent).await;
    assert_eq!(watcher.event_of("presence").await["status"], "online");
    doomed.kill();
    // the surviving node's sweeper notices the expired rows (ttl 3 s; it sweeps every 10 s)
    let offline = tokio::time::timeout(Duration::from_secs(30), watcher.event_of("presence"))
        .await
        .unwrap();
    assert_eq!(offline["status"], "offline");
}

#[tokio::test]
async fn sse_and_long_poll_deliver_the_same_events_as_the_websocket() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let mut ws = Ws::connect(app.port, &chat.customer).await;
    ws.subscribe(&chat.topic(), Some(0)).await;
    let mut sse = Sse::open(&app, &chat.customer, &chat.topic(), Some(0)).await;
    let poll_path = format!(
        "/v1/conversations/{}/poll?since=0&timeout_ms=0",
        chat.conversation
    );
    let before = app.get(&chat.customer, &poll_path).await.1;

    let waiting = {
        let (http, url, token) = (
            app.http.clone(),
            app.url(&format!(
                "/v1/conversations/{}/poll?since={}&timeout_ms=10000",
                chat.conversation, before["cursor"]
            )),
            chat.customer.clone(),
        );
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    wait_for("the long poll waiting", || async {
        app.metric("pgchat_realtime_sessions{transport=\"poll\"}")
            .await
            == 1.0
    })
    .await;
    let sent = app
        .send(&chat.agent, &json!(chat.conversation), "to every transport")
        .await;

    let by_ws = ws.messages(3).await;
    let by_sse = sse.messages(3).await;
    let woken = waiting.await.unwrap();
    let woken_messages: Vec<Value> = woken["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "message_new")
        .map(|e| e["message"].clone())
        .collect();
    assert_eq!(
        woken_messages.len(),
        1,
        "the long poll woke with it: {woken}"
    );
    assert_eq!(woken_messages[0]["id"], sent["id"]);
    let mut by_poll: Vec<Value> = before["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "message_new")
        .map(|e| e["message"].clone())
        .collect();
    by_poll.extend(woken_messages);
    let ids = |v: &[Value]| v.iter().map(|m| m["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&by_ws), ids(&by_sse));
    assert_eq!(ids(&by_ws), ids(&by_poll));

    // Last-Event-ID resumes an SSE stream after the given change_seq.
    let resumed = Sse::open_after(
        &app,
        &chat.customer,
        &chat.topic(),
        sent["change_seq"].as_i64().unwrap() - 1,
    )
    .await
    .messages(1)
    .await;
    assert_eq!(resumed[0]["id"], sent["id"]);
}

#[tokio::test]
async fn an_agent_peeking_at_a_waiting_session_loses_it_when_another_claims_it() {
    let app = spawn_app().await;
    let customer = app.token("c1", "user");
    let session = app.open_session(&customer).await;
    let topic = format!("conversation:{}", as_id(&session["conversation_id"]));
    let mut peeker = Ws::connect(app.port, &app.token("peeker", "agent")).await;
    peeker.subscribe(&topic, Some(0)).await;
    let (status, _) = app
        .session_action(
            &app.token("taker", "agent"),
            &session["id"],
            "claim",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let gone = peeker.event_of("unsubscribed").await;
    assert_eq!(
        (gone["topic"].as_str(), gone["reason"].as_str()),
        (Some(topic.as_str()), Some("access_revoked"))
    );
    peeker.subscribe("support:queue", None).await;
    app.send(&customer, &session["conversation_id"], "only for the taker")
        .await;
    let later = queue_fence(&app, &mut peeker).await;
    assert!(
        later.iter().all(|f| f["type"] != "message_new"),
        "{later:?}"
    );
}

/// Who may follow a topic and type a note is the database's rule
/// (`pgchat.may_subscribe`, `pgchat.announce_typing`): psql hears the same
/// reasons as the socket, and a refused subscription joins nothing.
#[tokio::test]
async fn in_sql_who_may_follow_a_topic_and_type_a_note_says_why() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let conversation = Uuid::parse_str(&chat.conversation).unwrap();
    let stranger = app.token("stranger", "user");
    let mut ws = Ws::connect(app.port, &stranger).await;
    for (topic, code) in [
        ("support:queue", "staff_only"),
        ("presence:cust", "not_found"),
    ] {
        let answer = ws
            .request(json!({ "type": "subscribe", "topic": topic }))
            .await;
        assert_eq!(
            (answer["type"].as_str(), answer["code"].as_str()),
            (Some("error"), Some(code)),
            "{topic}: {answer}"
        );
    }
    let answer = ws
        .request(
            json!({ "type": "typing_start", "conversation_id": conversation, "internal": true }),
        )
        .await;
    assert_eq!(answer["code"], "staff_only", "{answer}");
    let answer = ws
        .request(json!({ "type": "typing_start", "conversation_id": conversation }))
        .await;
    assert_eq!(answer["code"], "not_found", "{answer}");

    let as_stranger = |sql: &'static str| app.sql_as("stranger", "user", sql, &[]);
    let refusals = [
        (
            "SELECT pgchat.may_subscribe('support_queue', NULL)",
            "staff_only",
        ),
        (
            "SELECT pgchat.may_subscribe('inbox', 'cust')",
            "topic_not_found",
        ),
        (
            "SELECT pgchat.may_subscribe('presence', 'cust')",
            "user_not_found",
        ),
    ];
    for (sql, code) in refusals {
        assert_sql_refused(as_stranger(sql).await, code);
    }
    let typing = "SELECT pgchat.announce_typing($1, NULL, true, $2)";
    assert_sql_refused(
        app.sql_as("cust", "user", typing, &[&conversation, &true])
            .await,
        "staff_only",
    );
    assert_sql_refused(
        app.sql_as("stranger", "user", typing, &[&conversation, &false])
            .await,
        "not_found",
    );
    // the same questions pass for those they are about
    for (sub, role, sql) in [
        (
            "stranger",
            "user",
            "SELECT pgchat.may_subscribe('inbox', 'stranger')",
        ),
        (
            "cust",
            "user",
            "SELECT pgchat.may_subscribe('presence', 'cust')",
        ),
        (
            "boss",
            "admin",
            "SELECT pgchat.may_subscribe('support_queue', NULL)",
        ),
    ] {
        app.sql_as(sub, role, sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sub}: {sql}: {e}"));
    }
    app.sql_as("cust", "user", typing, &[&conversation, &false])
        .await
        .expect("the customer types in her chat");
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_survives() {
    let app = spawn_app().await;
    let chat = Chat::open(&app).await;
    let other = app.open_session(&app.token("someone-else", "user")).await;
    let mut ws = Ws::connect(app.port, &chat.customer).await;
    let cases = [
        (json!({ "type": "dance" }), "unknown_type"),
        (json!({ "type": "subscribe" }), "invalid_frame"),
        (
            json!({ "type": "subscribe", "topic": "nonsense" }),
            "invalid_topic",
        ),
        (
            json!({ "type": "subscribe", "topic": format!("conversation:{}", as_id(&other["conversation_id"])) }),
            "not_found",
        ),
        (
            json!({ "type": "subscribe", "topic": "support:queue" }),
            "staff_only",
        ),
        (
            json!({ "type": "send_message", "conversation_id": chat.conversation, "client_msg_id": "nope", "body": "x" }),
            "invalid_frame",
        ),
        (
            json!({ "type": "send_message", "conversation_id": chat.conversation, "client_msg_id": Uuid::new_v4(), "body": "" }),
            "invalid_frame",
        ),
    ];
    for (frame, code) in cases {
        let answer = ws.request(frame.clone()).await;
        assert_eq!(
            (answer["type"].as_str(), answer["code"].as_str()),
            (Some("error"), Some(code)),
            "{frame}"
        );
    }
    ws.send_raw(Message::Text("{not json".into())).await;
    assert_eq!(ws.event().await["code"], "invalid_json");
    assert_eq!(
        ws.request(json!({ "type": "ping" })).await["type"],
        "pong",
        "still serving"
    );

    ws.send_raw(Message::Text("x".repeat(70 * 1024).into()))
        .await;
    assert_eq!(
        ws.closed_with().await,
        1009,
        "an oversized frame closes with 1009"
    );
}

#[tokio::test]
async fn an_expired_token_closes_the_socket_unless_refreshed() {
    let app = spawn_app().await;
    let short =
        pgchat::auth::mint(&app.secret, "cust", pgchat::auth::Role::User, None, None, 2).unwrap();
    let mut refreshed = Ws::connect(app.port, &short).await;
    let fresh = app.token("cust", "user");
    assert_eq!(
        refreshed
            .request(json!({ "type": "access_token", "token": fresh }))
            .await["type"],
        "ack"
    );
    let wrong = app.token("mallory", "user");
    assert_eq!(
        refreshed
            .request(json!({ "type": "access_token", "token": wrong }))
            .await["code"],
        "token_identity_mismatch"
    );
    let mut lapsing = Ws::connect(app.port, &short).await;
    assert_eq!(lapsing.closed_with().await, 4001);
    assert_eq!(
        refreshed.request(json!({ "type": "ping" })).await["type"],
        "pong",
        "the refreshed one lives on"
    );
}

#[tokio::test]
async fn hub_deliveries_equal_what_rls_select_returns_for_each_identity() {
    let app = spawn_app().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let customers: Vec<String> = (0..4).map(|i| format!("cu{i}")).collect();
    let agents: Vec<String> = (0..3).map(|i| format!("ag{i}")).collect();
    let mut identities: Vec<(String, &str)> =
        customers.iter().map(|c| (c.clone(), "user")).collect();
    identities.extend(agents.iter().map(|a| (a.clone(), "agent")));
    identities.push(("root".into(), "admin"));

    // Random sessions: some left waiting, some claimed by a random agent.
    let mut conversations = Vec::new();
    for i in 0..8 {
        let customer = &customers[rng.random_range(0..customers.len())];
        let session = app.open_session(&app.token(customer, "user")).await;
        if i % 3 != 0 {
            let agent = &agents[rng.random_range(0..agents.len())];
            app.session_action(
                &app.token(agent, "agent"),
                &session["id"],
                "claim",
                &json!({}),
            )
            .await;
        }
        conversations.push(session);
    }
    // Everyone subscribes to every conversation they are allowed to.
    let mut sockets = Vec::new();
    for (user, role) in &identities {
        let mut ws = Ws::connect(app.port, &app.token(user, role)).await;
        let mut subscribed = BTreeSet::new();
        for (i, session) in conversations.iter().enumerate() {
            let topic = format!("conversation:{}", as_id(&session["conversation_id"]));
            let answer = ws
                .request(json!({ "type": "subscribe", "topic": topic }))
                .await;
            if answer["type"] == "ack" {
                subscribed.insert(format!("fence {i}"));
            }
        }
        sockets.push((ws, subscribed));
    }
    // Random traffic, notes included, from whoever may write.
    let mut expected_total = 0;
    for _ in 0..60 {
        let session = &conversations[rng.random_range(0..conversations.len())];
        let state = app
            .session(&app.token("root", "admin"), &session["id"])
            .await;
        let (writer, role, internal) = match state["agent_id"].as_str() {
            Some(agent) if rng.random_bool(0.5) => {
                (agent.to_owned(), "agent", rng.random_bool(0.4))
            }
            _ => (
                state["customer_id"].as_str().unwrap().to_owned(),
                "user",
                false,
            ),
        };
        let body = json!({ "body": "r", "client_msg_id": Uuid::new_v4(), "internal": internal });
        let (status, _) = app
            .send_json(
                &app.token(&writer, role),
                &session["conversation_id"],
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        expected_total += 1;
    }
    assert!(expected_total > 0);
    // The fences: a last message in each conversation, from its customer (every
    // reader may see it). The listener dispatches in commit order, so a socket
    // that has the fences of all its topics has had all it was going to get.
    for (i, session) in conversations.iter().enumerate() {
        let state = app
            .session(&app.token("root", "admin"), &session["id"])
            .await;
        let customer = app.token(state["customer_id"].as_str().unwrap(), "user");
        app.send(
            &customer,
            &session["conversation_id"],
            &format!("fence {i}"),
        )
        .await;
    }

    let mut sizes = Vec::new();
    for ((user, role), (ws, fences)) in identities.iter().zip(sockets.iter_mut()) {
        assert!(!fences.is_empty(), "{user} can fence on a conversation");
        let delivered: BTreeSet<String> = ws
            .until(&format!("the fences of {user}"), |f| {
                f["type"] == "message_new"
                    && f["message"]["body"]
                        .as_str()
                        .is_some_and(|b| fences.remove(b))
                    && fences.is_empty()
            })
            .await
            .iter()
            .filter(|f| f["type"] == "message_new" && f["message"]["body"] == "r")
            .map(|f| f["message"]["id"].as_str().unwrap().to_owned())
            .collect();
        let rows = app
            .sql_as(
                user,
                role,
                "SELECT id::text FROM chat_messages WHERE sender_role <> 'system' AND body = 'r'",
                &[],
            )
            .await
            .expect("an RLS select");
        let visible: BTreeSet<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        assert_eq!(delivered, visible, "{user} ({role})");
        sizes.push(visible.len());
    }
    // Not vacuous: the admin saw everything, and others saw some but not all.
    assert_eq!(sizes.last(), Some(&expected_total));
    assert!(
        sizes.iter().any(|&n| n > 0 && n < expected_total),
        "{sizes:?}"
    );
}

/// A Server-Sent Events reader over a real HTTP response.
pub(crate) struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    pub(crate) async fn open(app: &TestApp, token: &str, topic: &str, since: Option<i64>) -> Sse {
        let mut url = format!("{}?topic={topic}", app.url("/v1/events"));
        if let Some(since) = since {
            url.push_str(&format!("&since={since}"));
        }
        Self::start(app.http.get(url).bearer_auth(token)).await
    }

    async fn open_after(app: &TestApp, token: &str, topic: &str, last_event_id: i64) -> Sse {
        let url = format!("{}?topic={topic}", app.url("/v1/events"));
        Self::start(
            app.http
                .get(url)
                .bearer_auth(token)
                .header("Last-Event-ID", last_event_id.to_string()),
        )
        .await
    }

    async fn start(request: reqwest::RequestBuilder) -> Sse {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Sse {
            response,
            buffer: String::new(),
        }
    }

    pub(crate) async fn event(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if !data.is_empty() {
                    return serde_json::from_str(&data).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout(crate::ws_client::PATIENCE, self.response.chunk())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut got = Vec::new();
        while got.len() < n {
            let event = self.event().await;
            if event["type"] == "message_new" {
                got.push(event["message"].clone());
            }
        }
        got
    }
}
