//! Full-text search over the messages the caller can read, in every
//! conversation at once: PostgreSQL text search (`websearch_to_tsquery` on the
//! stored `search` vector, its GIN index), ranked with `ts_rank_cd`, with
//! highlights from `ts_headline`. It runs as the caller, so RLS decides what
//! can match: other people's conversations, internal notes (for customers),
//! history deleted for me and tombstones never do.
//!
//! A search is the one request whose cost the client chooses, so it is bounded
//! three ways: `pgchat.search_query` refuses queries of too many words (422
//! `query_too_complex`), the statement timeout of every request stops it
//! (503 `timeout`), and it is cancelled in PostgreSQL when the client goes away.

use uuid::Uuid;

use crate::auth::Identity;
use crate::db::Db;
use crate::domain::{Limit, SearchQuery};
use crate::error::ApiError;
use crate::service::cancel::CancelOnDrop;
use crate::service::WireRow;

/// Where to look.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope {
    /// One conversation only.
    pub conversation_id: Option<Uuid>,
}

/// Ranked matches, best first. Each item: `message`, `rank`, `highlight` (the
/// body's best fragments, HTML-escaped, matches in `<mark>…</mark>`), and the
/// `conversation` (`id`, `kind`, `title`).
#[tracing::instrument(skip(db, caller, query), fields(user = %caller.sub))]
pub async fn search(
    db: &Db,
    caller: &Identity,
    query: &SearchQuery,
    scope: Scope,
    limit: Limit,
) -> Result<Vec<WireRow>, ApiError> {
    let mut client = CancelOnDrop::new(db.client().await?);
    let found = run(db, &mut client, caller, query, scope, limit).await;
    client.finish();
    found
}

async fn run(
    db: &Db,
    client: &mut CancelOnDrop,
    caller: &Identity,
    query: &SearchQuery,
    scope: Scope,
    limit: Limit,
) -> Result<Vec<WireRow>, ApiError> {
    let tx = db.begin_as(client, caller).await?;
    let max_terms = db.limits().map_or(0, |l| l.search_max_terms());
    let max_terms = i32::try_from(max_terms).unwrap_or(i32::MAX);
    // A statement of its own: inside the search, an empty table would spare
    // the query from being parsed at all, and its bound from being checked.
    let bounded = tx
        .prepare_cached("SELECT pgchat.search_query($1, $2)::text")
        .await?;
    let tsquery: String = tx
        .query_one(&bounded, &[&query.as_str(), &max_terms])
        .await?
        .get(0);
    let statement = tx
        .prepare_cached(
            "WITH q AS (SELECT $1::text::tsquery AS query),
             hits AS (
               SELECT m.id, ts_rank_cd(m.search, q.query) AS rank
                 FROM chat_messages m, q
                WHERE m.search @@ q.query AND m.deleted_at IS NULL
                  AND ($2::uuid IS NULL OR m.conversation_id = $2)
                ORDER BY rank DESC, m.created_at DESC, m.id
                LIMIT $3)
             SELECT pgchat.search_hit(m, h.rank, q.query)
               FROM hits h JOIN chat_messages m ON m.id = h.id, q
              ORDER BY h.rank DESC, m.created_at DESC, m.id",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[&tsquery, &scope.conversation_id, &limit.get()],
        )
        .await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
