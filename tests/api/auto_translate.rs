//! Auto-translation per member language in a room (`auto_translate`,
//! `conversation_members.lang`), against a chat-completions stub started by
//! each test that translates by prefixing the target language, so each
//! stored text shows which language it was made for.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::chat_helpers::{invite, room, user};
use crate::helpers::{as_id, assert_error, assert_sql_refused, spawn_app_with, wait_for, TestApp};
use crate::stub_http::StubHttp;
use crate::ws_client::Ws;

/// A chat-completions server that answers a translation of `text` into
/// `xx` with `[xx] text`, and records the target language of every call.
struct Translator {
    base_url: String,
    calls: Arc<Mutex<Vec<String>>>,
    _server: StubHttp,
}

impl Translator {
    async fn start() -> Translator {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(translate))
            .with_state(calls.clone());
        let server = StubHttp::start(app).await;
        Translator {
            base_url: format!("{}/v1", server.base),
            calls,
            _server: server,
        }
    }

    /// The target languages asked for so far, sorted.
    fn languages(&self) -> Vec<String> {
        let mut calls = self.calls.lock().unwrap().clone();
        calls.sort();
        calls
    }
}

async fn translate(
    State(calls): State<Arc<Mutex<Vec<String>>>>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    let prompt = body["messages"][1]["content"].as_str().unwrap_or_default();
    let (lang, text) = prompt
        .strip_prefix("Target language: ")
        .and_then(|rest| rest.split_once("\nMessage:\n"))
        .expect("a translation prompt");
    calls.lock().unwrap().push(lang.to_owned());
    axum::Json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "model": "stub-translator",
        "choices": [{ "index": 0, "finish_reason": "stop",
                      "message": { "role": "assistant", "content": format!("[{lang}] {text}") } }],
    }))
}

/// Sets the language `token`'s user reads `room` in.
async fn read_in(app: &TestApp, token: &str, room: &Value, lang: Value) -> (StatusCode, Value) {
    app.patch(
        token,
        &format!("/v1/conversations/{}/me", as_id(&room["id"])),
        &json!({ "lang": lang }),
    )
    .await
}

fn messages_path(room: &Value, query: &str) -> String {
    format!("/v1/conversations/{}/messages{query}", as_id(&room["id"]))
}

/// The message with `id` in a page of messages.
fn find<'a>(page: &'a Value, id: &Value) -> &'a Value {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == *id)
        .unwrap_or_else(|| panic!("message {id} in {page}"))
}

#[tokio::test]
async fn members_receive_each_message_in_their_language_live_and_on_read() {
    let llm = Translator::start().await;
    let app = spawn_app_with(|c| c.ai.ai_base_url = Some(llm.base_url.clone())).await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let dave = user(&app, "dave").await;
    let eve = user(&app, "eve").await;
    let lounge = room(
        &app,
        &alice,
        json!({ "name": "lounge", "type": "private",
                "settings": { "enable_ai": true, "auto_translate": true } }),
    )
    .await;
    assert_eq!(lounge["settings"]["auto_translate"], true, "{lounge}");
    for who in ["bob", "carol", "dave"] {
        invite(&app, &alice, &lounge, who, "member").await;
    }
    // each states the language they read in: canonical case, the same tag once
    for (token, lang, canonical) in [
        (&alice, "en", "en"),
        (&bob, "DE", "de"),
        (&carol, "fr", "fr"),
        (&dave, "de", "de"),
    ] {
        let (status, body) = read_in(&app, token, &lounge, json!(lang)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["me"]["lang"], canonical, "{body}");
    }

    let mut ws = Ws::connect(app.port, &bob).await;
    ws.subscribe(&format!("conversation:{}", as_id(&lounge["id"])), None)
        .await;
    let sent = app.send(&alice, &lounge["id"], "Good morning").await;

    // live: the message, then its translations (one per language but the sender's)
    let mut translated = Vec::new();
    let frames = ws
        .until("both translations", |f| {
            if f["type"] == "message_translated" {
                translated.push(f.clone());
            }
            translated.len() == 2
        })
        .await;
    let first_new = frames.iter().position(|f| f["type"] == "message_new");
    let first_translation = frames
        .iter()
        .position(|f| f["type"] == "message_translated");
    assert!(
        first_new < first_translation && first_new.is_some(),
        "the message comes before its translations: {frames:?}"
    );
    translated.sort_by_key(|f| f["lang"].as_str().unwrap().to_owned());
    let got: Vec<(&Value, &Value, &Value)> = translated
        .iter()
        .map(|f| (&f["message_id"], &f["lang"], &f["text"]))
        .collect();
    assert_eq!(
        got,
        vec![
            (&sent["id"], &json!("de"), &json!("[de] Good morning")),
            (&sent["id"], &json!("fr"), &json!("[fr] Good morning")),
        ]
    );
    // one provider call per language, stored once, no job left behind
    assert_eq!(llm.languages(), vec!["de", "fr"]);
    assert_eq!(
        app.count("SELECT count(*) FROM message_translations").await,
        2
    );
    wait_for("the jobs to be done", || async {
        app.count("SELECT count(*) FROM ai_jobs").await == 0
    })
    .await;

    // on read: the reader's own language by default, another on request
    let (status, page) = app.get(&bob, &messages_path(&lounge, "")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        find(&page, &sent["id"])["translation"],
        json!({ "lang": "de", "text": "[de] Good morning" })
    );
    let (_, page) = app.get(&bob, &messages_path(&lounge, "?lang=FR")).await;
    assert_eq!(
        find(&page, &sent["id"])["translation"],
        json!({ "lang": "fr", "text": "[fr] Good morning" })
    );
    // none cached for that language, or none stated: no field
    let (_, page) = app.get(&bob, &messages_path(&lounge, "?lang=es")).await;
    assert!(find(&page, &sent["id"]).get("translation").is_none());
    let (_, page) = app.get(&alice, &messages_path(&lounge, "")).await;
    assert!(find(&page, &sent["id"]).get("translation").is_none());
    // an edit makes them stale: not shown
    let (status, body) = app
        .patch(
            &alice,
            &format!("/v1/messages/{}", as_id(&sent["id"])),
            &json!({ "body": "Good evening" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, page) = app.get(&bob, &messages_path(&lounge, "")).await;
    assert!(find(&page, &sent["id"]).get("translation").is_none());

    // someone outside the room sees neither the messages nor their translations
    assert_error(
        &app.get(&eve, &messages_path(&lounge, "?lang=de")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let seen = app
        .sql_as(
            "eve",
            "user",
            "SELECT count(*) FROM message_translations",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(seen[0].get::<_, i64>(0), 0, "RLS hides them");
    let seen = app
        .sql_as(
            "carol",
            "user",
            "SELECT count(*) FROM message_translations",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(seen[0].get::<_, i64>(0), 2, "a member reads them");
}

/// Inserts a message as psql would, in a transaction that is rolled back,
/// and returns the auto-translation jobs its statement queued.
async fn jobs_queued_by(app: &TestApp, room: &Value, sender: &str, body: &str) -> Vec<String> {
    let mut client = pgchat::db::connect(&app.db_config).await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
         VALUES ($1::text::uuid, $2, 'user', $3)",
        &[&as_id(&room["id"]), &sender, &body],
    )
    .await
    .unwrap();
    let rows = tx
        .query(
            "SELECT lang FROM ai_jobs WHERE kind = 'auto_translate' ORDER BY lang",
            &[],
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn only_auto_translated_rooms_queue_jobs_one_per_language_but_the_senders() {
    let app = spawn_app_with(|_| {}).await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let dave = user(&app, "dave").await;
    let mut rooms = Vec::new();
    for auto_translate in [true, false] {
        let r = room(
            &app,
            &alice,
            json!({ "name": "r", "type": "private",
                    "settings": { "enable_ai": true, "auto_translate": auto_translate } }),
        )
        .await;
        for who in ["bob", "carol", "dave"] {
            invite(&app, &alice, &r, who, "member").await;
        }
        for (token, lang) in [
            (&alice, "en"),
            (&bob, "de"),
            (&carol, "pt-br"),
            (&dave, "de"),
        ] {
            let (status, body) = read_in(&app, token, &r, json!(lang)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        rooms.push(r);
    }
    assert_eq!(
        jobs_queued_by(&app, &rooms[0], "alice", "Hello").await,
        vec!["de", "pt-BR"]
    );
    assert_eq!(
        jobs_queued_by(&app, &rooms[0], "bob", "Hallo").await,
        vec!["en", "pt-BR"]
    );
    assert!(jobs_queued_by(&app, &rooms[1], "alice", "Hello")
        .await
        .is_empty());
    // a member who clears their language is no longer translated for
    let (status, _) = read_in(&app, &carol, &rooms[0], Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        jobs_queued_by(&app, &rooms[0], "alice", "Hello").await,
        vec!["de"]
    );
    // with the offline provider alone nothing is translated, nothing fails:
    // a real send's jobs are taken and dropped
    app.send(&alice, &rooms[0]["id"], "Hello").await;
    wait_for("the worker to take the jobs", || async {
        app.count("SELECT count(*) FROM ai_jobs").await == 0
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM message_translations").await,
        0
    );
}

#[tokio::test]
async fn languages_and_the_setting_are_checked_by_the_database() {
    let app = spawn_app_with(|_| {}).await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lounge = room(
        &app,
        &alice,
        json!({ "name": "lounge", "type": "public", "settings": { "enable_ai": true } }),
    )
    .await;
    invite(&app, &alice, &lounge, "bob", "moderator").await;

    for bad in ["german", "de_DE", "", "x", "de-", "en-<b>"] {
        assert_error(
            &read_in(&app, &bob, &lounge, json!(bad)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_lang",
        );
        assert_error(
            &app.get(
                &bob,
                &messages_path(&lounge, &format!("?lang={}", urlencode(bad))),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_lang",
        );
    }
    // a member's language is their own: a moderator cannot set it
    assert_sql_refused(
        app.sql_as(
            "bob",
            "user",
            &format!(
                "UPDATE conversation_members SET lang = 'fr'
                  WHERE conversation_id = '{}' AND user_id = 'alice'",
                as_id(&lounge["id"])
            ),
            &[],
        )
        .await,
        "not_yours",
    );
    // the SQL tag and the translate endpoint's agree on shape and case
    for tag in [
        "de",
        "PT-br",
        "zh-hant",
        "sr-latn-rs",
        "es-419",
        "EN-us",
        "de_DE",
        "deutsch",
    ] {
        let sql: Option<String> = app
            .db
            .query_one("SELECT pgchat.lang_canonical($1)", &[&tag])
            .await
            .unwrap()
            .get(0);
        let rust = pgchat::service::ai::translate::Lang::try_from(tag.to_owned())
            .ok()
            .map(|l| l.as_str().to_owned());
        assert_eq!(sql, rust, "{tag}");
    }

    // auto_translate sends messages to a provider: only with enable_ai
    let settings = |body: Value| {
        let app = &app;
        let alice = &alice;
        let path = format!("/v1/rooms/{}", as_id(&lounge["id"]));
        async move { app.patch(alice, &path, &json!({ "settings": body })).await }
    };
    assert_error(
        &settings(json!({ "enable_ai": false, "auto_translate": true })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "auto_translate_needs_ai",
    );
    let (status, body) = settings(json!({ "auto_translate": true })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_error(
        &settings(json!({ "enable_ai": false })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "auto_translate_needs_ai",
    );
    assert_error(
        &app.post(
            &alice,
            "/v1/rooms",
            &json!({ "name": "x", "type": "private", "settings": { "auto_translate": true } }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "auto_translate_needs_ai",
    );

    // at most ten languages in a room
    let langs = ["de", "fr", "es", "it", "nl", "pl", "pt", "sv", "fi", "da"];
    for (i, lang) in langs.iter().enumerate() {
        let token = user(&app, &format!("member{i}")).await;
        crate::chat_helpers::join(&app, &token, &lounge).await;
        let (status, body) = read_in(&app, &token, &lounge, json!(lang)).await;
        assert_eq!(status, StatusCode::OK, "{lang}: {body}");
    }
    assert_error(
        &read_in(&app, &bob, &lounge, json!("ja")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_languages",
    );
    let (status, body) = read_in(&app, &bob, &lounge, json!("fr")).await;
    assert_eq!(status, StatusCode::OK, "one of them is fine: {body}");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_translation_too_big_for_a_notification_still_arrives_whole() {
    let llm = Translator::start().await;
    let app = spawn_app_with(|c| c.ai.ai_base_url = Some(llm.base_url.clone())).await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lounge = room(
        &app,
        &alice,
        json!({ "name": "lounge", "type": "private",
                "settings": { "enable_ai": true, "auto_translate": true } }),
    )
    .await;
    invite(&app, &alice, &lounge, "bob", "member").await;
    let (status, body) = read_in(&app, &bob, &lounge, json!("de")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ws = Ws::connect(app.port, &bob).await;
    ws.subscribe(&format!("conversation:{}", as_id(&lounge["id"])), None)
        .await;
    // 4000 two-byte characters: past NOTIFY's 8000 bytes, so read back
    let long = "é".repeat(4000);
    let sent = app.send(&alice, &lounge["id"], &long).await;
    let frame = ws.event_of("message_translated").await;
    assert_eq!(frame["message_id"], sent["id"]);
    assert_eq!(frame["lang"], "de");
    assert_eq!(frame["text"], format!("[de] {long}"));
}
