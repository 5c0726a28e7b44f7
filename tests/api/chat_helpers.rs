//! Helpers for the direct-conversation, room and message-feature tests.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{as_id, TestApp};

/// A token for `sub` (a user named after it, capitalized) after one
/// authenticated request, so others can find them.
pub async fn user(app: &TestApp, sub: &str) -> String {
    let mut name = sub.to_owned();
    name[..1].make_ascii_uppercase();
    let token = app.token_named(sub, "user", &name);
    let (status, body) = app.get(&token, "/v1/conversations").await;
    assert_eq!(status, StatusCode::OK, "provisioning {sub}: {body}");
    token
}

/// The direct conversation of the caller and `peer` (asserting 200 or 201).
pub async fn direct(app: &TestApp, token: &str, peer: &str) -> Value {
    let (status, body) = app
        .post(
            token,
            "/v1/conversations/direct",
            &json!({ "user_id": peer }),
        )
        .await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::OK,
        "direct with {peer}: {status} {body}"
    );
    body
}

/// Creates a room (asserting 201) from a request body.
pub async fn room(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, room) = app.post(token, "/v1/rooms", &body).await;
    assert_eq!(status, StatusCode::CREATED, "creating a room: {room}");
    room
}

/// A room of `kind` named `name` with default settings.
pub async fn room_of(app: &TestApp, token: &str, kind: &str, name: &str) -> Value {
    room(app, token, json!({ "name": name, "type": kind })).await
}

pub async fn put(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    app.call(app.http.put(app.url(path)).bearer_auth(token))
        .await
}

/// `path` under `/v1/rooms/{id}`.
pub fn room_path(room: &Value, rest: &str) -> String {
    format!("/v1/rooms/{}{rest}", as_id(&room["id"]))
}

/// Joins a room, asserting success (201 joined, 200 already a member).
pub async fn join(app: &TestApp, token: &str, room: &Value) {
    let (status, body) = app.post(token, &room_path(room, "/join"), &json!({})).await;
    assert!(status.is_success(), "joining: {status} {body}");
}

/// Invites `user` with `role` (asserting 201).
pub async fn invite(app: &TestApp, token: &str, room: &Value, user: &str, role: &str) -> Value {
    let (status, body) = app
        .post(
            token,
            &room_path(room, "/members"),
            &json!({ "user_id": user, "role": role }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "inviting {user}: {body}");
    body
}

/// PATCHes a member of a room.
pub async fn moderate(
    app: &TestApp,
    token: &str,
    room: &Value,
    user: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.patch(token, &room_path(room, &format!("/members/{user}")), &body)
        .await
}

/// Row count of a table, as the server role.
pub async fn rows(app: &TestApp, table: &str) -> i64 {
    app.count(&format!("SELECT count(*) FROM {table}")).await
}

/// A message's row as stored, as the server role: (body, deleted, edited).
pub async fn stored(app: &TestApp, message: &Value) -> (String, bool, bool) {
    let row = app
        .db
        .query_one(
            "SELECT body, deleted_at IS NOT NULL, edited_at IS NOT NULL FROM chat_messages WHERE id = $1::text::uuid",
            &[&as_id(&message["id"])],
        )
        .await
        .expect("reading a message");
    (row.get(0), row.get(1), row.get(2))
}
