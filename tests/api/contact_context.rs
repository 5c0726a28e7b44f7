//! Contact context: a customer (their widget) sets their name and custom
//! attributes — merged, bounded, a null removes a key —; a session keeps
//! where it was opened from (page, referrer, locale, browser); staff read a
//! contact with that context and the previous sessions RLS shows them.
//! Verified identity: the widget's sign-in with a host user id and its
//! HMAC-SHA256 under `PGCHAT_IDENTITY_SECRET` (good, bad, no secret).

use hmac::{Hmac, Mac};
use pgchat::config::AssignmentMode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
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
        contact["device"],
        json!({ "browser": null, "os": "Linux" }),
        "read from the User-Agent"
    );
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

const SITE_SECRET: &str = "host-site-identity-secret";

/// What the host site's server computes: hex HMAC-SHA256 of the user id.
fn user_hash(secret: &str, user_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(user_id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `POST /v1/widget/token`, without a bearer token.
async fn widget_token(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(app.http.post(app.url("/v1/widget/token")).json(&body))
        .await
}

#[tokio::test]
async fn a_host_customer_with_a_correct_user_hash_signs_in_verified_and_staff_see_it() {
    let app = spawn_app_with(|c| {
        c.desk.assignment_mode = AssignmentMode::Manual;
        c.auth.identity_secret = Some(SITE_SECRET.into());
    })
    .await;
    let ann = app.token("ann", "agent");
    // A visitor known before (say, from an earlier token) is verified too.
    let before = app.token("shop-user-7", "user");
    let (_, me) = app.get(&before, "/v1/contacts/me").await;
    assert_eq!(me["verified"], false, "{me}");

    // Upper-case hex is the same hash.
    let hash = user_hash(SITE_SECRET, "shop-user-7").to_uppercase();
    let (status, signed) =
        widget_token(&app, json!({ "user_id": "shop-user-7", "user_hash": hash })).await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(
        (&signed["sub"], &signed["role"], &signed["verified"]),
        (&json!("shop-user-7"), &json!("user"), &json!(true))
    );
    let token = signed["token"].as_str().unwrap().to_owned();

    // The token is that host user's: they set details and open a session.
    let (status, me) = patch_me(&app, &token, json!({ "email": "seven@shop.example" })).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (&me["id"], &me["verified"]),
        (&json!("shop-user-7"), &json!(true))
    );
    let (status, _) = open_from(&app, &token, json!({ "page_url": "https://shop.example/" })).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, contact) = app.get(&ann, "/v1/contacts/shop-user-7").await;
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert_eq!(
        (
            &contact["verified"],
            &contact["email"],
            &contact["session_count"]
        ),
        (&json!(true), &json!("seven@shop.example"), &json!(1))
    );
    assert!(contact["verified_at"].is_string(), "{contact}");

    // A new host user is created by the sign-in, verified.
    let (status, _) = widget_token(
        &app,
        json!({ "user_id": "shop-user-8", "user_hash": user_hash(SITE_SECRET, "shop-user-8") }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, contact) = app.get(&ann, "/v1/contacts/shop-user-8").await;
    assert_eq!(
        (&contact["role"], &contact["verified"]),
        (&json!("user"), &json!(true))
    );
}

#[tokio::test]
async fn a_wrong_user_hash_is_refused_and_verifies_nobody() {
    let app = spawn_app_with(|c| c.auth.identity_secret = Some(SITE_SECRET.into())).await;
    let ann = app.token("ann", "agent");
    let boss = app.token("boss", "admin");
    let carol = app.token("carol", "user");
    app.get(&carol, "/v1/contacts/me").await;

    for (user_id, hash) in [
        // another id's hash, the right id under another secret
        ("carol", user_hash(SITE_SECRET, "dave")),
        ("carol", user_hash("another-secret", "carol")),
        ("carol", "0".repeat(64)),
    ] {
        let response = widget_token(&app, json!({ "user_id": user_id, "user_hash": hash })).await;
        assert_error(&response, StatusCode::FORBIDDEN, "invalid_user_hash");
        assert!(response.1.get("token").is_none());
    }
    let (_, contact) = app.get(&ann, "/v1/contacts/carol").await;
    assert_eq!(contact["verified"], false, "{contact}");

    // Not a hash at all, a missing field, an unknown one: 400.
    for body in [
        json!({ "user_id": "carol", "user_hash": "not-hex" }),
        json!({ "user_id": "carol" }),
        json!({ "user_id": "", "user_hash": user_hash(SITE_SECRET, "") }),
        json!({ "user_id": "carol", "user_hash": user_hash(SITE_SECRET, "carol"), "role": "admin" }),
    ] {
        let (status, error) = widget_token(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
    }

    // Staff ids are not customers: refused by the database, nobody demoted.
    app.get(&boss, "/v1/contacts/me").await;
    let response = widget_token(
        &app,
        json!({ "user_id": "boss", "user_hash": user_hash(SITE_SECRET, "boss") }),
    )
    .await;
    assert_error(&response, StatusCode::FORBIDDEN, "customers_only");
    let (_, me) = app.get(&boss, "/v1/contacts/me").await;
    assert_eq!(
        (&me["role"], &me["verified"]),
        (&json!("admin"), &json!(false))
    );
}

#[tokio::test]
async fn without_an_identity_secret_the_sign_in_is_off_and_identify_stays_unverified() {
    let app = spawn_app_with(|c| c.auth.identity_secret = Some(String::new())).await;
    let ann = app.token("ann", "agent");
    let response = widget_token(
        &app,
        json!({ "user_id": "carol", "user_hash": user_hash("", "carol") }),
    )
    .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "identity_verification_off",
    );

    // identify without verification: the visitor's own details, unverified
    let carol = app.token("carol", "user");
    let (status, me) = patch_me(
        &app,
        &carol,
        json!({ "email": "carol@example.com", "name": "Carol", "attributes": { "user_id": "shop-9" } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (_, contact) = app.get(&ann, "/v1/contacts/carol").await;
    assert_eq!(
        (
            &contact["verified"],
            &contact["verified_at"],
            &contact["attributes"]["user_id"]
        ),
        (&json!(false), &Value::Null, &json!("shop-9"))
    );
}

#[tokio::test]
async fn agents_see_the_browser_and_system_a_user_agent_names() {
    let app = crate::helpers::spawn_app().await;
    for (ua, browser, os) in [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge 131", "Windows"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari 17", "iOS"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133", "Linux"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36", "Chrome 131", "Android"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari 18", "macOS"),
    ] {
        let device: Value = app
            .db
            .query_one("SELECT pgchat.user_agent_device($1)", &[&ua])
            .await
            .unwrap()
            .get(0);
        assert_eq!(device, json!({ "browser": browser, "os": os }), "{ua}");
    }
    let unknown: Option<Value> = app
        .db
        .query_one("SELECT pgchat.user_agent_device('')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unknown, None);
}
