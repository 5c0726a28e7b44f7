//! Message features of every kind of chat: kinds, replies with a preview,
//! reactions, edits, tombstones, full-text search, and the retention purge.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{direct, join, moderate, put, room, room_of, rows, stored, user};
use crate::helpers::{as_id, assert_error, assert_sql_refused, spawn_app, TestApp};
use crate::ws_client::Ws;

fn message_path(message: &Value, rest: &str) -> String {
    format!("/v1/messages/{}{rest}", as_id(&message["id"]))
}

async fn search(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(token, &format!("/v1/search?{query}")).await;
    assert_eq!(status, StatusCode::OK, "searching: {body}");
    body["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn clients_send_every_client_kind_and_never_the_servers() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    user(&app, "bob").await;
    let chat = direct(&app, &alice, "bob").await;
    let (status, sent) = app
        .send_json(
            &alice,
            &chat["id"],
            &json!({ "body": "hi", "kind": "text", "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["kind"], "text");
    let before = app.counts().await;
    // a file's kind carries its file (with one: tests/api/attachments.rs)
    for kind in ["image", "file", "audio", "video"] {
        let response = app
            .send_json(
                &alice,
                &chat["id"],
                &json!({ "body": kind, "kind": kind, "client_msg_id": Uuid::new_v4() }),
            )
            .await;
        assert_error(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "attachment_required",
        );
    }
    let mut ws = Ws::connect(app.port, &alice).await;
    let answer = ws
        .request(json!({
            "type": "send_message", "conversation_id": chat["id"], "client_msg_id": Uuid::new_v4(),
            "body": "a picture", "kind": "image",
        }))
        .await;
    assert_eq!(answer["code"], "attachment_required", "{answer}");
    assert_sql_refused(
        app.sql_as(
            "alice",
            "user",
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body)
             VALUES ($1::text::uuid, 'alice', 'user', 'image', 'no file')",
            &[&as_id(&chat["id"]).to_owned()],
        )
        .await,
        "attachment_required",
    );
    assert_eq!(app.counts().await, before, "nothing refused was stored");
    for kind in ["system", "ai_response", "note"] {
        let response = app
            .send_json(
                &alice,
                &chat["id"],
                &json!({ "body": "x", "kind": kind, "client_msg_id": Uuid::new_v4() }),
            )
            .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    }
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn a_reply_carries_a_preview_of_its_parent() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let chat = direct(&app, &alice, "bob").await;
    let long = "q".repeat(300);
    let parent = app.send(&alice, &chat["id"], &long).await;
    let (status, reply) = app
        .send_json(
            &bob,
            &chat["id"],
            &json!({ "body": "answer", "reply_to": parent["id"], "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["reply_to"], parent["id"]);
    let preview = &reply["reply_preview"];
    assert_eq!(preview["id"], parent["id"]);
    assert_eq!(preview["sender_id"], "alice");
    assert_eq!(preview["sender_name"], "Alice");
    assert_eq!(preview["body"].as_str().unwrap().chars().count(), 140);
    assert_eq!(preview["deleted"], false);

    // the parent's deletion shows in the preview; a reply to another conversation's message is refused
    app.delete(&alice, &message_path(&parent, "")).await;
    let page = app.messages(&bob, &chat["id"], "").await;
    let listed = page["items"].as_array().unwrap().last().unwrap();
    assert_eq!(listed["reply_preview"]["deleted"], true);
    assert_eq!(listed["reply_preview"]["body"], "");
    let elsewhere = room_of(&app, &alice, "public", "Lobby").await;
    let other = app.send(&alice, &elsewhere["id"], "in the lobby").await;
    let response = app
        .send_json(
            &bob,
            &chat["id"],
            &json!({ "body": "x", "reply_to": other["id"], "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reply_to",
    );
}

#[tokio::test]
async fn reactions_are_added_and_taken_back_with_a_per_emoji_summary() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    let hello = app.send(&alice, &lobby["id"], "hello").await;
    assert_eq!(hello["reactions"], json!({}));
    let thumbs = message_path(&hello, "/reactions/👍");

    let (status, first) = put(&app, &alice, &thumbs).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = put(&app, &bob, &thumbs).await;
    let (_, party) = put(&app, &bob, &message_path(&hello, "/reactions/%F0%9F%8E%89")).await;
    assert_eq!(
        party["reactions"],
        json!({ "👍": ["alice", "bob"], "🎉": ["bob"] })
    );
    assert!(second["change_seq"].as_i64() > first["change_seq"].as_i64());
    // the same reaction twice changes nothing
    let (_, again) = put(&app, &bob, &thumbs).await;
    assert_eq!(again["change_seq"], party["change_seq"]);
    assert_eq!(rows(&app, "message_reactions").await, 3);

    let (status, taken) = app.delete(&alice, &thumbs).await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!(taken["reactions"], json!({ "👍": ["bob"], "🎉": ["bob"] }));
    let (_, none) = app.delete(&alice, &thumbs).await;
    assert_eq!(none["change_seq"], taken["change_seq"]);

    // outsiders: invisible; bad emoji: 400; a tombstone takes none
    let before = app.counts().await;
    let response = put(&app, &carol, &thumbs).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let response = app.delete(&carol, &thumbs).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    for bad in ["a%20b", "x%2Fy"] {
        let response = put(
            &app,
            &bob,
            &message_path(&hello, &format!("/reactions/{bad}")),
        )
        .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "invalid_path");
    }
    assert_eq!(rows(&app, "message_reactions").await, 2);
    app.delete(&alice, &message_path(&hello, "")).await;
    let response = put(&app, &bob, &thumbs).await;
    assert_error(&response, StatusCode::CONFLICT, "message_deleted");
    assert_eq!(
        rows(&app, "message_reactions").await,
        0,
        "a tombstone keeps no reactions"
    );
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn only_the_sender_edits_a_message() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    let original = app.send(&bob, &lobby["id"], "helo").await;

    let (status, edited) = app
        .patch(
            &bob,
            &message_path(&original, ""),
            &json!({ "body": "hello" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["body"], "hello");
    assert!(edited["edited_at"].is_string());
    assert!(edited["change_seq"].as_i64() > original["change_seq"].as_i64());
    assert_eq!(edited["seq"], original["seq"]);

    // someone else, even the room's owner: refused, nothing changes
    let response = app
        .patch(
            &alice,
            &message_path(&original, ""),
            &json!({ "body": "owned" }),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_your_message");
    let sql = app
        .sql_as(
            "alice",
            "user",
            "UPDATE chat_messages SET body = 'sql edit' WHERE id = $1::text::uuid",
            &[&as_id(&original["id"])],
        )
        .await;
    assert!(sql.is_err(), "the owner rewrote a message with SQL");
    for body in [
        json!({ "body": "" }),
        json!({ "body": "x".repeat(5001) }),
        json!({ "text": "x" }),
    ] {
        let response = app.patch(&bob, &message_path(&original, ""), &body).await;
        assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    }
    let response = app
        .patch(
            &bob,
            &format!("/v1/messages/{}", Uuid::new_v4()),
            &json!({ "body": "x" }),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        stored(&app, &original).await,
        ("hello".to_owned(), false, true)
    );

    // a deleted message stays deleted
    app.delete(&bob, &message_path(&original, "")).await;
    let response = app
        .patch(
            &bob,
            &message_path(&original, ""),
            &json!({ "body": "undo" }),
        )
        .await;
    assert_error(&response, StatusCode::CONFLICT, "message_deleted");
    let sql = app
        .sql_as(
            "bob",
            "user",
            "UPDATE chat_messages SET deleted_at = NULL, body = 'back' WHERE id = $1::text::uuid",
            &[&as_id(&original["id"])],
        )
        .await;
    assert!(sql.is_err(), "a tombstone was revived with SQL");
}

#[tokio::test]
async fn the_sender_or_a_moderator_deletes_a_message_as_a_tombstone() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    join(&app, &carol, &lobby).await;
    let mine = app.send(&bob, &lobby["id"], "oops").await;
    let rude = app.send(&bob, &lobby["id"], "something rude").await;

    let (status, gone) = app.delete(&bob, &message_path(&mine, "")).await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["body"], "");
    assert!(gone["deleted_at"].is_string());
    assert_eq!(gone["deleted_by"], "bob");
    assert_eq!(gone["seq"], mine["seq"], "a tombstone keeps its place");
    assert_eq!(
        stored(&app, &mine).await.0,
        "",
        "the body is removed, not hidden"
    );
    let (status, again) = app.delete(&bob, &message_path(&mine, "")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["change_seq"], gone["change_seq"]);

    // a plain member may not delete others' messages
    let before = app.counts().await;
    let response = app.delete(&carol, &message_path(&rude, "")).await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_your_message");
    assert_eq!(
        stored(&app, &rude).await,
        ("something rude".to_owned(), false, false)
    );
    assert_eq!(app.counts().await, before);

    // a moderator may
    moderate(
        &app,
        &alice,
        &lobby,
        "carol",
        json!({ "role": "moderator" }),
    )
    .await;
    let (status, removed) = app.delete(&carol, &message_path(&rude, "")).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["deleted_by"], "carol");
    let page = app.messages(&alice, &lobby["id"], "").await;
    let bodies: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["", ""]);
}

#[tokio::test]
async fn search_finds_only_what_i_can_read_ranked_and_highlighted() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let chat = direct(&app, &alice, "bob").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    let secret = room_of(&app, &carol, "private", "Carol's").await;
    let best = app
        .send(
            &bob,
            &chat["id"],
            "the deploy failed, deploy again after the deploy window",
        )
        .await;
    let weaker = app
        .send(&alice, &lobby["id"], "deploy <b>tomorrow</b> & later")
        .await;
    app.send(&carol, &secret["id"], "deploy the secret thing")
        .await;
    let deleted = app.send(&alice, &lobby["id"], "deploy nothing").await;
    app.delete(&alice, &message_path(&deleted, "")).await;
    // an internal note in a support chat is never found by its customer
    let session = app
        .open_session_with(&app.token("dan", "user"), "deploy help", "my deploy")
        .await;
    let agent = app.token("ann", "agent");
    app.send_json(
        &agent,
        &session["conversation_id"],
        &json!({ "body": "internal deploy note", "internal": true, "client_msg_id": Uuid::new_v4() }),
    )
    .await;

    let found = search(&app, &alice, "q=deploy").await;
    let ids: Vec<&Value> = found.iter().map(|f| &f["message"]["id"]).collect();
    assert_eq!(ids, [&best["id"], &weaker["id"]], "{found:?}");
    assert!(found[0]["rank"].as_f64() > found[1]["rank"].as_f64());
    assert!(found[0]["highlight"]
        .as_str()
        .unwrap()
        .contains("<mark>deploy</mark>"));
    assert_eq!(found[0]["conversation"]["kind"], "direct");
    // the body is escaped before the marks are added
    let highlight = found[1]["highlight"].as_str().unwrap();
    assert!(
        highlight.contains("&lt;b&gt;tomorrow&lt;/b&gt; &amp;"),
        "{highlight}"
    );
    assert_eq!(found[1]["conversation"]["title"], "Lobby");

    // phrases, a scope, a limit
    let phrase = search(&app, &alice, "q=%22deploy%20window%22").await;
    assert_eq!(phrase.len(), 1);
    let scoped = search(
        &app,
        &alice,
        &format!("q=deploy&conversation_id={}", as_id(&lobby["id"])),
    )
    .await;
    assert_eq!(scoped.len(), 1);
    assert_eq!(search(&app, &alice, "q=deploy&limit=1").await.len(), 1);
    assert!(
        search(&app, &bob, "q=tomorrow").await.is_empty(),
        "bob is not in the lobby"
    );

    let dan = app.token("dan", "user");
    let theirs = search(&app, &dan, "q=deploy").await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["message"]["body"], "my deploy");
    assert_eq!(search(&app, &agent, "q=internal").await.len(), 1);

    for query in ["", "?q=", "?q=%20%20", "?q=x&limit=500", "?q=x&page=2"] {
        let response = app.get(&alice, &format!("/v1/search{query}")).await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            response.1
        );
    }
    // punctuation only is a query with no terms: nothing matches, no error
    assert!(search(&app, &alice, "q=%21%21%21").await.is_empty());
}

#[tokio::test]
async fn retention_purges_old_messages_and_several_nodes_share_the_work() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let short = room(
        &app,
        &alice,
        json!({ "name": "Ephemeral", "type": "public", "settings": { "retention_days": 1 } }),
    )
    .await;
    let forever = room_of(&app, &alice, "public", "Archive").await;
    join(&app, &bob, &short).await;
    let room_id = as_id(&short["id"]).to_owned();
    app.db
        .execute(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body, created_at)
             SELECT $1::text::uuid, 'alice', 'user', 'old ' || i, now() - interval '3 days'
               FROM generate_series(1, 5000) i",
            &[&room_id],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body, created_at)
             SELECT $1::text::uuid, 'alice', 'user', 'old but kept', now() - interval '3 days'",
            &[&as_id(&forever["id"])],
        )
        .await
        .unwrap();
    let old = app
        .db
        .query_one(
            "SELECT id::text FROM chat_messages WHERE conversation_id = $1::text::uuid ORDER BY seq DESC LIMIT 1",
            &[&room_id],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    let old = json!({ "id": old });
    put(&app, &bob, &message_path(&old, "/reactions/👍")).await;
    let (_, reply) = app
        .send_json(
            &bob,
            &short["id"],
            &json!({ "body": "fresh reply", "reply_to": old["id"], "client_msg_id": Uuid::new_v4() }),
        )
        .await;

    // two "nodes" (pools of their own) purge at once
    let node_a = pgchat::db::Db::new(
        app.db_config.clone(),
        pgchat::db::tls::MakeTls::from_config(&app.db_config).unwrap(),
        2,
    )
    .unwrap();
    let node_b = pgchat::db::Db::new(
        app.db_config.clone(),
        pgchat::db::tls::MakeTls::from_config(&app.db_config).unwrap(),
        2,
    )
    .unwrap();
    let (a, b) = tokio::join!(
        pgchat::service::retention::purge(&node_a),
        pgchat::service::retention::purge(&node_b)
    );
    let (a, b) = (a.expect("node a purges"), b.expect("node b purges"));
    assert_eq!(
        a + b,
        5000,
        "each expired message deleted once (a {a}, b {b})"
    );
    let left = app
        .count(&format!(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = '{room_id}'"
        ))
        .await;
    assert_eq!(left, 1, "only the fresh reply is left");
    assert_eq!(rows(&app, "message_reactions").await, 0);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = '{}'",
            as_id(&forever["id"])
        ))
        .await,
        1,
        "a room without retention keeps everything"
    );
    let page = app.messages(&bob, &short["id"], "").await;
    assert_eq!(page["items"][0]["id"], reply["id"]);
    assert_eq!(page["items"][0]["reply_to"], old["id"]);
    assert_eq!(page["items"][0]["reply_preview"], Value::Null);
    assert_eq!(pgchat::service::retention::purge(&node_a).await.unwrap(), 0);
}

#[tokio::test]
async fn concurrent_reactions_all_make_it_into_the_summary() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        let token = user(&app, &format!("u{i:02}")).await;
        join(&app, &token, &lobby).await;
        tokens.push(token);
    }
    let hello = app.send(&alice, &lobby["id"], "react to me").await;
    let path = message_path(&hello, "/reactions/👍");
    let app = &app;
    let reacts = tokens.iter().map(|token| {
        let path = path.clone();
        async move { put(app, token, &path).await }
    });
    for (status, body) in futures::future::join_all(reacts).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let page = app.messages(&alice, &lobby["id"], "").await;
    let summary = &page["items"].as_array().unwrap().last().unwrap()["reactions"]["👍"];
    let mut who: Vec<&str> = summary
        .as_array()
        .expect("a summary")
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    who.sort_unstable();
    let expected: Vec<String> = (0..12).map(|i| format!("u{i:02}")).collect();
    assert_eq!(who, expected, "every concurrent reaction is in the summary");
}

/// The rules of what happens to a message live in SQL and say why they refuse
/// (SQLSTATE PC001 with the reason), whoever writes: a request through the
/// API gets the same code as this SQL run as the member. Nothing refused is
/// written, and a repeated change is no change (no new change_seq).
#[tokio::test]
async fn in_sql_what_happens_to_a_message_says_why() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    let hers = app.send(&alice, &lobby["id"], "hers").await;
    let his = app.send(&bob, &lobby["id"], "his").await;
    let as_bob = |sql: &'static str, message: &Value| {
        let (app, id) = (&app, as_id(&message["id"]).to_owned());
        async move {
            app.sql_as("bob", "user", sql, &[&id])
                .await
                .map(|rows| rows.len())
        }
    };
    let refused = |result: Result<usize, tokio_postgres::Error>, reason: &str| {
        let error = result.expect_err("the change should be refused");
        let db = error.as_db_error().unwrap_or_else(|| panic!("{error}"));
        assert_eq!(
            (db.code().code(), db.detail()),
            ("PC001", Some(reason)),
            "{db}"
        );
    };
    let edit = "UPDATE chat_messages SET body = 'mine now' WHERE id = $1::text::uuid";
    let delete = "UPDATE chat_messages SET deleted_at = now() WHERE id = $1::text::uuid";
    let pin = "UPDATE chat_messages SET pinned_at = now() WHERE id = $1::text::uuid";
    let react = "INSERT INTO message_reactions (message_id, emoji, user_id)
                 VALUES ($1::text::uuid, '👍', 'bob')";
    refused(as_bob(edit, &hers).await, "not_your_message");
    refused(as_bob(delete, &hers).await, "not_your_message");
    refused(as_bob(pin, &hers).await, "not_a_moderator");
    // the API answers with the same codes
    let (status, body) = app
        .patch(
            &bob,
            &message_path(&hers, ""),
            &json!({ "body": "mine now" }),
        )
        .await;
    assert_error(&(status, body), StatusCode::FORBIDDEN, "not_your_message");
    assert_error(
        &app.delete(&bob, &message_path(&hers, "")).await,
        StatusCode::FORBIDDEN,
        "not_your_message",
    );

    let cursor = app
        .count(&format!(
            "SELECT last_seq FROM conversations WHERE id = '{}'",
            as_id(&lobby["id"])
        ))
        .await;
    // the same body again, an unpinned message unpinned: nothing changes
    let same = "UPDATE chat_messages SET body = 'his' WHERE id = $1::text::uuid";
    as_bob(same, &his).await.expect("a repeat is no error");
    app.sql_as(
        "alice",
        "user",
        "UPDATE chat_messages SET pinned_at = NULL WHERE id = $1::text::uuid",
        &[&as_id(&his["id"]).to_owned()],
    )
    .await
    .expect("unpinning an unpinned message is no error");
    let after = app
        .count(&format!(
            "SELECT last_seq FROM conversations WHERE id = '{}'",
            as_id(&lobby["id"])
        ))
        .await;
    assert_eq!(after, cursor, "no change took a change_seq");

    moderate(&app, &alice, &lobby, "bob", json!({ "silenced": true })).await;
    refused(as_bob(react, &hers).await, "cannot_react");
    refused(as_bob(edit, &his).await, "cannot_write");
    as_bob(delete, &his)
        .await
        .expect("a silenced member still deletes his own");
    refused(
        as_bob(
            "UPDATE chat_messages SET body = 'back' WHERE id = $1::text::uuid",
            &his,
        )
        .await,
        "message_deleted",
    );
    let stored_body = app
        .count(&format!(
            "SELECT count(*) FROM chat_messages WHERE id = '{}' AND body = 'hers'",
            as_id(&hers["id"])
        ))
        .await;
    assert_eq!(stored_body, 1, "her message is as she wrote it");
}
