//! The AI assistant against a chat-completions server started by each test
//! (axum on port 0, answering, failing or stalling as told), and the offline
//! provider.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{direct, room, user};
use crate::helpers::{as_id, assert_error, spawn_app_with, wait_for, TestApp};
use crate::stub_http::StubHttp;
use crate::ws_client::Ws;

/// How the fake API answers.
#[derive(Clone)]
enum Behaviour {
    Answer(&'static str),
    Fail(u16),
    /// Answers after this long.
    Slow(Duration, &'static str),
    /// Fails the first n calls with the status, then answers.
    FailFirst(usize, u16, &'static str),
    /// Scores a sentiment prompt's "Messages (n):" with n times this score.
    Scores(f64),
}

struct Shared {
    behaviour: Behaviour,
    seen: Mutex<Vec<(Option<String>, Value)>>,
}

/// A chat-completions server on a free port; stops when dropped.
struct FakeLlm {
    /// The base URL to configure (`…/v1`).
    base_url: String,
    shared: Arc<Shared>,
    _server: StubHttp,
}

impl FakeLlm {
    async fn start(behaviour: Behaviour) -> FakeLlm {
        let shared = Arc::new(Shared {
            behaviour,
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let server = StubHttp::start(app).await;
        FakeLlm {
            base_url: format!("{}/v1", server.base),
            shared,
            _server: server,
        }
    }

    /// Every request so far: its Authorization header and JSON body.
    fn seen(&self) -> Vec<(Option<String>, Value)> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The user message of the last request (what the model was given).
    fn last_prompt(&self) -> String {
        let seen = self.seen();
        let (_, body) = seen.last().expect("a request to the API");
        body["messages"][1]["content"].as_str().unwrap().to_owned()
    }
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let calls = {
        let mut seen = shared.seen.lock().unwrap();
        seen.push((auth, body));
        seen.len()
    };
    // Log-probabilities only when asked for, as real servers do: every
    // token at probability 0.8.
    let logprobs = body_asked_logprobs(&shared);
    let answer = |text: &str| {
        let mut answer = json!({
            "id": "chatcmpl-test", "object": "chat.completion", "model": "fake-model",
            "choices": [{ "index": 0, "finish_reason": "stop",
                          "message": { "role": "assistant", "content": text } }],
        });
        if logprobs {
            answer["choices"][0]["logprobs"] = json!({ "content": text
                .split(' ')
                .map(|token| json!({ "token": token, "logprob": 0.8f64.ln() }))
                .collect::<Vec<_>>() });
        }
        axum::Json(answer).into_response()
    };
    let fail = |status: u16| {
        (
            AxumStatus::from_u16(status).unwrap(),
            axum::Json(json!({ "error": { "message": "the fake API is down" } })),
        )
            .into_response()
    };
    match shared.behaviour.clone() {
        Behaviour::Answer(text) => answer(text),
        Behaviour::Fail(status) => fail(status),
        Behaviour::Slow(delay, text) => {
            // A slow model by design (the timeout tests), not a wait.
            tokio::time::sleep(delay).await;
            answer(text)
        }
        Behaviour::FailFirst(n, status, _) if calls <= n => fail(status),
        Behaviour::FailFirst(_, _, text) => answer(text),
        Behaviour::Scores(score) => {
            let prompt = last_user_prompt(&shared);
            let n: usize = prompt
                .strip_prefix("Messages (")
                .and_then(|rest| rest.split_once(')'))
                .and_then(|(n, _)| n.parse().ok())
                .expect("a sentiment prompt");
            answer(&json!(vec![score; n]).to_string())
        }
    }
}

/// The user message of the request just recorded.
fn last_user_prompt(shared: &Shared) -> String {
    let seen = shared.seen.lock().unwrap();
    let (_, body) = seen.last().expect("a request");
    body["messages"][1]["content"].as_str().unwrap().to_owned()
}

/// Whether the request just recorded asked for log-probabilities.
fn body_asked_logprobs(shared: &Shared) -> bool {
    let seen = shared.seen.lock().unwrap();
    seen.last()
        .is_some_and(|(_, body)| body["logprobs"] == json!(true))
}

/// The assistant's reply to `message` (an `ai_response` or a `system`
/// notice), as `token` sees the conversation, once there is one.
async fn reply_to(app: &TestApp, token: &str, conversation: &Value, message: &Value) -> Value {
    wait_for(&format!("a reply to {message}"), || async {
        let page = app.messages(token, conversation, "").await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["reply_to"] == message["id"] && m["sender_role"] == "system")
            .cloned()
    })
    .await
}

/// Waits until the assistant has no job left.
async fn jobs_done(app: &TestApp) {
    wait_for("the assistant's jobs done", || async {
        app.count("SELECT count(*) FROM ai_jobs").await == 0
    })
    .await;
}

async fn ask(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.post(token, "/v1/ai/ask", &body).await
}

#[tokio::test]
async fn ask_answers_through_the_openai_compatible_api() {
    let llm = FakeLlm::start(Behaviour::Answer("Forty-two.")).await;
    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(llm.base_url.clone());
        c.ai.ai_model = "test-model".into();
        c.ai.ai_api_key = Some("sk-test".into());
    })
    .await;
    let alice = app.token("alice", "user");
    let (status, body) = ask(&app, &alice, json!({ "question": "What is the answer?" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["answer"], "Forty-two.");
    assert_eq!(body["provider"], "openai");
    assert_eq!(body["model"], "fake-model");
    let seen = llm.seen();
    assert_eq!(seen.len(), 1);
    let (auth, request) = &seen[0];
    assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
    assert_eq!(request["model"], "test-model");
    assert_eq!(request["messages"][0]["role"], "system");
    assert!(llm.last_prompt().ends_with("Question: What is the answer?"));

    let response = ask(&app, &alice, json!({ "question": "  " })).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    let response = ask(
        &app,
        &alice,
        json!({ "question": "hi", "conversation_id": Uuid::new_v4() }),
    )
    .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn an_ai_mention_is_answered_with_an_ai_response_that_fans_out_like_any_message() {
    let llm = FakeLlm::start(Behaviour::Answer("Use the reset link on the sign-in page.")).await;
    let app = spawn_app_with(|c| c.ai.ai_base_url = Some(llm.base_url.clone())).await;
    let carol = app.token_named("carol", "user", "Carol");
    let session = app
        .open_session_with(&carol, "Password", "I cannot sign in")
        .await;
    let conversation = session["conversation_id"].clone();
    let mut ws = Ws::connect(app.port, &carol).await;
    ws.subscribe(&format!("conversation:{}", as_id(&conversation)), None)
        .await;

    let asked = app
        .send(&carol, &conversation, "@ai how do I reset my password?")
        .await;
    let answer = reply_to(&app, &carol, &conversation, &asked).await;
    assert_eq!(answer["kind"], "ai_response");
    assert_eq!(answer["body"], "Use the reset link on the sign-in page.");
    assert_eq!(answer["sender_id"], Value::Null);
    assert_eq!(answer["internal"], false);
    assert!(answer["seq"].as_i64().unwrap() > asked["seq"].as_i64().unwrap());
    // Live, through NOTIFY and the hub, like any other message.
    let mut live = Vec::new();
    while live.len() < 2 {
        live.push(ws.event_of("message_new").await["message"].clone());
    }
    assert_eq!(live[1]["id"], answer["id"]);
    assert_eq!(live[1]["kind"], "ai_response");
    // The model saw the conversation (as Carol) and the question without the mention.
    let prompt = llm.last_prompt();
    assert!(
        prompt.contains("[M1] Carol (user): I cannot sign in"),
        "{prompt}"
    );
    assert!(
        prompt.ends_with("Question: how do I reset my password?"),
        "{prompt}"
    );
    // The answer does not call the assistant again, and the queue is empty.
    jobs_done(&app).await;
    assert_eq!(llm.seen().len(), 1);
}

#[tokio::test]
async fn the_context_follows_the_askers_rls_and_an_internal_question_gets_an_internal_answer() {
    let llm = FakeLlm::start(Behaviour::Answer("noted")).await;
    let app = spawn_app_with(|c| c.ai.ai_base_url = Some(llm.base_url.clone())).await;
    let carol = app.token("carol", "user");
    let agent = app.token("agent-1", "agent");
    let session = app.open_session(&carol).await;
    let conversation = session["conversation_id"].clone();
    let (status, _) = app
        .session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let note = json!({ "body": "customer owes 99 EUR (secret note)", "client_msg_id": Uuid::new_v4(), "internal": true });
    assert_eq!(
        app.send_json(&agent, &conversation, &note).await.0,
        StatusCode::CREATED
    );

    // Carol's question: her context has no internal note.
    let asked = app
        .send(&carol, &conversation, "@assistant what do I owe?")
        .await;
    reply_to(&app, &carol, &conversation, &asked).await;
    assert!(
        !llm.last_prompt().contains("secret note"),
        "{}",
        llm.last_prompt()
    );

    // The agent's public question: a public answer, built without internal notes.
    let asked = app
        .send(&agent, &conversation, "@ai summarize the balance")
        .await;
    let answer = reply_to(&app, &carol, &conversation, &asked).await;
    assert_eq!(answer["internal"], false);
    assert!(!llm.last_prompt().contains("secret note"));

    // The agent's internal question: internal notes in, an internal answer out.
    let question =
        json!({ "body": "@ai what is owed?", "client_msg_id": Uuid::new_v4(), "internal": true });
    let (_, asked) = app.send_json(&agent, &conversation, &question).await;
    let answer = reply_to(&app, &agent, &conversation, &asked).await;
    assert_eq!(answer["internal"], true);
    assert!(llm.last_prompt().contains("secret note"));
    let page = app.messages(&carol, &conversation, "").await;
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["id"] != answer["id"]));

    // POST /v1/ai/ask with a conversation: staff context has notes, a customer's has not.
    let (status, _) = ask(
        &app,
        &carol,
        json!({ "question": "what do I owe?", "conversation_id": conversation }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!llm.last_prompt().contains("secret note"));
    let (status, _) = ask(
        &app,
        &agent,
        json!({ "question": "what is owed?", "conversation_id": conversation }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(llm.last_prompt().contains("secret note"));
}

#[tokio::test]
async fn a_timeout_falls_back_to_the_next_provider_within_the_budget() {
    let slow = FakeLlm::start(Behaviour::Slow(Duration::from_secs(10), "too late")).await;
    let backup = FakeLlm::start(Behaviour::Answer("from the backup")).await;
    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(slow.base_url.clone());
        c.ai.ai_fallback_base_url = Some(backup.base_url.clone());
        c.ai.ai_timeout_ms = 400;
        c.ai.ai_retries = 1;
    })
    .await;
    let alice = app.token("alice", "user");
    let started = Instant::now();
    let (status, body) = ask(&app, &alice, json!({ "question": "anyone there?" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["answer"], "from the backup");
    assert_eq!(body["provider"], "openai-fallback");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_the_offline_provider_answers_from_the_faq() {
    let flaky = FakeLlm::start(Behaviour::FailFirst(1, 503, "recovered")).await;
    let down = FakeLlm::start(Behaviour::Fail(500)).await;
    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(flaky.base_url.clone());
        c.ai.ai_retries = 2;
    })
    .await;
    let alice = app.token("alice", "user");
    let (status, body) = ask(&app, &alice, json!({ "question": "hello?" })).await;
    assert_eq!(
        (status, body["answer"].clone()),
        (StatusCode::OK, json!("recovered")),
        "{body}"
    );
    assert_eq!(flaky.seen().len(), 2, "a 503 is retried");

    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(down.base_url.clone());
        c.ai.ai_retries = 1;
    })
    .await;
    app.db
        .execute(
            "INSERT INTO ai_faq (question, answer) VALUES ('How long does shipping take?', 'Orders ship within 2 days.')",
            &[],
        )
        .await
        .unwrap();
    let alice = app.token("alice", "user");
    let (status, body) = ask(
        &app,
        &alice,
        json!({ "question": "how long will shipping take" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["provider"], "offline");
    assert_eq!(body["answer"], "Orders ship within 2 days.");
    assert_eq!(down.seen().len(), 2, "one retry of the 500");
    // The FAQ also goes to the API as reference.
    assert!(down
        .last_prompt()
        .contains("Q: How long does shipping take?"));
}

#[tokio::test]
async fn when_every_provider_fails_a_mention_gets_a_clear_notice_and_ask_a_503() {
    let down = FakeLlm::start(Behaviour::Fail(500)).await;
    let slow = FakeLlm::start(Behaviour::Slow(Duration::from_secs(30), "never")).await;
    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(down.base_url.clone());
        c.ai.ai_fallback_base_url = Some(slow.base_url.clone());
        c.ai.ai_timeout_ms = 500;
        c.ai.ai_retries = 0;
        c.ai.ai_offline = false;
    })
    .await;
    let carol = app.token("carol", "user");
    let started = Instant::now();
    let response = ask(&app, &carol, json!({ "question": "hello?" })).await;
    assert_error(&response, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let message = response.1["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the assistant could not answer") && message.contains("timed out"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "never a hung request"
    );

    let conversation = app.open_session(&carol).await["conversation_id"].clone();
    let asked = app.send(&carol, &conversation, "@ai are you there?").await;
    let notice = reply_to(&app, &carol, &conversation, &asked).await;
    assert_eq!(notice["kind"], "system");
    assert!(
        notice["body"].as_str().unwrap().starts_with(
            "The assistant could not answer: the AI service (openai-fallback) timed out"
        ),
        "{notice}"
    );
    let metadata = app
        .count(&format!(
            "SELECT count(*) FROM chat_messages WHERE id = '{}' AND metadata ->> 'ai_error' = 'timeout'",
            as_id(&notice["id"])
        ))
        .await;
    assert_eq!(metadata, 1);
}

#[tokio::test]
async fn answers_are_rate_limited_per_user_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.ai.ai_rate_limit = 2;
        c.ai.ai_rate_window_secs = 60;
    })
    .await;
    let alice = app.token("alice", "user");
    for _ in 0..2 {
        assert_eq!(
            ask(&app, &alice, json!({ "question": "hi" })).await.0,
            StatusCode::OK
        );
    }
    let response = app
        .http
        .post(app.url("/v1/ai/ask"))
        .bearer_auth(&alice)
        .json(&json!({ "question": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Someone else still has their quota.
    let bob = app.token("bob", "user");
    assert_eq!(
        ask(&app, &bob, json!({ "question": "hi" })).await.0,
        StatusCode::OK
    );
    // A mention over the quota gets a notice instead of an answer.
    let conversation = app.open_session(&alice).await["conversation_id"].clone();
    let asked = app.send(&alice, &conversation, "@ai hello").await;
    let notice = reply_to(&app, &alice, &conversation, &asked).await;
    assert_eq!(notice["kind"], "system");
    assert!(
        notice["body"]
            .as_str()
            .unwrap()
            .contains("at most 2 questions"),
        "{notice}"
    );
}

#[tokio::test]
async fn a_summary_is_for_staff_and_may_be_kept_as_an_internal_note() {
    let app = spawn_app_with(|_| {}).await; // offline provider only
    let carol = app.token_named("carol", "user", "Carol");
    let agent = app.token("agent-1", "agent");
    let session = app
        .open_session_with(
            &carol,
            "Damaged parcel",
            "My order 1234 arrived damaged. The box was crushed.",
        )
        .await;
    let conversation = session["conversation_id"].clone();
    app.session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    app.send(
        &agent,
        &conversation,
        "Sorry! Can you send a photo of the damaged order?",
    )
    .await;
    app.send(&carol, &conversation, "Sure, here it is.").await;

    let path = format!("/v1/conversations/{}/summary", as_id(&conversation));
    let response = app.post(&carol, &path, &json!({})).await;
    assert_error(&response, StatusCode::FORBIDDEN, "staff_only");
    let (status, summary) = app.post(&agent, &path, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["provider"], "offline");
    let text = summary["summary"].as_str().unwrap();
    assert!(
        text.starts_with("Summary of 3 messages from Carol, agent-1:"),
        "{text}"
    );
    assert!(text.contains("My order 1234 arrived damaged."), "{text}");
    assert_eq!(summary["message"], Value::Null);
    // No body at all is fine too.
    let (status, _) = app
        .call(app.http.post(app.url(&path)).bearer_auth(&agent))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, kept) = app.post(&agent, &path, &json!({ "post": true })).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["message"]["kind"], "ai_response");
    assert_eq!(kept["message"]["internal"], true);
    let page = app.messages(&carol, &conversation, "").await;
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["kind"] != "ai_response"));
    let page = app.messages(&agent, &conversation, "").await;
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == kept["message"]["id"]));

    let stranger = app.token("agent-2", "agent");
    let other = app.token("dave", "user");
    let elsewhere = app.open_session(&other).await;
    app.session_action(&agent, &elsewhere["id"], "claim", &json!({}))
        .await;
    let response = app
        .post(
            &stranger,
            &format!(
                "/v1/conversations/{}/summary",
                as_id(&elsewhere["conversation_id"])
            ),
            &json!({}),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_assistant_works_only_where_the_conversation_enables_it() {
    let llm = FakeLlm::start(Behaviour::Answer("room answer")).await;
    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(llm.base_url.clone());
        c.ai.ai_support = false;
    })
    .await;
    let alice = user(&app, "alice").await;
    user(&app, "bob").await;
    // Direct conversations: off unless their settings say so.
    let pair = direct(&app, &alice, "bob").await["id"].clone();
    app.send(&alice, &pair, "@ai hello").await;
    let response = ask(
        &app,
        &alice,
        json!({ "question": "hi", "conversation_id": pair }),
    )
    .await;
    assert_error(&response, StatusCode::FORBIDDEN, "ai_disabled");
    // Support conversations: PGCHAT_AI_SUPPORT=false here.
    let support = app.open_session(&alice).await["conversation_id"].clone();
    app.send(&alice, &support, "@ai hello").await;
    assert_eq!(app.count("SELECT count(*) FROM ai_jobs").await, 0);
    // A room with enable_ai.
    let lounge = room(
        &app,
        &alice,
        json!({ "name": "lounge", "type": "private", "settings": { "enable_ai": true } }),
    )
    .await;
    let asked = app.send(&alice, &lounge["id"], "@AI: what's up?").await;
    let answer = reply_to(&app, &alice, &lounge["id"], &asked).await;
    assert_eq!(answer["body"], "room answer");
    assert_eq!(llm.seen().len(), 1);
}

#[tokio::test]
async fn a_waiting_session_gets_a_first_answer_only_while_no_agent_is_online() {
    let app = spawn_app_with(|c| {
        c.ai.ai_first_response = true;
        c.desk.assignment_mode = pgchat::config::AssignmentMode::Manual;
    })
    .await;
    app.db
        .execute(
            "INSERT INTO ai_faq (question, answer) VALUES ('How do I track my order?', 'Follow the tracking link in your confirmation email.')",
            &[],
        )
        .await
        .unwrap();
    let carol = app.token("carol", "user");
    let session = app
        .open_session_with(&carol, "Tracking", "How can I track my order?")
        .await;
    let conversation = session["conversation_id"].clone();
    let greeting = wait_for("the first response", || async {
        let page = app.messages(&carol, &conversation, "").await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == "ai_response")
            .cloned()
    })
    .await;
    assert!(
        greeting["body"]
            .as_str()
            .unwrap()
            .contains("Follow the tracking link"),
        "{greeting}"
    );
    let session = app.session(&carol, &session["id"]).await;
    assert_eq!(
        session["first_response_at"],
        Value::Null,
        "the SLA waits for a person"
    );

    // With an agent online, no automatic answer.
    let agent = app.token("agent-1", "agent");
    let (status, body) = app
        .call(
            app.http
                .put(app.url("/v1/agents/me"))
                .bearer_auth(&agent)
                .json(&json!({ "status": "online" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dave = app.token("dave", "user");
    let other = app.open_session(&dave).await;
    jobs_done(&app).await;
    let page = app.messages(&dave, &other["conversation_id"], "").await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["kind"] != "ai_response"),
        "{page}"
    );
}

/// Alice's "Good morning" in a room where the assistant works: her token,
/// the message and its translate path.
async fn good_morning_in_an_ai_room(app: &TestApp) -> (String, Value, String) {
    let alice = user(app, "alice").await;
    let lounge = room(
        app,
        &alice,
        json!({ "name": "lounge", "type": "private", "settings": { "enable_ai": true } }),
    )
    .await;
    let sent = app.send(&alice, &lounge["id"], "Good morning").await;
    let path = format!("/v1/messages/{}/translate", as_id(&sent["id"]));
    (alice, sent, path)
}

#[tokio::test]
async fn a_message_is_translated_once_per_language_until_it_is_edited() {
    let llm = FakeLlm::start(Behaviour::Answer("Guten Morgen")).await;
    let app = spawn_app_with(|c| c.ai.ai_base_url = Some(llm.base_url.clone())).await;
    let (alice, sent, path) = good_morning_in_an_ai_room(&app).await;
    let bob = user(&app, "bob").await;

    let (status, first) = app.post(&alice, &path, &json!({ "lang": "DE" })).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (
            &first["lang"],
            &first["text"],
            &first["provider"],
            &first["message_id"]
        ),
        (
            &json!("de"),
            &json!("Guten Morgen"),
            &json!("openai"),
            &sent["id"]
        )
    );
    let prompt = llm.last_prompt();
    assert!(prompt.contains("Target language: de"), "{prompt}");
    assert!(prompt.ends_with("Good morning"), "{prompt}");
    // the second time comes from the cache: no call, no quota
    let (status, again) = app.post(&alice, &path, &json!({ "lang": "de" })).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    assert_eq!(llm.seen().len(), 1);
    // an edit makes the cached text stale: translated afresh
    let (status, body) = app
        .patch(
            &alice,
            &format!("/v1/messages/{}", as_id(&sent["id"])),
            &json!({ "body": "Good evening" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.post(&alice, &path, &json!({ "lang": "de" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(llm.seen().len(), 2);
    assert!(llm.last_prompt().ends_with("Good evening"));

    // someone who cannot read the message cannot have it translated, nor read the cache
    assert_error(
        &app.post(&bob, &path, &json!({ "lang": "de" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let cached = app
        .sql_as(
            "bob",
            "user",
            "SELECT count(*) FROM message_translations",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(cached[0].get::<_, i64>(0), 0, "RLS hides the cache");
    // bad input
    for lang in [json!("german"), json!("de_DE"), json!(""), json!(7)] {
        assert_error(
            &app.post(&alice, &path, &json!({ "lang": lang })).await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        );
    }
    assert_eq!(llm.seen().len(), 2);
}

#[tokio::test]
async fn without_a_translation_model_a_translation_is_a_clear_503() {
    // the offline provider answers questions but has no translation model
    let app = spawn_app_with(|_| {}).await;
    let (alice, _, path) = good_morning_in_an_ai_room(&app).await;
    let (status, body) = app.post(&alice, &path, &json!({ "lang": "fr" })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no translation model"),
        "{body}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM message_translations").await,
        0
    );
}

#[tokio::test]
async fn staff_see_how_a_support_chat_is_going() {
    let app = spawn_app_with(|_| {}).await;
    let carol = app.token_named("carol", "user", "Carol");
    let admin = app.token("root", "admin");
    let session = app.open_session(&carol).await;
    let conversation = session["conversation_id"].clone();
    let mut sent = Vec::new();
    for body in [
        "Thanks, the app is great",
        "It is still broken and I am frustrated",
        "This is not good",
        "Order 1234",
    ] {
        sent.push(app.send(&carol, &conversation, body).await);
    }
    let path = format!("/v1/support/sessions/{}/sentiment", as_id(&session["id"]));
    let (status, body) = app.get(&admin, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // after the session's opening message, oldest first
    let messages = body["messages"].as_array().unwrap();
    let labels: Vec<(&Value, &str)> = messages[messages.len() - 4..]
        .iter()
        .map(|m| (&m["id"], m["label"].as_str().unwrap()))
        .collect();
    assert_eq!(
        labels,
        [
            (&sent[0]["id"], "positive"),
            (&sent[1]["id"], "negative"),
            (&sent[2]["id"], "negative"),
            (&sent[3]["id"], "neutral")
        ],
        "a negation flips the word after it: {body}"
    );
    assert_eq!(body["label"], "negative", "{body}");
    assert_eq!(body["provider"], "offline");
    // the customer's own chat, but not theirs to read like this
    assert_error(
        &app.get(&carol, &path).await,
        StatusCode::FORBIDDEN,
        "staff_only",
    );
    assert_error(
        &app.get(
            &admin,
            &format!("/v1/support/sessions/{}/sentiment", Uuid::new_v4()),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// A support session of carol's with two messages, and the admin's path to its sentiment.
async fn a_chat_to_score(app: &TestApp) -> (String, String, Vec<Value>) {
    let carol = app.token_named("carol", "user", "Carol");
    let session = app.open_session(&carol).await;
    let conversation = session["conversation_id"].clone();
    let mut sent = Vec::new();
    for body in ["Thanks, the app is great", "Order 1234"] {
        sent.push(app.send(&carol, &conversation, body).await);
    }
    let path = format!("/v1/support/sessions/{}/sentiment", as_id(&session["id"]));
    (carol, path, sent)
}

#[tokio::test]
async fn a_model_scores_sentiment_once_per_message_text_and_reports_use_its_scores() {
    let llm = FakeLlm::start(Behaviour::Scores(-0.9)).await;
    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(llm.base_url.clone());
        c.ai.ai_sentiment = pgchat::config::SentimentScorer::Model;
    })
    .await;
    let admin = app.token("root", "admin");
    let (carol, path, sent) = a_chat_to_score(&app).await;

    let (status, body) = app.get(&admin, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The lexicon would call "great" positive: the model's score is what counts.
    let messages = body["messages"].as_array().unwrap();
    assert!(messages.len() >= 2, "{body}");
    for m in messages {
        assert_eq!(
            (&m["score"], &m["provider"]),
            (&json!(-0.9), &json!("openai")),
            "{body}"
        );
    }
    assert_eq!(
        (&body["label"], &body["provider"]),
        (&json!("negative"), &json!("openai"))
    );
    let prompt = llm.last_prompt();
    assert!(
        prompt.contains("Thanks, the app is great") && prompt.contains("Order 1234"),
        "{prompt}"
    );
    assert_eq!(llm.seen().len(), 1);

    // Cached: looking again asks nothing.
    let (_, again) = app.get(&admin, &path).await;
    assert_eq!(again["messages"], body["messages"]);
    assert_eq!(llm.seen().len(), 1);

    // An edited message is scored again, and only it.
    let (status, _) = app
        .patch(
            &carol,
            &format!("/v1/messages/{}", as_id(&sent[1]["id"])),
            &json!({ "body": "Order 1234 never arrived" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.get(&admin, &path).await;
    assert_eq!(llm.seen().len(), 2);
    let prompt = llm.last_prompt();
    assert!(
        prompt.starts_with("Messages (1):") && prompt.contains("never arrived"),
        "{prompt}"
    );

    // Reports read the same scores (pgchat.session_sentiment).
    let (status, report) = app.get(&admin, "/v1/admin/reports?group_by=agent").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!(rows[0]["sentiment"]["average"], json!(-0.9), "{report}");

    // Scores are staff's: in SQL a customer sees none, an admin all of them.
    let count = "SELECT count(*) FROM message_sentiment";
    let seen = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, i64>(0);
    assert_eq!(
        seen(app.sql_as("carol", "user", count, &[]).await.unwrap()),
        0
    );
    assert_eq!(
        seen(app.sql_as("root", "admin", count, &[]).await.unwrap()) as usize,
        messages.len()
    );
}

#[tokio::test]
async fn a_model_that_fails_or_answers_nonsense_leaves_the_offline_score() {
    for behaviour in [Behaviour::Fail(500), Behaviour::Answer("mostly positive")] {
        let llm = FakeLlm::start(behaviour).await;
        let app = spawn_app_with(|c| {
            c.ai.ai_base_url = Some(llm.base_url.clone());
            c.ai.ai_retries = 0;
            c.ai.ai_sentiment = pgchat::config::SentimentScorer::Model;
        })
        .await;
        let admin = app.token("root", "admin");
        let (_, path, sent) = a_chat_to_score(&app).await;
        let (status, body) = app.get(&admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!llm.seen().is_empty(), "the model was asked");
        assert_eq!(body["provider"], "offline", "{body}");
        let great = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == sent[0]["id"])
            .unwrap();
        assert_eq!(
            (&great["label"], &great["provider"]),
            (&json!("positive"), &json!("offline"))
        );
    }
}

#[tokio::test]
async fn answers_name_the_faq_entries_and_messages_they_used_with_a_confidence() {
    // offline: the FAQ entry it answered from, and its match score
    let app = spawn_app_with(|_| {}).await;
    let faq_id: i64 = app
        .db
        .query_one(
            "INSERT INTO ai_faq (question, answer) VALUES ('How long does shipping take?', 'Orders ship within 2 days.') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let alice = app.token("alice", "user");
    let (status, body) = ask(
        &app,
        &alice,
        json!({ "question": "how long does shipping take" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["sources"],
        json!([{ "kind": "faq", "id": faq_id, "question": "How long does shipping take?" }])
    );
    let confidence = body["confidence"].as_f64().unwrap();
    assert!(confidence > 0.5 && confidence <= 1.0, "{body}");

    // an API: the labels it cites become sources (and leave the text); the
    // confidence comes from the log-probabilities, asked for when configured
    let llm = FakeLlm::start(Behaviour::Answer(
        "Orders ship within 2 days [F1]. You ordered on Monday [M1].",
    ))
    .await;
    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(llm.base_url.clone());
        c.ai.ai_logprobs = true;
    })
    .await;
    app.db
        .execute(
            "INSERT INTO ai_faq (question, answer) VALUES ('How long does shipping take?', 'Orders ship within 2 days.')",
            &[],
        )
        .await
        .unwrap();
    let alice = user(&app, "alice").await;
    let lounge = room(
        &app,
        &alice,
        json!({ "name": "orders", "type": "private", "settings": { "enable_ai": true } }),
    )
    .await;
    let said = app.send(&alice, &lounge["id"], "I ordered on Monday").await;
    let (status, body) = ask(
        &app,
        &alice,
        json!({ "question": "how long does shipping take?", "conversation_id": lounge["id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["answer"],
        "Orders ship within 2 days. You ordered on Monday."
    );
    assert_eq!(body["sources"][0]["kind"], "faq");
    assert_eq!(
        body["sources"][1],
        json!({ "kind": "message", "id": said["id"] })
    );
    assert_eq!(body["confidence"], json!(0.8));
    assert_eq!(llm.seen()[0].1["logprobs"], json!(true));
    let prompt = llm.last_prompt();
    assert!(
        prompt.contains("[M1] Alice (user): I ordered on Monday"),
        "{prompt}"
    );
    assert!(
        prompt.contains("[F1] Q: How long does shipping take?"),
        "{prompt}"
    );

    // an answer in the conversation carries them in its metadata
    let asked = app
        .send(&alice, &lounge["id"], "@ai how long does shipping take?")
        .await;
    let answer = reply_to(&app, &alice, &lounge["id"], &asked).await;
    assert_eq!(answer["kind"], "ai_response", "{answer}");
    assert_eq!(answer["metadata"]["ai"]["sources"], body["sources"]);
    assert_eq!(answer["metadata"]["ai"]["confidence"], json!(0.8));
}

#[tokio::test]
async fn translate_phrases_translate_a_text_or_the_message_replied_to() {
    let llm = FakeLlm::start(Behaviour::Answer("Guten Morgen")).await;
    let app = spawn_app_with(|c| c.ai.ai_base_url = Some(llm.base_url.clone())).await;
    let (alice, sent, _) = good_morning_in_an_ai_room(&app).await;
    let conversation = sent["conversation_id"].clone();

    // a text in the message itself
    let asked = app
        .send(
            &alice,
            &conversation,
            "Translate to DE: Good morning, everyone",
        )
        .await;
    let answer = reply_to(&app, &alice, &conversation, &asked).await;
    assert_eq!(
        (&answer["kind"], &answer["body"]),
        (&json!("ai_response"), &json!("Guten Morgen"))
    );
    assert_eq!(answer["metadata"]["ai"]["task"], "translate", "{answer}");
    assert_eq!(answer["metadata"]["ai"]["lang"], "de");
    assert_eq!(
        answer["metadata"]["ai"]["translated_message_id"],
        Value::Null
    );
    let prompt = llm.last_prompt();
    assert!(prompt.contains("Target language: de"), "{prompt}");
    assert!(prompt.ends_with("Good morning, everyone"), "{prompt}");

    // "Translate" in reply to a message: that message, through the cache
    let (status, asked) = app
        .post(
            &alice,
            &format!("/v1/conversations/{}/messages", as_id(&conversation)),
            &json!({ "body": "translate into fr", "reply_to": sent["id"], "client_msg_id": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    let answer = reply_to(&app, &alice, &conversation, &asked).await;
    assert_eq!(answer["metadata"]["ai"]["lang"], "fr", "{answer}");
    assert_eq!(
        answer["metadata"]["ai"]["translated_message_id"],
        sent["id"]
    );
    assert!(llm.last_prompt().ends_with("\nGood morning"));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM message_translations WHERE message_id = '{}' AND lang = 'fr'",
            as_id(&sent["id"])
        ))
        .await,
        1
    );

    // nothing to translate: a notice says how
    let asked = app.send(&alice, &conversation, "Translate").await;
    let notice = reply_to(&app, &alice, &conversation, &asked).await;
    assert_eq!(notice["kind"], "system");
    assert_eq!(notice["metadata"]["ai_error"], "nothing_to_translate");
    // words that merely start like a phrase call nothing
    app.send(&alice, &conversation, "translated docs are on the wiki")
        .await;
    app.send(&alice, &conversation, "translate to french: bonjour")
        .await;
    jobs_done(&app).await;
    assert_eq!(llm.seen().len(), 2);
}

#[tokio::test]
async fn the_phrases_that_call_the_assistant_are_configured() {
    let llm = FakeLlm::start(Behaviour::Answer("Here I am.")).await;
    let app = spawn_app_with(|c| {
        c.ai.ai_base_url = Some(llm.base_url.clone());
        c.ai.ai_triggers = vec!["hey bot".into(), "!ask".into()];
    })
    .await;
    let alice = user(&app, "alice").await;
    let lounge = room(
        &app,
        &alice,
        json!({ "name": "lounge", "type": "private", "settings": { "enable_ai": true } }),
    )
    .await;
    let not_a_call = app.send(&alice, &lounge["id"], "@ai are you there?").await;
    let called = app
        .send(&alice, &lounge["id"], "Hey Bot, are you there?")
        .await;
    let answer = reply_to(&app, &alice, &lounge["id"], &called).await;
    assert_eq!(answer["body"], "Here I am.");
    assert!(llm.last_prompt().ends_with("Question: are you there?"));
    let called = app
        .send(&alice, &lounge["id"], "!ask (really) what now")
        .await;
    reply_to(&app, &alice, &lounge["id"], &called).await;
    assert!(llm.last_prompt().ends_with("Question: (really) what now"));
    app.send(&alice, &lounge["id"], "hey botany fans").await;
    jobs_done(&app).await;
    assert_eq!(llm.seen().len(), 2, "@ai and `hey botany` call nothing");
    let page = app.messages(&alice, &lounge["id"], "").await;
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["reply_to"] != not_a_call["id"]));
    // the earlier questions are context, not answers
    assert!(llm.last_prompt().contains("Hey Bot, are you there?"));
}
