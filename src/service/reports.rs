//! `GET /v1/admin/reports`: the desk's figures over a date range, grouped by
//! day, week, agent, team or label, as JSON or CSV. Both are built in SQL
//! (`pgchat.desk_report`, sql/65_reports.sql), which also refuses anyone but
//! an admin and a bad grouping or range, with their reasons.

use chrono::{DateTime, Duration, Utc};

use crate::auth::Identity;
use crate::db::Db;
use crate::error::ApiError;
use crate::service::WireRow;

/// What the report is answered as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    pub fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text {
            None | Some("json") => Ok(Self::Json),
            Some("csv") => Ok(Self::Csv),
            Some(_) => Err(ApiError::bad_request(
                "invalid_format",
                "format is json or csv",
            )),
        }
    }
}

/// A report's range: `to` defaults to now, `from` to 30 days before `to`;
/// either given must be an RFC 3339 time (`invalid_range`; the database
/// checks the order and the span).
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let parse = |name: &str, text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_range",
                    format!("{name} is an RFC 3339 time, e.g. 2026-11-01T00:00:00Z"),
                )
            })
    };
    let to = to
        .map(|t| parse("to", t))
        .transpose()?
        .unwrap_or_else(Utc::now);
    let from = from
        .map(|f| parse("from", f))
        .transpose()?
        .unwrap_or(to - Duration::days(30));
    Ok((from, to))
}

/// The report, as the caller (admins only: the database refuses others).
pub enum Report {
    Json(WireRow),
    Csv(String),
}

#[tracing::instrument(skip(db, caller), fields(user = %caller.sub))]
pub async fn report(
    db: &Db,
    caller: &Identity,
    range: (DateTime<Utc>, DateTime<Utc>),
    group_by: &str,
    format: Format,
) -> Result<Report, ApiError> {
    let (from, to) = range;
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let report = match format {
        Format::Json => Report::Json(
            tx.query_one(
                "SELECT pgchat.desk_report_json($1, $2, $3)",
                &[&from, &to, &group_by],
            )
            .await?
            .get(0),
        ),
        Format::Csv => Report::Csv(
            tx.query_one(
                "SELECT pgchat.desk_report_csv($1, $2, $3)",
                &[&from, &to, &group_by],
            )
            .await?
            .get(0),
        ),
    };
    tx.commit().await?;
    Ok(report)
}
