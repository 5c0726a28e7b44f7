//! Rooms: the four kinds, discovery, joining, invitations, roles, bans and
//! silences, leaving, pins and settings — and every forbidden action answered
//! with the right error and no change.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{invite, join, moderate, put, room, room_of, room_path, rows, user};
use crate::helpers::{as_id, assert_error, assert_sql_refused, spawn_app, Counts, TestApp};

fn message(body: &str) -> Value {
    json!({ "body": body, "client_msg_id": Uuid::new_v4() })
}

async fn discover(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app.get(token, &format!("/v1/rooms{query}")).await;
    assert_eq!(status, StatusCode::OK, "discovering: {body}");
    body
}

fn names(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect()
}

/// Asserts that nothing was written by a refused request.
async fn unchanged(app: &TestApp, before: Counts) {
    assert_eq!(app.counts().await, before, "a refused request changed rows");
}

#[tokio::test]
async fn rooms_of_each_kind_are_created_with_their_owner_and_settings() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    user(&app, "bob").await;

    let public = room(
        &app,
        &alice,
        json!({ "name": " Lobby ", "type": "public", "description": "Say hi",
                "settings": { "retention_days": 30, "enable_ai": true } }),
    )
    .await;
    assert_eq!(
        (&public["name"], &public["type"], &public["kind"]),
        (&json!("Lobby"), &json!("public"), &json!("public"))
    );
    assert_eq!(public["description"], "Say hi");
    assert_eq!(public["my_role"], "owner");
    assert_eq!(public["member_count"], 1);
    assert_eq!(
        public["settings"],
        json!({ "allow_invites": true, "max_members": null, "allow_file_uploads": true,
                "enable_ai": true, "retention_days": 30, "anonymous_posting": false,
                "max_upload_bytes": null, "avatar_attachment_id": null,
                "banner_attachment_id": null, "require_approval": false,
                "allowed_mime_types": null, "auto_translate": false, "moderation": "off" })
    );

    let group = room(
        &app,
        &alice,
        json!({ "name": "Trip", "type": "group", "members": ["bob", "bob", "alice"] }),
    )
    .await;
    assert_eq!(group["member_count"], 2);
    assert_eq!(group["settings"]["max_members"], 50);
    room_of(&app, &alice, "private", "Secret").await;
    room_of(&app, &alice, "announcement", "News").await;

    let before = app.counts().await;
    for (body, status, code) in [
        (
            json!({ "name": "Trip", "type": "group" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "group_needs_members",
        ),
        (
            json!({ "name": "Big", "type": "group", "members": ["bob"], "settings": { "max_members": 51 } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "group_too_large",
        ),
        (
            json!({ "name": "x", "type": "group", "members": ["ghost"] }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({ "name": "x", "type": "direct" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "  ", "type": "public" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "x", "type": "public", "settings": { "colour": "red" } }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "x", "type": "public", "settings": { "max_members": 1 } }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "x", "type": "public", "settings": { "retention_days": 0 } }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "name": "x", "type": "public", "owner": "bob" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ] {
        let response = app.post(&alice, "/v1/rooms", &body).await;
        assert_error(&response, status, code);
    }
    unchanged(&app, before).await;
}

#[tokio::test]
async fn discovery_lists_open_rooms_and_mine_by_type_page_by_page() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let carol = user(&app, "carol").await;
    for name in ["P1", "P2", "P3"] {
        room_of(&app, &alice, "public", name).await;
    }
    let news = room_of(&app, &alice, "announcement", "News").await;
    room_of(&app, &alice, "private", "Hidden").await;
    let mine = room_of(&app, &carol, "private", "Carol's").await;
    app.send(&alice, &news["id"], "welcome").await;

    // carol: every open room and her own private one, newest first; not alice's private one
    let all = discover(&app, &carol, "").await;
    assert_eq!(names(&all), ["Carol's", "News", "P3", "P2", "P1"]);
    assert_eq!(all["items"][0]["my_role"], "owner");
    assert_eq!(all["items"][1]["my_role"], Value::Null);
    assert_eq!(all["items"][1]["member_count"], 1);
    assert_eq!(
        names(&discover(&app, &carol, "?type=private").await),
        ["Carol's"]
    );
    assert_eq!(names(&discover(&app, &carol, "?q=p2").await), ["P2"]);

    // pages of two
    let mut seen = Vec::new();
    let mut query = "?type=public&limit=2".to_owned();
    loop {
        let page = discover(&app, &carol, &query).await;
        seen.extend(names(&page).into_iter().map(str::to_owned));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?type=public&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["P3", "P2", "P1"]);

    // my unread count, once I am a member
    join(&app, &carol, &news).await;
    let listed = discover(&app, &carol, "?type=announcement").await;
    assert_eq!(listed["items"][0]["unread"], 1);
    assert_eq!(listed["items"][0]["member_count"], 2);
    assert_eq!(listed["items"][0]["my_role"], "member");
    let _ = mine;

    for query in ["?type=direct", "?limit=0", "?cursor=bad", "?sort=name"] {
        let response = app.get(&carol, &format!("/v1/rooms{query}")).await;
        assert_eq!(
            response.0,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            response.1
        );
    }
}

#[tokio::test]
async fn anyone_joins_a_public_room_but_nobody_joins_a_private_room_uninvited() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let public = room_of(&app, &alice, "public", "Lobby").await;
    let private = room_of(&app, &alice, "private", "Inner circle").await;
    app.send(&alice, &private["id"], "members only").await;

    let (status, joined) = app
        .post(&bob, &room_path(&public, "/join"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");
    assert_eq!(joined["my_role"], "member");
    assert_eq!(joined["member_count"], 2);
    let (status, again) = app
        .post(&bob, &room_path(&public, "/join"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    app.send(&bob, &public["id"], "hello lobby").await;

    let before = app.counts().await;
    let response = app
        .post(&bob, &room_path(&private, "/join"), &json!({}))
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    for response in [
        app.get(&bob, &room_path(&private, "")).await,
        app.get(&bob, &room_path(&private, "/members")).await,
        app.get(
            &bob,
            &format!("/v1/conversations/{}/messages", as_id(&private["id"])),
        )
        .await,
        app.send_json(&bob, &private["id"], &message("let me in"))
            .await,
    ] {
        assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    }
    // not even with plain SQL as bob
    let sneaked = app
        .sql_as(
            "bob",
            "user",
            "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1::text::uuid, 'bob', 'member')",
            &[&as_id(&private["id"])],
        )
        .await;
    assert!(sneaked.is_err(), "bob joined a private room with SQL");
    unchanged(&app, before).await;

    // a full open room takes nobody else
    let small = room(
        &app,
        &alice,
        json!({ "name": "Small", "type": "public", "settings": { "max_members": 2 } }),
    )
    .await;
    join(&app, &bob, &small).await;
    let carol = user(&app, "carol").await;
    let before = app.counts().await;
    let response = app
        .post(&carol, &room_path(&small, "/join"), &json!({}))
        .await;
    assert_error(&response, StatusCode::CONFLICT, "room_full");
    unchanged(&app, before).await;

    // invited, bob is in and reads the history
    invite(&app, &alice, &private, "bob", "member").await;
    let page = app.messages(&bob, &private["id"], "").await;
    assert_eq!(page["items"][0]["body"], "members only");
}

#[tokio::test]
async fn only_owners_and_admins_post_in_an_announcement_room() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let news = room_of(&app, &alice, "announcement", "News").await;
    join(&app, &bob, &news).await;
    join(&app, &carol, &news).await;
    app.send(&alice, &news["id"], "release 1.0").await;

    let before = app.counts().await;
    let response = app.send_json(&bob, &news["id"], &message("me too")).await;
    assert_error(&response, StatusCode::FORBIDDEN, "read_only");
    let posted = app
        .sql_as(
            "bob",
            "user",
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body) VALUES ($1::text::uuid, 'bob', 'user', 'sql')",
            &[&as_id(&news["id"])],
        )
        .await;
    assert_sql_refused(posted, "read_only");
    // a moderator is not enough either
    moderate(&app, &alice, &news, "carol", json!({ "role": "moderator" })).await;
    let response = app
        .send_json(&carol, &news["id"], &message("mod note"))
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "read_only");
    assert_eq!(app.counts().await.messages, before.messages);

    // members still react and read
    let page = app.messages(&bob, &news["id"], "").await;
    let first = &page["items"][0];
    let (status, reacted) = put(
        &app,
        &bob,
        &format!("/v1/messages/{}/reactions/🎉", as_id(&first["id"])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reacted}");

    // an admin posts
    moderate(&app, &alice, &news, "bob", json!({ "role": "admin" })).await;
    app.send(&bob, &news["id"], "now I can").await;
}

#[tokio::test]
async fn invitations_follow_the_rooms_settings_and_the_inviters_rank() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    user(&app, "carol").await;
    user(&app, "dave").await;
    user(&app, "erin").await;
    let club = room(
        &app,
        &alice,
        json!({ "name": "Club", "type": "private", "settings": { "max_members": 4 } }),
    )
    .await;
    let member = invite(&app, &alice, &club, "bob", "member").await;
    assert_eq!(
        (member["user_id"].as_str(), member["role"].as_str()),
        (Some("bob"), Some("member"))
    );

    // a member invites (invites are allowed by default) but not above their rank
    invite(&app, &bob, &club, "carol", "member").await;
    let before = app.counts().await;
    let members = room_path(&club, "/members");
    for (token, body, status, code) in [
        (
            &bob,
            json!({ "user_id": "dave", "role": "moderator" }),
            StatusCode::FORBIDDEN,
            "role_too_high",
        ),
        (
            &bob,
            json!({ "user_id": "carol" }),
            StatusCode::CONFLICT,
            "already_member",
        ),
        (
            &bob,
            json!({ "user_id": "ghost" }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &bob,
            json!({ "user_id": "dave", "role": "customer" }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ] {
        let response = app.post(token, &members, &body).await;
        assert_error(&response, status, code);
    }
    unchanged(&app, before).await;

    // invites off: only owners and admins
    let (status, body) = app
        .patch(
            &alice,
            &room_path(&club, ""),
            &json!({ "settings": { "allow_invites": false } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["settings"]["allow_invites"], false);
    let response = app
        .post(&bob, &members, &json!({ "user_id": "dave" }))
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "invites_disabled");
    unchanged(&app, before).await;

    // the room is full at four
    invite(&app, &alice, &club, "dave", "member").await;
    let before = app.counts().await;
    let response = app
        .post(&alice, &members, &json!({ "user_id": "erin" }))
        .await;
    assert_error(&response, StatusCode::CONFLICT, "room_full");
    unchanged(&app, before).await;
    let (_, listed) = app.get(&alice, &members).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 4);
    assert_eq!(listed["items"][0]["role"], "owner");
}

#[tokio::test]
async fn moderators_ban_silence_and_remove_those_below_them() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let dave = user(&app, "dave").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    for token in [&bob, &carol, &dave] {
        join(&app, token, &lobby).await;
    }
    moderate(
        &app,
        &alice,
        &lobby,
        "carol",
        json!({ "role": "moderator" }),
    )
    .await;
    moderate(&app, &alice, &lobby, "dave", json!({ "role": "admin" })).await;
    let hello = app.send(&bob, &lobby["id"], "hello").await;

    // members do not moderate; moderators not those at or above them
    let before = app.counts().await;
    for (token, target, body, code) in [
        (&bob, "carol", json!({ "banned": true }), "not_a_moderator"),
        (&carol, "dave", json!({ "banned": true }), "outranked"),
        (
            &carol,
            "bob",
            json!({ "role": "moderator" }),
            "role_too_high",
        ),
        (&carol, "carol", json!({ "role": "admin" }), "not_yourself"),
    ] {
        let response = moderate(&app, token, &lobby, target, body).await;
        assert_error(&response, StatusCode::FORBIDDEN, code);
    }
    let response = app.delete(&bob, &room_path(&lobby, "/members/carol")).await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_a_moderator");
    let response = moderate(&app, &carol, &lobby, "ghost", json!({ "banned": true })).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    // nor with plain SQL
    let sql = app
        .sql_as(
            "bob",
            "user",
            "UPDATE conversation_members SET banned = true WHERE conversation_id = $1::text::uuid AND user_id = 'carol' RETURNING 1",
            &[&as_id(&lobby["id"])],
        )
        .await;
    assert!(
        sql.map_or(true, |r| r.is_empty()),
        "a member banned a moderator with SQL"
    );
    unchanged(&app, before).await;

    // silenced: reads, cannot post or react, until lifted
    let (status, silenced) =
        moderate(&app, &carol, &lobby, "bob", json!({ "silenced": true })).await;
    assert_eq!(status, StatusCode::OK, "{silenced}");
    assert_eq!(silenced["silenced"], true, "{silenced}");
    assert_eq!(silenced["silenced_until"], Value::Null, "until lifted");
    let before = app.counts().await;
    let response = app.send_json(&bob, &lobby["id"], &message("can I?")).await;
    assert_error(&response, StatusCode::FORBIDDEN, "silenced");
    let response = put(
        &app,
        &bob,
        &format!("/v1/messages/{}/reactions/👍", as_id(&hello["id"])),
    )
    .await;
    assert_error(&response, StatusCode::FORBIDDEN, "cannot_react");
    let response = app
        .patch(
            &bob,
            &format!("/v1/messages/{}", as_id(&hello["id"])),
            &json!({ "body": "edit?" }),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "cannot_write");
    let response = moderate(&app, &bob, &lobby, "bob", json!({ "silenced": false })).await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_yourself");
    unchanged(&app, before).await;
    app.messages(&bob, &lobby["id"], "").await;
    let (status, _) = moderate(&app, &carol, &lobby, "bob", json!({ "silenced": false })).await;
    assert_eq!(status, StatusCode::OK);
    app.send(&bob, &lobby["id"], "thanks").await;
    let (_, timed) = moderate(
        &app,
        &carol,
        &lobby,
        "bob",
        json!({ "silenced": true, "silenced_minutes": 5 }),
    )
    .await;
    assert!(timed["silenced_until"].is_string(), "{timed}");
    assert_eq!(timed["silenced"], true);
    moderate(&app, &carol, &lobby, "bob", json!({ "silenced": false })).await;

    // banned: sees nothing, cannot post or come back
    let (status, banned) = moderate(&app, &carol, &lobby, "bob", json!({ "banned": true })).await;
    assert_eq!(status, StatusCode::OK, "{banned}");
    assert_eq!(banned["banned"], true);
    let before = app.counts().await;
    for response in [
        app.get(
            &bob,
            &format!("/v1/conversations/{}/messages", as_id(&lobby["id"])),
        )
        .await,
        app.send_json(&bob, &lobby["id"], &message("still here?"))
            .await,
        app.get(&bob, &room_path(&lobby, "/members")).await,
    ] {
        assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    }
    let response = app
        .post(&bob, &room_path(&lobby, "/join"), &json!({}))
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "banned");
    let response = app
        .post(
            &carol,
            &room_path(&lobby, "/members"),
            &json!({ "user_id": "bob" }),
        )
        .await;
    assert_error(&response, StatusCode::CONFLICT, "user_banned");
    let seen = app
        .sql_as("bob", "user", "SELECT count(*) FROM chat_messages", &[])
        .await
        .expect("bob's select");
    assert_eq!(
        seen[0].get::<_, i64>(0),
        0,
        "a banned member reads messages"
    );
    let (_, banned_list) = app
        .get(&carol, &room_path(&lobby, "/members?banned=true"))
        .await;
    assert_eq!(banned_list["items"][0]["user_id"], "bob");
    unchanged(&app, before).await;

    // lifting the ban does not bring bob back; he may rejoin
    moderate(&app, &carol, &lobby, "bob", json!({ "banned": false })).await;
    let response = app.send_json(&bob, &lobby["id"], &message("back?")).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    join(&app, &bob, &lobby).await;
    app.send(&bob, &lobby["id"], "back").await;

    // removed: gone until he rejoins (an open room) — as a plain member
    let (status, removed) = app.delete(&carol, &room_path(&lobby, "/members/bob")).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert!(removed["left_at"].is_string());
    let response = app.send_json(&bob, &lobby["id"], &message("kicked?")).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let response = app.delete(&carol, &room_path(&lobby, "/members/bob")).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_last_owner_hands_over_before_leaving() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;

    let response = app.delete(&alice, &room_path(&lobby, "/leave")).await;
    assert_error(&response, StatusCode::CONFLICT, "last_owner");
    moderate(&app, &alice, &lobby, "bob", json!({ "role": "owner" })).await;
    let (status, left) = app.delete(&alice, &room_path(&lobby, "/leave")).await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert!(left["left_at"].is_string());
    let response = app.delete(&alice, &room_path(&lobby, "/leave")).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");

    // coming back to an open room by oneself makes one a member, whatever one was
    let (status, back) = app
        .post(&alice, &room_path(&lobby, "/join"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{back}");
    assert_eq!(back["my_role"], "member");
    // a direct conversation is not a room
    let other = crate::chat_helpers::direct(&app, &alice, "bob").await;
    let response = app
        .delete(&alice, &format!("/v1/rooms/{}/leave", as_id(&other["id"])))
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn moderators_pin_and_unpin_messages() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    let rules = app.send(&alice, &lobby["id"], "read the rules").await;
    let pin_path = room_path(&lobby, &format!("/pins/{}", as_id(&rules["id"])));

    let before = app.counts().await;
    let response = put(&app, &bob, &pin_path).await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_a_moderator");
    let response = put(
        &app,
        &alice,
        &room_path(&lobby, &format!("/pins/{}", Uuid::new_v4())),
    )
    .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    unchanged(&app, before).await;

    let (status, pinned) = put(&app, &alice, &pin_path).await;
    assert_eq!(status, StatusCode::OK, "{pinned}");
    assert_eq!(pinned["pinned_by"], "alice");
    assert!(pinned["pinned_at"].is_string());
    let (_, again) = put(&app, &alice, &pin_path).await;
    assert_eq!(
        again["change_seq"], pinned["change_seq"],
        "pinning twice changes nothing"
    );
    let (_, pins) = app.get(&bob, &room_path(&lobby, "/pins")).await;
    assert_eq!(pins["items"][0]["id"], rules["id"]);

    let (status, unpinned) = app.delete(&alice, &pin_path).await;
    assert_eq!(status, StatusCode::OK, "{unpinned}");
    assert_eq!(unpinned["pinned_at"], Value::Null);
    let (_, pins) = app.get(&bob, &room_path(&lobby, "/pins")).await;
    assert_eq!(pins["items"], json!([]));
}

#[tokio::test]
async fn settings_are_changed_by_owners_and_admins_and_take_effect() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;

    let before = app.counts().await;
    let response = app
        .patch(
            &bob,
            &room_path(&lobby, ""),
            &json!({ "name": "Bob's now" }),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_room_admin");
    let response = app
        .patch(
            &alice,
            &room_path(&lobby, ""),
            &json!({ "settings": { "max_members": "ten" } }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    unchanged(&app, before).await;
    let title: String = app
        .db
        .query_one(
            "SELECT title FROM conversations WHERE id = $1::text::uuid",
            &[&as_id(&lobby["id"])],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(title, "Lobby");

    let (status, changed) = app
        .patch(
            &alice,
            &room_path(&lobby, ""),
            &json!({ "name": "Lounge", "description": "chill",
                     "settings": { "allow_file_uploads": false, "anonymous_posting": true, "retention_days": 7 } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (&changed["name"], &changed["description"]),
        (&json!("Lounge"), &json!("chill"))
    );
    assert_eq!(changed["settings"]["retention_days"], 7);
    let (_, cleared) = app
        .patch(
            &alice,
            &room_path(&lobby, ""),
            &json!({ "description": null, "settings": { "retention_days": null } }),
        )
        .await;
    assert_eq!(cleared["description"], Value::Null);
    assert_eq!(cleared["settings"]["retention_days"], Value::Null);
    assert_eq!(cleared["settings"]["anonymous_posting"], true);

    // file uploads off: no message carries an attachment, whoever writes it
    let before = app.counts().await;
    let attached = app
        .sql_as(
            "bob",
            "user",
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, attachment_id)
             VALUES ($1::text::uuid, 'bob', 'user', 'image', 'photo.jpg', gen_random_uuid())",
            &[&as_id(&lobby["id"])],
        )
        .await;
    let error = attached.expect_err("an attachment got in");
    let message = error.as_db_error().map(|e| e.message().to_owned());
    assert_eq!(
        message.as_deref(),
        Some("file uploads are turned off in this room")
    );
    unchanged(&app, before).await;

    // anonymous posting: the sender is not shown, on any path
    let posted = app.send(&bob, &lobby["id"], "who said that?").await;
    assert_eq!(posted["anonymous"], true);
    assert_eq!(posted["sender_id"], Value::Null);
    assert_eq!(posted["sender_name"], Value::Null);
    let page = app.messages(&alice, &lobby["id"], "").await;
    let last = page["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["body"].as_str(), &last["sender_id"]),
        (Some("who said that?"), &Value::Null)
    );
    // bob still edits it: the database knows whose it is
    let (status, edited) = app
        .patch(
            &bob,
            &format!("/v1/messages/{}", as_id(&posted["id"])),
            &json!({ "body": "edited anonymously" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(rows(&app, "conversations").await, 1);
}

#[tokio::test]
async fn a_group_holds_at_most_fifty_members() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let mut others = Vec::new();
    for i in 0..50 {
        let sub = format!("u{i:02}");
        app.db
            .execute("INSERT INTO users (id) VALUES ($1)", &[&sub])
            .await
            .unwrap();
        others.push(sub);
    }
    let response = app
        .post(
            &alice,
            "/v1/rooms",
            &json!({ "name": "Too many", "type": "group", "members": others }),
        )
        .await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_members",
    );
    let group = room(
        &app,
        &alice,
        json!({ "name": "Full", "type": "group", "members": &others[..49] }),
    )
    .await;
    assert_eq!(group["member_count"], 50);
    let before = app.counts().await;
    let response = app
        .post(
            &alice,
            &room_path(&group, "/members"),
            &json!({ "user_id": "u49" }),
        )
        .await;
    assert_error(&response, StatusCode::CONFLICT, "room_full");
    // and the database holds the limit for writers that skip the API
    let forced = app
        .sql_as(
            "alice",
            "user",
            "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1::text::uuid, 'u49', 'member')",
            &[&as_id(&group["id"])],
        )
        .await;
    assert!(forced.is_err(), "a 51st member got in");
    unchanged(&app, before).await;
}

#[tokio::test]
async fn concurrent_joins_never_overfill_a_room() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let small = room(
        &app,
        &alice,
        json!({ "name": "Small", "type": "public", "settings": { "max_members": 5 } }),
    )
    .await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        tokens.push(user(&app, &format!("u{i:02}")).await);
    }
    let app = &app;
    let path = room_path(&small, "/join");
    let joins = tokens.iter().map(|token| {
        let path = path.clone();
        async move { app.post(token, &path, &json!({})).await }
    });
    let answers = futures::future::join_all(joins).await;
    let joined = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(joined, 4, "{answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::CREATED
                || *status == StatusCode::CONFLICT
                || *status == StatusCode::UNPROCESSABLE_ENTITY,
            "{status} {body}"
        );
    }
    let members = app
        .count(&format!(
            "SELECT count(*) FROM conversation_members WHERE conversation_id = '{}' AND left_at IS NULL",
            as_id(&small["id"])
        ))
        .await;
    assert_eq!(members, 5);
}

/// The write rule says why, in SQL as over the API: SQLSTATE PC001 with the
/// reason in DETAIL (pgchat.refuse), raised before RLS's reasonless refusal.
#[tokio::test]
async fn in_sql_a_refused_message_says_why() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    let other = room_of(&app, &alice, "public", "Other").await;
    let elsewhere = app.send(&alice, &other["id"], "elsewhere").await;
    let insert = |reply_to: Option<&str>| {
        let (app, room, reply_to) = (&app, as_id(&lobby["id"]), reply_to.map(str::to_owned));
        async move {
            app.sql_as(
                "bob",
                "user",
                "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body, reply_to)
                 VALUES ($1::text::uuid, 'bob', 'user', 'sql', $2::text::uuid)",
                &[&room, &reply_to],
            )
            .await
        }
    };
    let member = |set: &'static str| {
        let (app, room) = (&app, as_id(&lobby["id"]));
        async move {
            app.sql_as(
                "bob",
                "user",
                &format!(
                    "UPDATE conversation_members SET {set} AND conversation_id = $1::text::uuid"
                ),
                &[&room],
            )
            .await
        }
    };
    let before = app.counts().await;
    // a member moderates nobody, nor promotes or silences themselves
    assert_sql_refused(
        member("banned = true WHERE user_id = 'alice'").await,
        "not_a_moderator",
    );
    assert_sql_refused(
        member("role = 'owner' WHERE user_id = 'bob'").await,
        "not_yourself",
    );
    assert_sql_refused(
        member("silenced_until = 'infinity' WHERE user_id = 'bob'").await,
        "not_yourself",
    );
    assert_sql_refused(
        insert(Some(as_id(&elsewhere["id"]))).await,
        "invalid_reply_to",
    );
    moderate(&app, &alice, &lobby, "bob", json!({ "silenced": true })).await;
    assert_sql_refused(insert(None).await, "silenced");
    moderate(&app, &alice, &lobby, "bob", json!({ "banned": true })).await;
    assert_sql_refused(insert(None).await, "not_found");
    unchanged(&app, before).await;
}

#[tokio::test]
async fn in_sql_room_sizes_and_membership_say_why() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let boss = app.token("boss", "admin");
    let trip = room(
        &app,
        &alice,
        json!({ "name": "Trip", "type": "group", "members": ["bob"] }),
    )
    .await;
    let trip_id = as_id(&trip["id"]).to_owned();

    // As psql with a request's claims: the size rules and membership raise PC001 with their code.
    assert_sql_refused(
        app.sql_as(
            "alice",
            "user",
            "UPDATE conversations SET settings = settings || '{\"max_members\": 51}'
              WHERE id = $1::text::uuid",
            &[&trip_id],
        )
        .await,
        "group_too_large",
    );
    assert_sql_refused(
        app.sql_as(
            "alice",
            "user",
            "SELECT pgchat.room_size_check('group', '{}', 1)",
            &[],
        )
        .await,
        "group_needs_members",
    );
    assert_sql_refused(
        app.sql_as(
            "alice",
            "user",
            "SELECT pgchat.room_size_check('private', '{\"max_members\": 2}', 3)",
            &[],
        )
        .await,
        "too_many_members",
    );
    let why = "SELECT pgchat.refuse_non_member($1::text::uuid)";
    assert_sql_refused(
        app.sql_as("boss", "admin", why, &[&trip_id]).await,
        "not_a_member",
    );
    assert_sql_refused(
        app.sql_as("carl", "user", why, &[&trip_id]).await,
        "not_found",
    );

    // The API answers with the same codes: an admin who is no member cannot
    // leave, read their cursor or hide the room; a stranger is told nothing.
    assert_error(
        &app.post(&boss, &room_path(&trip, "/leave"), &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &app.post(
            &boss,
            &format!("/v1/conversations/{trip_id}/read"),
            &json!({ "seq": 1 }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &app.get(&boss, &format!("/v1/conversations/{trip_id}"))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    let stranger = user(&app, "carl").await;
    assert_error(
        &app.post(&stranger, &room_path(&trip, "/leave"), &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.patch(
            &alice,
            &room_path(&trip, ""),
            &json!({ "settings": { "max_members": 51 } }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "group_too_large",
    );
    // bob leaves once; the second time he is no member (and cannot see it)
    let (status, _) = app
        .post(&bob, &room_path(&trip, "/leave"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &app.post(&bob, &room_path(&trip, "/leave"), &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
