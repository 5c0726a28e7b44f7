//! Room profiles and admission (issue 21, item 3): an avatar and a banner from
//! the attachment store, join approval with a moderators' request queue, the
//! file types and sizes a room takes, and a read-only preview of a public room
//! for those who have not joined it. Each refusal is checked by its code.

use std::io::Cursor;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::attachments::{upload, PDF};
use crate::chat_helpers::{direct, invite, join, moderate, room, room_of, room_path, user};
use crate::helpers::{as_id, assert_error, assert_sql_refused, spawn_app, TestApp};
use crate::ws_client::Ws;

/// A PNG of `width` × `height` pixels.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 40, 90]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encoding a PNG");
    out
}

async fn settings(
    app: &TestApp,
    token: &str,
    room: &Value,
    settings: Value,
) -> (StatusCode, Value) {
    app.patch(
        token,
        &room_path(room, ""),
        &json!({ "settings": settings }),
    )
    .await
}

/// GET of an attachment path: the status (the bytes are streamed from the
/// local store in tests).
async fn fetch_status(app: &TestApp, token: &str, path: &str) -> StatusCode {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("fetching")
        .status()
}

async fn request_count(app: &TestApp, room: &Value) -> i64 {
    app.count(&format!(
        "SELECT count(*) FROM room_join_requests WHERE conversation_id = '{}'",
        as_id(&room["id"])
    ))
    .await
}

#[tokio::test]
async fn a_rooms_avatar_and_banner_are_its_owners_images_shown_to_whoever_sees_the_room() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    // a room does not exist before it is created: its avatar is uploaded elsewhere
    let with_bob = direct(&app, &alice, "bob").await;
    let avatar = upload(
        &app,
        &alice,
        &with_bob["id"],
        "me.png",
        "image/png",
        &png(300, 200),
    )
    .await;
    let lobby = room(
        &app,
        &alice,
        json!({ "name": "Lobby", "type": "public",
                "settings": { "avatar_attachment_id": avatar["id"] } }),
    )
    .await;
    assert_eq!(lobby["settings"]["avatar_attachment_id"], avatar["id"]);
    assert_eq!(lobby["avatar"]["id"], avatar["id"], "{lobby}");
    assert_eq!(lobby["avatar"]["width"], 300);
    assert_eq!(lobby["banner"], Value::Null);
    let url = as_id(&lobby["avatar"]["url"]).to_owned();
    let thumbnail = as_id(&lobby["avatar"]["thumbnail_url"]).to_owned();

    // anyone who can see the public room reads it, and its thumbnail
    let (status, seen) = app.get(&carol, &room_path(&lobby, "")).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["avatar"]["url"], url.as_str());
    assert_eq!(fetch_status(&app, &carol, &url).await, StatusCode::OK);
    assert_eq!(fetch_status(&app, &carol, &thumbnail).await, StatusCode::OK);

    // a banner uploaded into the room itself: invisible to carol until named
    let banner = upload(
        &app,
        &alice,
        &lobby["id"],
        "wide.png",
        "image/png",
        &png(900, 200),
    )
    .await;
    let banner_url = format!("/v1/attachments/{}", as_id(&banner["id"]));
    assert_eq!(
        fetch_status(&app, &carol, &banner_url).await,
        StatusCode::NOT_FOUND
    );
    join(&app, &bob, &lobby).await;
    let bobs = upload(
        &app,
        &bob,
        &lobby["id"],
        "bob.png",
        "image/png",
        &png(10, 10),
    )
    .await;
    let pdf = upload(
        &app,
        &alice,
        &lobby["id"],
        "doc.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    let (status, pending) = app
        .post(
            &alice,
            "/v1/attachments",
            &json!({ "conversation_id": lobby["id"], "filename": "later.png", "size": 100, "mime_type": "image/png" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pending}");
    let before = app
        .count("SELECT sum(change_seq)::bigint FROM conversations")
        .await;
    for (who, value, status, code) in [
        (&bob, &banner["id"], StatusCode::FORBIDDEN, "not_room_admin"),
        (
            &alice,
            &bobs["id"],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_attachment",
        ),
        (
            &alice,
            &json!(Uuid::new_v4()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_attachment",
        ),
        (
            &alice,
            &pdf["id"],
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_an_image",
        ),
        (
            &alice,
            &pending["id"],
            StatusCode::CONFLICT,
            "attachment_not_ready",
        ),
        (
            &alice,
            &json!("not-a-uuid"),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ] {
        let answer = settings(&app, who, &lobby, json!({ "banner_attachment_id": value })).await;
        assert_error(&answer, status, code);
    }
    assert_eq!(
        app.count("SELECT sum(change_seq)::bigint FROM conversations")
            .await,
        before,
        "a refused setting changed a room"
    );
    // the same rule for a request that writes the row itself
    let refused = app
        .sql_as(
            "alice",
            "user",
            "UPDATE conversations SET settings = settings || jsonb_build_object('avatar_attachment_id', $2::text)
              WHERE id = $1::text::uuid",
            &[&as_id(&lobby["id"]), &as_id(&bobs["id"])],
        )
        .await;
    assert_sql_refused(refused, "invalid_attachment");

    let (status, updated) = settings(
        &app,
        &alice,
        &lobby,
        json!({ "banner_attachment_id": banner["id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["banner"]["id"], banner["id"]);
    assert_eq!(updated["avatar"]["id"], avatar["id"], "the avatar stays");
    assert_eq!(
        fetch_status(&app, &carol, &banner_url).await,
        StatusCode::OK
    );

    // a private room's images are its readers' alone
    let secret = room(
        &app,
        &alice,
        json!({ "name": "Secret", "type": "private", "members": ["bob"],
                "settings": { "avatar_attachment_id": banner["id"] } }),
    )
    .await;
    assert_eq!(secret["avatar"]["id"], banner["id"]);
    let (status, _) = app.get(&bob, &room_path(&secret, "")).await;
    assert_eq!(status, StatusCode::OK);
    let private_only = upload(
        &app,
        &alice,
        &secret["id"],
        "p.png",
        "image/png",
        &png(5, 5),
    )
    .await;
    let (status, _) = settings(
        &app,
        &alice,
        &secret,
        json!({ "avatar_attachment_id": private_only["id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let private_url = format!("/v1/attachments/{}", as_id(&private_only["id"]));
    assert_eq!(fetch_status(&app, &bob, &private_url).await, StatusCode::OK);
    assert_eq!(
        fetch_status(&app, &carol, &private_url).await,
        StatusCode::NOT_FOUND
    );

    // null removes it
    let (status, cleared) = settings(
        &app,
        &alice,
        &lobby,
        json!({ "banner_attachment_id": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["banner"], Value::Null);
    assert_eq!(cleared["settings"]["banner_attachment_id"], Value::Null);
    assert_eq!(
        fetch_status(&app, &carol, &banner_url).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn joining_a_room_that_requires_approval_asks_and_its_moderators_decide() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let dave = user(&app, "dave").await;
    let eve = user(&app, "eve").await;
    let frank = user(&app, "frank").await;
    let club = room(
        &app,
        &alice,
        json!({ "name": "Club", "type": "public", "settings": { "require_approval": true } }),
    )
    .await;
    assert_eq!(club["settings"]["require_approval"], true);
    invite(&app, &alice, &club, "carol", "moderator").await;
    invite(&app, &alice, &club, "dave", "member").await;
    invite(&app, &alice, &club, "frank", "member").await;
    let (status, _) = moderate(&app, &alice, &club, "frank", json!({ "banned": true })).await;
    assert_eq!(status, StatusCode::OK);
    let conversation: Uuid = as_id(&club["id"]).parse().unwrap();
    let mut live = Ws::connect(app.port, &alice).await;
    live.subscribe(&format!("conversation:{conversation}"), None)
        .await;

    // joining asks; asking again answers the same request
    let join_path = room_path(&club, "/join");
    let (status, asked) = app.post(&bob, &join_path, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(asked["status"], "requested");
    assert_eq!(asked["user_id"], "bob");
    let (status, again) = app.post(&bob, &join_path, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["requested_at"], asked["requested_at"]);
    assert_eq!(request_count(&app, &club).await, 1);
    let (_, seen) = app.get(&bob, &room_path(&club, "")).await;
    assert_eq!(
        (&seen["my_role"], &seen["join_requested"]),
        (&Value::Null, &json!(true))
    );
    assert_eq!(seen["member_count"], 3, "bob is not a member yet");
    // the database is the authority: joining by writing the row is refused
    let refused = app
        .sql_as(
            "bob",
            "user",
            "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, 'bob', 'member')",
            &[&conversation],
        )
        .await;
    assert_sql_refused(refused, "approval_required");
    // nor does a plain member admit him by "inviting" as an approval
    let approve = room_path(&club, "/requests/bob/approve");
    assert_error(
        &app.post(&dave, &approve, &json!({})).await,
        StatusCode::FORBIDDEN,
        "not_a_moderator",
    );
    assert_error(
        &app.get(&dave, &room_path(&club, "/requests")).await,
        StatusCode::FORBIDDEN,
        "not_a_moderator",
    );
    assert_error(
        &app.get(&eve, &room_path(&club, "/requests")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // a banned user cannot ask
    assert_error(
        &app.post(&frank, &join_path, &json!({})).await,
        StatusCode::FORBIDDEN,
        "banned",
    );
    let (status, _) = app.post(&eve, &join_path, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // the moderators' queue, oldest first
    let (status, queue) = app.get(&carol, &room_path(&club, "/requests")).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let who: Vec<&str> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["bob", "eve"]);
    assert_eq!(queue["items"][0]["name"], "Bob");

    // approving admits as a member, with the usual event; the request goes
    let (status, member) = app.post(&carol, &approve, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_eq!(
        (&member["user_id"], &member["role"]),
        (&json!("bob"), &json!("member"))
    );
    let joined = live.event_of("member_joined").await;
    assert_eq!(joined["user_id"], "bob", "{joined}");
    assert_error(
        &app.post(&carol, &approve, &json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, seen) = app.get(&bob, &room_path(&club, "")).await;
    assert_eq!(
        (&seen["my_role"], &seen["join_requested"]),
        (&json!("member"), &json!(false))
    );
    app.send(&bob, &club["id"], "thanks for having me").await;

    // rejecting removes the request and admits nobody; one may ask again
    let reject = room_path(&club, "/requests/eve/reject");
    let (status, _) = app.post(&carol, &reject, &json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.post(&carol, &reject, &json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(request_count(&app, &club).await, 0);
    let (status, _) = app
        .get(&eve, &format!("/v1/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.post(&eve, &join_path, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // who left asks again; a platform admin joins at once
    let (status, _) = app.delete(&bob, &room_path(&club, "/leave")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, asked) = app.post(&bob, &join_path, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    let refused = app
        .sql_as(
            "bob",
            "user",
            "UPDATE conversation_members SET left_at = NULL WHERE conversation_id = $1 AND user_id = 'bob'",
            &[&conversation],
        )
        .await;
    assert_sql_refused(refused, "approval_required");
    let admin = app.token("root", "admin");
    let (status, _) = app.post(&admin, &join_path, &json!({})).await;
    assert_eq!(status, StatusCode::CREATED);

    // a room that admits anyone takes no requests
    let open = room_of(&app, &alice, "public", "Open").await;
    let refused = app
        .sql_as(
            "eve",
            "user",
            "INSERT INTO room_join_requests (conversation_id, user_id) VALUES ($1::text::uuid, 'eve')",
            &[&as_id(&open["id"])],
        )
        .await;
    assert_sql_refused(refused, "approval_not_required");
    // turning approval off lets those who asked simply join
    let (status, _) = settings(&app, &alice, &club, json!({ "require_approval": false })).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.post(&eve, &join_path, &json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        request_count(&app, &club).await,
        1,
        "bob's request stands, eve's went"
    );
}

#[tokio::test]
async fn a_room_takes_only_its_allowed_file_types_and_sizes_on_upload_and_on_send() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    // both settings are taken when the room is created, whatever its type
    for kind in ["public", "private", "announcement"] {
        let made = room(
            &app,
            &alice,
            json!({ "name": kind, "type": kind,
                    "settings": { "max_upload_bytes": 5000, "allowed_mime_types": ["image/*"] } }),
        )
        .await;
        assert_eq!(made["settings"]["max_upload_bytes"], 5000, "{made}");
        assert_eq!(made["settings"]["allowed_mime_types"], json!(["image/*"]));
    }
    let photos = room(
        &app,
        &alice,
        json!({ "name": "Photos", "type": "public",
                "settings": { "max_upload_bytes": 5000, "allowed_mime_types": ["image/*", "application/pdf"] } }),
    )
    .await;
    join(&app, &bob, &photos).await;
    let ask = |mime: &str, size: usize| json!({ "conversation_id": photos["id"], "filename": "f", "size": size, "mime_type": mime });
    assert_error(
        &app.post(&bob, "/v1/attachments", &ask("text/plain", 10))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "mime_type_not_allowed",
    );
    assert_error(
        &app.post(&bob, "/v1/attachments", &ask("image/png", 6000))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let image = upload(&app, &bob, &photos["id"], "a.png", "image/png", &png(8, 8)).await;
    let pdf = upload(&app, &bob, &photos["id"], "a.pdf", "application/pdf", PDF).await;

    // the settings as they are when the message is sent
    let (status, _) = settings(
        &app,
        &alice,
        &photos,
        json!({ "allowed_mime_types": ["image/png"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let send = |attachment: &Value| json!({ "body": "look", "client_msg_id": Uuid::new_v4(), "attachment_id": attachment });
    let before = app.counts().await;
    assert_error(
        &app.send_json(&bob, &photos["id"], &send(&pdf["id"])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "mime_type_not_allowed",
    );
    let (status, _) = settings(&app, &alice, &photos, json!({ "max_upload_bytes": 10 })).await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &app.send_json(&bob, &photos["id"], &send(&image["id"]))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert_eq!(app.counts().await, before, "a refused send wrote something");
    let (status, cleared) = settings(
        &app,
        &alice,
        &photos,
        json!({ "max_upload_bytes": null, "allowed_mime_types": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["settings"]["allowed_mime_types"], Value::Null);
    let (status, sent) = app.send_json(&bob, &photos["id"], &send(&pdf["id"])).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");

    for bad in [
        json!([]),
        json!(["png"]),
        json!(["*/*"]),
        json!("image/png"),
        json!([1]),
    ] {
        assert_error(
            &settings(&app, &alice, &photos, json!({ "allowed_mime_types": bad })).await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        );
    }
    // what a request cannot send, the database refuses from psql too
    let refused = app
        .db
        .execute(
            "UPDATE conversations SET settings = '{\"allowed_mime_types\": [\"NOT A TYPE\"]}' WHERE id = $1::text::uuid",
            &[&as_id(&photos["id"])],
        )
        .await
        .expect_err("an invalid setting");
    assert_eq!(
        refused.as_db_error().map(|e| e.constraint()),
        Some(Some("conversations_room_settings_valid"))
    );
}

#[tokio::test]
async fn a_public_room_is_previewed_without_joining_and_its_messages_are_readable_no_other_way() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let frank = user(&app, "frank").await;
    let lobby = room_of(&app, &alice, "public", "Lobby").await;
    join(&app, &bob, &lobby).await;
    invite(&app, &alice, &lobby, "frank", "member").await;
    let (status, _) = moderate(&app, &alice, &lobby, "frank", json!({ "banned": true })).await;
    assert_eq!(status, StatusCode::OK);
    for n in 1..=22 {
        app.send(&alice, &lobby["id"], &format!("hello {n}")).await;
    }
    let gone = app.send(&bob, &lobby["id"], "oops, wrong room").await;
    let (status, _) = app
        .delete(&bob, &format!("/v1/messages/{}", as_id(&gone["id"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    let photo = upload(&app, &bob, &lobby["id"], "p.png", "image/png", &png(6, 6)).await;
    let (status, _) = app
        .send_json(
            &bob,
            &lobby["id"],
            &json!({ "body": "a photo", "client_msg_id": Uuid::new_v4(), "attachment_id": photo["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let members_before = app.count("SELECT count(*) FROM conversation_members").await;

    let (status, preview) = app.get(&carol, &room_path(&lobby, "/preview")).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["room"]["name"], "Lobby");
    assert_eq!(preview["room"]["my_role"], Value::Null);
    assert_eq!(preview["member_count"], 2);
    let messages = preview["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 20, "a bounded number by default");
    let bodies: Vec<&str> = messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.first(), Some(&"hello 4"), "oldest first: {bodies:?}");
    assert_eq!(bodies.last(), Some(&"a photo"));
    assert!(
        !bodies.contains(&"oops, wrong room") && !bodies.contains(&""),
        "a deleted message: {bodies:?}"
    );
    let shown = messages.last().unwrap();
    assert_eq!(
        shown["attachment"]["url"],
        Value::Null,
        "files are for members: {shown}"
    );
    assert_eq!(shown["client_msg_id"], Value::Null);
    let (status, few) = app
        .get(&carol, &room_path(&lobby, "/preview?limit=3"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(few["messages"].as_array().unwrap().len(), 3);
    for bad in ["0", "101", "x"] {
        let (status, body) = app
            .get(&carol, &room_path(&lobby, &format!("/preview?limit={bad}")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit={bad}: {body}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM conversation_members").await,
        members_before,
        "a preview joins nobody"
    );
    // a member sees the same, files included
    let (status, theirs) = app.get(&bob, &room_path(&lobby, "/preview?limit=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        theirs["messages"][0]["attachment"]["url"].is_string(),
        "{theirs}"
    );

    // no other way in: history, the room's conversation, pins, search, the
    // file, a subscription, SQL as carol
    let c = as_id(&lobby["id"]);
    for path in [
        format!("/v1/conversations/{c}/messages"),
        format!("/v1/conversations/{c}"),
        format!("/v1/rooms/{c}/pins"),
        format!("/v1/attachments/{}", as_id(&photo["id"])),
    ] {
        let (status, body) = app.get(&carol, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, found) = app.get(&carol, "/v1/search?q=hello").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["items"], json!([]), "{found}");
    let mut ws = Ws::connect(app.port, &carol).await;
    let answer = ws
        .request(json!({ "type": "subscribe", "topic": format!("conversation:{c}") }))
        .await;
    assert_eq!(answer["type"], "error", "{answer}");
    let rows = app
        .sql_as(
            "carol",
            "user",
            "SELECT count(*) FROM chat_messages WHERE conversation_id = $1::text::uuid",
            &[&c],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 0);

    // a banned user does not look in; a private room is not there for others
    assert_error(
        &app.get(&frank, &room_path(&lobby, "/preview")).await,
        StatusCode::FORBIDDEN,
        "banned",
    );
    let secret = room(
        &app,
        &alice,
        json!({ "name": "Secret", "type": "private", "members": ["bob"] }),
    )
    .await;
    app.send(&alice, &secret["id"], "between us").await;
    assert_error(
        &app.get(&carol, &room_path(&secret, "/preview")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, theirs) = app.get(&bob, &room_path(&secret, "/preview")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["messages"][0]["body"], "between us");
    assert_error(
        &app.get(&carol, &format!("/v1/rooms/{}/preview", Uuid::new_v4()))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
