//! Moderation, continued: the model check (a moderations server started by
//! each test, and the offline provider), edits checked like sends, the live
//! notices of the review queues on inboxes, and what a listener outage must
//! not lose or leak (a held message approved, a join request approved, a
//! message hidden for oneself).

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::chat_helpers::{invite, join, room, room_path, user};
use crate::helpers::{as_id, assert_error, spawn_app, spawn_app_with, wait_for, TestApp};
use crate::moderation::{admin, bodies, lists, moderated_room};
use crate::stub_http::StubHttp;
use crate::ws_client::Ws;

// ── a moderations server ────────────────────────────────────────────────────

struct Shared {
    /// Answer 500 to everything.
    fail: bool,
    /// When set, each answer waits for a permit (the test lets it go).
    gate: Option<Arc<Semaphore>>,
    seen: Mutex<Vec<Value>>,
}

/// An OpenAI-compatible `POST /v1/moderations` on a free port: flags a text
/// containing "nasty" (category `harassment`); stops when dropped.
struct FakeModeration {
    base_url: String,
    shared: Arc<Shared>,
    _server: StubHttp,
}

impl FakeModeration {
    async fn start(fail: bool, gate: Option<Arc<Semaphore>>) -> FakeModeration {
        let shared = Arc::new(Shared {
            fail,
            gate,
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/v1/moderations", post(moderations))
            .with_state(shared.clone());
        let server = StubHttp::start(app).await;
        FakeModeration {
            base_url: format!("{}/v1", server.base),
            shared,
            _server: server,
        }
    }

    fn seen(&self) -> Vec<Value> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn moderations(
    State(shared): State<Arc<Shared>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    shared.seen.lock().unwrap().push(body.clone());
    if let Some(gate) = &shared.gate {
        gate.acquire().await.unwrap().forget();
    }
    if shared.fail {
        return (
            AxumStatus::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "error": { "message": "down" } })),
        )
            .into_response();
    }
    let nasty = body["input"].as_str().unwrap_or_default().contains("nasty");
    axum::Json(json!({
        "id": "modr-test", "model": "fake-moderation",
        "results": [{ "flagged": nasty,
                      "categories": { "harassment": nasty, "violence": false },
                      "category_scores": { "harassment": if nasty { 0.9 } else { 0.01 } } }],
    }))
    .into_response()
}

// ── helpers ─────────────────────────────────────────────────────────────────

async fn model_app(fake: Option<&FakeModeration>) -> TestApp {
    let base = fake.map(|f| f.base_url.clone());
    spawn_app_with(move |c| {
        c.ai.ai_moderation = true;
        if let Some(base) = base {
            c.ai.ai_base_url = Some(base);
            c.ai.ai_offline = false;
            c.ai.ai_retries = 0;
        }
    })
    .await
}

async fn set_mode(app: &TestApp, owner: &str, room: &Value, mode: &str) {
    let (status, body) = app
        .patch(
            owner,
            &room_path(room, ""),
            &json!({ "settings": { "moderation": mode } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn queue(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = app.get(token, "/v1/moderation/queue").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("items").clone()
}

/// The pending queue once it has `n` items.
async fn queued(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} queue items"), || async {
        let items = queue(app, token).await;
        (items.len() >= n).then_some(items)
    })
    .await
}

async fn jobs_done(app: &TestApp) {
    wait_for("the model checks done", || async {
        app.count("SELECT count(*) FROM ai_jobs").await == 0
    })
    .await;
}

fn topic(room: &Value) -> String {
    format!("conversation:{}", as_id(&room["id"]))
}

async fn send_with_id(app: &TestApp, token: &str, room: &Value, body: &str, id: Uuid) -> Value {
    let (status, sent) = app
        .send_json(
            token,
            &room["id"],
            &json!({ "body": body, "client_msg_id": id }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    sent
}

// ── the model check ─────────────────────────────────────────────────────────

#[tokio::test]
async fn the_model_check_runs_after_the_send_and_flags_for_the_rooms_reviewers() {
    let gate = Arc::new(Semaphore::new(0));
    let fake = FakeModeration::start(false, Some(gate.clone())).await;
    let app = model_app(Some(&fake)).await;
    let (alice, bob, carol, room) = moderated_room(&app, "flag").await;
    let mut alice_inbox = Ws::connect(app.port, &alice).await;
    alice_inbox.subscribe("inbox", None).await;
    let mut carol_ws = Ws::connect(app.port, &carol).await;
    carol_ws.subscribe("inbox", None).await;
    carol_ws.subscribe(&topic(&room), None).await;

    // the send is answered and delivered while the model has not answered
    let sent = app.send(&bob, &room["id"], "you are nasty").await;
    assert_eq!(sent["moderation"], Value::Null);
    let frames = carol_ws.until_message("you are nasty").await;
    assert!(!frames.iter().any(|f| f["type"] == "moderation_queued"));
    wait_for("the model to be asked", || async {
        (!fake.seen().is_empty()).then_some(())
    })
    .await;
    assert_eq!(fake.seen()[0]["input"], "you are nasty");
    assert_eq!(fake.seen()[0]["model"], "omni-moderation-latest");
    assert!(queue(&app, &alice).await.is_empty(), "no verdict yet");

    // its verdict queues the message for the room's reviewers, who are told live
    gate.add_permits(100);
    let items = queued(&app, &alice, 1).await;
    assert_eq!(items[0]["message_id"], sent["id"]);
    assert_eq!(items[0]["action"], "flag");
    assert_eq!(items[0]["matched"], "model: harassment");
    let told = alice_inbox.event_of("moderation_queued").await;
    assert_eq!(told["topic"], "inbox");
    assert_eq!(told["conversation_id"], room["id"]);
    assert_eq!(told["item"]["id"], items[0]["id"]);
    assert_eq!(told["item"]["message_id"], sent["id"]);
    // a member who reviews nothing is not told: the fence is a later message
    app.send(&alice, &room["id"], "fence").await;
    let frames = carol_ws.until_message("fence").await;
    assert!(
        !frames.iter().any(|f| f["type"] == "moderation_queued"),
        "{frames:?}"
    );

    // a clean message passes; what the owner says is not checked
    app.send(&bob, &room["id"], "have a nice day").await;
    app.send(&alice, &room["id"], "nasty, says the owner").await;
    jobs_done(&app).await;
    assert_eq!(queue(&app, &alice).await.len(), 1);
    let inputs: Vec<Value> = fake.seen().iter().map(|b| b["input"].clone()).collect();
    assert_eq!(inputs, [json!("you are nasty"), json!("have a nice day")]);
}

#[tokio::test]
async fn hold_with_the_model_check_keeps_each_message_until_its_verdict() {
    let fake = FakeModeration::start(false, None).await;
    let app = model_app(Some(&fake)).await;
    let (alice, bob, carol, room) = moderated_room(&app, "hold").await;
    let mut carol_ws = Ws::connect(app.port, &carol).await;
    carol_ws.subscribe(&topic(&room), None).await;

    // held at the send (its sender sees it so), released by a clean verdict:
    // everyone gets it once, as a new message with its client id
    let id = Uuid::new_v4();
    let sent = send_with_id(&app, &bob, &room, "good morning", id).await;
    assert_eq!(sent["moderation"], "held");
    let frames = carol_ws.until_message("good morning").await;
    let released: Vec<&Value> = frames
        .iter()
        .filter(|f| f["message"]["id"] == sent["id"])
        .collect();
    assert_eq!(released.len(), 1, "{frames:?}");
    assert_eq!(released[0]["type"], "message_new");
    assert_eq!(released[0]["message"]["client_msg_id"], json!(id));
    assert_eq!(released[0]["message"]["moderation"], Value::Null);

    // flagged: it stays held, queued for a reviewer
    let nasty = app.send(&bob, &room["id"], "nasty words").await;
    assert_eq!(nasty["moderation"], "held");
    let items = queued(&app, &alice, 1).await;
    assert_eq!(items[0]["message_id"], nasty["id"]);
    assert_eq!(items[0]["action"], "hold");
    assert_eq!(items[0]["matched"], "model: harassment");
    app.send(&alice, &room["id"], "marker").await;
    let frames = carol_ws.until_message("marker").await;
    assert!(
        !frames.iter().any(|f| f["message"]["id"] == nasty["id"]),
        "{frames:?}"
    );
    assert!(!bodies(&app.messages(&carol, &room["id"], "").await).contains(&"nasty words".into()));

    // the release is audited as the model's decision
    let audit = app
        .db
        .query(
            "SELECT actor, action, target FROM desk_audit WHERE action LIKE 'moderation_%' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let audit: Vec<(String, String, String)> = audit
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        audit,
        [(
            "model:openai".to_owned(),
            "moderation_approved".to_owned(),
            as_id(&sent["id"]).to_owned()
        )]
    );
}

#[tokio::test]
async fn reject_with_the_model_check_withdraws_the_message_and_tells_its_sender() {
    let fake = FakeModeration::start(false, None).await;
    let app = model_app(Some(&fake)).await;
    let (_alice, bob, carol, room) = moderated_room(&app, "reject").await;
    let mut carol_ws = Ws::connect(app.port, &carol).await;
    carol_ws.subscribe(&topic(&room), None).await;
    let mut bob_inbox = Ws::connect(app.port, &bob).await;
    bob_inbox.subscribe("inbox", None).await;

    let sent = app.send(&bob, &room["id"], "a nasty remark").await;
    let deleted = carol_ws.event_of("message_deleted").await;
    assert_eq!(deleted["message"]["id"], sent["id"]);
    assert_eq!(deleted["message"]["body"], "");
    let told = bob_inbox.event_of("moderation_withdrawn").await;
    assert_eq!(told["message"]["message_id"], sent["id"]);
    assert_eq!(told["message"]["reason"], "model: harassment");
    let audit = app
        .count(
            "SELECT count(*) FROM desk_audit WHERE actor = 'model:openai'
                AND action = 'moderation_rejected' AND details->>'matched' = 'model: harassment'",
        )
        .await;
    assert_eq!(audit, 1);
    assert!(
        queue(&app, &admin(&app)).await.is_empty(),
        "decided, not queued"
    );
}

#[tokio::test]
async fn when_the_model_check_fails_the_message_goes_to_a_reviewer() {
    let fake = FakeModeration::start(true, None).await;
    let app = model_app(Some(&fake)).await;
    let (alice, bob, carol, room) = moderated_room(&app, "hold").await;
    let held = app.send(&bob, &room["id"], "anything at all").await;
    assert_eq!(held["moderation"], "held");
    let items = queued(&app, &alice, 1).await;
    assert_eq!(items[0]["message_id"], held["id"]);
    assert_eq!(items[0]["action"], "hold");
    assert_eq!(items[0]["matched"], "model_unavailable");
    assert!(!fake.seen().is_empty());
    assert!(
        !bodies(&app.messages(&carol, &room["id"], "").await).contains(&"anything at all".into())
    );
    // in flag mode a failed check leaves the message delivered, for review
    set_mode(&app, &alice, &room, "flag").await;
    let flagged = app.send(&bob, &room["id"], "something else").await;
    let items = queued(&app, &alice, 2).await;
    assert_eq!(items[1]["message_id"], flagged["id"]);
    assert_eq!(items[1]["action"], "flag");
    assert!(bodies(&app.messages(&carol, &room["id"], "").await).contains(&"something else".into()));
}

#[tokio::test]
async fn the_offline_provider_has_a_model_check_too() {
    let app = model_app(None).await;
    let (alice, bob, _carol, room) = moderated_room(&app, "flag").await;
    let rude = app.send(&bob, &room["id"], "you IDIOT").await;
    app.send(&bob, &room["id"], "a kind word").await;
    jobs_done(&app).await;
    let items = queue(&app, &alice).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["message_id"], rude["id"]);
    assert_eq!(items[0]["matched"], "model: harassment");
}

#[tokio::test]
async fn without_the_switch_or_a_mode_nothing_is_checked() {
    let app = spawn_app().await;
    let (_alice, bob, _carol, room) = moderated_room(&app, "hold").await;
    // no lists, no model check: hold holds nothing
    let sent = app.send(&bob, &room["id"], "you IDIOT").await;
    assert_eq!(sent["moderation"], Value::Null);
    assert_eq!(app.count("SELECT count(*) FROM ai_jobs").await, 0);
    // the switch on, a room without a mode is not checked
    let app = model_app(None).await;
    let (_alice, bob, _carol, room) = moderated_room(&app, "off").await;
    app.send(&bob, &room["id"], "you IDIOT").await;
    assert_eq!(app.count("SELECT count(*) FROM ai_jobs").await, 0);
}

// ── edits ───────────────────────────────────────────────────────────────────

async fn edit(app: &TestApp, token: &str, message: &Value, body: &str) -> (StatusCode, Value) {
    app.patch(
        token,
        &format!("/v1/messages/{}", as_id(&message["id"])),
        &json!({ "body": body }),
    )
    .await
}

async fn stored_body(app: &TestApp, message: &Value) -> String {
    let id: Uuid = as_id(&message["id"]).parse().unwrap();
    app.db
        .query_one("SELECT body FROM chat_messages WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_edit_is_checked_with_the_lists_and_mode_of_a_send() {
    let app = spawn_app().await;
    lists(&app, json!(["secret"]), json!([])).await;
    let (alice, bob, carol, room) = moderated_room(&app, "reject").await;
    let mut alice_inbox = Ws::connect(app.port, &alice).await;
    alice_inbox.subscribe("inbox", None).await;
    let mut carol_ws = Ws::connect(app.port, &carol).await;
    carol_ws.subscribe(&topic(&room), None).await;
    let first = app.send(&bob, &room["id"], "hello").await;
    let second = app.send(&bob, &room["id"], "plain").await;

    // reject: refused, nothing written
    assert_error(
        &edit(&app, &bob, &first, "the secret").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "moderation_rejected",
    );
    assert_eq!(stored_body(&app, &first).await, "hello");
    assert!(queue(&app, &alice).await.is_empty());

    // flag: applied, and queued with the edited text; reviewers are told
    set_mode(&app, &alice, &room, "flag").await;
    let (status, edited) = edit(&app, &bob, &first, "a secret").await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["body"], "a secret");
    let items = queue(&app, &alice).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            &items[0]["action"],
            &items[0]["matched"],
            &items[0]["edited_body"]
        ),
        (&json!("flag"), &json!("secret"), &Value::Null)
    );
    assert_eq!(items[0]["message"]["body"], "a secret");
    let told = alice_inbox.event_of("moderation_queued").await;
    assert_eq!(told["item"]["message_id"], first["id"]);
    // approved, then edited to match again: pending again
    let path = format!("/v1/moderation/queue/{}/approve", items[0]["id"]);
    let (status, _) = app.post(&alice, &path, &json!({ "reason": "fine" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        edit(&app, &bob, &first, "secret two").await.0,
        StatusCode::OK
    );
    let items = queue(&app, &alice).await;
    assert_eq!((items.len(), &items[0]["status"]), (1, &json!("pending")));

    // hold: the message keeps its text; the edit waits for a reviewer
    set_mode(&app, &alice, &room, "hold").await;
    let (status, kept) = edit(&app, &bob, &second, "plain secret").await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["body"], "plain");
    assert_eq!(stored_body(&app, &second).await, "plain");
    let items = queue(&app, &alice).await;
    let held = items
        .iter()
        .find(|i| i["message_id"] == second["id"])
        .expect("the held edit");
    assert_eq!(held["action"], "hold");
    assert_eq!(held["edited_body"], "plain secret");
    // approved: applied, and everyone sees the edit
    let path = format!("/v1/moderation/queue/{}/approve", held["id"]);
    let (status, decided) = app.post(&alice, &path, &json!({ "reason": "ok" })).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let frames = carol_ws
        .until("the applied edit", |f| {
            f["type"] == "message_updated" && f["message"]["id"] == second["id"]
        })
        .await;
    // the held edit itself was never shown
    assert_eq!(frames.last().unwrap()["message"]["body"], "plain secret");
    assert!(!frames[..frames.len() - 1]
        .iter()
        .any(|f| f["type"] == "message_updated" && f["message"]["id"] == second["id"]));
    assert_eq!(stored_body(&app, &second).await, "plain secret");
    // a clean edit in hold mode is applied at once
    let (status, clean) = edit(&app, &bob, &second, "plain again").await;
    assert_eq!(
        (status, &clean["body"]),
        (StatusCode::OK, &json!("plain again"))
    );
}

// ── live notices ────────────────────────────────────────────────────────────

#[tokio::test]
async fn a_join_request_reaches_the_rooms_moderators_and_the_approval_the_requester() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let dave = user(&app, "dave").await;
    let club = room(
        &app,
        &alice,
        json!({ "name": "Club", "type": "public", "settings": { "require_approval": true } }),
    )
    .await;
    invite(&app, &alice, &club, "carol", "member").await;
    invite(&app, &alice, &club, "dave", "moderator").await;
    let mut inboxes = Vec::new();
    for token in [&alice, &dave, &carol, &bob] {
        let mut ws = Ws::connect(app.port, token).await;
        ws.subscribe("inbox", None).await;
        inboxes.push(ws);
    }
    let mut root = Ws::connect(app.port, &admin(&app)).await;
    root.subscribe("inbox", None).await;

    let (status, asked) = app.post(&bob, &room_path(&club, "/join"), &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    let (deciders, _) = inboxes.split_at_mut(2);
    for ws in deciders.iter_mut().chain(std::iter::once(&mut root)) {
        let told = ws.event_of("join_requested").await;
        assert_eq!(told["conversation_id"], club["id"]);
        assert_eq!(told["request"]["user_id"], "bob");
        assert_eq!(told["request"]["name"], "Bob");
    }
    // a plain member is not told (the fence: a message, which members' inboxes get)
    app.send(&alice, &club["id"], "fence").await;
    let frames = inboxes[2].until_message("fence").await;
    assert!(
        !frames.iter().any(|f| f["type"] == "join_requested"),
        "{frames:?}"
    );

    // approved: the requester gets the room on their inbox, as on a join
    let (status, _) = app
        .post(
            &dave,
            &room_path(&club, "/requests/bob/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let joined = inboxes[3].event_of("member_joined").await;
    assert_eq!(joined["conversation_id"], club["id"]);
    assert_eq!(joined["user_id"], "bob");
}

// ── listener outages ────────────────────────────────────────────────────────

/// Takes the listener down and keeps it down until `allow_connections(true)`.
async fn listener_outage(app: &TestApp) {
    app.allow_connections(false).await;
    app.kill_listener().await;
    wait_for("the listener to be down", || async {
        let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
        ready.status() != StatusCode::OK
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_message_approved_during_a_listener_outage_arrives_once_afterwards() {
    let app = spawn_app().await;
    lists(&app, json!(["secret"]), json!([])).await;
    let (alice, bob, carol, room) = moderated_room(&app, "hold").await;
    let mut carol_ws = Ws::connect(app.port, &carol).await;
    carol_ws.subscribe(&topic(&room), None).await;
    let id = Uuid::new_v4();
    let held = send_with_id(&app, &bob, &room, "the secret", id).await;
    assert_eq!(held["moderation"], "held");
    let items = queue(&app, &alice).await;

    listener_outage(&app).await;
    let path = format!("/v1/moderation/queue/{}/approve", items[0]["id"]);
    let (status, body) = app.post(&alice, &path, &json!({ "reason": "fine" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.send(&alice, &room["id"], "marker").await;
    app.allow_connections(true).await;

    let frames = carol_ws.until_message("marker").await;
    let seen: Vec<&Value> = frames
        .iter()
        .filter(|f| f["message"]["id"] == held["id"])
        .collect();
    assert_eq!(seen.len(), 1, "exactly once: {frames:?}");
    assert_eq!(seen[0]["type"], "message_new");
    assert_eq!(seen[0]["message"]["client_msg_id"], json!(id));
    assert_eq!(seen[0]["message"]["body"], "the secret");
    // and not again later
    app.send(&alice, &room["id"], "marker two").await;
    let frames = carol_ws.until_message("marker two").await;
    assert!(
        !frames.iter().any(|f| f["message"]["id"] == held["id"]),
        "{frames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_join_request_approved_during_a_listener_outage_gives_the_member_the_room_afterwards() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let club = room(
        &app,
        &alice,
        json!({ "name": "Club", "type": "public", "settings": { "require_approval": true } }),
    )
    .await;
    let mut bob_inbox = Ws::connect(app.port, &bob).await;
    let ack = bob_inbox.subscribe("inbox", None).await;
    assert_eq!(ack["conversations"], json!([]));
    let (status, _) = app.post(&bob, &room_path(&club, "/join"), &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    listener_outage(&app).await;
    let (status, _) = app
        .post(
            &alice,
            &room_path(&club, "/requests/bob/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.allow_connections(true).await;

    // the member_joined notice was lost; the inbox is given afresh
    let snapshot = bob_inbox.event_of("inbox_snapshot").await;
    assert_eq!(snapshot["topic"], "inbox");
    let rooms: Vec<&Value> = snapshot["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| &c["conversation_id"])
        .collect();
    assert_eq!(rooms, [&club["id"]], "{snapshot}");
    // and live delivery goes on
    app.send(&alice, &club["id"], "welcome").await;
    let frames = bob_inbox.until_message("welcome").await;
    assert!(!frames.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_hidden_during_a_listener_outage_is_not_delivered_to_the_hiders_other_devices() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let club = room(&app, &alice, json!({ "name": "Club", "type": "public" })).await;
    join(&app, &bob, &club).await;
    let mut phone = Ws::connect(app.port, &bob).await;
    phone.subscribe(&topic(&club), None).await;
    let mut laptop = Ws::connect(app.port, &bob).await;
    laptop.subscribe(&topic(&club), None).await;
    let before = app.send(&alice, &club["id"], "said before").await;
    phone.until_message("said before").await;
    laptop.until_message("said before").await;

    listener_outage(&app).await;
    // a new message and an older one, hidden while nobody is told; the older edited after
    let new = app.send(&alice, &club["id"], "said during").await;
    for message in [&new, &before] {
        let path = format!("/v1/messages/{}/me", as_id(&message["id"]));
        let (status, body) = app.delete(&bob, &path).await;
        assert!(status.is_success(), "{status} {body}");
    }
    let (status, _) = edit(&app, &alice, &before, "said before, edited").await;
    assert_eq!(status, StatusCode::OK);
    app.send(&alice, &club["id"], "marker").await;
    app.allow_connections(true).await;

    for device in [&mut phone, &mut laptop] {
        let frames = device.until_message("marker").await;
        let leaked: Vec<&Value> = frames
            .iter()
            .filter(|f| {
                f["type"] != "message_hidden"
                    && (f["message"]["id"] == new["id"] || f["message"]["id"] == before["id"])
            })
            .collect();
        assert!(leaked.is_empty(), "{leaked:?}");
        let hidden: Vec<&Value> = frames
            .iter()
            .filter(|f| f["type"] == "message_hidden")
            .map(|f| &f["message_id"])
            .collect();
        assert!(hidden.contains(&&new["id"]), "{frames:?}");
    }
}
