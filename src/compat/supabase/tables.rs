//! The adapter's service: reads and updates of the chat tables for the
//! PostgREST subset, run in the caller's transaction (`Db::begin_as`), so
//! row-level security decides which rows exist and the column grants and
//! guard triggers decide what may change — the database is the authority, as
//! on every other path. Rows come back in their wire shape (`sql/05_json.sql`),
//! the same JSON a `postgres_changes` record carries. Identifiers in the SQL
//! come only from `schema` (never from the request); values are bound.

use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;

use crate::auth::Identity;
use crate::compat::supabase::schema::{Column, Filter, IsValue, Op, Table};
use crate::db::Db;
use crate::error::ApiError;
use crate::limits::{self, Write};

/// One ORDER BY term.
#[derive(Debug)]
pub struct Order {
    pub column: &'static Column,
    pub descending: bool,
    /// None: PostgreSQL's default for the direction.
    pub nulls_first: Option<bool>,
}

/// A read: the table, its filters, order and page.
#[derive(Debug)]
pub struct Read {
    pub table: Table,
    pub filters: Vec<Filter>,
    pub order: Vec<Order>,
    pub limit: i64,
    pub offset: i64,
    /// Also count every matching row (`Prefer: count=exact`).
    pub count: bool,
}

/// The function giving a row's wire JSON.
fn wire(table: Table) -> &'static str {
    match table {
        Table::Messages => "pgchat.message_json(t)",
        Table::Sessions => "pgchat.session_json(t)",
        Table::Members => "pgchat.member_json(t)",
        Table::Conversations => "pgchat.room_json(t)",
    }
}

/// A bound parameter: one text value or a list.
enum Param {
    One(String),
    List(Vec<String>),
    Json(Value),
}

impl Param {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::One(v) => v,
            Self::List(v) => v,
            Self::Json(v) => v,
        }
    }
}

/// `WHERE …` of `filters`, numbering parameters after `params`.
fn conditions(filters: &[Filter], params: &mut Vec<Param>) -> String {
    let mut terms = Vec::new();
    for f in filters {
        let expr = f.column.sql.expect("filters are on SQL columns");
        let ty = f.column.pg_type;
        let term = match (f.op, f.is) {
            (Op::Is, Some(IsValue::Null)) => format!("({expr}) IS NULL"),
            (Op::Is, Some(IsValue::True)) => format!("({expr}) IS TRUE"),
            (Op::Is, _) => format!("({expr}) IS FALSE"),
            (Op::In, _) => {
                params.push(Param::List(f.values.clone()));
                format!("({expr}) = ANY(${}::text[]::{ty}[])", params.len())
            }
            (op, _) => {
                params.push(Param::One(f.values[0].clone()));
                format!("({expr}) {} ${}::text::{ty}", op.sql(), params.len())
            }
        };
        terms.push(if f.negated {
            format!("NOT ({term})")
        } else {
            term
        });
    }
    if terms.is_empty() {
        "true".into()
    } else {
        terms.join(" AND ")
    }
}

/// Rows of `read` as the caller sees them, and their total when counted.
pub async fn read(
    db: &Db,
    caller: &Identity,
    read: &Read,
) -> Result<(Vec<Value>, Option<i64>), ApiError> {
    let mut params = Vec::new();
    let table = read.table.name();
    let wher = conditions(&read.filters, &mut params);
    let order = if read.order.is_empty() {
        String::new()
    } else {
        let terms: Vec<String> = read
            .order
            .iter()
            .map(|o| {
                let nulls = match o.nulls_first {
                    Some(true) => " NULLS FIRST",
                    Some(false) => " NULLS LAST",
                    None => "",
                };
                let dir = if o.descending { "DESC" } else { "ASC" };
                format!(
                    "({}) {dir}{nulls}",
                    o.column.sql.expect("ordered on SQL columns")
                )
            })
            .collect();
        format!(" ORDER BY {}", terms.join(", "))
    };
    let page = format!(" LIMIT {} OFFSET {}", read.limit, read.offset);
    let sql = format!(
        "SELECT {} FROM {table} t WHERE {wher}{order}{page}",
        wire(read.table)
    );
    let bound: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let rows = tx.query(&sql, &bound).await?;
    let total = if read.count {
        let count = format!("SELECT count(*) FROM {table} t WHERE {wher}");
        Some(tx.query_one(&count, &bound).await?.get::<_, i64>(0))
    } else {
        None
    };
    tx.commit().await?;
    Ok((rows.iter().map(|r| r.get(0)).collect(), total))
}

/// Updates the rows `filters` select with `set` (column → JSON value),
/// returning them. PostgreSQL converts the values to the columns' types
/// (`jsonb_populate_record`); grants, policies and guards decide the rest.
pub async fn update(
    db: &Db,
    caller: &Identity,
    table: Table,
    filters: &[Filter],
    set: Map<String, Value>,
) -> Result<Vec<Value>, ApiError> {
    let write = match table {
        Table::Messages => Write::Edit,
        _ => Write::RoomWrite,
    };
    limits::check(db, write, caller)?;
    let columns: Vec<&str> = set.keys().map(String::as_str).collect();
    let list = columns.join(", ");
    let mut params = vec![Param::Json(Value::Object(set.clone()))];
    let wher = conditions(filters, &mut params);
    let name = table.name();
    let sql = format!(
        "UPDATE {name} t SET ({list}) = (SELECT {list} FROM jsonb_populate_record(NULL::{name}, $1))
          WHERE {wher} RETURNING {}",
        wire(table)
    );
    let bound: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
    let mut client = db.client().await?;
    let tx = db.begin_as(&mut client, caller).await?;
    let rows = tx.query(&sql, &bound).await?;
    tx.commit().await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
