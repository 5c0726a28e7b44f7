//! Issue 21, items 4 and 5: every write a user makes on a message over REST
//! has a socket frame calling the same service (same rules, same error codes);
//! presence's status text and last seen; direct messages' per-message
//! delivered and read times and mark-read by ids; a hidden message's live
//! changes stay away from the reader who hid it.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{direct, invite, put, room_of, user};
use crate::helpers::{as_id, assert_error, spawn_app, TestApp};
use crate::ws_client::Ws;

fn message_path(message: &Value, rest: &str) -> String {
    format!("/v1/messages/{}{rest}", as_id(&message["id"]))
}

/// "ok" for an ack, else the error frame's code.
fn ws_outcome(answer: &Value) -> String {
    match answer["type"].as_str() {
        Some("ack") => "ok".into(),
        _ => answer["code"].as_str().unwrap_or("?").into(),
    }
}

/// "ok" for a success, else the error's code (with the status, for messages).
fn rest_outcome(response: &(StatusCode, Value)) -> String {
    match response.0.is_success() {
        true => "ok".into(),
        false => response.1["error"]["code"].as_str().unwrap_or("?").into(),
    }
}

async fn send_poll(app: &TestApp, token: &str, conversation: &Value) -> Value {
    let poll = json!({ "question": "Lunch?", "options": ["pizza", "soup"] });
    let (status, message) = app
        .send_json(
            token,
            conversation,
            &json!({ "kind": "poll", "poll": poll, "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "sending a poll: {message}");
    message
}

#[tokio::test]
async fn every_message_write_has_a_socket_frame_with_the_rules_and_codes_of_rest() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let room = room_of(&app, &alice, "private", "Parity").await;
    invite(&app, &alice, &room, "bob", "member").await;
    let room_id = &room["id"];
    let hers = app.send(&alice, room_id, "alice's words").await;
    let his = app.send(&bob, room_id, "bob's words").await;
    let poll = send_poll(&app, &alice, room_id).await;
    let mut watcher = Ws::connect(app.port, &alice).await;
    watcher
        .subscribe(&format!("conversation:{}", as_id(room_id)), None)
        .await;
    let mut ws = Ws::connect(app.port, &bob).await;

    // react, unreact: acks carry the message; other members see it live
    let answer = ws
        .request(json!({ "type": "react", "message_id": hers["id"], "emoji": "👍" }))
        .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    assert_eq!(answer["message"]["reactions"], json!({ "👍": ["bob"] }));
    let live = watcher.event_of("reaction").await;
    assert_eq!(live["message"]["reactions"], json!({ "👍": ["bob"] }));
    let answer = ws
        .request(json!({ "type": "unreact", "message_id": hers["id"], "emoji": "👍" }))
        .await;
    assert_eq!(answer["message"]["reactions"], json!({}), "{answer}");

    // edit and delete one's own
    let answer = ws
        .request(json!({ "type": "edit_message", "message_id": his["id"], "body": "bob's better words" }))
        .await;
    assert_eq!(answer["message"]["body"], "bob's better words", "{answer}");
    assert!(answer["message"]["edited_at"].is_string());

    // vote, change nothing by voting again, take it back
    let answer = ws
        .request(json!({ "type": "vote", "message_id": poll["id"], "options": [1] }))
        .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    assert_eq!(
        answer["message"]["poll"]["results"]["counts"],
        json!([0, 1]),
        "{answer}"
    );
    let answer = ws
        .request(json!({ "type": "unvote", "message_id": poll["id"] }))
        .await;
    assert_eq!(
        answer["message"]["poll"]["results"]["counts"],
        json!([0, 0]),
        "{answer}"
    );

    // refusals: the frame answers with the code REST answers with
    let refusals: Vec<(&str, Value, (StatusCode, Value))> = vec![
        (
            "editing someone else's message",
            json!({ "type": "edit_message", "message_id": hers["id"], "body": "mine now" }),
            app.patch(
                &bob,
                &message_path(&hers, ""),
                &json!({ "body": "mine now" }),
            )
            .await,
        ),
        (
            "a member deleting someone else's message",
            json!({ "type": "delete_message", "message_id": hers["id"] }),
            app.delete(&bob, &message_path(&hers, "")).await,
        ),
        (
            "a member closing someone else's poll",
            json!({ "type": "close_poll", "message_id": poll["id"] }),
            app.post(&bob, &message_path(&poll, "/close-poll"), &json!({}))
                .await,
        ),
        (
            "a member pinning",
            json!({ "type": "pin", "room_id": room_id, "message_id": hers["id"] }),
            put(
                &app,
                &bob,
                &format!("/v1/rooms/{}/pins/{}", as_id(room_id), as_id(&hers["id"])),
            )
            .await,
        ),
        (
            "a vote for an option the poll does not have",
            json!({ "type": "vote", "message_id": poll["id"], "options": [7] }),
            app.call(
                app.http
                    .put(app.url(&message_path(&poll, "/vote")))
                    .bearer_auth(&bob)
                    .json(&json!({ "options": [7] })),
            )
            .await,
        ),
    ];
    for (what, frame, rest) in refusals {
        let answer = ws.request(frame).await;
        assert_eq!(answer["type"], "error", "{what}: {answer}");
        assert_eq!(
            ws_outcome(&answer),
            rest_outcome(&rest),
            "{what}: {answer} / {rest:?}"
        );
    }
    let answer = ws
        .request(json!({ "type": "edit_message", "message_id": hers["id"], "body": "x" }))
        .await;
    assert_eq!(answer["code"], "not_your_message", "{answer}");

    // an outsider: not found, over both
    let mut outsider = Ws::connect(app.port, &carol).await;
    let answer = outsider
        .request(json!({ "type": "react", "message_id": hers["id"], "emoji": "👍" }))
        .await;
    assert_eq!(answer["code"], "not_found", "{answer}");
    let response = put(&app, &carol, &message_path(&hers, "/reactions/👍")).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");

    // bad input is named before any SQL runs
    let answer = ws
        .request(json!({ "type": "react", "message_id": hers["id"], "emoji": "a b" }))
        .await;
    assert_eq!(answer["code"], "invalid_frame", "{answer}");

    // the owner pins and unpins (room_id or conversation_id), closes, deletes
    let mut owner = Ws::connect(app.port, &alice).await;
    let answer = owner
        .request(json!({ "type": "pin", "room_id": room_id, "message_id": his["id"] }))
        .await;
    assert!(answer["message"]["pinned_at"].is_string(), "{answer}");
    let answer = owner
        .request(json!({ "type": "unpin", "conversation_id": room_id, "message_id": his["id"] }))
        .await;
    assert!(answer["message"]["pinned_at"].is_null(), "{answer}");
    let answer = owner
        .request(json!({ "type": "close_poll", "message_id": poll["id"] }))
        .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    let answer = owner
        .request(json!({ "type": "delete_message", "message_id": his["id"] }))
        .await;
    assert!(answer["message"]["deleted_at"].is_string(), "{answer}");
    // and a tombstone refuses alike over both
    let answer = ws
        .request(json!({ "type": "react", "message_id": his["id"], "emoji": "👍" }))
        .await;
    let response = put(&app, &bob, &message_path(&his, "/reactions/👍")).await;
    assert_error(&response, StatusCode::CONFLICT, "message_deleted");
    assert_eq!(answer["code"], "message_deleted", "{answer}");
}

#[tokio::test]
async fn presence_carries_a_custom_status_text_and_when_the_user_was_last_seen() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    direct(&app, &alice, "bob").await;
    let mut watcher = Ws::connect(app.port, &bob).await;
    let ack = watcher.subscribe("presence:alice", None).await;
    assert_eq!(
        ack["presence"],
        json!({ "user_id": "alice", "role": "user", "status": "offline",
                "status_text": null, "last_seen": null }),
        "never connected: {ack}"
    );

    // set over REST while offline: kept, and told
    let (status, me) = app
        .patch(
            &alice,
            "/v1/presence/me",
            &json!({ "status_text": "  In a meeting " }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["status_text"], "In a meeting");
    let event = watcher.event_of("presence").await;
    assert_eq!(
        (&event["status"], &event["status_text"]),
        (&json!("offline"), &json!("In a meeting"))
    );

    // connecting: online with the text; set over the socket, cleared with null
    let mut device = Ws::connect(app.port, &alice).await;
    let event = watcher.event_of("presence").await;
    assert_eq!(event["status"], "online", "{event}");
    assert_eq!(event["status_text"], "In a meeting");
    assert!(event["last_seen"].is_null(), "online: seen now");
    let answer = device
        .request(json!({ "type": "set_presence", "status": "busy", "status_text": null }))
        .await;
    assert_eq!(
        (&answer["status"], &answer["status_text"]),
        (&json!("busy"), &Value::Null),
        "{answer}"
    );
    let event = watcher.event_of("presence").await;
    assert_eq!(
        (&event["status"], &event["status_text"]),
        (&json!("busy"), &Value::Null),
        "{event}"
    );
    let answer = device
        .request(json!({ "type": "set_presence", "status_text": "x".repeat(101) }))
        .await;
    assert_eq!(answer["code"], "invalid_frame", "{answer}");

    // the last connection closes: offline, last seen then
    device.close().await;
    let event = watcher.event_of("presence").await;
    assert_eq!(event["status"], "offline", "{event}");
    let seen = event["last_seen"].as_str().expect("last_seen").to_owned();
    let (status, read) = app.get(&bob, "/v1/presence/alice").await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(
        (&read["status"], &read["last_seen"]),
        (&json!("offline"), &json!(seen))
    );

    // who may not see her presence does not find her; bad input is a 400
    let response = app.get(&carol, "/v1/presence/alice").await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let response = app
        .patch(
            &alice,
            "/v1/presence/me",
            &json!({ "status_text": "x".repeat(101) }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    let response = app
        .patch(&alice, "/v1/presence/me", &json!({ "status": "offline" }))
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    let (_, mine) = app.get(&alice, "/v1/presence/me").await;
    assert_eq!(mine["status_text"], Value::Null);
}

#[tokio::test]
async fn direct_messages_have_delivered_and_read_times_from_the_cursors_and_read_by_ids() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    user(&app, "carol").await;
    let chat = direct(&app, &alice, "bob").await;
    let id = &chat["id"];
    let first = app.send(&alice, id, "one").await;
    let second = app.send(&alice, id, "two").await;
    let third = app.send(&alice, id, "three").await;
    let receipts = |message: &Value| {
        let path = message_path(message, "/receipts");
        let app = &app;
        let alice = &alice;
        async move {
            let (status, body) = app.get(alice, &path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let r = receipts(&first).await;
    assert_eq!(
        (&r["delivered_at"], &r["read_at"]),
        (&Value::Null, &Value::Null),
        "{r}"
    );

    // delivered up to the first
    let (status, body) = app
        .post(
            &bob,
            &format!("/v1/conversations/{}/delivered", as_id(id)),
            &json!({ "seq": first["seq"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r1 = receipts(&first).await;
    assert!(
        r1["delivered_at"].is_string() && r1["read_at"].is_null(),
        "{r1}"
    );
    assert!(receipts(&second).await["delivered_at"].is_null());

    // read by ids: up to the newest of them
    let read_path = format!("/v1/conversations/{}/read", as_id(id));
    let (status, body) = app
        .post(
            &bob,
            &read_path,
            &json!({ "message_ids": [second["id"], first["id"]] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["last_read_seq"], second["seq"]);
    let (r1, r2, r3) = (
        receipts(&first).await,
        receipts(&second).await,
        receipts(&third).await,
    );
    assert_eq!(
        r1["delivered_at"],
        receipts(&first).await["delivered_at"],
        "times do not move"
    );
    assert!(
        r1["read_at"].is_string() && r2["read_at"].is_string(),
        "{r1} {r2}"
    );
    assert!(
        r1["delivered_at"].as_str() <= r1["read_at"].as_str(),
        "{r1}"
    );
    assert_eq!(r2["delivered_at"], r2["read_at"], "read is delivered: {r2}");
    assert!(
        r3["read_at"].is_null() && r3["delivered_at"].is_null(),
        "{r3}"
    );
    assert_eq!(r2["status"], "read");

    // an older id does not move the cursor back
    let (_, body) = app
        .post(&bob, &read_path, &json!({ "message_ids": [first["id"]] }))
        .await;
    assert_eq!(body["last_read_seq"], second["seq"]);

    // ids of nothing bob can see here: 404; a hidden one does not count
    let elsewhere = direct(&app, &alice, "carol").await;
    let other = app.send(&alice, &elsewhere["id"], "not yours").await;
    let response = app
        .post(
            &bob,
            &read_path,
            &json!({ "message_ids": [other["id"], Uuid::new_v4()] }),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    app.delete(&bob, &message_path(&third, "/me")).await;
    let response = app
        .post(&bob, &read_path, &json!({ "message_ids": [third["id"]] }))
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");

    // exactly one of seq and message_ids, 1 to 100 ids
    let response = app
        .post(
            &bob,
            &read_path,
            &json!({ "seq": 1, "message_ids": [first["id"]] }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "seq_or_message_ids");
    let response = app.post(&bob, &read_path, &json!({})).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "seq_or_message_ids");
    let response = app
        .post(&bob, &read_path, &json!({ "message_ids": [] }))
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");

    // over the socket too
    let fourth = app.send(&alice, id, "four").await;
    let mut ws = Ws::connect(app.port, &bob).await;
    let answer = ws
        .request(
            json!({ "type": "mark_read", "conversation_id": id, "message_ids": [fourth["id"]] }),
        )
        .await;
    assert_eq!(answer["last_read_seq"], fourth["seq"], "{answer}");
    assert!(receipts(&fourth).await["read_at"].is_string());

    // rooms keep counts and lists only
    let room = room_of(&app, &alice, "public", "Lobby").await;
    let said = app.send(&alice, &room["id"], "hi all").await;
    let r = receipts(&said).await;
    assert!(r.get("read_at").is_none() && r["status"] == "sent", "{r}");
}

#[tokio::test]
async fn live_changes_of_a_message_i_hid_stay_away_from_my_sockets_alone() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let chat = direct(&app, &alice, "bob").await;
    let id = &chat["id"];
    let topic = format!("conversation:{}", as_id(id));
    let mut phone = Ws::connect(app.port, &alice).await;
    phone.subscribe(&topic, None).await;
    let mut laptop = Ws::connect(app.port, &alice).await;
    laptop.subscribe(&topic, None).await;
    let mut sender = Ws::connect(app.port, &bob).await;
    sender.subscribe(&topic, None).await;
    let secret = app.send(&bob, id, "oops").await;
    let kept = app.send(&bob, id, "kept").await;

    let answer = phone
        .request(json!({ "type": "hide_message", "message_id": secret["id"] }))
        .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    let told = laptop.event_of("message_hidden").await;
    assert_eq!(told["message_id"], secret["id"], "the other device is told");

    // a socket that subscribes after the hide knows it too
    let mut tablet = Ws::connect(app.port, &alice).await;
    tablet.subscribe(&topic, None).await;

    // bob edits and reacts to it, and to the kept one; then a fence
    app.patch(
        &bob,
        &message_path(&secret, ""),
        &json!({ "body": "oops, fixed" }),
    )
    .await;
    put(&app, &bob, &message_path(&secret, "/reactions/👀")).await;
    put(&app, &bob, &message_path(&kept, "/reactions/👀")).await;
    app.send(&bob, id, "fence").await;
    for (device, socket) in [
        ("phone", &mut phone),
        ("laptop", &mut laptop),
        ("tablet", &mut tablet),
    ] {
        let frames = socket.until_message("fence").await;
        // (its message_new came before the hide, on the sockets open then)
        assert!(
            frames
                .iter()
                .all(|f| f["message"]["id"] != secret["id"] || f["type"] == "message_new"),
            "{device} got a change of the hidden message: {frames:?}"
        );
        assert!(
            frames
                .iter()
                .any(|f| f["type"] == "reaction" && f["message"]["id"] == kept["id"]),
            "{device} still gets the others: {frames:?}"
        );
    }
    // bob, who did not hide it, gets every change
    let frames = sender.until_message("fence").await;
    let changes: Vec<&Value> = frames
        .iter()
        .filter(|f| f["message"]["id"] == secret["id"] && f["type"] != "message_new")
        .map(|f| &f["type"])
        .collect();
    assert_eq!(
        changes,
        [&json!("message_updated"), &json!("reaction")],
        "{frames:?}"
    );
    assert!(
        frames.iter().all(|f| f["type"] != "message_hidden"),
        "nobody else is told"
    );
}
