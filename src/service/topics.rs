//! Who may follow what live: the database's rule (`pgchat.may_subscribe`,
//! sql/49_live.sql), asked as the caller in one transaction before a
//! subscription joins the hub, on every transport. A conversation's topic is
//! not asked: its backlog read is the check, under RLS.

use crate::auth::Identity;
use crate::db::Db;
use crate::error::ApiError;

/// A topic whose access the database decides.
#[derive(Clone, Copy, Debug)]
pub enum Followed<'a> {
    /// The support desk's feed (`staff_only`).
    SupportQueue,
    /// A user's own feed (another's: 404).
    Inbox(&'a str),
    /// A user's presence (404 unless `pgchat.can_see_presence`).
    Presence(&'a str),
}

/// Passes if `caller` may follow `topic`, or says why not.
pub async fn may_follow(db: &Db, caller: &Identity, topic: Followed<'_>) -> Result<(), ApiError> {
    let (kind, subject) = match topic {
        Followed::SupportQueue => ("support_queue", None),
        Followed::Inbox(user) => ("inbox", Some(user)),
        Followed::Presence(user) => ("presence", Some(user)),
    };
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let statement = tx
        .prepare_cached("SELECT pgchat.may_subscribe($1, $2)")
        .await?;
    tx.execute(&statement, &[&kind, &subject]).await?;
    tx.commit().await?;
    Ok(())
}
