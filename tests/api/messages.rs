//! Messages: idempotent sends, paging by seq, internal notes, and rows written
//! with plain SQL.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{as_id, assert_error, ids, spawn_app, TestApp};

fn seqs(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

/// Adds `n` customer messages to the conversation in one statement, as the server role.
async fn insert_many(app: &TestApp, conversation: &Value, sender: &str, n: i64) {
    app.db
        .execute(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             SELECT $1::text::uuid, $2, 'user', 'message ' || i FROM generate_series(1, $3::bigint) i",
            &[&as_id(conversation), &sender, &n],
        )
        .await
        .expect("inserting messages");
}

/// Every seq of the conversation's messages, ascending, as the server role.
async fn all_seqs(app: &TestApp, conversation: &Value) -> Vec<i64> {
    app.db
        .query(
            "SELECT seq FROM chat_messages WHERE conversation_id = $1::text::uuid ORDER BY seq",
            &[&as_id(conversation)],
        )
        .await
        .expect("reading seqs")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_message_sent_twice_with_the_same_client_msg_id_is_stored_once() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let session = app.open_session(&carol).await;
    let conversation = &session["conversation_id"];
    let message = json!({ "body": "hello again", "client_msg_id": Uuid::new_v4() });

    let (status, first) = app.send_json(&carol, conversation, &message).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let before = app.counts().await;
    let (status, again) = app.send_json(&carol, conversation, &message).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first);
    assert_eq!(app.counts().await, before);

    // The same client id reused for another conversation is a conflict, not a new row.
    let other = app.open_session(&carol).await;
    let before = app.counts().await;
    let response = app
        .send_json(&carol, &other["conversation_id"], &message)
        .await;
    assert_error(&response, StatusCode::CONFLICT, "client_msg_id_reused");
    assert_eq!(app.counts().await, before);

    // Client ids belong to their sender: another sender may use the same one.
    let ann = app.token("ann", "agent");
    let (status, answer) = app.send_json(&ann, conversation, &message).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_ne!(answer["id"], first["id"]);
}

#[tokio::test]
async fn a_sent_message_has_the_wire_shape() {
    let app = spawn_app().await;
    let carol = app.token_named("carol", "user", "Carol");
    let session = app.open_session(&carol).await;
    let message = app.send(&carol, &session["conversation_id"], "Hello").await;
    for field in [
        "id",
        "conversation_id",
        "seq",
        "change_seq",
        "sender_id",
        "sender_role",
        "sender_name",
        "client_msg_id",
        "kind",
        "body",
        "reply_to",
        "internal",
        "attachment",
        "reactions",
        "created_at",
        "edited_at",
        "deleted_at",
    ] {
        assert!(message.get(field).is_some(), "{field} missing in {message}");
    }
    assert_eq!(message["seq"], message["change_seq"]);
    assert_eq!(message["reactions"], json!({}));
    assert_eq!(message["sender_name"], "Carol");
    let created = message["created_at"].as_str().expect("created_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
}

#[tokio::test]
async fn messages_page_by_seq_before_and_after_with_has_more() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let session = app.open_session(&carol).await;
    let conversation = &session["conversation_id"];
    insert_many(&app, conversation, "carol", 9).await;
    let all = all_seqs(&app, conversation).await;
    assert_eq!(all.len(), 10);

    // The newest page, in ascending order.
    let newest = app.messages(&carol, conversation, "?limit=4").await;
    assert_eq!(seqs(&newest), all[6..]);
    assert_eq!(newest["has_more"], true);
    // Older, before the first of that page.
    let older = app
        .messages(&carol, conversation, &format!("?before={}&limit=4", all[6]))
        .await;
    assert_eq!(seqs(&older), all[2..6]);
    assert_eq!(older["has_more"], true);
    let oldest = app
        .messages(&carol, conversation, &format!("?before={}&limit=4", all[2]))
        .await;
    assert_eq!(seqs(&oldest), all[..2]);
    assert_eq!(oldest["has_more"], false);

    // Forward from the start.
    let first = app.messages(&carol, conversation, "?after=0&limit=3").await;
    assert_eq!(seqs(&first), all[..3]);
    assert_eq!(first["has_more"], true);
    let next = app
        .messages(&carol, conversation, &format!("?after={}&limit=7", all[2]))
        .await;
    assert_eq!(seqs(&next), all[3..]);
    assert_eq!(next["has_more"], false, "exactly the rest");
    let none = app
        .messages(&carol, conversation, &format!("?after={}", all[9]))
        .await;
    assert_eq!(seqs(&none), Vec::<i64>::new());
    assert_eq!(none["has_more"], false);

    // A page exactly as long as what is left has no more.
    let exact = app.messages(&carol, conversation, "?limit=10").await;
    assert_eq!(seqs(&exact), all);
    assert_eq!(exact["has_more"], false);
    let max = app.messages(&carol, conversation, "?limit=100").await;
    assert_eq!(seqs(&max), all);
}

#[tokio::test]
async fn a_message_page_holds_50_by_default_and_100_at_most() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let session = app.open_session(&carol).await;
    let conversation = &session["conversation_id"];
    insert_many(&app, conversation, "carol", 119).await;
    let all = all_seqs(&app, conversation).await;
    assert_eq!(all.len(), 120);

    let page = app.messages(&carol, conversation, "").await;
    assert_eq!(seqs(&page), all[70..]);
    assert_eq!(page["has_more"], true);
    let page = app.messages(&carol, conversation, "?after=0").await;
    assert_eq!(seqs(&page), all[..50]);
    let page = app.messages(&carol, conversation, "?limit=100").await;
    assert_eq!(seqs(&page), all[20..]);
    assert_eq!(page["has_more"], true);

    let path = format!("/v1/conversations/{}/messages?limit=", as_id(conversation));
    for bad in ["0", "101", "-1", "1000000000000"] {
        let response = app.get(&carol, &format!("{path}{bad}")).await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "limit={bad}: {}",
            response.1
        );
        assert!(response.1["error"]["code"].is_string());
    }
}

#[tokio::test]
async fn a_row_inserted_with_plain_sql_gets_seq_numbers_and_is_listed() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let session = app.open_session(&carol).await;
    let conversation = &session["conversation_id"];
    let first = &session["message"];
    app.send(&ann, conversation, "hello from the API").await;
    let last_seq_before: i64 = app
        .db
        .query_one(
            "SELECT last_seq FROM conversations WHERE id = $1::text::uuid",
            &[&as_id(conversation)],
        )
        .await
        .expect("last_seq")
        .get(0);

    // As an operator would in psql: no seq, no change_seq.
    let row = app
        .db
        .query_one(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             VALUES ($1::text::uuid, 'ann', 'agent', 'typed in psql')
             RETURNING id::text, seq, change_seq",
            &[&as_id(conversation)],
        )
        .await
        .expect("plain insert");
    let (id, seq, change_seq): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(seq, last_seq_before + 1);
    assert_eq!(change_seq, seq);
    assert!(seq > first["seq"].as_i64().expect("seq"));

    for token in [&carol, &ann] {
        let page = app.messages(token, conversation, "").await;
        let items = page["items"].as_array().expect("items");
        let last = items.last().expect("a message");
        assert_eq!(last["id"], id.as_str());
        assert_eq!(last["seq"], seq);
        assert_eq!(last["body"], "typed in psql");
        let listed = app
            .messages(token, conversation, &format!("?after={}", seq - 1))
            .await;
        assert_eq!(ids(&listed["items"]), std::slice::from_ref(&id));
    }
    // The customer sees it as unread.
    let (_, list) = app.get(&carol, "/v1/support/sessions").await;
    assert_eq!(list["items"][0]["unread"], 2);

    // An update with plain SQL takes a new change_seq, keeps its seq.
    let row = app
        .db
        .query_one(
            "UPDATE chat_messages SET body = 'edited in psql', edited_at = now()
              WHERE id = $1::text::uuid RETURNING seq, change_seq",
            &[&id],
        )
        .await
        .expect("plain update");
    assert_eq!(row.get::<_, i64>(0), seq);
    assert_eq!(row.get::<_, i64>(1), seq + 1);
}

#[tokio::test]
async fn a_reply_must_name_a_message_of_the_same_conversation() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let one = app.open_session(&carol).await;
    let two = app.open_session(&carol).await;
    let (status, reply) = app
        .send_json(
            &carol,
            &one["conversation_id"],
            &json!({ "body": "re", "client_msg_id": Uuid::new_v4(), "reply_to": one["message"]["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["reply_to"], one["message"]["id"]);

    let before = app.counts().await;
    for target in [two["message"]["id"].clone(), json!(Uuid::new_v4())] {
        let response = app
            .send_json(
                &carol,
                &one["conversation_id"],
                &json!({ "body": "re", "client_msg_id": Uuid::new_v4(), "reply_to": target }),
            )
            .await;
        assert_error(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reply_to",
        );
    }
    assert_eq!(app.counts().await, before);
}

/// A session claimed by ann, with one internal note among public messages.
struct Noted {
    app: TestApp,
    carol: String,
    ann: String,
    session: Value,
    note: Value,
}

async fn noted() -> Noted {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let session = app.open_session(&carol).await;
    let (status, _) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, note) = app
        .send_json(
            &ann,
            &session["conversation_id"],
            &json!({ "body": "customer seems upset", "client_msg_id": Uuid::new_v4(), "internal": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["internal"], true);
    Noted {
        app,
        carol,
        ann,
        session,
        note,
    }
}

#[tokio::test]
async fn a_customer_never_sees_internal_notes() {
    let n = noted().await;
    let conversation = &n.session["conversation_id"];
    app_sees_note(&n, &n.ann, true).await;
    app_sees_note(&n, &n.carol, false).await;
    let admin = n.app.token("root", "admin");
    app_sees_note(&n, &admin, true).await;

    // Paging around it does not reveal it either.
    let seq = n.note["seq"].as_i64().expect("seq");
    let around = n
        .app
        .messages(&n.carol, conversation, &format!("?after={}", seq - 1))
        .await;
    assert!(!ids(&around["items"]).contains(&as_id(&n.note["id"]).to_owned()));
    // Nor does retrying the agent's client id as the customer.
    let response = n
        .app
        .send_json(
            &n.carol,
            conversation,
            &json!({ "body": "x", "client_msg_id": n.note["client_msg_id"] }),
        )
        .await;
    assert_eq!(response.0, StatusCode::CREATED, "{}", response.1);
    assert_ne!(response.1["id"], n.note["id"]);
    assert_eq!(response.1["body"], "x");
}

async fn app_sees_note(n: &Noted, token: &str, visible: bool) {
    let page = n
        .app
        .messages(token, &n.session["conversation_id"], "")
        .await;
    let listed = ids(&page["items"]).contains(&as_id(&n.note["id"]).to_owned());
    assert_eq!(listed, visible, "{page}");
    let internal = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|m| m["internal"] == true);
    assert_eq!(internal, visible);
}

#[tokio::test]
async fn a_customer_cannot_write_an_internal_note() {
    let n = noted().await;
    let before = n.app.counts().await;
    let response = n
        .app
        .send_json(
            &n.carol,
            &n.session["conversation_id"],
            &json!({ "body": "sneaky", "client_msg_id": Uuid::new_v4(), "internal": true }),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "staff_only");
    assert_eq!(n.app.counts().await, before);
}

#[tokio::test]
async fn internal_notes_are_not_unread_for_the_customer_and_do_not_answer() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let session = app.open_session(&carol).await;
    app.session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    for _ in 0..3 {
        let (status, _) = app
            .send_json(
                &ann,
                &session["conversation_id"],
                &json!({ "body": "note", "client_msg_id": Uuid::new_v4(), "internal": true }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let seen = app.session(&carol, &session["id"]).await;
    assert_eq!(seen["unread"], 0);
    assert_eq!(
        seen["first_response_at"],
        Value::Null,
        "a note is not an answer"
    );
    // A second agent's view (admin) counts them as unread notes from someone else.
    let admin = app.token("root", "admin");
    assert_eq!(app.session(&admin, &session["id"]).await["unread"], 4);

    app.send(&ann, &session["conversation_id"], "public answer")
        .await;
    let seen = app.session(&carol, &session["id"]).await;
    assert_eq!(seen["unread"], 1);
    assert!(seen["first_response_at"].is_string());
}

#[tokio::test]
async fn marking_read_again_changes_nothing_and_stops_at_the_newest_message() {
    let app = spawn_app().await;
    let customer = app.token("reader", "user");
    let session = app.open_session(&customer).await;
    let conversation = &session["conversation_id"];
    let newest = session["message"]["seq"].as_i64().unwrap();
    let path = format!("/v1/conversations/{}/read", as_id(conversation));
    let mut positions = Vec::new();
    for _ in 0..3 {
        let (status, body) = app
            .post(&customer, &path, &json!({ "seq": 1_000_000 }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        positions.push(body["last_read_seq"].as_i64().unwrap());
    }
    assert_eq!(positions, vec![newest; 3], "settles at the newest message");
}

#[tokio::test]
async fn a_token_in_the_query_string_is_accepted_where_queries_are_strict() {
    let app = spawn_app().await;
    let customer = app.token("q", "user");
    let session = app.open_session(&customer).await;
    let url = app.url(&format!(
        "/v1/conversations/{}/messages?limit=5&token={customer}",
        as_id(&session["conversation_id"])
    ));
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let url = app.url(&format!("/v1/support/sessions?bogus=1&token={customer}"));
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "other unknown fields are still refused"
    );
}

#[tokio::test]
async fn a_wrong_method_is_405_with_the_json_error() {
    let app = spawn_app().await;
    let token = app.token("m", "user");
    let response = app
        .call(
            app.http
                .delete(app.url("/v1/support/sessions"))
                .bearer_auth(&token),
        )
        .await;
    assert_error(
        &response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}
