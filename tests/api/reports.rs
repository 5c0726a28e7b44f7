//! Reports: the desk's figures over a range, by day, week, agent, team and
//! label, as JSON and as CSV (a header row, RFC 4180 quoting), built in SQL
//! (also callable from psql), for admins only; bad parameters are 400s that
//! say which.

use pgchat::config::AssignmentMode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::desk::put;
use crate::helpers::{as_id, assert_error, spawn_app_with, TestApp};

const RANGE: &str = "from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z";

/// Sets a session's times (the server's own write, as psql would).
async fn times(
    app: &TestApp,
    session: &Value,
    started: &str,
    first_response_secs: Option<f64>,
    done: Option<&str>,
) {
    app.db
        .execute(
            "UPDATE live_chat_sessions
                SET started_at = $2::text::timestamptz,
                    first_response_at = $2::text::timestamptz + make_interval(secs => $3),
                    resolved_at = CASE WHEN status = 'resolved' THEN $4::text::timestamptz END,
                    ended_at = CASE WHEN status = 'ended' THEN $4::text::timestamptz END
              WHERE id = $1",
            &[
                &Uuid::parse_str(as_id(&session["id"])).unwrap(),
                &started,
                &first_response_secs,
                &done,
            ],
        )
        .await
        .unwrap();
}

async fn ok(app: &TestApp, token: &str, session: &Value, action: &str, body: Value) {
    let (status, answer) = app
        .session_action(token, &session["id"], action, &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{action}: {answer}");
}

async fn report(app: &TestApp, admin: &str, query: &str) -> Value {
    let (status, body) = app
        .get(admin, &format!("/v1/admin/reports?{RANGE}&{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The rows' (key, opened, resolved), in order.
fn counts(report: &Value) -> Vec<(Value, i64, i64)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].clone(),
                r["sessions_opened"].as_i64().unwrap(),
                r["sessions_resolved"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_group_the_desks_figures_by_day_week_agent_team_and_label_in_json_and_csv() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let admin = app.token("boss", "admin");
    let ann = app.token_named("ann", "agent", "Ann");
    let bob = app.token_named("bob", "agent", "Bob");
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");
    let erin = app.token("erin", "user");
    for agent in ["ann", "bob"] {
        let token = app.token(agent, "agent");
        let (status, body) = put(&app, &token, "/v1/agents/me", &json!({ "status": "away" })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, team) = app
        .post(&admin, "/v1/teams", &json!({ "name": "Tier \"1\", EU" }))
        .await;

    // carol's: ann's, in the team, labelled vip, answered after 60 s,
    // resolved an hour after it started, rated 5
    let s1 = app.open_session(&carol).await;
    ok(&app, &ann, &s1, "claim", json!({})).await;
    let (status, body) = app
        .patch(
            &ann,
            &format!("/v1/support/sessions/{}", as_id(&s1["id"])),
            &json!({ "team_id": team["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    put(
        &app,
        &ann,
        &format!("/v1/support/sessions/{}/labels/vip", as_id(&s1["id"])),
        &json!(null),
    )
    .await;
    ok(&app, &ann, &s1, "resolve", json!({})).await;
    ok(&app, &carol, &s1, "rating", json!({ "rating": 5 })).await;
    times(
        &app,
        &s1,
        "2026-11-02T10:00:00Z",
        Some(60.0),
        Some("2026-11-02T11:00:00Z"),
    )
    .await;
    // dave's: bob's, labelled vip and billing, answered after 120 s, ended a
    // day after it started, rated 3
    let s2 = app.open_session(&dave).await;
    ok(&app, &bob, &s2, "claim", json!({})).await;
    for label in ["vip", "billing"] {
        put(
            &app,
            &bob,
            &format!("/v1/support/sessions/{}/labels/{label}", as_id(&s2["id"])),
            &json!(null),
        )
        .await;
    }
    ok(&app, &dave, &s2, "end", json!({})).await;
    ok(&app, &dave, &s2, "rating", json!({ "rating": 3 })).await;
    times(
        &app,
        &s2,
        "2026-11-03T09:00:00Z",
        Some(120.0),
        Some("2026-11-04T09:00:00Z"),
    )
    .await;
    // erin's: still waiting, never answered (past the 120 s SLA)
    let s3 = app.open_session(&erin).await;
    times(&app, &s3, "2026-11-04T08:00:00Z", None, None).await;

    // by day: every day of the range, empty ones too
    let days = report(&app, &admin, "group_by=day").await;
    assert_eq!(
        counts(&days),
        vec![
            (json!("2026-11-01"), 0, 0),
            (json!("2026-11-02"), 1, 1),
            (json!("2026-11-03"), 1, 0),
            (json!("2026-11-04"), 1, 1),
            (json!("2026-11-05"), 0, 0),
            (json!("2026-11-06"), 0, 0),
            (json!("2026-11-07"), 0, 0),
        ]
    );
    let nov2 = &days["rows"][1];
    assert_eq!(
        (
            &nov2["first_response_secs"]["median"],
            &nov2["resolution_secs"]["average"],
            &nov2["rating_average"],
            &nov2["ratings"]
        ),
        (&json!(60.0), &json!(3600.0), &json!(5.0), &json!(1))
    );
    let nov4 = &days["rows"][3];
    assert_eq!(
        (
            &nov4["sla_breaches"],
            &nov4["first_response_secs"]["median"]
        ),
        (&json!(1), &Value::Null)
    );

    // by week (UTC, from Monday)
    let weeks = report(&app, &admin, "group_by=week").await;
    assert_eq!(
        counts(&weeks),
        vec![(json!("2026-10-26"), 0, 0), (json!("2026-11-02"), 3, 2)]
    );
    assert_eq!(
        weeks["rows"][1]["first_response_secs"],
        json!({ "median": 90.0, "average": 90.0 })
    );
    assert_eq!(weeks["rows"][1]["rating_average"], json!(4.0));

    // by agent, team and label (no agent or team: key null, last)
    let agents = report(&app, &admin, "group_by=agent").await;
    assert_eq!(
        counts(&agents),
        vec![
            (json!("ann"), 1, 1),
            (json!("bob"), 1, 1),
            (Value::Null, 1, 0)
        ]
    );
    assert_eq!(agents["rows"][0]["name"], "Ann");
    let teams = report(&app, &admin, "group_by=team").await;
    assert_eq!(
        counts(&teams),
        vec![(team["id"].clone(), 1, 1), (Value::Null, 2, 1)]
    );
    assert_eq!(teams["rows"][0]["name"], team["name"]);
    let labels = report(&app, &admin, "group_by=label").await;
    assert_eq!(
        counts(&labels),
        vec![(json!("billing"), 1, 1), (json!("vip"), 2, 2)]
    );

    // CSV: a header row, then the rows; a name with a comma and quotes quoted
    let response = app
        .http
        .get(app.url(&format!(
            "/v1/admin/reports?{RANGE}&group_by=team&format=csv"
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "key,name,sessions_opened,sessions_resolved,first_response_median_secs,first_response_avg_secs,\
         resolution_median_secs,resolution_avg_secs,sla_breaches,escalation_breaches,ratings,rating_average,\
         sentiment_average,sentiment_negative_sessions"
    );
    assert_eq!(
        lines[1],
        format!(
            "{},\"Tier \"\"1\"\", EU\",1,1,60.000,60.000,3600.000,3600.000,0,0,1,5.00,0.000,0",
            as_id(&team["id"])
        )
    );
    assert_eq!(
        lines[2],
        ",,2,1,120.000,120.000,86400.000,86400.000,1,0,1,3.00,0.000,0"
    );
    assert_eq!((lines.len(), lines[3]), (4, ""), "{csv}");
    // a text a spreadsheet would run is neutralized
    let field: String = app
        .db
        .query_one("SELECT pgchat.csv_field('=HYPERLINK(\"x\")')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(field, "\"'=HYPERLINK(\"\"x\"\")\"");
    // and psql reads the same rows
    let rows = app
        .db
        .query(
            "SELECT key, sessions_opened FROM pgchat.desk_report('2026-11-01', '2026-11-08', 'label')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn reports_carry_how_the_customers_felt() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let admin = app.token("boss", "admin");
    let carol = app.token("carol", "user");
    let dave = app.token("dave", "user");
    let angry = app
        .open_session_with(&carol, "Refund", "This is terrible, I am so angry")
        .await;
    let happy = app
        .open_session_with(&dave, "Thanks", "Thanks, great help!")
        .await;
    for session in [&angry, &happy] {
        times(&app, session, "2026-11-02T10:00:00Z", None, None).await;
    }
    let by_day = report(&app, &admin, "group_by=day").await;
    let day = &by_day["rows"][1];
    assert_eq!(day["key"], "2026-11-02", "{by_day}");
    assert_eq!(day["sentiment"]["negative_sessions"], 1, "{day}");
    // the mean of -0.791 and 0.718
    let average = day["sentiment"]["average"].as_f64().unwrap();
    assert!((-0.05..-0.02).contains(&average), "{day}");
    // a day without sessions has no average
    assert_eq!(
        by_day["rows"][0]["sentiment"],
        json!({ "average": null, "negative_sessions": 0 })
    );
}

#[tokio::test]
async fn reports_are_for_admins_and_bad_parameters_say_which() {
    let app = spawn_app_with(|c| c.desk.assignment_mode = AssignmentMode::Manual).await;
    let admin = app.token("boss", "admin");
    let ann = app.token("ann", "agent");
    let carol = app.token("carol", "user");
    for token in [&ann, &carol] {
        assert_error(
            &app.get(token, "/v1/admin/reports").await,
            StatusCode::FORBIDDEN,
            "admins_only",
        );
    }
    // defaults: the last 30 days by day
    let (status, body) = app.get(&admin, "/v1/admin/reports").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["group_by"], "day");
    assert!(
        (30..=31).contains(&body["rows"].as_array().unwrap().len()),
        "{body}"
    );
    for (query, code) in [
        ("group_by=month", "invalid_group_by"),
        ("format=xml", "invalid_format"),
        ("from=yesterday", "invalid_range"),
        (
            "from=2026-11-08T00:00:00Z&to=2026-11-01T00:00:00Z",
            "invalid_range",
        ),
        (
            "from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "invalid_range",
        ),
        ("colour=red", "invalid_query"),
    ] {
        assert_error(
            &app.get(&admin, &format!("/v1/admin/reports?{query}")).await,
            StatusCode::BAD_REQUEST,
            code,
        );
    }
}
