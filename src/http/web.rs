//! The web clients, embedded in the binary (`web/`, like `sql/`): the landing
//! page with the customer widget, the agent desk, the chat page, the widget's
//! one script and the ES-module client library.
//!
//! Every file is served with its content type, a strong `ETag` (a digest of its
//! bytes, so `If-None-Match` answers 304) and `Cache-Control`: pages must
//! revalidate (`no-cache`), scripts and styles may be reused for five minutes.
//! Pages carry a Content-Security-Policy without inline scripts, a second line
//! of defence behind the rule that user text is only ever rendered as text.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{dev, AppState};

static WEB: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/web");

/// Pages: fetched again (or revalidated) on every visit.
const PAGE_CACHE: &str = "no-cache";
/// Scripts, styles, images: short-lived, revalidated by ETag afterwards.
const ASSET_CACHE: &str = "public, max-age=300";

const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'self'; \
     base-uri 'none'; form-action 'self'; object-src 'none'";

pub fn router(config: &Config) -> Router<AppState> {
    let router = Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move { page("index.html", &h) }),
        )
        .route(
            "/desk",
            get(|h: HeaderMap| async move { page("desk.html", &h) }),
        )
        .route(
            "/chat",
            get(|h: HeaderMap| async move { page("chat.html", &h) }),
        )
        .route(
            "/widget.js",
            get(|h: HeaderMap| async move { asset("widget.js", &h) }),
        )
        .route("/client/{*file}", get(client_file))
        .route("/assets/{*file}", get(assets_file));
    if config.dev {
        tracing::warn!(
            "PGCHAT_DEV is on: /dev mints tokens for anyone; never use it in production"
        );
        router
            .route(
                "/dev",
                get(|h: HeaderMap| async move { page("dev.html", &h) }),
            )
            .merge(dev::router())
    } else {
        router
    }
}

async fn client_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    asset(&format!("client/{file}"), &headers)
}

async fn assets_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    asset(&format!("assets/{file}"), &headers)
}

fn page(path: &str, headers: &HeaderMap) -> Response {
    serve(path, headers, PAGE_CACHE, true)
}

fn asset(path: &str, headers: &HeaderMap) -> Response {
    serve(path, headers, ASSET_CACHE, false)
}

fn serve(path: &str, request: &HeaderMap, cache: &'static str, is_page: bool) -> Response {
    let Some(file) = WEB.get_file(path) else {
        return ApiError::NotFound("file").into_response();
    };
    let etag = etags().get(path).cloned().unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if is_page {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    (headers, file.contents()).into_response()
}

/// `"<sha256 prefix>"` of every embedded file, computed once.
fn etags() -> &'static HashMap<String, String> {
    static ETAGS: OnceLock<HashMap<String, String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        let mut map = HashMap::new();
        let mut stack = vec![&WEB];
        while let Some(dir) = stack.pop() {
            for file in dir.files() {
                let digest = Sha256::digest(file.contents());
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                map.insert(
                    file.path().to_string_lossy().into_owned(),
                    format!("\"{hex}\""),
                );
            }
            stack.extend(dir.dirs());
        }
        map
    })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_a_known_type_and_an_etag() {
        for (path, etag) in etags() {
            assert_ne!(content_type(path), "application/octet-stream", "{path}");
            assert!(etag.starts_with('"') && etag.len() == 26, "{path}: {etag}");
        }
        for page in [
            "index.html",
            "desk.html",
            "chat.html",
            "dev.html",
            "widget.js",
        ] {
            assert!(etags().contains_key(page), "{page} is embedded");
        }
        assert!(etags().contains_key("client/pgchat.js"));
    }
}
