//! Business hours and offline mode: admins set the desk's weekly hours and
//! holidays (and a team's) in a time zone; a signed-in customer learns whether
//! the desk is open now, how many agents are online, when it opens next and
//! the expected first reply from recent figures; a session opened while the
//! desk is closed waits as a ticket instead of timing out.

use chrono::{Duration as Span, Utc};
use pgchat::config::AssignmentMode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::desk::{enrol, put};
use crate::helpers::{as_id, assert_error, spawn_app, spawn_app_with, wait_for, TestApp};

const HOURS: &str = "/v1/admin/business-hours";

/// Open all day, every day.
fn all_week() -> Value {
    let day = json!([{ "open": "00:00", "close": "24:00" }]);
    json!({ "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day })
}

async fn availability(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app
        .get(token, &format!("/v1/support/availability{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn admins_set_the_desks_and_teams_hours_and_bad_schedules_are_refused() {
    let app = spawn_app().await;
    let admin = app.token("boss", "admin");
    let ann = app.token("ann", "agent");
    let carol = app.token("carol", "user");
    let (status, empty) = app.get(&admin, HOURS).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty, json!({ "desk": null, "teams": [] }));

    let (_, team) = app
        .post(&admin, "/v1/teams", &json!({ "name": "Billing" }))
        .await;
    let schedule = json!({
        "desk": {
            "time_zone": "Europe/Paris",
            "weekly": { "tue": [{ "open": "14:00", "close": "18:00" }, { "open": "09:00", "close": "12:00" }] },
            "holidays": ["2026-12-25", "2026-01-01", "2026-12-25"],
        },
        "teams": [{ "team_id": team["id"], "time_zone": "UTC", "weekly": all_week() }],
    });
    let (status, set) = put(&app, &admin, HOURS, &schedule).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        (
            &set["desk"]["time_zone"],
            &set["desk"]["weekly"],
            &set["desk"]["holidays"]
        ),
        (
            &json!("Europe/Paris"),
            &json!({ "tue": [{ "open": "09:00", "close": "12:00" }, { "open": "14:00", "close": "18:00" }] }),
            &json!(["2026-01-01", "2026-12-25"]),
        )
    );
    assert_eq!(set["teams"][0]["team_id"], team["id"]);
    assert_eq!(set["teams"][0]["weekly"], all_week());

    // refused, and nothing changes
    let desk = |tz: &str, weekly: Value| json!({ "desk": { "time_zone": tz, "weekly": weekly } });
    assert_error(
        &put(&app, &admin, HOURS, &desk("Mars/Olympus_Mons", all_week())).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_time_zone",
    );
    for bad in [
        json!({ "monday": [] }),
        json!({ "mon": [{ "open": "18:00", "close": "09:00" }] }),
        json!({ "mon": [{ "open": "09:00", "close": "13:00" }, { "open": "12:00", "close": "14:00" }] }),
        json!({ "mon": [{ "open": "9h", "close": "17:00" }] }),
    ] {
        assert_error(
            &put(&app, &admin, HOURS, &desk("UTC", bad)).await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        );
    }
    assert_error(
        &put(
            &app,
            &admin,
            HOURS,
            &json!({ "teams": [{ "team_id": Uuid::new_v4(), "time_zone": "UTC", "weekly": {} }] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_team",
    );
    assert_error(
        &put(&app, &ann, HOURS, &schedule).await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &app.get(&carol, HOURS).await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_eq!(app.get(&admin, HOURS).await.1, set);

    // a deleted team takes its hours along; PUT without the desk: always open
    let (status, _) = app
        .delete(&admin, &format!("/v1/teams/{}", as_id(&team["id"])))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&admin, HOURS).await.1["teams"], json!([]));
    let (status, cleared) = put(&app, &admin, HOURS, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared, json!({ "desk": null, "teams": [] }));
}

#[tokio::test]
async fn availability_follows_the_hours_the_agents_online_and_recent_first_replies() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let admin = app.token("boss", "admin");
    let ann = app.token("ann", "agent");
    let carol = app.token("carol", "user");

    // no hours: within them always; nobody online: closed, ask for an email
    let now = availability(&app, &carol, "").await;
    assert_eq!(
        (
            &now["open"],
            &now["within_hours"],
            &now["agents_online"],
            &now["next_open_at"]
        ),
        (&json!(false), &json!(true), &json!(0), &Value::Null),
        "{now}"
    );
    assert_eq!(
        (&now["expected_first_reply_secs"], &now["ask_email"]),
        (&Value::Null, &json!(true))
    );
    enrol(&app, "ann", "online", 5).await;
    let now = availability(&app, &carol, "").await;
    assert_eq!(
        (&now["open"], &now["agents_online"], &now["ask_email"]),
        (&json!(true), &json!(1), &json!(false))
    );

    // the expected first reply: the median of recent first answers
    for secs in [30, 90, 300] {
        let customer = app.token(&format!("c{secs}"), "user");
        let session = app.open_session(&customer).await;
        let (status, _) = app
            .session_action(&ann, &session["id"], "claim", &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        app.send(&ann, &session["conversation_id"], "Hello").await;
        app.db
            .execute(
                "UPDATE live_chat_sessions SET first_response_at = started_at + make_interval(secs => $2)
                  WHERE id = $1",
                &[&Uuid::parse_str(as_id(&session["id"])).unwrap(), &f64::from(secs)],
            )
            .await
            .unwrap();
    }
    assert_eq!(
        availability(&app, &carol, "").await["expected_first_reply_secs"],
        90
    );

    // today and tomorrow (UTC) are holidays: closed though ann is online,
    // open again the day after at midnight
    let today = Utc::now().date_naive();
    let hours = json!({ "desk": {
        "time_zone": "UTC", "weekly": all_week(),
        "holidays": [today, today + Span::days(1)],
    } });
    let (status, body) = put(&app, &admin, HOURS, &hours).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let closed = availability(&app, &carol, "").await;
    assert_eq!(
        (
            &closed["open"],
            &closed["within_hours"],
            &closed["agents_online"],
            &closed["time_zone"]
        ),
        (&json!(false), &json!(false), &json!(1), &json!("UTC")),
        "{closed}"
    );
    let reopens = (today + Span::days(2))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let next: chrono::DateTime<Utc> = closed["next_open_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next, reopens, "{closed}");
    assert_eq!(closed["ask_email"], true);
    // the customer leaves an address for the answer (the existing contact route)
    let (status, body) = app
        .patch(
            &carol,
            "/v1/contacts/me",
            &json!({ "email": "carol@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(availability(&app, &carol, "").await["ask_email"], false);

    // a team with hours of its own counts only its members
    let (_, team) = app
        .post(&admin, "/v1/teams", &json!({ "name": "Night" }))
        .await;
    let hours = json!({
        "desk": hours["desk"],
        "teams": [{ "team_id": team["id"], "time_zone": "Asia/Tokyo", "weekly": all_week() }],
    });
    let (status, body) = put(&app, &admin, HOURS, &hours).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let query = format!("?team_id={}", as_id(&team["id"]));
    let night = availability(&app, &carol, &query).await;
    assert_eq!(
        (
            &night["within_hours"],
            &night["agents_online"],
            &night["open"]
        ),
        (&json!(true), &json!(0), &json!(false)),
        "{night}"
    );
    let (status, body) = put(
        &app,
        &admin,
        &format!("/v1/teams/{}/members/ann", as_id(&team["id"])),
        &json!(null),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(availability(&app, &carol, &query).await["open"], true);
}

#[tokio::test]
async fn a_session_opened_while_the_desk_is_closed_waits_as_a_ticket() {
    let app = spawn_app_with(|c| {
        c.desk.inactivity_timeout_secs = 1;
        c.desk.assignment_mode = AssignmentMode::Manual;
    })
    .await;
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");

    // nobody online: carol's session is an offline ticket
    let ticket = app.open_session(&carol).await;
    assert_eq!(ticket["offline"], true);
    // an agent comes online: dave's is a live chat
    enrol(&app, "ann", "online", 5).await;
    let chat = app.open_session(&dave).await;
    assert_eq!(chat["offline"], false);

    // the inactivity sweep ends the idle chat; the older ticket, in the same
    // pass, was left waiting
    wait_for("the idle chat ended", || async {
        app.session(&dave, &chat["id"]).await["status"] == "ended"
    })
    .await;
    let waiting = app.session(&carol, &ticket["id"]).await;
    assert_eq!(waiting["status"], "waiting", "{waiting}");
    // and an agent takes it like any other
    let ann = app.token("ann", "agent");
    let (status, taken) = app
        .session_action(&ann, &ticket["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!(taken["status"], "active");
}
