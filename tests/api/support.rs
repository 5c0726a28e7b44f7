//! Support sessions over REST: open (idempotent), list with filters and
//! cursors, claim, the agent's first reply, unread counts, end, rating.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{as_id, assert_error, ids, spawn_app, wait_for, Counts, TestApp};

fn open_body(subject: &str, client_msg_id: Uuid) -> Value {
    json!({
        "subject": subject,
        "category": "payment",
        "priority": "high",
        "message": { "body": "My card was charged twice", "client_msg_id": client_msg_id },
    })
}

#[tokio::test]
async fn opening_a_session_returns_it_waiting_with_its_first_message() {
    let app = spawn_app().await;
    let customer = app.token_named("carol", "user", "Carol");
    let client_msg_id = Uuid::new_v4();
    let (status, session) = app
        .post(
            &customer,
            "/v1/support/sessions",
            &open_body("Double charge", client_msg_id),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert!(Uuid::parse_str(as_id(&session["id"])).is_ok());
    assert!(Uuid::parse_str(as_id(&session["conversation_id"])).is_ok());
    assert_eq!(session["status"], "waiting");
    assert_eq!(session["customer_id"], "carol");
    assert_eq!(session["agent_id"], Value::Null);
    assert_eq!(session["subject"], "Double charge");
    assert_eq!(session["category"], "payment");
    assert_eq!(session["priority"], "high");
    assert!(session["started_at"].is_string());
    assert_eq!(session["ended_at"], Value::Null);

    let message = &session["message"];
    assert_eq!(message["body"], "My card was charged twice");
    assert_eq!(message["client_msg_id"], client_msg_id.to_string());
    assert_eq!(message["conversation_id"], session["conversation_id"]);
    assert_eq!(message["sender_id"], "carol");
    assert_eq!(message["sender_role"], "user");
    assert_eq!(message["sender_name"], "Carol");
    assert_eq!(message["kind"], "text");
    assert_eq!(message["internal"], false);
    assert!(message["seq"].as_i64().is_some_and(|s| s > 0));
    assert!(message["change_seq"].as_i64().is_some());

    // Defaults when category and priority are left out.
    let plain = app.open_session(&customer).await;
    assert_eq!(plain["category"], "other");
    assert_eq!(plain["priority"], "medium");

    assert_eq!(
        app.counts().await,
        Counts {
            conversations: 2,
            members: 2,
            sessions: 2,
            messages: 2
        }
    );
}

#[tokio::test]
async fn opening_again_with_the_same_client_msg_id_returns_the_same_session_and_writes_nothing() {
    let app = spawn_app().await;
    let customer = app.token("carol", "user");
    let client_msg_id = Uuid::new_v4();
    let (status, first) = app
        .post(
            &customer,
            "/v1/support/sessions",
            &open_body("Double charge", client_msg_id),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let before = app.counts().await;

    let (status, again) = app
        .post(
            &customer,
            "/v1/support/sessions",
            &open_body("Double charge", client_msg_id),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["conversation_id"], first["conversation_id"]);
    assert_eq!(again["message"]["id"], first["message"]["id"]);
    assert_eq!(app.counts().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_opening_a_session_open_exactly_one() {
    let app = spawn_app().await;
    let customer = app.token("carol", "user");
    // Provision the caller first so every retry races on the session, not the user row.
    app.get(&customer, "/v1/support/sessions").await;
    let body = open_body("Double charge", Uuid::new_v4());
    let responses = futures::future::join_all(
        (0..10).map(|_| app.post(&customer, "/v1/support/sessions", &body)),
    )
    .await;
    let created = responses
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    for (status, session) in &responses {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::OK,
            "{status}: {session}"
        );
        assert_eq!(session["id"], responses[0].1["id"]);
    }
    assert_eq!(created, 1);
    assert_eq!(
        app.counts().await,
        Counts {
            conversations: 1,
            members: 1,
            sessions: 1,
            messages: 1
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_a_send_store_one_message_and_take_one_seq() {
    let app = spawn_app().await;
    let customer = app.token("carol", "user");
    let session = app.open_session(&customer).await;
    let conversation = &session["conversation_id"];
    let seq_before = last_seq(&app, conversation).await;
    let before = app.counts().await;

    let message = json!({ "body": "are you there?", "client_msg_id": Uuid::new_v4() });
    let responses = futures::future::join_all(
        (0..20).map(|_| app.send_json(&customer, conversation, &message)),
    )
    .await;
    let created = responses
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let retried = responses
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    assert_eq!((created, retried), (1, 19), "{responses:?}");
    let id = &responses[0].1["id"];
    assert!(responses.iter().all(|(_, m)| &m["id"] == id));
    assert!(responses
        .iter()
        .all(|(_, m)| m["seq"] == responses[0].1["seq"]));

    let after = app.counts().await;
    assert_eq!(after.messages, before.messages + 1);
    // A retry changes nothing: the conversation's counter moved once, for the one row.
    assert_eq!(last_seq(&app, conversation).await, seq_before + 1);
    assert_eq!(responses[0].1["seq"], seq_before + 1);
}

async fn last_seq(app: &TestApp, conversation: &Value) -> i64 {
    app.db
        .query_one(
            "SELECT last_seq FROM conversations WHERE id = $1::text::uuid",
            &[&as_id(conversation)],
        )
        .await
        .expect("reading last_seq")
        .get(0)
}

/// carol's session is claimed by agent ann, dave's by agent bob, erin's waits.
struct Desk {
    app: TestApp,
    carol: String,
    dave: String,
    erin: String,
    ann: String,
    bob: String,
    admin: String,
    carols: Value,
    daves: Value,
    erins: Value,
}

async fn desk() -> Desk {
    let app = spawn_app().await;
    let (carol, dave, erin) = (
        app.token("carol", "user"),
        app.token("dave", "user"),
        app.token("erin", "user"),
    );
    let (ann, bob, admin) = (
        app.token("ann", "agent"),
        app.token("bob", "agent"),
        app.token("root", "admin"),
    );
    let carols = app.open_session_with(&carol, "Carol's order", "hi").await;
    let daves = app.open_session_with(&dave, "Dave's login", "hi").await;
    let erins = app.open_session_with(&erin, "Erin's refund", "hi").await;
    let (status, claimed) = app
        .session_action(&ann, &carols["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let (status, claimed) = app
        .session_action(&bob, &daves["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    Desk {
        app,
        carol,
        dave,
        erin,
        ann,
        bob,
        admin,
        carols,
        daves,
        erins,
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn id_set(sessions: &[&Value]) -> Vec<String> {
    sorted(
        sessions
            .iter()
            .map(|s| as_id(&s["id"]).to_owned())
            .collect(),
    )
}

#[tokio::test]
async fn a_customer_lists_only_their_own_sessions() {
    let d = desk().await;
    let carols_second = d.app.open_session(&d.carol).await;
    assert_eq!(
        sorted(d.app.session_ids(&d.carol, "").await),
        id_set(&[&d.carols, &carols_second])
    );
    assert_eq!(d.app.session_ids(&d.dave, "").await, id_set(&[&d.daves]));
    assert_eq!(d.app.session_ids(&d.erin, "").await, id_set(&[&d.erins]));
    // Asking for someone else's sessions by filter shows nothing more.
    assert_eq!(
        d.app.session_ids(&d.erin, "?agent_id=ann").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn an_agent_lists_the_waiting_queue_and_their_own_sessions_but_not_other_agents() {
    let d = desk().await;
    assert_eq!(
        sorted(d.app.session_ids(&d.ann, "").await),
        id_set(&[&d.carols, &d.erins])
    );
    assert_eq!(
        sorted(d.app.session_ids(&d.bob, "").await),
        id_set(&[&d.daves, &d.erins])
    );
    // Still theirs after it ends.
    let (status, _) = d
        .app
        .session_action(&d.ann, &d.carols["id"], "end", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sorted(d.app.session_ids(&d.ann, "").await),
        id_set(&[&d.carols, &d.erins])
    );
    assert_eq!(
        d.app.session_ids(&d.bob, "?agent_id=ann").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn an_admin_lists_every_session() {
    let d = desk().await;
    assert_eq!(
        sorted(d.app.session_ids(&d.admin, "").await),
        id_set(&[&d.carols, &d.daves, &d.erins])
    );
}

#[tokio::test]
async fn the_session_list_filters_by_status_agent_category_priority_and_subject() {
    let d = desk().await;
    let app = &d.app;
    let (status, urgent) = app
        .post(
            &d.erin,
            "/v1/support/sessions",
            &json!({
                "subject": "Parcel never ARRIVED",
                "category": "shipping",
                "priority": "urgent",
                "message": { "body": "where is it", "client_msg_id": Uuid::new_v4() },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{urgent}");
    let admin = &d.admin;

    assert_eq!(
        sorted(app.session_ids(admin, "?status=waiting").await),
        id_set(&[&d.erins, &urgent])
    );
    assert_eq!(
        sorted(app.session_ids(admin, "?status=active").await),
        id_set(&[&d.carols, &d.daves])
    );
    assert_eq!(
        app.session_ids(admin, "?status=ended").await,
        Vec::<String>::new()
    );
    assert_eq!(
        app.session_ids(admin, "?agent_id=bob").await,
        id_set(&[&d.daves])
    );
    assert_eq!(
        app.session_ids(admin, "?category=shipping").await,
        id_set(&[&urgent])
    );
    assert_eq!(
        sorted(app.session_ids(admin, "?category=other").await),
        id_set(&[&d.carols, &d.daves, &d.erins])
    );
    assert_eq!(
        app.session_ids(admin, "?priority=urgent").await,
        id_set(&[&urgent])
    );
    // q: a case-insensitive substring of the subject.
    assert_eq!(
        app.session_ids(admin, "?q=never%20arrived").await,
        id_set(&[&urgent])
    );
    assert_eq!(
        app.session_ids(admin, "?q=LOGIN").await,
        id_set(&[&d.daves])
    );
    assert_eq!(
        app.session_ids(admin, "?q=nothing-matches").await,
        Vec::<String>::new()
    );
    // Filters combine, and never widen what a caller sees.
    assert_eq!(
        app.session_ids(admin, "?status=waiting&category=shipping&priority=urgent")
            .await,
        id_set(&[&urgent])
    );
    assert_eq!(
        app.session_ids(admin, "?status=waiting&priority=low").await,
        Vec::<String>::new()
    );
    assert_eq!(
        sorted(app.session_ids(&d.ann, "?status=waiting").await),
        id_set(&[&d.erins, &urgent])
    );
    assert_eq!(
        app.session_ids(&d.ann, "?status=active").await,
        id_set(&[&d.carols])
    );
}

#[tokio::test]
async fn cursor_pagination_visits_every_session_once_newest_first() {
    let app = spawn_app().await;
    let customer = app.token("carol", "user");
    let admin = app.token("root", "admin");
    let mut opened = Vec::new();
    for n in 0..7 {
        let session = app
            .open_session_with(&customer, &format!("question {n}"), "hi")
            .await;
        opened.push(as_id(&session["id"]).to_owned());
    }
    for token in [&customer, &admin] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("/v1/support/sessions?limit=3&cursor={c}"),
                None => "/v1/support/sessions?limit=3".to_owned(),
            };
            let (status, page) = app.get(token, &query).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            pages += 1;
            let items = ids(&page["items"]);
            assert!(items.len() <= 3);
            seen.extend(items);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages < 10, "pagination does not end");
        }
        assert_eq!(pages, 3);
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
        let newest_first: Vec<String> = opened.iter().rev().cloned().collect();
        assert_eq!(seen, newest_first);
    }
}

#[tokio::test]
async fn a_visible_session_can_be_fetched_by_id() {
    let d = desk().await;
    for token in [&d.carol, &d.ann, &d.admin] {
        let session = d.app.session(token, &d.carols["id"]).await;
        assert_eq!(session["id"], d.carols["id"]);
        assert_eq!(session["status"], "active");
        assert_eq!(session["agent_id"], "ann");
        assert_eq!(session["customer_id"], "carol");
        assert!(session["unread"].is_i64(), "{session}");
    }
    // Agents see waiting sessions too.
    let waiting = d.app.session(&d.bob, &d.erins["id"]).await;
    assert_eq!(waiting["status"], "waiting");
    // Unknown ids are 404.
    let response = d
        .app
        .get(
            &d.admin,
            &format!("/v1/support/sessions/{}", Uuid::new_v4()),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
}

/// The session's `unread` as `token` sees it in the list and by id.
async fn unread(app: &TestApp, token: &str, session: &Value) -> i64 {
    let (status, page) = app.get(token, "/v1/support/sessions").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let listed = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["id"] == session["id"])
        .unwrap_or_else(|| panic!("session not listed: {page}"))["unread"]
        .as_i64()
        .expect("unread");
    let fetched = app.session(token, &session["id"]).await["unread"]
        .as_i64()
        .expect("unread");
    assert_eq!(listed, fetched);
    listed
}

async fn mark_read(app: &TestApp, token: &str, session: &Value, seq: &Value) -> Value {
    let path = format!(
        "/v1/conversations/{}/read",
        as_id(&session["conversation_id"])
    );
    let (status, body) = app.post(token, &path, &json!({ "seq": seq })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn marking_read_updates_each_sides_unread_count() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let session = app.open_session(&carol).await;
    let conversation = &session["conversation_id"];
    assert_eq!(unread(&app, &carol, &session).await, 0, "own message");
    assert_eq!(unread(&app, &ann, &session).await, 1, "the queue shows it");

    let (status, _) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The "joined" notice is not unread for anyone.
    assert_eq!(unread(&app, &carol, &session).await, 0);
    assert_eq!(unread(&app, &ann, &session).await, 1);

    app.send(&ann, conversation, "Hi Carol").await;
    let last = app.send(&ann, conversation, "How can I help?").await;
    assert_eq!(unread(&app, &carol, &session).await, 2);
    assert_eq!(unread(&app, &ann, &session).await, 1);

    let read = mark_read(&app, &carol, &session, &last["seq"]).await;
    assert_eq!(read["last_read_seq"], last["seq"]);
    assert_eq!(unread(&app, &carol, &session).await, 0);
    assert_eq!(unread(&app, &ann, &session).await, 1);

    mark_read(&app, &ann, &session, &last["seq"]).await;
    assert_eq!(unread(&app, &ann, &session).await, 0);

    let reply = app.send(&carol, conversation, "My order").await;
    assert_eq!(unread(&app, &ann, &session).await, 1);
    assert_eq!(unread(&app, &carol, &session).await, 0);

    // The cursor never moves back, and never past the end.
    let read = mark_read(&app, &ann, &session, &json!(1)).await;
    assert_eq!(read["last_read_seq"], last["seq"]);
    let read = mark_read(&app, &ann, &session, &json!(1_000_000)).await;
    assert_eq!(read["last_read_seq"], reply["seq"]);
    assert_eq!(unread(&app, &ann, &session).await, 0);
}

#[tokio::test]
async fn claiming_a_waiting_session_makes_it_active_with_a_joined_notice() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token_named("ann", "agent", "Ann");
    let session = app.open_session(&carol).await;

    let (status, claimed) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["status"], "active");
    assert_eq!(claimed["agent_id"], "ann");
    assert!(claimed["assigned_at"].is_string());
    assert_eq!(
        claimed["first_response_at"],
        Value::Null,
        "claiming is not answering"
    );

    let page = app.messages(&carol, &session["conversation_id"], "").await;
    let last = page["items"]
        .as_array()
        .and_then(|items| items.last())
        .cloned()
        .expect("messages");
    assert_eq!(last["kind"], "system");
    assert_eq!(last["sender_role"], "system");
    assert_eq!(last["sender_id"], "ann");
    assert!(
        last["body"].as_str().is_some_and(|b| b.contains("joined")),
        "{last}"
    );
    assert!(last["body"].as_str().is_some_and(|b| b.contains("Ann")));

    // Claiming again is a no-op for the same agent.
    let (status, again) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["agent_id"], "ann");
    assert_eq!(
        app.count("SELECT count(*) FROM chat_messages WHERE kind = 'system'")
            .await,
        1
    );

    // Customers do not claim.
    let other = app.open_session(&carol).await;
    let response = app
        .session_action(&carol, &other["id"], "claim", &json!({}))
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "staff_only");
}

#[tokio::test]
async fn a_session_taken_by_another_agent_cannot_be_claimed() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let bob = app.token("bob", "agent");
    let admin = app.token("root", "admin");
    let session = app.open_session(&carol).await;
    let (status, _) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Another agent no longer sees it at all (404, as for any row not visible).
    let response = app
        .session_action(&bob, &session["id"], "claim", &json!({}))
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    // An admin sees it, and is told it is taken.
    let response = app
        .session_action(&admin, &session["id"], "claim", &json!({}))
        .await;
    assert_error(&response, StatusCode::CONFLICT, "session_not_waiting");
    assert_eq!(app.session(&admin, &session["id"]).await["agent_id"], "ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_agents_claiming_at_once_one_wins_and_the_other_gets_409() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let bob = app.token("bob", "agent");
    let session = app.open_session(&carol).await;
    // Provision both agents first.
    app.get(&ann, "/v1/support/sessions").await;
    app.get(&bob, "/v1/support/sessions").await;

    // Hold the session's row so that both claims read it as waiting and then
    // queue on the update; release, and see them resolve.
    let mut holder = pgchat::db::connect(&app.db_config).await.expect("connect");
    let hold = holder.transaction().await.expect("begin");
    let id = as_id(&session["id"]).to_owned();
    hold.execute(
        "SELECT 1 FROM live_chat_sessions WHERE id = $1::text::uuid FOR UPDATE",
        &[&id],
    )
    .await
    .expect("locking the session");

    let claim = |token: String| {
        let http = app.http.clone();
        let url = app.url(&format!("/v1/support/sessions/{id}/claim"));
        tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .expect("claim");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        })
    };
    let first = claim(ann.clone());
    let second = claim(bob.clone());

    wait_for("both claims waiting on the row", || async {
        app.db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                &[&app.db_name],
            )
            .await
            .expect("pg_stat_activity")
            .get::<_, i64>(0)
            == 2
    })
    .await;
    hold.rollback().await.expect("release");

    let mut results = vec![first.await.expect("ann"), second.await.expect("bob")];
    results.sort_by_key(|(status, _)| *status);
    assert_eq!(results[0].0, StatusCode::OK, "{:?}", results);
    assert_error(&results[1], StatusCode::CONFLICT, "session_not_waiting");
    let winner = results[0].1["agent_id"].clone();
    assert!(winner == "ann" || winner == "bob");
    let admin = app.token("root", "admin");
    assert_eq!(
        app.session(&admin, &session["id"]).await["agent_id"],
        winner
    );
    assert_eq!(
        app.count("SELECT count(*) FROM chat_messages WHERE kind = 'system'")
            .await,
        1,
        "one joined notice"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM conversation_members WHERE role = 'agent'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_agents_first_message_claims_a_waiting_session() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let bob = app.token("bob", "agent");
    let session = app.open_session(&carol).await;
    let conversation = &session["conversation_id"];

    // The customer writing again does not claim anything.
    app.send(&carol, conversation, "anyone?").await;
    assert_eq!(
        app.session(&carol, &session["id"]).await["status"],
        "waiting"
    );

    let reply = app.send(&ann, conversation, "Hello, I'm Ann").await;
    assert_eq!(reply["sender_role"], "agent");
    let now = app.session(&carol, &session["id"]).await;
    assert_eq!(now["status"], "active");
    assert_eq!(now["agent_id"], "ann");
    assert!(now["assigned_at"].is_string(), "{now}");
    assert!(now["first_response_at"].is_string(), "{now}");

    // The joined notice comes before the reply.
    let items = app.messages(&carol, conversation, "").await["items"].clone();
    let kinds: Vec<&str> = items
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["text", "text", "system", "text"]);

    // Another agent may no longer write (nor see) it.
    let response = app
        .send_json(
            &bob,
            conversation,
            &json!({ "body": "me too", "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");

    // first_response_at is the first answer, not the latest.
    let first = now["first_response_at"].clone();
    // A later answer gets a later timestamp (or the check means nothing).
    wait_for("the database's clock past the first answer", || async {
        app.db
            .query_one(
                "SELECT clock_timestamp() > $1::text::timestamptz",
                &[&first.as_str().expect("a timestamp")],
            )
            .await
            .expect("comparing timestamps")
            .get::<_, bool>(0)
    })
    .await;
    app.send(&ann, conversation, "Still there?").await;
    assert_eq!(
        app.session(&carol, &session["id"]).await["first_response_at"],
        first
    );
}

#[tokio::test]
async fn an_ended_session_takes_no_more_messages_and_the_customer_can_open_another() {
    let app = spawn_app().await;
    let carol = app.token_named("carol", "user", "Carol");
    let ann = app.token("ann", "agent");
    let session = app.open_session(&carol).await;
    let conversation = &session["conversation_id"];
    app.send(&ann, conversation, "Hi").await;

    let (status, ended) = app
        .session_action(&carol, &session["id"], "end", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["ended_by"], "carol");
    assert!(ended["ended_at"].is_string());
    let items = app.messages(&ann, conversation, "").await["items"].clone();
    let notice = items.as_array().and_then(|i| i.last()).expect("notice");
    assert_eq!(notice["kind"], "system");
    assert!(notice["body"].as_str().is_some_and(|b| b.contains("ended")));

    let before = app.counts().await;
    for token in [&carol, &ann] {
        let response = app
            .send_json(
                token,
                conversation,
                &json!({ "body": "one more thing", "client_msg_id": Uuid::new_v4() }),
            )
            .await;
        assert_error(&response, StatusCode::CONFLICT, "session_ended");
    }
    let response = app
        .session_action(&ann, &session["id"], "end", &json!({}))
        .await;
    assert_error(&response, StatusCode::CONFLICT, "session_ended");
    let admin = app.token("root", "admin");
    let response = app
        .session_action(&admin, &session["id"], "claim", &json!({}))
        .await;
    assert_error(&response, StatusCode::CONFLICT, "session_ended");
    assert_eq!(app.counts().await, before);
    assert_eq!(app.session(&carol, &session["id"]).await["status"], "ended");

    let next = app.open_session(&carol).await;
    assert_ne!(next["id"], session["id"]);
    assert_eq!(next["status"], "waiting");
}

#[tokio::test]
async fn only_the_customer_rates_an_ended_session_once_from_1_to_5() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");
    let ann = app.token("ann", "agent");
    let admin = app.token("root", "admin");
    let session = app.open_session(&carol).await;
    app.send(&ann, &session["conversation_id"], "Hi").await;
    let id = &session["id"];

    let response = app
        .session_action(&carol, id, "rating", &json!({ "rating": 5 }))
        .await;
    assert_error(&response, StatusCode::CONFLICT, "session_not_ended");

    let (status, _) = app.session_action(&ann, id, "end", &json!({})).await;
    assert_eq!(status, StatusCode::OK);

    for bad in [
        json!(0),
        json!(6),
        json!(-1),
        json!(4.5),
        json!("5"),
        json!(null),
    ] {
        let response = app
            .session_action(&carol, id, "rating", &json!({ "rating": bad }))
            .await;
        assert_eq!(response.0, StatusCode::BAD_REQUEST, "{bad}: {}", response.1);
        assert!(response.1["error"]["code"].is_string());
    }
    let response = app
        .session_action(&ann, id, "rating", &json!({ "rating": 1 }))
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "customer_only");
    let response = app
        .session_action(&admin, id, "rating", &json!({ "rating": 1 }))
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "customer_only");
    let response = app
        .session_action(&dave, id, "rating", &json!({ "rating": 1 }))
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let unrated = app.session(&admin, id).await;
    assert_eq!(unrated["rating"], Value::Null);

    let (status, rated) = app
        .session_action(
            &carol,
            id,
            "rating",
            &json!({ "rating": 4, "feedback": "Quick and kind" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rated}");
    assert_eq!(rated["rating"], 4);
    assert_eq!(rated["feedback"], "Quick and kind");
    assert!(rated["rated_at"].is_string());

    let response = app
        .session_action(&carol, id, "rating", &json!({ "rating": 1 }))
        .await;
    assert_error(&response, StatusCode::CONFLICT, "already_rated");
    let stored = app.session(&admin, id).await;
    assert_eq!(stored["rating"], 4);
    assert_eq!(stored["feedback"], "Quick and kind");

    // Feedback is optional; every value from 1 to 5 is accepted.
    for rating in 1..=5 {
        let other = app.open_session(&carol).await;
        app.session_action(&carol, &other["id"], "end", &json!({}))
            .await;
        let (status, rated) = app
            .session_action(&carol, &other["id"], "rating", &json!({ "rating": rating }))
            .await;
        assert_eq!(status, StatusCode::OK, "{rated}");
        assert_eq!(rated["rating"], rating);
        assert_eq!(rated["feedback"], Value::Null);
    }
}

#[tokio::test]
async fn only_customers_open_sessions() {
    let app = spawn_app().await;
    for token in [app.token("ann", "agent"), app.token("root", "admin")] {
        let response = app
            .post(
                &token,
                "/v1/support/sessions",
                &open_body("staff", Uuid::new_v4()),
            )
            .await;
        assert_error(&response, StatusCode::FORBIDDEN, "customers_only");
    }
    assert_eq!(app.counts().await.sessions, 0);
}

/// A session's rating is the session guard's rule, in SQL, and says why it
/// refuses (PC001 with the reason) to psql as to the API: by the customer,
/// after the end, once.
#[tokio::test]
async fn in_sql_a_rating_says_why_it_is_refused() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let session = app.open_session(&carol).await;
    let id = as_id(&session["id"]).to_owned();
    let rate = |sub: &'static str, role: &'static str| {
        let (app, id) = (&app, id.clone());
        async move {
            app.sql_as(
                sub,
                role,
                "UPDATE live_chat_sessions SET rating = 5, rated_at = now() WHERE id = $1::text::uuid",
                &[&id],
            )
            .await
        }
    };
    crate::helpers::assert_sql_refused(rate("carol", "user").await, "session_not_ended");
    let (status, body) = app
        .session_action(&carol, &session["id"], "end", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::helpers::assert_sql_refused(rate("root", "admin").await, "customer_only");
    rate("carol", "user")
        .await
        .expect("the customer rates once");
    crate::helpers::assert_sql_refused(rate("carol", "user").await, "already_rated");
    // the API answers with the same code
    let response = app
        .session_action(&carol, &session["id"], "rating", &json!({ "rating": 4 }))
        .await;
    assert_error(&response, StatusCode::CONFLICT, "already_rated");
}
