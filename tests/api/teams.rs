//! Teams and escalation: admins make teams of agents, staff read them; a
//! session with a team waits in that team's queue and auto-assignment gives
//! it only to the team's agents; escalation moves a session to another team
//! or up a tier, raises its priority, records why (a staff-only note), emits
//! the session's event and starts a deadline of its own, counted as breached
//! when missed. Each refusal comes from the database with its reason.

use pgchat::config::AssignmentMode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::desk::{enrol, put};
use crate::helpers::{
    as_id, assert_error, assert_sql_refused, spawn_app, spawn_app_with, wait_for, TestApp,
};
use crate::ws_client::Ws;

async fn team(app: &TestApp, admin: &str, body: Value) -> Value {
    let (status, team) = app.post(admin, "/v1/teams", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    team
}

async fn add_member(app: &TestApp, admin: &str, team: &Value, agent: &str) -> Value {
    let path = format!("/v1/teams/{}/members/{agent}", as_id(&team["id"]));
    let (status, body) = put(app, admin, &path, &json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn escalate(app: &TestApp, token: &str, session: &Value, body: Value) -> (StatusCode, Value) {
    app.session_action(token, &session["id"], "escalate", &body)
        .await
}

async fn set_team(
    app: &TestApp,
    token: &str,
    session: &Value,
    team: &Value,
) -> (StatusCode, Value) {
    app.patch(
        token,
        &format!("/v1/support/sessions/{}", as_id(&session["id"])),
        &json!({ "team_id": team }),
    )
    .await
}

#[tokio::test]
async fn admins_manage_teams_and_their_members_and_staff_read_them() {
    let app = spawn_app().await;
    let admin = app.token("boss", "admin");
    let ann = app.token("ann", "agent");
    let carol = app.token("carol", "user");
    enrol(&app, "ann", "away", 5).await;
    app.get(&carol, "/v1/support/sessions").await; // carol is known

    let billing = team(
        &app,
        &admin,
        json!({ "name": " Billing ", "description": "Invoices", "escalation_sla_secs": 600 }),
    )
    .await;
    assert_eq!(
        (
            &billing["name"],
            &billing["escalation_sla_secs"],
            &billing["members"]
        ),
        (&json!("Billing"), &json!(600), &json!([]))
    );
    assert_error(
        &app.post(&admin, "/v1/teams", &json!({ "name": "billing" }))
            .await,
        StatusCode::CONFLICT,
        "team_name_taken",
    );
    assert_error(
        &app.post(&admin, "/v1/teams", &json!({ "name": "" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    assert_error(
        &app.post(
            &admin,
            "/v1/teams",
            &json!({ "name": "X", "escalation_sla_secs": 0 }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    assert_error(
        &app.post(
            &admin,
            "/v1/teams",
            &json!({ "name": "X", "escalate_to": Uuid::new_v4() }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_team",
    );
    assert_error(
        &app.post(&ann, "/v1/teams", &json!({ "name": "Mine" }))
            .await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &app.get(&carol, "/v1/teams").await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );

    // members are agents of the desk
    let with_ann = add_member(&app, &admin, &billing, "ann").await;
    assert_eq!(with_ann["members"], json!(["ann"]));
    assert_eq!(
        add_member(&app, &admin, &billing, "ann").await["members"],
        json!(["ann"]),
        "idempotent"
    );
    let path = |who: &str| format!("/v1/teams/{}/members/{who}", as_id(&billing["id"]));
    assert_error(
        &put(&app, &admin, &path("carol"), &json!(null)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_agent",
    );
    assert_error(
        &put(&app, &ann, &path("ann"), &json!(null)).await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    let (status, listed) = app.get(&ann, "/v1/teams").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["items"][0]["members"], json!(["ann"]));

    // a second tier, named as the first's next; a team is not its own
    let tier2 = team(&app, &admin, json!({ "name": "Billing tier 2" })).await;
    let team_path = format!("/v1/teams/{}", as_id(&billing["id"]));
    let (status, changed) = app
        .patch(
            &admin,
            &team_path,
            &json!({ "escalate_to": tier2["id"], "description": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (&changed["escalate_to"], &changed["description"]),
        (&tier2["id"], &Value::Null)
    );
    assert_error(
        &app.patch(&admin, &team_path, &json!({ "escalate_to": billing["id"] }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_escalate_to",
    );
    assert_error(
        &app.patch(&admin, &team_path, &json!({ "name": "billing TIER 2" }))
            .await,
        StatusCode::CONFLICT,
        "team_name_taken",
    );
    assert_error(
        &app.patch(&admin, &team_path, &json!({})).await,
        StatusCode::BAD_REQUEST,
        "nothing_to_change",
    );

    // out of the team, then the team is gone: its sessions lose it
    let (status, body) = app.delete(&admin, &path("ann")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["members"], json!([]));
    let session = app.open_session(&carol).await;
    let (status, body) = set_team(&app, &admin, &session, &billing["id"]).await;
    assert_eq!(
        (status, &body["team_id"]),
        (StatusCode::OK, &billing["id"]),
        "{body}"
    );
    let (status, body) = app.delete(&ann, &team_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app.delete(&admin, &team_path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.delete(&admin, &team_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        app.session(&admin, &session["id"]).await["team_id"],
        Value::Null
    );
}

#[tokio::test]
async fn a_session_with_a_team_is_auto_assigned_only_to_that_teams_agents() {
    let app = spawn_app().await;
    let admin = app.token("boss", "admin");
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");
    enrol(&app, "ann", "offline", 5).await;
    enrol(&app, "bob", "offline", 5).await;
    let billing = team(&app, &admin, json!({ "name": "Billing" })).await;
    add_member(&app, &admin, &billing, "ann").await;

    // nobody online: both wait; one goes to the billing queue
    let for_billing = app.open_session(&carol).await;
    let (status, body) = set_team(&app, &admin, &for_billing, &billing["id"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let anyone = app.open_session(&dave).await;
    let (status, listed) = app
        .get(
            &admin,
            &format!("/v1/support/sessions?team_id={}", as_id(&billing["id"])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        crate::helpers::ids(&listed["items"]),
        vec![as_id(&for_billing["id"]).to_owned()]
    );

    // bob (no team) comes online: he gets the session without a team (the
    // older billing one came first in the queue and was passed over)
    enrol(&app, "bob", "online", 5).await;
    wait_for("bob has the session without a team", || async {
        app.session(&admin, &anyone["id"]).await["agent_id"] == "bob"
    })
    .await;
    let waiting = app.session(&admin, &for_billing["id"]).await;
    assert_eq!(
        (&waiting["status"], &waiting["agent_id"]),
        (&json!("waiting"), &Value::Null)
    );

    // ann, of the team, comes online: the billing session is hers
    enrol(&app, "ann", "online", 5).await;
    wait_for("ann has the billing session", || async {
        app.session(&admin, &for_billing["id"]).await["agent_id"] == "ann"
    })
    .await;
}

/// A manual desk (nothing assigned behind the test's back): carol's session,
/// claimed by ann of tier 1, whose next tier is tier 2 (lee; a 600 s
/// escalation deadline); bob is an agent of neither.
struct Desk {
    app: TestApp,
    admin: String,
    ann: String,
    bob: String,
    lee: String,
    carol: String,
    tier1: Value,
    tier2: Value,
    session: Value,
}

async fn desk() -> Desk {
    let app = spawn_app_with(|config| config.desk.assignment_mode = AssignmentMode::Manual).await;
    let admin = app.token_named("boss", "admin", "Boss");
    let ann = app.token_named("ann", "agent", "Ann");
    let bob = app.token("bob", "agent");
    let lee = app.token_named("lee", "agent", "Lee");
    let carol = app.token_named("carol", "user", "Carol");
    for agent in ["ann", "bob", "lee"] {
        enrol(&app, agent, "online", 5).await;
    }
    let tier2 = team(
        &app,
        &admin,
        json!({ "name": "Tier 2", "escalation_sla_secs": 600 }),
    )
    .await;
    add_member(&app, &admin, &tier2, "lee").await;
    let tier1 = team(
        &app,
        &admin,
        json!({ "name": "Tier 1", "escalate_to": tier2["id"] }),
    )
    .await;
    add_member(&app, &admin, &tier1, "ann").await;
    let session = app.open_session(&carol).await;
    let (status, body) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = set_team(&app, &ann, &session, &tier1["id"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Desk {
        app,
        admin,
        ann,
        bob,
        lee,
        carol,
        tier1,
        tier2,
        session,
    }
}

#[tokio::test]
async fn escalating_moves_a_session_to_the_next_tier_with_a_higher_priority_a_reason_and_a_deadline(
) {
    let Desk {
        app,
        admin,
        ann,
        bob,
        lee,
        carol,
        tier1,
        tier2,
        session,
    } = desk().await;
    let mut watcher = Ws::connect(app.port, &admin).await;
    watcher
        .subscribe(
            &format!("conversation:{}", as_id(&session["conversation_id"])),
            None,
        )
        .await;

    // who may not, and what is not an escalation, each said by the database
    assert_error(
        &escalate(&app, &carol, &session, json!({ "reason": "please" })).await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    // another agent's session is not theirs to see
    assert_error(
        &escalate(&app, &bob, &session, json!({ "reason": "mine now" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &escalate(&app, &ann, &session, json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    assert_error(
        &escalate(&app, &ann, &session, json!({ "reason": "  " })).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    assert_error(
        &escalate(
            &app,
            &ann,
            &session,
            json!({ "reason": "x", "priority": "low" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "priority_lowered",
    );
    assert_error(
        &escalate(
            &app,
            &ann,
            &session,
            json!({ "reason": "x", "team_id": Uuid::new_v4() }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_team",
    );

    // ann escalates: to tier 2 (tier 1's next), priority one step up, she
    // is not in tier 2 so it waits in its queue; the deadline is tier 2's
    let (status, escalated) = escalate(
        &app,
        &ann,
        &session,
        json!({ "reason": "Refund above my limit" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{escalated}");
    assert_eq!(
        (
            &escalated["team_id"],
            &escalated["escalation_level"],
            &escalated["priority"],
            &escalated["status"],
            &escalated["agent_id"],
            &escalated["escalation_reason"],
            &escalated["escalation_breached"],
        ),
        (
            &tier2["id"],
            &json!(1),
            &json!("high"),
            &json!("waiting"),
            &Value::Null,
            &json!("Refund above my limit"),
            &json!(false),
        ),
        "{escalated}"
    );
    let at =
        chrono::DateTime::parse_from_rfc3339(escalated["escalated_at"].as_str().unwrap()).unwrap();
    let due =
        chrono::DateTime::parse_from_rfc3339(escalated["escalation_due_at"].as_str().unwrap())
            .unwrap();
    assert_eq!((due - at).num_seconds(), 600, "{escalated}");
    let event = watcher
        .until("the escalation's session event", |f| {
            f["type"] == "session_updated" && f["session"]["escalation_level"] == 1
        })
        .await;
    assert_eq!(event.last().unwrap()["session"]["team_id"], tier2["id"]);

    // the reason is a staff-only note in the chat; the customer does not see it
    let note =
        "Ann escalated the conversation to Tier 2 (tier 1), priority high: Refund above my limit";
    let staff_view = app
        .messages(&admin, &session["conversation_id"], "?limit=100")
        .await;
    let staff_notes: Vec<&Value> = staff_view["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["body"] == note)
        .collect();
    assert_eq!(staff_notes.len(), 1, "{staff_view}");
    assert_eq!(
        (&staff_notes[0]["kind"], &staff_notes[0]["internal"]),
        (&json!("system"), &json!(true))
    );
    let customer_view = app
        .messages(&carol, &session["conversation_id"], "?limit=100")
        .await;
    assert!(
        !customer_view.to_string().contains("Refund above my limit"),
        "{customer_view}"
    );

    // waiting in tier 2's queue: bob (of no team) may not route or escalate it,
    // ann (tier 1) neither; lee (tier 2) may
    assert_error(
        &escalate(&app, &bob, &session, json!({ "reason": "x" })).await,
        StatusCode::FORBIDDEN,
        "not_your_team",
    );
    assert_error(
        &set_team(&app, &ann, &session, &tier1["id"]).await,
        StatusCode::FORBIDDEN,
        "not_your_team",
    );
    assert_error(
        &set_team(&app, &carol, &session, &tier1["id"]).await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    // tier 2 has no next tier: a tier up within it, priority as given
    let (status, again) = escalate(
        &app,
        &lee,
        &session,
        json!({ "reason": "Needs a manager", "priority": "urgent" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (
            &again["team_id"],
            &again["escalation_level"],
            &again["priority"]
        ),
        (&tier2["id"], &json!(2), &json!("urgent"))
    );
    assert!(
        staff_notes_contain(
            &app,
            &admin,
            &session,
            "Lee escalated the conversation to tier 2, priority urgent: Needs a manager"
        )
        .await
    );

    // over: not escalated
    let (status, _) = app
        .session_action(&admin, &session["id"], "close", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &escalate(&app, &admin, &session, json!({ "reason": "x" })).await,
        StatusCode::CONFLICT,
        "session_ended",
    );
}

async fn staff_notes_contain(app: &TestApp, admin: &str, session: &Value, body: &str) -> bool {
    let page = app
        .messages(admin, &session["conversation_id"], "?limit=100")
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["body"] == body && m["internal"] == true)
}

#[tokio::test]
async fn an_agent_who_is_in_the_target_team_keeps_the_session_and_an_admin_may_name_any_team() {
    let Desk {
        app,
        admin,
        ann,
        lee,
        tier2,
        session,
        ..
    } = desk().await;
    // ann joins tier 2 too: the escalation leaves the session with her
    add_member(&app, &admin, &tier2, "ann").await;
    let (status, escalated) =
        escalate(&app, &ann, &session, json!({ "reason": "Tier 2 question" })).await;
    assert_eq!(status, StatusCode::OK, "{escalated}");
    assert_eq!(
        (
            &escalated["status"],
            &escalated["agent_id"],
            &escalated["team_id"]
        ),
        (&json!("active"), &json!("ann"), &tier2["id"])
    );
    // lee (tier 2, not assigned) may not escalate ann's session, nor may the
    // database let him (where the API answers 404, psql hears why); an admin may
    assert_error(
        &escalate(&app, &lee, &session, json!({ "reason": "x" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let id = Uuid::parse_str(as_id(&session["id"])).unwrap();
    assert_sql_refused(
        app.sql_as(
            "lee",
            "agent",
            "SELECT pgchat.escalate($1, NULL, NULL, 'x')",
            &[&id],
        )
        .await,
        "not_assigned",
    );
    let (status, body) = escalate(
        &app,
        &admin,
        &session,
        json!({ "reason": "VIP", "team_id": tier2["id"], "priority": "urgent" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["escalation_level"], 2);
}

#[tokio::test]
async fn a_missed_escalation_deadline_is_breached_in_the_session_and_in_the_stats() {
    let Desk {
        app,
        admin,
        ann,
        lee,
        carol,
        tier2,
        session,
        ..
    } = desk().await;
    let (status, _) = escalate(&app, &ann, &session, json!({ "reason": "Hard one" })).await;
    assert_eq!(status, StatusCode::OK);
    // a second session, escalated and answered in time
    let other = app.open_session(&carol).await;
    let (status, _) = app
        .session_action(&ann, &other["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = escalate(
        &app,
        &ann,
        &other,
        json!({ "reason": "Also hard", "team_id": tier2["id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .session_action(&lee, &other["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.send(&lee, &other["conversation_id"], "On it").await;

    // the first one's deadline passes unanswered
    app.db
        .execute(
            "UPDATE live_chat_sessions SET escalation_due_at = now() - interval '1 minute' WHERE id = $1",
            &[&Uuid::parse_str(as_id(&session["id"])).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        app.session(&admin, &session["id"]).await["escalation_breached"],
        true
    );
    assert_eq!(
        app.session(&admin, &other["id"]).await["escalation_breached"],
        false
    );
    // answered late is still late
    let (status, _) = app
        .session_action(&lee, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.send(&lee, &session["conversation_id"], "Sorry for the wait")
        .await;
    assert_eq!(
        app.session(&admin, &session["id"]).await["escalation_breached"],
        true
    );

    let (status, stats) = app.get(&admin, "/v1/admin/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        stats["escalations"],
        json!({ "escalated": 2, "breached": 1 })
    );
}
