//! Deleting for good: an admin deletes a support session with everything in
//! it (its files' bytes too), and erases a user's data on request; both are
//! in the audit trail, and only admins may.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::attachments::{send_with, upload, walk, PDF};
use crate::chat_helpers::{join, put, room_of, user};
use crate::helpers::{as_id, assert_error, spawn_app, TestApp};
use crate::ws_client::Ws;

/// Stored files under the test server's data folder.
fn stored_files(app: &TestApp) -> usize {
    walk(&app.data_dir.join("attachments")).len()
}

async fn audit(app: &TestApp) -> Vec<Value> {
    let admin = app.token("root", "admin");
    let (status, body) = app.get(&admin, "/v1/admin/audit").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn an_admin_deletes_a_session_with_its_messages_files_and_subscriptions() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let admin = app.token("root", "admin");
    let session = app.open_session(&carol).await;
    let conversation = session["conversation_id"].clone();
    let file = upload(
        &app,
        &carol,
        &conversation,
        "invoice.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    let (status, sent) = send_with(&app, &carol, &conversation, &file["id"], json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(stored_files(&app), 1);
    let mut live = Ws::connect(app.port, &carol).await;
    let topic = format!("conversation:{}", as_id(&conversation));
    live.subscribe(&topic, None).await;
    let path = format!("/v1/support/sessions/{}", as_id(&session["id"]));

    // not an agent's, nor the customer's, to delete: nothing changes
    for token in [&ann, &carol] {
        assert_error(
            &app.delete(token, &path).await,
            StatusCode::FORBIDDEN,
            "admins_only",
        );
    }
    assert_eq!(
        app.session(&admin, &session["id"]).await["id"],
        session["id"]
    );

    let (status, body) = app.delete(&admin, &path).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // the subscriber is told, and the rows and bytes are gone
    let told = live.event_of("unsubscribed").await;
    assert_eq!(
        (&told["topic"], &told["reason"]),
        (&json!(topic), &json!("deleted"))
    );
    let conversation_id = as_id(&conversation).to_owned();
    for table in [
        "conversations WHERE id",
        "chat_messages WHERE conversation_id",
        "attachments WHERE conversation_id",
        "conversation_members WHERE conversation_id",
    ] {
        let left = app
            .count(&format!(
                "SELECT count(*) FROM {table} = '{conversation_id}'"
            ))
            .await;
        assert_eq!(left, 0, "{table}");
    }
    assert_eq!(stored_files(&app), 0, "the file's bytes went with it");
    assert_eq!(app.count("SELECT count(*) FROM blob_deletions").await, 0);
    assert_error(
        &app.delete(&admin, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let trail = audit(&app).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(
        (&trail[0]["action"], &trail[0]["actor"], &trail[0]["target"]),
        (&json!("session_deleted"), &json!("root"), &session["id"])
    );
    assert_eq!(trail[0]["details"]["messages"], 2, "{trail:?}");
    assert_eq!(trail[0]["details"]["attachments"], 1, "{trail:?}");
    // the trail is the admins'
    assert_error(
        &app.get(&ann, "/v1/admin/audit").await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    let rows = app
        .sql_as("ann", "agent", "SELECT count(*) FROM desk_audit", &[])
        .await
        .expect("reading the audit trail in SQL");
    assert_eq!(
        rows[0].get::<_, i64>(0),
        0,
        "RLS shows an agent no audit rows"
    );
}

#[tokio::test]
async fn an_admin_erases_a_users_data_and_their_messages_lose_their_author() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let admin = app.token("root", "admin");
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    let hers = app.send(&alice, &lobby["id"], "hello bob").await;
    let his = app.send(&bob, &lobby["id"], "hi, I am Bob Smith").await;
    put(
        &app,
        &bob,
        &format!("/v1/messages/{}/reactions/👍", as_id(&hers["id"])),
    )
    .await;
    let file = upload(
        &app,
        &bob,
        &lobby["id"],
        "passport.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    let (status, _) = send_with(&app, &bob, &lobby["id"], &file["id"], json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(stored_files(&app), 1);

    assert_error(
        &app.post(&alice, "/v1/admin/users/bob/erase", &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &app.post(&admin, "/v1/admin/users/nobody/erase", &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, done) = app
        .post(
            &admin,
            "/v1/admin/users/bob/erase",
            &json!({ "messages": "anonymize" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (&done["messages"], &done["attachments"]),
        (&json!(2), &json!(1)),
        "{done}"
    );

    // his messages stay, named by nobody; his reaction, file and name are gone
    let page = app.messages(&alice, &lobby["id"], "").await;
    let items = page["items"].as_array().expect("items");
    let text = page.to_string();
    assert!(!text.contains("\"bob\""), "bob is still named: {text}");
    let kept = items
        .iter()
        .find(|m| m["id"] == his["id"])
        .expect("his message");
    assert_eq!(kept["body"], "hi, I am Bob Smith");
    assert_eq!(
        (&kept["sender_id"], &kept["sender_name"]),
        (&Value::Null, &Value::Null)
    );
    let hers_now = items
        .iter()
        .find(|m| m["id"] == hers["id"])
        .expect("her message");
    assert_eq!(hers_now["reactions"], json!({}));
    assert_eq!(stored_files(&app), 0, "his file's bytes are gone");
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE id = 'bob' AND name IS NULL AND erased_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM chat_messages WHERE sender_id = 'bob'")
            .await,
        0
    );

    // erasing with "delete" leaves tombstones
    let carol = user(&app, "carol").await;
    join(&app, &carol, &lobby).await;
    let gone = app
        .send(&carol, &lobby["id"], "my address is 1 Main St")
        .await;
    let (status, _) = app
        .post(
            &admin,
            "/v1/admin/users/carol/erase",
            &json!({ "messages": "delete" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let page = app.messages(&alice, &lobby["id"], "").await;
    let tomb = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == gone["id"])
        .cloned()
        .expect("a tombstone keeps its place");
    assert_eq!(tomb["body"], "");
    assert!(tomb["deleted_at"].is_string());
    assert!(!page.to_string().contains("Main St"));

    let actions: Vec<(Value, Value)> = audit(&app)
        .await
        .iter()
        .map(|a| (a["action"].clone(), a["target"].clone()))
        .collect();
    assert_eq!(
        actions,
        [
            (json!("user_erased"), json!("carol")),
            (json!("user_erased"), json!("bob"))
        ]
    );
}
