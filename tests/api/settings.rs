//! The desk's settings screen (issue 20): admins read and change the desk
//! settings (and their change outlives a server's restart), edit the email
//! templates (a placeholder the email does not fill is refused), and see the
//! webhook's status without its secret; everyone else is refused by role.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::desk::put;
use crate::helpers::{assert_error, spawn_app, spawn_app_with, wait_for, TestApp};

const SETTINGS: &str = "/v1/admin/settings";
const TEMPLATES: &str = "/v1/admin/email-templates";

async fn settings_row(app: &TestApp) -> (String, i32, Vec<String>) {
    let row = app
        .db
        .query_one(
            "SELECT assignment_mode, sla_first_response_secs, admin_set FROM desk_settings",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn admins_change_the_desk_settings_and_a_restart_keeps_their_change() {
    let app = spawn_app().await;
    let admin = app.token("boss", "admin");
    let (status, before) = app.get(&admin, SETTINGS).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    for field in [
        "assignment_mode",
        "sla_first_response_secs",
        "inactivity_timeout_secs",
        "reopen_window_secs",
        "escalation_sla_secs",
        "notifications_enabled",
        "admin_set",
        "updated_at",
    ] {
        assert!(before.get(field).is_some(), "{field} in {before}");
    }
    assert!(before.get("id").is_none(), "{before}");
    assert_eq!(before["admin_set"], json!([]));

    let (status, after) = app
        .patch(
            &admin,
            SETTINGS,
            &json!({ "assignment_mode": "round-robin", "sla_first_response_secs": 300 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["assignment_mode"], "round-robin");
    assert_eq!(after["sla_first_response_secs"], 300);
    assert_eq!(
        after["inactivity_timeout_secs"],
        before["inactivity_timeout_secs"]
    );
    assert_eq!(
        after["admin_set"],
        json!(["assignment_mode", "sla_first_response_secs"])
    );
    let (_, read) = app.get(&admin, SETTINGS).await;
    assert_eq!(read, after);

    // A server starting with its own flags leaves the admin's settings be.
    let db = pgchat::db::Db::new(
        app.db_config.clone(),
        pgchat::db::tls::MakeTls::from_config(&app.db_config).unwrap(),
        1,
    )
    .unwrap();
    let flags = pgchat::config::DeskConfig {
        sla_first_response_secs: 45,
        escalation_sla_secs: 600,
        ..Default::default()
    };
    pgchat::service::assignment::configure(&db, &flags)
        .await
        .unwrap();
    let (_, restarted) = app.get(&admin, SETTINGS).await;
    assert_eq!(restarted["assignment_mode"], "round-robin");
    assert_eq!(restarted["sla_first_response_secs"], 300);
    assert_eq!(
        restarted["escalation_sla_secs"], 600,
        "not the admin's: the flag's"
    );
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.token("boss", "admin");
    let before = settings_row(&app).await;
    for bad in [
        json!({ "assignment_mode": "random" }),
        json!({ "sla_first_response_secs": -5 }),
        json!({ "reopen_window_secs": 31_536_001 }),
        json!({ "inactivity_timeout_secs": "60" }),
        json!({ "escalation_sla_secs": null }),
        json!({ "notifications_enabled": true }),
        json!({ "admin_set": [] }),
        json!({ "assignment_mode": "manual", "colour": "red" }),
        json!("manual"),
    ] {
        let answer = app.patch(&admin, SETTINGS, &bad).await;
        assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{bad}: {}", answer.1);
        assert_eq!(
            answer.1["error"]["code"], "invalid_body",
            "{bad}: {}",
            answer.1
        );
    }
    assert_error(
        &app.patch(&admin, SETTINGS, &json!({})).await,
        StatusCode::BAD_REQUEST,
        "nothing_to_change",
    );
    let (status, body) = app
        .call(
            app.http
                .patch(app.url(SETTINGS))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body("{\"assignment_mode\":"),
        )
        .await;
    assert_error(&(status, body), StatusCode::BAD_REQUEST, "invalid_json");
    assert_eq!(settings_row(&app).await, before);
}

#[tokio::test]
async fn only_admins_read_or_change_settings_templates_and_webhooks_even_from_psql() {
    let app = spawn_app().await;
    let before = settings_row(&app).await;
    for (sub, role) in [("ann", "agent"), ("carol", "user")] {
        let token = app.token(sub, role);
        for path in [SETTINGS, TEMPLATES, "/v1/admin/webhooks"] {
            assert_error(
                &app.get(&token, path).await,
                StatusCode::FORBIDDEN,
                "admins_only",
            );
        }
        assert_error(
            &app.patch(&token, SETTINGS, &json!({ "assignment_mode": "manual" }))
                .await,
            StatusCode::FORBIDDEN,
            "admins_only",
        );
        assert_error(
            &put(
                &app,
                &token,
                &format!("{TEMPLATES}/reply"),
                &json!({ "subject": "x", "body": "y" }),
            )
            .await,
            StatusCode::FORBIDDEN,
            "admins_only",
        );
    }
    let (status, _) = app.call(app.http.get(app.url(SETTINGS))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A request's identity in psql is refused the same way.
    let refused = app
        .sql_as(
            "ann",
            "agent",
            "UPDATE desk_settings SET assignment_mode = 'manual'",
            &[],
        )
        .await;
    crate::helpers::assert_sql_refused(refused, "admins_only");
    let refused = app
        .sql_as(
            "ann",
            "agent",
            "UPDATE email_templates SET subject = 'hi' WHERE kind = 'reply'",
            &[],
        )
        .await;
    crate::helpers::assert_sql_refused(refused, "admins_only");
    assert_eq!(settings_row(&app).await, before);
}

#[tokio::test]
async fn admins_edit_email_templates_with_the_placeholders_their_email_fills() {
    let app = spawn_app().await;
    let admin = app.token("boss", "admin");
    let (status, list) = app.get(&admin, TEMPLATES).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["email_enabled"], false);
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["assigned", "reply"]);
    let reply = &list["items"][1];
    assert!(reply["placeholders"]
        .as_array()
        .unwrap()
        .contains(&json!("message")));
    assert!(!list["items"][0]["placeholders"]
        .as_array()
        .unwrap()
        .contains(&json!("message")));

    let path = format!("{TEMPLATES}/reply");
    let text = json!({
        "subject": "  {agent_name} answered: {subject} ",
        "body": "Hello {customer_name},\n\n{message}\n\n{{literal braces}} and a lone { stay text.",
    });
    let (status, saved) = put(&app, &admin, &path, &text).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["subject"], "{agent_name} answered: {subject}");
    assert_eq!(saved["body"], text["body"]);
    let (_, list) = app.get(&admin, TEMPLATES).await;
    assert_eq!(list["items"][1], saved);

    // {message} is not filled in an assignment's email; a typo is not a placeholder.
    for (kind, subject, body) in [
        ("assigned", "New chat", "Hi {agent_name}: {message}"),
        ("reply", "{agnet_name} replied", "Hello"),
        ("reply", "Re", "Hello { customer_name }"),
    ] {
        assert_error(
            &put(
                &app,
                &admin,
                &format!("{TEMPLATES}/{kind}"),
                &json!({ "subject": subject, "body": body }),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_placeholder",
        );
    }
    for bad in [
        json!({ "subject": "a\r\nBcc: x@example.com", "body": "b" }),
        json!({ "subject": "", "body": "b" }),
        json!({ "subject": "a", "body": "   " }),
        json!({ "subject": "a" }),
        json!({ "subject": "a", "body": "b", "kind": "reply" }),
    ] {
        assert_error(
            &put(&app, &admin, &path, &bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        );
    }
    assert_error(
        &put(
            &app,
            &admin,
            &format!("{TEMPLATES}/welcome"),
            &json!({ "subject": "a", "body": "b" }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, after) = app.get(&admin, TEMPLATES).await;
    assert_eq!(after["items"][1], saved, "nothing changed by the refusals");
}

#[tokio::test]
async fn the_webhook_status_shows_its_host_and_outbox_never_its_secret() {
    // Nothing listens there: each notification fails once, for good.
    let url = "http://hookuser:hookpass@127.0.0.1:9/in/t0ken-path?key=query-secret";
    let app = spawn_app_with(move |config| {
        config.desk.webhook_url = Some(url.into());
        config.desk.webhook_secret = Some("the-signing-secret".into());
        config.desk.webhook_max_attempts = 1;
        config.desk.webhook_retry_base_ms = 10;
        config.desk.webhook_timeout_secs = 2;
    })
    .await;
    let admin = app.token("boss", "admin");
    let (status, empty) = app.get(&admin, "/v1/admin/webhooks").await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["configured"], true);
    assert_eq!(empty["host"], "127.0.0.1:9");
    assert_eq!(empty["signed"], true);
    assert_eq!(
        empty["outbox"],
        json!({ "pending": 0, "failed": 0, "delivered": 0, "recent": [] })
    );
    let text = empty.to_string();
    for secret in [
        "hookpass",
        "t0ken-path",
        "query-secret",
        "the-signing-secret",
    ] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }

    // A reply for a customer who is not connected: queued, then a dead letter.
    let customer = app.token_named("carol", "user", "Carol");
    let ann = app.token_named("ann", "agent", "Ann");
    let session = app.open_session(&customer).await;
    app.session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    let sent = app
        .send(&ann, &session["conversation_id"], "On its way")
        .await;
    let status = wait_for("the notification failed for good", || async {
        let (_, body) = app.get(&admin, "/v1/admin/webhooks?limit=5").await;
        (body["outbox"]["failed"] == 1).then_some(body)
    })
    .await;
    let recent = &status["outbox"]["recent"][0];
    assert_eq!(recent["status"], "dead");
    assert_eq!(recent["user_id"], "carol");
    assert_eq!(recent["message_id"], sent["id"]);
    assert_eq!(recent["attempts"], 1);
    assert!(recent["last_error"].is_string(), "{recent}");
    assert!(recent.get("payload").is_none(), "{recent}");
    assert_error(
        &app.get(&admin, "/v1/admin/webhooks?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_limit",
    );

    let plain = spawn_app().await;
    let (_, none) = plain
        .get(&plain.token("boss", "admin"), "/v1/admin/webhooks")
        .await;
    assert_eq!(
        (&none["configured"], &none["host"], &none["signed"]),
        (&json!(false), &Value::Null, &json!(false))
    );
}
