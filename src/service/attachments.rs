//! Attachments: ask to upload (and get a presigned PUT URL from S3), upload
//! through the server, complete (size, magic bytes, thumbnail), attach to a
//! message, download (visibility under RLS, then a presigned redirect or the
//! bytes), and the sweep of uploads never completed.
//!
//! The database decides who may do what (policies/attachments.sql: uploads
//! in conversations you may write to; downloads by the uploader and by
//! whoever sees a message carrying the file) and where the bytes go (the
//! storage key); these functions check first for precise error codes and
//! check what only the bytes can tell.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::WireRow;
use crate::storage::content::{self, FileName, MimeType, SNIFF_BYTES};
use crate::storage::{thumbnail, ByteStream, Presign, Storage};

/// An upload as a client asks for it.
#[derive(Clone, Debug)]
pub struct NewUpload {
    pub conversation_id: Uuid,
    pub filename: FileName,
    pub size: u64,
    pub mime_type: MimeType,
}

/// How a reader gets the bytes.
pub enum Download {
    /// A presigned URL of the store (valid for the configured lifetime).
    Redirect(String),
    /// The bytes, through pgchat.
    Stream {
        size: u64,
        content_type: String,
        disposition: String,
        stream: ByteStream,
    },
}

/// A stored upload row, as the service needs it.
struct Row {
    mime_type: MimeType,
    filename: FileName,
    size: u64,
    ready: bool,
    storage_key: String,
    thumbnail_key: Option<String>,
}

const COLUMNS: &str = "mime_type, filename, size, status = 'ready', storage_key, thumbnail_key";

fn row(r: &tokio_postgres::Row) -> Result<Row, ApiError> {
    let mime: String = r.get(0);
    let filename: String = r.get(1);
    Ok(Row {
        mime_type: MimeType::parse(&mime).map_err(|e| anyhow::anyhow!("stored type: {e}"))?,
        filename: FileName::parse(&filename).map_err(|e| anyhow::anyhow!("stored name: {e}"))?,
        size: r.get::<_, i64>(2) as u64,
        ready: r.get(3),
        storage_key: r.get(4),
        thumbnail_key: r.get(5),
    })
}

/// The caller's own upload: 404 when invisible, 403 `not_uploader` when
/// someone else's (`pgchat.own_upload`).
async fn own_upload(tx: &Transaction<'_>, id: Uuid) -> Result<Row, ApiError> {
    let sql = format!("SELECT {COLUMNS} FROM pgchat.own_upload($1)");
    let statement = tx.prepare_cached(&sql).await?;
    let found = tx.query_opt(&statement, &[&id]).await?;
    row(&found.ok_or(ApiError::NotFound("attachment"))?)
}

async fn upload_json(tx: &Transaction<'_>, id: Uuid) -> Result<WireRow, ApiError> {
    let statement = tx
        .prepare_cached("SELECT pgchat.upload_json(a) FROM attachments a WHERE a.id = $1")
        .await?;
    Ok(tx.query_one(&statement, &[&id]).await?.get(0))
}

/// Registers an upload and, when the store signs URLs, hands out a presigned
/// PUT. The bytes may also be sent through `put_content`.
#[tracing::instrument(skip(db, storage, caller, new), fields(user = %caller.sub))]
pub async fn create(
    db: &Db,
    storage: &Storage,
    caller: &Identity,
    new: NewUpload,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::Upload, caller)?;
    if !storage.allowed.contains(&new.mime_type) {
        return Err(ApiError::unprocessable(
            "unsupported_mime_type",
            format!("{} files are not accepted here", new.mime_type.as_str()),
        ));
    }
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // where it may go and how large it may be are the rules trigger's to say
    // (pgchat.tg_attachment_rules: not_found, forbidden, uploads_disabled,
    // payload_too_large); only the server's own limit comes from here
    let statement = tx
        .prepare_cached("SELECT set_config('pgchat.max_upload_bytes', $1, true)")
        .await?;
    tx.execute(&statement, &[&storage.max_bytes.to_string()])
        .await?;
    let id = Uuid::new_v4();
    let statement = tx
        .prepare_cached(
            "INSERT INTO attachments (id, conversation_id, uploader_id, filename, mime_type, kind, size)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING storage_key, pgchat.upload_json(attachments.*)",
        )
        .await?;
    let inserted = tx
        .query_one(
            &statement,
            &[
                &id,
                &new.conversation_id,
                &caller.sub,
                &new.filename.as_str(),
                &new.mime_type.as_str(),
                &new.mime_type.kind().as_str(),
                &(new.size as i64),
            ],
        )
        .await?;
    tx.commit().await?;
    let key: String = inserted.get(0);
    let mut upload: WireRow = inserted.get(1);
    upload["content_url"] = json!(format!("/v1/attachments/{id}/content"));
    if storage.presigned_uploads {
        let presigned = storage
            .store
            .presign_put(
                &staging_key(&key),
                new.mime_type.as_str(),
                new.size,
                storage.upload_ttl,
            )
            .await
            .map_err(|e| e.context("presigning an upload"))?;
        if let Some(presigned) = presigned {
            // Content-Length is signed too, but clients (browsers) set it
            // from the body themselves: it must equal the declared size.
            let headers: serde_json::Map<String, serde_json::Value> = presigned
                .headers
                .into_iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
                .map(|(k, v)| (k, v.into()))
                .collect();
            upload["upload_url"] = json!(presigned.url);
            upload["upload_method"] = json!(presigned.method);
            upload["upload_headers"] = serde_json::Value::Object(headers);
            upload["upload_expires_at"] = json!(expires_at(storage.upload_ttl));
        }
    }
    Ok(upload)
}

/// Where a presigned upload lands. The checked file is copied from there to
/// its storage key on completion, so a later PUT with the same URL (it stays
/// valid for a while) can never change a file that passed the checks.
fn staging_key(storage_key: &str) -> String {
    format!("{storage_key}.upload")
}

fn expires_at(ttl: Duration) -> String {
    let at = chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The most bytes a `put_content` for this upload may carry: the handler
/// reads no more than this.
pub async fn declared_size(db: &Db, caller: &Identity, id: Uuid) -> Result<u64, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let upload = own_upload(&tx, id).await?;
    tx.commit().await?;
    Ok(upload.size)
}

/// Stores the bytes sent through the server and completes the upload.
#[tracing::instrument(skip(db, storage, caller, bytes), fields(user = %caller.sub, len = bytes.len()))]
pub async fn put_content(
    db: &Db,
    storage: &Storage,
    caller: &Identity,
    id: Uuid,
    bytes: Bytes,
) -> Result<WireRow, ApiError> {
    let upload = {
        let mut client = db.client().await?;
        let tx = db.begin_as(&mut client, caller).await?;
        let upload = own_upload(&tx, id).await?;
        if upload.ready {
            return Err(ApiError::conflict(
                "already_completed",
                "this upload is complete; its content cannot change",
            ));
        }
        tx.commit().await?;
        upload
    };
    check_size(bytes.len() as u64, upload.size)?;
    check_type(&bytes, upload.mime_type)?;
    storage
        .store
        .put(
            &upload.storage_key,
            bytes.clone(),
            upload.mime_type.as_str(),
        )
        .await
        .map_err(|e| e.context("storing an upload"))?;
    finish(db, storage, caller, id, &upload, Some(bytes), None).await
}

/// Completes a presigned upload: checks what landed in the store (size, magic
/// bytes, an image must decode), then moves it to its storage key. Completing
/// a complete upload (also after `put_content`) answers the same.
#[tracing::instrument(skip(db, storage, caller), fields(user = %caller.sub))]
pub async fn complete(
    db: &Db,
    storage: &Storage,
    caller: &Identity,
    id: Uuid,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let upload = {
        let tx = db.begin_as(&mut client, caller).await?;
        let upload = own_upload(&tx, id).await?;
        if upload.ready {
            let done = upload_json(&tx, id).await?;
            tx.commit().await?;
            return Ok(done);
        }
        tx.commit().await?;
        upload
    };
    drop(client);
    let key = &staging_key(&upload.storage_key);
    let stored = storage
        .store
        .size(key)
        .await
        .map_err(|e| e.context("checking an upload"))?
        .ok_or_else(|| ApiError::conflict("upload_missing", "no content was uploaded yet"))?;
    if let Err(error) = check_size(stored, upload.size) {
        discard(storage, key).await;
        return Err(error);
    }
    let head = storage
        .store
        .read(key, Some(SNIFF_BYTES))
        .await
        .map_err(|e| e.context("reading an upload"))?;
    if let Err(error) = check_type(&head, upload.mime_type) {
        discard(storage, key).await;
        return Err(error);
    }
    let bytes = if upload.mime_type.is_image() && upload.size <= thumbnail::MAX_SOURCE_BYTES {
        Some(
            storage
                .store
                .read(key, None)
                .await
                .map_err(|e| e.context("reading an upload"))?,
        )
    } else {
        None
    };
    let done = finish(db, storage, caller, id, &upload, bytes, Some(key)).await?;
    if let Err(error) = storage.store.delete(key).await {
        tracing::warn!(
            error = format!("{error:#}"),
            key,
            "removing a staged upload"
        );
    }
    Ok(done)
}

/// The last step of both paths: the thumbnail (an image must decode), the
/// bytes to their storage key when they were `staged` elsewhere, then the row
/// becomes `ready`. A rejected file is removed from wherever it is.
async fn finish(
    db: &Db,
    storage: &Storage,
    caller: &Identity,
    id: Uuid,
    upload: &Row,
    bytes: Option<Bytes>,
    staged: Option<&str>,
) -> Result<WireRow, ApiError> {
    let source = staged.unwrap_or(&upload.storage_key);
    let mut thumb: Option<(String, i32, i32)> = None;
    if let Some(bytes) = bytes
        .filter(|b| upload.mime_type.is_image() && b.len() as u64 <= thumbnail::MAX_SOURCE_BYTES)
    {
        let mime = upload.mime_type;
        let made = tokio::task::spawn_blocking(move || thumbnail::make(&bytes, mime))
            .await
            .map_err(|e| anyhow::anyhow!("thumbnail task: {e}"))?;
        match made {
            Ok(made) => {
                let key = format!("{}.thumb.jpg", upload.storage_key);
                storage
                    .store
                    .put(&key, made.jpeg, "image/jpeg")
                    .await
                    .map_err(|e| e.context("storing a thumbnail"))?;
                thumb = Some((key, made.width as i32, made.height as i32));
            }
            Err(reason) => {
                discard(storage, source).await;
                return Err(ApiError::unprocessable("invalid_image", reason));
            }
        }
    }
    if let Some(staged) = staged {
        storage
            .store
            .copy(staged, &upload.storage_key)
            .await
            .map_err(|e| e.context("moving a checked upload into place"))?;
    }
    let (thumbnail_key, width, height) = match thumb {
        Some((key, w, h)) => (Some(key), Some(w), Some(h)),
        None => (None, None, None),
    };
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE attachments
                SET status = 'ready', completed_at = now(), thumbnail_key = $2, width = $3, height = $4
              WHERE id = $1 AND status = 'pending'",
        )
        .await?;
    tx.execute(&statement, &[&id, &thumbnail_key, &width, &height])
        .await?;
    // Completed by a concurrent call when nothing was updated: the same answer.
    let done = upload_json(&tx, id).await?;
    tx.commit().await?;
    Ok(done)
}

fn check_size(got: u64, declared: u64) -> Result<(), ApiError> {
    match got.cmp(&declared) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(ApiError::PayloadTooLarge(format!(
            "the content has {got} bytes, more than the {declared} declared"
        ))),
        std::cmp::Ordering::Less => Err(ApiError::unprocessable(
            "size_mismatch",
            format!("the content has {got} bytes, not the {declared} declared"),
        )),
    }
}

fn check_type(head: &[u8], declared: MimeType) -> Result<(), ApiError> {
    let head = &head[..head.len().min(SNIFF_BYTES as usize)];
    if declared.matches(head) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "mime_mismatch",
            format!(
                "the content does not match the declared type {}",
                declared.as_str()
            ),
        ))
    }
}

/// Removes rejected bytes (best effort: the pending sweep gets the rest).
async fn discard(storage: &Storage, key: &str) {
    if let Err(error) = storage.store.delete(key).await {
        tracing::warn!(
            error = format!("{error:#}"),
            key,
            "discarding a rejected upload"
        );
    }
}

/// How the caller gets an attachment (or its thumbnail) they may see.
#[tracing::instrument(skip(db, storage, caller), fields(user = %caller.sub))]
pub async fn download(
    db: &Db,
    storage: &Storage,
    caller: &Identity,
    id: Uuid,
    thumbnail: bool,
) -> Result<Download, ApiError> {
    let upload = {
        let mut client = db.client().await?;
        let tx = db.begin_as(&mut client, caller).await?;
        let sql = format!("SELECT {COLUMNS} FROM attachments WHERE id = $1");
        let statement = tx.prepare_cached(&sql).await?;
        let found = tx.query_opt(&statement, &[&id]).await?;
        tx.commit().await?;
        row(&found.ok_or(ApiError::NotFound("attachment"))?)?
    };
    if !upload.ready {
        return Err(ApiError::conflict(
            "not_ready",
            "this upload is not complete yet",
        ));
    }
    let (key, content_type, disposition) = if thumbnail {
        let key = upload
            .thumbnail_key
            .ok_or(ApiError::NotFound("thumbnail"))?;
        let name = FileName::parse(&format!("{}.thumb.jpg", upload.filename.as_str()))
            .unwrap_or(upload.filename);
        (key, "image/jpeg", content::disposition(true, &name))
    } else {
        let disposition = content::disposition(upload.mime_type.inline(), &upload.filename);
        (
            upload.storage_key,
            upload.mime_type.content_type(),
            disposition,
        )
    };
    let presigned = storage
        .store
        .presign_get(Presign {
            key: &key,
            content_type,
            disposition: &disposition,
            ttl: storage.download_ttl,
        })
        .await
        .map_err(|e| e.context("presigning a download"))?;
    if let Some(url) = presigned {
        return Ok(Download::Redirect(url));
    }
    let (size, stream) = storage
        .store
        .stream(&key)
        .await
        .map_err(|e| e.context("opening an attachment"))?;
    Ok(Download::Stream {
        size,
        content_type: content_type.to_owned(),
        disposition,
        stream,
    })
}

/// Deletes uploads never completed within `older_than` (their bytes are
/// queued by the delete: `deletion::drain_blobs`). Run by every node; each row
/// is taken by one of them.
pub async fn purge_pending(db: &Db, older_than: Duration) -> anyhow::Result<u64> {
    let client = db.client().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let deleted = client
        .execute(
            "DELETE FROM attachments
              WHERE id IN (SELECT id FROM attachments
                            WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
                            ORDER BY created_at LIMIT 500)",
            &[&(older_than.as_secs_f64())],
        )
        .await?;
    Ok(deleted)
}

/// Every `every` until the task is dropped: deletes abandoned uploads (when
/// `older_than` is set), then the stored bytes of every deleted attachment.
pub async fn run_purge(
    db: Db,
    storage: std::sync::Arc<Storage>,
    older_than: Option<Duration>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(older_than) = older_than {
            match purge_pending(&db, older_than).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "abandoned uploads deleted"),
                Err(error) => tracing::warn!(error = format!("{error:#}"), "upload sweep"),
            }
        }
        match crate::service::deletion::drain_blobs(&db, &storage).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "stored bytes of deleted attachments removed"),
            Err(error) => tracing::warn!(error = format!("{error:#}"), "blob deletions"),
        }
    }
}
