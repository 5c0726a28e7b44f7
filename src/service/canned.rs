//! Canned responses: personal (each agent's own) and shared (written by
//! admins, read by every agent), looked up by `/shortcut` and rendered with
//! placeholders: `{customer_name}`, `{customer_id}`, `{agent_name}`,
//! `{subject}`, `{category}`, `{priority}`. Staff only (`pgchat.gate`);
//! RLS (policies/canned_responses.sql) decides which rows a caller sees, and
//! the gates trigger that shared ones are the admins' to write.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::desk::{render, CannedBody, CannedTitle, Shortcut};
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

fn taken(shortcut: &Shortcut) -> ApiError {
    ApiError::conflict(
        "shortcut_taken",
        format!("there already is a /{} here", shortcut.as_str()),
    )
}

pub struct NewCanned {
    pub shortcut: Shortcut,
    pub title: Option<CannedTitle>,
    pub body: CannedBody,
    /// Shared with every agent (admins only) rather than the caller's own.
    pub shared: bool,
}

#[tracing::instrument(skip(db, caller, new), fields(user = %caller.sub))]
pub async fn create(db: &Db, caller: &Identity, new: &NewCanned) -> Result<WireRow, ApiError> {
    let owner = (!new.shared).then_some(caller.sub.as_str());
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    // shared ones are the admins' (`admins_only`, pgchat.tg_canned_gates)
    gates::pass(&tx, Gate::Canned).await?;
    let row = tx
        .query_opt(
            "INSERT INTO canned_responses (owner_id, shortcut, title, body, created_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT ((coalesce(owner_id, '')), shortcut) DO NOTHING
             RETURNING pgchat.canned_json(canned_responses.*)",
            &[
                &owner,
                &new.shortcut.as_str(),
                &new.title.as_ref().map(CannedTitle::as_str),
                &new.body.as_str(),
                &caller.sub,
            ],
        )
        .await?
        .ok_or_else(|| taken(&new.shortcut))?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Shared responses and the caller's own (admins: everyone's), by shortcut.
/// `q` matches shortcut, title or body; `prefix` the start of the shortcut (autocomplete).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn list(
    db: &Db,
    caller: &Identity,
    q: Option<&str>,
    prefix: Option<&str>,
) -> Result<Vec<WireRow>, ApiError> {
    let prefix = prefix.map(|p| p.trim().trim_start_matches('/').to_lowercase());
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Canned).await?;
    let rows = tx
        .query(
            "SELECT pgchat.canned_json(c) FROM canned_responses c
              WHERE ($1::text IS NULL OR strpos(lower(c.shortcut || ' ' || coalesce(c.title, '') || ' ' || c.body), lower($1)) > 0)
                AND ($2::text IS NULL OR starts_with(c.shortcut, $2))
              ORDER BY c.shortcut, c.owner_id IS NULL, c.owner_id
              LIMIT 500",
            &[&q, &prefix],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[derive(Debug, Default)]
pub struct CannedChanges {
    pub shortcut: Option<Shortcut>,
    pub title: Option<CannedTitle>,
    pub body: Option<CannedBody>,
}

/// Changes a response: its owner, or an admin (shared ones: admins only).
#[tracing::instrument(skip(db, caller, changes), fields(user = %caller.sub))]
pub async fn update(
    db: &Db,
    caller: &Identity,
    id: Uuid,
    changes: &CannedChanges,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Canned).await?;
    let owner: Option<String> = tx
        .query_opt(
            "SELECT owner_id FROM canned_responses WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or(ApiError::NotFound("canned response"))?
        .get(0);
    // a shared one is the admins' to change (`admins_only`, pgchat.tg_canned_gates)
    if let Some(shortcut) = &changes.shortcut {
        let clash = tx
            .query_opt(
                "SELECT 1 FROM canned_responses
                  WHERE coalesce(owner_id, '') = coalesce($1, '') AND shortcut = $2 AND id <> $3",
                &[&owner, &shortcut.as_str(), &id],
            )
            .await?;
        if clash.is_some() {
            return Err(taken(shortcut));
        }
    }
    let row = tx
        .query_one(
            "UPDATE canned_responses
                SET shortcut = coalesce($2, shortcut), title = coalesce($3, title),
                    body = coalesce($4, body), updated_at = now()
              WHERE id = $1
             RETURNING pgchat.canned_json(canned_responses.*)",
            &[
                &id,
                &changes.shortcut.as_ref().map(Shortcut::as_str),
                &changes.title.as_ref().map(CannedTitle::as_str),
                &changes.body.as_ref().map(CannedBody::as_str),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn delete(db: &Db, caller: &Identity, id: Uuid) -> Result<(), ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Canned).await?;
    // a shared one is the admins' to delete (`admins_only`, pgchat.tg_canned_gates)
    let deleted = tx
        .execute("DELETE FROM canned_responses WHERE id = $1", &[&id])
        .await?;
    tx.commit().await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("canned response"));
    }
    Ok(())
}

/// The response a `/shortcut` names for the caller (their own before a shared
/// one), rendered for a session the caller can see: `{customer_name}` and the
/// other placeholders filled in, `{agent_name}` being the caller.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn lookup(
    db: &Db,
    caller: &Identity,
    shortcut: &Shortcut,
    session_id: Option<Uuid>,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Canned).await?;
    let row = tx
        .query_opt(
            "SELECT pgchat.canned_json(c), c.body FROM canned_responses c
              WHERE c.shortcut = $1 AND (c.owner_id = $2 OR c.owner_id IS NULL)
              ORDER BY c.owner_id IS NULL
              LIMIT 1",
            &[&shortcut.as_str(), &caller.sub],
        )
        .await?
        .ok_or(ApiError::NotFound("canned response"))?;
    let (mut canned, template): (WireRow, String) = (row.get(0), row.get(1));
    let me = tx
        .query_opt("SELECT name FROM users WHERE id = $1", &[&caller.sub])
        .await?
        .and_then(|r| r.get::<_, Option<String>>(0))
        .or_else(|| caller.name.clone())
        .unwrap_or_else(|| caller.sub.clone());
    let session = match session_id {
        Some(id) => Some(
            tx.query_opt(
                "SELECT s.customer_id, coalesce(u.name, s.customer_id), s.subject, s.category, s.priority
                   FROM live_chat_sessions s JOIN users u ON u.id = s.customer_id
                  WHERE s.id = $1",
                &[&id],
            )
            .await?
            .ok_or(ApiError::NotFound("session"))?,
        ),
        None => None,
    };
    tx.commit().await?;
    let field = |i: usize| session.as_ref().map(|r| r.get::<_, String>(i));
    let (customer_id, customer_name, subject, category, priority) =
        (field(0), field(1), field(2), field(3), field(4));
    let values = [
        ("agent_name", Some(me.as_str())),
        ("customer_id", customer_id.as_deref()),
        ("customer_name", customer_name.as_deref()),
        ("subject", subject.as_deref()),
        ("category", category.as_deref()),
        ("priority", priority.as_deref()),
    ];
    canned["template"] = canned["body"].take();
    canned["body"] = render(&template, &values).into();
    Ok(canned)
}
