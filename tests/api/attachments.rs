//! Attachments, on the local store (the default) and on a real S3-compatible
//! server (s3s-fs, which verifies signatures and expiry: see `s3_server`).

use std::io::Cursor;
use std::time::Duration;

use reqwest::header;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chat_helpers::{direct, user};
use crate::helpers::{
    as_id, assert_error, assert_sql_refused, spawn_app, spawn_app_with, wait_for, TestApp,
};
use crate::s3_server::S3Server;

/// A PNG of `width` × `height` pixels.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([10, 120, 200]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encoding a PNG");
    out
}

pub(crate) const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const HTML: &[u8] = b"<html><script>alert(document.cookie)</script></html>";

/// A client that does not follow redirects (to look at the 302 itself).
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

async fn ask_upload(
    app: &TestApp,
    token: &str,
    conversation: &Value,
    filename: &str,
    size: usize,
    mime_type: &str,
) -> (StatusCode, Value) {
    app.post(
        token,
        "/v1/attachments",
        &json!({ "conversation_id": conversation, "filename": filename, "size": size, "mime_type": mime_type }),
    )
    .await
}

async fn put_content(app: &TestApp, token: &str, id: &Value, bytes: &[u8]) -> (StatusCode, Value) {
    let path = format!("/v1/attachments/{}/content", as_id(id));
    app.call(
        app.http
            .put(app.url(&path))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec()),
    )
    .await
}

async fn complete(app: &TestApp, token: &str, id: &Value) -> (StatusCode, Value) {
    let path = format!("/v1/attachments/{}/complete", as_id(id));
    app.post(token, &path, &json!({})).await
}

/// Uploads through the server and completes (asserting each step).
pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    conversation: &Value,
    filename: &str,
    mime_type: &str,
    bytes: &[u8],
) -> Value {
    let (status, created) =
        ask_upload(app, token, conversation, filename, bytes.len(), mime_type).await;
    assert_eq!(status, StatusCode::CREATED, "asking to upload: {created}");
    let (status, done) = put_content(app, token, &created["id"], bytes).await;
    assert_eq!(status, StatusCode::OK, "uploading: {done}");
    assert_eq!(done["status"], "ready", "{done}");
    done
}

pub(crate) async fn send_with(
    app: &TestApp,
    token: &str,
    conversation: &Value,
    attachment: &Value,
    extra: Value,
) -> (StatusCode, Value) {
    let mut message = json!({ "body": "see attached", "client_msg_id": Uuid::new_v4(), "attachment_id": attachment });
    if let (Some(message), Some(extra)) = (message.as_object_mut(), extra.as_object()) {
        message.extend(extra.clone());
    }
    app.send_json(token, conversation, &message).await
}

/// GET with `token`, not following redirects: status, headers, bytes.
async fn fetch(app: &TestApp, token: &str, path: &str) -> (StatusCode, header::HeaderMap, Vec<u8>) {
    let response = no_redirects()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("fetching");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("reading").to_vec();
    (status, headers, bytes)
}

/// A support session's conversation id, opened by a customer of that name.
async fn support_conversation(app: &TestApp, customer: &str) -> Value {
    app.open_session(customer).await["conversation_id"].clone()
}

#[tokio::test]
async fn an_image_uploaded_through_the_server_is_sent_and_downloaded_with_its_thumbnail() {
    let app = spawn_app().await;
    let carol = app.token_named("carol", "user", "Carol");
    let conversation = support_conversation(&app, &carol).await;
    let image = png(640, 480);

    let (status, created) = ask_upload(
        &app,
        &carol,
        &conversation,
        "holiday.png",
        image.len(),
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "pending");
    assert!(
        created.get("upload_url").is_none(),
        "the local store takes uploads through the server: {created}"
    );
    assert_eq!(
        created["content_url"],
        format!("/v1/attachments/{}/content", as_id(&created["id"]))
    );

    let (status, done) = put_content(&app, &carol, &created["id"], &image).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "ready");
    assert_eq!(
        (done["width"].clone(), done["height"].clone()),
        (json!(640), json!(480))
    );
    // completing again answers the same
    let (status, again) = complete(&app, &carol, &created["id"]).await;
    assert_eq!(
        (status, again["status"].clone()),
        (StatusCode::OK, json!("ready"))
    );

    let (status, message) = send_with(&app, &carol, &conversation, &created["id"], json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(
        message["kind"], "image",
        "a text message with an image becomes an image message"
    );
    let attachment = &message["attachment"];
    assert_eq!(attachment["id"], created["id"]);
    assert_eq!(attachment["filename"], "holiday.png");
    assert_eq!(attachment["mime_type"], "image/png");
    assert_eq!(attachment["size"], image.len());
    let url = attachment["url"].as_str().unwrap().to_owned();
    let thumbnail_url = attachment["thumbnail_url"]
        .as_str()
        .expect("a thumbnail")
        .to_owned();

    // The listing carries the same attachment.
    let page = app.messages(&carol, &conversation, "").await;
    assert_eq!(page["items"][1]["attachment"], *attachment);

    let (status, headers, bytes) = fetch(&app, &carol, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, image);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("inline; filename=\"holiday.png\""));

    let (status, headers, thumb) = fetch(&app, &carol, &thumbnail_url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    let decoded =
        image::load_from_memory_with_format(&thumb, image::ImageFormat::Jpeg).expect("a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (320, 240));

    // Staff who may read the conversation (the waiting queue) download it too.
    let agent = app.token("agent-1", "agent");
    let (status, _, bytes) = fetch(&app, &agent, &url).await;
    assert_eq!((status, bytes.len()), (StatusCode::OK, image.len()));
}

#[tokio::test]
async fn a_foreign_user_gets_404_and_a_member_sees_only_what_was_sent() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let mallory = user(&app, "mallory").await;
    let conversation = direct(&app, &alice, "bob").await["id"].clone();
    let done = upload(
        &app,
        &alice,
        &conversation,
        "notes.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    let url = done["url"].as_str().unwrap().to_owned();

    // Not sent yet: only the uploader sees it.
    assert_eq!(fetch(&app, &alice, &url).await.0, StatusCode::OK);
    assert_eq!(fetch(&app, &bob, &url).await.0, StatusCode::NOT_FOUND);

    let (status, _) = send_with(&app, &alice, &conversation, &done["id"], json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, headers, bytes) = fetch(&app, &bob, &url).await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, PDF));
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; "),
        "documents download"
    );

    for path in [
        url.clone(),
        format!("{url}/thumbnail"),
        format!("/v1/attachments/{}", Uuid::new_v4()),
    ] {
        let response = app.get(&mallory, &path).await;
        assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    }
    // nor may anyone else upload into it or complete it
    let (status, _) = put_content(&app, &mallory, &done["id"], PDF).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = ask_upload(
        &app,
        &mallory,
        &conversation,
        "x.pdf",
        PDF.len(),
        "application/pdf",
    )
    .await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    // The database agrees with the API: RLS hides the row.
    let rows = app
        .sql_as("mallory", "user", "SELECT id FROM attachments", &[])
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn a_spoofed_mime_type_is_rejected_and_nothing_is_kept() {
    let mut data_dir = None;
    let app = spawn_app_with(|config| data_dir = Some(config.database.data.path.clone())).await;
    let data_dir = data_dir.expect("the data folder");
    let carol = app.token("carol", "user");
    let conversation = support_conversation(&app, &carol).await;

    // HTML declared as a PNG.
    let (status, created) = ask_upload(
        &app,
        &carol,
        &conversation,
        "cat.png",
        HTML.len(),
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let response = put_content(&app, &carol, &created["id"], HTML).await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "mime_mismatch");
    let response = complete(&app, &carol, &created["id"]).await;
    assert_error(&response, StatusCode::CONFLICT, "upload_missing");
    // A valid signature with garbage behind it is not an image either.
    let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
    fake.extend_from_slice(&[0x42; 64]);
    let (_, created) = ask_upload(
        &app,
        &carol,
        &conversation,
        "cat.png",
        fake.len(),
        "image/png",
    )
    .await;
    let response = put_content(&app, &carol, &created["id"], &fake).await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_image");
    // Types pgchat cannot check are refused up front.
    for mime in ["text/html", "image/svg+xml", "application/x-msdownload"] {
        let response = ask_upload(&app, &carol, &conversation, "x", 10, mime).await;
        assert_error(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_mime_type",
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM attachments WHERE status = 'ready'")
            .await,
        0
    );
    let files = walk(&data_dir.join("attachments"));
    assert!(files.is_empty(), "rejected bytes are not kept: {files:?}");
}

/// The database's message of a refused statement.
fn db_message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_else(|| error.to_string())
}

pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn sizes_are_checked_against_the_default_and_the_conversations_own_limit() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    user(&app, "bob").await;
    let conversation = direct(&app, &alice, "bob").await["id"].clone();

    let response = ask_upload(
        &app,
        &alice,
        &conversation,
        "big.pdf",
        10 * 1024 * 1024 + 1,
        "application/pdf",
    )
    .await;
    assert_error(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let response = ask_upload(
        &app,
        &alice,
        &conversation,
        "empty.pdf",
        0,
        "application/pdf",
    )
    .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_size");

    // The content must be exactly what was declared.
    let (_, created) = ask_upload(
        &app,
        &alice,
        &conversation,
        "a.pdf",
        PDF.len() - 1,
        "application/pdf",
    )
    .await;
    let response = put_content(&app, &alice, &created["id"], PDF).await;
    assert_error(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let (_, created) = ask_upload(
        &app,
        &alice,
        &conversation,
        "a.pdf",
        PDF.len() + 1,
        "application/pdf",
    )
    .await;
    let response = put_content(&app, &alice, &created["id"], PDF).await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "size_mismatch");

    // A conversation may set its own limit (and turn uploads off).
    app.db
        .execute(
            "UPDATE conversations SET settings = settings || '{\"max_upload_bytes\": 50}' WHERE id = $1",
            &[&as_id(&conversation).parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    let response = ask_upload(
        &app,
        &alice,
        &conversation,
        "a.pdf",
        PDF.len(),
        "application/pdf",
    )
    .await;
    assert_error(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let (status, _) = ask_upload(&app, &alice, &conversation, "a.txt", 50, "text/plain").await;
    assert_eq!(status, StatusCode::CREATED);
    // The database holds the limit too, whoever inserts, and says why.
    assert_sql_refused(
        app.sql_as(
            "alice",
            "user",
            "INSERT INTO attachments (conversation_id, uploader_id, filename, mime_type, kind, size)
             VALUES ($1, 'alice', 'x.txt', 'text/plain', 'file', 51)",
            &[&as_id(&conversation).parse::<Uuid>().unwrap()],
        )
        .await,
        "payload_too_large",
    );
}

#[tokio::test]
async fn uploads_are_refused_where_a_room_turned_them_off() {
    let app = spawn_app().await;
    let owner = user(&app, "owner").await;
    let room = crate::chat_helpers::room(
        &app,
        &owner,
        json!({ "name": "no files", "type": "private", "settings": { "allow_file_uploads": false } }),
    )
    .await;
    let response = ask_upload(
        &app,
        &owner,
        &room["id"],
        "a.pdf",
        PDF.len(),
        "application/pdf",
    )
    .await;
    assert_error(&response, StatusCode::FORBIDDEN, "uploads_disabled");
    // A room may also set its own size limit, when created or later; out of
    // range is refused.
    let open = crate::chat_helpers::room(
        &app,
        &owner,
        json!({ "name": "small files", "type": "private", "settings": { "max_upload_bytes": 1000 } }),
    )
    .await;
    assert_eq!(open["settings"]["max_upload_bytes"], 1000, "{open}");
    let path = format!("/v1/rooms/{}", as_id(&open["id"]));
    for bad in [json!(0), json!(104_857_601), json!("10")] {
        let response = app
            .patch(
                &owner,
                &path,
                &json!({ "settings": { "max_upload_bytes": bad } }),
            )
            .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "invalid_body");
    }
    let (status, body) = app
        .patch(
            &owner,
            &path,
            &json!({ "settings": { "max_upload_bytes": 10 } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["settings"]["max_upload_bytes"], 10);
    let response = ask_upload(
        &app,
        &owner,
        &open["id"],
        "a.pdf",
        PDF.len(),
        "application/pdf",
    )
    .await;
    assert_error(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

#[tokio::test]
async fn a_message_carries_only_the_senders_own_completed_upload_of_that_conversation() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    user(&app, "carol").await;
    let with_bob = direct(&app, &alice, "bob").await["id"].clone();
    let with_carol = direct(&app, &alice, "carol").await["id"].clone();
    let image = upload(&app, &alice, &with_bob, "a.png", "image/png", &png(8, 8)).await;

    // someone else's upload
    let response = send_with(&app, &bob, &with_bob, &image["id"], json!({})).await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_attachment",
    );
    // another conversation's upload
    let response = send_with(&app, &alice, &with_carol, &image["id"], json!({})).await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_attachment",
    );
    // an unknown id
    let response = send_with(&app, &alice, &with_bob, &json!(Uuid::new_v4()), json!({})).await;
    assert_error(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_attachment",
    );
    // not completed
    let (_, pending) = ask_upload(
        &app,
        &alice,
        &with_bob,
        "b.pdf",
        PDF.len(),
        "application/pdf",
    )
    .await;
    let response = send_with(&app, &alice, &with_bob, &pending["id"], json!({})).await;
    assert_error(&response, StatusCode::CONFLICT, "attachment_not_ready");
    // an image is not audio (but any file may be sent as `file`)
    let response = send_with(
        &app,
        &alice,
        &with_bob,
        &image["id"],
        json!({ "kind": "audio" }),
    )
    .await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "kind_mismatch");
    let (status, sent) = send_with(
        &app,
        &alice,
        &with_bob,
        &image["id"],
        json!({ "kind": "file" }),
    )
    .await;
    assert_eq!(
        (status, sent["kind"].clone()),
        (StatusCode::CREATED, json!("file")),
        "{sent}"
    );
    // once only
    let response = send_with(&app, &alice, &with_bob, &image["id"], json!({})).await;
    assert_error(&response, StatusCode::CONFLICT, "attachment_in_use");

    // The database holds the same rules for any insert, and says why.
    let pdf = upload(&app, &alice, &with_bob, "c.pdf", "application/pdf", PDF).await;
    let pdf_id: Uuid = as_id(&pdf["id"]).parse().unwrap();
    let conversation: Uuid = as_id(&with_bob).parse().unwrap();
    let insert = "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, attachment_id)
                  VALUES ($1, $2, 'user', $3, 'x', $4)";
    assert_sql_refused(
        app.sql_as(
            "bob",
            "user",
            insert,
            &[&conversation, &"bob", &"file", &pdf_id],
        )
        .await,
        "invalid_attachment",
    );
    assert_sql_refused(
        app.sql_as(
            "alice",
            "user",
            insert,
            &[&conversation, &"alice", &"image", &pdf_id],
        )
        .await,
        "kind_mismatch",
    );
    assert_sql_refused(
        app.sql_as(
            "alice",
            "user",
            insert,
            &[
                &conversation,
                &"alice",
                &"audio",
                &image["id"].as_str().unwrap().parse::<Uuid>().unwrap(),
            ],
        )
        .await,
        "attachment_in_use",
    );
    // A text message (the default kind) takes the attachment's, as on the API.
    let derived = app
        .sql_as(
            "alice",
            "user",
            "INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body, attachment_id)
             VALUES ($1, 'alice', 'user', 'x', $2) RETURNING kind",
            &[&conversation, &pdf_id],
        )
        .await
        .expect("the attachment's kind");
    assert_eq!(derived[0].get::<_, String>(0), "file");
    let pdf = upload(&app, &alice, &with_bob, "d.pdf", "application/pdf", PDF).await;
    let pdf_id: Uuid = as_id(&pdf["id"]).parse().unwrap();
    app.sql_as(
        "alice",
        "user",
        insert,
        &[&conversation, &"alice", &"file", &pdf_id],
    )
    .await
    .expect("alice may");
    // Nor can a request point its upload at other bytes, or take back a completion.
    for (sql, refused) in [
        (
            "UPDATE attachments SET thumbnail_key = 'attachments/x/y.thumb.jpg' WHERE id = $1",
            "beside its attachment",
        ),
        (
            "UPDATE attachments SET status = 'pending', completed_at = NULL WHERE id = $1",
            "stays complete",
        ),
        (
            "UPDATE attachments SET storage_key = 'attachments/x/y' WHERE id = $1",
            "permission denied",
        ),
    ] {
        let error = app
            .sql_as("alice", "user", sql, &[&pdf_id])
            .await
            .expect_err(sql);
        assert!(db_message(&error).contains(refused), "{sql}: {error}");
    }
}

#[tokio::test]
async fn sends_with_attachments_over_a_websocket_take_the_checked_path() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    user(&app, "bob").await;
    let conversation = direct(&app, &alice, "bob").await["id"].clone();
    let done = upload(&app, &alice, &conversation, "a.pdf", "application/pdf", PDF).await;
    let mut ws = crate::ws_client::Ws::connect(app.port, &alice).await;
    let ack = ws
        .request(json!({ "type": "send_message", "conversation_id": conversation, "client_msg_id": Uuid::new_v4(),
                         "body": "the notes", "attachment_id": done["id"] }))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["kind"], "file");
    assert_eq!(ack["message"]["attachment"]["id"], done["id"]);
    let again = ws
        .request(json!({ "type": "send_message", "conversation_id": conversation, "client_msg_id": Uuid::new_v4(),
                         "body": "again", "attachment_id": done["id"] }))
        .await;
    assert_eq!(
        (again["type"].clone(), again["code"].clone()),
        (json!("error"), json!("attachment_in_use")),
        "{again}"
    );
}

#[tokio::test]
async fn filenames_are_sanitized_and_served_quoted() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let conversation = support_conversation(&app, &carol).await;
    let done = upload(
        &app,
        &carol,
        &conversation,
        "../../etc/\"pass;wd\".txt",
        "text/plain",
        b"hello\n",
    )
    .await;
    assert_eq!(done["filename"], "_pass_wd_.txt");
    let (status, headers, _) = fetch(&app, &carol, done["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"_pass_wd_.txt\"; filename*=UTF-8''_pass_wd_.txt"
    );
    let response = ask_upload(&app, &carol, &conversation, "../", 5, "text/plain").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "invalid_filename");
}

#[tokio::test]
async fn an_attachment_on_an_internal_note_stays_with_staff_and_a_deleted_message_hides_its_file() {
    let app = spawn_app().await;
    let carol = app.token("carol", "user");
    let agent = app.token("agent-1", "agent");
    let session = app.open_session(&carol).await;
    let conversation = session["conversation_id"].clone();
    let (status, _) = app
        .session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let note = upload(
        &app,
        &agent,
        &conversation,
        "internal.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    let (status, sent) = send_with(
        &app,
        &agent,
        &conversation,
        &note["id"],
        json!({ "internal": true }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let url = note["url"].as_str().unwrap();
    assert_eq!(fetch(&app, &agent, url).await.0, StatusCode::OK);
    assert_eq!(fetch(&app, &carol, url).await.0, StatusCode::NOT_FOUND);

    let shared = upload(
        &app,
        &carol,
        &conversation,
        "photo.png",
        "image/png",
        &png(4, 4),
    )
    .await;
    let (_, message) = send_with(&app, &carol, &conversation, &shared["id"], json!({})).await;
    assert_eq!(
        fetch(&app, &agent, shared["url"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
    let (status, deleted) = app
        .delete(&carol, &format!("/v1/messages/{}", as_id(&message["id"])))
        .await;
    assert!(status.is_success(), "{deleted}");
    assert_eq!(
        fetch(&app, &agent, shared["url"].as_str().unwrap()).await.0,
        StatusCode::NOT_FOUND
    );
    let page = app.messages(&agent, &conversation, "").await;
    let tombstone = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == message["id"])
        .unwrap();
    assert_eq!(tombstone["attachment"], Value::Null);
}

// ── S3 ──────────────────────────────────────────────────────────────────

#[tokio::test]
async fn on_s3_a_presigned_upload_and_download_work_and_the_download_url_expires() {
    let s3 = S3Server::start().await;
    let app = spawn_app_with(|config| {
        s3.configure(config);
        config.storage.download_url_ttl_secs = 2;
    })
    .await;
    let carol = app.token("carol", "user");
    let conversation = support_conversation(&app, &carol).await;
    let image = png(100, 50);

    let (status, created) = ask_upload(
        &app,
        &carol,
        &conversation,
        "s3.png",
        image.len(),
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let upload_url = created["upload_url"]
        .as_str()
        .expect("a presigned PUT URL")
        .to_owned();
    assert_eq!(created["upload_method"], "PUT");
    assert!(upload_url.starts_with(&s3.endpoint), "{upload_url}");
    // Straight to S3, with the headers that were signed.
    let mut put = reqwest::Client::new().put(&upload_url).body(image.clone());
    for (name, value) in created["upload_headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let stored = put.send().await.unwrap();
    assert!(
        stored.status().is_success(),
        "S3 refused the upload: {}",
        stored.text().await.unwrap()
    );
    // A URL whose signature was tampered with is refused by S3.
    let tampered = tamper(&upload_url);
    let refused = reqwest::Client::new()
        .put(&tampered)
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let (status, done) = complete(&app, &carol, &created["id"]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (done["width"].clone(), done["height"].clone()),
        (json!(100), json!(50))
    );
    let (status, message) = send_with(&app, &carol, &conversation, &created["id"], json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    // The upload URL is still valid, but what it writes is never served: the
    // checked file was moved to a key of its own.
    let mut swap = reqwest::Client::new().put(&upload_url).body(HTML.to_vec());
    for (name, value) in created["upload_headers"].as_object().unwrap() {
        swap = swap.header(name.as_str(), value.as_str().unwrap());
    }
    let _ = swap.send().await.unwrap();

    // The download: RLS first, then a redirect to a presigned GET.
    let (status, headers, _) =
        fetch(&app, &carol, message["attachment"]["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers[header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(&s3.endpoint), "{location}");
    assert!(
        location.contains("X-Amz-Expires=2&") || location.ends_with("X-Amz-Expires=2"),
        "{location}"
    );
    let got = reqwest::get(&location).await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()[header::CONTENT_TYPE], "image/png");
    assert!(got.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("inline; filename=\"s3.png\""));
    assert_eq!(got.bytes().await.unwrap().to_vec(), image);
    assert_eq!(
        reqwest::get(&tamper(&location)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // The thumbnail is in S3 too.
    let (status, headers, _) = fetch(
        &app,
        &carol,
        message["attachment"]["thumbnail_url"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    let thumb = reqwest::get(headers[header::LOCATION].to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(thumb.headers()[header::CONTENT_TYPE], "image/jpeg");

    // The server verifies expiry (X-Amz-Date + X-Amz-Expires, whole seconds):
    // time must pass, and the URL is refused once it has.
    let expired = wait_for("the presigned URL to expire", || async {
        let got = reqwest::get(&location).await.unwrap();
        (got.status() == StatusCode::FORBIDDEN).then_some(got)
    })
    .await;
    assert!(expired.text().await.unwrap().contains("expired"));
    // A fresh redirect works again.
    let (_, headers, _) = fetch(&app, &carol, message["attachment"]["url"].as_str().unwrap()).await;
    let fresh = reqwest::get(headers[header::LOCATION].to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
}

/// The URL with the last character of its signature changed.
fn tamper(url: &str) -> String {
    let at =
        url.find("X-Amz-Signature=").expect("a SigV4 presigned URL") + "X-Amz-Signature=".len();
    let mut chars: Vec<char> = url.chars().collect();
    chars[at] = if chars[at] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn on_s3_uploads_through_the_server_work_spoofed_types_are_rejected_and_strangers_get_404() {
    let s3 = S3Server::start().await;
    // Clients reach the store by another name than pgchat does.
    let public = s3.endpoint.replace("127.0.0.1", "localhost");
    let app = spawn_app_with(|config| {
        s3.configure(config);
        config.storage.s3_public_endpoint = Some(public.clone());
    })
    .await;
    let carol = app.token("carol", "user");
    let stranger = app.token("stranger", "user");
    let conversation = support_conversation(&app, &carol).await;

    let done = upload(
        &app,
        &carol,
        &conversation,
        "notes.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    let (status, _) = send_with(&app, &carol, &conversation, &done["id"], json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let url = done["url"].as_str().unwrap();
    let (status, headers, _) = fetch(&app, &carol, url).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(&public), "{location}");
    let got = reqwest::get(location).await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    let response = app.get(&stranger, url).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");

    // HTML declared as a PNG and PUT straight to S3: completing finds out.
    let (_, created) = ask_upload(
        &app,
        &carol,
        &conversation,
        "cat.png",
        HTML.len(),
        "image/png",
    )
    .await;
    let mut put = reqwest::Client::new()
        .put(created["upload_url"].as_str().unwrap())
        .body(HTML.to_vec());
    for (name, value) in created["upload_headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    assert!(put.send().await.unwrap().status().is_success());
    let response = complete(&app, &carol, &created["id"]).await;
    assert_error(&response, StatusCode::UNPROCESSABLE_ENTITY, "mime_mismatch");
    // The bytes were removed from the bucket.
    let response = complete(&app, &carol, &created["id"]).await;
    assert_error(&response, StatusCode::CONFLICT, "upload_missing");
}

#[tokio::test]
async fn uploads_never_completed_are_swept_with_their_bytes() {
    let mut data_dir = None;
    let app = spawn_app_with(|config| data_dir = Some(config.database.data.path.clone())).await;
    let data_dir = data_dir.expect("the data folder");
    let carol = app.token("carol", "user");
    let conversation = support_conversation(&app, &carol).await;
    let (_, stale) = ask_upload(
        &app,
        &carol,
        &conversation,
        "old.pdf",
        PDF.len(),
        "application/pdf",
    )
    .await;
    let (_, fresh) = ask_upload(
        &app,
        &carol,
        &conversation,
        "new.pdf",
        PDF.len(),
        "application/pdf",
    )
    .await;
    let done = upload(
        &app,
        &carol,
        &conversation,
        "kept.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    app.db
        .execute(
            "UPDATE attachments SET created_at = now() - interval '2 days' WHERE id = ANY($1)",
            &[&vec![
                as_id(&stale["id"]).parse::<Uuid>().unwrap(),
                as_id(&done["id"]).parse::<Uuid>().unwrap(),
            ]],
        )
        .await
        .unwrap();
    // A stray file where the stale upload's bytes would be.
    let key: String = app
        .db
        .query_one(
            "SELECT storage_key FROM attachments WHERE id = $1",
            &[&as_id(&stale["id"]).parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    let stray = data_dir.join("attachments").join(&key);
    std::fs::write(&stray, PDF).unwrap();

    let db = pgchat::db::Db::new(
        app.db_config.clone(),
        pgchat::db::tls::MakeTls::from_config(&app.db_config).unwrap(),
        2,
    )
    .unwrap();
    let storage =
        pgchat::storage::Storage::open(&pgchat::config::StorageConfig::default(), &data_dir)
            .await
            .unwrap();
    let swept = pgchat::service::attachments::purge_pending(&db, Duration::from_secs(24 * 3600))
        .await
        .unwrap();
    assert_eq!(swept, 1);
    let drained = pgchat::service::deletion::drain_blobs(&db, &storage)
        .await
        .unwrap();
    assert!(drained >= 1, "its bytes were queued with the row's delete");
    assert!(!stray.exists(), "the bytes went with the row");
    let left: Vec<String> = app
        .db
        .query("SELECT filename FROM attachments ORDER BY filename", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        left,
        ["kept.pdf", "new.pdf"],
        "fresh and completed uploads stay"
    );
    let _ = fresh;
}

#[tokio::test]
async fn in_sql_where_an_upload_may_go_and_whose_it_is_say_why() {
    let app = spawn_app().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    user(&app, "carl").await;
    let with_bob = direct(&app, &alice, "bob").await["id"].clone();
    let news = crate::chat_helpers::room_of(&app, &alice, "announcement", "News").await;
    crate::chat_helpers::join(&app, &bob, &news).await;
    let quiet = crate::chat_helpers::room(
        &app,
        &alice,
        json!({ "name": "no files", "type": "private", "settings": { "allow_file_uploads": false } }),
    )
    .await;
    let insert =
        "INSERT INTO attachments (conversation_id, uploader_id, filename, mime_type, kind, size)
                  VALUES ($1::text::uuid, $2, 'x.txt', 'text/plain', 'file', 5)";
    // As psql with a request's claims: each refusal raises PC001 with its code.
    assert_sql_refused(
        app.sql_as("carl", "user", insert, &[&as_id(&with_bob), &"carl"])
            .await,
        "not_found",
    );
    assert_sql_refused(
        app.sql_as("bob", "user", insert, &[&as_id(&news["id"]), &"bob"])
            .await,
        "forbidden",
    );
    assert_sql_refused(
        app.sql_as("alice", "user", insert, &[&as_id(&quiet["id"]), &"alice"])
            .await,
        "uploads_disabled",
    );
    let done = upload(&app, &alice, &with_bob, "a.txt", "text/plain", b"hello").await;
    let (status, _) = send_with(&app, &alice, &with_bob, &done["id"], json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let id: Uuid = as_id(&done["id"]).parse().unwrap();
    assert_sql_refused(
        app.sql_as("bob", "user", "SELECT * FROM pgchat.own_upload($1)", &[&id])
            .await,
        "not_uploader",
    );
    let none = app
        .sql_as(
            "carl",
            "user",
            "SELECT * FROM pgchat.own_upload($1)",
            &[&id],
        )
        .await
        .expect("not there for carl");
    assert!(none.is_empty());

    // The API answers with the same codes and statuses.
    let response = ask_upload(&app, &bob, &news["id"], "a.txt", 5, "text/plain").await;
    assert_error(&response, StatusCode::FORBIDDEN, "forbidden");
    let carl = app.token("carl", "user");
    let response = ask_upload(&app, &carl, &with_bob, "a.txt", 5, "text/plain").await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let response = put_content(&app, &bob, &done["id"], b"hello").await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_uploader");
    let response = complete(&app, &bob, &done["id"]).await;
    assert_error(&response, StatusCode::FORBIDDEN, "not_uploader");
}
