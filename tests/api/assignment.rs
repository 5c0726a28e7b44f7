//! Auto-assignment under concurrency: 50 sessions opened at once with 5 agents,
//! for each mode; capacity freeing up; the queue's order; manual assignment.

use std::collections::HashMap;

use pgchat::config::AssignmentMode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::desk::enrol;
use crate::helpers::{spawn_app, spawn_app_with, wait_for, TestApp};
use crate::ws_client::{conn_string, Node};

const AGENTS: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];
/// The application_name of the second node's pool (ours is `pgchat`).
const OTHER_NODE: &str = "pgchat-other";

async fn app_in(mode: AssignmentMode) -> TestApp {
    spawn_app_with(|config| config.desk.assignment_mode = mode).await
}

/// Opens `n` sessions at once, each by its own customer; returns them.
async fn open_concurrently(app: &TestApp, n: usize) -> Vec<Value> {
    let customers: Vec<String> = (0..n)
        .map(|i| app.token(&format!("cust{i}"), "user"))
        .collect();
    // Provision the customers first: the race under test is the assignment's.
    futures::future::join_all(customers.iter().map(|c| app.get(c, "/v1/support/sessions"))).await;
    let bodies: Vec<Value> = (0..n)
        .map(|_| json!({ "subject": "Help", "message": { "body": "hello", "client_msg_id": Uuid::new_v4() } }))
        .collect();
    let opened = futures::future::join_all(
        customers
            .iter()
            .zip(&bodies)
            .map(|(c, body)| app.post(c, "/v1/support/sessions", body)),
    )
    .await;
    opened
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body
        })
        .collect()
}

/// Active sessions per agent.
async fn loads(app: &TestApp) -> HashMap<String, i64> {
    let rows = app
        .db
        .query(
            "SELECT agent_id, count(*) FROM live_chat_sessions WHERE status = 'active' GROUP BY agent_id",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Nothing was assigned twice: one assignment row, one agent membership and
/// one "joined" notice per assigned session, and the session's agent is that one.
async fn assert_assigned_once(app: &TestApp) {
    let bad = app
        .count(
            "SELECT count(*) FROM live_chat_sessions s
              WHERE s.agent_id IS NOT NULL AND s.status = 'active' AND (
                    (SELECT count(*) FROM session_assignments h WHERE h.session_id = s.id) <> 1
                 OR (SELECT count(*) FROM conversation_members m
                      WHERE m.conversation_id = s.conversation_id AND m.role = 'agent') <> 1
                 OR (SELECT count(*) FROM chat_messages c
                      WHERE c.conversation_id = s.conversation_id AND c.kind = 'system') <> 1
                 OR NOT EXISTS (SELECT 1 FROM session_assignments h
                                 WHERE h.session_id = s.id AND h.agent_id = s.agent_id))",
        )
        .await;
    assert_eq!(bad, 0, "sessions assigned more than once");
}

async fn assert_within_capacity(app: &TestApp) {
    let over = app
        .count(
            "SELECT count(*) FROM agents a
              WHERE (SELECT count(*) FROM live_chat_sessions s
                      WHERE s.agent_id = a.user_id AND s.status = 'active') > a.capacity",
        )
        .await;
    assert_eq!(
        over,
        0,
        "an agent went over capacity: {:?}",
        loads(app).await
    );
}

async fn count_active(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM live_chat_sessions WHERE status = 'active'")
        .await
}

/// A fence for the assigner of the node whose pool is `node` (its
/// application_name): waits until one of its passes (the statement `SELECT
/// pgchat.assign_waiting()`, as pg_stat_activity shows a pool connection's
/// last one) has begun after this call and ended. A node runs its passes one
/// at a time, so a pass woken earlier has ended too: whatever it was going to
/// do is done. The pass is asked for as the triggers ask (a NOTIFY).
async fn assigner_fence(app: &TestApp, node: &str) {
    let now: String = app
        .db
        .query_one("SELECT now()::text", &[])
        .await
        .expect("the database's clock")
        .get(0);
    app.db
        .execute("SELECT pg_notify($1, 'assign')", &[&pgchat::desk::CHANNEL])
        .await
        .expect("waking the assigners");
    wait_for("an assigner pass begun and ended since", || async {
        app.db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND application_name = $2 AND state = 'idle'
                    AND query = 'SELECT pgchat.assign_waiting()' AND query_start > $1::text::timestamptz",
                &[&now, &node],
            )
            .await
            .expect("pg_stat_activity")
            .get::<_, i64>(0)
            > 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn least_loaded_spreads_50_concurrent_sessions_evenly_and_never_over_capacity() {
    let app = spawn_app().await;
    for agent in AGENTS {
        enrol(&app, agent, "online", 8).await;
    }
    open_concurrently(&app, 50).await;
    wait_for("40 sessions active", || async {
        count_active(&app).await == 40
    })
    .await;
    // A straggling pass has had its chance to do something wrong.
    assigner_fence(&app, "pgchat").await;

    assert_eq!(count_active(&app).await, 40);
    let waiting = app
        .count("SELECT count(*) FROM live_chat_sessions WHERE status = 'waiting'")
        .await;
    assert_eq!(waiting, 10, "the rest waits");
    let spread = loads(&app).await;
    for agent in AGENTS {
        assert_eq!(spread.get(agent), Some(&8), "{spread:?}");
    }
    assert_within_capacity(&app).await;
    assert_assigned_once(&app).await;

    // Capacity frees: a0 ends three chats, and the queue refills a0 (and only a0).
    let a0 = app.token("a0", "agent");
    let mine = app
        .db
        .query(
            "SELECT id FROM live_chat_sessions WHERE agent_id = 'a0' AND status = 'active' LIMIT 3",
            &[],
        )
        .await
        .unwrap();
    for row in mine {
        let id: Uuid = row.get(0);
        let (status, body) = app.session_action(&a0, &json!(id), "end", &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    wait_for("a0 refilled", || async {
        loads(&app).await.get("a0") == Some(&8)
    })
    .await;
    let waiting = app
        .count("SELECT count(*) FROM live_chat_sessions WHERE status = 'waiting'")
        .await;
    assert_eq!(waiting, 7);
    assert_within_capacity(&app).await;
    assert_assigned_once(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_robin_gives_each_agent_the_same_number_whatever_their_load() {
    let app = app_in(AssignmentMode::RoundRobin).await;
    for agent in AGENTS {
        enrol(&app, agent, "offline", 20).await;
    }
    preload(&app, "a0", 3).await;
    for agent in AGENTS {
        enrol(&app, agent, "online", 20).await;
    }
    open_concurrently(&app, 50).await;
    wait_for("53 sessions active", || async {
        count_active(&app).await == 53
    })
    .await;
    assigner_fence(&app, "pgchat").await;

    let auto = app
        .db
        .query(
            "SELECT agent_id, count(*) FROM session_assignments WHERE kind = 'auto' GROUP BY agent_id",
            &[],
        )
        .await
        .unwrap();
    let auto: HashMap<String, i64> = auto.iter().map(|r| (r.get(0), r.get(1))).collect();
    for agent in AGENTS {
        assert_eq!(auto.get(agent), Some(&10), "turns: {auto:?}");
    }
    assert_eq!(loads(&app).await.get("a0"), Some(&13));
    assert_within_capacity(&app).await;
    assert_assigned_once_auto(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn least_loaded_evens_out_an_agent_who_already_has_work() {
    let app = spawn_app().await;
    for agent in AGENTS {
        enrol(&app, agent, "offline", 20).await;
    }
    preload(&app, "a0", 3).await;
    for agent in AGENTS {
        enrol(&app, agent, "online", 20).await;
    }
    open_concurrently(&app, 50).await;
    wait_for("53 sessions active", || async {
        count_active(&app).await == 53
    })
    .await;
    assigner_fence(&app, "pgchat").await;

    let loads = loads(&app).await;
    let (min, max) = (loads.values().min().unwrap(), loads.values().max().unwrap());
    assert!(max - min <= 1, "least-loaded leaves loads even: {loads:?}");
    assert_eq!(loads.values().sum::<i64>(), 53);
    assert_within_capacity(&app).await;
    assert_assigned_once_auto(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn manual_mode_assigns_nothing_by_itself_and_an_admin_assigns() {
    let app = app_in(AssignmentMode::Manual).await;
    for agent in AGENTS {
        enrol(&app, agent, "online", 8).await;
    }
    let sessions = open_concurrently(&app, 50).await;
    assigner_fence(&app, "pgchat").await;
    assert_eq!(count_active(&app).await, 0, "manual: nobody is assigned");

    let admin = app.token("boss", "admin");
    let (status, session) = app
        .session_action(
            &admin,
            &sessions[7]["id"],
            "assign",
            &json!({ "agent_id": "a3" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["status"], "active");
    assert_eq!(session["agent_id"], "a3");
    let kind: String = app
        .db
        .query_one("SELECT kind FROM session_assignments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind, "assign");
}

/// Gives `agent` `n` active sessions of their own choice (claims: not auto).
async fn preload(app: &TestApp, agent: &str, n: usize) {
    let token = app.token(agent, "agent");
    for i in 0..n {
        let customer = app.token(&format!("early{i}"), "user");
        let session = app.open_session(&customer).await;
        let (status, body) = app
            .session_action(&token, &session["id"], "claim", &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Like `assert_assigned_once`, for sessions that were auto-assigned.
async fn assert_assigned_once_auto(app: &TestApp) {
    let twice = app
        .count(
            "SELECT count(*) FROM (SELECT session_id FROM session_assignments
                                    GROUP BY session_id HAVING count(*) > 1) x",
        )
        .await;
    assert_eq!(twice, 0);
    assert_assigned_once(app).await;
}

#[tokio::test]
async fn the_queue_drains_by_priority_then_age_when_an_agent_comes_online() {
    let app = spawn_app().await;
    enrol(&app, "ann", "offline", 3).await;
    let mut ids = HashMap::new();
    for (i, priority) in ["low", "medium", "urgent", "medium", "high", "urgent"]
        .iter()
        .enumerate()
    {
        let customer = app.token(&format!("c{i}"), "user");
        let (status, session) = app
            .post(
                &customer,
                "/v1/support/sessions",
                &json!({ "subject": format!("s{i}"), "priority": priority,
                         "message": { "body": "hi", "client_msg_id": Uuid::new_v4() } }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.insert(session["id"].as_str().unwrap().to_owned(), format!("s{i}"));
    }
    enrol(&app, "ann", "online", 3).await;
    wait_for("three assigned", || async { count_active(&app).await == 3 }).await;
    let order: Vec<String> = app
        .db
        .query(
            "SELECT s.subject FROM session_assignments h JOIN live_chat_sessions s ON s.id = h.session_id ORDER BY h.id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        order,
        ["s2", "s5", "s4"],
        "urgent (oldest first), then high"
    );

    // More capacity: the next in line (the older medium) comes.
    enrol(&app, "ann", "online", 4).await;
    wait_for("four assigned", || async { count_active(&app).await == 4 }).await;
    let last: String = app
        .db
        .query_one(
            "SELECT s.subject FROM session_assignments h JOIN live_chat_sessions s ON s.id = h.session_id
              ORDER BY h.id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(last, "s1");
}

#[tokio::test]
async fn away_busy_and_disabled_agents_and_those_without_the_skill_get_nothing() {
    let app = spawn_app().await;
    let admin = app.token("boss", "admin");
    enrol(&app, "away", "away", 5).await;
    enrol(&app, "busy", "busy", 5).await;
    enrol(&app, "off", "online", 5).await;
    let (status, body) = app
        .call(
            app.http
                .put(app.url("/v1/agents/off"))
                .bearer_auth(&admin)
                .json(&json!({ "enabled": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    enrol(&app, "payments", "online", 5).await;
    let (status, body) = app
        .call(
            app.http
                .put(app.url("/v1/agents/payments"))
                .bearer_auth(&admin)
                .json(&json!({ "skills": ["payment"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["skills"], json!(["payment"]));

    let customer = app.token("carol", "user");
    let shipping = app
        .post(
            &customer,
            "/v1/support/sessions",
            &json!({ "subject": "Where is it", "category": "shipping",
                     "message": { "body": "hi", "client_msg_id": Uuid::new_v4() } }),
        )
        .await
        .1;
    let payment = app
        .post(
            &customer,
            "/v1/support/sessions",
            &json!({ "subject": "Charged twice", "category": "payment",
                     "message": { "body": "hi", "client_msg_id": Uuid::new_v4() } }),
        )
        .await
        .1;
    wait_for("the payment session assigned", || async {
        app.session(&customer, &payment["id"]).await["agent_id"] == "payments"
    })
    .await;
    assigner_fence(&app, "pgchat").await;
    assert_eq!(
        app.session(&customer, &shipping["id"]).await["status"],
        "waiting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_assigning_at_once_keep_every_agent_within_capacity() {
    let app = spawn_app().await;
    // Its pool named apart from ours, for the fence.
    let url = format!(
        "{} application_name={OTHER_NODE}",
        conn_string(&app.db_config)
    );
    let node = Node::start_with(&url, &app.secret, &[]).await;
    for agent in AGENTS {
        enrol(&app, agent, "online", 6).await;
    }
    let customers: Vec<String> = (0..50)
        .map(|i| app.token(&format!("cust{i}"), "user"))
        .collect();
    futures::future::join_all(customers.iter().map(|c| app.get(c, "/v1/support/sessions"))).await;
    // Half through this node, half through the other: both nodes' assigners race.
    let client = reqwest::Client::new();
    let opened = futures::future::join_all(customers.iter().enumerate().map(|(i, c)| {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            format!("http://127.0.0.1:{}", node.port)
        };
        let request = client
            .post(format!("{base}/v1/support/sessions"))
            .bearer_auth(c)
            .json(&json!({ "subject": "Help", "message": { "body": "hi", "client_msg_id": Uuid::new_v4() } }));
        async move { request.send().await.map(|r| r.status()) }
    }))
    .await;
    assert!(opened
        .iter()
        .all(|s| matches!(s, Ok(s) if *s == StatusCode::CREATED)));
    wait_for("30 sessions active", || async {
        count_active(&app).await == 30
    })
    .await;
    assigner_fence(&app, "pgchat").await;
    assigner_fence(&app, OTHER_NODE).await;
    let spread = loads(&app).await;
    for agent in AGENTS {
        assert_eq!(spread.get(agent), Some(&6), "{spread:?}");
    }
    assert_within_capacity(&app).await;
    assert_assigned_once_auto(&app).await;

    // A session ended with plain SQL frees capacity too: the queue drains.
    app.db
        .execute(
            "UPDATE live_chat_sessions SET status = 'ended', ended_at = now()
              WHERE id = (SELECT id FROM live_chat_sessions WHERE agent_id = 'a2' AND status = 'active' LIMIT 1)",
            &[],
        )
        .await
        .unwrap();
    wait_for("a2 refilled", || async {
        loads(&app).await.get("a2") == Some(&6)
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM live_chat_sessions WHERE status = 'waiting'")
            .await,
        19
    );
}
