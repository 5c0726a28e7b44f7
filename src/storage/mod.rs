//! Where attachment bytes live: a `BlobStore` with two implementations, the
//! local filesystem (the default, under the data folder) and S3 (aws-sdk-s3:
//! any bucket, region and endpoint, path-style addressing for S3-compatible
//! stores, presigned PUT and GET URLs).
//!
//! Rows (who uploaded what, where it may be attached, who may read it) are in
//! PostgreSQL (`attachments`, RLS in policies/attachments.sql); a store only
//! keeps bytes under the keys the database chose. `content` has the checks a
//! file must pass (names, declared types, magic bytes) and `thumbnail` the
//! image previews.

pub mod content;
pub mod fs;
pub mod s3;
pub mod thumbnail;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::config::{StorageConfig, StorageKind};
use content::MimeType;

/// Bytes as a stream, for downloads served by pgchat itself.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// A presigned upload: the client sends the bytes with `method` to `url`,
/// with exactly these `headers` (they are part of the signature).
#[derive(Clone, Debug)]
pub struct PresignedUpload {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// How a reader gets a stored object.
pub struct Presign<'a> {
    pub key: &'a str,
    pub content_type: &'a str,
    /// The `Content-Disposition` the download answers with.
    pub disposition: &'a str,
    pub ttl: Duration,
}

/// A store of immutable objects by key. Keys are chosen by the database
/// (`attachments/<conversation>/<attachment>`), never by a client.
pub trait BlobStore: Send + Sync {
    /// `fs` or `s3`, for logs and metrics.
    fn name(&self) -> &'static str;

    /// Stores `bytes` under `key` (replacing what was there).
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// The object's size, or `None` when there is no such object.
    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<u64>>>;

    /// The object's first `limit` bytes (all of it with `None`).
    fn read<'a>(&'a self, key: &'a str, limit: Option<u64>)
        -> BoxFuture<'a, anyhow::Result<Bytes>>;

    /// The object as a stream, with its size.
    fn stream<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<(u64, ByteStream)>>;

    /// Copies the object at `from` to `to` (replacing what was there).
    fn copy<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Removes the object (no error when it is absent).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;

    /// A URL a client may GET the object from without pgchat, valid for
    /// `ttl`; `None` when the store cannot sign URLs (pgchat streams then).
    fn presign_get<'a>(
        &'a self,
        request: Presign<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>>;

    /// A URL a client may PUT the object to; `None` when uploads go through pgchat.
    fn presign_put<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<Option<PresignedUpload>>>;
}

/// The store and the rules uploads must follow: what services get.
pub struct Storage {
    pub store: Arc<dyn BlobStore>,
    /// Largest upload unless the conversation sets its own `max_upload_bytes`.
    pub max_bytes: u64,
    /// Types accepted (each with a known signature: see `content::MimeType`).
    pub allowed: Vec<MimeType>,
    pub download_ttl: Duration,
    pub upload_ttl: Duration,
    /// Hand out presigned PUT URLs (when the store can sign them).
    pub presigned_uploads: bool,
}

/// The largest upload any conversation may allow (the schema's own limit on
/// `max_upload_bytes`); uploads through the server are read up to this.
pub const HARD_MAX_BYTES: u64 = 100 * 1024 * 1024;

impl Storage {
    /// Builds the configured store; S3 is checked (and its bucket created on
    /// request) now, so a wrong bucket or endpoint stops the start-up with a
    /// clear message rather than failing the first upload.
    pub async fn open(config: &StorageConfig, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let allowed = config
            .upload_mime_types
            .iter()
            .map(|t| MimeType::parse(t.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("PGCHAT_UPLOAD_MIME_TYPES: {e}"))?;
        anyhow::ensure!(
            config.upload_max_bytes > 0 && config.upload_max_bytes <= HARD_MAX_BYTES,
            "PGCHAT_UPLOAD_MAX_BYTES must be between 1 and {HARD_MAX_BYTES}"
        );
        let store: Arc<dyn BlobStore> = match config.storage {
            StorageKind::Fs => Arc::new(fs::FsStore::open(data_dir.join("attachments"))?),
            StorageKind::S3 => Arc::new(s3::S3Store::connect(config).await?),
        };
        Ok(Self {
            store,
            max_bytes: config.upload_max_bytes,
            allowed,
            download_ttl: Duration::from_secs(config.download_url_ttl_secs.max(1)),
            upload_ttl: Duration::from_secs(config.upload_url_ttl_secs.max(1)),
            presigned_uploads: config.s3_presigned_uploads,
        })
    }
}
