//! Attachments in an S3 bucket through `aws-sdk-s3`: AWS itself or any
//! S3-compatible store (MinIO, Ceph, …) at a custom endpoint, with path-style
//! addressing. Credentials and region come from the usual AWS chain
//! (environment, profile, web identity, instance role) unless pgchat's own
//! settings give them. Readers and uploaders get presigned URLs, so file bytes
//! need not pass through pgchat.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use super::{BlobStore, ByteStream, Presign, PresignedUpload};
use crate::config::StorageConfig;

/// How long start-up waits for the bucket check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

pub struct S3Store {
    client: Client,
    /// Signs the URLs clients use: `client`, or one with the public endpoint.
    presigner: Client,
    bucket: String,
}

impl S3Store {
    /// Connects, checks that the bucket answers (creating it when asked to).
    pub async fn connect(config: &StorageConfig) -> anyhow::Result<Self> {
        let bucket = config
            .s3_bucket
            .clone()
            .filter(|b| !b.trim().is_empty())
            .context("PGCHAT_STORAGE=s3 needs PGCHAT_S3_BUCKET")?;
        let sdk = sdk_config(config).await?;
        let presigner = match &config.s3_public_endpoint {
            Some(public) => Client::from_conf(sdk.to_builder().endpoint_url(public).build()),
            None => Client::from_conf(sdk.clone()),
        };
        let client = Client::from_conf(sdk);
        let store = Self {
            client,
            presigner,
            bucket,
        };
        tokio::time::timeout(CHECK_TIMEOUT, store.check(config.s3_create_bucket))
            .await
            .map_err(|_| anyhow::anyhow!("S3 bucket {} did not answer in time", store.bucket))??;
        Ok(store)
    }

    async fn check(&self, create: bool) -> anyhow::Result<()> {
        let head = self.client.head_bucket().bucket(&self.bucket).send().await;
        match head {
            Ok(_) => Ok(()),
            Err(error)
                if create
                    && error
                        .as_service_error()
                        .is_some_and(|e| e.is_not_found()) =>
            {
                let mut request = self.client.create_bucket().bucket(&self.bucket);
                let region = self.client.config().region().map(|r| r.as_ref().to_owned());
                if let Some(region) = region.filter(|r| r != "us-east-1") {
                    request = request.create_bucket_configuration(
                        aws_sdk_s3::types::CreateBucketConfiguration::builder()
                            .location_constraint(region.as_str().into())
                            .build(),
                    );
                }
                request
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(e)))
                    .with_context(|| format!("creating S3 bucket {}", self.bucket))?;
                tracing::info!(bucket = %self.bucket, "created S3 bucket");
                Ok(())
            }
            Err(error) => Err(anyhow::anyhow!("{}", DisplayErrorContext(error))).with_context(|| {
                format!(
                    "S3 bucket {} is not reachable (check PGCHAT_S3_BUCKET, PGCHAT_S3_ENDPOINT and the credentials)",
                    self.bucket
                )
            }),
        }
    }
}

/// The SDK's configuration. With a region and static credentials in pgchat's
/// own settings the AWS chain is not consulted at all (no instance-metadata
/// lookups); otherwise it supplies what is missing.
async fn sdk_config(config: &StorageConfig) -> anyhow::Result<aws_sdk_s3::Config> {
    let credentials = match (&config.s3_access_key_id, &config.s3_secret_access_key) {
        (Some(id), Some(secret)) => Some(Credentials::new(id, secret, None, None, "pgchat-config")),
        (None, None) => None,
        _ => anyhow::bail!(
            "set both PGCHAT_S3_ACCESS_KEY_ID and PGCHAT_S3_SECRET_ACCESS_KEY, or neither"
        ),
    };
    let (mut builder, region_known) = match (&config.s3_region, &credentials) {
        (Some(_), Some(_)) => (
            aws_sdk_s3::Config::builder().behavior_version_latest(),
            false,
        ),
        _ => {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(region) = &config.s3_region {
                loader = loader.region(Region::new(region.clone()));
            }
            if let Some(credentials) = &credentials {
                loader = loader.credentials_provider(credentials.clone());
            }
            let shared = loader.load().await;
            let known = shared.region().is_some();
            (aws_sdk_s3::config::Builder::from(&shared), known)
        }
    };
    match &config.s3_region {
        Some(region) => builder = builder.region(Region::new(region.clone())),
        None if !region_known => builder = builder.region(Region::new("us-east-1")),
        None => {}
    }
    if let Some(credentials) = credentials {
        builder = builder.credentials_provider(credentials);
    }
    if let Some(endpoint) = &config.s3_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    let path_style = config.s3_path_style.unwrap_or(config.s3_endpoint.is_some());
    Ok(builder
        .force_path_style(path_style)
        // Checksums only where S3 requires them: S3-compatible stores differ
        // in their support of the newer default (trailing CRC32 checksums).
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build())
}

fn sdk_error<E, R>(error: aws_sdk_s3::error::SdkError<E, R>) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    anyhow::anyhow!("{}", DisplayErrorContext(error))
}

fn presigning(ttl: Duration) -> anyhow::Result<PresigningConfig> {
    PresigningConfig::expires_in(ttl).context("presigned URL lifetime (at most 7 days)")
}

impl BlobStore for S3Store {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(bytes.into())
                .send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("S3 put {key}"))?;
            Ok(())
        }
        .boxed()
    }

    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<u64>>> {
        async move {
            match self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(head) => Ok(Some(head.content_length().unwrap_or_default().max(0) as u64)),
                Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => {
                    Ok(None)
                }
                Err(error) => Err(sdk_error(error)).with_context(|| format!("S3 head {key}")),
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
            let mut request = self.client.get_object().bucket(&self.bucket).key(key);
            if let Some(n) = limit {
                request = request.range(format!("bytes=0-{}", n.max(1) - 1));
            }
            let object = request
                .send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("S3 get {key}"))?;
            let mut bytes = object
                .body
                .collect()
                .await
                .with_context(|| format!("S3 read {key}"))?
                .into_bytes();
            if let Some(n) = limit {
                bytes.truncate(n as usize);
            }
            Ok(bytes)
        }
        .boxed()
    }

    fn stream<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<(u64, ByteStream)>> {
        async move {
            let object = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("S3 get {key}"))?;
            let size = object.content_length().unwrap_or_default().max(0) as u64;
            let reader = object.body.into_async_read();
            Ok((size, tokio_util::io::ReaderStream::new(reader).boxed()))
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        async move {
            // Keys are ours (`attachments/<uuid>/<uuid>…`): nothing to escape.
            self.client
                .copy_object()
                .bucket(&self.bucket)
                .copy_source(format!("{}/{from}", self.bucket))
                .key(to)
                .send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("S3 copy {from} to {to}"))?;
            Ok(())
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        async move {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("S3 delete {key}"))?;
            Ok(())
        }
        .boxed()
    }

    fn presign_get<'a>(
        &'a self,
        request: Presign<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        async move {
            let presigned = self
                .presigner
                .get_object()
                .bucket(&self.bucket)
                .key(request.key)
                .response_content_type(request.content_type)
                .response_content_disposition(request.disposition)
                .presigned(presigning(request.ttl)?)
                .await
                .map_err(sdk_error)?;
            Ok(Some(presigned.uri().to_owned()))
        }
        .boxed()
    }

    fn presign_put<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<Option<PresignedUpload>>> {
        async move {
            let presigned = self
                .presigner
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .content_length(size as i64)
                .presigned(presigning(ttl)?)
                .await
                .map_err(sdk_error)?;
            Ok(Some(PresignedUpload {
                method: presigned.method().to_owned(),
                url: presigned.uri().to_owned(),
                headers: presigned
                    .headers()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            }))
        }
        .boxed()
    }
}
