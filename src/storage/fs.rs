//! The default store: files under `<data dir>/attachments`. Uploads and
//! downloads go through pgchat (no presigned URLs). A write lands in a
//! temporary file first and is renamed into place, so a reader never sees half
//! a file.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::io::AsyncReadExt;

use super::{BlobStore, ByteStream, Presign, PresignedUpload};

pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    pub fn open(root: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&root)
            .with_context(|| format!("creating the attachments folder {}", root.display()))?;
        Ok(Self { root })
    }

    /// The file of `key`. Keys come from the database, but a key that would
    /// leave the root is refused all the same.
    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        let relative = Path::new(key);
        anyhow::ensure!(
            !key.is_empty()
                && relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_))),
            "invalid storage key {key:?}"
        );
        Ok(self.root.join(relative))
    }
}

fn absent(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::NotFound
}

impl BlobStore for FsStore {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        _content_type: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        async move {
            let path = self.path(key)?;
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
            tokio::fs::write(&partial, &bytes)
                .await
                .with_context(|| format!("writing {}", partial.display()))?;
            if let Err(error) = tokio::fs::rename(&partial, &path).await {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(error).with_context(|| format!("renaming into {}", path.display()));
            }
            Ok(())
        }
        .boxed()
    }

    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<u64>>> {
        async move {
            match tokio::fs::metadata(self.path(key)?).await {
                Ok(meta) => Ok(Some(meta.len())),
                Err(e) if absent(&e) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn read<'a>(
        &'a self,
        key: &'a str,
        limit: Option<u64>,
    ) -> BoxFuture<'a, anyhow::Result<Bytes>> {
        async move {
            let file = tokio::fs::File::open(self.path(key)?).await?;
            let mut buffer = Vec::new();
            match limit {
                Some(n) => file.take(n).read_to_end(&mut buffer).await?,
                None => {
                    let mut file = file;
                    file.read_to_end(&mut buffer).await?
                }
            };
            Ok(Bytes::from(buffer))
        }
        .boxed()
    }

    fn stream<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<(u64, ByteStream)>> {
        async move {
            let file = tokio::fs::File::open(self.path(key)?).await?;
            let size = file.metadata().await?.len();
            let stream = tokio_util::io::ReaderStream::new(file).boxed();
            Ok((size, stream))
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        async move {
            let bytes = self.read(from, None).await?;
            self.put(to, bytes, "").await
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Ok(()) => Ok(()),
                Err(e) if absent(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn presign_get<'a>(
        &'a self,
        _request: Presign<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        futures::future::ready(Ok(None)).boxed()
    }

    fn presign_put<'a>(
        &'a self,
        _key: &'a str,
        _content_type: &'a str,
        _size: u64,
        _ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<Option<PresignedUpload>>> {
        futures::future::ready(Ok(None)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_bytes_under_keys_and_refuses_escaping_keys() {
        let root = std::env::temp_dir().join(format!("pgchat-fs-{}", uuid::Uuid::new_v4()));
        let store = FsStore::open(root.clone()).unwrap();
        store
            .put(
                "attachments/c/a",
                Bytes::from_static(b"hello world"),
                "text/plain",
            )
            .await
            .unwrap();
        assert_eq!(store.size("attachments/c/a").await.unwrap(), Some(11));
        assert_eq!(
            &store.read("attachments/c/a", Some(5)).await.unwrap()[..],
            b"hello"
        );
        assert_eq!(
            &store.read("attachments/c/a", None).await.unwrap()[..],
            b"hello world"
        );
        let (size, stream) = store.stream("attachments/c/a").await.unwrap();
        let chunks: Vec<_> = stream.collect().await;
        assert_eq!(size, 11);
        assert_eq!(
            chunks
                .into_iter()
                .map(|c| c.unwrap())
                .collect::<Vec<_>>()
                .concat(),
            b"hello world"
        );
        assert_eq!(store.size("attachments/c/missing").await.unwrap(), None);
        assert!(store.size("../etc/passwd").await.is_err());
        assert!(store.size("/etc/passwd").await.is_err());
        store
            .copy("attachments/c/a", "attachments/c/b")
            .await
            .unwrap();
        assert_eq!(
            &store.read("attachments/c/b", None).await.unwrap()[..],
            b"hello world"
        );
        store.delete("attachments/c/a").await.unwrap();
        store.delete("attachments/c/a").await.unwrap();
        assert_eq!(store.size("attachments/c/a").await.unwrap(), None);
        let _ = std::fs::remove_dir_all(root);
    }
}
