//! The one error type of the API. Each variant documents its status code; every
//! error answers `{"error": {"code", "message"}}`. Internal errors are logged
//! once, here, with their whole cause chain, and answered with an opaque message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a field is invalid.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: no token, or a token that does not verify.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: we know who you are and you may not do this.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: absent, or not visible to you (never reveals that a foreign row exists).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405: the path exists, not with this method.
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// 409: the request conflicts with the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: the body or frame is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed, but not acceptable.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 429: slow down; retry after the given seconds.
    #[error("rate limited; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 503: the database is unreachable right now; retrying is safe.
    #[error("{0}")]
    Unavailable(String),
    /// 503: a statement ran past the statement timeout
    /// (`PGCHAT_STATEMENT_TIMEOUT_MS`), or the request was cancelled.
    #[error("the request took too long and was stopped; retry later or ask for less")]
    Timeout,
    /// 503: this node's queue of sends is full; retrying (with the same
    /// client_msg_id) is safe, and refusing at once keeps accepted sends fast.
    #[error("the server is overloaded; retry shortly")]
    Overloaded,
    /// 500: a bug or an unexpected failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Overloaded | Self::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Internal(_) => "internal",
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    /// `{"code", "message"}`: the body of an HTTP error and of a WebSocket error frame.
    pub fn body(&self) -> serde_json::Value {
        json!({ "code": self.code(), "message": self.public_message() })
    }

    /// Seconds a client should wait before retrying, where retrying makes sense.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::Unavailable(_) | Self::Overloaded | Self::Timeout => Some(1),
            _ => None,
        }
    }

    /// Logs internal errors; called wherever an error leaves the server.
    pub fn log(&self) {
        if let Self::Internal(error) = self {
            tracing::error!(error = format!("{error:#}"), "internal error");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let mut response =
            (self.status(), axum::Json(json!({ "error": self.body() }))).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The SQLSTATE of a rule the database refuses by name:
/// `RAISE EXCEPTION USING ERRCODE = 'PC001', MESSAGE = '<for people>', DETAIL = '<code>'`.
const REFUSED: &str = "PC001";

/// Each refusal's code (its DETAIL) and what it answers; the message is the database's.
type Refusal = fn(&'static str, String) -> ApiError;
const REFUSALS: &[(&str, Refusal)] = &[
    ("too_many_open_sessions", ApiError::conflict),
    ("query_too_complex", ApiError::unprocessable),
    // the write rule (pgchat.write_refusal, pgchat.message_write_check)
    ("not_found", |_, _| ApiError::NotFound("conversation")),
    ("session_ended", ApiError::conflict),
    ("not_assigned", ApiError::forbidden),
    // handing a session to an agent (pgchat.desk_reassign)
    ("session_not_active", ApiError::conflict),
    ("same_agent", ApiError::conflict),
    ("unknown_agent", ApiError::unprocessable),
    ("agent_disabled", ApiError::conflict),
    ("agent_at_capacity", ApiError::conflict),
    ("not_a_participant", ApiError::forbidden),
    ("silenced", ApiError::forbidden),
    ("read_only", ApiError::forbidden),
    ("staff_only", ApiError::forbidden),
    ("invalid_reply_to", ApiError::unprocessable),
    // room membership (pgchat.tg_member_rules)
    ("banned", ApiError::forbidden),
    ("not_yourself", ApiError::forbidden),
    ("not_yours", ApiError::forbidden),
    ("last_owner", ApiError::conflict),
    ("user_banned", ApiError::conflict),
    ("not_a_member", ApiError::forbidden),
    ("invites_disabled", ApiError::forbidden),
    ("role_too_high", ApiError::forbidden),
    ("not_a_moderator", ApiError::forbidden),
    ("outranked", ApiError::forbidden),
    ("room_full", ApiError::conflict),
    ("user_not_found", |_, _| ApiError::NotFound("user")),
    // another's inbox, as a topic (pgchat.may_subscribe)
    ("topic_not_found", |_, _| ApiError::NotFound("topic")),
    ("already_member", ApiError::conflict),
    ("not_room_admin", ApiError::forbidden),
    // room admission and profile (sql/45_rooms.sql, migrations/V23)
    ("approval_required", ApiError::forbidden),
    ("approval_not_required", ApiError::conflict),
    ("not_an_image", ApiError::unprocessable),
    // role gates (pgchat.gate, sql/41_role_gates.sql); staff_only is above
    ("admins_only", ApiError::forbidden),
    ("customers_only", ApiError::forbidden),
    ("not_staff", ApiError::unprocessable),
    // a room's size (pgchat.room_size_check)
    ("group_too_large", ApiError::unprocessable),
    ("group_needs_members", ApiError::unprocessable),
    ("too_many_members", ApiError::unprocessable),
    // uploads and the messages that carry them (sql/70_attachments.sql)
    ("forbidden", ApiError::forbidden),
    ("uploads_disabled", ApiError::forbidden),
    ("payload_too_large", |_, message| {
        ApiError::PayloadTooLarge(message)
    }),
    ("not_uploader", ApiError::forbidden),
    ("invalid_attachment", ApiError::unprocessable),
    ("attachment_not_ready", ApiError::conflict),
    ("attachment_in_use", ApiError::conflict),
    ("kind_mismatch", ApiError::unprocessable),
    ("mime_type_not_allowed", ApiError::unprocessable),
    // a support session's lifecycle (pgchat.tg_session_guard)
    ("invalid_transition", ApiError::conflict),
    ("invalid_snooze", ApiError::unprocessable),
    ("too_many_labels", ApiError::unprocessable),
    // routing a session to a team and escalating it (sql/63_teams.sql)
    ("not_your_team", ApiError::forbidden),
    ("unknown_team", ApiError::unprocessable),
    ("priority_lowered", ApiError::unprocessable),
    ("escalation_limit", ApiError::conflict),
    // business hours (sql/64_business_hours.sql)
    ("invalid_time_zone", ApiError::unprocessable),
    // a contact's attributes (sql/62_email.sql)
    ("too_many_attributes", ApiError::unprocessable),
    // the settings screen (sql/66_desk_admin.sql)
    ("unknown_placeholder", ApiError::unprocessable),
    ("nothing_to_change", ApiError::bad_request),
    // reports (sql/65_reports.sql)
    ("invalid_group_by", ApiError::bad_request),
    ("invalid_range", ApiError::bad_request),
    // a message of a file's kind without its file (pgchat.message_insert_rules)
    ("attachment_required", ApiError::unprocessable),
    // a support session's rating (pgchat.tg_session_guard)
    ("customer_only", ApiError::forbidden),
    ("session_not_ended", ApiError::conflict),
    ("already_rated", ApiError::conflict),
    // what happens to a message (pgchat.tg_message_rules, pgchat.tg_reaction_rules)
    ("not_your_message", ApiError::forbidden),
    ("message_deleted", ApiError::conflict),
    ("not_editable", ApiError::unprocessable),
    ("cannot_write", ApiError::forbidden),
    ("cannot_react", ApiError::forbidden),
    ("too_many_reactions", ApiError::unprocessable),
    // polls (sql/46_polls.sql)
    ("poll_required", ApiError::unprocessable),
    ("invalid_poll", ApiError::unprocessable),
    ("not_a_poll", ApiError::unprocessable),
    ("poll_closed", ApiError::conflict),
    ("invalid_poll_vote", ApiError::unprocessable),
    // moderation (sql/47_moderation.sql)
    ("moderation_rejected", ApiError::unprocessable),
    ("invalid_pattern", ApiError::unprocessable),
    ("already_decided", ApiError::conflict),
    // languages and auto-translation (sql/77_translation.sql)
    ("invalid_lang", ApiError::unprocessable),
    ("too_many_languages", ApiError::unprocessable),
    ("auto_translate_needs_ai", ApiError::unprocessable),
];

/// The one place where database errors become API errors.
impl From<tokio_postgres::Error> for ApiError {
    fn from(error: tokio_postgres::Error) -> Self {
        let Some(db) = error.as_db_error() else {
            // No server error: the connection failed (closed, refused, reset),
            // which is worth retrying; anything else is a bug of ours.
            let io = std::error::Error::source(&error).is_some_and(|s| s.is::<std::io::Error>());
            if error.is_closed() || io {
                return Self::Unavailable("database connection lost; retry".into());
            }
            return Self::Internal(anyhow::Error::new(error).context("database"));
        };
        let message = db.message().to_owned();
        let code = db.code();
        let refusal = (code.code() == REFUSED)
            .then(|| REFUSALS.iter().find(|(c, _)| Some(*c) == db.detail()))
            .flatten();
        if let Some((code, refusal)) = refusal {
            refusal(code, message)
        } else if *code == SqlState::QUERY_CANCELED {
            Self::Timeout
        } else if *code == SqlState::UNIQUE_VIOLATION {
            Self::conflict("conflict", "that already exists")
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            Self::unprocessable("invalid_reference", "a referenced row does not exist")
        } else if *code == SqlState::CHECK_VIOLATION || *code == SqlState::NOT_NULL_VIOLATION {
            Self::unprocessable("constraint_violated", message)
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            // PostgreSQL's own refusal (a policy, a grant): our rules say why
            // with a refusal above, so its text is not shown.
            Self::forbidden("forbidden", "you may not do that here")
        } else if *code == SqlState::INVALID_TEXT_REPRESENTATION
            || *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
            || *code == SqlState::UNTRANSLATABLE_CHARACTER
            || *code == SqlState::DATETIME_VALUE_OUT_OF_RANGE
        {
            Self::bad_request("invalid_input", message)
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || code.code().starts_with("08")
            // too many connections, out of memory or disk; the server going away
            || code.code().starts_with("53")
            || code.code().starts_with("57P")
        {
            Self::Unavailable("database busy or restarting; retry".into())
        } else {
            Self::Internal(anyhow::Error::new(error).context("database"))
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            // Opening a new connection failed: the database is down, unreachable,
            // full (too many connections) or refusing this database. Never the
            // request's fault, and worth retrying.
            deadpool_postgres::PoolError::Backend(e) => {
                tracing::warn!(error = %e, "database connect");
                Self::Unavailable("database unavailable; retry".into())
            }
            other => {
                tracing::warn!(error = %other, "database pool");
                Self::Unavailable("database unavailable; retry".into())
            }
        }
    }
}
