//! The server tried as an attacker would (issue 14): anonymity that holds,
//! limits on every kind of write, queries with a deadline that stop when their
//! client leaves, reactions that never deadlock, and no summary posted into an
//! ended session. Each test reproduces the attack and fails without its fix.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{join, put, room, room_path, user};
use crate::helpers::{as_id, assert_error, spawn_app, spawn_app_with, wait_for, TestApp};
use crate::ws_client::Ws;

fn message_path(message: &Value, rest: &str) -> String {
    format!("/v1/messages/{}{rest}", as_id(&message["id"]))
}

/// A public room of alice's with anonymous posting, bob and carol members.
async fn anonymous_room(app: &TestApp) -> (String, String, String, Value) {
    let alice = user(app, "alice").await;
    let bob = user(app, "bob").await;
    let carol = user(app, "carol").await;
    let lobby = room(
        app,
        &alice,
        json!({ "name": "Confessions", "type": "public", "settings": { "anonymous_posting": true } }),
    )
    .await;
    join(app, &bob, &lobby).await;
    join(app, &carol, &lobby).await;
    (alice, bob, carol, lobby)
}

/// Whether `bob` appears anywhere in `value` (any field, any depth).
fn names_bob(value: &Value) -> bool {
    value.to_string().contains("\"bob\"")
}

#[tokio::test]
async fn a_deleted_anonymous_post_names_nobody_over_rest_or_live() {
    let app = spawn_app().await;
    let (alice, bob, _, lobby) = anonymous_room(&app).await;
    let mut live = Ws::connect(app.port, &alice).await;
    live.subscribe(&format!("conversation:{}", as_id(&lobby["id"])), None)
        .await;
    let posted = app.send(&bob, &lobby["id"], "it was me").await;
    assert_eq!(posted["anonymous"], true);
    // heard as new first (deleted before the server read it, it would arrive
    // once, as a new tombstone)
    live.event_of("message_new").await;

    let (status, tombstone) = app.delete(&bob, &message_path(&posted, "")).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert_eq!(tombstone["deleted_by"], Value::Null, "{tombstone}");
    assert!(
        !names_bob(&tombstone),
        "the tombstone names bob: {tombstone}"
    );

    let deleted = live.event_of("message_deleted").await;
    assert!(!names_bob(&deleted), "the live event names bob: {deleted}");
    let page = app.messages(&alice, &lobby["id"], "").await;
    assert!(!names_bob(&page), "the page names bob: {page}");
}

#[tokio::test]
async fn receipts_of_an_anonymous_post_do_not_single_out_its_author() {
    let app = spawn_app().await;
    let (alice, bob, carol, lobby) = anonymous_room(&app).await;
    let posted = app.send(&bob, &lobby["id"], "guess who").await;
    let seq = posted["seq"].as_i64().unwrap();
    for reader in [&alice, &carol] {
        let path = format!("/v1/conversations/{}/read", as_id(&lobby["id"]));
        let (status, _) = app.post(reader, &path, &json!({ "seq": seq })).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, receipts) = app.get(&alice, &message_path(&posted, "/receipts")).await;
    assert_eq!(status, StatusCode::OK, "{receipts}");
    assert_eq!(
        (&receipts["status"], &receipts["recipients"]),
        (&json!("read"), &json!(2))
    );
    assert_eq!(receipts["read_by"], Value::Null, "{receipts}");
    assert_eq!(receipts["delivered_to"], Value::Null, "{receipts}");
    assert!(!names_bob(&receipts), "{receipts}");

    // A signed post still says who read it.
    let (status, _) = app
        .patch(
            &alice,
            &room_path(&lobby, ""),
            &json!({ "settings": { "anonymous_posting": false } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let signed = app.send(&bob, &lobby["id"], "signed").await;
    let (_, receipts) = app.get(&alice, &message_path(&signed, "/receipts")).await;
    assert_eq!(receipts["read_by"], json!([]));
}

async fn open(app: &TestApp, token: &str) -> (StatusCode, Value, Option<String>) {
    let body = json!({ "subject": "help", "priority": "urgent",
                       "message": { "body": "hi", "client_msg_id": Uuid::new_v4() } });
    let response = app
        .http
        .post(app.url("/v1/support/sessions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap(), retry_after)
}

#[tokio::test]
async fn a_customer_cannot_flood_the_support_queue() {
    let app = spawn_app_with(|config| {
        config.limits.session_open_rate = 5;
        config.limits.max_open_sessions = 3;
    })
    .await;
    let carol = app.token("carol", "user");
    let mut opened = Vec::new();
    for _ in 0..3 {
        let (status, body, _) = open(&app, &carol).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        opened.push(body);
    }
    let (status, body, _) = open(&app, &carol).await;
    assert_error(
        &(status, body),
        StatusCode::CONFLICT,
        "too_many_open_sessions",
    );
    // Ending one frees a place.
    app.session_action(&carol, &opened[0]["id"], "end", &json!({}))
        .await;
    let (status, body, _) = open(&app, &carol).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Five opens a minute: the sixth waits, whatever the cap says.
    let (status, body, retry_after) = open(&app, &carol).await;
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    assert_eq!(
        app.count("SELECT count(*) FROM live_chat_sessions WHERE customer_id = 'carol'")
            .await,
        4
    );

    // 200 concurrent opens by one customer: the cap is exact across them,
    // the rest are refused with a reason, none fails.
    let dave = app.token("dave", "user");
    let app = &app;
    let answers =
        futures::future::join_all((0..200).map(|_| async { open(app, &dave).await.0 })).await;
    let created = answers
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "{answers:?}");
    assert!(answers.iter().all(|s| [
        StatusCode::CREATED,
        StatusCode::CONFLICT,
        StatusCode::TOO_MANY_REQUESTS
    ]
    .contains(s)));
    assert_eq!(
        answers
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        195
    );
    // Another customer is unaffected.
    let (status, _, _) = open(app, &app.token("erin", "user")).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// Repeats `write` until it is refused; returns how many got through, after
/// checking the refusal is a 429 `rate_limited` with `Retry-After`.
async fn until_limited<F, Fut>(what: &str, write: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    for n in 0..50 {
        let response = write(n).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                response.headers().contains_key("retry-after"),
                "{what}: no Retry-After"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited", "{what}");
            return n;
        }
        assert!(
            response.status().is_success(),
            "{what} #{n}: {}",
            response.status()
        );
    }
    panic!("{what}: 50 writes were never limited");
}

#[tokio::test]
async fn edits_deletes_reactions_rooms_and_uploads_are_each_limited_per_user() {
    let app = spawn_app_with(|config| {
        config.limits.edit_rate = 4;
        config.limits.reaction_rate = 3;
        config.limits.room_create_rate = 2;
        config.limits.room_write_rate = 3;
        config.limits.upload_rate = 2;
    })
    .await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lobby = room(&app, &alice, json!({ "name": "Lobby", "type": "public" })).await;
    let mine = app.send(&alice, &lobby["id"], "draft").await;
    let (alice, bob, lobby) = (&alice, &bob, &lobby);
    let http = &app.http;
    let app = &app;

    // Edits and deletes share a bucket: three edits, a delete, then 429.
    let edits = until_limited("edits", |n| {
        let request = if n == 3 {
            http.delete(app.url(&message_path(&mine, "")))
        } else {
            http.patch(app.url(&message_path(&mine, "")))
                .json(&json!({ "body": format!("edit {n}") }))
        };
        async move { request.bearer_auth(alice).send().await.unwrap() }
    })
    .await;
    assert_eq!(edits, 4);
    let target = app.send(alice, &lobby["id"], "react to me").await;
    let emojis = ["👍", "🎉", "🔥", "👀", "💯"];
    let reactions = until_limited("reactions", |n| {
        let path = message_path(&target, &format!("/reactions/{}", emojis[n % 5]));
        async move {
            http.put(app.url(&path))
                .bearer_auth(alice)
                .send()
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(reactions, 3);
    // ... while another user's bucket is full.
    join(app, bob, lobby).await;
    let (status, _) = put(app, bob, &message_path(&target, "/reactions/👍")).await;
    assert_eq!(status, StatusCode::OK);

    let rooms = until_limited("rooms", |n| async move {
        http.post(app.url("/v1/rooms"))
            .bearer_auth(bob)
            .json(&json!({ "name": format!("r{n}"), "type": "public" }))
            .send()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(rooms, 2);
    // bob used one room write joining the lobby.
    let settings = until_limited("room writes", |n| async move {
        http.post(app.url(&room_path(
            lobby,
            if n % 2 == 0 { "/leave" } else { "/join" },
        )))
        .bearer_auth(bob)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
    })
    .await;
    assert_eq!(settings, 2);

    let uploads = until_limited("uploads", |n| async move {
        http.post(app.url("/v1/attachments"))
            .bearer_auth(alice)
            .json(
                &json!({ "conversation_id": lobby["id"], "filename": format!("f{n}.png"),
                           "size": 100, "mime_type": "image/png" }),
            )
            .send()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(uploads, 2);
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_a_503_timeout_not_a_500() {
    let app = spawn_app_with(|config| config.limits.statement_timeout_ms = 300).await;
    let alice = user(&app, "alice").await;
    // Another session holds chat_messages: every read of it waits.
    let mut blocker = pgchat::db::connect(&app.db_config).await.unwrap();
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE chat_messages IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let response = app
        .http
        .get(app.url("/v1/search?q=hello"))
        .bearer_auth(&alice)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("an answer within the deadline");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    lock.rollback().await.unwrap();
    let (status, _) = app.get(&alice, "/v1/search?q=hello").await;
    assert_eq!(status, StatusCode::OK);
}

/// Backends of the test database running a search.
async fn searches_running(app: &TestApp) -> i64 {
    app.count(&format!(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = '{}' AND query LIKE '%pgchat.search_hit%' AND state = 'active'
            AND pid <> pg_backend_pid()",
        app.db_name
    ))
    .await
}

#[tokio::test]
async fn a_search_whose_client_went_away_is_cancelled_in_postgres() {
    let app = spawn_app_with(|config| config.limits.statement_timeout_ms = 0).await;
    let alice = user(&app, "alice").await;
    let mut blocker = pgchat::db::connect(&app.db_config).await.unwrap();
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE chat_messages IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let request = client
        .get(app.url("/v1/search?q=hello"))
        .bearer_auth(&alice)
        .send();
    let search = tokio::spawn(request);
    wait_for("the search to wait on the lock", || async {
        searches_running(&app).await == 1
    })
    .await;
    // The client hangs up; the lock is still held, so only a cancel ends it.
    search.abort();
    drop(client);
    wait_for("the abandoned search to be cancelled", || async {
        searches_running(&app).await == 0
    })
    .await;
    lock.rollback().await.unwrap();
    let (status, _) = app.get(&alice, "/v1/search?q=hello").await;
    assert_eq!(status, StatusCode::OK);
}

async fn search(app: &TestApp, token: &str, q: &str) -> (StatusCode, Value) {
    app.call(
        app.http
            .get(app.url("/v1/search"))
            .query(&[("q", q)])
            .bearer_auth(token),
    )
    .await
}

#[tokio::test]
async fn a_search_of_too_many_words_is_refused_with_422() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let words: Vec<String> = (0..32).map(|i| format!("w{i}")).collect();
    let phrase = format!("\"{}\"", words.join(" "));
    let response = search(&app, &alice, &phrase).await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "query_too_complex",
    );
    // A hyphenated word is three terms to the parser: 3 × 3 = 9 > 8.
    let response = search(&app, &alice, "a-b c-d e-f").await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "query_too_complex",
    );
    let eight = format!("\"{}\"", words[..8].join(" "));
    let (status, _) = search(&app, &alice, &eight).await;
    assert_eq!(status, StatusCode::OK);
}

async fn deadlocks(app: &TestApp) -> i64 {
    app.count(&format!(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = '{}'",
        app.db_name
    ))
    .await
}

#[tokio::test]
async fn concurrent_adds_and_removes_of_one_reaction_never_deadlock() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lobby = room(&app, &alice, json!({ "name": "Lobby", "type": "public" })).await;
    join(&app, &bob, &lobby).await;
    let hello = app.send(&alice, &lobby["id"], "react to me").await;
    let path = message_path(&hello, "/reactions/👍");
    let before = deadlocks(&app).await;
    let app = &app;
    let writes = (0..300).map(|n| {
        let token = if n % 4 < 2 { &alice } else { &bob };
        let request = if n % 2 == 0 {
            app.http.put(app.url(&path))
        } else {
            app.http.delete(app.url(&path))
        };
        async move { request.bearer_auth(token).send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(writes).await;
    let failed: Vec<_> = statuses.iter().filter(|s| !s.is_success()).collect();
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    // The summary matches the rows.
    let page = app.messages(&alice, &lobby["id"], "").await;
    let summary = page["items"].as_array().unwrap().last().unwrap()["reactions"].clone();
    let rows = app.count("SELECT count(*) FROM message_reactions").await;
    let listed = summary
        .get("👍")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    assert_eq!(listed as i64, rows, "{summary}");

    // A backend reports its deadlocks to pg_stat_database when it has been
    // idle a while, or when it exits: end the server's backends, then read.
    let pids: Vec<i32> = app
        .db
        .query(
            "SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity
              WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&app.db_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(1))
        .collect();
    wait_for("the server's backends to exit", || async {
        let left: i64 = app
            .db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&pids],
            )
            .await
            .unwrap()
            .get(0);
        left == 0
    })
    .await;
    assert_eq!(deadlocks(app).await - before, 0, "deadlocks detected");
}

#[tokio::test]
async fn a_summary_is_not_posted_into_an_ended_session() {
    let app = spawn_app().await;
    let carol = app.token_named("carol", "user", "Carol");
    let agent = app.token("agent-1", "agent");
    let session = app.open_session_with(&carol, "Parcel", "It broke.").await;
    let conversation = session["conversation_id"].clone();
    app.session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    app.session_action(&carol, &session["id"], "end", &json!({}))
        .await;
    let before = app.count("SELECT count(*) FROM chat_messages").await;
    let path = format!("/v1/conversations/{}/summary", as_id(&conversation));
    let response = app.post(&agent, &path, &json!({ "post": true })).await;
    assert_error(&response, StatusCode::CONFLICT, "session_ended");
    assert_eq!(
        app.count("SELECT count(*) FROM chat_messages").await,
        before,
        "nothing was written"
    );
    // Reading a summary of an ended session is still fine.
    let (status, summary) = app.post(&agent, &path, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
}
