//! A support session as a ticket: pending (waiting on the customer), snoozed,
//! resolved (reopened when the customer writes within the window, or by an
//! agent), closed for good — each move checked by the database, which says
//! why it refuses, with a notice in the chat; lists filter by status and by
//! the four states other systems use; staff label sessions and filter and
//! report by label.

use chrono::{Duration as Span, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    as_id, assert_error, assert_sql_refused, spawn_app, spawn_app_with, wait_for, TestApp,
};

/// Opens carol's session and lets ann claim it; returns the session.
async fn claimed(app: &TestApp, carol: &str, ann: &str) -> Value {
    let session = app.open_session(carol).await;
    let (status, body) = app
        .session_action(ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    session
}

async fn patch(app: &TestApp, token: &str, session: &Value, body: Value) -> (StatusCode, Value) {
    app.patch(
        token,
        &format!("/v1/support/sessions/{}", as_id(&session["id"])),
        &body,
    )
    .await
}

async fn status_of(app: &TestApp, token: &str, session: &Value) -> String {
    app.session(token, &session["id"]).await["status"]
        .as_str()
        .expect("a status")
        .to_owned()
}

/// The bodies of the chat's system notices, oldest first.
async fn notices(app: &TestApp, token: &str, session: &Value) -> Vec<String> {
    let page = app
        .messages(token, &session["conversation_id"], "?limit=100")
        .await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|m| m["kind"] == "system")
        .map(|m| m["body"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn a_ticket_goes_pending_snoozed_resolved_reopened_and_closed_as_the_rules_allow() {
    let app = spawn_app().await;
    let carol = app.token_named("carol", "user", "Carol");
    let ann = app.token_named("ann", "agent", "Ann");
    let session = claimed(&app, &carol, &ann).await;
    let id = &session["id"];

    // pending: waiting on the customer; her answer makes it active again
    let (status, body) = patch(
        &app,
        &ann,
        &session,
        json!({ "status": "pending", "description": "Order 1234 lost" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["status"], &body["description"]),
        (&json!("pending"), &json!("Order 1234 lost"))
    );
    app.send(
        &carol,
        &session["conversation_id"],
        "Here is the tracking number",
    )
    .await;
    assert_eq!(status_of(&app, &ann, &session).await, "active");

    // snoozed until a time in the future, not the past
    let later = Utc::now() + Span::hours(1);
    let (status, body) = app
        .session_action(&ann, id, "snooze", &json!({ "until": later }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "snoozed");
    assert!(body["snoozed_until"].is_string(), "{body}");
    let response = app
        .session_action(
            &ann,
            id,
            "snooze",
            &json!({ "until": Utc::now() - Span::hours(1) }),
        )
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_snooze",
    );
    assert_error(
        &patch(&app, &ann, &session, json!({ "status": "snoozed" })).await,
        StatusCode::BAD_REQUEST,
        "snoozed_until_required",
    );

    // only staff resolve; then the customer may rate, and her message reopens it
    assert_error(
        &app.session_action(&carol, id, "resolve", &json!({})).await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    let (status, body) = app.session_action(&ann, id, "resolve", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    assert!(
        body["resolved_at"].is_string() && body["snoozed_until"].is_null(),
        "{body}"
    );
    let (status, body) = app
        .session_action(&carol, id, "rating", &json!({ "rating": 5 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // a resolved session is nobody's to transfer
    let admin = app.token("root", "admin");
    assert_error(
        &app.session_action(&admin, id, "assign", &json!({ "agent_id": "ann" }))
            .await,
        StatusCode::CONFLICT,
        "session_ended",
    );
    let sent = app
        .send(&carol, &session["conversation_id"], "It came back broken")
        .await;
    assert_eq!(sent["body"], "It came back broken");
    assert_eq!(
        status_of(&app, &ann, &session).await,
        "active",
        "reopened, with ann"
    );

    // closed is final: the customer cannot write, nobody reopens
    let (status, body) = app.session_action(&ann, id, "close", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "closed");
    let (status, body) = app
        .send_json(
            &carol,
            &session["conversation_id"],
            &json!({ "body": "hello?", "client_msg_id": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_error(&(status, body), StatusCode::CONFLICT, "session_ended");
    assert_error(
        &app.session_action(&ann, id, "reopen", &json!({})).await,
        StatusCode::CONFLICT,
        "session_ended",
    );

    assert_eq!(
        notices(&app, &ann, &session).await,
        [
            "Ann joined the chat",
            "Ann is waiting for the customer's answer",
            &format!(
                "Ann snoozed the conversation until {}",
                later.format("%Y-%m-%d %H:%M UTC")
            ),
            "Ann resolved the conversation",
            "Carol reopened the conversation",
            "Ann closed the conversation",
        ]
    );

    // the move a waiting session cannot make, said by the database
    let waiting = app.open_session(&app.token("dave", "user")).await;
    assert_error(
        &patch(&app, &admin, &waiting, json!({ "status": "pending" })).await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    assert_error(
        &patch(&app, &admin, &waiting, json!({ "status": "ended" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_status",
    );

    // lists filter by status and by the four ticket states
    for (filter, has_closed, has_waiting) in [
        ("CLOSED", true, false),
        ("OPEN", false, true),
        ("IN_PROGRESS", false, false),
        ("closed", true, false),
    ] {
        let ids = app.session_ids(&admin, &format!("?status={filter}")).await;
        assert_eq!(
            (
                ids.contains(&as_id(id).to_owned()),
                ids.contains(&as_id(&waiting["id"]).to_owned())
            ),
            (has_closed, has_waiting),
            "{filter}: {ids:?}"
        );
    }
    assert_error(
        &app.get(&admin, "/v1/support/sessions?status=DONE").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
}

#[tokio::test]
async fn an_agent_reopens_a_resolved_session_and_a_snooze_ends_by_itself() {
    let app = spawn_app().await;
    let carol = app.token_named("carol", "user", "Carol");
    let ann = app.token_named("ann", "agent", "Ann");
    let session = claimed(&app, &carol, &ann).await;
    let id = &session["id"];
    let (status, body) = app.session_action(&ann, id, "resolve", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.session_action(&ann, id, "reopen", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["status"], &body["agent_id"]),
        (&json!("active"), &json!("ann"))
    );

    let soon = Utc::now() + Span::seconds(1);
    let (status, body) = app
        .session_action(&ann, id, "snooze", &json!({ "until": soon }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for("the snooze to end by itself", || async {
        status_of(&app, &ann, &session).await == "active"
    })
    .await;
    assert_eq!(
        notices(&app, &ann, &session)
            .await
            .last()
            .map(String::as_str),
        Some("The snooze is over")
    );
}

#[tokio::test]
async fn after_the_reopen_window_a_customers_message_is_refused_and_she_opens_a_new_session() {
    let app = spawn_app_with(|config| config.desk.reopen_window_secs = 0).await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let session = claimed(&app, &carol, &ann).await;
    let (status, body) = app
        .session_action(&ann, &session["id"], "resolve", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .send_json(
            &carol,
            &session["conversation_id"],
            &json!({ "body": "one more thing", "client_msg_id": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_error(&(status, body), StatusCode::CONFLICT, "session_ended");
    assert_eq!(status_of(&app, &ann, &session).await, "resolved");
    let fresh = app.open_session(&carol).await;
    assert_ne!(
        fresh["id"], session["id"],
        "a resolved session does not count as open"
    );
}

#[tokio::test]
async fn staff_label_sessions_and_filter_and_report_by_label() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let admin = app.token("root", "admin");
    let session = claimed(&app, &carol, &ann).await;
    let other = app.open_session(&app.token("dave", "user")).await;
    let label = |session: &Value, name: &str| {
        format!(
            "/v1/support/sessions/{}/labels/{name}",
            as_id(&session["id"])
        )
    };
    for name in ["vip", "billing", "vip"] {
        let (status, body) = app
            .call(
                app.http
                    .put(app.url(&label(&session, name)))
                    .bearer_auth(&ann),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        app.session(&ann, &session["id"]).await["labels"],
        json!(["vip", "billing"])
    );
    let (status, _) = app
        .call(
            app.http
                .put(app.url(&label(&other, "billing")))
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // the customer may not; a label is a word
    let response = app
        .call(
            app.http
                .put(app.url(&label(&session, "mine")))
                .bearer_auth(&carol),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "staff_only");
    let response = app
        .call(
            app.http
                .put(app.url(&label(&session, "Not%20a%20word")))
                .bearer_auth(&ann),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_path");
    // in SQL, a customer cannot label her own session either
    let denied = app
        .sql_as(
            "carol",
            "user",
            "UPDATE live_chat_sessions SET labels = '{sneaky}' WHERE id = $1::text::uuid",
            &[&as_id(&session["id"]).to_owned()],
        )
        .await;
    assert!(denied.is_err(), "a customer labelled her session in SQL");

    let ids = app.session_ids(&admin, "?label=vip").await;
    assert_eq!(ids, [as_id(&session["id"]).to_owned()]);
    let ids = app.session_ids(&admin, "?label=billing").await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    let (status, stats) = app.get(&admin, "/v1/admin/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["by_label"], json!({ "vip": 1, "billing": 2 }));

    let (status, body) = app.delete(&ann, &label(&session, "vip")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["labels"], json!(["billing"]));
    assert!(app.session_ids(&admin, "?label=vip").await.is_empty());
}

#[tokio::test]
async fn a_bulk_action_authorizes_each_session_and_an_atomic_one_is_all_or_nothing() {
    let app = spawn_app().await;
    let ann = app.token("ann", "agent");
    let bob = app.token("bob", "agent");
    let admin = app.token("root", "admin");
    let one = claimed(&app, &app.token("carol", "user"), &ann).await;
    let two = claimed(&app, &app.token("dave", "user"), &ann).await;
    let bobs = claimed(&app, &app.token("erin", "user"), &bob).await;
    let ids = |sessions: &[&Value]| sessions.iter().map(|s| s["id"].clone()).collect::<Vec<_>>();
    let bulk = |token: &str, body: Value| {
        let (app, token) = (&app, token.to_owned());
        async move { app.post(&token, "/v1/support/sessions/bulk", &body).await }
    };
    let outcome = |results: &Value| -> Vec<(bool, Option<String>)> {
        results["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                (
                    r["ok"] == true,
                    r["error"]["code"].as_str().map(str::to_owned),
                )
            })
            .collect()
    };

    // each item on its own: ann resolves hers; bob's is not hers to see
    let (status, body) = bulk(
        &ann,
        json!({ "ids": ids(&[&one, &two, &bobs]), "action": "resolve" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        outcome(&body),
        [
            (true, None),
            (true, None),
            (false, Some("not_found".to_owned()))
        ]
    );
    assert_eq!(body["results"][2]["id"], bobs["id"]);
    assert_eq!(status_of(&app, &ann, &one).await, "resolved");
    assert_eq!(status_of(&app, &bob, &bobs).await, "active");

    // atomic: one refusal and nothing is applied
    let (status, body) = bulk(
        &ann,
        json!({ "ids": ids(&[&one, &bobs]), "action": "label", "params": { "label": "vip" }, "atomic": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        outcome(&body),
        [
            (false, Some("rolled_back".to_owned())),
            (false, Some("not_found".to_owned()))
        ]
    );
    assert_eq!(app.session(&ann, &one["id"]).await["labels"], json!([]));

    // an admin, atomically, on all three
    let (status, body) = bulk(
        &admin,
        json!({ "ids": ids(&[&one, &two, &bobs]), "action": "priority", "params": { "priority": "urgent" }, "atomic": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(outcome(&body).iter().all(|(ok, _)| *ok), "{body}");
    for session in [&one, &two, &bobs] {
        assert_eq!(
            app.session(&admin, &session["id"]).await["priority"],
            "urgent"
        );
    }
    let (status, body) = bulk(
        &admin,
        json!({ "ids": ids(&[&one, &two]), "action": "reopen" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(status_of(&app, &ann, &two).await, "active");

    // a customer is refused item by item; bad requests are refused whole
    let (status, body) = bulk(
        &app.token("carol", "user"),
        json!({ "ids": ids(&[&one]), "action": "close" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(outcome(&body), [(false, Some("staff_only".to_owned()))]);
    for (body, code) in [
        (json!({ "ids": [], "action": "close" }), "invalid_ids"),
        (
            json!({ "ids": ids(&[&one, &one]), "action": "close" }),
            "invalid_ids",
        ),
        (
            json!({ "ids": ids(&[&one]), "action": "archive" }),
            "invalid_action",
        ),
        (
            json!({ "ids": ids(&[&one]), "action": "label" }),
            "missing_param",
        ),
    ] {
        assert_error(&bulk(&admin, body).await, StatusCode::BAD_REQUEST, code);
    }
}

/// Who may change a session is the database's rule (`pgchat.may_change_session`,
/// the `live_chat_sessions_changer` trigger): an agent who can read a session
/// that is another agent's hears `not_assigned` — from the API and from psql,
/// for its details, labels, status and agent alike —, a customer `staff_only`
/// for its details, and an agent who cannot see it `404`.
#[tokio::test]
async fn in_sql_who_may_change_a_session_says_why() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let bob = app.token("bob", "agent");
    let dave = app.token("dave", "agent");
    let session = claimed(&app, &carol, &ann).await;
    let id = uuid::Uuid::parse_str(as_id(&session["id"])).unwrap();
    // bob reads the chat (a member, as after a hand-over), but it is ann's
    assert!(
        app.session_ids(&bob, "").await.is_empty(),
        "bob's first request"
    );
    app.db
        .execute(
            "INSERT INTO conversation_members (conversation_id, user_id, role)
             SELECT conversation_id, 'bob', 'agent' FROM live_chat_sessions WHERE id = $1",
            &[&id],
        )
        .await
        .expect("bob joins the chat");
    assert_eq!(app.session(&bob, &session["id"]).await["agent_id"], "ann");

    let label = format!("/v1/support/sessions/{id}/labels/vip");
    assert_error(
        &patch(&app, &bob, &session, json!({ "priority": "high" })).await,
        StatusCode::FORBIDDEN,
        "not_assigned",
    );
    assert_error(
        &app.call(app.http.put(app.url(&label)).bearer_auth(&bob))
            .await,
        StatusCode::FORBIDDEN,
        "not_assigned",
    );
    assert_error(
        &app.session_action(
            &bob,
            &session["id"],
            "assign",
            &json!({ "agent_id": "bob" }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_assigned",
    );
    assert_error(
        &app.session_action(&bob, &session["id"], "resolve", &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "not_assigned",
    );
    assert_error(
        &patch(&app, &carol, &session, json!({ "priority": "high" })).await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    assert_error(
        &patch(&app, &dave, &session, json!({ "priority": "high" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    for sql in [
        "UPDATE live_chat_sessions SET priority = 'high' WHERE id = $1",
        "UPDATE live_chat_sessions SET labels = '{vip}' WHERE id = $1",
        "UPDATE live_chat_sessions SET status = 'resolved' WHERE id = $1",
        "SELECT pgchat.may_change_session($1)",
        "SELECT pgchat.desk_assign($1, 'bob')",
        "SELECT pgchat.desk_reassign($1, 'bob', true)",
    ] {
        assert_sql_refused(
            app.sql_as("bob", "agent", sql, &[&id]).await,
            "not_assigned",
        );
    }
    for sql in [
        "UPDATE live_chat_sessions SET labels = '{sneaky}' WHERE id = $1",
        "SELECT pgchat.may_change_session($1)",
        "SELECT pgchat.desk_assign($1, 'carol')",
    ] {
        assert_sql_refused(app.sql_as("carol", "user", sql, &[&id]).await, "staff_only");
    }
    // an agent who cannot see it changes nothing, and hears nothing of it
    let rows = app
        .sql_as(
            "dave",
            "agent",
            "UPDATE live_chat_sessions SET priority = 'high' WHERE id = $1 RETURNING id",
            &[&id],
        )
        .await
        .expect("an update that matches nothing");
    assert!(rows.is_empty());
    let unchanged = app.session(&ann, &session["id"]).await;
    assert_eq!(
        (
            &unchanged["priority"],
            &unchanged["labels"],
            &unchanged["status"]
        ),
        (&session["priority"], &json!([]), &json!("active"))
    );

    // the session's agent may, in SQL as through the API
    app.sql_as(
        "ann",
        "agent",
        "UPDATE live_chat_sessions SET priority = 'high' WHERE id = $1",
        &[&id],
    )
    .await
    .expect("ann changes her session");
    let (status, body) = patch(&app, &ann, &session, json!({ "category": "payment" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["priority"], &body["category"]),
        (&json!("high"), &json!("payment"))
    );
}
