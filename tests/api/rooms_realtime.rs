//! Every change of a room or a message is a realtime event over a real socket,
//! and a client that was away gets each of them back by resuming from its cursor.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::chat_helpers::{direct, invite, join, moderate, put, room_of, room_path, user};
use crate::helpers::{as_id, spawn_app};
use crate::ws_client::{session_fence, Ws};

fn message_path(message: &Value, rest: &str) -> String {
    format!("/v1/messages/{}{rest}", as_id(&message["id"]))
}

#[tokio::test]
async fn edits_deletes_reactions_pins_members_and_settings_arrive_live_and_on_resume() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    user(&app, "carol").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    let topic = format!("conversation:{}", as_id(&lobby["id"]));
    let hello = app.send(&bob, &lobby["id"], "helo").await;

    let mut live = Ws::connect(app.port, &alice).await;
    let ack = live.subscribe(&topic, None).await;
    let cursor = ack["cursor"].as_i64().expect("a cursor");

    // one of each change, each heard live before the next is made (changes
    // of one row made faster than the server reads them arrive together, as
    // that row's later state: changes_committed_together_… below)
    let mut events = Vec::new();
    app.patch(&bob, &message_path(&hello, ""), &json!({ "body": "hello" }))
        .await;
    events.push(live.event().await);
    put(&app, &alice, &message_path(&hello, "/reactions/👍")).await;
    events.push(live.event().await);
    let pin = room_path(&lobby, &format!("/pins/{}", as_id(&hello["id"])));
    put(&app, &alice, &pin).await;
    events.push(live.event().await);
    app.delete(&alice, &pin).await;
    events.push(live.event().await);
    let doomed = app.send(&bob, &lobby["id"], "oops").await;
    events.push(live.event().await);
    app.delete(&bob, &message_path(&doomed, "")).await;
    events.push(live.event().await);
    invite(&app, &alice, &lobby, "carol", "member").await;
    events.push(live.event().await);
    moderate(
        &app,
        &alice,
        &lobby,
        "carol",
        json!({ "role": "moderator" }),
    )
    .await;
    events.push(live.event().await);
    moderate(&app, &alice, &lobby, "bob", json!({ "silenced": true })).await;
    events.push(live.event().await);
    app.delete(&alice, &room_path(&lobby, "/members/carol"))
        .await;
    events.push(live.event().await);
    let (status, _) = app
        .patch(
            &alice,
            &room_path(&lobby, ""),
            &json!({ "name": "Lounge", "settings": { "enable_ai": true } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    events.push(live.event().await);

    let expected_live = [
        "message_updated",
        "reaction",
        "message_pinned",
        "message_unpinned",
        "message_new",
        "message_deleted",
        "member_joined",
        "member_updated",
        "member_updated",
        "member_left",
        "room_updated",
    ];
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, expected_live, "{events:#?}");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["change_seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in change_seq order: {seqs:?}"
    );
    assert_eq!(events[0]["message"]["body"], "hello");
    assert_eq!(
        events[1]["message"]["reactions"],
        json!({ "👍": ["alice"] })
    );
    assert_eq!(events[2]["message"]["pinned_by"], "alice");
    assert_eq!(events[5]["message"]["body"], "");
    assert_eq!(events[6]["user_id"], "carol");
    assert_eq!(events[7]["member"]["role"], "moderator");
    assert_eq!(events[8]["member"]["silenced"], true);
    assert_eq!(events[10]["room"]["name"], "Lounge");
    assert_eq!(events[10]["room"]["settings"]["enable_ai"], true);

    // resuming from the cursor replays every change, as the rows are now
    let mut resumed = Ws::connect(app.port, &alice).await;
    let ack = resumed.subscribe(&topic, Some(cursor)).await;
    // The fence: the change at the ack's cursor, the head, comes last (the
    // backlog is replayed in change_seq order).
    let mut replay = Vec::new();
    let head = ack["cursor"].clone();
    for frame in resumed
        .until("the change at the head", |f| f["change_seq"] == head)
        .await
    {
        if frame["change_seq"].is_i64() {
            replay.push(frame);
        }
    }
    let kinds: Vec<&str> = replay.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // the edited, reacted, pinned and unpinned message is one row now: its
    // latest change; a message sent and deleted since the cursor is new to me
    assert_eq!(
        kinds,
        [
            "message_updated",
            "message_new",
            "member_updated",
            "member_left",
            "room_updated"
        ],
        "{replay:#?}"
    );
    assert_eq!(replay[0]["message"]["body"], "hello");
    assert!(replay[1]["message"]["deleted_at"].is_string());
    assert_eq!(
        replay[0]["message"]["reactions"],
        json!({ "👍": ["alice"] })
    );
    assert_eq!(replay[4]["room"]["name"], "Lounge");
    assert_eq!(ack["cursor"], events.last().unwrap()["change_seq"]);
    let replayed: Vec<i64> = replay
        .iter()
        .map(|e| e["change_seq"].as_i64().unwrap())
        .collect();
    assert!(
        replayed.iter().all(|s| seqs.contains(s)),
        "{replayed:?} ⊂ {seqs:?}"
    );

    // the same through long polling
    let (status, polled) = app
        .get(
            &alice,
            &format!(
                "/v1/conversations/{}/poll?since={cursor}&timeout_ms=0",
                as_id(&lobby["id"])
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    let kinds: Vec<&str> = polled["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "message_updated",
            "message_new",
            "member_updated",
            "member_left",
            "room_updated"
        ]
    );
}

/// Changes committed together reach the listener together, and by the time it
/// could read them back each row shows only its latest version (one message
/// row at its unpin, one member row at its removal). Every change is still
/// delivered, in order, as it was (their notifications carry the rows), the
/// message as sent first, also on a member's inbox. A message too big to be
/// carried is read back as it is by then: its first appearance, in its
/// edited state, is its `message_new`, and its edit is not sent again.
#[tokio::test]
async fn changes_committed_together_arrive_one_by_one_as_they_were() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    user(&app, "carol").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    let conversation: uuid::Uuid = as_id(&lobby["id"]).parse().unwrap();
    let mut live = Ws::connect(app.port, &alice).await;
    live.subscribe(&format!("conversation:{conversation}"), None)
        .await;
    let mut inbox = Ws::connect(app.port, &bob).await;
    inbox.subscribe("inbox", None).await;

    let mut client = pgchat::db::connect(&app.db_config).await.unwrap();
    let tx = client.transaction().await.unwrap();
    let id: uuid::Uuid = tx
        .query_one(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             VALUES ($1, 'bob', 'user', 'draft') RETURNING id",
            &[&conversation],
        )
        .await
        .unwrap()
        .get(0);
    for sql in [
        "UPDATE chat_messages SET body = 'final', edited_at = now() WHERE id = $1",
        "UPDATE chat_messages SET pinned_at = now(), pinned_by = 'alice' WHERE id = $1",
        "UPDATE chat_messages SET pinned_at = NULL, pinned_by = NULL WHERE id = $1",
    ] {
        tx.execute(sql, &[&id]).await.unwrap();
    }
    for sql in [
        "INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, 'carol')",
        "UPDATE conversation_members SET role = 'moderator' WHERE conversation_id = $1 AND user_id = 'carol'",
        "UPDATE conversation_members SET left_at = now() WHERE conversation_id = $1 AND user_id = 'carol'",
    ] {
        tx.execute(sql, &[&conversation]).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut events = Vec::new();
    while events.len() < 7 {
        events.push(live.event().await);
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "message_new",
            "message_updated",
            "message_pinned",
            "message_unpinned",
            "member_joined",
            "member_updated",
            "member_left"
        ],
        "{events:#?}"
    );
    assert_eq!(events[0]["message"]["body"], "draft");
    assert_eq!(events[1]["message"]["body"], "final");
    assert!(events[1]["message"]["pinned_at"].is_null());
    assert_eq!(events[2]["message"]["pinned_by"], "alice");
    assert!(events[3]["message"]["pinned_at"].is_null());
    assert_eq!(events[4]["member"]["role"], "member");
    assert_eq!(events[5]["member"]["role"], "moderator");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["change_seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let new = inbox.event_of("message_new").await;
    assert_eq!(new["message"]["body"], "draft");

    let big = "é".repeat(4000); // 8,000 bytes: more than a notification carries
    let tx = client.transaction().await.unwrap();
    let id: uuid::Uuid = tx
        .query_one(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             VALUES ($1, 'bob', 'user', $2) RETURNING id",
            &[&conversation, &big],
        )
        .await
        .unwrap()
        .get(0);
    tx.execute(
        "UPDATE chat_messages SET body = 'edited', edited_at = now() WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let first = live.event().await;
    assert_eq!(
        (&first["type"], &first["message"]["body"]),
        (&json!("message_new"), &json!("edited"))
    );
    // next comes the fence, not the edit again
    app.send(&alice, &lobby["id"], "fence").await;
    let next = live.event().await;
    assert_eq!(
        (&next["type"], &next["message"]["body"]),
        (&json!("message_new"), &json!("fence"))
    );
}

#[tokio::test]
async fn a_removed_member_is_told_on_their_inbox_and_loses_the_room() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let club = room_of(&app, &alice, "private", "Club").await;
    let topic = format!("conversation:{}", as_id(&club["id"]));

    let mut bob_ws = Ws::connect(app.port, &bob).await;
    bob_ws.subscribe("inbox", None).await;
    invite(&app, &alice, &club, "bob", "member").await;
    let added = bob_ws.event_of("member_joined").await;
    assert_eq!(added["conversation_id"], club["id"]);
    bob_ws.subscribe(&topic, None).await;
    app.send(&alice, &club["id"], "welcome").await;
    while bob_ws.event_of("message_new").await["topic"] != json!(topic) {}

    moderate(&app, &alice, &club, "bob", json!({ "banned": true })).await;
    let mut told = (false, false);
    while told != (true, true) {
        let frame = bob_ws.event().await;
        match (frame["type"].as_str(), frame["topic"].as_str()) {
            (Some("member_left"), Some("inbox")) => told.0 = true,
            (Some("unsubscribed"), Some(t)) if t == topic => told.1 = true,
            _ => {}
        }
    }
    app.send(&alice, &club["id"], "bob is gone").await;
    // The fence: a marker in a conversation of bob's own, sent after.
    let later = session_fence(&app, &mut bob_ws, &bob).await;
    assert!(
        later.iter().all(|f| f["topic"] != json!(topic)),
        "a banned member heard the room: {later:?}"
    );
    let answer = bob_ws
        .request(json!({ "type": "subscribe", "topic": topic }))
        .await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("error"), Some("not_found"))
    );
}

#[tokio::test]
async fn a_new_direct_conversation_and_its_messages_reach_the_peers_inbox() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let mut bob_ws = Ws::connect(app.port, &bob).await;
    bob_ws.subscribe("inbox", None).await;
    let conversation = direct(&app, &alice, "bob").await;
    let joined = bob_ws.event_of("member_joined").await;
    assert_eq!(joined["conversation_id"], conversation["id"]);
    app.send(&alice, &conversation["id"], "hi bob").await;
    let new = bob_ws.event_of("message_new").await;
    assert_eq!(new["message"]["body"], "hi bob");
}
