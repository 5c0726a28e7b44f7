//! The desk's settings screen, for admins (the `settings` gate, then RLS):
//! the desk settings (`GET|PATCH /v1/admin/settings`, the `desk_settings`
//! row; an admin's change outlives restarts, see `assignment::configure`),
//! the email templates (`GET /v1/admin/email-templates`, `PUT …/{kind}`;
//! the database refuses a placeholder its kind does not fill) and the
//! webhook's outbox (`GET /v1/admin/webhooks`). JSON is built in SQL
//! (sql/66_desk_admin.sql).

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::settings::{EmailBody, EmailSubject, SettingsChanges};
use crate::domain::Limit;
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// The desk settings: every column of the row but its key.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn get(db: &Db, caller: &Identity) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Settings).await?;
    let row = tx
        .query_opt(
            "SELECT pgchat.desk_settings_json(d) FROM desk_settings d WHERE d.id",
            &[],
        )
        .await?
        .ok_or(ApiError::NotFound("desk settings"))?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Changes the settings given; they become the admins' (`admin_set`).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn patch(
    db: &Db,
    caller: &Identity,
    changes: &SettingsChanges,
) -> Result<WireRow, ApiError> {
    let changes = serde_json::to_value(changes).map_err(anyhow::Error::from)?;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Settings).await?;
    let row = tx
        .query_one("SELECT pgchat.patch_desk_settings($1)", &[&changes])
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// `{"email_enabled", "items": [template]}`, by kind.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn email_templates(db: &Db, caller: &Identity) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Settings).await?;
    let row = tx
        .query_one(
            "SELECT jsonb_build_object('email_enabled', pgchat.email_enabled(),
                      'items', coalesce(jsonb_agg(pgchat.email_template_json(t) ORDER BY t.kind), '[]'))
               FROM email_templates t",
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Replaces the subject and body of the template of `kind` (404: no such kind).
#[tracing::instrument(skip(db, caller, subject, body), fields(user = %caller.sub))]
pub async fn put_email_template(
    db: &Db,
    caller: &Identity,
    kind: &str,
    subject: &EmailSubject,
    body: &EmailBody,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Settings).await?;
    let row = tx
        .query_opt(
            "UPDATE email_templates t SET subject = $2, body = $3
              WHERE t.kind = $1
          RETURNING pgchat.email_template_json(t)",
            &[&kind, &subject.as_str(), &body.as_str()],
        )
        .await?
        .ok_or(ApiError::NotFound("email template"))?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// The webhook's outbox: counts by status and the latest `limit` rows.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn webhook_outbox(db: &Db, caller: &Identity, limit: Limit) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Settings).await?;
    let limit = i32::try_from(limit.get()).unwrap_or(Limit::DEFAULT as i32);
    let row = tx
        .query_one("SELECT pgchat.webhook_outbox_json($1)", &[&limit])
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}
