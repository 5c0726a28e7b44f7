//! The desk: agents and their status (REST and WebSocket presence),
//! auto-assignment seen over a real WebSocket, transfer, manual assignment,
//! PATCH, ticket search, the inactivity timeout, and internal notes kept out
//! of every customer-facing path.

use pgchat::config::AssignmentMode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    as_id, assert_error, assert_sql_refused, ids, spawn_app, spawn_app_with, wait_for, TestApp,
};
use crate::ws_client::Ws;

/// Puts `agent` on the desk with `status` and `capacity` (PUT /v1/agents/me).
pub async fn enrol(app: &TestApp, agent: &str, status: &str, capacity: i64) -> Value {
    let token = app.token(agent, "agent");
    let (code, body) = put(
        app,
        &token,
        "/v1/agents/me",
        &json!({ "status": status, "capacity": capacity }),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "enrolling {agent}: {body}");
    body
}

pub async fn put(app: &TestApp, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    app.call(app.http.put(app.url(path)).bearer_auth(token).json(body))
        .await
}

#[tokio::test]
async fn agents_set_their_status_and_capacity_and_admins_manage_the_desk() {
    let app = spawn_app().await;
    let ann = app.token_named("ann", "agent", "Ann");
    let admin = app.token("boss", "admin");
    let customer = app.token("carol", "user");
    app.get(&customer, "/v1/support/sessions").await; // carol is known

    let me = enrol(&app, "ann", "away", 3).await;
    assert_eq!(me["agent_id"], "ann");
    assert_eq!(me["status"], "away");
    assert_eq!(me["capacity"], 3);
    assert_eq!(me["active_sessions"], 0);
    assert_eq!(me["skills"], json!([]));
    assert_eq!(me["enabled"], true);
    let (status, me) = put(&app, &ann, "/v1/agents/me", &json!({ "status": "busy" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["status"].as_str(), me["capacity"].as_i64()),
        (Some("busy"), Some(3))
    );
    assert_eq!(app.get(&ann, "/v1/agents/me").await.1["status"], "busy");

    // Staff list the desk; customers may not.
    let (status, list) = app.get(&ann, "/v1/agents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_of(&list["items"]), ["ann"]);
    assert_error(
        &app.get(&customer, "/v1/agents").await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    assert_error(
        &put(
            &app,
            &customer,
            "/v1/agents/me",
            &json!({ "status": "online" }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );

    // Skills and enablement are for admins; admins enrol others.
    assert_error(
        &put(
            &app,
            &ann,
            "/v1/agents/me",
            &json!({ "skills": ["payment"] }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &put(&app, &ann, "/v1/agents/bob", &json!({ "capacity": 9 })).await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    app.get(&app.token("bob", "agent"), "/v1/support/sessions")
        .await; // bob is known
    let (status, bob) = put(
        &app,
        &admin,
        "/v1/agents/bob",
        &json!({ "capacity": 9, "skills": ["returns", "payment", "returns"], "status": "online" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{bob}");
    assert_eq!(bob["skills"], json!(["payment", "returns"]));
    assert_eq!(bob["capacity"], 9);
    let (status, online) = app.get(&admin, "/v1/agents?status=online").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_of(&online["items"]), ["bob"]);
    assert_error(
        &put(&app, &admin, "/v1/agents/carol", &json!({ "capacity": 1 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_staff",
    );
    assert_error(
        &put(&app, &admin, "/v1/agents/nobody", &json!({ "capacity": 1 })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, _) = app.delete(&admin, "/v1/agents/bob").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get(&ann, "/v1/agents/bob").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Bad input is a 400 naming the problem.
    for body in [
        json!({ "capacity": -1 }),
        json!({ "capacity": 1001 }),
        json!({ "status": "sleeping" }),
        json!({ "skills": ["gardening"] }),
        json!({ "status": "online", "colour": "red" }),
    ] {
        let response = put(&app, &ann, "/v1/agents/me", &body).await;
        assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    }
}

fn ids_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["agent_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn websocket_presence_drives_an_enrolled_agents_desk_status() {
    let app = spawn_app().await;
    enrol(&app, "ann", "offline", 2).await;
    let ann = app.token("ann", "agent");
    let mut watcher = Ws::connect(app.port, &app.token("boss", "admin")).await;
    watcher.subscribe("support:queue", None).await;

    let mut socket = Ws::connect(app.port, &ann).await;
    let status = || async {
        app.get(&app.token("boss", "admin"), "/v1/agents/ann")
            .await
            .1["status"]
            .clone()
    };
    wait_for("online on connect", || async { status().await == "online" }).await;
    let answer = socket
        .request(json!({ "type": "set_presence", "status": "busy" }))
        .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    wait_for("busy", || async { status().await == "busy" }).await;
    // A REST change reaches support:queue as presence too, in the one
    // presence shape (her status text with it).
    let (code, body) = app
        .patch(
            &ann,
            "/v1/presence/me",
            &json!({ "status_text": "Back at two" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    put(&app, &ann, "/v1/agents/me", &json!({ "status": "away" })).await;
    loop {
        let event = watcher.event_of("presence").await;
        if event["user_id"] == "ann" && event["status"] == "away" {
            assert_eq!(event["status_text"], "Back at two", "{event}");
            break;
        }
    }
    socket.close().await;
    wait_for("offline once the last connection is gone", || async {
        status().await == "offline"
    })
    .await;

    // A connection may start away (the desk after a reload): never online in between.
    let mut back = Ws::connect(app.port, &format!("{ann}&status=away")).await;
    assert_eq!(
        back.request(json!({ "type": "ping" })).await["type"],
        "pong"
    );
    assert_eq!(status().await, "away");
    assert_eq!(
        app.count("SELECT count(*) FROM presence WHERE user_id = 'ann' AND status = 'away'")
            .await,
        1
    );
    back.close().await;
    wait_for("offline again", || async { status().await == "offline" }).await;

    // Staff who are not on the desk are not enrolled by connecting. The
    // fence: a socket answers commands only once its connect is handled.
    let mut other = Ws::connect(app.port, &app.token("zed", "agent")).await;
    assert_eq!(
        other.request(json!({ "type": "ping" })).await["type"],
        "pong"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM agents WHERE user_id = 'zed'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_new_session_is_auto_assigned_and_every_topic_hears_of_it() {
    let app = spawn_app().await;
    enrol(&app, "ann", "online", 2).await;
    let ann = app.token_named("ann", "agent", "Ann");
    let customer = app.token_named("carol", "user", "Carol");
    let mut desk = Ws::connect(app.port, &ann).await;
    desk.subscribe("support:queue", None).await;
    desk.subscribe("inbox", None).await;
    let mut widget = Ws::connect(app.port, &customer).await;
    widget.subscribe("inbox", None).await;

    let session = app.open_session(&customer).await;
    assert_eq!(
        session["status"], "waiting",
        "the 201 is the session as opened"
    );

    let assigned = |frame: &Value| {
        frame["type"] == "session_updated"
            && frame["session"]["id"] == session["id"]
            && frame["session"]["status"] == "active"
    };
    let mut seen = 0;
    while seen < 2 {
        let frame = desk.event().await;
        if assigned(&frame) {
            assert_eq!(frame["session"]["agent_id"], "ann");
            assert_eq!(frame["session"]["agent_name"], "Ann");
            seen += 1; // once on support:queue, once on ann's inbox
        }
    }
    loop {
        let frame = widget.event().await;
        if assigned(&frame) {
            break;
        }
    }
    let messages = app
        .messages(&customer, &session["conversation_id"], "")
        .await;
    let last = messages["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["kind"].as_str(), last["body"].as_str()),
        (Some("system"), Some("Ann joined the chat"))
    );
    let kind: String = app
        .db
        .query_one("SELECT kind FROM session_assignments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind, "auto");

    // Ann answers (first response), ends; the customer rates and starts anew.
    app.send(&ann, &session["conversation_id"], "Hi Carol")
        .await;
    let (status, ended) = app
        .session_action(&ann, &session["id"], "end", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ended["ended_reason"], "agent");
    assert!(ended["first_response_at"].is_string());
    let (status, rated) = app
        .session_action(
            &customer,
            &session["id"],
            "rating",
            &json!({ "rating": 5, "feedback": "quick" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rated["rating"], 5);
    let again = app.open_session(&customer).await;
    assert_ne!(again["id"], session["id"]);
    wait_for("the new session assigned", || async {
        app.session(&customer, &again["id"]).await["agent_id"] == "ann"
    })
    .await;
}

/// Ann (on the desk) has Carol's session; Bob is on the desk too.
async fn active_with_ann(app: &TestApp) -> Value {
    enrol(app, "ann", "online", 5).await;
    let customer = app.token_named("carol", "user", "Carol");
    let session = app.open_session(&customer).await;
    wait_for("assigned to ann", || async {
        app.session(&customer, &session["id"]).await["agent_id"] == "ann"
    })
    .await;
    enrol(app, "bob", "away", 1).await;
    session
}

#[tokio::test]
async fn a_transfer_moves_the_session_with_a_notice_and_events_for_both_agents_and_the_customer() {
    let app = spawn_app().await;
    // Names come from the tokens the agents used.
    app.get(&app.token_named("ann", "agent", "Ann"), "/v1/agents")
        .await;
    app.get(&app.token_named("bob", "agent", "Bob"), "/v1/agents")
        .await;
    let session = active_with_ann(&app).await;
    let (ann, bob) = (app.token("ann", "agent"), app.token("bob", "agent"));
    let customer = app.token("carol", "user");
    let topic = format!("conversation:{}", as_id(&session["conversation_id"]));
    let mut ann_ws = Ws::connect(app.port, &ann).await;
    ann_ws.subscribe("inbox", None).await;
    let mut bob_ws = Ws::connect(app.port, &bob).await;
    bob_ws.subscribe("inbox", None).await;
    let mut carol_ws = Ws::connect(app.port, &customer).await;
    carol_ws.subscribe(&topic, None).await;

    let (status, moved) = app
        .session_action(
            &ann,
            &session["id"],
            "transfer",
            &json!({ "agent_id": "bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["agent_id"], "bob");
    assert_eq!(moved["status"], "active");

    for ws in [&mut ann_ws, &mut bob_ws] {
        let frame = ws.event_of("session_updated").await;
        assert_eq!(frame["session"]["agent_id"], "bob");
    }
    // The customer's chat: Ann out, Bob in, the session change, the notice — in that order.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let frame = carol_ws.event().await;
        match frame["type"].as_str() {
            Some("session_updated") => {
                assert_eq!(frame["session"]["agent_id"], "bob");
                seen.push("session_updated".to_owned());
            }
            Some("member_joined") | Some("member_left") => {
                seen.push(format!(
                    "{} {}",
                    frame["type"].as_str().unwrap(),
                    frame["member"]["user_id"].as_str().unwrap_or("?")
                ));
            }
            Some("message_new") => {
                assert_eq!(frame["message"]["kind"], "system");
                assert_eq!(frame["message"]["body"], "Ann transferred the chat to Bob");
                seen.push("message_new".to_owned());
            }
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "member_left ann",
            "member_joined bob",
            "session_updated",
            "message_new"
        ]
    );

    // Ann lost the chat; Bob has it.
    assert_error(
        &app.get(
            &ann,
            &format!("/v1/support/sessions/{}", as_id(&session["id"])),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    app.send(&bob, &session["conversation_id"], "Bob here")
        .await;
    let row = app
        .db
        .query_one(
            "SELECT kind, agent_id, previous_agent_id, assigned_by FROM session_assignments ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let got: (String, String, Option<String>, Option<String>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        got,
        (
            "transfer".into(),
            "bob".into(),
            Some("ann".into()),
            Some("ann".into())
        )
    );

    // An admin moves it back; Bob (online since his socket connected, capacity 1)
    // then gets the next session by least-loaded, and is full.
    let admin = app.token("boss", "admin");
    let (status, _) = app
        .session_action(
            &admin,
            &session["id"],
            "transfer",
            &json!({ "agent_id": "ann" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let other = app.open_session(&app.token("dave", "user")).await;
    wait_for("dave's session assigned", || async {
        app.session(&admin, &other["id"]).await["status"] == "active"
    })
    .await;
    assert_eq!(app.session(&admin, &other["id"]).await["agent_id"], "bob");
    assert_error(
        &app.session_action(
            &admin,
            &session["id"],
            "transfer",
            &json!({ "agent_id": "bob" }),
        )
        .await,
        StatusCode::CONFLICT,
        "agent_at_capacity",
    );
}

#[tokio::test]
async fn transfers_and_assignments_that_make_no_sense_are_refused() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let ann = app.token("ann", "agent");
    let customer = app.token("carol", "user");
    let admin = app.token("boss", "admin");
    enrol(&app, "ann", "online", 5).await;
    enrol(&app, "bob", "online", 5).await;
    let waiting = app.open_session(&customer).await;
    let id = &waiting["id"];

    assert_error(
        &app.session_action(&ann, id, "transfer", &json!({ "agent_id": "bob" }))
            .await,
        StatusCode::CONFLICT,
        "session_not_active",
    );
    assert_error(
        &app.session_action(&customer, id, "assign", &json!({ "agent_id": "bob" }))
            .await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    assert_error(
        &app.session_action(&admin, id, "assign", &json!({ "agent_id": "carol" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_agent",
    );
    assert_error(
        &app.session_action(&admin, id, "assign", &json!({ "agent_id": "" }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    // An agent may hand a waiting session to a colleague.
    let (status, body) = app
        .session_action(&ann, id, "assign", &json!({ "agent_id": "bob" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["agent_id"], "bob");
    // Assigning again to the same agent changes nothing; transferring to them is a conflict.
    let (status, _) = app
        .session_action(&admin, id, "assign", &json!({ "agent_id": "bob" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &app.session_action(&admin, id, "transfer", &json!({ "agent_id": "bob" }))
            .await,
        StatusCode::CONFLICT,
        "same_agent",
    );
    // Ann cannot see Bob's session any more: 404, not 403.
    assert_error(
        &app.session_action(&ann, id, "transfer", &json!({ "agent_id": "ann" }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let bob = app.token("bob", "agent");
    app.session_action(&bob, id, "end", &json!({})).await;
    assert_error(
        &app.session_action(&admin, id, "assign", &json!({ "agent_id": "ann" }))
            .await,
        StatusCode::CONFLICT,
        "session_ended",
    );
    assert_eq!(
        app.count("SELECT count(*) FROM session_assignments").await,
        1,
        "refusals wrote nothing"
    );
}

#[tokio::test]
async fn in_sql_handing_a_session_to_an_agent_says_why() {
    // pgchat.desk_reassign is the one copy of these rules: the API's assign
    // and transfer (above) and psql hear the same reasons.
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    enrol(&app, "ann", "online", 5).await;
    enrol(&app, "bob", "online", 1).await;
    enrol(&app, "dave", "online", 5).await;
    app.db
        .execute(
            "UPDATE agents SET enabled = false WHERE user_id = 'dave'",
            &[],
        )
        .await
        .unwrap();
    let waiting = app.open_session(&app.token("carol", "user")).await;
    let other = app.open_session(&app.token("erin", "user")).await;
    let id = |s: &Value| uuid::Uuid::parse_str(as_id(&s["id"])).unwrap();
    let (w, o) = (id(&waiting), id(&other));
    // the admin's first request makes their user (the notices name them)
    app.session(&app.token("boss", "admin"), &waiting["id"])
        .await;
    let reassign = "SELECT pgchat.desk_reassign($1, $2, $3)";
    let as_admin = |session: uuid::Uuid, agent: &'static str, transfer: bool| {
        let app = &app;
        async move {
            app.sql_as("boss", "admin", reassign, &[&session, &agent, &transfer])
                .await
        }
    };

    assert_sql_refused(as_admin(w, "bob", true).await, "session_not_active");
    assert_sql_refused(as_admin(w, "carol", false).await, "unknown_agent");
    assert_sql_refused(as_admin(w, "dave", false).await, "agent_disabled");
    as_admin(o, "bob", false)
        .await
        .expect("bob takes erin's chat");
    assert_sql_refused(as_admin(w, "bob", false).await, "agent_at_capacity");
    assert_sql_refused(
        app.sql_as("carol", "user", reassign, &[&w, &"ann", &false])
            .await,
        "staff_only",
    );
    // bob's session is not for ann to see (not_assigned, for an agent who can
    // read another's session, is in lifecycle::in_sql_who_may_change_a_session_says_why)
    let rows = app
        .sql_as("ann", "agent", reassign, &[&o, &"ann", &true])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, Option<Value>>(0), None);
    let rows = as_admin(w, "ann", false)
        .await
        .expect("ann takes carol's chat");
    let session: Value = rows[0].get(0);
    assert_eq!(session["agent_id"], "ann");
    assert_sql_refused(as_admin(w, "ann", true).await, "same_agent");
    app.session_action(
        &app.token("ann", "agent"),
        &waiting["id"],
        "end",
        &json!({}),
    )
    .await;
    assert_sql_refused(as_admin(w, "bob", false).await, "session_ended");
    // a session the caller cannot see (or that does not exist) is NULL: the API's 404
    let rows = as_admin(uuid::Uuid::new_v4(), "ann", false).await.unwrap();
    assert_eq!(rows[0].get::<_, Option<Value>>(0), None);
}

#[tokio::test]
async fn staff_change_priority_and_category_and_customers_cannot() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let customer = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let session = app.open_session(&customer).await;
    let path = format!("/v1/support/sessions/{}", as_id(&session["id"]));
    let (status, changed) = app
        .patch(
            &ann,
            &path,
            &json!({ "priority": "urgent", "category": "payment" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["priority"].as_str(), changed["category"].as_str()),
        (Some("urgent"), Some("payment"))
    );
    assert_error(
        &app.patch(&customer, &path, &json!({ "priority": "low" }))
            .await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    assert_error(
        &app.patch(&ann, &path, &json!({})).await,
        StatusCode::BAD_REQUEST,
        "nothing_to_change",
    );
    assert_error(
        &app.patch(&ann, &path, &json!({ "priority": "asap" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    assert_error(
        &app.patch(&ann, &path, &json!({ "subject": "x" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    // Another agent's session is invisible to Ann.
    app.session_action(
        &app.token("bob", "agent"),
        &session["id"],
        "claim",
        &json!({}),
    )
    .await;
    assert_error(
        &app.patch(&ann, &path, &json!({ "priority": "low" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn the_inactivity_timeout_ends_idle_sessions_with_a_notice_and_the_customer_starts_anew() {
    let app = spawn_app_with(|c| {
        c.desk.inactivity_timeout_secs = 1;
        c.desk.assignment_mode = AssignmentMode::Manual;
    })
    .await;
    // The desk is open (an agent online), so the session is a live chat, not
    // an offline ticket (which waits: tests/api/business_hours.rs).
    enrol(&app, "ann", "online", 5).await;
    let customer = app.token("carol", "user");
    let session = app.open_session(&customer).await;
    assert_eq!(session["offline"], false);
    wait_for("ended by inactivity", || async {
        app.session(&customer, &session["id"]).await["status"] == "ended"
    })
    .await;
    let ended = app.session(&customer, &session["id"]).await;
    assert_eq!(ended["ended_reason"], "inactivity");
    assert_eq!(ended["ended_by"], Value::Null);
    let messages = app
        .messages(&customer, &session["conversation_id"], "")
        .await;
    let last = messages["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "system");
    assert_eq!(
        last["body"],
        "This chat was closed after 1 second without activity"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM chat_messages WHERE kind = 'system'")
            .await,
        1,
        "ended once"
    );
    let (status, _) = app
        .session_action(&customer, &session["id"], "rating", &json!({ "rating": 3 }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let again = app.open_session(&customer).await;
    assert_eq!(again["status"], "waiting");
}

#[tokio::test]
async fn sessions_are_searchable_by_message_text_customer_date_and_sla_with_cursors() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let ann = app.token("ann", "agent");
    let admin = app.token("boss", "admin");
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");
    let parcel = app
        .open_session_with(&carol, "Delivery", "My parcel never arrived")
        .await;
    let refund = app
        .open_session_with(&dave, "Money", "I want a refund please")
        .await;
    let other = app
        .open_session_with(&dave, "Login", "Cannot sign in")
        .await;

    assert_eq!(
        app.session_ids(&admin, "?q=parcel").await,
        [as_id(&parcel["id"])]
    );
    assert_eq!(
        app.session_ids(&admin, "?q=refund").await,
        [as_id(&refund["id"])]
    );
    assert_eq!(
        app.session_ids(&admin, "?q=login").await,
        [as_id(&other["id"])],
        "subject too"
    );
    assert_eq!(
        app.session_ids(&admin, "?customer_id=dave").await,
        [as_id(&other["id"]), as_id(&refund["id"])]
    );
    // A customer searches only their own.
    assert!(app.session_ids(&carol, "?q=refund").await.is_empty());

    // The SLA: backdate one session past the 120 s target without an answer.
    app.db
        .execute(
            "UPDATE live_chat_sessions SET started_at = now() - interval '10 minutes' WHERE id = $1",
            &[&Uuid::parse_str(as_id(&refund["id"])).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        app.session_ids(&admin, "?sla_breached=true").await,
        [as_id(&refund["id"])]
    );
    let breached = app.session(&admin, &refund["id"]).await;
    assert_eq!(breached["sla_breached"], true);
    assert!(breached["first_response_due_at"].is_string());
    let from = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let recent = app
        .session_ids(&admin, &format!("?from={}", urlencode(&from)))
        .await;
    assert_eq!(recent.len(), 2);
    assert!(!recent.contains(&as_id(&refund["id"]).to_owned()));

    // Cursor pagination over a filter.
    let (status, page) = app
        .get(&admin, "/v1/support/sessions?limit=1&customer_id=dave")
        .await;
    assert_eq!(status, StatusCode::OK);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = app
        .get(
            &admin,
            &format!("/v1/support/sessions?limit=1&customer_id=dave&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(&next["items"]), [as_id(&refund["id"])]);
    assert_eq!(next["next_cursor"], Value::Null);

    // Agents see the waiting queue's matches.
    assert_eq!(
        app.session_ids(&ann, "?q=parcel").await,
        [as_id(&parcel["id"])]
    );
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn internal_notes_stay_out_of_the_customers_previews_unread_counts_and_search() {
    let app = spawn_app().await;
    let customer = app.token("carol", "user");
    let ann = app.token("ann", "agent");
    let session = app.open_session_with(&customer, "Help", "hello").await;
    app.session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    app.send(&ann, &session["conversation_id"], "public answer")
        .await;
    let (status, _) = app
        .send_json(
            &ann,
            &session["conversation_id"],
            &json!({ "body": "customer seems angry zebra", "client_msg_id": Uuid::new_v4(), "internal": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (_, mine) = app.get(&customer, "/v1/support/sessions").await;
    let item = &mine["items"][0];
    assert_eq!(item["last_message"]["body"], "public answer");
    assert_eq!(item["unread"], 1);
    let (_, staff) = app.get(&ann, "/v1/support/sessions").await;
    assert_eq!(staff["items"][0]["last_message"]["internal"], true);
    assert!(app.session_ids(&customer, "?q=zebra").await.is_empty());
    assert_eq!(
        app.session_ids(&ann, "?q=zebra").await,
        [as_id(&session["id"])]
    );
    let one = app.session(&customer, &session["id"]).await;
    assert!(!one.to_string().contains("zebra"), "{one}");
}

#[tokio::test]
async fn in_sql_the_desks_role_gates_say_why() {
    let app = spawn_app().await;
    let ann = app.token("ann", "agent");
    let admin = app.token("boss", "admin");
    let customer = app.token("carol", "user");
    for token in [&ann, &admin, &customer] {
        app.get(token, "/v1/support/sessions").await; // known users
    }
    let shared = app
        .post(
            &admin,
            "/v1/support/canned",
            &json!({ "shortcut": "hi", "body": "Hello", "shared": true }),
        )
        .await
        .1;
    let shared_id = as_id(&shared["id"]).to_owned();

    // As psql with a request's claims: each gate raises PC001 with its code.
    let agents = "INSERT INTO agents (user_id) VALUES ($1)";
    assert_sql_refused(
        app.sql_as("carol", "user", agents, &[&"carol"]).await,
        "staff_only",
    );
    assert_sql_refused(
        app.sql_as("ann", "agent", agents, &[&"boss"]).await,
        "admins_only",
    );
    assert_sql_refused(
        app.sql_as("boss", "admin", agents, &[&"carol"]).await,
        "not_staff",
    );
    assert_sql_refused(
        app.sql_as("boss", "admin", agents, &[&"nobody"]).await,
        "user_not_found",
    );
    assert_sql_refused(
        app.sql_as(
            "ann",
            "agent",
            "INSERT INTO agents (user_id, skills) VALUES ('ann', '{payment}')",
            &[],
        )
        .await,
        "admins_only",
    );
    assert_sql_refused(
        app.sql_as("carol", "user", "SELECT pgchat.gate('desk')", &[])
            .await,
        "staff_only",
    );
    assert_sql_refused(
        app.sql_as("ann", "agent", "SELECT pgchat.gate('open_session')", &[])
            .await,
        "customers_only",
    );
    // teams, contacts and business hours pass gates too (the API below)
    for (sub, role, gate, code) in [
        ("carol", "user", "teams", "staff_only"),
        ("ann", "agent", "manage_teams", "admins_only"),
        ("carol", "user", "contacts", "staff_only"),
        ("ann", "agent", "business_hours", "admins_only"),
    ] {
        assert_sql_refused(
            app.sql_as(sub, role, "SELECT pgchat.gate($1)", &[&gate])
                .await,
            code,
        );
    }
    assert_sql_refused(
        app.sql_as(
            "carol",
            "user",
            "INSERT INTO canned_responses (owner_id, shortcut, body, created_by)
             VALUES ('carol', 'x', 'y', 'carol')",
            &[],
        )
        .await,
        "staff_only",
    );
    assert_sql_refused(
        app.sql_as(
            "ann",
            "agent",
            "INSERT INTO canned_responses (owner_id, shortcut, body, created_by)
             VALUES (NULL, 'x', 'y', 'ann')",
            &[],
        )
        .await,
        "admins_only",
    );
    for change in [
        "UPDATE canned_responses SET body = 'mine' WHERE id = $1::text::uuid",
        "DELETE FROM canned_responses WHERE id = $1::text::uuid",
    ] {
        assert_sql_refused(
            app.sql_as("ann", "agent", change, &[&shared_id]).await,
            "admins_only",
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM canned_responses WHERE body = 'Hello'")
            .await,
        1,
        "the shared response is untouched"
    );

    // The API answers with the same codes and statuses.
    let path = format!("/v1/support/canned/{shared_id}");
    assert_error(
        &app.patch(&ann, &path, &json!({ "body": "mine" })).await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &app.delete(&ann, &path).await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &app.get(&customer, "/v1/support/canned").await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    assert_error(
        &app.delete(&ann, "/v1/agents/boss").await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    for (token, path, code) in [
        (&customer, "/v1/teams", "staff_only"),
        (&customer, "/v1/contacts/ann", "staff_only"),
        (&ann, "/v1/admin/business-hours", "admins_only"),
    ] {
        assert_error(&app.get(token, path).await, StatusCode::FORBIDDEN, code);
    }
    assert_error(
        &app.post(&ann, "/v1/teams", &json!({ "name": "Tier 9" }))
            .await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    let session = app.open_session(&customer).await;
    assert_error(
        &app.post(
            &customer,
            &format!("/v1/support/sessions/{}/claim", as_id(&session["id"])),
            &json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    assert_error(
        &app
            .post(
                &ann,
                "/v1/support/sessions",
                &json!({ "subject": "help", "message": { "body": "hi", "client_msg_id": Uuid::new_v4() } }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "customers_only",
    );
}

#[tokio::test]
async fn a_waiting_customer_sees_their_place_in_the_queue_and_the_usual_wait() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");
    let ann = app.token("ann", "agent");
    let first = app.open_session(&carol).await;
    let second = app.open_session(&dave).await;
    let (code, dave_place) = queue_place(&app, &dave, &second["id"]).await;
    assert_eq!(code, StatusCode::OK, "{dave_place}");
    assert_eq!(dave_place["position"], 2);
    assert_eq!(dave_place["waiting"], 2);
    assert_eq!(
        dave_place["expected_wait_secs"],
        Value::Null,
        "no history yet"
    );
    // Another customer's session is not theirs to ask about.
    let (code, _) = queue_place(&app, &carol, &second["id"]).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let (code, _) = app
        .post(
            &ann,
            &format!("/v1/support/sessions/{}/claim", as_id(&first["id"])),
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, dave_place) = queue_place(&app, &dave, &second["id"]).await;
    assert_eq!(dave_place["position"], 1);
    assert_eq!(dave_place["waiting"], 1);
    assert!(
        dave_place["expected_wait_secs"].as_i64().is_some(),
        "{dave_place}"
    );
    let (_, carol_place) = queue_place(&app, &carol, &first["id"]).await;
    assert_eq!(carol_place["status"], "active");
    assert_eq!(carol_place["position"], Value::Null);
}

async fn queue_place(app: &TestApp, token: &str, session: &Value) -> (StatusCode, Value) {
    app.get(
        token,
        &format!("/v1/support/sessions/{}/queue", as_id(session)),
    )
    .await
}
