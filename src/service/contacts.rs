//! A user's own contact details: `GET|PATCH /v1/contacts/me`. The email
//! address and the opt-out of email notifications (the rest of a contact,
//! attributes and page, comes with the widget's contact context).
//!
//! A token's `email` claim is the host site's word: it sets the address when
//! the server first sees that token (`Db::provision`), over one set here.

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::email::EmailAddress;
use crate::error::ApiError;
use crate::service::WireRow;

/// What `PATCH /v1/contacts/me` changes; `None` keeps a field.
#[derive(Debug, Default)]
pub struct ContactChanges {
    /// `Some(None)` removes the address (and with it every email).
    pub email: Option<Option<EmailAddress>>,
    pub email_notifications: Option<bool>,
}

impl ContactChanges {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.email_notifications.is_none()
    }
}

/// The caller as they see themselves.
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn me(db: &Db, caller: &Identity) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let row = tx
        .query_opt(
            "SELECT pgchat.contact_json(u) FROM users u WHERE u.id = auth.uid()",
            &[],
        )
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Changes the caller's own row (RLS: `users_update` admits no other).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn update_me(
    db: &Db,
    caller: &Identity,
    changes: &ContactChanges,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let email = changes
        .email
        .as_ref()
        .map(|e| e.as_ref().map(EmailAddress::as_str));
    let row = tx
        .query_opt(
            "UPDATE users u
                SET email = CASE WHEN $1 THEN $2 ELSE u.email END,
                    email_notifications = coalesce($3, u.email_notifications)
              WHERE u.id = auth.uid()
             RETURNING pgchat.contact_json(u)",
            &[
                &email.is_some(),
                &email.flatten(),
                &changes.email_notifications,
            ],
        )
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    tx.commit().await?;
    Ok(row.get(0))
}
