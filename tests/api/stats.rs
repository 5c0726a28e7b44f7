//! The dashboard: counts, queue, response and resolution times (median, p90),
//! CSAT, the first-response SLA, per-agent figures — over REST and as psql views.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::desk::enrol;
use crate::helpers::{as_id, assert_error, spawn_app, TestApp};

/// A session by its own customer, claimed by ann, answered and ended with the
/// given timings (seconds after its start, an hour ago) and rating.
async fn handled(
    app: &TestApp,
    n: usize,
    first_response: i32,
    resolution: i32,
    rating: i16,
) -> Uuid {
    let customer = app.token(&format!("cust{n}"), "user");
    let session = app.open_session(&customer).await;
    let ann = app.token("ann", "agent");
    let (status, _) = app
        .session_action(&ann, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = Uuid::parse_str(as_id(&session["id"])).unwrap();
    app.db
        .execute(
            "UPDATE live_chat_sessions
                SET started_at = now() - interval '1 hour',
                    assigned_at = now() - interval '1 hour' + interval '5 seconds',
                    first_response_at = now() - interval '1 hour' + make_interval(secs => $2),
                    status = 'ended', ended_at = now() - interval '1 hour' + make_interval(secs => $3),
                    rating = $4
              WHERE id = $1",
            &[&id, &f64::from(first_response), &f64::from(resolution), &rating],
        )
        .await
        .unwrap();
    id
}

fn num(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("a number, got {value}"))
}

#[tokio::test]
async fn the_dashboard_reports_times_csat_sla_and_agents_for_a_date_range() {
    let app = spawn_app().await;
    enrol(&app, "ann", "away", 10).await;
    let admin = app.token("boss", "admin");
    handled(&app, 1, 30, 600, 5).await;
    handled(&app, 2, 60, 1200, 4).await;
    handled(&app, 3, 90, 1800, 4).await;
    let late = handled(&app, 4, 300, 2400, 2).await;
    let old = handled(&app, 5, 10, 20, 1).await;
    app.db
        .execute(
            "UPDATE live_chat_sessions
                SET started_at = started_at - interval '3 days', assigned_at = assigned_at - interval '3 days',
                    first_response_at = first_response_at - interval '3 days', ended_at = ended_at - interval '3 days'
              WHERE id = $1",
            &[&old],
        )
        .await
        .unwrap();
    let waiting = app.open_session(&app.token("cust6", "user")).await;

    let from = urlencode(&(chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339());
    let to = urlencode(&(chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339());
    let (status, stats) = app
        .get(&admin, &format!("/v1/admin/stats?from={from}&to={to}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        stats["sessions"]["total"], 5,
        "the 3-day-old one is out of range"
    );
    assert_eq!(stats["sessions"]["ended"], 4);
    assert_eq!(stats["sessions"]["waiting"], 1);
    assert_eq!(stats["queue"]["length"], 1);
    assert!(num(&stats["queue"]["oldest_wait_secs"]) >= 0.0);
    assert_eq!(stats["queue"]["oldest_started_at"], waiting["started_at"]);

    let frt = &stats["first_response_secs"];
    assert_eq!(
        (num(&frt["median"]), num(&frt["p90"]), frt["count"].as_i64()),
        (75.0, 237.0, Some(4))
    );
    let resolution = &stats["resolution_secs"];
    assert_eq!(
        (num(&resolution["median"]), num(&resolution["p90"])),
        (1500.0, 2220.0)
    );
    assert_eq!(num(&stats["csat"]["average"]), 3.75);
    assert_eq!(
        stats["csat"]["distribution"],
        json!({ "1": 0, "2": 1, "3": 0, "4": 2, "5": 1 })
    );

    let sla = &stats["sla"];
    assert_eq!(sla["first_response_target_secs"], 120);
    assert_eq!(
        (sla["breached"].as_i64(), sla["met"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(sla["breached_sessions"][0]["id"], late.to_string());

    let agents = stats["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["agent_id"], "ann");
    assert_eq!(agents[0]["sessions"], 4);
    assert_eq!(agents[0]["sla_breached"], 1);
    assert_eq!(num(&agents[0]["csat_average"]), 3.75);
    assert_eq!(agents[0]["status"], "away");

    // One agent's figures; nothing of anyone else's.
    let (status, one) = app
        .get(
            &admin,
            &format!("/v1/admin/stats/agents/ann?from={from}&to={to}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["sessions"]["total"], 4);
    assert_eq!(one["agent_id"], "ann");
    assert_error(
        &app.get(&admin, "/v1/admin/stats/agents/nobody").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Admins only; a sane range.
    assert_error(
        &app.get(&app.token("ann", "agent"), "/v1/admin/stats").await,
        StatusCode::FORBIDDEN,
        "admins_only",
    );
    assert_error(
        &app.get(&admin, &format!("/v1/admin/stats?from={to}&to={from}"))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_range",
    );
    assert_error(
        &app.get(&admin, "/v1/admin/stats?from=yesterday").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    let (status, default_range) = app.get(&admin, "/v1/admin/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        default_range["sessions"]["total"], 6,
        "the last 7 days by default"
    );

    // The same figures for operators in psql.
    let row = app
        .db
        .query_one(
            "SELECT sessions, ended, first_response_median_secs, sla_breached FROM desk_daily_stats
              WHERE day = date_trunc('day', now() - interval '1 hour')",
            &[],
        )
        .await
        .unwrap();
    let (sessions, ended): (i64, i64) = (row.get(0), row.get(1));
    assert!(sessions >= 4 && ended >= 4, "{sessions} {ended}");
    assert_eq!(app.count("SELECT count(*) FROM desk_sla_breaches").await, 1);
    assert_eq!(
        app.count("SELECT sessions FROM desk_agent_stats WHERE agent_id = 'ann'")
            .await,
        5
    );
    assert_eq!(
        app.count("SELECT active_sessions::bigint FROM desk_agents WHERE agent_id = 'ann'")
            .await,
        0
    );
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
