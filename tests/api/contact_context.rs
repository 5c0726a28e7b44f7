//! Contact context: a customer (their widget) sets their name and custom
//! attributes — merged, bounded, a null removes a key —; a session keeps
//! where it was opened from (page, referrer, locale, browser); staff read a
//! contact with that context and the previous sessions RLS shows them.

use pgchat::config::AssignmentMode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{as_id, assert_error, ids, spawn_app_with, TestApp};

async fn patch_me(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.patch(token, "/v1/contacts/me", &body).await
}

/// Opens a session from a page, with the browser's User-Agent header.
async fn open_from(app: &TestApp, token: &str, context: Value) -> (StatusCode, Value) {
    let body = json!({
        "subject": "Help",
        "message": { "body": "hello", "client_msg_id": Uuid::new_v4() },
        "context": context,
    });
    app.call(
        app.http
            .post(app.url("/v1/support/sessions"))
            .bearer_auth(token)
            .header("user-agent", "TestBrowser/1.0 (X11; Linux)")
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn a_customer_sets_name_and_attributes_and_staff_see_them_with_context_and_past_sessions() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");
    let ann = app.token("ann", "agent");
    let bob = app.token("bob", "agent");
    let admin = app.token("boss", "admin");

    let (status, me) = patch_me(
        &app,
        &carol,
        json!({ "name": " Carol B ", "attributes": { "plan": "pro", "orders": 3 } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (&me["name"], &me["attributes"]),
        (&json!("Carol B"), &json!({ "plan": "pro", "orders": 3 }))
    );
    // merged: a key changes, a null removes one, a new one comes
    let (status, me) = patch_me(
        &app,
        &carol,
        json!({ "attributes": { "orders": 4, "plan": null, "vip": true } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["attributes"], json!({ "orders": 4, "vip": true }));
    for bad in [
        json!({ "attributes": { "address": { "city": "Lyon" } } }),
        json!({ "attributes": { "bad key": 1 } }),
        json!({ "attributes": [1, 2] }),
        json!({ "name": "" }),
    ] {
        assert_error(
            &patch_me(&app, &carol, bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        );
    }
    // at most 50 once merged, said by the database
    let many: serde_json::Map<String, Value> =
        (0..48).map(|i| (format!("k{i}"), json!(i))).collect();
    let (status, body) = patch_me(&app, &carol, json!({ "attributes": many })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_error(
        &patch_me(&app, &carol, json!({ "attributes": { "one_more": 1 } })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_attributes",
    );

    // where each session was opened from; the browser's header when not given
    let (status, first) = open_from(
        &app,
        &carol,
        json!({ "page_url": "https://shop.example/cart", "page_title": "Cart", "locale": "fr-FR" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        first["context"],
        json!({ "page_url": "https://shop.example/cart", "page_title": "Cart", "locale": "fr-FR",
                "user_agent": "TestBrowser/1.0 (X11; Linux)" })
    );
    let (status, second) = open_from(
        &app,
        &carol,
        json!({ "page_url": "https://shop.example/orders/7", "referrer": "https://mail.example/" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_error(
        &open_from(&app, &carol, json!({ "page_url": "javascript:alert(1)" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );

    // staff see the contact: the latest context and the sessions, newest first
    let (status, contact) = app.get(&admin, "/v1/contacts/carol").await;
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert_eq!(
        (
            &contact["name"],
            &contact["attributes"]["vip"],
            &contact["session_count"]
        ),
        (&json!("Carol B"), &json!(true), &json!(2))
    );
    assert_eq!(contact["context"], second["context"]);
    assert_eq!(
        ids(&contact["sessions"]),
        vec![
            as_id(&second["id"]).to_owned(),
            as_id(&first["id"]).to_owned()
        ]
    );
    assert_eq!(contact["sessions"][1]["context"]["page_title"], "Cart");

    // an agent sees the sessions RLS shows them: once ann has one, bob sees
    // only the other (waiting) one
    let (status, _) = app
        .session_action(&ann, &first["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, for_ann) = app.get(&ann, "/v1/contacts/carol").await;
    assert_eq!(for_ann["session_count"], 2, "{for_ann}");
    let (_, for_bob) = app.get(&bob, "/v1/contacts/carol").await;
    assert_eq!(
        ids(&for_bob["sessions"]),
        vec![as_id(&second["id"]).to_owned()]
    );

    // customers read only themselves; an unknown user is 404
    assert_error(
        &app.get(&dave, "/v1/contacts/carol").await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    assert_error(
        &app.get(&admin, "/v1/contacts/nobody").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, mine) = app.get(&carol, "/v1/contacts/me").await;
    assert_eq!(mine["attributes"]["orders"], 4);
}
