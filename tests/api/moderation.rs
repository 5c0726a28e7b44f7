//! Content moderation: the admins' word lists and patterns, a mode per room
//! and for the desk (`flag`, `hold`, `reject`), the review queue and its
//! audited decisions — over REST and over the WebSocket.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{join, room, room_path, user};
use crate::helpers::{as_id, assert_error, spawn_app, TestApp};
use crate::ws_client::Ws;

pub(crate) fn admin(app: &TestApp) -> String {
    app.token("root", "admin")
}

/// Sets the lists (asserting 200).
pub(crate) async fn lists(app: &TestApp, words: Value, patterns: Value) -> Value {
    let (status, body) = app
        .call(
            app.http
                .put(app.url("/v1/admin/moderation"))
                .bearer_auth(admin(app))
                .json(&json!({ "words": words, "patterns": patterns })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "setting the lists: {body}");
    body
}

/// A public room of alice's with moderation `mode`, bob and carol members.
pub(crate) async fn moderated_room(app: &TestApp, mode: &str) -> (String, String, String, Value) {
    let alice = user(app, "alice").await;
    let bob = user(app, "bob").await;
    let carol = user(app, "carol").await;
    let room = room(
        app,
        &alice,
        json!({ "name": "Town square", "type": "public", "settings": { "moderation": mode } }),
    )
    .await;
    assert_eq!(room["settings"]["moderation"], mode, "{room}");
    join(app, &bob, &room).await;
    join(app, &carol, &room).await;
    (alice, bob, carol, room)
}

async fn queue(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get(token, &format!("/v1/moderation/queue{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "the queue: {body}");
    body["items"].as_array().expect("items").clone()
}

async fn decide(
    app: &TestApp,
    token: &str,
    item: &Value,
    decision: &str,
    reason: &str,
) -> (StatusCode, Value) {
    let path = format!("/v1/moderation/queue/{}/{decision}", item["id"]);
    app.post(token, &path, &json!({ "reason": reason })).await
}

pub(crate) fn bodies(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn message_count(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM chat_messages").await
}

#[tokio::test]
async fn a_flagged_message_is_delivered_and_queued_for_the_rooms_reviewers() {
    let app = spawn_app().await;
    lists(&app, json!(["spam"]), json!([r"free\s+money"])).await;
    let (alice, bob, carol, room) = moderated_room(&app, "flag").await;
    let mut carol_ws = Ws::connect(app.port, &carol).await;
    carol_ws
        .subscribe(&format!("conversation:{}", as_id(&room["id"])), None)
        .await;

    let flagged = app.send(&bob, &room["id"], "buy SPAM today").await;
    assert_eq!(flagged["moderation"], Value::Null, "a flag is not shown");
    let pattern = app.send(&bob, &room["id"], "FREE   money here").await;
    // whole words only: a longer word containing one is not a match
    app.send(&bob, &room["id"], "a spammer writes spamming")
        .await;
    // the room's owner is a reviewer, not checked
    app.send(&alice, &room["id"], "spam is what the owner says")
        .await;

    // delivered live and in history like any message
    let frames = carol_ws.until_message("a spammer writes spamming").await;
    assert!(frames.iter().any(|f| f["message"]["id"] == flagged["id"]));
    assert!(bodies(&app.messages(&carol, &room["id"], "").await).contains(&"buy SPAM today".into()));

    // queued for the room's moderators and admins, with what matched
    let items = queue(&app, &alice, "").await;
    let matched: Vec<_> = items.iter().map(|i| i["matched"].clone()).collect();
    assert_eq!(
        matched,
        vec![json!("spam"), json!(r"free\s+money")],
        "{items:?}"
    );
    assert_eq!(items[0]["action"], "flag");
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(items[0]["message"]["id"], flagged["id"]);
    assert_eq!(items[1]["message"]["id"], pattern["id"]);
    assert_eq!(queue(&app, &admin(&app), "").await.len(), 2);
    // a member is no reviewer, nor is an agent outside the desk
    assert!(queue(&app, &carol, "").await.is_empty());
    assert!(queue(&app, &app.token("ann", "agent"), "").await.is_empty());
    let refused = decide(&app, &carol, &items[0], "approve", "fine").await;
    assert_error(&refused, StatusCode::NOT_FOUND, "not_found");

    // approved: the message stays; the item says who, when and why
    let (status, approved) = decide(&app, &alice, &items[0], "approve", "a joke").await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], "alice");
    assert_eq!(approved["reason"], "a joke");
    assert!(approved["decided_at"].is_string());
    let again = decide(&app, &alice, &items[0], "reject", "changed my mind").await;
    assert_error(&again, StatusCode::CONFLICT, "already_decided");

    // rejected: a flagged message is deleted for everyone, live too
    let (status, rejected) = decide(&app, &alice, &items[1], "reject", "scam").await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    let deleted = carol_ws.event_of("message_deleted").await;
    assert_eq!(deleted["message"]["id"], pattern["id"]);
    assert!(deleted["message"]["deleted_at"].is_string());
    assert!(queue(&app, &alice, "").await.is_empty(), "none pending");
    assert_eq!(queue(&app, &alice, "?status=all").await.len(), 2);

    // both decisions are in the audit trail
    let audit = app
        .db
        .query(
            "SELECT actor, action, target, details->>'reason' FROM desk_audit
              WHERE action LIKE 'moderation_%' AND action <> 'moderation_lists_changed' ORDER BY id",
            &[],
        )
        .await
        .expect("the audit trail");
    let audit: Vec<(String, String, String, String)> = audit
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        audit,
        vec![
            (
                "alice".into(),
                "moderation_approved".into(),
                as_id(&flagged["id"]).into(),
                "a joke".into()
            ),
            (
                "alice".into(),
                "moderation_rejected".into(),
                as_id(&pattern["id"]).into(),
                "scam".into()
            ),
        ]
    );
}

#[tokio::test]
async fn a_held_message_reaches_others_only_once_approved_and_then_once() {
    let app = spawn_app().await;
    lists(&app, json!(["secret"]), json!([])).await;
    let (alice, bob, carol, room) = moderated_room(&app, "hold").await;
    let topic = format!("conversation:{}", as_id(&room["id"]));
    let mut carol_ws = Ws::connect(app.port, &carol).await;
    carol_ws.subscribe(&topic, None).await;
    let mut bob_ws = Ws::connect(app.port, &bob).await;
    bob_ws.subscribe(&topic, None).await;

    // sent over the socket: the ack says it is held
    let client_msg_id = Uuid::new_v4();
    let ack = bob_ws
        .request(
            json!({ "type": "send_message", "conversation_id": room["id"],
                         "client_msg_id": client_msg_id, "body": "the secret plan" }),
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let held = ack["message"].clone();
    assert_eq!(held["moderation"], "held");
    app.send(&bob, &room["id"], "marker one").await;

    // others do not see it, live or in history; its sender and the reviewers do
    let frames = carol_ws.until_message("marker one").await;
    assert!(
        !frames.iter().any(|f| f["message"]["id"] == held["id"]),
        "{frames:?}"
    );
    assert!(
        !bodies(&app.messages(&carol, &room["id"], "").await).contains(&"the secret plan".into())
    );
    assert!(bodies(&app.messages(&bob, &room["id"], "").await).contains(&"the secret plan".into()));
    assert!(
        bodies(&app.messages(&alice, &room["id"], "").await).contains(&"the secret plan".into())
    );
    // nor as the room's last message, nor in an unread count
    let (_, listed) = app.get(&carol, "/v1/conversations").await;
    assert!(!listed.to_string().contains("the secret plan"), "{listed}");
    let (_, resumed) = app
        .get(
            &carol,
            &format!("/v1/conversations/{}/messages?after=0", as_id(&room["id"])),
        )
        .await;
    assert!(!resumed.to_string().contains("the secret plan"));

    // approved: everyone gets it as a new message, at the end
    let items = queue(&app, &alice, "").await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["action"], "hold");
    let (status, approved) = decide(&app, &alice, &items[0], "approve", "harmless").await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    app.send(&bob, &room["id"], "marker two").await;
    let frames = carol_ws.until_message("marker two").await;
    let seen: Vec<&Value> = frames
        .iter()
        .filter(|f| f["message"]["id"] == held["id"])
        .collect();
    assert_eq!(seen.len(), 1, "delivered once: {frames:?}");
    assert_eq!(seen[0]["type"], "message_new");
    let released = &seen[0]["message"];
    assert_eq!(released["moderation"], Value::Null);
    assert_eq!(released["client_msg_id"], json!(client_msg_id));
    assert!(
        released["seq"].as_i64() > held["seq"].as_i64(),
        "at the end"
    );
    // its sender's optimistic client sees the same message (id, client_msg_id) again
    let frames = bob_ws.until_message("marker two").await;
    let mine: Vec<&Value> = frames
        .iter()
        .filter(|f| f["message"]["client_msg_id"] == json!(client_msg_id))
        .collect();
    assert!(mine.iter().all(|f| f["message"]["id"] == held["id"]));
    assert_eq!(mine.last().expect("the release")["type"], "message_new");
    let history = bodies(&app.messages(&carol, &room["id"], "").await);
    assert_eq!(
        history.iter().filter(|b| *b == "the secret plan").count(),
        1,
        "{history:?}"
    );

    // a held message rejected stays with its sender, marked
    let held2 = app.send(&bob, &room["id"], "another secret").await;
    assert_eq!(held2["moderation"], "held");
    let items = queue(&app, &alice, "").await;
    let (status, _) = decide(&app, &alice, &items[0], "reject", "no").await;
    assert_eq!(status, StatusCode::OK);
    app.send(&bob, &room["id"], "marker three").await;
    let frames = carol_ws.until_message("marker three").await;
    assert!(!frames.iter().any(|f| f["message"]["id"] == held2["id"]));
    assert!(
        !bodies(&app.messages(&carol, &room["id"], "").await).contains(&"another secret".into())
    );
    let mine = app.messages(&bob, &room["id"], "").await;
    let rejected = mine["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["id"] == held2["id"])
        .expect("the sender still reads it");
    assert_eq!(rejected["moderation"], "rejected");
}

#[tokio::test]
async fn a_rejected_send_fails_with_its_reason_and_writes_nothing() {
    let app = spawn_app().await;
    lists(&app, json!(["forbidden"]), json!([])).await;
    let (alice, bob, _carol, room) = moderated_room(&app, "reject").await;
    let before = message_count(&app).await;
    let response = app
        .send_json(
            &bob,
            &room["id"],
            &json!({ "body": "this is Forbidden", "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "moderation_rejected",
    );
    let mut ws = Ws::connect(app.port, &bob).await;
    let answer = ws
        .request(
            json!({ "type": "send_message", "conversation_id": room["id"],
                         "client_msg_id": Uuid::new_v4(), "body": "forbidden again" }),
        )
        .await;
    assert_eq!(
        (answer["type"].clone(), answer["code"].clone()),
        (json!("error"), json!("moderation_rejected")),
        "{answer}"
    );
    assert_eq!(message_count(&app).await, before, "nothing written");
    assert_eq!(app.count("SELECT count(*) FROM moderation_queue").await, 0);
    // a clean message passes; the room's owner is not checked
    app.send(&bob, &room["id"], "all good").await;
    app.send(&alice, &room["id"], "forbidden, says the owner")
        .await;

    // the desk's mode: customers are checked, agents are not
    app.db
        .execute("UPDATE desk_settings SET moderation = 'reject'", &[])
        .await
        .expect("the desk's mode");
    let carol = user(&app, "dora").await;
    let session = app.open_session(&carol).await;
    let response = app
        .send_json(
            &carol,
            &session["conversation_id"],
            &json!({ "body": "forbidden words", "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "moderation_rejected",
    );
    let ann = app.token("ann", "agent");
    let (status, body) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.send(
        &ann,
        &session["conversation_id"],
        "forbidden is fine from staff",
    )
    .await;
}

#[tokio::test]
async fn the_desks_queue_is_for_staff_and_the_mode_is_a_room_setting() {
    let app = spawn_app().await;
    lists(&app, json!(["refund"]), json!([])).await;
    app.db
        .execute("UPDATE desk_settings SET moderation = 'hold'", &[])
        .await
        .expect("the desk's mode");
    let dora = user(&app, "dora").await;
    let session = app.open_session(&dora).await;
    let held = app
        .send(&dora, &session["conversation_id"], "I want a refund")
        .await;
    assert_eq!(held["moderation"], "held");
    let ann = app.token("ann", "agent");
    let items = queue(&app, &ann, "").await;
    assert_eq!(items.len(), 1, "agents review the desk");
    assert_eq!(items[0]["message"]["id"], held["id"]);
    assert!(
        queue(&app, &dora, "").await.is_empty(),
        "the sender is no reviewer"
    );
    // a room's owner does not review the desk
    let (alice, _, _, _) = moderated_room(&app, "off").await;
    assert!(queue(&app, &alice, "").await.is_empty());
    let refused = decide(&app, &alice, &items[0], "approve", "mine").await;
    assert_error(&refused, StatusCode::NOT_FOUND, "not_found");
    let (status, approved) = decide(&app, &ann, &items[0], "approve", "ok").await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["message"]["moderation"], Value::Null);

    // the room's mode: its admins change it, members may not, only known words
    let (_, carol, room) = plain_room(&app, "Second").await;
    let set = |mode: &str| json!({ "settings": { "moderation": mode } });
    let (status, changed) = app
        .patch(&alice, &room_path(&room, ""), &set("reject"))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["settings"]["moderation"], "reject");
    let refused = app.patch(&carol, &room_path(&room, ""), &set("off")).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "not_room_admin");
    let (status, _) = app
        .patch(&alice, &room_path(&room, ""), &set("block"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A public room of alice's, default settings, carol a member.
async fn plain_room(app: &TestApp, name: &str) -> (String, String, Value) {
    let alice = user(app, "alice").await;
    let carol = user(app, "carol").await;
    let room = room(app, &alice, json!({ "name": name, "type": "public" })).await;
    assert_eq!(room["settings"]["moderation"], "off", "the default");
    join(app, &carol, &room).await;
    (alice, carol, room)
}

#[tokio::test]
async fn the_lists_are_admins_and_a_pattern_must_compile() {
    let app = spawn_app().await;
    let empty = lists(&app, json!([]), json!([])).await;
    assert_eq!(empty["words"], json!([]));
    let set = lists(
        &app,
        json!(["darn", "a.b"]),
        json!(["^buy now", "[0-9]{16}"]),
    )
    .await;
    assert_eq!(set["patterns"], json!(["^buy now", "[0-9]{16}"]));
    assert_eq!(set["updated_by"], "root");
    let (status, got) = app.get(&admin(&app), "/v1/admin/moderation").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["words"], json!(["darn", "a.b"]));

    // PostgreSQL's regular expressions decide: one that does not compile is a 422
    for bad in ["(unclosed", "a{2,1}", "[z-a]", "(?i)spam"] {
        let response = app
            .call(
                app.http
                    .put(app.url("/v1/admin/moderation"))
                    .bearer_auth(admin(&app))
                    .json(&json!({ "words": [], "patterns": [bad] })),
            )
            .await;
        assert_error(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_pattern",
        );
    }
    // malformed entries are refused at the edge
    for body in [
        json!({ "words": [""] }),
        json!({ "words": ["a\nb"] }),
        json!({ "words": ["x", "X"] }),
        json!({ "patterns": ["x".repeat(201)] }),
        json!({ "colours": [] }),
    ] {
        let response = app
            .call(
                app.http
                    .put(app.url("/v1/admin/moderation"))
                    .bearer_auth(admin(&app))
                    .json(&body),
            )
            .await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            response.1
        );
    }
    let (_, unchanged) = app.get(&admin(&app), "/v1/admin/moderation").await;
    assert_eq!(
        unchanged["words"],
        json!(["darn", "a.b"]),
        "refusals change nothing"
    );

    // a word is a word: its regular-expression characters are literal
    let (alice, carol, room) = plain_room(&app, "Words").await;
    let (status, _) = app
        .patch(
            &alice,
            &room_path(&room, ""),
            &json!({ "settings": { "moderation": "reject" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.send(&carol, &room["id"], "axb passes").await;
    let response = app
        .send_json(
            &carol,
            &room["id"],
            &json!({ "body": "see a.b", "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "moderation_rejected",
    );

    // only admins read or change the lists
    for token in [user(&app, "bob").await, app.token("ann", "agent")] {
        let response = app.get(&token, "/v1/admin/moderation").await;
        assert_error(&response, StatusCode::FORBIDDEN, "admins_only");
        let response = app
            .call(
                app.http
                    .put(app.url("/v1/admin/moderation"))
                    .bearer_auth(&token)
                    .json(&json!({ "words": [] })),
            )
            .await;
        assert_error(&response, StatusCode::FORBIDDEN, "admins_only");
    }
    // each change is audited with the lists before and after
    let changes = app
        .count("SELECT count(*) FROM desk_audit WHERE action = 'moderation_lists_changed' AND actor = 'root'")
        .await;
    assert_eq!(changes, 2);
}

#[tokio::test]
async fn with_the_lists_empty_or_the_room_off_nothing_is_checked() {
    let app = spawn_app().await;
    // empty lists: nothing to match, whatever the room's mode
    let (_, bob, _, room) = moderated_room(&app, "reject").await;
    app.send(&bob, &room["id"], "anything goes while the lists are empty")
        .await;
    // lists set but the room off: nothing matched, nothing queued
    lists(&app, json!(["anything"]), json!([])).await;
    let (status, _) = app
        .patch(
            &admin(&app),
            &room_path(&room, ""),
            &json!({ "settings": { "moderation": "off" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.send(&bob, &room["id"], "anything at all").await;
    // direct conversations are not moderated
    let dm = crate::chat_helpers::direct(&app, &bob, "alice").await;
    app.send(&bob, &dm["id"], "anything in private").await;
    assert_eq!(app.count("SELECT count(*) FROM moderation_queue").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM chat_messages WHERE moderation IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn admins_set_the_desks_mode_in_the_desk_settings() {
    let app = spawn_app().await;
    let admin = admin(&app);
    lists(&app, json!(["scam"]), json!([])).await;
    let carol = app.token("carol", "user");
    let session = app.open_session_with(&carol, "Help", "Hello").await;
    let conversation = session["conversation_id"].clone();
    let scam = || json!({ "body": "this is a SCAM", "client_msg_id": Uuid::new_v4() });
    // off by default: the desk's chats are not filtered
    let (status, body) = app.send_json(&carol, &conversation, &scam()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, settings) = app
        .patch(
            &admin,
            "/v1/admin/settings",
            &json!({ "moderation": "reject" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["moderation"], "reject");
    assert_eq!(
        settings["admin_set"],
        json!(["moderation"]),
        "kept across restarts"
    );
    assert_error(
        &app.send_json(&carol, &conversation, &scam()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "moderation_rejected",
    );
    assert_error(
        &app.patch(
            &admin,
            "/v1/admin/settings",
            &json!({ "moderation": "loud" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
}
