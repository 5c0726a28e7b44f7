//! Direct conversations: one per pair (also under concurrent creation), my
//! list, my flags, delete-for-me (of the history, or of one message), and
//! delivered/read state for the sender.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::chat_helpers::{direct, rows, user};
use crate::helpers::{as_id, assert_error, spawn_app, TestApp};
use crate::ws_client::Ws;

fn conversation_path(conversation: &Value, rest: &str) -> String {
    format!("/v1/conversations/{}{rest}", as_id(&conversation["id"]))
}

async fn list(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(token, &format!("/v1/conversations{query}")).await;
    assert_eq!(status, StatusCode::OK, "listing: {body}");
    body["items"].as_array().expect("items").clone()
}

fn ids_of(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| as_id(&i["id"])).collect()
}

#[tokio::test]
async fn a_pair_has_exactly_one_direct_conversation_whoever_starts_it() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;

    let (status, first) = app
        .post(
            &alice,
            "/v1/conversations/direct",
            &json!({ "user_id": "bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["kind"], "direct");
    assert_eq!(first["member_count"], 2);
    assert_eq!(first["peer"]["user_id"], "bob");
    assert_eq!(first["peer"]["name"], "Bob");
    assert_eq!(first["me"]["role"], "member");

    let (status, again) = app
        .post(
            &alice,
            "/v1/conversations/direct",
            &json!({ "user_id": "bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    let (status, theirs) = app
        .post(
            &bob,
            "/v1/conversations/direct",
            &json!({ "user_id": "alice" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{theirs}");
    assert_eq!(theirs["id"], first["id"]);
    assert_eq!(theirs["peer"]["user_id"], "alice");
    assert_eq!(rows(&app, "conversations").await, 1);
}

#[tokio::test]
async fn concurrent_creation_still_makes_one_conversation_per_pair() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let app = &app;
    let calls = (0..16).map(|i| {
        let (token, peer) = if i % 2 == 0 {
            (&alice, "bob")
        } else {
            (&bob, "alice")
        };
        async move {
            app.post(
                token,
                "/v1/conversations/direct",
                &json!({ "user_id": peer }),
            )
            .await
        }
    });
    let answers = futures::future::join_all(calls).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, body) in &answers {
        assert!(status.is_success(), "{status} {body}");
        assert_eq!(body["id"], answers[0].1["id"]);
    }
    assert_eq!(rows(app, "conversations").await, 1);
    assert_eq!(rows(app, "conversation_members").await, 2);
}

#[tokio::test]
async fn a_direct_conversation_needs_a_known_other_user() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let response = app
        .post(
            &alice,
            "/v1/conversations/direct",
            &json!({ "user_id": "nobody" }),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let response = app
        .post(
            &alice,
            "/v1/conversations/direct",
            &json!({ "user_id": "alice" }),
        )
        .await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_peer");
    for body in [
        json!({}),
        json!({ "user_id": "" }),
        json!({ "user_id": "bob", "x": 1 }),
    ] {
        let response = app.post(&alice, "/v1/conversations/direct", &body).await;
        assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    }
    assert_eq!(rows(&app, "conversations").await, 0);
}

#[tokio::test]
async fn my_list_puts_pinned_first_with_the_last_message_and_unread_count() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let with_bob = direct(&app, &alice, "bob").await;
    let with_carol = direct(&app, &alice, "carol").await;
    app.send(&carol, &with_carol["id"], "hi from carol").await;
    app.send(&bob, &with_bob["id"], "one").await;
    let last = app.send(&bob, &with_bob["id"], "two").await;

    let items = list(&app, &alice, "").await;
    // most recent activity first
    assert_eq!(
        ids_of(&items),
        [as_id(&with_bob["id"]), as_id(&with_carol["id"])]
    );
    assert_eq!(items[0]["unread"], 2);
    assert_eq!(items[0]["last_message"]["id"], last["id"]);
    assert_eq!(items[0]["last_message"]["body"], "two");
    assert_eq!(items[1]["unread"], 1);

    // pinned first, whatever the activity
    let (status, body) = app
        .patch(
            &alice,
            &conversation_path(&with_carol, "/me"),
            &json!({ "pinned": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["me"]["pinned"], true);
    let items = list(&app, &alice, "").await;
    assert_eq!(
        ids_of(&items),
        [as_id(&with_carol["id"]), as_id(&with_bob["id"])]
    );

    // reading clears the count; my own messages never count
    app.post(
        &alice,
        &conversation_path(&with_bob, "/read"),
        &json!({ "seq": last["seq"] }),
    )
    .await;
    app.send(&alice, &with_bob["id"], "my reply").await;
    let items = list(&app, &alice, "").await;
    assert_eq!(items[1]["unread"], 0);

    // a kind filter, and paging one by one
    let items = list(&app, &alice, "?kind=support").await;
    assert!(items.is_empty());
    let (_, page) = app.get(&alice, "/v1/conversations?limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, next) = app
        .get(
            &alice,
            &format!("/v1/conversations?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(next["items"][0]["id"], with_bob["id"]);
    assert_eq!(next["next_cursor"], Value::Null);
    let response = app.get(&alice, "/v1/conversations?cursor=nonsense").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_cursor");
    let response = app.get(&alice, "/v1/conversations?kind=nope").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_query");
}

#[tokio::test]
async fn flags_are_mine_alone_and_reach_my_other_devices() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let conversation = direct(&app, &alice, "bob").await;
    let mut other_device = Ws::connect(app.port, &alice).await;
    other_device.subscribe("inbox", None).await;

    let (status, body) = app
        .patch(
            &alice,
            &conversation_path(&conversation, "/me"),
            &json!({ "muted": true, "archived": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            &body["me"]["muted"],
            &body["me"]["archived"],
            &body["me"]["pinned"]
        ),
        (&json!(true), &json!(true), &json!(false))
    );
    let flags = other_device.event_of("flags").await;
    assert_eq!(flags["conversation_id"], conversation["id"]);
    assert_eq!(flags["flags"]["archived"], true);
    // Every change raises the version, so copies arriving out of order can be
    // told apart: the answer, the event and a later read agree on it.
    let version = body["me"]["flags_version"]
        .as_i64()
        .expect("a flags_version");
    assert!(version > conversation["me"]["flags_version"].as_i64().unwrap());
    assert_eq!(flags["flags"]["flags_version"], version);
    let (_, unmuted) = app
        .patch(
            &alice,
            &conversation_path(&conversation, "/me"),
            &json!({ "muted": false }),
        )
        .await;
    assert_eq!(unmuted["me"]["flags_version"], version + 1);
    let flags = other_device.event_of("flags").await;
    assert_eq!(
        (&flags["flags"]["muted"], &flags["flags"]["flags_version"]),
        (&json!(false), &json!(version + 1))
    );
    // Setting a flag to the value it has is no change.
    let (_, same) = app
        .patch(
            &alice,
            &conversation_path(&conversation, "/me"),
            &json!({ "muted": false }),
        )
        .await;
    assert_eq!(same["me"]["flags_version"], version + 1);

    // archived conversations leave the default list
    assert!(list(&app, &alice, "").await.is_empty());
    assert_eq!(list(&app, &alice, "?archived=true").await.len(), 1);
    // bob's flags are his own
    let theirs = list(&app, &bob, "").await;
    assert_eq!(theirs[0]["me"]["muted"], false);

    let response = app
        .patch(
            &alice,
            &conversation_path(&conversation, "/me"),
            &json!({ "starred": true }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    let response = app
        .patch(
            &alice,
            &conversation_path(&conversation, "/me"),
            &json!({ "muted": "yes" }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
}

#[tokio::test]
async fn delete_for_me_hides_the_history_until_a_new_message_brings_it_back() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let conversation = direct(&app, &alice, "bob").await;
    let id = &conversation["id"];
    app.send(&bob, id, "old news").await;
    app.send(&alice, id, "old reply").await;

    let (status, flags) = app
        .delete(&alice, &conversation_path(&conversation, "/me"))
        .await;
    assert_eq!(status, StatusCode::OK, "{flags}");
    assert!(flags["deleted_at"].is_string());
    assert!(list(&app, &alice, "").await.is_empty());
    assert!(app.messages(&alice, id, "").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // nothing changes for bob
    assert_eq!(
        app.messages(&bob, id, "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(list(&app, &bob, "").await.len(), 1);
    // search does not find what I deleted
    let (_, found) = app.get(&alice, "/v1/search?q=old").await;
    assert_eq!(found["items"], json!([]));

    let fresh = app.send(&bob, id, "are you there?").await;
    let items = list(&app, &alice, "").await;
    assert_eq!(ids_of(&items), [as_id(id)]);
    assert_eq!(items[0]["unread"], 1);
    assert_eq!(items[0]["last_message"]["id"], fresh["id"]);
    let page = app.messages(&alice, id, "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["body"], "are you there?");

    // reopening it from the contact list also brings it back, history still hidden
    app.delete(&alice, &conversation_path(&conversation, "/me"))
        .await;
    assert!(list(&app, &alice, "").await.is_empty());
    let again = direct(&app, &alice, "bob").await;
    assert_eq!(again["id"], *id);
    assert_eq!(list(&app, &alice, "").await.len(), 1);
    assert!(app.messages(&alice, id, "").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn deleting_one_message_for_me_hides_it_from_me_alone_everywhere() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let mallory = user(&app, "mallory").await;
    let conversation = direct(&app, &alice, "bob").await;
    let id = &conversation["id"];
    let topic = format!("conversation:{}", as_id(id));
    let mut later = Ws::connect(app.port, &alice).await;
    let cursor = later.subscribe(&topic, None).await["cursor"]
        .as_i64()
        .unwrap();
    let secret = app.send(&bob, id, "embarrassing typo").await;
    app.send(&bob, id, "hello again").await;
    let path = format!("/v1/messages/{}/me", as_id(&secret["id"]));

    // an outsider cannot hide what they cannot read
    let response = app.delete(&mallory, &path).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.delete(&alice, &path).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _) = app.delete(&alice, &path).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "hiding again changes nothing"
    );

    let bodies = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(bodies(app.messages(&alice, id, "").await), ["hello again"]);
    assert_eq!(
        bodies(app.messages(&bob, id, "").await),
        ["embarrassing typo", "hello again"]
    );
    let (_, found) = app.get(&alice, "/v1/search?q=typo").await;
    assert_eq!(found["items"], json!([]), "search skips it for me");
    let (_, found) = app.get(&bob, "/v1/search?q=typo").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "not for bob");
    assert_eq!(list(&app, &alice, "").await[0]["unread"], 1);
    // a change to it reaches bob; resuming, alice does not get it back
    app.patch(
        &bob,
        &format!("/v1/messages/{}", as_id(&secret["id"])),
        &json!({ "body": "fixed typo" }),
    )
    .await;
    let mut resumed = Ws::connect(app.port, &alice).await;
    resumed.subscribe(&topic, Some(cursor)).await;
    app.send(&bob, id, "fence").await;
    let frames = resumed.until_message("fence").await;
    assert!(
        frames.iter().all(|f| f["message"]["id"] != secret["id"]),
        "resume skips the hidden message: {frames:?}"
    );
    assert!(frames.iter().any(|f| f["message"]["body"] == "hello again"));
    later.close().await;
}

#[tokio::test]
async fn the_sender_sees_delivered_and_read_from_the_peers_cursors() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let conversation = direct(&app, &alice, "bob").await;
    let id = &conversation["id"];
    let mut alice_ws = Ws::connect(app.port, &alice).await;
    alice_ws
        .subscribe(&format!("conversation:{}", as_id(id)), None)
        .await;
    let message = app.send(&alice, id, "did you get this?").await;
    let receipts = format!("/v1/messages/{}/receipts", as_id(&message["id"]));

    let (status, state) = app.get(&alice, &receipts).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["status"], "sent");
    assert_eq!(state["recipients"], 1);

    let (status, body) = app
        .post(
            &bob,
            &conversation_path(&conversation, "/delivered"),
            &json!({ "seq": message["seq"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["last_delivered_seq"], message["seq"]);
    let event = alice_ws.event_of("delivered").await;
    assert_eq!(
        (event["user_id"].as_str(), &event["seq"]),
        (Some("bob"), &message["seq"])
    );
    let (_, state) = app.get(&alice, &receipts).await;
    assert_eq!(state["status"], "delivered");
    assert_eq!(state["delivered_to"], json!(["bob"]));

    app.post(
        &bob,
        &conversation_path(&conversation, "/read"),
        &json!({ "seq": message["seq"] }),
    )
    .await;
    let event = alice_ws.event_of("read").await;
    assert_eq!(event["user_id"], "bob");
    let (_, state) = app.get(&alice, &receipts).await;
    assert_eq!(state["status"], "read");
    assert_eq!(state["read_by"], json!(["bob"]));
    // the list carries the peer's cursors too: my messages up to them are read
    let mine = list(&app, &alice, "").await;
    assert_eq!(mine[0]["peer"]["last_read_seq"], message["seq"]);
    assert_eq!(mine[0]["peer"]["last_delivered_seq"], message["seq"]);

    // the delivered cursor never goes back
    let (_, body) = app
        .post(
            &bob,
            &conversation_path(&conversation, "/delivered"),
            &json!({ "seq": 0 }),
        )
        .await;
    assert_eq!(body["last_delivered_seq"], message["seq"]);
    // nor past the newest message, however far asked: the marks themselves
    // took numbers after it (the conversation's counter is ahead), and both
    // cursors stop at the message, by the same rule
    let head = app
        .count(&format!(
            "SELECT last_seq FROM conversations WHERE id = '{}'",
            as_id(id)
        ))
        .await;
    assert!(
        head > message["seq"].as_i64().unwrap(),
        "marks take numbers"
    );
    for cursor in ["delivered", "read"] {
        let (status, body) = app
            .post(
                &bob,
                &conversation_path(&conversation, &format!("/{cursor}")),
                &json!({ "seq": 1_000_000 }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body[format!("last_{cursor}_seq")],
            message["seq"],
            "{cursor}"
        );
    }
    let response = app
        .post(
            &bob,
            &conversation_path(&conversation, "/delivered"),
            &json!({ "seq": -1 }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_seq");
    // The fence: a marker sent after comes after any receipt those made.
    app.send(&alice, id, "marker").await;
    assert!(alice_ws
        .until_message("marker")
        .await
        .iter()
        .all(|f| f["type"] != "delivered"));
}

#[tokio::test]
async fn outsiders_can_neither_see_nor_touch_a_direct_conversation() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let mallory = user(&app, "mallory").await;
    let conversation = direct(&app, &alice, "bob").await;
    let message = app.send(&bob, &conversation["id"], "secret").await;
    let before = app.counts().await;

    let me = conversation_path(&conversation, "/me");
    for response in [
        app.get(&mallory, &conversation_path(&conversation, ""))
            .await,
        app.patch(&mallory, &me, &json!({ "pinned": true })).await,
        app.delete(&mallory, &me).await,
        app.post(
            &mallory,
            &conversation_path(&conversation, "/delivered"),
            &json!({ "seq": 1 }),
        )
        .await,
        app.send_json(
            &mallory,
            &conversation["id"],
            &json!({ "body": "hi", "client_msg_id": uuid::Uuid::new_v4() }),
        )
        .await,
        app.get(
            &mallory,
            &format!("/v1/messages/{}/receipts", as_id(&message["id"])),
        )
        .await,
    ] {
        assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    }
    let (_, found) = app.get(&mallory, "/v1/search?q=secret").await;
    assert_eq!(found["items"], json!([]));
    assert_eq!(app.counts().await, before);
    // and nobody adds a third member to a direct conversation
    let added = app
        .sql_as(
            "alice",
            "user",
            "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1::text::uuid, 'mallory', 'member')",
            &[&as_id(&conversation["id"])],
        )
        .await;
    assert!(added.is_err(), "a third member was added");
    assert_eq!(app.counts().await, before);
}
