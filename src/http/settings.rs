//! The desk's settings screen (admins): `GET|PATCH /v1/admin/settings`,
//! `GET /v1/admin/email-templates`, `PUT /v1/admin/email-templates/{kind}`
//! and the webhook's status, `GET /v1/admin/webhooks`.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::domain::settings::{EmailBody, EmailSubject, SettingsChanges};
use crate::domain::Limit;
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::{settings, WireRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/admin/settings",
            get(get_settings).patch(patch_settings),
        )
        .route("/v1/admin/email-templates", get(email_templates))
        .route("/v1/admin/email-templates/{kind}", put(put_email_template))
        .route("/v1/admin/webhooks", get(webhooks))
}

async fn get_settings(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(settings::get(&state.db, &caller).await?))
}

async fn patch_settings(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(changes): Json<SettingsChanges>,
) -> Result<impl IntoResponse, ApiError> {
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give assignment_mode, sla_first_response_secs, inactivity_timeout_secs, reopen_window_secs or escalation_sla_secs",
        ));
    }
    Ok(axum::Json(
        settings::patch(&state.db, &caller, &changes).await?,
    ))
}

async fn email_templates(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        settings::email_templates(&state.db, &caller).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateInput {
    subject: EmailSubject,
    body: EmailBody,
}

async fn put_email_template(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(kind): Path<String>,
    Json(input): Json<TemplateInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        settings::put_email_template(&state.db, &caller, &kind, &input.subject, &input.body)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksQuery {
    #[serde(default)]
    limit: Limit,
}

/// The webhook as this node has it (never its URL's path, query or
/// credentials, nor the secret: only the host and whether deliveries are
/// signed), with the outbox every node shares.
#[derive(Debug, Serialize)]
struct WebhookStatus {
    configured: bool,
    host: Option<String>,
    signed: bool,
    outbox: WireRow,
}

async fn webhooks(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<WebhooksQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let outbox = settings::webhook_outbox(&state.db, &caller, query.limit).await?;
    let desk = &state.config.desk;
    Ok(axum::Json(WebhookStatus {
        configured: desk.webhook_url.is_some(),
        host: desk.webhook_url.as_deref().and_then(host_of),
        signed: desk.webhook_secret.is_some(),
        outbox,
    }))
}

/// `host[:port]` of a URL, nothing else of it.
fn host_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn only_the_host_of_a_webhook_url_is_shown() {
        assert_eq!(
            host_of("https://user:pw@hooks.example.com/in/t0ken?key=s3cret").as_deref(),
            Some("hooks.example.com")
        );
        assert_eq!(
            host_of("http://127.0.0.1:9000/hook").as_deref(),
            Some("127.0.0.1:9000")
        );
        assert_eq!(host_of("not a url"), None);
    }
}
