//! The chat tables as a Supabase app sees them, for realtime records and REST
//! rows alike: each table's columns are the keys of pgchat's wire JSON of its
//! rows (`sql/05_json.sql`), so a row reads the same over postgres_changes, over
//! `/rest/v1` and over pgchat's own API. Each column has the PostgreSQL type
//! named in a change's `columns` and, when it can be filtered or ordered on in
//! SQL, the expression that reads it from the table (`t`) exactly as the wire
//! JSON shows it: an anonymous post's sender is NULL there too, so a filter
//! cannot find out who wrote it.
//!
//! Filters (`column=op.value`) are parsed here once and used twice: on the
//! record of a live change (in Rust) and in a REST query (bound parameters).

use serde_json::Value;

/// A table of the compatibility layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Messages,
    Sessions,
    Members,
    Conversations,
}

/// One column: its name, PostgreSQL type, and SQL expression over the table
/// row `t` (None: delivered, but not filterable).
pub struct Column {
    pub name: &'static str,
    pub pg_type: &'static str,
    pub sql: Option<&'static str>,
}

const fn col(name: &'static str, pg_type: &'static str, sql: &'static str) -> Column {
    Column {
        name,
        pg_type,
        sql: Some(sql),
    }
}

const fn shown(name: &'static str, pg_type: &'static str) -> Column {
    Column {
        name,
        pg_type,
        sql: None,
    }
}

const MESSAGES: &[Column] = &[
    col("id", "uuid", "t.id"),
    col("conversation_id", "uuid", "t.conversation_id"),
    col("seq", "int8", "t.seq"),
    col("change_seq", "int8", "t.change_seq"),
    col(
        "sender_id",
        "text",
        "CASE WHEN t.anonymous THEN NULL ELSE t.sender_id END",
    ),
    col("sender_role", "text", "t.sender_role"),
    shown("sender_name", "text"),
    col("client_msg_id", "uuid", "t.client_msg_id"),
    col("kind", "text", "t.kind"),
    col(
        "body",
        "text",
        "CASE WHEN t.deleted_at IS NULL THEN t.body ELSE '' END",
    ),
    col("reply_to", "uuid", "t.reply_to"),
    shown("reply_preview", "jsonb"),
    col("internal", "bool", "t.internal"),
    shown("attachment", "jsonb"),
    shown("reactions", "jsonb"),
    col("anonymous", "bool", "t.anonymous"),
    col(
        "metadata",
        "jsonb",
        "CASE WHEN t.sender_role = 'system' AND t.deleted_at IS NULL THEN t.metadata END",
    ),
    col("pinned_at", "timestamptz", "t.pinned_at"),
    col("pinned_by", "text", "t.pinned_by"),
    col("created_at", "timestamptz", "t.created_at"),
    col("edited_at", "timestamptz", "t.edited_at"),
    col("deleted_at", "timestamptz", "t.deleted_at"),
    col(
        "deleted_by",
        "text",
        "CASE WHEN t.anonymous THEN NULL ELSE t.deleted_by END",
    ),
];

const SESSIONS: &[Column] = &[
    col("id", "uuid", "t.id"),
    col("conversation_id", "uuid", "t.conversation_id"),
    col("status", "text", "t.status"),
    col("customer_id", "text", "t.customer_id"),
    shown("customer_name", "text"),
    col("agent_id", "text", "t.agent_id"),
    shown("agent_name", "text"),
    col("subject", "text", "t.subject"),
    col("category", "text", "t.category"),
    col("priority", "text", "t.priority"),
    col("change_seq", "int8", "t.change_seq"),
    col("started_at", "timestamptz", "t.started_at"),
    col("assigned_at", "timestamptz", "t.assigned_at"),
    col("first_response_at", "timestamptz", "t.first_response_at"),
    col("ended_at", "timestamptz", "t.ended_at"),
    col("ended_by", "text", "t.ended_by"),
    col("ended_reason", "text", "t.ended_reason"),
    shown("first_response_due_at", "timestamptz"),
    shown("sla_breached", "bool"),
    col("rating", "int2", "t.rating"),
    col("feedback", "text", "t.feedback"),
    col("rated_at", "timestamptz", "t.rated_at"),
];

const MEMBERS: &[Column] = &[
    col("conversation_id", "uuid", "t.conversation_id"),
    col("user_id", "text", "t.user_id"),
    shown("name", "text"),
    col("role", "text", "t.role"),
    col("banned", "bool", "t.banned"),
    shown("silenced", "bool"),
    shown("silenced_until", "timestamptz"),
    col("last_read_seq", "int8", "t.last_read_seq"),
    col("last_delivered_seq", "int8", "t.last_delivered_seq"),
    col("change_seq", "int8", "t.change_seq"),
    col("joined_at", "timestamptz", "t.joined_at"),
    col("left_at", "timestamptz", "t.left_at"),
];

const CONVERSATIONS: &[Column] = &[
    col("id", "uuid", "t.id"),
    col("kind", "text", "t.kind"),
    col("title", "text", "t.title"),
    col("description", "text", "t.description"),
    shown("settings", "jsonb"),
    col("created_by", "text", "t.created_by"),
    col("created_at", "timestamptz", "t.created_at"),
    col("change_seq", "int8", "t.change_seq"),
    col("last_seq", "int8", "t.last_seq"),
    col("last_message_seq", "int8", "t.last_message_seq"),
    col("last_message_at", "timestamptz", "t.last_message_at"),
    shown("type", "text"),
    shown("name", "text"),
];

impl Table {
    pub const ALL: [Table; 4] = [
        Table::Messages,
        Table::Sessions,
        Table::Members,
        Table::Conversations,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Messages => "chat_messages",
            Self::Sessions => "live_chat_sessions",
            Self::Members => "conversation_members",
            Self::Conversations => "conversations",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Self::Messages => MESSAGES,
            Self::Sessions => SESSIONS,
            Self::Members => MEMBERS,
            Self::Conversations => CONVERSATIONS,
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// The primary key (what an UPDATE's `old_record` carries, as in Supabase).
    pub fn primary_key(self) -> &'static [&'static str] {
        match self {
            Self::Members => &["conversation_id", "user_id"],
            _ => &["id"],
        }
    }

    /// `[{name, type}]`: a change's `columns`.
    pub fn columns_json(self) -> Value {
        Value::Array(
            self.columns()
                .iter()
                .map(|c| serde_json::json!({ "name": c.name, "type": c.pg_type }))
                .collect(),
        )
    }
}

/// A comparison of PostgREST and of realtime filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    Is,
}

impl Op {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Self::Eq,
            "neq" => Self::Neq,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "in" => Self::In,
            "is" => Self::Is,
            _ => return None,
        })
    }

    pub fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Neq => "<>",
            Self::Lt => "<",
            Self::Lte => "<=",
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::In => "= ANY",
            Self::Is => "IS",
        }
    }
}

/// `is.` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsValue {
    Null,
    True,
    False,
}

/// One filter on one column.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub column: &'static Column,
    pub op: Op,
    /// The value(s) as text (several for `in`); empty for `is`.
    pub values: Vec<String>,
    pub is: Option<IsValue>,
    pub negated: bool,
}

impl PartialEq for Column {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl std::fmt::Debug for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Most values of one `in` list.
pub const MAX_IN: usize = 100;

impl Filter {
    /// `op.value` on `column` (PostgREST's query form; `not.` negates);
    /// realtime filters are `column=op.value` and come through [`Filter::parse_binding`].
    pub fn parse(table: Table, column: &str, expr: &str, realtime: bool) -> Result<Self, String> {
        let col = table
            .column(column)
            .ok_or_else(|| format!("column {}.{column} does not exist", table.name()))?;
        if col.sql.is_none() {
            return Err(format!(
                "column {}.{column} is computed and cannot be filtered on",
                table.name()
            ));
        }
        let (negated, expr) = match expr.strip_prefix("not.") {
            Some(rest) if !realtime => (true, rest),
            _ => (false, expr),
        };
        let (op, value) = expr
            .split_once('.')
            .ok_or_else(|| format!("`{expr}` is not `operator.value`"))?;
        let op = Op::parse(op).ok_or_else(|| format!("unknown operator `{op}`"))?;
        let mut filter = Filter {
            column: col,
            op,
            values: Vec::new(),
            is: None,
            negated,
        };
        match op {
            Op::Is if realtime => return Err("realtime filters have no `is`".into()),
            Op::Is => {
                filter.is = Some(match value.to_ascii_lowercase().as_str() {
                    "null" => IsValue::Null,
                    "true" => IsValue::True,
                    "false" => IsValue::False,
                    _ => return Err(format!("`is.{value}`: use null, true or false")),
                })
            }
            Op::In => {
                let list = value
                    .strip_prefix('(')
                    .and_then(|v| v.strip_suffix(')'))
                    .ok_or_else(|| format!("`in.{value}`: write in.(a,b,c)"))?;
                filter.values = split_list(list);
                if filter.values.is_empty() || filter.values.len() > MAX_IN {
                    return Err(format!("`in` takes 1 to {MAX_IN} values"));
                }
            }
            _ => filter.values = vec![unquote(value)],
        }
        Ok(filter)
    }

    /// A realtime binding's `column=op.value`.
    pub fn parse_binding(table: Table, text: &str) -> Result<Self, String> {
        let (column, expr) = text
            .split_once('=')
            .ok_or_else(|| format!("filter `{text}` is not `column=operator.value`"))?;
        Self::parse(table, column, expr, true)
    }

    /// Does a record (a wire row) pass? Compares as the column's type:
    /// numbers as numbers, everything else as text (RFC 3339 timestamps in UTC
    /// order as text). NULL passes no comparison, as in SQL.
    pub fn matches(&self, record: &Value) -> bool {
        let value = &record[self.column.name];
        let passed = match (self.op, self.is) {
            (Op::Is, Some(IsValue::Null)) => value.is_null(),
            (Op::Is, Some(IsValue::True)) => value == &Value::Bool(true),
            (Op::Is, Some(IsValue::False)) => value == &Value::Bool(false),
            _ if value.is_null() => return false,
            (Op::In, _) => self
                .values
                .iter()
                .any(|v| compare(value, v) == Some(std::cmp::Ordering::Equal)),
            (op, _) => {
                let Some(order) = self.values.first().and_then(|v| compare(value, v)) else {
                    return false;
                };
                use std::cmp::Ordering::*;
                match op {
                    Op::Eq => order == Equal,
                    Op::Neq => order != Equal,
                    Op::Lt => order == Less,
                    Op::Lte => order != Greater,
                    Op::Gt => order == Greater,
                    Op::Gte => order != Less,
                    Op::In | Op::Is => false,
                }
            }
        };
        passed != self.negated
    }
}

/// How a JSON value compares with a filter's text.
fn compare(value: &Value, text: &str) -> Option<std::cmp::Ordering> {
    match value {
        Value::Number(n) => n.as_f64()?.partial_cmp(&text.parse::<f64>().ok()?),
        Value::Bool(b) => Some(b.cmp(&text.parse::<bool>().ok()?)),
        Value::String(s) => Some(s.as_str().cmp(text)),
        _ => None,
    }
}

/// `a,"b,c",d` → [a, b,c, d] (PostgREST quotes values holding commas).
fn split_list(list: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => current.extend(chars.next()),
            ',' if !quoted => values.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    values.push(current);
    values.retain(|v| !v.is_empty());
    values
}

fn unquote(value: &str) -> String {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_parse_and_match_records() {
        let t = Table::Messages;
        let row = json!({ "seq": 5, "kind": "text", "internal": false, "edited_at": null });
        let check = |text: &str| Filter::parse_binding(t, text).unwrap().matches(&row);
        assert!(check("seq=eq.5"));
        assert!(
            check("seq=gt.4") && check("seq=gte.5") && check("seq=lt.10") && check("seq=lte.5")
        );
        assert!(!check("seq=neq.5"));
        assert!(check("kind=in.(image,text)"));
        assert!(!check("kind=in.(image,\"te,xt\")"));
        assert!(!check("edited_at=eq.x") && !check("edited_at=neq.x"));
        assert!(check("internal=eq.false"));
        assert!(Filter::parse_binding(t, "nope=eq.1").is_err());
        assert!(Filter::parse_binding(t, "sender_name=eq.a").is_err());
        assert!(Filter::parse_binding(t, "seq=like.1").is_err());
        assert!(Filter::parse_binding(t, "seq").is_err());
        assert!(Filter::parse_binding(t, "edited_at=is.null").is_err());
        let rest = Filter::parse(t, "edited_at", "is.null", false).unwrap();
        assert!(rest.matches(&row));
        let not = Filter::parse(t, "seq", "not.eq.5", false).unwrap();
        assert!(!not.matches(&row));
    }
}
