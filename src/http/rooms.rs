//! Rooms: create, discover, settings, join (or ask to) and leave, the request
//! queue, a preview for non-members, members (invite, role, ban, silence,
//! remove) and pinned messages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{
    Description, Limit, MemberRole, RoomName, RoomSettings, RoomType, SilenceMinutes, UserId,
};
use crate::error::ApiError;
use crate::http::{AppState, Caller, Json, Path, Query};
use crate::service::rooms::{self, Cursor, Joined, MemberPatch, NewRoom, RoomPatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rooms", get(discover).post(create))
        .route("/v1/rooms/{id}", get(get_one).patch(update))
        .route("/v1/rooms/{id}/join", post(join))
        .route("/v1/rooms/{id}/preview", get(preview))
        .route("/v1/rooms/{id}/requests", get(requests))
        .route(
            "/v1/rooms/{id}/requests/{user_id}/approve",
            post(approve_request),
        )
        .route(
            "/v1/rooms/{id}/requests/{user_id}/reject",
            post(reject_request),
        )
        .route("/v1/rooms/{id}/leave", delete(leave).post(leave))
        .route("/v1/rooms/{id}/members", get(members).post(invite))
        .route(
            "/v1/rooms/{id}/members/{user_id}",
            patch(update_member).delete(remove_member),
        )
        .route("/v1/rooms/{id}/pins", get(pins))
        .route("/v1/rooms/{id}/pins/{message_id}", put(pin).delete(unpin))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInput {
    name: RoomName,
    #[serde(rename = "type")]
    kind: RoomType,
    #[serde(default)]
    description: Option<Description>,
    #[serde(default)]
    settings: RoomSettings,
    /// Users added at once (a group needs at least one besides its creator).
    #[serde(default)]
    members: Vec<UserId>,
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(input): Json<CreateInput>,
) -> Result<impl IntoResponse, ApiError> {
    if input.members.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_body",
            "at most 100 members at creation",
        ));
    }
    let new = NewRoom {
        name: input.name,
        kind: input.kind,
        description: input.description,
        settings: input.settings,
        members: input.members,
    };
    let room = rooms::create(&state.db, &caller, new).await?;
    Ok((StatusCode::CREATED, axum::Json(room)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverQuery {
    #[serde(rename = "type")]
    kind: Option<RoomType>,
    q: Option<String>,
    #[serde(default)]
    limit: Limit,
    cursor: Option<String>,
}

async fn discover(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<DiscoverQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query.limit;
    let cursor = query.cursor.as_deref().map(Cursor::parse).transpose()?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 100 || q.contains('\0')) {
        return Err(ApiError::bad_request("invalid_query", "q is too long"));
    }
    let page = rooms::discover(&state.db, &caller, query.kind, q, limit, cursor).await?;
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
    Ok(axum::Json(rooms::get(&state.db, &caller, id).await?))
}

/// `null` as `Some(None)`, absent as `None` (with `#[serde(default)]`).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    name: Option<RoomName>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<Description>>,
    settings: Option<RoomSettings>,
}

async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<UpdateInput>,
) -> Result<impl IntoResponse, ApiError> {
    let patch = RoomPatch {
        name: input.name,
        description: input.description,
        settings: input.settings,
    };
    Ok(axum::Json(
        rooms::update(&state.db, &caller, id, patch).await?,
    ))
}

async fn join(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(match rooms::join(&state.db, &caller, id).await? {
        Joined::Room(room, true) => (StatusCode::CREATED, axum::Json(room)),
        Joined::Room(room, false) => (StatusCode::OK, axum::Json(room)),
        Joined::Requested(request) => (StatusCode::ACCEPTED, axum::Json(request)),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewQuery {
    limit: Option<Limit>,
}

/// How many messages a preview shows unless asked (at most `Limit::MAX`).
const PREVIEW_MESSAGES: i64 = 20;

async fn preview(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Query(query): Query<PreviewQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = match query.limit {
        Some(limit) => limit,
        None => Limit::try_from(PREVIEW_MESSAGES).map_err(anyhow::Error::msg)?,
    };
    Ok(axum::Json(
        rooms::preview(&state.db, &caller, id, limit).await?,
    ))
}

async fn requests(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let items = rooms::join_requests(&state.db, &caller, id).await?;
    Ok(axum::Json(json!({ "items": items })))
}

async fn approve_request(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, user)): Path<(Uuid, UserId)>,
) -> Result<impl IntoResponse, ApiError> {
    let member = rooms::decide_request(&state.db, &caller, id, &user, true).await?;
    Ok(axum::Json(member))
}

async fn reject_request(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, user)): Path<(Uuid, UserId)>,
) -> Result<impl IntoResponse, ApiError> {
    rooms::decide_request(&state.db, &caller, id, &user, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn leave(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(rooms::leave(&state.db, &caller, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersQuery {
    banned: Option<bool>,
}

async fn members(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Query(query): Query<MembersQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let items = rooms::members(&state.db, &caller, id, query.banned.unwrap_or(false)).await?;
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteInput {
    user_id: UserId,
    #[serde(default)]
    role: Option<MemberRole>,
}

async fn invite(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<InviteInput>,
) -> Result<impl IntoResponse, ApiError> {
    let role = input.role.unwrap_or(MemberRole::Member);
    let member = rooms::invite(&state.db, &caller, id, &input.user_id, role).await?;
    Ok((StatusCode::CREATED, axum::Json(member)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberInput {
    role: Option<MemberRole>,
    banned: Option<bool>,
    /// A moderator's mute: no posting (until lifted, or for `silenced_minutes`).
    silenced: Option<bool>,
    silenced_minutes: Option<SilenceMinutes>,
}

async fn update_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, user)): Path<(Uuid, UserId)>,
    Json(input): Json<MemberInput>,
) -> Result<impl IntoResponse, ApiError> {
    let patch = MemberPatch {
        role: input.role,
        banned: input.banned,
        silenced: input.silenced,
        silenced_minutes: input.silenced_minutes,
    };
    Ok(axum::Json(
        rooms::update_member(&state.db, &caller, id, &user, patch).await?,
    ))
}

async fn remove_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, user)): Path<(Uuid, UserId)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        rooms::remove_member(&state.db, &caller, id, &user).await?,
    ))
}

async fn pins(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let items = rooms::pins(&state.db, &caller, id).await?;
    Ok(axum::Json(json!({ "items": items })))
}

async fn pin(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, message)): Path<(Uuid, Uuid)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        rooms::pin(&state.db, &caller, id, message, true).await?,
    ))
}

async fn unpin(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, message)): Path<(Uuid, Uuid)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        rooms::pin(&state.db, &caller, id, message, false).await?,
    ))
}
