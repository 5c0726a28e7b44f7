//! Row-level security, proven twice: through the API (foreign rows are 404,
//! never "forbidden", so their existence is not revealed) and directly in SQL
//! as the request role with another user's claims.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::helpers::{as_id, assert_error, assert_sql_refused, spawn_app, TestApp};

/// carol's session (with an internal note) is claimed by ann; dave is another
/// customer, bob another agent.
struct World {
    app: TestApp,
    carol: String,
    dave: String,
    ann: String,
    bob: String,
    session: Value,
    conversation: Value,
    daves: Value,
}

async fn world() -> World {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");
    let ann = app.token("ann", "agent");
    let bob = app.token("bob", "agent");
    let session = app.open_session(&carol).await;
    let conversation = session["conversation_id"].clone();
    let (status, _) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.send(&ann, &conversation, "hello carol").await;
    let (status, _) = app
        .send_json(
            &ann,
            &conversation,
            &json!({ "body": "internal note", "client_msg_id": Uuid::new_v4(), "internal": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let daves = app.open_session(&dave).await;
    // Provision bob.
    app.get(&bob, "/v1/support/sessions").await;
    World {
        app,
        carol,
        dave,
        ann,
        bob,
        session,
        conversation,
        daves,
    }
}

#[tokio::test]
async fn a_customer_gets_404_for_another_customers_session_and_messages() {
    let w = world().await;
    let session_path = format!("/v1/support/sessions/{}", as_id(&w.session["id"]));
    let messages_path = format!("/v1/conversations/{}/messages", as_id(&w.conversation));
    assert_eq!(w.app.get(&w.carol, &session_path).await.0, StatusCode::OK);
    assert_eq!(w.app.get(&w.carol, &messages_path).await.0, StatusCode::OK);
    assert_error(
        &w.app.get(&w.dave, &session_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &w.app.get(&w.dave, &messages_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &w.app
            .get(&w.dave, &format!("{messages_path}?after=0"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // The same answer as for an id that does not exist at all.
    let unknown = w
        .app
        .get(&w.dave, &format!("/v1/support/sessions/{}", Uuid::new_v4()))
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
    let (_, mine) = w.app.get(&w.dave, "/v1/support/sessions").await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(mine["items"][0]["id"], w.daves["id"]);
}

#[tokio::test]
async fn a_customer_cannot_post_read_end_or_rate_in_another_customers_session() {
    let w = world().await;
    let before = w.app.counts().await;
    let response = w
        .app
        .send_json(
            &w.dave,
            &w.conversation,
            &json!({ "body": "let me in", "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let read = format!("/v1/conversations/{}/read", as_id(&w.conversation));
    assert_error(
        &w.app.post(&w.dave, &read, &json!({ "seq": 1 })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &w.app
            .session_action(&w.dave, &w.session["id"], "end", &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &w.app
            .session_action(&w.dave, &w.session["id"], "rating", &json!({ "rating": 1 }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(w.app.counts().await, before);
    let admin = w.app.token("root", "admin");
    assert_eq!(
        w.app.session(&admin, &w.session["id"]).await["status"],
        "active"
    );
}

#[tokio::test]
async fn an_agent_cannot_see_or_touch_a_session_assigned_to_another_agent() {
    let w = world().await;
    let session_path = format!("/v1/support/sessions/{}", as_id(&w.session["id"]));
    let messages_path = format!("/v1/conversations/{}/messages", as_id(&w.conversation));
    assert_error(
        &w.app.get(&w.bob, &session_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &w.app.get(&w.bob, &messages_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let before = w.app.counts().await;
    let response = w
        .app
        .send_json(
            &w.bob,
            &w.conversation,
            &json!({ "body": "mine now", "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    assert_error(
        &w.app
            .session_action(&w.bob, &w.session["id"], "end", &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(w.app.counts().await, before);
    let (_, listed) = w.app.get(&w.bob, "/v1/support/sessions").await;
    let ids: Vec<&Value> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, [&w.daves["id"]], "only the waiting queue");
    // ann, the assigned agent, sees all of it.
    assert_eq!(
        w.app.session(&w.ann, &w.session["id"]).await["agent_id"],
        "ann"
    );
    let page = w.app.messages(&w.ann, &w.conversation, "").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(4));
}

async fn count_as(app: &TestApp, sub: &str, role: &str, sql: &str, id: &Value) -> i64 {
    let rows = app
        .sql_as(sub, role, sql, &[&as_id(id)])
        .await
        .unwrap_or_else(|e| panic!("{sql} as {sub}: {e}"));
    rows[0].get(0)
}

const MESSAGES_OF: &str =
    "SELECT count(*) FROM chat_messages WHERE conversation_id = $1::text::uuid";
const NOTES_OF: &str =
    "SELECT count(*) FROM chat_messages WHERE conversation_id = $1::text::uuid AND internal";
const SESSION: &str = "SELECT count(*) FROM live_chat_sessions WHERE id = $1::text::uuid";
const CONVERSATION: &str = "SELECT count(*) FROM conversations WHERE id = $1::text::uuid";
const MEMBERS_OF: &str =
    "SELECT count(*) FROM conversation_members WHERE conversation_id = $1::text::uuid";

#[tokio::test]
async fn in_sql_a_user_reads_no_rows_of_a_foreign_conversation() {
    let w = world().await;
    let app = &w.app;
    let (c, s) = (&w.conversation, &w.session["id"]);
    // Sanity: the rows are there (server role, RLS bypassed) ...
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = '{}'",
            as_id(c)
        ))
        .await,
        4
    );
    // ... and visible to their owners (the customer minus the internal note).
    assert_eq!(count_as(app, "carol", "user", MESSAGES_OF, c).await, 3);
    assert_eq!(count_as(app, "ann", "agent", MESSAGES_OF, c).await, 4);
    assert_eq!(count_as(app, "carol", "user", SESSION, s).await, 1);

    for (sub, role) in [("dave", "user"), ("bob", "agent"), ("nobody", "user")] {
        for sql in [MESSAGES_OF, MEMBERS_OF, CONVERSATION] {
            assert_eq!(count_as(app, sub, role, sql, c).await, 0, "{sql} as {sub}");
        }
        assert_eq!(
            count_as(app, sub, role, SESSION, s).await,
            0,
            "session as {sub}"
        );
    }
    // A whole-table read shows only one's own.
    let rows = app
        .sql_as(
            "dave",
            "user",
            "SELECT id::text FROM live_chat_sessions",
            &[],
        )
        .await
        .expect("select");
    let seen: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(seen, [as_id(&w.daves["id"]).to_owned()]);
    // Without claims the request role sees nothing at all.
    for table in [
        "chat_messages",
        "live_chat_sessions",
        "conversations",
        "conversation_members",
    ] {
        let rows = app
            .sql_with_claims("", &format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("select");
        assert_eq!(rows[0].get::<_, i64>(0), 0, "{table} without claims");
    }
}

#[tokio::test]
async fn in_sql_a_customer_reads_no_internal_notes() {
    let w = world().await;
    let c = &w.conversation;
    assert_eq!(count_as(&w.app, "carol", "user", NOTES_OF, c).await, 0);
    assert_eq!(count_as(&w.app, "ann", "agent", NOTES_OF, c).await, 1);
    assert_eq!(count_as(&w.app, "root", "admin", NOTES_OF, c).await, 1);
    // Not in a whole-table read either.
    let rows = w
        .app
        .sql_as(
            "carol",
            "user",
            "SELECT count(*) FROM chat_messages WHERE internal",
            &[],
        )
        .await
        .expect("select");
    assert_eq!(rows[0].get::<_, i64>(0), 0);
}

fn assert_rls_denied(result: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>) {
    let error = result.expect_err("the write should be refused");
    let db = error.as_db_error().unwrap_or_else(|| panic!("{error}"));
    assert_eq!(db.code(), &SqlState::INSUFFICIENT_PRIVILEGE, "{db}");
}

const INSERT_MESSAGE: &str =
    "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body, internal)
     VALUES ($1::text::uuid, $2, $3, 'hi', $4)";

#[tokio::test]
async fn in_sql_inserting_a_message_into_a_foreign_conversation_fails() {
    let w = world().await;
    let app = &w.app;
    let c = as_id(&w.conversation);
    let before = app.counts().await;
    // a stranger and an agent not on the session: not there for them
    for (sub, role) in [("dave", "user"), ("bob", "agent")] {
        assert_sql_refused(
            app.sql_as(sub, role, INSERT_MESSAGE, &[&c, &sub, &role, &false])
                .await,
            "not_found",
        );
    }
    // Nor in someone else's name, nor as a customer writing a note, nor a forged system notice.
    assert_rls_denied(
        app.sql_as(
            "dave",
            "user",
            INSERT_MESSAGE,
            &[&c, &"carol", &"user", &false],
        )
        .await,
    );
    assert_sql_refused(
        app.sql_as(
            "carol",
            "user",
            INSERT_MESSAGE,
            &[&c, &"carol", &"user", &true],
        )
        .await,
        "staff_only",
    );
    assert_rls_denied(
        app.sql_as(
            "carol",
            "user",
            INSERT_MESSAGE,
            &[&c, &"carol", &"agent", &false],
        )
        .await,
    );
    assert_rls_denied(
        app.sql_as(
            "dave",
            "user",
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body)
             VALUES ($1::text::uuid, 'dave', 'system', 'system', 'dave joined')",
            &[&c],
        )
        .await,
    );
    assert_eq!(app.counts().await, before);
    // The owner may (the policy is not simply closed).
    app.sql_as(
        "carol",
        "user",
        INSERT_MESSAGE,
        &[&c, &"carol", &"user", &false],
    )
    .await
    .expect("the customer writes in her own session");
    assert_eq!(app.counts().await.messages, before.messages + 1);
}

#[tokio::test]
async fn in_sql_a_customer_cannot_take_over_or_reassign_a_session() {
    let w = world().await;
    let app = &w.app;
    let s = as_id(&w.session["id"]);
    // Another customer's UPDATE matches no row.
    let rows = app
        .sql_as(
            "dave",
            "user",
            "UPDATE live_chat_sessions SET status = 'ended', ended_at = now() WHERE id = $1::text::uuid RETURNING id",
            &[&s],
        )
        .await
        .expect("update");
    assert!(rows.is_empty());
    // The customer may not assign an agent of their choosing, and hears why.
    let denied = app
        .sql_as(
            "carol",
            "user",
            "UPDATE live_chat_sessions SET agent_id = 'bob' WHERE id = $1::text::uuid",
            &[&s],
        )
        .await;
    assert_sql_refused(denied, "staff_only");
    // Another agent's UPDATE matches no row.
    let rows = app
        .sql_as(
            "bob",
            "agent",
            "UPDATE live_chat_sessions SET agent_id = 'bob' WHERE id = $1::text::uuid RETURNING id",
            &[&s],
        )
        .await
        .expect("update");
    assert!(rows.is_empty());
    let admin = app.token("root", "admin");
    let session = app.session(&admin, &w.session["id"]).await;
    assert_eq!(session["agent_id"], "ann");
    assert_eq!(session["status"], "active");
}
