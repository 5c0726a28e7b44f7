//! The desk dashboard (`pgchat.desk_stats` in sql/60_desk.sql, also callable
//! from psql): sessions started in a date range, counted by status, category
//! and priority; the live queue; wait, first-response and resolution times
//! (median, p90); CSAT; the first-response SLA with its breaches; per-agent
//! load and figures. Admins only.

use chrono::{DateTime, Duration, Utc};

use crate::auth::Identity;
use crate::db::Db;
use crate::error::ApiError;
use crate::service::gates::{self, Gate};
use crate::service::WireRow;

/// A date range; `from` defaults to 7 days before `to`, `to` to now.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Range {
    pub fn parse(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Self, ApiError> {
        let to = to.unwrap_or_else(Utc::now);
        let from = from.unwrap_or(to - Duration::days(7));
        if from >= to {
            return Err(ApiError::bad_request(
                "invalid_range",
                "`from` must be before `to`",
            ));
        }
        Ok(Self { from, to })
    }
}

#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn desk(
    db: &Db,
    caller: &Identity,
    range: Range,
    agent_id: Option<&str>,
) -> Result<WireRow, ApiError> {
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    gates::pass(&tx, Gate::Dashboard).await?;
    if let Some(agent) = agent_id {
        let known = tx
            .query_opt(
                "SELECT 1 FROM users WHERE id = $1 AND role IN ('agent', 'admin')",
                &[&agent],
            )
            .await?;
        if known.is_none() {
            return Err(ApiError::NotFound("agent"));
        }
    }
    let row = tx
        .query_one(
            "SELECT pgchat.desk_stats($1, $2, $3)",
            &[&range.from, &range.to, &agent_id],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}
