use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::domain::contact::SessionContext;
use crate::domain::desk::{EscalationReason, Label};
use crate::domain::{
    nullable, Category, Feedback, Limit, Priority, Rating, SessionDescription, SessionStatus,
    StatusFilter, Subject,
};
use crate::error::ApiError;
use crate::http::messages::MessageInput;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::assignment::{self, Reassign};
use crate::service::bulk::{self, Action};
use crate::service::deletion;
use crate::service::escalation::{self, Escalation};
use crate::service::support::{
    self, Cursor, NewSession, SessionChanges, SessionFilter, StatusChange,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/support/sessions", get(list).post(open))
        .route(
            "/v1/support/sessions/{id}",
            get(get_one).patch(update).delete(delete_one),
        )
        .route("/v1/support/sessions/bulk", post(bulk_action))
        .route("/v1/support/sessions/{id}/queue", get(queue_place))
        .route("/v1/support/sessions/{id}/claim", post(claim))
        .route("/v1/support/sessions/{id}/end", post(end))
        .route("/v1/support/sessions/{id}/resolve", post(resolve))
        .route("/v1/support/sessions/{id}/reopen", post(reopen))
        .route("/v1/support/sessions/{id}/snooze", post(snooze))
        .route("/v1/support/sessions/{id}/close", post(close))
        .route(
            "/v1/support/sessions/{id}/labels/{label}",
            put(add_label).delete(remove_label),
        )
        .route("/v1/support/sessions/{id}/rating", post(rate))
        .route("/v1/support/sessions/{id}/assign", post(assign))
        .route("/v1/support/sessions/{id}/transfer", post(transfer))
        .route("/v1/support/sessions/{id}/escalate", post(escalate))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenInput {
    subject: Subject,
    #[serde(default)]
    category: Category,
    #[serde(default)]
    priority: Priority,
    message: MessageInput,
    /// where the widget was opened: page, referrer, locale, browser
    #[serde(default)]
    context: SessionContext,
}

async fn open(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Json(input): Json<OpenInput>,
) -> Result<impl IntoResponse, ApiError> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let new = NewSession {
        subject: input.subject,
        category: input.category,
        priority: input.priority,
        message: input.message.try_into()?,
        context: input.context.with_user_agent(user_agent),
    };
    let opened = support::open(&state.db, &caller, new).await?;
    let status = if opened.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = opened.session;
    body["message"] = opened.message;
    Ok((status, axum::Json(body)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<StatusFilter>,
    agent_id: Option<String>,
    customer_id: Option<String>,
    category: Option<Category>,
    priority: Option<Priority>,
    q: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    sla_breached: Option<bool>,
    label: Option<Label>,
    team_id: Option<Uuid>,
    #[serde(default)]
    limit: Limit,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query.limit;
    let cursor = query.cursor.as_deref().map(Cursor::parse).transpose()?;
    let filter = SessionFilter {
        status: query.status,
        agent_id: query.agent_id,
        customer_id: query.customer_id,
        category: query.category,
        priority: query.priority,
        q: query.q.filter(|q| !q.trim().is_empty()),
        from: query.from,
        to: query.to,
        sla_breached: query.sla_breached,
        label: query.label,
        team_id: query.team_id,
    };
    let page = support::list(&state.db, &caller, &filter, limit, cursor).await?;
    Ok(axum::Json(json!({
        "items": page.items,
        "next_cursor": page.next_cursor.map(|c| c.encode()),
    })))
}

async fn get_one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(support::get(&state.db, &caller, id).await?))
}

/// A waiting session's place in the queue and the expected wait.
async fn queue_place(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        support::queue_place(&state.db, &caller, id).await?,
    ))
}

/// Admins delete a session and all it holds (204); its files' bytes are
/// deleted right after the commit (and by the purge job if that fails).
async fn delete_one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    deletion::delete_session(&state.db, &caller, id).await?;
    drain_blobs_now(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes queued bytes at once after a deletion; what fails here the purge
/// job retries, so the answer does not wait on it.
pub(crate) async fn drain_blobs_now(state: &AppState) {
    if let Err(error) = deletion::drain_blobs(&state.db, &state.storage).await {
        tracing::warn!(
            error = format!("{error:#}"),
            "deleting stored bytes; the purge job retries"
        );
    }
}

async fn claim(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(support::claim(&state.db, &caller, id).await?))
}

async fn end(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(support::end(&state.db, &caller, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingInput {
    rating: Rating,
    #[serde(default)]
    feedback: Option<Feedback>,
}

async fn rate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<RatingInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        support::rate(&state.db, &caller, id, input.rating, input.feedback).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    category: Option<Category>,
    #[serde(default)]
    description: Option<SessionDescription>,
    /// a team's queue; null: none
    #[serde(default, deserialize_with = "nullable")]
    team_id: Option<Option<Uuid>>,
    /// pending, snoozed (with `snoozed_until`), resolved, closed, active.
    #[serde(default)]
    status: Option<SessionStatus>,
    #[serde(default)]
    snoozed_until: Option<DateTime<Utc>>,
}

/// A status asked for by PATCH, as a lifecycle move.
fn status_change(
    status: Option<SessionStatus>,
    until: Option<DateTime<Utc>>,
) -> Result<Option<StatusChange>, ApiError> {
    match (status, until) {
        (None, None) => Ok(None),
        (Some(SessionStatus::Snoozed), Some(until)) => Ok(Some(StatusChange::Snooze(until))),
        (Some(SessionStatus::Snoozed), None) => Err(ApiError::bad_request(
            "snoozed_until_required",
            "snoozing needs snoozed_until",
        )),
        (_, Some(_)) => Err(ApiError::bad_request(
            "invalid_body",
            "snoozed_until goes with status snoozed",
        )),
        (Some(SessionStatus::Waiting | SessionStatus::Ended), None) => Err(ApiError::bad_request(
            "invalid_status",
            "a session is set waiting by reopening it, ended by POST …/end",
        )),
        (Some(status), None) => Ok(Some(StatusChange::To(status))),
    }
}

async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<UpdateInput>,
) -> Result<impl IntoResponse, ApiError> {
    let status = status_change(input.status, input.snoozed_until)?;
    let changes = SessionChanges {
        priority: input.priority,
        category: input.category,
        description: input.description,
        team_id: input.team_id,
    };
    if status.is_none() && changes.is_empty() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give priority, category, description, team_id or status",
        ));
    }
    Ok(axum::Json(
        support::update(&state.db, &caller, id, &changes, status).await?,
    ))
}

/// `PUT …/labels/{label}`: staff label a session (idempotent).
async fn add_label(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, label)): Path<(Uuid, Label)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        support::label(&state.db, &caller, id, &label, true).await?,
    ))
}

/// `DELETE …/labels/{label}`: and take it off (idempotent).
async fn remove_label(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, label)): Path<(Uuid, Label)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        support::label(&state.db, &caller, id, &label, false).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeInput {
    until: DateTime<Utc>,
}

/// `POST …/resolve`, `…/reopen`, `…/close`: the lifecycle's actions.
async fn lifecycle(
    state: &AppState,
    caller: &crate::auth::Identity,
    id: Uuid,
    change: StatusChange,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    Ok(axum::Json(
        support::change_status(&state.db, caller, id, change).await?,
    ))
}

async fn resolve(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    lifecycle(
        &state,
        &caller,
        id,
        StatusChange::To(SessionStatus::Resolved),
    )
    .await
}

async fn reopen(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    lifecycle(&state, &caller, id, StatusChange::Reopen).await
}

async fn close(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    lifecycle(&state, &caller, id, StatusChange::To(SessionStatus::Closed)).await
}

async fn snooze(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<SnoozeInput>,
) -> Result<impl IntoResponse, ApiError> {
    lifecycle(&state, &caller, id, StatusChange::Snooze(input.until)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentInput {
    agent_id: AgentId,
}

/// A user id as a request names one: 1 to 200 characters.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct AgentId(String);

impl TryFrom<String> for AgentId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.chars().count() {
            1..=200 if !value.contains('\0') => Ok(Self(value)),
            _ => Err("agent_id must be a user id of 1 to 200 characters".into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkInput {
    ids: Vec<Uuid>,
    action: String,
    #[serde(default)]
    params: BulkParams,
    #[serde(default)]
    atomic: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkParams {
    agent_id: Option<AgentId>,
    label: Option<Label>,
    priority: Option<Priority>,
}

/// `POST /v1/support/sessions/bulk`: one action on up to 100 sessions, a
/// result per item (`service::bulk`).
async fn bulk_action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<BulkInput>,
) -> Result<impl IntoResponse, ApiError> {
    if input.ids.is_empty() || input.ids.len() > bulk::MAX_ITEMS {
        return Err(ApiError::bad_request(
            "invalid_ids",
            format!("ids names 1 to {} sessions", bulk::MAX_ITEMS),
        ));
    }
    let distinct: std::collections::HashSet<&Uuid> = input.ids.iter().collect();
    if distinct.len() != input.ids.len() {
        return Err(ApiError::bad_request(
            "invalid_ids",
            "ids names each session once",
        ));
    }
    let missing = |param: &str| {
        ApiError::bad_request(
            "missing_param",
            format!("{} needs params.{param}", input.action),
        )
    };
    let params = input.params;
    let action = match input.action.as_str() {
        "assign" => Action::Assign(params.agent_id.ok_or_else(|| missing("agent_id"))?.0),
        "transfer" => Action::Transfer(params.agent_id.ok_or_else(|| missing("agent_id"))?.0),
        "label" => Action::Label(params.label.ok_or_else(|| missing("label"))?),
        "unlabel" => Action::Unlabel(params.label.ok_or_else(|| missing("label"))?),
        "priority" => Action::Priority(params.priority.ok_or_else(|| missing("priority"))?),
        other => bulk::status(other).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_action",
                "action is one of assign, transfer, resolve, close, reopen, label, unlabel, priority",
            )
        })?,
    };
    let results = bulk::run(&state.db, &caller, &input.ids, &action, input.atomic).await?;
    Ok(axum::Json(json!({ "results": results })))
}

async fn assign(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<AgentInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        assignment::reassign(&state.db, &caller, id, &input.agent_id.0, Reassign::Assign).await?,
    ))
}

async fn transfer(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<AgentInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        assignment::reassign(
            &state.db,
            &caller,
            id,
            &input.agent_id.0,
            Reassign::Transfer,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EscalateInput {
    #[serde(default)]
    team_id: Option<Uuid>,
    #[serde(default)]
    priority: Option<Priority>,
    reason: EscalationReason,
}

/// `POST …/escalate`: to another team or the next tier (`service::escalation`).
async fn escalate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<EscalateInput>,
) -> Result<impl IntoResponse, ApiError> {
    let escalation = Escalation {
        team_id: input.team_id,
        priority: input.priority,
        reason: input.reason,
    };
    Ok(axum::Json(
        escalation::escalate(&state.db, &caller, id, &escalation).await?,
    ))
}
