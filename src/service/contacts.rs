//! Contacts: a user's own details, `GET|PATCH /v1/contacts/me` (the email
//! address, the opt-out of email notifications, the display name and the
//! custom attributes the host page sets), and a customer as staff see them,
//! `GET /v1/contacts/{user_id}` (with where they opened sessions from and
//! their previous sessions: `pgchat.contact_view`).
//!
//! A token's `email` claim is the host site's word: it sets the address when
//! the server first sees that token (`Db::provision`), over one set here.
//!
//! Verified identity: a customer of the host site signs in through the widget
//! with their host user id and its HMAC-SHA256 under the site's identity
//! secret (`verify_identity`); the contact is then marked verified. Like
//! provisioning from a token, that write is the server's own (the hash is the
//! identity, as a token is for a request): `pgchat.verify_contact`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::contact::{Attributes, DisplayName, UserHash};
use crate::domain::email::EmailAddress;
use crate::domain::UserId;
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// What `PATCH /v1/contacts/me` changes; `None` keeps a field.
#[derive(Debug, Default)]
pub struct ContactChanges {
    /// `Some(None)` removes the address (and with it every email).
    pub email: Option<Option<EmailAddress>>,
    pub email_notifications: Option<bool>,
    /// A token's `name` claim, when it has one, wins the next time the server
    /// sees that token (as for `email`).
    pub name: Option<DisplayName>,
    /// Merged into the contact's; a `null` value removes its key.
    pub attributes: Option<Attributes>,
}

impl ContactChanges {
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.email_notifications.is_none()
            && self.name.is_none()
            && self.attributes.is_none()
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
                    email_notifications = coalesce($3, u.email_notifications),
                    name = coalesce($4, u.name),
                    attributes = CASE WHEN $5::jsonb IS NULL THEN u.attributes
                                      ELSE (u.attributes || $5::jsonb) - $6::text[] END
              WHERE u.id = auth.uid()
             RETURNING pgchat.contact_json(u)",
            &[
                &email.is_some(),
                &email.flatten(),
                &changes.email_notifications,
                &changes.name.as_ref().map(DisplayName::as_str),
                &changes.attributes.as_ref().map(Attributes::set),
                &changes
                    .attributes
                    .as_ref()
                    .map(Attributes::removed)
                    .unwrap_or_default(),
            ],
        )
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// A user as staff see them: their details, attributes, the context of their
/// latest session and their previous sessions (those RLS shows the caller).
#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn get(db: &Db, caller: &Identity, user_id: &str) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Contacts).await?;
    let row = tx
        .query_opt(
            "SELECT pgchat.contact_view(u) FROM users u WHERE u.id = $1",
            &[&user_id],
        )
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Whether `hash` is the HMAC-SHA256 of `user_id` under `secret` (compared in
/// constant time).
pub fn identity_matches(secret: &str, user_id: &UserId, hash: &UserHash) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(user_id.as_str().as_bytes());
    mac.verify_slice(hash.as_bytes()).is_ok()
}

/// A customer of the host site, vouched for by `hash`: checked against the
/// site's secret (`403 invalid_user_hash`), then marked verified — created if
/// new — by the server (`403 customers_only` for an agent's or admin's id).
#[tracing::instrument(skip(db, secret, hash), fields(user = %user_id.as_str()))]
pub async fn verify_identity(
    db: &Db,
    secret: &str,
    user_id: &UserId,
    hash: &UserHash,
) -> Result<(), ApiError> {
    if !identity_matches(secret, user_id, hash) {
        return Err(ApiError::forbidden(
            "invalid_user_hash",
            "user_hash is not the HMAC-SHA256 of user_id under this site's identity secret",
        ));
    }
    let client = db.client().await?;
    client
        .execute("SELECT pgchat.verify_contact($1)", &[&user_id.as_str()])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_hash_is_the_hmac_sha256_of_the_user_id_in_hex() {
        // printf '%s' user-42 | openssl dgst -sha256 -hmac site-secret
        let hex = "360ea68ccc98e76abe82ace2ab09553dc9a0814b9df79c2e0d396877aca6aa72";
        let user: UserId = "user-42".to_owned().try_into().unwrap();
        let good: UserHash = hex.to_owned().try_into().unwrap();
        assert!(identity_matches("site-secret", &user, &good));
        assert!(!identity_matches("other-secret", &user, &good));
        let other: UserId = "user-43".to_owned().try_into().unwrap();
        assert!(!identity_matches("site-secret", &other, &good));
    }
}
