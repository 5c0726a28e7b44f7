//! Attachments over REST: ask to upload, send the bytes through the server,
//! complete, download (a redirect to a presigned URL, or the bytes).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path};
use crate::service::attachments::{self, Download, NewUpload};
use crate::storage::content::{FileName, MimeType};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/attachments", post(create))
        .route("/v1/attachments/{id}", get(download))
        .route("/v1/attachments/{id}/thumbnail", get(thumbnail))
        .route("/v1/attachments/{id}/content", put(upload))
        .route("/v1/attachments/{id}/complete", post(complete))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadInput {
    conversation_id: Uuid,
    filename: String,
    size: u64,
    mime_type: String,
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<UploadInput>,
) -> Result<impl IntoResponse, ApiError> {
    let filename = FileName::parse(&input.filename)
        .map_err(|e| ApiError::bad_request("invalid_filename", e))?;
    if input.size == 0 {
        return Err(ApiError::bad_request(
            "invalid_size",
            "size must be the file's length in bytes (at least 1)",
        ));
    }
    let mime_type = MimeType::parse(&input.mime_type)
        .map_err(|e| ApiError::unprocessable("unsupported_mime_type", e))?;
    let new = NewUpload {
        conversation_id: input.conversation_id,
        filename,
        size: input.size,
        mime_type,
    };
    let upload = attachments::create(&state.db, &state.storage, &caller, new).await?;
    Ok((StatusCode::CREATED, axum::Json(upload)))
}

/// The bytes, through the server: read up to the declared size (one byte
/// more is already too many), checked, stored, and the upload completed.
async fn upload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let declared = attachments::declared_size(&state.db, &caller, id).await?;
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the content is larger than the {declared} bytes declared"
        ))
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > declared) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, declared as usize + 1)
        .await
        .map_err(|_| too_large())?;
    let done = attachments::put_content(&state.db, &state.storage, &caller, id, bytes).await?;
    Ok(axum::Json(done))
}

async fn complete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let done = attachments::complete(&state.db, &state.storage, &caller, id).await?;
    Ok(axum::Json(done))
}

async fn download(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let found = attachments::download(&state.db, &state.storage, &caller, id, false).await?;
    Ok(respond(found))
}

async fn thumbnail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let found = attachments::download(&state.db, &state.storage, &caller, id, true).await?;
    Ok(respond(found))
}

fn respond(download: Download) -> Response {
    match download {
        Download::Redirect(url) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, url),
                // the URL is the reader's own, and expires
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
            ],
        )
            .into_response(),
        Download::Stream {
            size,
            content_type,
            disposition,
            stream,
        } => {
            let mut response = Response::new(Body::from_stream(stream));
            let headers = response.headers_mut();
            let value = |v: &str| {
                HeaderValue::from_str(v)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"))
            };
            headers.insert(header::CONTENT_TYPE, value(&content_type));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            );
            // Served as what it was checked to be, never sniffed into HTML, and
            // without the page's rights if a browser opens it anyway.
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            );
            response
        }
    }
}
