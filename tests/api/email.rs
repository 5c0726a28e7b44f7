//! Email notifications against a real SMTP server: `tests/smtp_sink.py`
//! (aiosmtpd), started per test on a free port, storing each message it
//! accepts as a JSON file the test reads. What did not arrive is shown with a
//! fence: a later email of the same worker that did arrive.

use std::path::PathBuf;
use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

use crate::desk::enrol;
use pgchat::config::AssignmentMode;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, wait_for, TestApp};
use crate::ws_client::Ws;

const PUBLIC_URL: &str = "https://chat.example.test";

/// A running `tests/smtp_sink.py`, killed and its folder removed on drop.
struct SmtpSink {
    port: u16,
    folder: PathBuf,
    _child: tokio::process::Child,
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        let folder = std::env::temp_dir().join(format!("pgchat-smtp-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&folder).expect("creating the SMTP sink's folder");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .arg(&folder)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting python3 tests/smtp_sink.py");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(crate::helpers::PATIENCE, lines.next_line())
            .await
            .expect("the SMTP sink to print its port")
            .expect("reading the SMTP sink's output")
            .unwrap_or_else(|| {
                panic!(
                    "tests/smtp_sink.py exited without listening: is aiosmtpd installed? \
                     (`python3 -m pip install aiosmtpd`; scripts/test.sh does)"
                )
            });
        SmtpSink {
            port: line.trim().parse().expect("a port number"),
            folder,
            _child: child,
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in arrival order.
    fn received(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(&self.folder)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// The messages received for `address`.
    fn to(&self, address: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|m| {
                m["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == address)
            })
            .collect()
    }

    /// Waits until `address` has received `n` messages; returns them.
    async fn wait_for(&self, address: &str, n: usize) -> Vec<Value> {
        wait_for(&format!("{n} email(s) to {address}"), || async {
            let got = self.to(address);
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

async fn app_with_smtp(url: String, max_attempts: u32) -> TestApp {
    spawn_app_with(move |config| {
        // Only the assignments a test makes (auto-assignment emails like any other).
        config.desk.assignment_mode = AssignmentMode::Manual;
        let email = &mut config.desk.email;
        email.smtp_url = Some(url);
        email.email_from = Some("Support <desk@pgchat.test>".into());
        email.public_url = Some(PUBLIC_URL.into());
        email.email_max_attempts = max_attempts;
        email.email_retry_base_ms = 50;
    })
    .await
}

async fn set_email(app: &TestApp, token: &str, email: &str) {
    let (status, body) = app
        .patch(token, "/v1/contacts/me", &json!({ "email": email }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], email);
}

/// A support chat: carol (with an address) and ann, who claimed it; neither connected.
async fn chat(app: &TestApp, carol_email: &str) -> (String, String, Value) {
    let carol = app.token_named("carol", "user", "Carol");
    let ann = app.token_named("ann", "agent", "Ann");
    set_email(app, &carol, carol_email).await;
    let session = app
        .open_session_with(&carol, "Refund for order 42", "Where is my refund?")
        .await;
    let (status, body) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (carol, ann, session)
}

/// bob, an agent with an address who is not connected, and a new session
/// (of a customer without an address) that an admin assigns to him.
async fn assign_to_bob(app: &TestApp, subject: &str) -> Value {
    let bob = app.token_named("bob", "agent", "Bob");
    set_email(app, &bob, "bob@example.test").await;
    enrol(app, "bob", "offline", 50).await;
    let customer = app.token_named(&format!("c-{}", Uuid::new_v4().simple()), "user", "Dave");
    let session = app.open_session_with(&customer, subject, "hello?").await;
    let admin = app.token_named("boss", "admin", "The Boss");
    let (status, body) = app
        .session_action(
            &admin,
            &session["id"],
            "assign",
            &json!({ "agent_id": "bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    session
}

/// The path and query of the unsubscribe link in an email (which names PUBLIC_URL).
fn unsubscribe_path(email: &Value) -> String {
    let body = email["body"].as_str().unwrap();
    let link = body
        .lines()
        .find_map(|l| l.strip_prefix("Unsubscribe: "))
        .unwrap_or_else(|| panic!("no unsubscribe link in {body}"));
    assert_eq!(email["headers"]["list-unsubscribe"], format!("<{link}>"));
    assert_eq!(
        email["headers"]["list-unsubscribe-post"],
        "List-Unsubscribe=One-Click"
    );
    link.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("the link {link} is not under {PUBLIC_URL}"))
        .to_owned()
}

#[tokio::test]
async fn an_offline_customer_gets_the_reply_by_email_once_and_nothing_after_unsubscribing() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(sink.url(), 3).await;
    let (carol, ann, session) = chat(&app, "carol@example.test").await;
    let conversation = &session["conversation_id"];
    let sent = app
        .send(&ann, conversation, "Your refund is on its way")
        .await;

    let email = sink.wait_for("carol@example.test", 1).await.remove(0);
    let headers = &email["headers"];
    assert_eq!(email["mail_from"], "desk@pgchat.test");
    assert_eq!(headers["from"], "Support <desk@pgchat.test>");
    assert!(headers["to"]
        .as_str()
        .unwrap()
        .contains("carol@example.test"));
    assert_eq!(headers["subject"], "Ann replied: Refund for order 42");
    let body = email["body"].as_str().unwrap();
    assert!(body.starts_with("Hi Carol,"), "{body}");
    assert!(body.contains("Your refund is on its way"), "{body}");
    let id: i64 = app
        .db
        .query_one(
            "SELECT id FROM email_outbox WHERE message_id = $1",
            &[&Uuid::parse_str(sent["id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        headers["message-id"],
        format!("<pgchat-email-{id}@pgchat.test>")
    );
    let path = unsubscribe_path(&email);

    // Not for: an internal note, the customer's own message, a customer who is connected.
    app.send_json(
        &ann,
        conversation,
        &json!({ "body": "internal: refund approved", "client_msg_id": Uuid::new_v4(), "internal": true }),
    )
    .await;
    app.send(&carol, conversation, "thanks!").await;
    let mut online = Ws::connect(app.port, &carol).await;
    online.subscribe("inbox", None).await;
    app.send(&ann, conversation, "carol is here now").await;
    online.close().await;
    // No wait: the outbox is written in the send's transaction.
    assert_eq!(app.count("SELECT count(*) FROM email_outbox").await, 1);

    // The fence: an email queued after it arrives; the reply was sent once.
    assign_to_bob(&app, "Fence one").await;
    sink.wait_for("bob@example.test", 1).await;
    assert_eq!(sink.to("carol@example.test").len(), 1, "sent once");
    let row = app
        .db
        .query_one(
            "SELECT status, attempts, last_status FROM email_outbox WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, i32>(1),
            row.get::<_, Option<i32>>(2)
        ),
        ("delivered".into(), 1, Some(250))
    );

    // The link works without signing in, as often as it is followed, and as
    // RFC 8058's one-click POST that mail clients send.
    let one_click = app
        .http
        .post(app.url(&path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click");
    for request in [app.http.get(app.url(&path)), one_click] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "email_notifications": false }));
    }
    let (_, me) = app.get(&carol, "/v1/contacts/me").await;
    assert_eq!(me["email_notifications"], false);
    assert_eq!(me["email"], "carol@example.test");

    app.send(&ann, conversation, "one more thing").await;
    assert_eq!(app.count("SELECT count(*) FROM email_outbox").await, 2);
    assign_to_bob(&app, "Fence two").await;
    sink.wait_for("bob@example.test", 2).await;
    assert_eq!(
        sink.to("carol@example.test").len(),
        1,
        "nothing after unsubscribing"
    );

    // Opting in again is the user's own setting.
    let (status, me) = app
        .patch(
            &carol,
            "/v1/contacts/me",
            &json!({ "email_notifications": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    app.send(&ann, conversation, "welcome back").await;
    let emails = sink.wait_for("carol@example.test", 2).await;
    assert!(emails[1]["body"].as_str().unwrap().contains("welcome back"));
}

#[tokio::test]
async fn an_agent_who_is_offline_gets_an_email_when_a_session_is_assigned_to_them() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(sink.url(), 3).await;
    let session = assign_to_bob(&app, "Broken checkout").await;
    let email = sink.wait_for("bob@example.test", 1).await.remove(0);
    assert_eq!(
        email["headers"]["subject"],
        "Conversation assigned to you: Broken checkout"
    );
    let body = email["body"].as_str().unwrap();
    assert!(body.starts_with("Hi Bob,"), "{body}");
    assert!(
        body.contains("The Boss assigned you a conversation with Dave."),
        "{body}"
    );
    assert!(body.contains(session["id"].as_str().unwrap()), "{body}");
    unsubscribe_path(&email);

    // Connected: no email (bob sees the assignment live). Nor for a claim.
    let bob = app.token_named("bob", "agent", "Bob");
    let mut online = Ws::connect(app.port, &bob).await;
    online.subscribe("inbox", None).await;
    let customer = app.token("erin", "user");
    let second = app.open_session_with(&customer, "Second", "hi").await;
    let admin = app.token_named("boss", "admin", "The Boss");
    let (status, _) = app
        .session_action(
            &admin,
            &second["id"],
            "assign",
            &json!({ "agent_id": "bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    online.close().await;
    let third = app.open_session_with(&customer, "Third", "hi").await;
    let (status, _) = app
        .session_action(&bob, &third["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE kind = 'assigned'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_smtp_server_that_is_down_gets_retries_then_a_dead_letter() {
    // A port nobody listens on: every attempt is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_with_smtp(format!("smtp://127.0.0.1:{port}"), 3).await;
    let (_, ann, session) = chat(&app, "carol@example.test").await;
    app.send(&ann, &session["conversation_id"], "nobody hears this")
        .await;
    wait_for("a dead letter", || async {
        app.count("SELECT count(*) FROM email_dead_letters").await == 1
    })
    .await;
    let row = app
        .db
        .query_one(
            "SELECT id, attempts, last_status, last_error, email FROM email_dead_letters",
            &[],
        )
        .await
        .unwrap();
    let id: i64 = row.get(0);
    assert_eq!(row.get::<_, i32>(1), 3, "three attempts");
    assert_eq!(row.get::<_, Option<i32>>(2), None, "no SMTP reply");
    let error: String = row.get(3);
    assert!(error.to_lowercase().contains("connect"), "{error}");
    assert_eq!(row.get::<_, String>(4), "carol@example.test");

    // The fence: a second email, dead in its turn, means the worker went
    // through its passes since; none tried the first again.
    app.send(&ann, &session["conversation_id"], "nor this")
        .await;
    wait_for("a second dead letter", || async {
        app.count("SELECT count(*) FROM email_dead_letters").await == 2
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT attempts::bigint FROM email_outbox WHERE id = {id}"
        ))
        .await,
        3
    );
}

#[tokio::test]
async fn a_refusal_for_now_is_retried_and_a_refusal_for_good_is_a_dead_letter_at_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(sink.url(), 5).await;
    // 451 once, then accepted: delivered on the second attempt.
    let (_, ann, session) = chat(&app, "busy@example.test").await;
    app.send(&ann, &session["conversation_id"], "try again")
        .await;
    let emails = sink.wait_for("busy@example.test", 1).await;
    assert!(emails[0]["body"].as_str().unwrap().contains("try again"));
    wait_for("the delivery recorded", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'delivered'")
            .await
            == 1
    })
    .await;
    assert_eq!(
        app.count("SELECT attempts::bigint FROM email_outbox").await,
        2,
        "one retry"
    );

    // 550: no retry can help.
    let carol = app.token_named("carol", "user", "Carol");
    set_email(&app, &carol, "reject@example.test").await;
    app.send(&ann, &session["conversation_id"], "bounced").await;
    wait_for("a dead letter", || async {
        app.count("SELECT count(*) FROM email_dead_letters").await == 1
    })
    .await;
    let row = app
        .db
        .query_one(
            "SELECT attempts, last_status, last_error FROM email_dead_letters",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1, "no retry of a permanent refusal");
    assert_eq!(row.get::<_, Option<i32>>(1), Some(550));
    assert!(row.get::<_, String>(2).contains("no such mailbox"));
    assert!(sink.to("reject@example.test").is_empty());
}

#[tokio::test]
async fn a_user_sets_their_own_email_and_nobody_elses() {
    let app = spawn_app().await;
    let carol = app.token_named("carol", "user", "Carol");
    let bob = app.token("bob", "user");
    set_email(&app, &bob, "bob@example.test").await;
    let (status, me) = app
        .patch(
            &carol,
            "/v1/contacts/me",
            &json!({ "email": " carol@example.test " }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me,
        json!({ "id": "carol", "role": "user", "name": "Carol",
                "email": "carol@example.test", "email_notifications": true, "attributes": {},
                "verified": false })
    );
    for bad in [json!({ "email": "not an address" }), json!({ "email": 42 })] {
        let response = app.patch(&carol, "/v1/contacts/me", &bad).await;
        assert_eq!(response.0, StatusCode::BAD_REQUEST, "{bad}: {}", response.1);
    }
    assert_error(
        &app.patch(&carol, "/v1/contacts/me", &json!({})).await,
        StatusCode::BAD_REQUEST,
        "nothing_to_change",
    );
    let unknown = app
        .patch(&carol, "/v1/contacts/me", &json!({ "role": "admin" }))
        .await;
    assert_eq!(unknown.0, StatusCode::BAD_REQUEST, "{}", unknown.1);
    let (status, me) = app
        .patch(&carol, "/v1/contacts/me", &json!({ "email": null }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], Value::Null);

    // RLS: as carol, bob's row cannot be changed (and a role is not hers to set).
    let changed = app
        .sql_as(
            "carol",
            "user",
            "UPDATE users SET email = 'mallory@example.test', email_notifications = false
              WHERE id = 'bob' RETURNING id",
            &[],
        )
        .await
        .unwrap();
    assert!(changed.is_empty());
    let row = app
        .db
        .query_one(
            "SELECT email, email_notifications FROM users WHERE id = 'bob'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, bool>(1)),
        ("bob@example.test".into(), true)
    );
    assert!(app
        .sql_as(
            "carol",
            "user",
            "UPDATE users SET role = 'admin' WHERE id = 'carol'",
            &[]
        )
        .await
        .is_err());

    // Unsubscribe links are checked: no token, a forged one, a token for nobody.
    let get = |query: String| {
        let request = app
            .http
            .get(app.url(&format!("/v1/email/unsubscribe{query}")));
        app.call(request)
    };
    for query in ["", "?token=", "?token=Ym9i.AAAA", "?token=%FF%FE.x"] {
        assert_error(
            &get(query.into()).await,
            StatusCode::BAD_REQUEST,
            "invalid_unsubscribe_token",
        );
    }
    let bob_before: bool = app
        .db
        .query_one(
            "SELECT email_notifications FROM users WHERE id = 'bob'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(bob_before, "a forged token changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_never_send_one_email_twice() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(sink.url(), 5).await;
    let (_, _, session) = chat(&app, "carol@example.test").await;
    let url = sink.url();
    let _other = crate::ws_client::Node::start(
        &app,
        &[
            ("PGCHAT_SMTP_URL", url.as_str()),
            ("PGCHAT_EMAIL_FROM", "Support <desk@pgchat.test>"),
            ("PGCHAT_PUBLIC_URL", PUBLIC_URL),
            ("PGCHAT_EMAIL_RETRY_BASE_MS", "50"),
            ("PGCHAT_ASSIGNMENT_MODE", "manual"),
        ],
    )
    .await;
    // 100 replies written straight into the table, as with psql: one statement.
    app.db
        .execute(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             SELECT $1, 'ann', 'agent', 'reply ' || i FROM generate_series(1, 100) AS i",
            &[&Uuid::parse_str(session["conversation_id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap();
    // The fence: every row recorded as delivered. A worker sends while it holds
    // the row's lock and records the outcome in that transaction, so every email
    // the sink will ever get from these rows has reached it by then.
    wait_for("all 100 recorded as delivered", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'delivered'")
            .await
            == 100
    })
    .await;
    let received = sink.to("carol@example.test");
    let mut ids: Vec<&str> = received
        .iter()
        .map(|m| m["headers"]["message-id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100, "every email sent");
    assert_eq!(received.len(), 100, "none sent twice");
}

#[tokio::test]
async fn a_half_configured_email_stops_the_start_naming_the_setting() {
    let app = spawn_app().await;
    let cases: [(&str, Option<&str>, Option<&str>, &str); 4] = [
        (
            "smtp://127.0.0.1:25",
            None,
            Some(PUBLIC_URL),
            "PGCHAT_EMAIL_FROM must be set",
        ),
        (
            "smtp://127.0.0.1:25",
            Some("not an address"),
            Some(PUBLIC_URL),
            "PGCHAT_EMAIL_FROM must be an address",
        ),
        (
            "smtp://127.0.0.1:25",
            Some("desk@pgchat.test"),
            None,
            "PGCHAT_PUBLIC_URL must be set",
        ),
        (
            "mail://127.0.0.1:25",
            Some("desk@pgchat.test"),
            Some(PUBLIC_URL),
            "PGCHAT_SMTP_URL must be",
        ),
    ];
    for (url, from, public, expected) in cases {
        let data = std::env::temp_dir().join(format!("pgchat-email-{}", Uuid::new_v4().simple()));
        let mut config = crate::helpers::test_config(&data, &app.secret);
        config.desk.email.smtp_url = Some(url.into());
        config.desk.email.email_from = from.map(Into::into);
        config.desk.email.public_url = public.map(Into::into);
        let built = pgchat::startup::Application::build(config, app.db_config.clone()).await;
        let _ = std::fs::remove_dir_all(&data);
        let error = format!("{:#}", built.err().expect("the start should fail"));
        assert!(error.contains(expected), "{expected:?} in {error}");
    }
    // Nothing was recorded: email stays off.
    assert_eq!(
        app.count("SELECT count(*) FROM email_settings WHERE enabled")
            .await,
        0
    );
}
