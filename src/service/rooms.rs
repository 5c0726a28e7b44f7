//! Rooms: public (anyone finds and joins), private (invitation only, not
//! listed to others), group (2–50 people) and announcement (anyone joins, only
//! owners and admins post). Create, discover, join, leave, invite, remove,
//! roles, ban and silence, pins, settings.
//!
//! Everything runs as the caller: RLS and the rules of `sql/45_rooms.sql` and
//! `sql/46_membership.sql` decide (ranks owner > admin > moderator > member,
//! sizes, membership), each refusal with its reason; a service answers only
//! what SQL cannot say by itself (a room the caller cannot see is a 404).

use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::auth::Identity;
use crate::db::{Db, Transaction};
use crate::domain::{
    Description, Limit, MemberRole, RoomName, RoomSettings, RoomType, SilenceMinutes, UserId,
};
use crate::error::ApiError;
use crate::limits::{self, Write};
use crate::service::{conversations, message_features, WireRow};

/// A room as the caller sees it: the room, my role (null when not a current
/// member) and my unread count.
const ROOM_VIEW: &str = "pgchat.room_view(d.room, d.id, me)";

/// The rooms the caller can find, each with the caller's membership (if current).
const DIRECTORY: &str = "pgchat.room_directory d
    LEFT JOIN conversation_members me
      ON me.conversation_id = d.id AND me.user_id = auth.uid() AND me.left_at IS NULL AND NOT me.banned";

pub struct NewRoom {
    pub name: RoomName,
    pub kind: RoomType,
    pub description: Option<Description>,
    pub settings: RoomSettings,
    /// Added as members at once (a group needs at least one).
    pub members: Vec<UserId>,
}

/// Creates a room with the caller as its owner.
#[tracing::instrument(skip(db, caller, new), fields(user = %caller.sub))]
pub async fn create(db: &Db, caller: &Identity, new: NewRoom) -> Result<WireRow, ApiError> {
    limits::check(db, Write::RoomCreate, caller)?;
    let mut members: Vec<&UserId> = Vec::new();
    for member in &new.members {
        if member.as_str() != caller.sub && !members.contains(&member) {
            members.push(member);
        }
    }
    let settings = new.settings.to_patch();
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // its size, the owner counted: group_too_large, group_needs_members, too_many_members
    let size = i32::try_from(members.len() + 1).unwrap_or(i32::MAX);
    tx.execute(
        "SELECT pgchat.room_size_check($1, $2, $3)",
        &[&new.kind.as_str(), &settings, &size],
    )
    .await?;
    let id = Uuid::new_v4();
    tx.execute(
        "INSERT INTO conversations (id, kind, title, description, settings, created_by, moderation)
         VALUES ($1, $2, $3, $4, jsonb_strip_nulls($5), $6, $7)",
        &[
            &id,
            &new.kind.as_str(),
            &new.name.as_str(),
            &new.description.as_ref().map(Description::as_str),
            &settings,
            &caller.sub,
            &new.settings.moderation.unwrap_or_default().as_str(),
        ],
    )
    .await?;
    tx.execute(
        "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'owner')",
        &[&id, &caller.sub],
    )
    .await?;
    for member in members {
        add_member(&tx, id, member, MemberRole::Member).await?;
    }
    let room = view(&tx, id).await?;
    tx.commit().await?;
    Ok(room)
}

async fn add_member(
    tx: &Transaction<'_>,
    room: Uuid,
    user: &UserId,
    role: MemberRole,
) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, $3)",
        &[&room, &user.as_str(), &role.as_str()],
    )
    .await?;
    Ok(())
}

/// A room the caller can find (open rooms, and the private ones they belong to).
async fn view(tx: &Transaction<'_>, room: Uuid) -> Result<WireRow, ApiError> {
    let sql = format!("SELECT {ROOM_VIEW} FROM {DIRECTORY} WHERE d.id = $1");
    let statement = tx.prepare_cached(&sql).await?;
    let row = tx.query_opt(&statement, &[&room]).await?;
    row.map(|r| r.get(0)).ok_or(ApiError::NotFound("room"))
}

#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn get(db: &Db, caller: &Identity, room: Uuid) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let room = view(&tx, room).await?;
    tx.commit().await?;
    Ok(room)
}

/// A position in the directory (newest first).
pub type Cursor = super::Keyset;

pub struct RoomPage {
    pub items: Vec<WireRow>,
    pub next_cursor: Option<Cursor>,
}

/// The room directory: every public and announcement room, and the private
/// rooms and groups the caller belongs to; newest first, each with its member
/// count, my role and my unread count. `q`: a case-insensitive part of the name.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn discover(
    db: &Db,
    caller: &Identity,
    kind: Option<RoomType>,
    q: Option<&str>,
    limit: Limit,
    after: Option<Cursor>,
) -> Result<RoomPage, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let sql = format!(
        "SELECT {ROOM_VIEW}, d.created_at, d.id FROM {DIRECTORY}
          WHERE ($1::text IS NULL OR d.kind = $1)
            AND ($2::text IS NULL OR strpos(lower(d.title), lower($2)) > 0)
            AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4::uuid))
          ORDER BY d.created_at DESC, d.id DESC
          LIMIT $5"
    );
    let statement = tx.prepare_cached(&sql).await?;
    let params: [&(dyn ToSql + Sync); 5] = [
        &kind.map(RoomType::as_str),
        &q,
        &after.map(|c| c.at),
        &after.map(|c| c.id),
        &(limit.get() + 1),
    ];
    let rows = tx.query(&statement, &params).await?;
    tx.commit().await?;
    let more = rows.len() as i64 > limit.get();
    let rows = &rows[..rows.len().min(limit.get() as usize)];
    let next_cursor = rows.last().filter(|_| more).map(|r| Cursor {
        at: r.get(1),
        id: r.get(2),
    });
    Ok(RoomPage {
        items: rows.iter().map(|r| r.get(0)).collect(),
        next_cursor,
    })
}

/// 404 unless `room` is a room the caller can see (a member; a platform
/// admin): what they may do there is the database's to say.
async fn visible_room(tx: &Transaction<'_>, room: Uuid) -> Result<(), ApiError> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM conversations c WHERE c.id = $1 AND pgchat.is_room(c.kind)")
        .await?;
    tx.query_opt(&statement, &[&room])
        .await?
        .ok_or(ApiError::NotFound("room"))?;
    Ok(())
}

/// A room's name, description and settings; owners and admins of the room.
#[derive(Debug, Default)]
pub struct RoomPatch {
    pub name: Option<RoomName>,
    /// `Some(None)`: remove the description.
    pub description: Option<Option<Description>>,
    pub settings: Option<RoomSettings>,
}

#[tracing::instrument(skip(db, caller, patch), fields(user = %caller.sub))]
pub async fn update(
    db: &Db,
    caller: &Identity,
    room: Uuid,
    patch: RoomPatch,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // 404 unless the caller can see the room; who may change it and how large
    // a group may be are the triggers' to say (not_room_admin, group_too_large)
    visible_room(&tx, room).await?;
    let settings = patch.settings.unwrap_or_default();
    let statement = tx
        .prepare_cached(
            "UPDATE conversations
                SET title = coalesce($2, title),
                    description = CASE WHEN $3 THEN $4 ELSE description END,
                    settings = jsonb_strip_nulls(settings || $5)
              WHERE id = $1",
        )
        .await?;
    let description = patch.description.as_ref();
    tx.execute(
        &statement,
        &[
            &room,
            &patch.name.as_ref().map(RoomName::as_str),
            &description.is_some(),
            &description.and_then(|d| d.as_ref().map(Description::as_str)),
            &settings.to_patch(),
        ],
    )
    .await?;
    if let Some(mode) = settings.moderation {
        // a column of its own (sql/47_moderation.sql), under the same rule
        let statement = tx
            .prepare_cached("UPDATE conversations SET moderation = $2 WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&room, &mode.as_str()]).await?;
    }
    let room = view(&tx, room).await?;
    tx.commit().await?;
    Ok(room)
}

/// The caller's own membership row in any state (RLS shows it to them).
struct MyRow {
    banned: bool,
    left: bool,
}

async fn membership(
    tx: &Transaction<'_>,
    room: Uuid,
    user: &str,
) -> Result<Option<MyRow>, ApiError> {
    let row = tx
        .query_opt(
            "SELECT banned, left_at IS NOT NULL FROM conversation_members
              WHERE conversation_id = $1 AND user_id = $2",
            &[&room, &user],
        )
        .await?;
    Ok(row.map(|r| MyRow {
        banned: r.get(0),
        left: r.get(1),
    }))
}

/// What a join did.
pub enum Joined {
    /// Now a member (`true`), or one already (`false`): the room.
    Room(WireRow, bool),
    /// The room admits on approval: the caller's request (new or standing).
    Requested(WireRow),
}

/// Joins an open room (public, announcement) as a member. Joining a room one
/// is already in changes nothing. Where the room requires approval, joining
/// asks (once: asking again answers the standing request). Private rooms and
/// groups are joined by invitation only: to others they do not exist (404).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn join(db: &Db, caller: &Identity, room: Uuid) -> Result<Joined, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_opt(
            "SELECT kind, pgchat.join_needs_approval(id) FROM pgchat.room_directory WHERE id = $1",
            &[&room],
        )
        .await?
        .ok_or(ApiError::NotFound("room"))?;
    let kind: String = row.get(0);
    let needs_approval: bool = row.get(1);
    let mine = membership(&tx, room, &caller.sub).await?;
    // a banned member coming back is refused by tg_member_rules (`banned`),
    // and asking by tg_join_request_rules alike
    let joined = match mine {
        Some(MyRow { left: false, .. }) => false,
        _ if !matches!(kind.as_str(), "public" | "announcement") => {
            return Err(ApiError::NotFound("room"))
        }
        _ if needs_approval => {
            let request = ask_to_join(&tx, room).await?;
            tx.commit().await?;
            return Ok(Joined::Requested(request));
        }
        Some(MyRow { left: true, .. }) => {
            // the rules trigger makes whoever comes back by themselves a
            // member, and refuses a full room (`room_full`)
            tx.execute(
                "UPDATE conversation_members SET left_at = NULL WHERE conversation_id = $1 AND user_id = $2",
                &[&room, &caller.sub],
            )
            .await?;
            true
        }
        None => {
            tx.execute(
                "INSERT INTO conversation_members (conversation_id, user_id, role) VALUES ($1, $2, 'member')",
                &[&room, &caller.sub],
            )
            .await?;
            true
        }
    };
    let view = view(&tx, room).await?;
    tx.commit().await?;
    Ok(Joined::Room(view, joined))
}

/// The caller's request to join `room`, made unless it stands already.
async fn ask_to_join(tx: &Transaction<'_>, room: Uuid) -> Result<WireRow, ApiError> {
    tx.execute(
        "INSERT INTO room_join_requests (conversation_id, user_id) VALUES ($1, auth.uid())
         ON CONFLICT (conversation_id, user_id) DO NOTHING",
        &[&room],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT pgchat.join_request_json(r) FROM room_join_requests r
              WHERE r.conversation_id = $1 AND r.user_id = auth.uid()",
            &[&room],
        )
        .await?;
    Ok(row.get(0))
}

/// The requests to join a room, oldest first: its moderators (and up).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn join_requests(
    db: &Db,
    caller: &Identity,
    room: Uuid,
) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    visible_room(&tx, room).await?;
    tx.execute("SELECT pgchat.moderator_check($1)", &[&room])
        .await?;
    let rows = tx
        .query(
            "SELECT pgchat.join_request_json(r) FROM room_join_requests r
              WHERE r.conversation_id = $1
              ORDER BY r.created_at, r.user_id
              LIMIT 1000",
            &[&room],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A moderator's answer to a request to join: approving makes the asker a
/// member (members see `member_joined`; the request goes with it), rejecting
/// removes the request. 404 when there is no such request.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn decide_request(
    db: &Db,
    caller: &Identity,
    room: Uuid,
    user: &UserId,
    approve: bool,
) -> Result<Option<WireRow>, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    visible_room(&tx, room).await?;
    tx.execute("SELECT pgchat.moderator_check($1)", &[&room])
        .await?;
    if !approve {
        let removed = tx
            .execute(
                "DELETE FROM room_join_requests WHERE conversation_id = $1 AND user_id = $2",
                &[&room, &user.as_str()],
            )
            .await?;
        if removed == 0 {
            return Err(ApiError::NotFound("request"));
        }
        tx.commit().await?;
        return Ok(None);
    }
    tx.query_opt(
        "SELECT 1 FROM room_join_requests WHERE conversation_id = $1 AND user_id = $2",
        &[&room, &user.as_str()],
    )
    .await?
    .ok_or(ApiError::NotFound("request"))?;
    // an approval is the membership rules trigger's to allow (a moderator
    // admitting someone who asked) or refuse (user_banned, room_full)
    match membership(&tx, room, user.as_str()).await? {
        Some(row) if row.left || row.banned => {
            tx.execute(
                "UPDATE conversation_members SET left_at = NULL, role = 'member'
                  WHERE conversation_id = $1 AND user_id = $2",
                &[&room, &user.as_str()],
            )
            .await?;
        }
        Some(_) => {}
        None => add_member(&tx, room, user, MemberRole::Member).await?,
    }
    let member = member_json(&tx, room, user.as_str()).await?;
    tx.commit().await?;
    Ok(Some(member))
}

/// A read-only look at a room without joining it: the room, its member count
/// and its `limit` latest messages (`pgchat.room_preview`: open rooms to
/// anyone not banned from them, others to their readers; 404 otherwise).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn preview(
    db: &Db,
    caller: &Identity,
    room: Uuid,
    limit: Limit,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_one(
            "SELECT pgchat.room_preview($1, $2::integer)",
            &[&room, &(limit.get() as i32)],
        )
        .await?;
    tx.commit().await?;
    row.get::<_, Option<WireRow>>(0)
        .ok_or(ApiError::NotFound("room"))
}

/// Leaves a room. The last owner of a room with other members names another
/// owner first.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn leave(db: &Db, caller: &Identity, room: Uuid) -> Result<WireRow, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // 404 unless it is a room the caller can see
    visible_room(&tx, room).await?;
    // the last owner of a room with others in it: `last_owner`, by tg_member_rules
    let row = tx
        .query_opt(
            "UPDATE conversation_members SET left_at = now()
              WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL AND NOT banned
             RETURNING pgchat.member_json(conversation_members.*)",
            &[&room, &caller.sub],
        )
        .await?;
    let Some(row) = row else {
        return Err(conversations::not_member(&tx, room).await);
    };
    tx.commit().await?;
    Ok(row.get(0))
}

/// The members of a room the caller can read: current ones, or (`banned`) the
/// banned ones; by rank, then by when they joined.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn members(
    db: &Db,
    caller: &Identity,
    room: Uuid,
    banned: bool,
) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    visible_room(&tx, room).await?;
    let statement = tx
        .prepare_cached(
            "SELECT pgchat.member_json(m) FROM conversation_members m
              WHERE m.conversation_id = $1
                AND CASE WHEN $2 THEN m.banned ELSE m.left_at IS NULL AND NOT m.banned END
              ORDER BY pgchat.role_rank(m.role) DESC, m.joined_at, m.user_id
              LIMIT 1000",
        )
        .await?;
    let rows = tx.query(&statement, &[&room, &banned]).await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Adds someone to a room: any member when the room allows invites, owners
/// and admins always; the role given is below the inviter's own (owners may
/// name owners). Someone who left comes back; a banned user is unbanned first.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn invite(
    db: &Db,
    caller: &Identity,
    room: Uuid,
    user: &UserId,
    role: MemberRole,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // the room as the caller sees it, or 404; who may invite whom is the
    // membership rules trigger's to say (not_a_member, invites_disabled,
    // role_too_high, user_banned, already_member, user_not_found)
    visible_room(&tx, room).await?;
    match membership(&tx, room, user.as_str()).await? {
        Some(row) if row.left || row.banned => {
            tx.execute(
                "UPDATE conversation_members SET left_at = NULL, role = $3
                  WHERE conversation_id = $1 AND user_id = $2",
                &[&room, &user.as_str(), &role.as_str()],
            )
            .await?;
        }
        _ => add_member(&tx, room, user, role).await?,
    }
    let member = member_json(&tx, room, user.as_str()).await?;
    tx.commit().await?;
    Ok(member)
}

async fn member_json(tx: &Transaction<'_>, room: Uuid, user: &str) -> Result<WireRow, ApiError> {
    let row = tx
        .query_opt(
            "SELECT pgchat.member_json(m) FROM conversation_members m
              WHERE m.conversation_id = $1 AND m.user_id = $2",
            &[&room, &user],
        )
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    Ok(row.get(0))
}

/// What a moderator changes about a member; absent: unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemberPatch {
    pub role: Option<MemberRole>,
    /// Banning also removes; lifting a ban does not bring them back.
    pub banned: Option<bool>,
    /// Silence (no posting) for `silenced_minutes`, or until lifted; `false` lifts it.
    pub silenced: Option<bool>,
    pub silenced_minutes: Option<SilenceMinutes>,
}

/// Changes a member's role, ban or silence. Moderators act on members, admins
/// also on moderators, owners on everyone below owner; nobody grants a role at
/// or above their own, except owners (who may name other owners).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn update_member(
    db: &Db,
    caller: &Identity,
    room: Uuid,
    user: &UserId,
    patch: MemberPatch,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    if patch.silenced_minutes.is_some() && patch.silenced != Some(true) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "silenced_minutes goes with silenced: true",
        ));
    }
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // the rank rules are the database's (tg_member_rules: not_yourself,
    // not_a_moderator, outranked, role_too_high); here only what it cannot know
    visible_room(&tx, room).await?;
    target_role(&tx, room, user).await?;
    let silence: Option<Option<i32>> = match patch.silenced {
        Some(true) => Some(Some(patch.silenced_minutes.map_or(0, SilenceMinutes::get))),
        Some(false) => Some(None),
        None => None,
    };
    let statement = tx
        .prepare_cached(
            "UPDATE conversation_members
                SET role = coalesce($3, role),
                    banned = coalesce($4, banned),
                    left_at = CASE WHEN $4 AND NOT banned THEN coalesce(left_at, now()) ELSE left_at END,
                    silenced_until = CASE WHEN NOT $5 THEN silenced_until
                                          WHEN $6::integer IS NULL THEN NULL
                                          WHEN $6 = 0 THEN 'infinity'::timestamptz
                                          ELSE now() + make_interval(mins => $6) END
              WHERE conversation_id = $1 AND user_id = $2",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &room,
            &user.as_str(),
            &patch.role.map(MemberRole::as_str),
            &patch.banned,
            &silence.is_some(),
            &silence.flatten(),
        ],
    )
    .await?;
    let member = member_json(&tx, room, user.as_str()).await?;
    tx.commit().await?;
    Ok(member)
}

/// Removes a member (they may come back: rejoin an open room, or be invited).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn remove_member(
    db: &Db,
    caller: &Identity,
    room: Uuid,
    user: &UserId,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::RoomWrite, caller)?;
    if user.as_str() == caller.sub {
        return leave(db, caller, room).await;
    }
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    visible_room(&tx, room).await?;
    target_role(&tx, room, user).await?;
    let removed = tx
        .execute(
            "UPDATE conversation_members SET left_at = now()
              WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL",
            &[&room, &user.as_str()],
        )
        .await?;
    if removed == 0 {
        return Err(ApiError::NotFound("member"));
    }
    let member = member_json(&tx, room, user.as_str()).await?;
    tx.commit().await?;
    Ok(member)
}

/// The role of a member of the room (in any state), 404 if never a member.
async fn target_role(
    tx: &Transaction<'_>,
    room: Uuid,
    user: &UserId,
) -> Result<MemberRole, ApiError> {
    let row = tx
        .query_opt(
            "SELECT role FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
            &[&room, &user.as_str()],
        )
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    let role: String = row.get(0);
    Ok(role.parse().unwrap_or(MemberRole::Member))
}

/// The pinned messages of a conversation the caller can read, newest pin first.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn pins(
    db: &Db,
    caller: &Identity,
    conversation: Uuid,
) -> Result<Vec<WireRow>, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    crate::service::messages::conversation_kind(&tx, conversation).await?;
    let rows = tx
        .query(
            "SELECT pgchat.message_json(m) FROM chat_messages m
              WHERE m.conversation_id = $1 AND m.pinned_at IS NOT NULL
              ORDER BY m.pinned_at DESC LIMIT 100",
            &[&conversation],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Pins (or unpins) a message: moderators of a room, either member of a direct
/// conversation. Pinning a pinned message changes nothing. Members see
/// `message_pinned` / `message_unpinned`.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn pin(
    db: &Db,
    caller: &Identity,
    conversation: Uuid,
    message: Uuid,
    pinned: bool,
) -> Result<WireRow, ApiError> {
    limits::check(db, Write::Edit, caller)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // visible to the caller and of this conversation, or 404; the rules
    // trigger decides who pins (not_a_moderator, message_deleted)
    tx.query_opt(
        "SELECT 1 FROM chat_messages m WHERE m.id = $1 AND m.conversation_id = $2",
        &[&message, &conversation],
    )
    .await?
    .ok_or(ApiError::NotFound("message"))?;
    tx.execute(
        "UPDATE chat_messages SET pinned_at = CASE WHEN $2 THEN coalesce(pinned_at, now()) END
          WHERE id = $1",
        &[&message, &pinned],
    )
    .await?;
    let json = message_features::message_json(&tx, message).await?;
    tx.commit().await?;
    Ok(json)
}
