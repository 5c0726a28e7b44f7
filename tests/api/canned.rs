//! Canned responses: CRUD, personal and shared, `/shortcut` lookup with placeholders.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{as_id, assert_error, spawn_app, TestApp};

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, created) = app.post(token, "/v1/support/canned", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

fn shortcuts(list: &Value) -> Vec<(String, bool)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["shortcut"].as_str().unwrap().to_owned(),
                c["shared"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn agents_keep_personal_responses_and_admins_share_them() {
    let app = spawn_app().await;
    let ann = app.token("ann", "agent");
    let bob = app.token("bob", "agent");
    let admin = app.token("boss", "admin");
    let customer = app.token("carol", "user");

    let mine = create(
        &app,
        &ann,
        json!({ "shortcut": "/thanks", "title": "Thanks", "body": "Thanks, {customer_name}!" }),
    )
    .await;
    assert_eq!(mine["shortcut"], "thanks");
    assert_eq!(mine["shared"], false);
    assert_eq!(mine["owner_id"], "ann");
    create(
        &app,
        &admin,
        json!({ "shortcut": "thanks", "body": "Thank you for contacting us.", "shared": true }),
    )
    .await;
    create(
        &app,
        &admin,
        json!({ "shortcut": "refund", "body": "Refunds take 5 days.", "shared": true }),
    )
    .await;
    create(&app, &bob, json!({ "shortcut": "bye", "body": "Bye!" })).await;

    let (status, list) = app.get(&ann, "/v1/support/canned").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        shortcuts(&list),
        [
            ("refund".to_owned(), true),
            ("thanks".to_owned(), false),
            ("thanks".to_owned(), true)
        ],
        "shared and mine, never Bob's"
    );
    let (_, found) = app.get(&ann, "/v1/support/canned?q=5%20days").await;
    assert_eq!(shortcuts(&found), [("refund".to_owned(), true)]);
    let (_, prefix) = app.get(&ann, "/v1/support/canned?prefix=/th").await;
    assert_eq!(prefix["items"].as_array().unwrap().len(), 2);

    // Only admins share; a shortcut is unique per owner and among shared ones.
    assert_error(
        &app.post(
            &ann,
            "/v1/support/canned",
            &json!({ "shortcut": "x", "body": "x", "shared": true }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &app.post(
            &ann,
            "/v1/support/canned",
            &json!({ "shortcut": "thanks", "body": "again" }),
        )
        .await,
        StatusCode::CONFLICT,
        "shortcut_taken",
    );
    assert_error(
        &app.get(&customer, "/v1/support/canned").await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    for bad in [
        json!({ "shortcut": "Has Space", "body": "x" }),
        json!({ "shortcut": "ok", "body": "   " }),
        json!({ "shortcut": "ok", "body": "x", "owner_id": "bob" }),
    ] {
        assert_error(
            &app.post(&ann, "/v1/support/canned", &bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        );
    }

    // Edit and delete: your own; shared ones are the admins'; Bob's are invisible to Ann.
    let path = format!("/v1/support/canned/{}", as_id(&mine["id"]));
    let (status, edited) = app
        .patch(
            &ann,
            &path,
            &json!({ "body": "Many thanks, {customer_name}." }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["body"], "Many thanks, {customer_name}.");
    assert_error(
        &app.patch(&bob, &path, &json!({ "body": "mine now" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let shared_id = list["items"][2]["id"].clone();
    let shared_path = format!("/v1/support/canned/{}", as_id(&shared_id));
    assert_error(
        &app.patch(&ann, &shared_path, &json!({ "body": "x" })).await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &app.delete(&ann, &shared_path).await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    // Ann's own "refund" may exist beside the shared one; a second of hers may not.
    let (status, renamed) = app
        .patch(&ann, &path, &json!({ "shortcut": "refund" }))
        .await;
    assert_eq!(
        (status, renamed["shortcut"].as_str()),
        (StatusCode::OK, Some("refund"))
    );
    let other = create(&app, &ann, json!({ "shortcut": "other", "body": "x" })).await;
    assert_error(
        &app.patch(
            &ann,
            &format!("/v1/support/canned/{}", as_id(&other["id"])),
            &json!({ "shortcut": "refund" }),
        )
        .await,
        StatusCode::CONFLICT,
        "shortcut_taken",
    );
    let (status, _) = app.delete(&bob, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&ann, &path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.delete(&ann, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn a_shortcut_lookup_fills_in_the_customer_and_the_agent() {
    let app = spawn_app().await;
    let ann = app.token_named("ann", "agent", "Ann");
    let admin = app.token("boss", "admin");
    let customer = app.token_named("carol", "user", "Carol");
    let session = app
        .open_session_with(&customer, "Lost parcel", "Where is my parcel?")
        .await;
    app.session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    create(
        &app,
        &admin,
        json!({ "shortcut": "hello", "shared": true,
                "body": "Hi {customer_name}, I am {agent_name}. About \"{subject}\" ({category}): {order_id}" }),
    )
    .await;

    let path = format!(
        "/v1/support/canned/lookup?shortcut=/hello&session_id={}",
        as_id(&session["id"])
    );
    let (status, found) = app.get(&ann, &path).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        found["body"],
        "Hi Carol, I am Ann. About \"Lost parcel\" (other): {order_id}"
    );
    assert!(found["template"]
        .as_str()
        .unwrap()
        .starts_with("Hi {customer_name}"));

    // A personal response shadows the shared one of the same shortcut.
    create(
        &app,
        &ann,
        json!({ "shortcut": "hello", "body": "Hey {customer_name}" }),
    )
    .await;
    assert_eq!(app.get(&ann, &path).await.1["body"], "Hey Carol");
    // Without a session, the customer's placeholders stay as written.
    assert_eq!(
        app.get(&ann, "/v1/support/canned/lookup?shortcut=hello")
            .await
            .1["body"],
        "Hey {customer_name}"
    );
    assert_error(
        &app.get(&ann, "/v1/support/canned/lookup?shortcut=nope")
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // A session Bob cannot see is not found for him.
    let bob = app.token("bob", "agent");
    assert_error(
        &app.get(&bob, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
