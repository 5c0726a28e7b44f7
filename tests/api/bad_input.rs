//! Bad input is a 4xx with the JSON error body, never a 500, and writes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{as_id, assert_client_error, assert_error, spawn_app, TestApp};

/// A customer with a session, and an agent.
struct Setup {
    app: TestApp,
    carol: String,
    ann: String,
    session: Value,
    messages_path: String,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let session = app.open_session(&carol).await;
    // Provision ann before counting.
    app.get(&ann, "/v1/support/sessions").await;
    let messages_path = format!(
        "/v1/conversations/{}/messages",
        as_id(&session["conversation_id"])
    );
    Setup {
        app,
        carol,
        ann,
        session,
        messages_path,
    }
}

fn message(body: Value) -> Value {
    json!({ "body": body, "client_msg_id": Uuid::new_v4() })
}

/// POSTs a raw JSON text with the JSON content type.
async fn post_raw(app: &TestApp, token: &str, path: &str, body: &str) -> (StatusCode, Value) {
    app.call(
        app.http
            .post(app.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned()),
    )
    .await
}

#[tokio::test]
async fn an_invalid_message_body_is_400_and_stores_nothing() {
    let s = setup().await;
    let before = s.app.counts().await;
    let long = "x".repeat(5001);
    let wide = "é".repeat(5001);
    for body in [
        json!(""),
        json!(" "),
        json!(" \n\t\r "),
        json!("\u{3000}"),
        json!(long),
        json!(wide),
        json!("a\u{0}b"),
        json!(null),
        json!(42),
        json!(["a"]),
    ] {
        let response = s
            .app
            .post(&s.carol, &s.messages_path, &message(body.clone()))
            .await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{body:.40}: {}",
            response.1
        );
        assert_client_error(&response);
    }
    assert_eq!(s.app.counts().await, before);

    // The bounds themselves are fine: 5000 characters (not bytes), a single one.
    for body in ["x".repeat(5000), "é".repeat(5000), "x".to_owned()] {
        let (status, stored) = s
            .app
            .post(&s.carol, &s.messages_path, &message(json!(body)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{stored:.100}");
        assert_eq!(stored["body"], body.as_str());
    }
}

#[tokio::test]
async fn a_malformed_request_body_is_400_and_stores_nothing() {
    let s = setup().await;
    let before = s.app.counts().await;
    let id = Uuid::new_v4();
    let valid = format!(r#"{{"body": "hi", "client_msg_id": "{id}"}}"#);
    for raw in [
        "".to_owned(),
        " ".to_owned(),
        "{".to_owned(),
        "not json".to_owned(),
        "null".to_owned(),
        "[]".to_owned(),
        "{}".to_owned(),
        r#"{"body": "hi"}"#.to_owned(),
        r#"{"client_msg_id": "6f1c4c8e-3f4f-4a57-9b0e-6f5bb2a1f2a1"}"#.to_owned(),
        r#"{"body": "hi", "client_msg_id": "not-a-uuid"}"#.to_owned(),
        r#"{"body": "hi", "client_msg_id": ""}"#.to_owned(),
        r#"{"body": "hi", "client_msg_id": 12}"#.to_owned(),
        format!(r#"{{"body": "hi", "client_msg_id": "{id}", "sender_id": "ann"}}"#),
        format!(r#"{{"body": "hi", "client_msg_id": "{id}", "seq": 1}}"#),
        format!(r#"{{"body": "hi", "client_msg_id": "{id}", "kind": "system"}}"#),
        format!(r#"{{"body": "hi", "client_msg_id": "{id}", "kind": "ai_response"}}"#),
        format!(r#"{{"body": "hi", "client_msg_id": "{id}", "internal": "yes"}}"#),
        format!(r#"{{"body": "hi", "client_msg_id": "{id}", "reply_to": "nope"}}"#),
        format!("{valid} trailing"),
        valid.replace('}', ""),
    ] {
        let response = post_raw(&s.app, &s.carol, &s.messages_path, &raw).await;
        assert_eq!(response.0, StatusCode::BAD_REQUEST, "{raw}: {}", response.1);
        assert_client_error(&response);
    }
    assert_eq!(s.app.counts().await, before);
    // The same JSON, well-formed, goes through.
    let (status, _) = post_raw(&s.app, &s.carol, &s.messages_path, &valid).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_body_without_the_json_content_type_is_415() {
    let s = setup().await;
    let before = s.app.counts().await;
    let valid = message(json!("hi")).to_string();
    let url = s.app.url(&s.messages_path);
    let without = s
        .app
        .call(
            s.app
                .http
                .post(&url)
                .bearer_auth(&s.carol)
                .body(valid.clone()),
        )
        .await;
    assert_error(
        &without,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let response = s
            .app
            .call(
                s.app
                    .http
                    .post(&url)
                    .bearer_auth(&s.carol)
                    .header("content-type", content_type)
                    .body(valid.clone()),
            )
            .await;
        assert_error(
            &response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
    }
    assert_eq!(s.app.counts().await, before);
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_413() {
    let s = setup().await;
    let before = s.app.counts().await;
    let huge = message(json!("x".repeat(70 * 1024)));
    let response = s.app.post(&s.carol, &s.messages_path, &huge).await;
    assert_error(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert_eq!(s.app.counts().await, before);
}

#[tokio::test]
async fn bad_ids_in_the_path_are_400_and_unknown_ones_404() {
    let s = setup().await;
    for bad in [
        "not-a-uuid",
        "123",
        "00000000-0000-0000-0000-00000000000g",
        "%00",
        "'%20OR%201=1",
    ] {
        for path in [
            format!("/v1/conversations/{bad}/messages"),
            format!("/v1/support/sessions/{bad}"),
        ] {
            let response = s.app.get(&s.carol, &path).await;
            assert_error(&response, StatusCode::BAD_REQUEST, "invalid_path");
        }
        let response = s
            .app
            .post(
                &s.carol,
                &format!("/v1/conversations/{bad}/messages"),
                &message(json!("hi")),
            )
            .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "invalid_path");
        for action in ["claim", "end"] {
            let response = s
                .app
                .post(
                    &s.ann,
                    &format!("/v1/support/sessions/{bad}/{action}"),
                    &json!({}),
                )
                .await;
            assert_error(&response, StatusCode::BAD_REQUEST, "invalid_path");
        }
    }
    let unknown = Uuid::new_v4();
    for path in [
        format!("/v1/conversations/{unknown}/messages"),
        format!("/v1/support/sessions/{unknown}"),
    ] {
        assert_error(
            &s.app.get(&s.carol, &path).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    let response = s
        .app
        .post(
            &s.carol,
            &format!("/v1/conversations/{unknown}/messages"),
            &message(json!("hi")),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    assert_error(
        &s.app.get(&s.carol, "/v1/no/such/route").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let s = setup().await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=-5",
        "limit=abc",
        "limit=1.5",
        "limit=99999999999999999999",
        "before=1&after=1",
        "before=abc",
        "after=",
        "after=1e3",
        "unknown=1",
    ] {
        let response = s
            .app
            .get(&s.carol, &format!("{}?{query}", s.messages_path))
            .await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            response.1
        );
        assert_client_error(&response);
    }
    // Cursors at the edges of the range are just empty pages.
    for query in [
        "before=-9223372036854775808",
        "before=0",
        "after=9223372036854775807",
        "after=-1",
    ] {
        let (status, page) = s
            .app
            .get(&s.carol, &format!("{}?{query}", s.messages_path))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
    }
}

#[tokio::test]
async fn bad_session_list_parameters_are_4xx() {
    let s = setup().await;
    for query in [
        "status=open",
        "priority=asap",
        "category=billing",
        "limit=0",
        "limit=101",
        "cursor=garbage",
        "cursor=1_2_3",
        "cursor=123_not-a-uuid",
        &format!("cursor=-1000000000000000000_{}", Uuid::new_v4().simple()),
        &format!("cursor=9000000000000000000_{}", Uuid::new_v4().simple()),
        "from=yesterday",
        "to=2024-13-01T00:00:00Z",
        "q=%00",
        "agent_id=a%00b",
        "unknown=1",
    ] {
        let response = s
            .app
            .get(&s.ann, &format!("/v1/support/sessions?{query}"))
            .await;
        assert_client_error(&response);
        assert_ne!(response.0, StatusCode::NOT_FOUND, "{query}: {}", response.1);
    }
    // Time bounds that parse work.
    let (status, page) = s
        .app
        .get(
            &s.ann,
            "/v1/support/sessions?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bad_session_input_is_400_and_opens_nothing() {
    let s = setup().await;
    let before = s.app.counts().await;
    let msg = || json!({ "body": "hi", "client_msg_id": Uuid::new_v4() });
    let long_subject = "s".repeat(201);
    for body in [
        json!({}),
        json!({ "subject": "help" }),
        json!({ "message": msg() }),
        json!({ "subject": "", "message": msg() }),
        json!({ "subject": "   ", "message": msg() }),
        json!({ "subject": long_subject, "message": msg() }),
        json!({ "subject": "a\u{0}b", "message": msg() }),
        json!({ "subject": "help", "priority": "asap", "message": msg() }),
        json!({ "subject": "help", "priority": "URGENT", "message": msg() }),
        json!({ "subject": "help", "category": "billing", "message": msg() }),
        json!({ "subject": "help", "message": msg(), "status": "active" }),
        json!({ "subject": "help", "message": msg(), "agent_id": "ann" }),
        json!({ "subject": "help", "message": { "body": "", "client_msg_id": Uuid::new_v4() } }),
        json!({ "subject": "help", "message": { "body": "hi", "client_msg_id": "nope" } }),
        json!({ "subject": "help", "message": { "body": "hi\u{0}", "client_msg_id": Uuid::new_v4() } }),
        json!({ "subject": "help", "message": { "body": "hi", "client_msg_id": Uuid::new_v4(), "extra": 1 } }),
        json!({ "subject": "help", "message": "hi" }),
    ] {
        let response = s.app.post(&s.carol, "/v1/support/sessions", &body).await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            response.1
        );
        assert_client_error(&response);
    }
    let response = post_raw(&s.app, &s.carol, "/v1/support/sessions", "{\"subject\":").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_json");
    assert_eq!(s.app.counts().await, before);
}

#[tokio::test]
async fn bad_rating_and_read_input_is_400_and_changes_nothing() {
    let s = setup().await;
    let (status, _) = s
        .app
        .session_action(&s.carol, &s.session["id"], "end", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let long_feedback = "f".repeat(2001);
    for body in [
        json!({}),
        json!({ "rating": 0 }),
        json!({ "rating": 6 }),
        json!({ "rating": "five" }),
        json!({ "rating": 5, "feedback": long_feedback }),
        json!({ "rating": 5, "feedback": "nul\u{0}" }),
        json!({ "rating": 5, "stars": 5 }),
    ] {
        let response = s
            .app
            .session_action(&s.carol, &s.session["id"], "rating", &body)
            .await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            response.1
        );
        assert_client_error(&response);
    }
    let session = s.app.session(&s.carol, &s.session["id"]).await;
    assert_eq!(session["rating"], Value::Null);

    let read = format!(
        "/v1/conversations/{}/read",
        as_id(&s.session["conversation_id"])
    );
    for body in [
        json!({}),
        json!({ "seq": -1 }),
        json!({ "seq": "3" }),
        json!({ "seq": 1e30 }),
        json!({ "seq": 1, "also": 2 }),
    ] {
        let response = s.app.post(&s.carol, &read, &body).await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            response.1
        );
        assert_client_error(&response);
    }
}
