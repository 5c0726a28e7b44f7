//! A JWKS served at a URL (Supabase Auth's
//! `/auth/v1/.well-known/jwks.json`, an identity provider's `jwks_uri`).
//! Fetched at start-up, and again when a token names a `kid` it lacks — the
//! issuer rotated its keys, and the first token signed with the new one must
//! not be refused. A `kid` can be made up by anyone, so a refresh happens at
//! most once per `min_refresh` (concurrent tokens wait for the one fetch in
//! flight); a failed fetch keeps the keys held.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;

use super::{jwks_keys, Key};

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RemoteJwks {
    url: String,
    http: reqwest::Client,
    keys: RwLock<Arc<[Key]>>,
    min_refresh: Duration,
    /// When the last refresh was asked for; held while one is in flight.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl RemoteJwks {
    /// Fetches the keys once (start-up fails if the issuer cannot be read).
    pub async fn fetch(url: &str, min_refresh: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .context("building the JWKS client")?;
        let keys = read(&http, url).await?;
        Ok(Self {
            url: url.to_owned(),
            http,
            keys: RwLock::new(keys.into()),
            min_refresh,
            last_refresh: tokio::sync::Mutex::new(None),
        })
    }

    /// The keys held now.
    pub(super) fn keys(&self) -> Arc<[Key]> {
        self.keys.read().expect("poisoned").clone()
    }

    /// Fetches the keys again for a token naming `kid`, unless another
    /// token's refresh just brought it or the last one was too recent.
    pub(super) async fn refresh_for(&self, kid: &str) {
        let mut last = self.last_refresh.lock().await;
        if self.keys().iter().any(|k| k.kid.as_deref() == Some(kid)) {
            return;
        }
        if last.is_some_and(|at| at.elapsed() < self.min_refresh) {
            tracing::debug!(
                kid,
                "unknown JWKS key id; refreshed too recently to fetch again"
            );
            return;
        }
        *last = Some(Instant::now());
        match read(&self.http, &self.url).await {
            Ok(keys) => {
                tracing::info!(kid, keys = keys.len(), url = %self.url, "JWKS refreshed");
                *self.keys.write().expect("poisoned") = keys.into();
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), url = %self.url, "JWKS refresh failed; keeping the keys held");
            }
        }
    }
}

async fn read(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<Key>> {
    let set: JwkSet = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("fetching the JWKS at {url}"))?
        .json()
        .await
        .with_context(|| format!("{url} is not a JWKS"))?;
    jwks_keys(&set)
}
