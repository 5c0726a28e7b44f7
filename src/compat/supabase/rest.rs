//! `/rest/v1/{table}`: the PostgREST subset supabase-js' query builder uses on
//! the chat tables, run as the caller (`Authorization: Bearer <user token>`;
//! the project's `apikey` header is checked too). GET reads with `select=`
//! column lists, filters (`eq`, `neq`, `lt`, `lte`, `gt`, `gte`, `in`, `is`,
//! `not.`), `order`, `limit`, `offset` or a `Range` header, `Prefer:
//! count=exact`, and `Accept: application/vnd.pgrst.object+json` (`.single()`);
//! POST inserts into `chat_messages` — one row, or an array all or nothing
//! in one transaction — through pgchat's send service (dedupe by
//! client_msg_id, rules, NOTIFY), so the message is delivered everywhere; PATCH updates the rows its filters select.
//! Errors are PostgREST's JSON: `{code, message, details, hint}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::Identity;
use crate::compat::supabase::schema::{Filter, Table};
use crate::compat::supabase::tables::{self, Order, Read};
use crate::compat::supabase::SupabaseState;
use crate::domain::{MessageBody, MessageKind};
use crate::error::ApiError;
use crate::service::send::NewMessage;

/// Most rows one read returns (PostgREST's `max-rows`).
const MAX_ROWS: i64 = 1000;

/// A PostgREST-shaped error.
pub struct RestError {
    status: StatusCode,
    code: String,
    message: String,
    details: Option<String>,
    hint: Option<String>,
}

impl RestError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
            hint: None,
        }
    }

    /// A request PostgREST could not parse.
    fn parse(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "PGRST100", message)
    }

    fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Which row of an array insert was refused (nothing of it was written).
    fn at_row(mut self, index: usize, rows: usize) -> Self {
        if rows > 1 {
            self.details = Some(format!(
                "row {} of {rows} was refused; nothing was inserted",
                index + 1
            ));
        }
        self
    }
}

/// pgchat's errors in PostgREST's shape: the SQLSTATE PostgREST would pass
/// on where there is one, pgchat's own code otherwise.
impl From<ApiError> for RestError {
    fn from(error: ApiError) -> Self {
        error.log();
        let code = match &error {
            ApiError::Unauthorized(_) => "PGRST301",
            ApiError::Forbidden { .. } => "42501",
            ApiError::Conflict { .. } => "23505",
            ApiError::NotFound(_) => "PGRST116",
            ApiError::Unprocessable {
                code: "invalid_reference",
                ..
            } => "23503",
            ApiError::Unprocessable {
                code: "constraint_violated",
                ..
            } => "23514",
            ApiError::BadRequest {
                code: "invalid_input",
                ..
            } => "22P02",
            other => other.code(),
        };
        Self::new(error.status(), code, error.public_message())
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code, "message": self.message, "details": self.details, "hint": self.hint,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

type Result<T> = std::result::Result<T, RestError>;

/// Checks the project key and verifies the user's token.
async fn caller(state: &SupabaseState, headers: &HeaderMap) -> Result<Identity> {
    let verifier = &state.realtime.verifier;
    let apikey = headers
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            RestError::new(
                StatusCode::UNAUTHORIZED,
                "PGRST301",
                "No API key found in request",
            )
            .hint("send the project's key in the apikey header")
        })?;
    verifier.verify_key(apikey).await?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or(apikey);
    Ok(verifier.verify(token.trim()).await?)
}

fn table(name: &str) -> Result<Table> {
    Table::parse(name).ok_or_else(|| {
        RestError::new(
            StatusCode::NOT_FOUND,
            "PGRST205",
            format!("Could not find the table 'public.{name}' in the schema cache"),
        )
        .hint(
            "served tables: chat_messages, live_chat_sessions, conversation_members, conversations",
        )
    })
}

/// `Prefer` tokens (`return=representation`, `count=exact`, …).
fn prefers(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == token)
}

/// `.single()`: one object instead of an array.
fn wants_object(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/vnd.pgrst.object+json"))
}

/// The query string, parsed: filters and the reserved parameters.
struct Query {
    select: Option<Vec<&'static str>>,
    filters: Vec<Filter>,
    order: Vec<Order>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn number(name: &str, value: &str) -> Result<i64> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| RestError::parse(format!("`{name}` is a number (≥ 0), not `{value}`")))
}

fn column_of(table: Table, name: &str) -> Result<&'static crate::compat::supabase::schema::Column> {
    table.column(name.trim().trim_matches('"')).ok_or_else(|| {
        RestError::new(
            StatusCode::BAD_REQUEST,
            "42703",
            format!("column {}.{} does not exist", table.name(), name.trim()),
        )
    })
}

fn parse_query(table: Table, raw: Option<&str>) -> Result<Query> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| RestError::parse(format!("invalid query string: {e}")))?;
    let mut query = Query {
        select: None,
        filters: Vec::new(),
        order: Vec::new(),
        limit: None,
        offset: None,
    };
    for (key, value) in pairs {
        match key.as_str() {
            "select" => {
                if value.contains('(') || value.contains(':') {
                    return Err(RestError::parse(
                        "select takes a list of columns here: no embedding, renaming or casts",
                    ));
                }
                let items: Vec<&str> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                if items.contains(&"*") {
                    continue;
                }
                let columns = items
                    .into_iter()
                    .map(|c| column_of(table, c).map(|c| c.name))
                    .collect::<Result<Vec<_>>>()?;
                query.select = Some(columns);
            }
            "order" => {
                for term in value.split(',') {
                    let mut parts = term.trim().split('.');
                    let column = column_of(table, parts.next().unwrap_or(""))?;
                    if column.sql.is_none() {
                        return Err(RestError::parse(format!(
                            "cannot order by the computed column {}",
                            column.name
                        )));
                    }
                    let mut order = Order {
                        column,
                        descending: false,
                        nulls_first: None,
                    };
                    for modifier in parts {
                        match modifier {
                            "asc" => order.descending = false,
                            "desc" => order.descending = true,
                            "nullsfirst" => order.nulls_first = Some(true),
                            "nullslast" => order.nulls_first = Some(false),
                            other => {
                                return Err(RestError::parse(format!(
                                    "unknown order modifier `{other}`"
                                )))
                            }
                        }
                    }
                    query.order.push(order);
                }
            }
            "limit" => query.limit = Some(number("limit", &value)?),
            "offset" => query.offset = Some(number("offset", &value)?),
            // supabase-js names an insert's columns; the body says it all
            "columns" => {}
            "and" | "or" => {
                return Err(RestError::parse(
                    "`and`/`or` groups are not supported: combine filters with &",
                ))
            }
            column => {
                let col = column_of(table, column)?;
                let filter =
                    Filter::parse(table, col.name, &value, false).map_err(RestError::parse)?;
                query.filters.push(filter);
            }
        }
    }
    Ok(query)
}

/// `Range: 0-9` (items) → (offset, limit).
fn range(headers: &HeaderMap) -> Result<Option<(i64, i64)>> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let bad = || {
        RestError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "PGRST103",
            format!("Requested range not satisfiable: {value}"),
        )
    };
    let spec = value.trim().strip_prefix("items=").unwrap_or(value.trim());
    let (from, to) = spec.split_once('-').ok_or_else(bad)?;
    let from: i64 = from.parse().map_err(|_| bad())?;
    let to = if to.is_empty() {
        None
    } else {
        Some(to.parse::<i64>().map_err(|_| bad())?)
    };
    match to {
        Some(to) if to < from => Err(bad()),
        Some(to) => Ok(Some((from, to - from + 1))),
        None => Ok(Some((from, MAX_ROWS))),
    }
}

/// Keeps the selected columns of each row.
fn project(rows: Vec<Value>, select: &Option<Vec<&'static str>>) -> Vec<Value> {
    let Some(columns) = select else {
        return rows;
    };
    rows.into_iter()
        .map(|row| {
            let map: Map<String, Value> = columns
                .iter()
                .map(|c| (c.to_string(), row[*c].clone()))
                .collect();
            Value::Object(map)
        })
        .collect()
}

/// Rows as PostgREST answers them: an array, or one object for `.single()`.
fn rows_response(
    status: StatusCode,
    headers: &HeaderMap,
    rows: Vec<Value>,
    range: Option<String>,
) -> Result<Response> {
    let body = if wants_object(headers) {
        if rows.len() != 1 {
            return Err(RestError::new(
                StatusCode::NOT_ACCEPTABLE,
                "PGRST116",
                "JSON object requested, multiple (or no) rows returned",
            )
            .hint(&format!("The result contains {} rows", rows.len())));
        }
        rows.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(rows)
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(range) = range.and_then(|r| HeaderValue::from_str(&r).ok()) {
        response.headers_mut().insert(header::CONTENT_RANGE, range);
    }
    Ok(response)
}

pub async fn get(
    State(state): State<SupabaseState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response> {
    let caller = caller(&state, &headers).await?;
    let table = table(&name)?;
    let query = parse_query(table, uri.query())?;
    let (mut offset, mut limit) = (query.offset.unwrap_or(0), query.limit.unwrap_or(MAX_ROWS));
    if let Some((from, count)) = range(&headers)? {
        offset = from;
        limit = limit.min(count);
    }
    let read = Read {
        table,
        filters: query.filters,
        order: query.order,
        limit: limit.min(MAX_ROWS),
        offset,
        count: prefers(&headers, "count=exact"),
    };
    let (rows, total) = tables::read(&state.realtime.db, &caller, &read).await?;
    let total_text = total.map_or("*".to_owned(), |t| t.to_string());
    let content_range = if rows.is_empty() {
        format!("*/{total_text}")
    } else {
        format!("{}-{}/{total_text}", offset, offset + rows.len() as i64 - 1)
    };
    let status = if total.is_some_and(|t| t > offset + rows.len() as i64) {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    rows_response(
        status,
        &headers,
        project(rows, &query.select),
        Some(content_range),
    )
}

/// Columns a client may give when inserting a message (the rest is the server's).
const MESSAGE_INPUT: &[&str] = &[
    "id",
    "client_msg_id",
    "conversation_id",
    "body",
    "kind",
    "reply_to",
    "internal",
    "attachment_id",
    "sender_id",
    "sender_role",
];

/// One row of an insert into chat_messages, as a send.
fn new_message(caller: &Identity, row: &Value) -> Result<(Uuid, NewMessage)> {
    let object = row
        .as_object()
        .ok_or_else(|| RestError::parse("each row is a JSON object"))?;
    if let Some(key) = object.keys().find(|k| !MESSAGE_INPUT.contains(&k.as_str())) {
        return Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "PGRST204",
            format!("Could not find the '{key}' column of 'chat_messages' in the schema cache"),
        )
        .hint("the server sets it; a message takes conversation_id, body, kind, reply_to, internal, attachment_id, client_msg_id"));
    }
    let invalid = |field: &str, why: String| {
        RestError::new(StatusCode::BAD_REQUEST, "22P02", format!("{field}: {why}"))
    };
    let uuid = |field: &str| -> Result<Option<Uuid>> {
        match &row[field] {
            Value::Null => Ok(None),
            Value::String(s) => Uuid::parse_str(s)
                .map(Some)
                .map_err(|_| invalid(field, "not a uuid".into())),
            _ => Err(invalid(field, "not a uuid".into())),
        }
    };
    // The sender is the caller: a row naming someone else is refused like RLS refuses it.
    let sender_ok = row["sender_id"].is_null() || row["sender_id"] == json!(caller.sub);
    let role_ok = row["sender_role"].is_null() || row["sender_role"] == json!(caller.role.as_str());
    if !sender_ok || !role_ok {
        return Err(RestError::new(
            StatusCode::FORBIDDEN,
            "42501",
            "new row violates row-level security policy for table \"chat_messages\"",
        ));
    }
    let conversation = uuid("conversation_id")?.ok_or_else(|| {
        RestError::new(
            StatusCode::BAD_REQUEST,
            "23502",
            "null value in column \"conversation_id\" violates not-null constraint",
        )
    })?;
    let body = match &row["body"] {
        Value::String(s) => MessageBody::try_from(s.clone()).map_err(|e| invalid("body", e))?,
        _ => {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "23502",
                "null value in column \"body\" violates not-null constraint",
            ))
        }
    };
    let kind = match &row["kind"] {
        Value::Null => MessageKind::default(),
        Value::String(s) => s.parse().map_err(|e| invalid("kind", e))?,
        _ => return Err(invalid("kind", "a string".into())),
    };
    let internal = match &row["internal"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => return Err(invalid("internal", "a boolean".into())),
    };
    // An optimistic UI's own id is the dedupe key: a retry returns the stored message.
    let client_msg_id = uuid("client_msg_id")?
        .or(uuid("id")?)
        .unwrap_or_else(Uuid::new_v4);
    Ok((
        conversation,
        NewMessage {
            client_msg_id,
            body,
            kind,
            reply_to: uuid("reply_to")?,
            internal,
            attachment_id: uuid("attachment_id")?,
            poll: None,
        },
    ))
}

pub async fn post(
    State(state): State<SupabaseState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Result<Response> {
    let caller = caller(&state, &headers).await?;
    let table = table(&name)?;
    let query = parse_query(table, uri.query())?;
    if table != Table::Messages {
        return Err(RestError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "PGRST105",
            format!("inserting into {} is not supported here", table.name()),
        )
        .hint(
            "open support sessions with POST /v1/support/sessions and rooms with POST /v1/rooms",
        ));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        RestError::new(
            StatusCode::BAD_REQUEST,
            "PGRST102",
            format!("Empty or invalid json: {e}"),
        )
    })?;
    let sender = &state.realtime.sends;
    let stored = match value {
        Value::Array(rows) if rows.is_empty() => {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "PGRST102",
                "an empty array inserts nothing",
            ))
        }
        // An array is one statement for PostgREST, so all or nothing here too.
        Value::Array(rows) => {
            let sends = rows
                .iter()
                .enumerate()
                .map(|(i, row)| new_message(&caller, row).map_err(|e| e.at_row(i, rows.len())))
                .collect::<Result<Vec<_>>>()?;
            sender
                .send_all(&caller, sends)
                .await
                .map_err(|(i, e)| RestError::from(e).at_row(i, rows.len()))?
                .into_iter()
                .map(|sent| sent.message)
                .collect()
        }
        row => {
            let (conversation, new) = new_message(&caller, &row)?;
            vec![sender.send(&caller, conversation, new).await?.message]
        }
    };
    if !prefers(&headers, "return=representation") {
        return Ok(StatusCode::CREATED.into_response());
    }
    rows_response(
        StatusCode::CREATED,
        &headers,
        project(stored, &query.select),
        None,
    )
}

pub async fn patch(
    State(state): State<SupabaseState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Result<Response> {
    let caller = caller(&state, &headers).await?;
    let table = table(&name)?;
    let query = parse_query(table, uri.query())?;
    if query.filters.is_empty() {
        return Err(
            RestError::new(StatusCode::BAD_REQUEST, "21000", "an update needs a filter")
                .hint("add a filter such as id=eq.<id>"),
        );
    }
    let set = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(set)) if !set.is_empty() => set,
        _ => {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "PGRST102",
                "PATCH takes a JSON object of columns",
            ))
        }
    };
    for key in set.keys() {
        let column = column_of(table, key)?;
        if column.sql.is_none() {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "PGRST204",
                format!("the column '{key}' is computed and cannot be written"),
            ));
        }
    }
    let rows = tables::update(&state.realtime.db, &caller, table, &query.filters, set).await?;
    if !prefers(&headers, "return=representation") {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    rows_response(StatusCode::OK, &headers, project(rows, &query.select), None)
}

/// Methods of PostgREST this subset does not serve.
pub async fn other(method: Method) -> RestError {
    RestError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "PGRST105",
        format!("{method} is not supported on /rest/v1"),
    )
    .hint("pgchat keeps messages as tombstones: PATCH deleted_at, or use pgchat's API (/v1/messages/{id})")
}
