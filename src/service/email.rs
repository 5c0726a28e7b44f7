//! Email notifications' operations: the email outbox (queued by triggers in
//! sql/62_email.sql, sent through the one delivery transaction of
//! `notifications`), this server's email setting, and unsubscribing with a
//! signed link.
//!
//! An unsubscribe link names its user and carries an HMAC-SHA256 of that name
//! with the database's `email_settings.signing_key`, so it works without
//! signing in and cannot be made for someone else. It has no expiry: a link
//! in an old email must still work. Unsubscribing runs as the server's role
//! and changes one column of the one user the verified link names (the link
//! is the identity, as a token is for a request).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::Db;
use crate::error::ApiError;
use crate::service::notifications::Outbox;
use crate::service::WireRow;

/// The email outbox.
pub const OUTBOX: Outbox = Outbox {
    table: "email_outbox",
    json: "pgchat.email_json",
};

/// Signs and checks unsubscribe tokens: `<user id, base64url>.<HMAC, base64url>`.
#[derive(Clone)]
pub struct UnsubscribeKey(Vec<u8>);

impl UnsubscribeKey {
    fn mac(&self, user: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        // The purpose is signed too, so the key can sign other things one day.
        mac.update(b"unsubscribe\0");
        mac.update(user.as_bytes());
        mac
    }

    pub fn token(&self, user: &str) -> String {
        let tag = self.mac(user).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(user),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    /// The user a token names, if this key signed it (compared in constant time).
    pub fn verify(&self, token: &str) -> Option<String> {
        let (user, tag) = token.split_once('.')?;
        let user = String::from_utf8(URL_SAFE_NO_PAD.decode(user).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(&user).verify_slice(&tag).ok()?;
        Some(user)
    }
}

/// The key of unsubscribe links (made by the migration, shared by every node).
pub async fn signing_key(db: &Db) -> Result<UnsubscribeKey, ApiError> {
    let client = db.client().await?;
    let row = client
        .query_one("SELECT signing_key FROM email_settings", &[])
        .await?;
    Ok(UnsubscribeKey(row.get::<_, String>(0).into_bytes()))
}

/// Records whether this server sends email: the triggers queue nothing
/// otherwise. (A job: the server's role.)
pub async fn configure(db: &Db, enabled: bool) -> Result<(), ApiError> {
    let client = db.client().await?;
    client
        .execute(
            "UPDATE email_settings SET enabled = $1, updated_at = now() WHERE id",
            &[&enabled],
        )
        .await?;
    Ok(())
}

/// Turns email notifications off for the user a signed `token` names.
#[tracing::instrument(skip_all)]
pub async fn unsubscribe(db: &Db, token: &str) -> Result<WireRow, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_unsubscribe_token",
            "this unsubscribe link is not valid (copy the whole link from the email)",
        )
    };
    if token.len() > 1000 {
        return Err(invalid());
    }
    let user = signing_key(db).await?.verify(token).ok_or_else(invalid)?;
    let client = db.client().await?;
    let row = client
        .query_opt(
            "UPDATE users SET email_notifications = false WHERE id = $1
             RETURNING jsonb_build_object('email_notifications', email_notifications)",
            &[&user],
        )
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    tracing::info!(user, "unsubscribed from email notifications");
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::{UnsubscribeKey, URL_SAFE_NO_PAD};
    use base64::Engine as _;

    #[test]
    fn a_token_names_its_user_and_cannot_be_made_for_another() {
        let key = UnsubscribeKey::for_tests();
        let token = key.token("carol");
        assert_eq!(key.verify(&token).as_deref(), Some("carol"));
        let (_, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("mallory"));
        assert_eq!(key.verify(&forged), None);
        let other = UnsubscribeKey(b"another key, another database....".to_vec());
        assert_eq!(other.verify(&token), None);
        for bad in [
            "",
            ".",
            "carol",
            "Y2Fyb2w.",
            "not base64!.x",
            &token[..token.len() - 1],
        ] {
            assert_eq!(key.verify(bad), None, "{bad:?}");
        }
    }
}
