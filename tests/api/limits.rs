//! Floods meet limits: sends per user (REST and WebSocket share one bucket),
//! and open sockets per user. The server answers 429 with Retry-After, or an
//! error frame, and keeps serving everyone else.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{as_id, spawn_app_with, wait_for};
use crate::ws_client::Ws;

#[tokio::test]
async fn a_user_sending_too_fast_gets_429_with_retry_after_and_others_are_unaffected() {
    let app = spawn_app_with(|config| {
        config.limits.send_rate = 2;
        config.limits.send_burst = 5;
    })
    .await;
    let flooder = app.token("flood", "user");
    let session = app.open_session(&flooder).await;
    let path = format!(
        "/v1/conversations/{}/messages",
        as_id(&session["conversation_id"])
    );
    let mut limited = 0;
    for n in 0..12 {
        let body = json!({ "body": format!("f{n}"), "client_msg_id": Uuid::new_v4() });
        let response = app
            .http
            .post(app.url(&path))
            .bearer_auth(&flooder)
            .json(&body)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            let error: serde_json::Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "rate_limited");
            limited += 1;
        }
    }
    assert!(limited >= 5, "{limited} of 12 were limited");
    let stored = app
        .count(&format!(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = '{}'",
            as_id(&session["conversation_id"])
        ))
        .await;
    assert_eq!(stored, 1 + 12 - limited, "a limited send writes nothing");

    // The same bucket on the socket: an error frame with retry_after.
    let mut ws = Ws::connect(app.port, &flooder).await;
    let frame = json!({ "type": "send_message", "conversation_id": session["conversation_id"], "client_msg_id": Uuid::new_v4(), "body": "x" });
    let answer = ws.request(frame).await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("error"), Some("rate_limited"))
    );
    assert!(answer["retry_after"].as_u64().is_some());

    // Someone else is not slowed down.
    let calm = app.token("calm", "user");
    let theirs = app.open_session(&calm).await;
    app.send(&calm, &theirs["conversation_id"], "fine").await;
}

#[tokio::test]
async fn a_user_opening_too_many_sockets_is_refused_with_429() {
    let app = spawn_app_with(|config| config.limits.ws_max_per_user = 3).await;
    let token = app.token("many", "user");
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Ws::connect(app.port, &token).await);
    }
    let url = format!("ws://127.0.0.1:{}/v1/ws?token={token}", app.port);
    match tokio_tungstenite::connect_async(url.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    // Closing one frees its place.
    open.pop().unwrap().close().await;
    wait_for("the closed socket's place given back", || async {
        tokio_tungstenite::connect_async(url.as_str()).await.is_ok()
    })
    .await;
    let other = app.token("other", "user");
    assert!(
        Ws::try_connect(app.port, &other).await.is_some(),
        "others still connect"
    );
}
