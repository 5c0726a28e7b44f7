//! The security matrix: every REST route and WebSocket action × every kind of
//! caller (anonymous, a customer, another customer, the assigned agent, another
//! agent, an admin, a room member, a member banned from the room) × own and
//! foreign rows → the expected answer. The table below is the specification;
//! one loop runs it and the failure lists every cell that differs. A route the
//! router serves without a row here fails `every_served_route_has_a_row`.
//!
//! Reading the table: `404` is "absent or not yours to see" (a foreign row is
//! never revealed). `403 staff_only` is a refusal by role, made before any
//! lookup, so it is the same for every id and reveals nothing. Platform admins
//! read and moderate everywhere (docs/api.md, rooms); where an action needs
//! membership they get `403 not_a_member`. Rows marked with a fresh fixture get
//! a new one per cell, so one caller's success does not change the next cell.

use std::collections::{BTreeSet, HashMap};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{invite, moderate, room_of, user};
use crate::helpers::{as_id, spawn_app_with, TestApp};
use crate::routes;
use crate::ws_client::Ws;

/// The columns: who calls.
const WHO: [&str; 8] = ["anon", "carol", "dave", "ann", "bob", "admin", "mia", "ben"];

/// Fixtures made again for each cell, for rows that change what they touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fresh {
    No,
    /// carol's new waiting session: `{fs}`, `{fc}`.
    Waiting,
    /// carol's new session claimed by ann: `{fs}`, `{fc}`, carol's message `{fm}`.
    Active,
    /// carol's new session, claimed, then ended: `{fs}`.
    Ended,
    /// a new private room of olivia's with mia a member, ben banned: `{fr}`;
    /// mia's message `{fmm}`, olivia's `{fmo}`; mia's poll `{fqm}`, olivia's `{fqo}`.
    Room,
    /// a new public room of olivia's with ben banned: `{fp}`.
    Public,
    /// a new public room of olivia's requiring approval, mia a member, ben
    /// banned, a new user's request to join waiting: `{fq}`, the user `{fqu}`.
    Asked,
    /// a canned response of ann's `{fk}`.
    Canned,
    /// a new agent on the desk: `{fa}`.
    Agent,
    /// carol's upload into her active session `{fs}`/`{fc}`, not completed: `{fu}`.
    Upload,
    /// a new team: `{ft}`.
    Team,
}

/// One row: a request (or a WebSocket frame) and what each caller gets.
struct Row {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    fresh: Fresh,
    /// For [anon, carol, dave, ann, bob, admin, mia, ben]: a status ("200"),
    /// "2xx", "-" (not asked); for WS rows "ack", "pong" or "err:<code>"
    /// ("401": the upgrade itself is refused).
    expect: [&'static str; 8],
}

const fn row(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    fresh: Fresh,
    expect: [&'static str; 8],
) -> Row {
    Row {
        method,
        path,
        body,
        fresh,
        expect,
    }
}

use Fresh::*;

//                                  anon   carol  dave   ann    bob    admin  mia    ben
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // ── operations ──────────────────────────────────────────────────────────
    row("GET", "/healthz", None, No,                    ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/readyz", None, No,                     ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/metrics", None, No,                    ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/v1/openapi.json", None, No,            ["200", "200", "200", "200", "200", "200", "200", "200"]),
    // ── web clients and the development sign-in (off: PGCHAT_DEV unset) ──────
    row("GET", "/", None, No,                           ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/desk", None, No,                       ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/chat", None, No,                       ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/widget.js", None, No,                  ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/favicon.ico", None, No,                ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/client/{f_client}", None, No,          ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/assets/{f_asset}", None, No,           ["200", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/dev", None, No,                        ["404", "404", "404", "404", "404", "404", "404", "404"]),
    row("POST", "/v1/dev/token", Some(r#"{"sub":"root","role":"admin"}"#), No,
                                                        ["404", "404", "404", "404", "404", "404", "404", "404"]),
    // ── support sessions ────────────────────────────────────────────────────
    row("GET", "/v1/support/sessions", None, No,        ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("POST", "/v1/support/sessions", Some(r#"{"subject":"help","message":{"body":"hi","client_msg_id":"{uuid}"}}"#), No,
                                                        ["401", "201", "201", "403", "403", "403", "201", "201"]),
    // carol's active session (ann's), dave's waiting one
    row("GET", "/v1/support/sessions/{S_c}", None, No,  ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("GET", "/v1/support/sessions/{S_d}", None, No,  ["401", "404", "200", "200", "200", "200", "404", "404"]),
    row("GET", "/v1/support/sessions/{S_c}/sentiment", None, No,
                                                        ["401", "403 staff_only", "403 staff_only", "200", "404", "200", "403 staff_only", "403 staff_only"]),
    row("GET", "/v1/support/sessions/{S_c}/queue", None, No, ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("GET", "/v1/support/sessions/{S_d}/queue", None, No, ["401", "404", "200", "200", "200", "200", "404", "404"]),
    row("PATCH", "/v1/support/sessions/{S_c}", Some(r#"{"priority":"high"}"#), No,
                                                        ["401", "403", "403 staff_only", "200", "404", "200", "403 staff_only", "403 staff_only"]),
    row("POST", "/v1/support/sessions/{fs}/claim", None, Waiting,
                                                        ["401", "403", "403 staff_only", "200", "200", "200", "403 staff_only", "403 staff_only"]),
    row("POST", "/v1/support/sessions/{S_c}/claim", None, No,
                                                        ["401", "403", "403 staff_only", "200", "404", "409", "403 staff_only", "403 staff_only"]),
    row("POST", "/v1/support/sessions/{fs}/end", None, Active,
                                                        ["401", "200", "404", "200", "404", "200", "404", "404"]),
    // the lifecycle: staff move a session; a customer may not (a request for
    // the status it has changes nothing: reopening an active one)
    row("POST", "/v1/support/sessions/{fs}/resolve", None, Active,
                                                        ["401", "403 staff_only", "404", "200", "404", "200", "404", "404"]),
    row("POST", "/v1/support/sessions/{fs}/reopen", None, Active,
                                                        ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("POST", "/v1/support/sessions/{fs}/snooze", Some(r#"{"until":"2099-01-01T00:00:00Z"}"#), Active,
                                                        ["401", "403 staff_only", "404", "200", "404", "200", "404", "404"]),
    row("POST", "/v1/support/sessions/{fs}/close", None, Active,
                                                        ["401", "403 staff_only", "404", "200", "404", "200", "404", "404"]),
    // bulk: 200 with a result per item (each authorized on its own)
    row("POST", "/v1/support/sessions/bulk", Some(r#"{"ids":["{fs}"],"action":"priority","params":{"priority":"high"}}"#), Active,
                                                        ["401", "200", "200", "200", "200", "200", "200", "200"]),
    // labels: staff with the rights of PATCH (a customer is refused as one)
    row("PUT", "/v1/support/sessions/{fs}/labels/{l_vip}", None, Active,
                                                        ["401", "403 staff_only", "403 staff_only", "200", "404", "200", "403 staff_only", "403 staff_only"]),
    row("DELETE", "/v1/support/sessions/{fs}/labels/{l_vip}", None, Active,
                                                        ["401", "403 staff_only", "403 staff_only", "200", "404", "200", "403 staff_only", "403 staff_only"]),
    row("POST", "/v1/support/sessions/{fs}/rating", Some(r#"{"rating":5,"feedback":"ok"}"#), Ended,
                                                        ["401", "200", "404", "403", "404", "403", "404", "404"]),
    row("POST", "/v1/support/sessions/{fs}/assign", Some(r#"{"agent_id":"bob"}"#), Waiting,
                                                        ["401", "403", "403 staff_only", "200", "200", "200", "403 staff_only", "403 staff_only"]),
    row("POST", "/v1/support/sessions/{fs}/transfer", Some(r#"{"agent_id":"bob"}"#), Active,
                                                        ["401", "403", "403 staff_only", "200", "404", "200", "403 staff_only", "403 staff_only"]),
    // escalation: the session's agent or an admin (the database says why a customer may not)
    row("POST", "/v1/support/sessions/{fs}/escalate", Some(r#"{"reason":"beyond me"}"#), Active,
                                                        ["401", "403 staff_only", "404", "200", "404", "200", "404", "404"]),
    // ── messages ────────────────────────────────────────────────────────────
    row("GET", "/v1/conversations/{C_c}/messages", None, No,
                                                        ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("GET", "/v1/conversations/{C_r}/messages", None, No,
                                                        ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("POST", "/v1/conversations/{C_c}/messages", Some(r#"{"body":"hi","client_msg_id":"{uuid}"}"#), No,
                                                        ["401", "201", "404", "201", "404", "201", "404", "404"]),
    row("POST", "/v1/conversations/{C_c}/messages", Some(r#"{"body":"note","client_msg_id":"{uuid}","internal":true}"#), No,
                                                        ["401", "403 staff_only", "403 staff_only", "201", "404", "201", "403 staff_only", "403 staff_only"]),
    // an agent's first message claims a waiting session
    row("POST", "/v1/conversations/{fc}/messages", Some(r#"{"body":"hi","client_msg_id":"{uuid}"}"#), Waiting,
                                                        ["401", "201", "404", "201", "201", "201", "404", "404"]),
    row("POST", "/v1/conversations/{C_r}/messages", Some(r#"{"body":"hi","client_msg_id":"{uuid}"}"#), No,
                                                        ["401", "404", "404", "404", "404", "201", "201", "404"]),
    row("POST", "/v1/conversations/{C_p}/messages", Some(r#"{"body":"hi","client_msg_id":"{uuid}"}"#), No,
                                                        ["401", "404", "404", "404", "404", "201", "404", "404"]),
    row("POST", "/v1/conversations/{C_c}/read", Some(r#"{"seq":1}"#), No,
                                                        ["401", "200", "404", "200", "404", "403 not_a_member", "404", "404"]),
    row("GET", "/v1/conversations/{C_c}/poll?since=0&timeout_ms=0", None, No,
                                                        ["401", "200", "404", "200", "404", "200", "404", "404"]),
    // ── conversations ───────────────────────────────────────────────────────
    row("GET", "/v1/conversations", None, No,           ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("POST", "/v1/conversations/direct", Some(r#"{"user_id":"olivia"}"#), No,
                                                        ["401", "2xx", "2xx", "2xx", "2xx", "2xx", "2xx", "2xx"]),
    row("POST", "/v1/conversations/direct", Some(r#"{"user_id":"nobody-{uuid}"}"#), No,
                                                        ["401", "404", "404", "404", "404", "404", "404", "404"]),
    row("GET", "/v1/conversations/{D}", None, No,       ["401", "200", "200", "404", "404", "403 not_a_member", "404", "404"]),
    row("GET", "/v1/conversations/{C_c}", None, No,     ["401", "200", "404", "200", "404", "403 not_a_member", "404", "404"]),
    row("PATCH", "/v1/conversations/{D}/me", Some(r#"{"pinned":true}"#), No,
                                                        ["401", "200", "200", "404", "404", "403 not_a_member", "404", "404"]),
    row("POST", "/v1/conversations/{D}/delivered", Some(r#"{"seq":1}"#), No,
                                                        ["401", "200", "200", "404", "404", "403 not_a_member", "404", "404"]),
    row("DELETE", "/v1/conversations/{D}/me", None, No, ["401", "200", "200", "404", "404", "403 not_a_member", "404", "404"]),
    row("POST", "/v1/conversations/{C_c}/summary", Some("{}"), No,
                                                        ["401", "403", "403 staff_only", "200", "404", "200", "403 staff_only", "403 staff_only"]),
    row("POST", "/v1/messages/{M_m}/translate", Some(r#"{"lang":"de"}"#), No,
                                                        ["401", "404", "404", "404", "404", "403 ai_disabled", "403 ai_disabled", "404"]),
    // ── rooms ───────────────────────────────────────────────────────────────
    row("GET", "/v1/rooms", None, No,                   ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("POST", "/v1/rooms", Some(r#"{"name":"new room","type":"public"}"#), No,
                                                        ["401", "201", "201", "201", "201", "201", "201", "201"]),
    row("GET", "/v1/rooms/{R}", None, No,               ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("GET", "/v1/rooms/{P}", None, No,               ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("PATCH", "/v1/rooms/{R}", Some(r#"{"description":"mine now"}"#), No,
                                                        ["401", "404", "404", "404", "404", "200", "403", "404"]),
    row("POST", "/v1/rooms/{fp}/join", None, Public,    ["401", "201", "201", "201", "201", "201", "201", "403"]),
    row("POST", "/v1/rooms/{R}/join", None, No,         ["401", "404", "404", "404", "404", "404", "200", "404"]),
    row("DELETE", "/v1/rooms/{fr}/leave", None, Room,   ["401", "404", "404", "404", "404", "403 not_a_member", "200", "404"]),
    row("POST", "/v1/rooms/{fr}/leave", None, Room,     ["401", "404", "404", "404", "404", "403 not_a_member", "200", "404"]),
    row("GET", "/v1/rooms/{R}/members", None, No,       ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("POST", "/v1/rooms/{fr}/members", Some(r#"{"user_id":"bob"}"#), Room,
                                                        ["401", "404", "404", "404", "404", "201", "201", "404"]),
    row("PATCH", "/v1/rooms/{fr}/members/{u_mia}", Some(r#"{"role":"admin"}"#), Room,
                                                        ["401", "404", "404", "404", "404", "200", "403", "404"]),
    row("PATCH", "/v1/rooms/{fr}/members/{u_ben}", Some(r#"{"banned":false}"#), Room,
                                                        ["401", "404", "404", "404", "404", "200", "403", "404"]),
    row("DELETE", "/v1/rooms/{fr}/members/{u_olivia}", None, Room,
                                                        ["401", "404", "404", "404", "404", "200", "403", "404"]),
    row("GET", "/v1/rooms/{R}/pins", None, No,          ["401", "404", "404", "404", "404", "200", "200", "404"]),
    // a public room's preview is anyone's but the banned; a private one its readers'
    row("GET", "/v1/rooms/{P}/preview", None, No,       ["401", "200", "200", "200", "200", "200", "200", "403 banned"]),
    row("GET", "/v1/rooms/{R}/preview", None, No,       ["401", "404", "404", "404", "404", "200", "200", "404"]),
    // join approval: joining asks (again: the same request), a platform admin
    // joins; the queue is the room's moderators'
    row("POST", "/v1/rooms/{fq}/join", None, Asked,     ["401", "202", "202", "202", "202", "201", "200", "403 banned"]),
    row("GET", "/v1/rooms/{fq}/requests", None, Asked,  ["401", "404", "404", "404", "404", "200", "403 not_a_moderator", "404"]),
    row("POST", "/v1/rooms/{fq}/requests/{fqu}/approve", None, Asked,
                                                        ["401", "404", "404", "404", "404", "200", "403 not_a_moderator", "404"]),
    row("POST", "/v1/rooms/{fq}/requests/{fqu}/reject", None, Asked,
                                                        ["401", "404", "404", "404", "404", "204", "403 not_a_moderator", "404"]),
    row("PUT", "/v1/rooms/{R}/pins/{M_m}", None, No,    ["401", "404", "404", "404", "404", "200", "403", "404"]),
    row("DELETE", "/v1/rooms/{R}/pins/{M_m}", None, No, ["401", "404", "404", "404", "404", "200", "403", "404"]),
    // ── message features: own and foreign messages ──────────────────────────
    row("PATCH", "/v1/messages/{fmm}", Some(r#"{"body":"edited"}"#), Room,
                                                        ["401", "404", "404", "404", "404", "403 not_your_message", "200", "404"]),
    row("PATCH", "/v1/messages/{fmo}", Some(r#"{"body":"edited"}"#), Room,
                                                        ["401", "404", "404", "404", "404", "403 not_your_message", "403 not_your_message", "404"]),
    row("PATCH", "/v1/messages/{fm}", Some(r#"{"body":"edited"}"#), Active,
                                                        ["401", "200", "404", "403", "404", "403", "404", "404"]),
    row("PATCH", "/v1/messages/{N_a}", Some(r#"{"body":"edited"}"#), No,
                                                        ["401", "404", "404", "200", "404", "403", "404", "404"]),
    row("DELETE", "/v1/messages/{fmm}", None, Room,     ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("DELETE", "/v1/messages/{fmo}", None, Room,     ["401", "404", "404", "404", "404", "200", "403", "404"]),
    row("DELETE", "/v1/messages/{fm}", None, Active,    ["401", "200", "404", "403", "404", "200", "404", "404"]),
    // delete for me: whoever reads the message hides it for themselves
    row("DELETE", "/v1/messages/{fm}/me", None, Active, ["401", "204", "404", "204", "404", "204", "404", "404"]),
    row("PUT", "/v1/messages/{M_c}/reactions/{e_up}", None, No,
                                                        ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("DELETE", "/v1/messages/{M_c}/reactions/{e_up}", None, No,
                                                        ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("PUT", "/v1/messages/{M_m}/reactions/{e_up}", None, No,
                                                        ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("PUT", "/v1/messages/{N_a}/reactions/{e_up}", None, No,
                                                        ["401", "404", "404", "200", "404", "200", "404", "404"]),
    // polls: members who may write vote (again: a changed vote); the author or a moderator closes
    row("PUT", "/v1/messages/{Q_m}/vote", Some(r#"{"options":[0]}"#), No,
                                                        ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("DELETE", "/v1/messages/{Q_m}/vote", None, No,  ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("POST", "/v1/messages/{fqm}/close-poll", None, Room,
                                                        ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("POST", "/v1/messages/{fqo}/close-poll", None, Room,
                                                        ["401", "404", "404", "404", "404", "200", "403 not_your_message", "404"]),
    row("GET", "/v1/messages/{M_c}/receipts", None, No, ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("GET", "/v1/messages/{N_a}/receipts", None, No, ["401", "404", "404", "200", "404", "200", "404", "404"]),
    row("GET", "/v1/search?q=hello", None, No,          ["401", "200", "200", "200", "200", "200", "200", "200"]),
    // a foreign conversation_id narrows to nothing (200, no items: see below)
    row("GET", "/v1/search?q=hello&conversation_id={C_c}", None, No,
                                                        ["401", "200", "200", "200", "200", "200", "200", "200"]),
    // ── desk ────────────────────────────────────────────────────────────────
    row("GET", "/v1/agents", None, No,                  ["401", "403", "403", "200", "200", "200", "403", "403"]),
    row("GET", "/v1/agents/me", None, No,               ["401", "403", "403", "200", "200", "404", "403", "403"]),
    row("PUT", "/v1/agents/me", Some(r#"{"status":"away"}"#), No,
                                                        ["401", "403", "403", "200", "200", "200", "403", "403"]),
    row("GET", "/v1/agents/{u_ann}", None, No,          ["401", "403", "403", "200", "200", "200", "403", "403"]),
    row("PUT", "/v1/agents/{u_bob}", Some(r#"{"capacity":900}"#), No,
                                                        ["401", "403", "403", "403", "403", "200", "403", "403"]),
    row("DELETE", "/v1/agents/{fa}", None, Agent,       ["401", "403", "403", "403", "403", "204", "403", "403"]),
    // teams: staff read, admins write
    row("GET", "/v1/teams", None, No,                   ["401", "403 staff_only", "403 staff_only", "200", "200", "200", "403 staff_only", "403 staff_only"]),
    row("POST", "/v1/teams", Some(r#"{"name":"team {n}"}"#), No,
                                                        ["401", "403", "403", "403 admins_only", "403 admins_only", "201", "403", "403"]),
    row("PATCH", "/v1/teams/{T}", Some(r#"{"description":"d{n}"}"#), No,
                                                        ["401", "403", "403", "403 admins_only", "403 admins_only", "200", "403", "403"]),
    row("DELETE", "/v1/teams/{ft}", None, Team,         ["401", "403", "403", "403", "403", "204", "403", "403"]),
    row("PUT", "/v1/teams/{T}/members/{u_bob}", None, No,
                                                        ["401", "403", "403", "403 admins_only", "403 admins_only", "200", "403", "403"]),
    row("DELETE", "/v1/teams/{T}/members/{u_bob}", None, No,
                                                        ["401", "403", "403", "403 admins_only", "403 admins_only", "200", "403", "403"]),
    row("GET", "/v1/support/canned", None, No,          ["401", "403", "403", "200", "200", "200", "403", "403"]),
    row("POST", "/v1/support/canned", Some(r#"{"shortcut":"s{n}","body":"Hello {name}"}"#), No,
                                                        ["401", "403", "403", "201", "201", "201", "403", "403"]),
    row("POST", "/v1/support/canned", Some(r#"{"shortcut":"t{n}","body":"Shared","shared":true}"#), No,
                                                        ["401", "403", "403", "403", "403", "201", "403", "403"]),
    row("GET", "/v1/support/canned/lookup?shortcut={k_short}", None, No,
                                                        ["401", "403", "403", "200", "404", "404", "403", "403"]),
    row("PATCH", "/v1/support/canned/{K_a}", Some(r#"{"title":"t"}"#), No,
                                                        ["401", "403", "403", "200", "404", "200", "403", "403"]),
    row("PATCH", "/v1/support/canned/{K_s}", Some(r#"{"title":"t"}"#), No,
                                                        ["401", "403", "403", "403", "403", "200", "403", "403"]),
    row("DELETE", "/v1/support/canned/{fk}", None, Canned,
                                                        ["401", "403", "403", "204", "404", "204", "403", "403"]),
    row("GET", "/v1/admin/stats", None, No,             ["401", "403", "403", "403", "403", "200", "403", "403"]),
    row("GET", "/v1/admin/stats/agents/{u_ann}", None, No,
                                                        ["401", "403", "403", "403", "403", "200", "403", "403"]),
    row("DELETE", "/v1/support/sessions/{fs}", None, Waiting,
                                                        ["401", "403", "403", "403", "403", "204", "403", "403"]),
    row("POST", "/v1/admin/users/{fa}/erase", Some(r#"{"messages":"anonymize"}"#), Agent,
                                                        ["401", "403", "403", "403", "403", "200", "403", "403"]),
    row("GET", "/v1/admin/business-hours", None, No,    ["401", "403", "403", "403", "403", "200", "403", "403"]),
    row("PUT", "/v1/admin/business-hours", Some(r#"{"desk":null}"#), No,
                                                        ["401", "403", "403", "403 admins_only", "403 admins_only", "200", "403", "403"]),
    // whether the desk is open: any signed-in caller (a count of agents, never who)
    row("GET", "/v1/support/availability", None, No,    ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/v1/admin/reports?group_by=label&format=csv", None, No,
                                                        ["401", "403 admins_only", "403 admins_only", "403 admins_only", "403 admins_only", "200", "403 admins_only", "403 admins_only"]),
    // the settings screen: admins only, refused by role before anything is read
    row("GET", "/v1/admin/settings", None, No,          ["401", "403 admins_only", "403 admins_only", "403 admins_only", "403 admins_only", "200", "403 admins_only", "403 admins_only"]),
    row("PATCH", "/v1/admin/settings", Some(r#"{"reopen_window_secs":86400}"#), No,
                                                        ["401", "403 admins_only", "403 admins_only", "403 admins_only", "403 admins_only", "200", "403 admins_only", "403 admins_only"]),
    row("GET", "/v1/admin/email-templates", None, No,   ["401", "403 admins_only", "403 admins_only", "403 admins_only", "403 admins_only", "200", "403 admins_only", "403 admins_only"]),
    row("PUT", "/v1/admin/email-templates/{x_reply}", Some(r#"{"subject":"Re: {subject}","body":"Hi {customer_name}: {message}"}"#), No,
                                                        ["401", "403 admins_only", "403 admins_only", "403 admins_only", "403 admins_only", "200", "403 admins_only", "403 admins_only"]),
    row("GET", "/v1/admin/webhooks", None, No,          ["401", "403 admins_only", "403 admins_only", "403 admins_only", "403 admins_only", "200", "403 admins_only", "403 admins_only"]),
    row("GET", "/v1/admin/audit", None, No,             ["401", "403", "403", "403", "403", "200", "403", "403"]),
    // moderation: admins keep the lists; the queue shows each reviewer their
    // conversations' items (none here), and an item one does not review is absent
    row("GET", "/v1/admin/moderation", None, No,        ["401", "403 admins_only", "403 admins_only", "403 admins_only", "403 admins_only", "200", "403 admins_only", "403 admins_only"]),
    row("PUT", "/v1/admin/moderation", Some(r#"{"words":[],"patterns":[]}"#), No,
                                                        ["401", "403 admins_only", "403 admins_only", "403 admins_only", "403 admins_only", "200", "403 admins_only", "403 admins_only"]),
    row("GET", "/v1/moderation/queue", None, No,        ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("POST", "/v1/moderation/queue/{n}/approve", Some("{}"), No,
                                                        ["401", "404", "404", "404", "404", "404", "404", "404"]),
    row("POST", "/v1/moderation/queue/{n}/reject", Some("{}"), No,
                                                        ["401", "404", "404", "404", "404", "404", "404", "404"]),
    // ── contacts and email: one's own row; an unsubscribe link is its own authority ──
    // presence: mine to read and set; someone's as the presence topic allows
    row("GET", "/v1/presence/me", None, No,             ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("PATCH", "/v1/presence/me", Some(r#"{"status_text":"Back at 3"}"#), No,
                                                        ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("GET", "/v1/presence/{u_carol}", None, No,      ["401", "200", "200", "200", "200", "200", "404", "404"]),
    row("GET", "/v1/contacts/me", None, No,             ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("PATCH", "/v1/contacts/me", Some(r#"{"email_notifications":true}"#), No,
                                                        ["401", "200", "200", "200", "200", "200", "200", "200"]),
    // a customer as staff see them (attributes, context, the sessions RLS shows)
    row("GET", "/v1/contacts/{u_carol}", None, No,      ["401", "403 staff_only", "403 staff_only", "200", "200", "200", "403 staff_only", "403 staff_only"]),
    // the widget's verified sign-in: no bearer needed; the hash alone decides
    row("POST", "/v1/widget/token", Some(r#"{"user_id":"carol","user_hash":"00000000000000000000000000000000000000000000000000000000000000aa"}"#), No,
                                                        ["403 invalid_user_hash", "403 invalid_user_hash", "403 invalid_user_hash", "403 invalid_user_hash", "403 invalid_user_hash", "403 invalid_user_hash", "403 invalid_user_hash", "403 invalid_user_hash"]),
    row("GET", "/v1/email/unsubscribe?token=x", None, No,
                                                        ["400", "400", "400", "400", "400", "400", "400", "400"]),
    row("POST", "/v1/email/unsubscribe?token=x", None, No,
                                                        ["400", "400", "400", "400", "400", "400", "400", "400"]),
    // ── attachments and the assistant ───────────────────────────────────────
    row("POST", "/v1/attachments", Some(r#"{"conversation_id":"{C_c}","filename":"a.txt","size":5,"mime_type":"text/plain"}"#), No,
                                                        ["401", "201", "404", "201", "404", "201", "404", "404"]),
    row("PUT", "/v1/attachments/{fu}/content", Some("@hello"), Upload,
                                                        ["401", "200", "404", "404", "404", "404", "404", "404"]),
    row("POST", "/v1/attachments/{fu}/complete", None, Upload,
                                                        ["401", "409", "404", "404", "404", "404", "404", "404"]),
    row("GET", "/v1/attachments/{A_c}", None, No,       ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("GET", "/v1/attachments/{A_c}/thumbnail", None, No,
                                                        ["401", "404", "404", "404", "404", "404", "404", "404"]),
    row("POST", "/v1/ai/ask", Some(r#"{"question":"how do I reset my password?"}"#), No,
                                                        ["401", "200", "200", "200", "200", "200", "200", "200"]),
    row("POST", "/v1/ai/ask", Some(r#"{"question":"summarize","conversation_id":"{C_c}"}"#), No,
                                                        ["401", "200", "404", "200", "404", "200", "404", "404"]),
    // ── realtime transports ─────────────────────────────────────────────────
    row("GET", "/v1/ws", None, No,                      ["401", "400", "400", "400", "400", "400", "400", "400"]),
    row("GET", "/v1/events?topic=conversation:{C_c}", None, No,
                                                        ["401", "200", "404", "200", "404", "200", "404", "404"]),
    row("GET", "/v1/events?topic=conversation:{C_r}", None, No,
                                                        ["401", "404", "404", "404", "404", "200", "200", "404"]),
    row("GET", "/v1/events?topic=support:queue", None, No,
                                                        ["401", "403", "403", "200", "200", "200", "403", "403"]),
    // ── WebSocket actions (one socket per caller) ───────────────────────────
    row("WS", "subscribe", Some(r#"{"type":"subscribe","topic":"conversation:{C_c}"}"#), No,
                                                        ["401", "ack", "err:not_found", "ack", "err:not_found", "ack", "err:not_found", "err:not_found"]),
    row("WS", "subscribe", Some(r#"{"type":"subscribe","topic":"conversation:{C_d}"}"#), No,
                                                        ["401", "err:not_found", "ack", "ack", "ack", "ack", "err:not_found", "err:not_found"]),
    row("WS", "subscribe", Some(r#"{"type":"subscribe","topic":"conversation:{C_r}"}"#), No,
                                                        ["401", "err:not_found", "err:not_found", "err:not_found", "err:not_found", "ack", "ack", "err:not_found"]),
    row("WS", "subscribe", Some(r#"{"type":"subscribe","topic":"conversation:{D}"}"#), No,
                                                        ["401", "ack", "ack", "err:not_found", "err:not_found", "ack", "err:not_found", "err:not_found"]),
    row("WS", "subscribe", Some(r#"{"type":"subscribe","topic":"inbox"}"#), No,
                                                        ["401", "ack", "ack", "ack", "ack", "ack", "ack", "ack"]),
    row("WS", "subscribe", Some(r#"{"type":"subscribe","topic":"support:queue"}"#), No,
                                                        ["401", "err:staff_only", "err:staff_only", "ack", "ack", "ack", "err:staff_only", "err:staff_only"]),
    row("WS", "subscribe", Some(r#"{"type":"subscribe","topic":"presence:carol"}"#), No,
                                                        ["401", "ack", "ack", "ack", "ack", "ack", "err:not_found", "err:not_found"]),
    row("WS", "unsubscribe", Some(r#"{"type":"unsubscribe","topic":"inbox"}"#), No,
                                                        ["401", "ack", "ack", "ack", "ack", "ack", "ack", "ack"]),
    row("WS", "send_message", Some(r#"{"type":"send_message","conversation_id":"{C_c}","client_msg_id":"{uuid}","body":"hi"}"#), No,
                                                        ["401", "ack", "err:not_found", "ack", "err:not_found", "ack", "err:not_found", "err:not_found"]),
    row("WS", "send_message", Some(r#"{"type":"send_message","conversation_id":"{C_c}","client_msg_id":"{uuid}","body":"note","internal":true}"#), No,
                                                        ["401", "err:staff_only", "err:staff_only", "ack", "err:not_found", "ack", "err:staff_only", "err:staff_only"]),
    row("WS", "send_message", Some(r#"{"type":"send_message","conversation_id":"{C_r}","client_msg_id":"{uuid}","body":"hi"}"#), No,
                                                        ["401", "err:not_found", "err:not_found", "err:not_found", "err:not_found", "ack", "ack", "err:not_found"]),
    row("WS", "typing_start", Some(r#"{"type":"typing_start","conversation_id":"{C_c}"}"#), No,
                                                        ["401", "ack", "err:not_found", "ack", "err:not_found", "ack", "err:not_found", "err:not_found"]),
    row("WS", "typing_stop", Some(r#"{"type":"typing_stop","conversation_id":"{C_r}"}"#), No,
                                                        ["401", "ack", "ack", "ack", "ack", "ack", "ack", "ack"]),
    row("WS", "mark_read", Some(r#"{"type":"mark_read","conversation_id":"{C_c}","seq":1}"#), No,
                                                        ["401", "ack", "err:not_found", "ack", "err:not_found", "err:not_a_member", "err:not_found", "err:not_found"]),
    row("WS", "set_presence", Some(r#"{"type":"set_presence","status":"away"}"#), No,
                                                        ["401", "ack", "ack", "ack", "ack", "ack", "ack", "ack"]),
    row("WS", "access_token", Some(r#"{"type":"access_token","token":"{my_token}"}"#), No,
                                                        ["401", "ack", "ack", "ack", "ack", "ack", "ack", "ack"]),
    row("WS", "access_token", Some(r#"{"type":"access_token","token":"{admin_token}"}"#), No,
                                                        ["401", "err:token_identity_mismatch", "err:token_identity_mismatch", "err:token_identity_mismatch", "err:token_identity_mismatch", "ack", "err:token_identity_mismatch", "err:token_identity_mismatch"]),
    row("WS", "ping", Some(r#"{"type":"ping"}"#), No,   ["401", "pong", "pong", "pong", "pong", "pong", "pong", "pong"]),
    // the frames mirroring REST writes answer as their REST rows above
    row("WS", "react", Some(r#"{"type":"react","message_id":"{M_c}","emoji":"👍"}"#), No,
                                                        ["401", "ack", "err:not_found", "ack", "err:not_found", "ack", "err:not_found", "err:not_found"]),
    row("WS", "unreact", Some(r#"{"type":"unreact","message_id":"{M_c}","emoji":"👍"}"#), No,
                                                        ["401", "ack", "err:not_found", "ack", "err:not_found", "ack", "err:not_found", "err:not_found"]),
    row("WS", "react", Some(r#"{"type":"react","message_id":"{M_m}","emoji":"👍"}"#), No,
                                                        ["401", "err:not_found", "err:not_found", "err:not_found", "err:not_found", "ack", "ack", "err:not_found"]),
    row("WS", "edit_message", Some(r#"{"type":"edit_message","message_id":"{N_a}","body":"edited"}"#), No,
                                                        ["401", "err:not_found", "err:not_found", "ack", "err:not_found", "err:not_your_message", "err:not_found", "err:not_found"]),
    row("WS", "vote", Some(r#"{"type":"vote","message_id":"{Q_m}","options":[0]}"#), No,
                                                        ["401", "err:not_found", "err:not_found", "err:not_found", "err:not_found", "ack", "ack", "err:not_found"]),
    row("WS", "unvote", Some(r#"{"type":"unvote","message_id":"{Q_m}"}"#), No,
                                                        ["401", "err:not_found", "err:not_found", "err:not_found", "err:not_found", "ack", "ack", "err:not_found"]),
    row("WS", "pin", Some(r#"{"type":"pin","room_id":"{R}","message_id":"{M_m}"}"#), No,
                                                        ["401", "err:not_found", "err:not_found", "err:not_found", "err:not_found", "ack", "err:not_a_moderator", "err:not_found"]),
    row("WS", "unpin", Some(r#"{"type":"unpin","room_id":"{R}","message_id":"{M_m}"}"#), No,
                                                        ["401", "err:not_found", "err:not_found", "err:not_found", "err:not_found", "ack", "err:not_a_moderator", "err:not_found"]),
    row("WS", "mark_delivered", Some(r#"{"type":"mark_delivered","conversation_id":"{C_c}","seq":1}"#), No,
                                                        ["401", "ack", "err:not_found", "ack", "err:not_found", "err:not_a_member", "err:not_found", "err:not_found"]),
    row("WS", "set_presence", Some(r#"{"type":"set_presence","status_text":"Back at 3"}"#), No,
                                                        ["401", "ack", "ack", "ack", "ack", "ack", "ack", "ack"]),
];

/// The world the rows run in, and the tokens of every caller.
struct World {
    app: TestApp,
    tokens: HashMap<&'static str, String>,
    ids: HashMap<String, String>,
    counter: u64,
}

impl World {
    fn token(&self, who: &str) -> Option<&str> {
        self.tokens.get(who).map(String::as_str)
    }

    async fn ok(&self, who: &str, method: &str, path: &str, body: Value) -> Value {
        let token = self.token(who).expect("a caller with a token");
        let request = self
            .app
            .http
            .request(method.parse().unwrap(), self.app.url(path))
            .bearer_auth(token)
            .json(&body);
        let (status, answer) = self.app.call(request).await;
        assert!(
            status.is_success(),
            "setting up: {who} {method} {path}: {status} {answer}"
        );
        answer
    }

    async fn session(&self, claimed: bool) -> (String, String) {
        let session = self.app.open_session(self.token("carol").unwrap()).await;
        let id = as_id(&session["id"]).to_owned();
        if claimed {
            self.ok(
                "ann",
                "POST",
                &format!("/v1/support/sessions/{id}/claim"),
                json!({}),
            )
            .await;
        }
        (id, as_id(&session["conversation_id"]).to_owned())
    }

    async fn message(&self, who: &str, conversation: &str, body: &str) -> String {
        let sent = self
            .ok(
                who,
                "POST",
                &format!("/v1/conversations/{conversation}/messages"),
                json!({ "body": body, "client_msg_id": Uuid::new_v4() }),
            )
            .await;
        as_id(&sent["id"]).to_owned()
    }

    async fn poll(&self, who: &str, conversation: &str) -> String {
        let sent = self
            .ok(
                who,
                "POST",
                &format!("/v1/conversations/{conversation}/messages"),
                json!({ "kind": "poll", "client_msg_id": Uuid::new_v4(),
                        "poll": { "question": "which?", "options": ["a", "b"] } }),
            )
            .await;
        as_id(&sent["id"]).to_owned()
    }

    /// A public room of olivia's requiring approval, with mia a member, ben
    /// banned and a new user's request to join waiting (a new one each time:
    /// approved, they would share a room with mia): (room, user).
    async fn asked_room(&mut self) -> (String, String) {
        let olivia = self.token("olivia").unwrap();
        let room = crate::chat_helpers::room(
            &self.app,
            olivia,
            json!({ "name": "club", "type": "public", "settings": { "require_approval": true } }),
        )
        .await;
        invite(&self.app, olivia, &room, "mia", "member").await;
        invite(&self.app, olivia, &room, "ben", "member").await;
        let (status, body) =
            moderate(&self.app, olivia, &room, "ben", json!({ "banned": true })).await;
        assert!(status.is_success(), "banning ben: {body}");
        let id = as_id(&room["id"]).to_owned();
        self.counter += 1;
        let asker = format!("asker-{}", self.counter);
        let token = self.app.token(&asker, "user");
        let (status, body) = self
            .app
            .post(&token, &format!("/v1/rooms/{id}/join"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{asker} asking: {body}");
        (id, asker)
    }

    /// A room of olivia's of `kind`, with mia a member (private) and ben banned.
    async fn room(&self, kind: &str) -> String {
        let olivia = self.token("olivia").unwrap();
        let room = room_of(&self.app, olivia, kind, "club").await;
        if kind == "private" {
            invite(&self.app, olivia, &room, "mia", "member").await;
        }
        invite(&self.app, olivia, &room, "ben", "member").await;
        let (status, body) =
            moderate(&self.app, olivia, &room, "ben", json!({ "banned": true })).await;
        assert!(status.is_success(), "banning ben: {body}");
        as_id(&room["id"]).to_owned()
    }

    /// The values of a cell's fresh fixture.
    async fn fresh(&mut self, fresh: Fresh) -> HashMap<String, String> {
        let mut ids = HashMap::new();
        let mut put = |k: &str, v: String| {
            ids.insert(k.to_owned(), v);
        };
        match fresh {
            No => {}
            Waiting | Active => {
                let (s, c) = self.session(fresh == Active).await;
                put("fm", self.message("carol", &c, "mine").await);
                put("fs", s);
                put("fc", c);
            }
            Ended => {
                let (s, _) = self.session(true).await;
                self.ok(
                    "carol",
                    "POST",
                    &format!("/v1/support/sessions/{s}/end"),
                    json!({}),
                )
                .await;
                put("fs", s);
            }
            Room => {
                let r = self.room("private").await;
                put("fmm", self.message("mia", &r, "mia's").await);
                put("fmo", self.message("olivia", &r, "olivia's").await);
                put("fqm", self.poll("mia", &r).await);
                put("fqo", self.poll("olivia", &r).await);
                put("fr", r);
            }
            Public => put("fp", self.room("public").await),
            Asked => {
                let (room, asker) = self.asked_room().await;
                put("fq", room);
                put("fqu", asker);
            }
            Canned => {
                self.counter += 1;
                let k = self
                    .ok(
                        "ann",
                        "POST",
                        "/v1/support/canned",
                        json!({ "shortcut": format!("gone{}", self.counter), "body": "bye" }),
                    )
                    .await;
                put("fk", as_id(&k["id"]).to_owned());
            }
            Agent => {
                self.counter += 1;
                let sub = format!("temp-agent-{}", self.counter);
                let token = self.app.token(&sub, "agent");
                let (status, body) = self
                    .app
                    .call(
                        self.app
                            .http
                            .put(self.app.url("/v1/agents/me"))
                            .bearer_auth(&token)
                            .json(&json!({ "status": "away" })),
                    )
                    .await;
                assert!(status.is_success(), "enrolling {sub}: {body}");
                put("fa", sub);
            }
            Team => {
                self.counter += 1;
                let team = self
                    .ok(
                        "admin",
                        "POST",
                        "/v1/teams",
                        json!({ "name": format!("gone {}", self.counter) }),
                    )
                    .await;
                put("ft", as_id(&team["id"]).to_owned());
            }
            Upload => {
                let (_, c) = self.session(true).await;
                let created = self
                    .ok(
                        "carol",
                        "POST",
                        "/v1/attachments",
                        json!({ "conversation_id": c, "filename": "a.txt", "size": 5, "mime_type": "text/plain" }),
                    )
                    .await;
                put("fu", as_id(&created["id"]).to_owned());
            }
        }
        ids
    }

    /// `template` with its `{name}`s filled from the world, the fixture and fresh values.
    fn fill(&mut self, template: &str, fresh: &HashMap<String, String>, who: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 || !after[len..].starts_with('}') {
                out.push('{'); // JSON, not a placeholder
                rest = after;
                continue;
            }
            let name = &after[..len];
            let value = match name {
                "uuid" => Some(Uuid::new_v4().to_string()),
                "n" => {
                    self.counter += 1;
                    Some(self.counter.to_string())
                }
                "my_token" => self.token(who).map(str::to_owned),
                "admin_token" => self.token("admin").map(str::to_owned),
                _ => fresh.get(name).or_else(|| self.ids.get(name)).cloned(),
            };
            match value {
                Some(value) => out.push_str(&value),
                None => out.push_str(&rest[open..open + len + 2]), // e.g. a canned placeholder
            }
            rest = &after[len + 1..];
        }
        out.push_str(rest);
        out
    }
}

async fn build_world() -> World {
    let app = spawn_app_with(|config| {
        // Nothing is assigned behind the rows' backs.
        config.desk.assignment_mode = pgchat::config::AssignmentMode::Manual;
        config.auth.identity_secret = Some("matrix-identity-secret".into());
    })
    .await;
    let mut tokens = HashMap::new();
    for (who, role) in [
        ("carol", "user"),
        ("dave", "user"),
        ("ann", "agent"),
        ("bob", "agent"),
        ("admin", "admin"),
        ("mia", "user"),
        ("ben", "user"),
        ("olivia", "user"),
    ] {
        let token = if role == "user" {
            user(&app, who).await
        } else {
            app.token(who, role)
        };
        tokens.insert(who, token);
    }
    let mut world = World {
        app,
        tokens,
        ids: HashMap::new(),
        counter: 0,
    };
    for agent in ["ann", "bob"] {
        world
            .ok(
                agent,
                "PUT",
                "/v1/agents/me",
                json!({ "status": "away", "capacity": 1000 }),
            )
            .await;
    }
    let mut ids: HashMap<String, String> = HashMap::new();
    let (s_c, c_c) = world.session(true).await;
    ids.insert(
        "M_c".into(),
        world.message("carol", &c_c, "hello from carol").await,
    );
    world.message("ann", &c_c, "hello from ann").await;
    let note = world
        .ok(
            "ann",
            "POST",
            &format!("/v1/conversations/{c_c}/messages"),
            json!({ "body": "internal hello", "client_msg_id": Uuid::new_v4(), "internal": true }),
        )
        .await;
    ids.insert("N_a".into(), as_id(&note["id"]).to_owned());
    let dave = world.app.open_session(world.token("dave").unwrap()).await;
    ids.insert("S_d".into(), as_id(&dave["id"]).to_owned());
    ids.insert("C_d".into(), as_id(&dave["conversation_id"]).to_owned());
    let r = world.room("private").await;
    ids.insert(
        "M_m".into(),
        world.message("mia", &r, "hello from mia").await,
    );
    ids.insert(
        "M_o".into(),
        world.message("olivia", &r, "hello from olivia").await,
    );
    ids.insert("Q_m".into(), world.poll("mia", &r).await);
    let p = world.room("public").await;
    let direct = world
        .ok(
            "carol",
            "POST",
            "/v1/conversations/direct",
            json!({ "user_id": "dave" }),
        )
        .await;
    let d = as_id(&direct["id"]).to_owned();
    world.message("carol", &d, "hello dave").await;
    let k_a = world
        .ok(
            "ann",
            "POST",
            "/v1/support/canned",
            json!({ "shortcut": "annhello", "body": "Hello {customer_name}" }),
        )
        .await;
    let k_s = world
        .ok(
            "admin",
            "POST",
            "/v1/support/canned",
            json!({ "shortcut": "sharedhello", "body": "Hello", "shared": true }),
        )
        .await;
    let team = world
        .ok("admin", "POST", "/v1/teams", json!({ "name": "Matrix" }))
        .await;
    ids.insert("T".into(), as_id(&team["id"]).to_owned());
    // carol's upload, sent in her session
    let created = world
        .ok(
            "carol",
            "POST",
            "/v1/attachments",
            json!({ "conversation_id": c_c, "filename": "a.txt", "size": 5, "mime_type": "text/plain" }),
        )
        .await;
    let a_c = as_id(&created["id"]).to_owned();
    let (status, body) = world
        .app
        .call(
            world
                .app
                .http
                .put(world.app.url(&format!("/v1/attachments/{a_c}/content")))
                .bearer_auth(world.token("carol").unwrap())
                .header("content-type", "application/octet-stream")
                .body("hello"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "uploading: {body}");
    world
        .ok(
            "carol",
            "POST",
            &format!("/v1/conversations/{c_c}/messages"),
            json!({ "body": "file", "client_msg_id": Uuid::new_v4(), "attachment_id": a_c }),
        )
        .await;

    for (k, v) in [
        ("S_c", s_c),
        ("C_c", c_c),
        ("R", r.clone()),
        ("C_r", r),
        ("P", p.clone()),
        ("C_p", p),
        ("D", d),
        ("K_a", as_id(&k_a["id"]).to_owned()),
        ("K_s", as_id(&k_s["id"]).to_owned()),
        ("k_short", "annhello".to_owned()),
        ("A_c", a_c),
        ("e_up", "%F0%9F%91%8D".to_owned()),
        ("l_vip", "vip".to_owned()),
        ("x_reply", "reply".to_owned()),
        ("f_client", "pgchat.js".to_owned()),
        ("f_asset", "desk.js".to_owned()),
    ] {
        ids.insert(k.to_owned(), v);
    }
    for who in ["ann", "bob", "mia", "ben", "olivia", "carol"] {
        ids.insert(format!("u_{who}"), who.to_owned());
    }
    world.ids = ids;
    world
}

/// What one HTTP cell got: the status, as text.
async fn http_cell(
    world: &mut World,
    row: &Row,
    who: &str,
    fresh: &HashMap<String, String>,
) -> String {
    let path = world.fill(row.path, fresh, who);
    let app = &world.app;
    let mut request = app
        .http
        .request(row.method.parse().unwrap(), app.url(&path));
    if let Some(token) = world.token(who) {
        request = request.bearer_auth(token);
    }
    if let Some(body) = row.body {
        if let Some(raw) = body.strip_prefix('@') {
            request = request
                .header("content-type", "application/octet-stream")
                .body(raw.to_owned());
        } else {
            let body = world.fill(body, fresh, who);
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
    }
    // Headers are enough (an event stream never ends); no redirects followed.
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_client_error() || status.is_server_error() {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                format!(
                    "{} {}",
                    status.as_u16(),
                    body["error"]["code"].as_str().unwrap_or("?")
                )
            } else {
                status.as_u16().to_string()
            }
        }
        Err(error) => format!("transport error: {error}"),
    }
}

/// What one WebSocket cell got: "ack", "pong", "err:<code>", or "401" for a refused upgrade.
async fn ws_cell(
    world: &mut World,
    sockets: &mut HashMap<&'static str, Ws>,
    row: &Row,
    who: &'static str,
) -> String {
    let frame = world.fill(row.body.expect("a frame"), &HashMap::new(), who);
    let Some(token) = world.token(who).map(str::to_owned) else {
        let url = format!("ws://127.0.0.1:{}/v1/ws", world.app.port);
        return match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16().to_string()
            }
            Err(other) => format!("upgrade failed: {other}"),
            Ok(_) => "upgraded without a token".to_owned(),
        };
    };
    if !sockets.contains_key(who) {
        sockets.insert(who, Ws::connect(world.app.port, &token).await);
    }
    let ws = sockets.get_mut(who).expect("a socket");
    let answer = ws
        .request(serde_json::from_str(&frame).expect("a JSON frame"))
        .await;
    match answer["type"].as_str() {
        Some("error") => format!("err:{}", answer["code"].as_str().unwrap_or("?")),
        Some(other) => other.to_owned(),
        None => format!("{answer}"),
    }
}

/// `got` is "404 not_found" for errors: the status must match, and the code too
/// when the table names one ("403 staff_only").
fn matches(expected: &str, got: &str) -> bool {
    if expected == "2xx" {
        return got.starts_with('2') && got.len() == 3;
    }
    if expected.starts_with(|c: char| c.is_ascii_digit()) && !expected.contains(' ') {
        return got.split(' ').next() == Some(expected);
    }
    expected == got
}

#[tokio::test]
async fn every_route_and_action_answers_each_caller_as_the_table_says() {
    let mut world = build_world().await;
    let mut sockets: HashMap<&'static str, Ws> = HashMap::new();
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for row in ROWS {
        for (i, who) in WHO.iter().enumerate() {
            let expected = row.expect[i];
            if expected == "-" {
                continue;
            }
            cells += 1;
            let got = if row.method == "WS" {
                ws_cell(&mut world, &mut sockets, row, who).await
            } else {
                let fresh = world.fresh(row.fresh).await;
                http_cell(&mut world, row, who, &fresh).await
            };
            if !matches(expected, &got) {
                let what = row.body.filter(|_| row.method == "WS").unwrap_or(row.path);
                mismatches.push(format!(
                    "{:<6} {what:<60} {who:<6} expected {expected:<10} got {got}",
                    row.method
                ));
            }
        }
    }
    // Search never reaches past what the caller may read: every hit is in a
    // conversation they can page through, and internal notes only reach staff.
    for who in WHO.iter().skip(1) {
        let token = world.token(who).unwrap().to_owned();
        for query in [
            "/v1/search?q=hello".to_owned(),
            format!("/v1/search?q=hello&conversation_id={}", world.ids["C_c"]),
        ] {
            let (_, found) = world.app.get(&token, &query).await;
            for hit in found["items"].as_array().into_iter().flatten() {
                let conversation = hit["message"]["conversation_id"].as_str().unwrap_or("?");
                let (status, _) = world
                    .app
                    .get(
                        &token,
                        &format!("/v1/conversations/{conversation}/messages"),
                    )
                    .await;
                if status != StatusCode::OK
                    || (hit["message"]["internal"] == true
                        && !["ann", "bob", "admin"].contains(who))
                {
                    mismatches.push(format!(
                        "search {query}: {who} found {:.200}",
                        hit.to_string()
                    ));
                }
            }
        }
    }
    // The server is still up and still refuses the anonymous.
    let (status, _) = world
        .app
        .call(world.app.http.get(world.app.url("/v1/conversations")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ from the table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    eprintln!(
        "security matrix: {cells} cells ({} rows × {} callers) as specified",
        ROWS.len(),
        WHO.len()
    );
}

#[test]
fn every_served_route_has_a_row() {
    let shape = |path: &str| {
        let path = path.split('?').next().unwrap_or(path);
        let mut out = String::new();
        let mut depth = 0;
        for c in path.chars() {
            match c {
                '{' => {
                    depth += 1;
                    if depth == 1 {
                        out.push_str("{}");
                    }
                }
                '}' => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    };
    let covered: BTreeSet<(String, String)> = ROWS
        .iter()
        .filter(|r| r.method != "WS")
        .map(|r| (r.method.to_owned(), shape(r.path)))
        .collect();
    let missing: Vec<_> = routes::served()
        .into_iter()
        .map(|(m, p)| (m, shape(&p)))
        .filter(|route| !covered.contains(route))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
    let actions: BTreeSet<&str> = ROWS
        .iter()
        .filter(|r| r.method == "WS")
        .map(|r| r.path)
        .collect();
    for action in [
        "subscribe",
        "unsubscribe",
        "send_message",
        "typing_start",
        "typing_stop",
        "mark_read",
        "set_presence",
        "access_token",
        "ping",
        "mark_delivered",
        "react",
        "unreact",
        "edit_message",
        "vote",
        "unvote",
        "pin",
        "unpin",
    ] {
        assert!(
            actions.contains(action),
            "no row for the WebSocket action {action}"
        );
    }
}
