//! SQL-injection (and other hostile) strings in every text field: stored
//! verbatim, read back equal, and changing nothing else — each hostile write
//! changes the row counts of every table exactly as the same write with a
//! harmless value does. Hostile filters and search queries answer 2xx/4xx,
//! never 500, and write nothing.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::user;
use crate::helpers::{as_id, spawn_app_with, TestApp};
use crate::ws_client::Ws;

/// Strings that break string-built SQL, LIKE patterns, dollar quoting, JSON or HTML.
pub const HOSTILE: &[&str] = &[
    "'; DROP TABLE chat_messages; --",
    "\" OR 1=1 --",
    "' OR '1'='1",
    "Robert'); DROP TABLE conversations;--",
    "1; UPDATE users SET role = 'admin' --",
    "$$; DROP TABLE users; $$",
    "$tag$ SELECT 1 $tag$",
    "\\",
    "\\'; SELECT pg_sleep(10); --",
    "' || pg_notify('pgchat', '{\"t\":\"typing\"}') || '",
    "%_%",
    "%' AND 1=(SELECT count(*) FROM users) --",
    "E'\\x00' \\x00 \\u0000",
    ":name $1 ? @p",
    "{\"json\": [1, 2, {\"deep\": null}]}",
    "<script>alert('x')</script>",
    "☃ 日本語 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{202e}evil\u{202c} \u{200b}zero\u{feff}width",
    "👨‍👩‍👧‍👦🏳️‍🌈",
    "line one\nline two\r\n\ttabbed",
    "-- just a comment",
    "/* unterminated comment",
    "'; COMMIT; BEGIN; DELETE FROM live_chat_sessions; --",
];

/// Row counts of every table in the application's schemas (presence excepted:
/// it follows sockets opening and closing, whatever they send).
async fn snapshot(app: &TestApp) -> BTreeMap<String, i64> {
    let tables = app
        .db
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
              WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
                AND tablename NOT IN ('refinery_schema_history', 'presence')",
            &[],
        )
        .await
        .expect("listing tables");
    let mut counts = BTreeMap::new();
    for row in tables {
        let table: String = row.get(0);
        counts.insert(
            table.clone(),
            app.count(&format!("SELECT count(*) FROM {table}")).await,
        );
    }
    counts
}

fn delta(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    after
        .iter()
        .map(|(t, n)| (t.clone(), n - before.get(t).copied().unwrap_or(0)))
        .filter(|(_, d)| *d != 0)
        .collect()
}

struct Case {
    app: TestApp,
    carol: String,
    ann: String,
    admin: String,
    /// carol's session, claimed by ann
    conversation: String,
    checked: usize,
}

impl Case {
    async fn new() -> Case {
        let app = spawn_app_with(|config| {
            config.desk.assignment_mode = pgchat::config::AssignmentMode::Manual;
        })
        .await;
        let carol = user(&app, "carol").await;
        let ann = app.token("ann", "agent");
        let admin = app.token("root", "admin");
        let session = app.open_session(&carol).await;
        let claimed = app
            .session_action(&ann, &session["id"], "claim", &json!({}))
            .await;
        assert_eq!(claimed.0, StatusCode::OK, "{}", claimed.1);
        app.get(&admin, "/v1/conversations").await;
        Case {
            conversation: as_id(&session["conversation_id"]).to_owned(),
            app,
            carol,
            ann,
            admin,
            checked: 0,
        }
    }

    /// Runs `write` with a harmless value, then with each hostile one; each must
    /// change the same tables by the same counts and read back verbatim.
    async fn field<W, R>(&mut self, name: &str, write: W, read: R)
    where
        W: AsyncFn(&Case, &str) -> Value,
        R: AsyncFn(&Case, &Value) -> Value,
    {
        let before = snapshot(&self.app).await;
        let written = write(self, "harmless value").await;
        let expected = delta(&before, &snapshot(&self.app).await);
        assert!(
            !expected.is_empty(),
            "{name}: the harmless write wrote nothing"
        );
        assert_eq!(
            read(self, &written).await,
            json!("harmless value"),
            "{name}"
        );
        for hostile in HOSTILE {
            let before = snapshot(&self.app).await;
            let written = write(self, hostile).await;
            let changed = delta(&before, &snapshot(&self.app).await);
            assert_eq!(changed, expected, "{name} = {hostile:?} changed other rows");
            assert_eq!(
                read(self, &written).await,
                json!(hostile),
                "{name} round trip"
            );
            self.checked += 1;
        }
    }

    async fn ok(&self, token: &str, method: &str, path: &str, body: Value) -> Value {
        let request = self
            .app
            .http
            .request(method.parse().unwrap(), self.app.url(path))
            .bearer_auth(token)
            .json(&body);
        let (status, answer) = self.app.call(request).await;
        assert!(
            status.is_success(),
            "{method} {path} {body}: {status} {answer}"
        );
        answer
    }
}

#[tokio::test]
async fn hostile_strings_in_every_text_field_are_stored_verbatim_and_change_nothing_else() {
    let mut case = Case::new().await;

    case.field(
        "message body",
        async |c: &Case, text: &str| {
            c.ok(
                &c.carol,
                "POST",
                &format!("/v1/conversations/{}/messages", c.conversation),
                json!({ "body": text, "client_msg_id": Uuid::new_v4() }),
            )
            .await
        },
        async |c: &Case, sent: &Value| {
            let page = c
                .app
                .messages(&c.carol, &json!(c.conversation), "?limit=100")
                .await;
            let stored = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == sent["id"])
                .expect("the message is listed")
                .clone();
            stored["body"].clone()
        },
    )
    .await;

    case.field(
        "edited body",
        async |c: &Case, text: &str| {
            let sent = c
                .ok(
                    &c.carol,
                    "POST",
                    &format!("/v1/conversations/{}/messages", c.conversation),
                    json!({ "body": "to edit", "client_msg_id": Uuid::new_v4() }),
                )
                .await;
            c.ok(
                &c.carol,
                "PATCH",
                &format!("/v1/messages/{}", as_id(&sent["id"])),
                json!({ "body": text }),
            )
            .await
        },
        async |c: &Case, edited: &Value| {
            let row = c
                .app
                .db
                .query_one(
                    "SELECT body FROM chat_messages WHERE id = $1::text::uuid",
                    &[&as_id(&edited["id"])],
                )
                .await
                .unwrap();
            json!(row.get::<_, String>(0))
        },
    )
    .await;

    case.field(
        "session subject",
        async |c: &Case, text: &str| {
            c.ok(
                &c.carol,
                "POST",
                "/v1/support/sessions",
                json!({ "subject": text.trim(), "message": { "body": text, "client_msg_id": Uuid::new_v4() } }),
            )
            .await
        },
        async |c: &Case, opened: &Value| {
            let got = c.app.session(&c.carol, &opened["id"]).await;
            let first = c
                .app
                .messages(&c.carol, &opened["conversation_id"], "")
                .await;
            // the subject is trimmed by design; the first message is verbatim
            let body = first["items"][0]["body"].clone();
            assert_eq!(got["subject"].as_str(), body.as_str().map(str::trim));
            body
        },
    )
    .await;

    case.field(
        "rating feedback",
        async |c: &Case, text: &str| {
            let session = c.app.open_session(&c.carol).await;
            c.ok(
                &c.carol,
                "POST",
                &format!("/v1/support/sessions/{}/end", as_id(&session["id"])),
                json!({}),
            )
            .await;
            c.ok(
                &c.carol,
                "POST",
                &format!("/v1/support/sessions/{}/rating", as_id(&session["id"])),
                json!({ "rating": 4, "feedback": text }),
            )
            .await
        },
        async |c: &Case, rated: &Value| {
            c.app.session(&c.carol, &rated["id"]).await["feedback"].clone()
        },
    )
    .await;

    case.field(
        "room name and description",
        async |c: &Case, text: &str| {
            c.ok(
                &c.carol,
                "POST",
                "/v1/rooms",
                json!({ "name": text.trim(), "type": "private", "description": text }),
            )
            .await
        },
        async |c: &Case, room: &Value| {
            let got = c
                .ok(
                    &c.carol,
                    "GET",
                    &format!("/v1/rooms/{}", as_id(&room["id"])),
                    Value::Null,
                )
                .await;
            assert_eq!(
                got["name"].as_str(),
                got["description"].as_str().map(str::trim)
            );
            got["description"].clone()
        },
    )
    .await;

    case.field(
        "canned title and body",
        async |c: &Case, text: &str| {
            let shortcut = format!("k{}", Uuid::new_v4().simple());
            c.ok(
                &c.ann,
                "POST",
                "/v1/support/canned",
                json!({ "shortcut": shortcut, "title": text, "body": text }),
            )
            .await
        },
        async |c: &Case, canned: &Value| {
            let list = c.ok(&c.ann, "GET", "/v1/support/canned", Value::Null).await;
            let got = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["id"] == canned["id"])
                .expect("listed")
                .clone();
            assert_eq!(got["title"], got["body"]);
            got["body"].clone()
        },
    )
    .await;

    case.field(
        "WebSocket message body",
        async |c: &Case, text: &str| {
            let mut ws = Ws::connect(c.app.port, &c.carol).await;
            let ack = ws
                .request(json!({ "type": "send_message", "conversation_id": c.conversation, "client_msg_id": Uuid::new_v4(), "body": text }))
                .await;
            assert_eq!(ack["type"], "ack", "{ack}");
            ack["message"].clone()
        },
        async |c: &Case, sent: &Value| {
            let row = c
                .app
                .db
                .query_one(
                    "SELECT body FROM chat_messages WHERE id = $1::text::uuid",
                    &[&as_id(&sent["id"])],
                )
                .await
                .unwrap();
            json!(row.get::<_, String>(0))
        },
    )
    .await;

    // Nothing else moved: no one became an admin, every table is still there.
    let admins = case
        .app
        .count("SELECT count(*) FROM users WHERE role = 'admin'")
        .await;
    assert_eq!(admins, 1, "only root is an admin");
    eprintln!(
        "injection: {} hostile values stored verbatim across 7 fields",
        case.checked
    );
    let _ = &case.admin;
}

/// (token, path, query pairs)
type Query<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

#[tokio::test]
async fn hostile_filters_and_queries_are_answered_never_500_and_write_nothing() {
    let case = Case::new().await;
    let before = snapshot(&case.app).await;
    let mut tried = 0;
    let mut failures = Vec::new();
    for hostile in HOSTILE {
        let queries: Vec<Query> = vec![
            (&case.carol, "/v1/search", vec![("q", hostile)]),
            (
                &case.ann,
                "/v1/search",
                vec![("q", hostile), ("conversation_id", &case.conversation)],
            ),
            (
                &case.ann,
                "/v1/support/sessions",
                vec![
                    ("q", hostile),
                    ("agent_id", hostile),
                    ("customer_id", hostile),
                ],
            ),
            (&case.admin, "/v1/support/sessions", vec![("q", hostile)]),
            (&case.carol, "/v1/rooms", vec![("q", hostile)]),
            (
                &case.ann,
                "/v1/support/canned",
                vec![("q", hostile), ("prefix", hostile)],
            ),
            (
                &case.ann,
                "/v1/support/canned/lookup",
                vec![("shortcut", hostile)],
            ),
            (&case.carol, "/v1/conversations", vec![("cursor", hostile)]),
            (
                &case.carol,
                "/v1/support/sessions",
                vec![("cursor", hostile)],
            ),
            (&case.carol, "/v1/rooms", vec![("cursor", hostile)]),
            (&case.admin, "/v1/admin/stats", vec![("from", hostile)]),
        ];
        for (token, path, query) in queries {
            let response = case
                .app
                .http
                .get(case.app.url(path))
                .bearer_auth(token)
                .query(&query)
                .send()
                .await
                .unwrap();
            tried += 1;
            let status = response.status();
            if status.is_server_error() || !(status.is_success() || status.is_client_error()) {
                failures.push(format!("GET {path} {query:?}: {status}"));
            }
            // Search hits stay in the caller's own conversations.
            if path == "/v1/search" && status.is_success() {
                let found: Value = response.json().await.unwrap();
                for hit in found["items"].as_array().into_iter().flatten() {
                    if hit["message"]["conversation_id"] != json!(case.conversation) {
                        failures.push(format!("search {hostile:?} found {hit}"));
                    }
                }
            }
        }
        // Hostile ids in paths and bodies.
        let encoded: String = hostile.bytes().map(|b| format!("%{b:02X}")).collect();
        for (token, method, path, body) in [
            (&case.admin, "GET", format!("/v1/agents/{encoded}"), None),
            (
                &case.admin,
                "GET",
                format!("/v1/admin/stats/agents/{encoded}"),
                None,
            ),
            (
                &case.admin,
                "PUT",
                format!("/v1/agents/{encoded}"),
                Some(json!({ "capacity": 1 })),
            ),
            (
                &case.carol,
                "POST",
                "/v1/conversations/direct".to_owned(),
                Some(json!({ "user_id": hostile })),
            ),
            (
                &case.carol,
                "POST",
                format!("/v1/conversations/{}/messages", case.conversation),
                Some(json!({ "body": "x", "client_msg_id": hostile })),
            ),
            (
                &case.ann,
                "POST",
                format!("/v1/support/sessions/{}/transfer", Uuid::new_v4()),
                Some(json!({ "agent_id": hostile })),
            ),
            (
                &case.carol,
                "PUT",
                format!("/v1/messages/{}/reactions/{encoded}", Uuid::new_v4()),
                None,
            ),
        ] {
            let mut request = case
                .app
                .http
                .request(method.parse().unwrap(), case.app.url(&path))
                .bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let (status, answer) = case.app.call(request).await;
            tried += 1;
            // PUT /v1/agents/{id} enrols a user that exists; these do not.
            if status.is_server_error() || status.is_success() {
                failures.push(format!("{method} {path}: {status} {answer}"));
            }
        }
        // A hostile topic on the socket is an error frame, and the socket stays.
        let mut ws = Ws::connect(case.app.port, &case.carol).await;
        let answer = ws
            .request(json!({ "type": "subscribe", "topic": format!("conversation:{hostile}") }))
            .await;
        tried += 1;
        if answer["type"] != "error" {
            failures.push(format!("subscribe {hostile:?}: {answer}"));
        }
        let pong = ws.request(json!({ "type": "ping" })).await;
        assert_eq!(pong["type"], "pong");
    }
    let changed = delta(&before, &snapshot(&case.app).await);
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(changed.is_empty(), "reads wrote rows: {changed:?}");
    eprintln!("injection: {tried} hostile reads answered, nothing written");
}
