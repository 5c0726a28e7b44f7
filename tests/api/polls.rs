//! Polls: a message of kind `poll`; ballots as rows under RLS; results on the
//! message, live to every member and on resume; closing by the author or a
//! moderator, or by its time.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{direct, invite, join, moderate, room_of, user};
use crate::helpers::{as_id, assert_error, assert_sql_refused, spawn_app, TestApp};
use crate::ws_client::Ws;

async fn send_poll(app: &TestApp, token: &str, conversation: &Value, poll: Value) -> Value {
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

fn path(message: &Value, rest: &str) -> String {
    format!("/v1/messages/{}{rest}", as_id(&message["id"]))
}

async fn vote(app: &TestApp, token: &str, poll: &Value, options: Value) -> (StatusCode, Value) {
    app.call(
        app.http
            .put(app.url(&path(poll, "/vote")))
            .bearer_auth(token)
            .json(&json!({ "options": options })),
    )
    .await
}

async fn voted(app: &TestApp, token: &str, poll: &Value, options: Value) -> Value {
    let (status, message) = vote(app, token, poll, options).await;
    assert_eq!(status, StatusCode::OK, "voting: {message}");
    message
}

/// A room of alice's with bob and carol in it.
async fn lunch_room(app: &TestApp) -> (String, String, String, Value) {
    let alice = user(app, "alice").await;
    let bob = user(app, "bob").await;
    let carol = user(app, "carol").await;
    let room = room_of(app, &alice, "public", "Lunch").await;
    join(app, &bob, &room).await;
    join(app, &carol, &room).await;
    (alice, bob, carol, room)
}

#[tokio::test]
async fn a_poll_is_voted_on_changed_taken_back_and_closed_by_its_author() {
    let app = spawn_app().await;
    let (alice, bob, carol, room) = lunch_room(&app).await;
    let poll = send_poll(
        &app,
        &alice,
        &room["id"],
        json!({ "question": "Lunch?", "options": ["pizza", "soup", "salad"] }),
    )
    .await;
    assert_eq!(poll["kind"], "poll");
    assert_eq!(poll["body"], "Lunch?", "the question is the body");
    assert_eq!(poll["poll"]["options"], json!(["pizza", "soup", "salad"]));
    assert_eq!(poll["poll"]["multiple"], false);
    assert_eq!(poll["poll"]["closed_at"], Value::Null);
    assert_eq!(poll["poll"]["results"]["counts"], json!([0, 0, 0]));
    assert_eq!(poll["poll"]["results"]["total_voters"], 0);

    let after = voted(&app, &bob, &poll, json!([1])).await;
    assert_eq!(after["poll"]["results"]["counts"], json!([0, 1, 0]));
    assert_eq!(after["poll"]["results"]["voters"], json!([[], ["bob"], []]));
    assert!(after["change_seq"].as_i64() > poll["change_seq"].as_i64());
    // changing a vote replaces it
    let changed = voted(&app, &bob, &poll, json!([0])).await;
    assert_eq!(changed["poll"]["results"]["counts"], json!([1, 0, 0]));
    assert_eq!(changed["poll"]["results"]["total_votes"], 1);
    // one choice in a single-choice poll, and only indexes it has
    for options in [json!([0, 2]), json!([3]), json!([])] {
        let response = vote(&app, &bob, &poll, options.clone()).await;
        let code = if options == json!([]) {
            "invalid_body"
        } else {
            "invalid_poll_vote"
        };
        let status = if code == "invalid_body" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_error(&response, status, code);
    }
    let both = voted(&app, &carol, &poll, json!([0])).await;
    assert_eq!(
        both["poll"]["results"]["voters"],
        json!([["bob", "carol"], [], []])
    );
    assert_eq!(both["poll"]["results"]["total_voters"], 2);
    let (status, taken_back) = app.delete(&bob, &path(&poll, "/vote")).await;
    assert_eq!(status, StatusCode::OK, "{taken_back}");
    assert_eq!(
        taken_back["poll"]["results"]["voters"],
        json!([["carol"], [], []])
    );

    // a member who is not its author may not close it; its author does
    let response = app
        .post(&carol, &path(&poll, "/close-poll"), &json!({}))
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_your_message");
    let (status, closed) = app
        .post(&alice, &path(&poll, "/close-poll"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert!(closed["poll"]["closed_at"].is_string());
    assert_eq!(closed["poll"]["closed_by"], "alice");
    assert_eq!(closed["poll"]["results"]["counts"], json!([1, 0, 0]));
    let (status, again) = app
        .post(&alice, &path(&poll, "/close-poll"), &json!({}))
        .await;
    assert_eq!(
        (status, &again["change_seq"]),
        (StatusCode::OK, &closed["change_seq"])
    );
    let response = vote(&app, &bob, &poll, json!([2])).await;
    assert_error(&response, StatusCode::CONFLICT, "poll_closed");
    let response = app.delete(&carol, &path(&poll, "/vote")).await;
    assert_error(&response, StatusCode::CONFLICT, "poll_closed");

    // a moderator closes another's poll
    let second = send_poll(
        &app,
        &bob,
        &room["id"],
        json!({ "question": "Dinner?", "options": ["yes", "no"] }),
    )
    .await;
    let dave = user(&app, "dave").await;
    invite(&app, &alice, &room, "dave", "moderator").await;
    let (status, closed) = app
        .post(&dave, &path(&second, "/close-poll"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["poll"]["closed_by"], "dave");
    // and a poll is not edited
    let response = app
        .patch(&bob, &path(&second, ""), &json!({ "body": "Breakfast?" }))
        .await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "not_editable");
}

#[tokio::test]
async fn a_multiple_choice_anonymous_poll_counts_without_naming_voters() {
    let app = spawn_app().await;
    let (alice, bob, carol, room) = lunch_room(&app).await;
    let poll = send_poll(
        &app,
        &alice,
        &room["id"],
        json!({ "question": "Which days?", "options": ["mon", "tue", "wed"],
                "multiple": true, "anonymous": true,
                "closes_at": "2099-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(poll["poll"]["closes_at"], "2099-01-01T00:00:00.000000Z");
    assert_eq!(poll["poll"]["results"]["voters"], Value::Null);
    voted(&app, &bob, &poll, json!([2, 0])).await;
    let after = voted(&app, &carol, &poll, json!([2])).await;
    let results = &after["poll"]["results"];
    assert_eq!(results["counts"], json!([1, 0, 2]));
    assert_eq!(
        results["voters"],
        Value::Null,
        "an anonymous poll names nobody"
    );
    assert_eq!(results["total_votes"], 3);
    assert_eq!(results["total_voters"], 2);
    assert!(!after.to_string().contains("\"bob\""), "{after}");
    let response = vote(&app, &bob, &poll, json!([1, 1])).await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_poll_vote",
    );
    // a ballot is its voter's own to read: nobody reads another's
    let seen = app
        .sql_as("carol", "user", "SELECT user_id FROM poll_votes", &[])
        .await
        .expect("carol reads ballots");
    let seen: Vec<String> = seen.iter().map(|r| r.get(0)).collect();
    assert_eq!(seen, ["carol"]);
    let _ = alice;
}

#[tokio::test]
async fn polls_and_ballots_are_checked_on_every_path() {
    let app = spawn_app().await;
    let (alice, bob, _carol, room) = lunch_room(&app).await;
    let before = app.counts().await;
    for (poll, status, code) in [
        (
            json!({ "question": "?", "options": ["one"] }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "question": "?", "options": ["a", "b"], "closes_at": "2001-01-01T00:00:00Z" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_poll",
        ),
    ] {
        let response = app
            .send_json(
                &alice,
                &room["id"],
                &json!({ "kind": "poll", "poll": poll, "client_msg_id": Uuid::new_v4() }),
            )
            .await;
        assert_error(&response, status, code);
    }
    let response = app
        .send_json(
            &alice,
            &room["id"],
            &json!({ "kind": "poll", "body": "no poll", "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "poll_required");
    let response = app
        .send_json(
            &alice,
            &room["id"],
            &json!({ "body": "text", "poll": { "question": "?", "options": ["a", "b"] },
                                               "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_poll");
    let conversation = as_id(&room["id"]).to_owned();
    assert_sql_refused(
        app.sql_as("alice", "user",
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, poll)
             VALUES ($1::text::uuid, 'alice', 'user', 'poll', 'q', '{\"question\": \"q\", \"options\": [\"a\"]}')",
            &[&conversation]).await,
        "invalid_poll",
    );
    assert_eq!(app.counts().await, before, "nothing refused was stored");

    // written with SQL, a poll's results start empty whatever the writer says
    let rows = app
        .sql_as("alice", "user",
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, poll)
             VALUES ($1::text::uuid, 'alice', 'user', 'poll', 'q',
                     '{\"question\": \"q\", \"options\": [\"a\", \"b\"], \"results\": {\"counts\": [9, 9]}}')
             RETURNING id::text, poll",
            &[&conversation]).await.expect("a poll inserted with SQL");
    let poll: Value = rows[0].get(1);
    assert_eq!(poll["results"]["counts"], json!([0, 0]));
    let id: String = rows[0].get(0);
    assert_sql_refused(
        app.sql_as("bob", "user",
            "INSERT INTO poll_votes (message_id, user_id, options) VALUES ($1::text::uuid, 'bob', '{7}')",
            &[&id]).await,
        "invalid_poll_vote",
    );
    // a ballot in another's name is refused by RLS
    let forged = app
        .sql_as("bob", "user",
            "INSERT INTO poll_votes (message_id, user_id, options) VALUES ($1::text::uuid, 'alice', '{0}')",
            &[&id]).await;
    assert!(forged.is_err(), "a ballot in another's name");

    // a poll past its closing time takes no votes
    let message = json!({ "id": id });
    voted(&app, &bob, &message, json!([1])).await;
    app.db
        .execute(
            "UPDATE chat_messages SET poll = jsonb_set(poll, '{closes_at}', to_jsonb(pgchat.ts(now() - interval '1 minute')))
              WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .expect("expiring the poll");
    let response = vote(&app, &bob, &message, json!([0])).await;
    assert_error(&response, StatusCode::CONFLICT, "poll_closed");

    // a text message is no poll
    let text = app.send(&alice, &room["id"], "hello").await;
    let response = vote(&app, &bob, &text, json!([0])).await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "not_a_poll");
    let response = app
        .post(&alice, &path(&text, "/close-poll"), &json!({}))
        .await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "not_a_poll");
    // a deleted poll shows no poll and takes no votes
    let gone = send_poll(
        &app,
        &alice,
        &room["id"],
        json!({ "question": "Soon gone?", "options": ["y", "n"] }),
    )
    .await;
    let (status, tombstone) = app.delete(&alice, &path(&gone, "")).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert_eq!(tombstone["poll"], Value::Null);
    let response = vote(&app, &bob, &gone, json!([0])).await;
    assert_error(&response, StatusCode::CONFLICT, "message_deleted");
}

#[tokio::test]
async fn only_members_who_may_write_vote() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let mallory = user(&app, "mallory").await;
    let chat = direct(&app, &alice, "bob").await;
    let poll = send_poll(
        &app,
        &alice,
        &chat["id"],
        json!({ "question": "Call?", "options": ["now", "later"] }),
    )
    .await;
    voted(&app, &bob, &poll, json!([0])).await;
    // an outsider neither sees nor votes on it, nor closes it
    let response = vote(&app, &mallory, &poll, json!([0])).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let response = app.delete(&mallory, &path(&poll, "/vote")).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let response = app
        .post(&mallory, &path(&poll, "/close-poll"), &json!({}))
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let forged = app
        .sql_as("mallory", "user",
            "INSERT INTO poll_votes (message_id, user_id, options) VALUES ($1::text::uuid, 'mallory', '{0}')",
            &[&as_id(&poll["id"]).to_owned()]).await;
    assert!(forged.is_err(), "an outsider's ballot written with SQL");

    // a silenced member of a room reads the poll but does not vote
    let room = room_of(&app, &alice, "public", "Town hall").await;
    join(&app, &bob, &room).await;
    let poll = send_poll(
        &app,
        &alice,
        &room["id"],
        json!({ "question": "Budget?", "options": ["yes", "no"] }),
    )
    .await;
    let (status, body) = moderate(&app, &alice, &room, "bob", json!({ "silenced": true })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = vote(&app, &bob, &poll, json!([0])).await;
    assert_error(&response, StatusCode::FORBIDDEN, "silenced");
    let stored = app.count("SELECT count(*) FROM poll_votes").await;
    assert_eq!(stored, 1, "only bob's ballot in the direct conversation");
}

#[tokio::test]
async fn votes_reach_every_member_live_and_on_resume() {
    let app = spawn_app().await;
    let (alice, bob, carol, room) = lunch_room(&app).await;
    let topic = format!("conversation:{}", as_id(&room["id"]));
    let mut watcher = Ws::connect(app.port, &carol).await;
    let cursor = watcher.subscribe(&topic, None).await["cursor"]
        .as_i64()
        .unwrap();

    // a poll sent over the socket (the same send as REST)
    let mut author = Ws::connect(app.port, &alice).await;
    let ack = author
        .request(json!({
            "type": "send_message", "conversation_id": room["id"], "client_msg_id": Uuid::new_v4(),
            "kind": "poll", "poll": { "question": "Friday?", "options": ["bowling", "cinema"] },
        }))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let poll = ack["message"].clone();
    assert_eq!(poll["poll"]["question"], "Friday?");
    let new = watcher.event_of("message_new").await;
    assert_eq!(new["message"]["poll"]["results"]["counts"], json!([0, 0]));

    voted(&app, &bob, &poll, json!([1])).await;
    let updated = watcher.event_of("message_updated").await;
    assert_eq!(updated["message"]["id"], poll["id"]);
    assert_eq!(
        updated["message"]["poll"]["results"]["counts"],
        json!([0, 1])
    );
    assert_eq!(
        updated["message"]["poll"]["results"]["voters"],
        json!([[], ["bob"]])
    );
    let (status, _) = app
        .post(&alice, &path(&poll, "/close-poll"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let closed = watcher.event_of("message_updated").await;
    assert_eq!(closed["message"]["poll"]["closed_by"], "alice");

    // a member who was away resumes from their cursor: the poll as it is now
    let mut later = Ws::connect(app.port, &carol).await;
    later.subscribe(&topic, Some(cursor)).await;
    app.send(&alice, &room["id"], "fence").await;
    let frames = later.until_message("fence").await;
    let last = frames
        .iter()
        .rfind(|f| f["message"]["id"] == poll["id"])
        .expect("the poll in the backlog");
    assert_eq!(last["message"]["poll"]["results"]["counts"], json!([0, 1]));
    assert_eq!(last["message"]["poll"]["closed_by"], "alice");
}
