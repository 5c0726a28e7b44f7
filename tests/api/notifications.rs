//! Offline notifications: the outbox trigger, webhook delivery with an HMAC
//! signature, retries with backoff, dead letters, and two nodes that never
//! deliver one notification twice. The receiver is an axum server on port 0.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app_with, wait_for, TestApp};
use crate::stub_http::StubHttp;
use crate::ws_client::{Node, Ws};

const SECRET: &str = "whsec_test";

#[derive(Clone, Debug)]
struct Delivery {
    id: i64,
    body: Value,
    timestamp: String,
    signature: String,
}

#[derive(Default)]
struct Inbox {
    delivered: Vec<Delivery>,
    /// Attempts seen per notification id.
    attempts: HashMap<i64, u32>,
}

/// A webhook receiver that fails the first `fail_first` attempts of every
/// notification (all of them if `u32::MAX`) and records the rest.
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
    _server: StubHttp,
}

impl Receiver {
    async fn start(fail_first: u32, delay: Duration) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let state = (inbox.clone(), fail_first, delay);
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let server = StubHttp::start(app).await;
        Receiver {
            url: format!("{}/hook", server.base),
            inbox,
            _server: server,
        }
    }

    fn delivered(&self) -> Vec<Delivery> {
        self.inbox.lock().unwrap().delivered.clone()
    }

    fn attempts(&self, id: i64) -> u32 {
        self.inbox
            .lock()
            .unwrap()
            .attempts
            .get(&id)
            .copied()
            .unwrap_or(0)
    }
}

async fn receive(
    State((inbox, fail_first, delay)): State<(Arc<Mutex<Inbox>>, u32, Duration)>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id: i64 = header("x-pgchat-delivery").parse().unwrap_or(-1);
    let attempt = {
        let mut inbox = inbox.lock().unwrap();
        let n = inbox.attempts.entry(id).or_default();
        *n += 1;
        *n
    };
    // A slow receiver by design (see the two-node test), not a wait.
    tokio::time::sleep(delay).await;
    if attempt <= fail_first {
        return AxumStatus::SERVICE_UNAVAILABLE;
    }
    let delivery = Delivery {
        id,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        timestamp: header("x-pgchat-timestamp"),
        signature: header("x-pgchat-signature"),
    };
    // The signature is checked over the exact bytes received.
    let expected = format!(
        "v1={}",
        pgchat::desk::webhook::sign(
            SECRET,
            &delivery.timestamp,
            std::str::from_utf8(&body).unwrap()
        )
    );
    if delivery.signature != expected {
        return AxumStatus::UNAUTHORIZED;
    }
    inbox.lock().unwrap().delivered.push(delivery);
    AxumStatus::NO_CONTENT
}

async fn app_with_hook(receiver: &Receiver, max_attempts: u32) -> TestApp {
    let url = receiver.url.clone();
    spawn_app_with(move |config| {
        config.desk.webhook_url = Some(url);
        config.desk.webhook_secret = Some(SECRET.into());
        config.desk.webhook_max_attempts = max_attempts;
        config.desk.webhook_retry_base_ms = 50;
    })
    .await
}

/// A support chat between carol and ann (claimed), neither connected.
async fn chat(app: &TestApp) -> (String, String, Value) {
    let customer = app.token_named("carol", "user", "Carol");
    let ann = app.token_named("ann", "agent", "Ann");
    let session = app.open_session(&customer).await;
    let (status, _) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    (customer, ann, session)
}

#[tokio::test]
async fn a_message_for_an_offline_member_reaches_the_webhook_signed_and_once() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let app = app_with_hook(&receiver, 5).await;
    let (customer, ann, session) = chat(&app).await;
    let conversation = &session["conversation_id"];
    let sent = app
        .send(&ann, conversation, "Your refund is on its way")
        .await;

    wait_for("one delivery", || async {
        !receiver.delivered().is_empty()
    })
    .await;
    let delivery = receiver.delivered()[0].clone();
    assert_eq!(delivery.body["type"], "message");
    assert_eq!(delivery.body["user_id"], "carol");
    assert_eq!(delivery.body["conversation_id"], *conversation);
    assert_eq!(delivery.body["conversation_kind"], "support");
    assert_eq!(delivery.body["message"]["id"], sent["id"]);
    assert_eq!(
        delivery.body["message"]["body"],
        "Your refund is on its way"
    );
    assert_eq!(delivery.body["id"], delivery.id);
    assert!(delivery.signature.starts_with("v1="));
    // The receiver answers before the worker records the delivery: wait for the row.
    wait_for("the delivery recorded", || async {
        app.count("SELECT count(*) FROM notification_outbox WHERE status = 'delivered'")
            .await
            == 1
    })
    .await;
    let row = app
        .db
        .query_one(
            "SELECT status, attempts, delivered_at IS NOT NULL FROM notification_outbox",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, i32>(1),
            row.get::<_, bool>(2)
        ),
        ("delivered".into(), 1, true)
    );

    // Not for: the sender, system notices (the "joined" notice above), an
    // internal note (to a customer), a muted member, a connected member.
    app.send_json(
        &ann,
        conversation,
        &json!({ "body": "internal: customer is angry", "client_msg_id": Uuid::new_v4(), "internal": true }),
    )
    .await;
    let mut online = Ws::connect(app.port, &ann).await;
    online.subscribe("inbox", None).await;
    app.send(&customer, conversation, "thanks (ann is connected)")
        .await;
    online.close().await;
    app.db
        .execute(
            "UPDATE conversation_members SET muted = true WHERE user_id = 'carol'",
            &[],
        )
        .await
        .unwrap();
    app.send(&ann, conversation, "carol muted this").await;
    // No wait: the outbox is written by a trigger in the send's transaction,
    // so after the 201 it is final, and the worker delivers nothing else.
    let queued: Vec<(String, String)> = app
        .db
        .query(
            "SELECT user_id, payload->'message'->>'body' FROM notification_outbox ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        queued,
        [("carol".to_owned(), "Your refund is on its way".to_owned())]
    );
    assert_eq!(receiver.delivered().len(), 1);
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_then_kept_as_dead_letters() {
    // Fails twice, then takes it: delivered on the third attempt.
    let receiver = Receiver::start(2, Duration::ZERO).await;
    let app = app_with_hook(&receiver, 5).await;
    let (_, ann, session) = chat(&app).await;
    app.send(&ann, &session["conversation_id"], "third time lucky")
        .await;
    wait_for("delivered after retries", || async {
        !receiver.delivered().is_empty()
    })
    .await;
    let id = receiver.delivered()[0].id;
    assert_eq!(receiver.attempts(id), 3);
    wait_for("the delivery recorded", || async {
        app.count("SELECT count(*) FROM notification_outbox WHERE status = 'delivered'")
            .await
            == 1
    })
    .await;
    let row = app
        .db
        .query_one(
            "SELECT status, attempts, delivered_at - created_at FROM notification_outbox WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i32>(1)),
        ("delivered".into(), 3)
    );

    // Always failing: after the last attempt it is a dead letter, kept and visible in psql.
    let broken = Receiver::start(u32::MAX, Duration::ZERO).await;
    let app = app_with_hook(&broken, 3).await;
    let (_, ann, session) = chat(&app).await;
    app.send(&ann, &session["conversation_id"], "nobody hears this")
        .await;
    wait_for("a dead letter", || async {
        app.count("SELECT count(*) FROM notification_dead_letters")
            .await
            == 1
    })
    .await;
    let row = app
        .db
        .query_one(
            "SELECT id, attempts, last_status, last_error FROM notification_outbox",
            &[],
        )
        .await
        .unwrap();
    let id: i64 = row.get(0);
    assert_eq!(row.get::<_, i32>(1), 3);
    assert_eq!(row.get::<_, Option<i32>>(2), Some(503));
    assert!(row.get::<_, Option<String>>(3).unwrap().contains("503"));
    // The fence: a second notification, failed to its own dead letter, means
    // the worker went through its passes since; none retried the first.
    app.send(&ann, &session["conversation_id"], "nor this")
        .await;
    wait_for("a second dead letter", || async {
        app.count("SELECT count(*) FROM notification_dead_letters")
            .await
            == 2
    })
    .await;
    assert_eq!(broken.attempts(id), 3, "no attempt after the last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_never_deliver_one_notification_twice() {
    // A slow receiver, so that both nodes have deliveries in flight at once.
    let receiver = Receiver::start(0, Duration::from_millis(20)).await;
    let app = app_with_hook(&receiver, 5).await;
    let (_, _, session) = chat(&app).await;
    let _other = Node::start(
        &app,
        &[
            ("PGCHAT_WEBHOOK_URL", receiver.url.as_str()),
            ("PGCHAT_WEBHOOK_SECRET", SECRET),
            ("PGCHAT_WEBHOOK_RETRY_BASE_MS", "50"),
        ],
    )
    .await;
    // 200 messages written straight into the table, as with psql.
    app.db
        .execute(
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
             SELECT $1, 'ann', 'agent', 'note ' || i FROM generate_series(1, 200) AS i",
            &[&Uuid::parse_str(session["conversation_id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap();
    // The fence: every row recorded as delivered. A worker delivers while it
    // holds the row's lock and records the outcome in that transaction, so
    // each delivery the receiver will ever see has reached it by then.
    wait_for("all 200 recorded as delivered", || async {
        app.count("SELECT count(*) FROM notification_outbox WHERE status = 'delivered'")
            .await
            == 200
    })
    .await;
    let delivered = receiver.delivered();
    let mut per_id: HashMap<i64, usize> = HashMap::new();
    for d in &delivered {
        *per_id.entry(d.id).or_default() += 1;
    }
    assert_eq!(per_id.len(), 200);
    assert!(
        per_id.values().all(|&n| n == 1),
        "a notification was delivered twice"
    );
    assert_eq!(delivered.len(), 200);
}
