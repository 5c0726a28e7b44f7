//! Client → server WebSocket frames: JSON text with `type` and an optional
//! `ref` echoed in the answer. Parsing never fails the connection: every
//! problem becomes an `error` frame naming it.

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::desk::PresenceStatus;
use crate::domain::poll::{Ballot, Poll};
use crate::domain::{Emoji, MessageBody, MessageIds, MessageKind, Since, StatusText};
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    Subscribe {
        topic: String,
        #[serde(default)]
        since: Option<Since>,
    },
    Unsubscribe {
        topic: String,
    },
    SendMessage {
        conversation_id: Uuid,
        client_msg_id: Uuid,
        /// Optional only for a poll, whose question is then its body.
        #[serde(default)]
        body: Option<MessageBody>,
        #[serde(default)]
        kind: MessageKind,
        #[serde(default)]
        reply_to: Option<Uuid>,
        #[serde(default)]
        internal: bool,
        #[serde(default)]
        attachment_id: Option<Uuid>,
        #[serde(default)]
        poll: Option<Poll>,
    },
    TypingStart {
        conversation_id: Uuid,
        /// Typing an internal note (staff only): customers are not told.
        #[serde(default)]
        internal: bool,
    },
    TypingStop {
        conversation_id: Uuid,
    },
    /// Up to `seq`, or up to the newest of `message_ids` (the REST body's two forms).
    MarkRead {
        conversation_id: Uuid,
        #[serde(default)]
        seq: Option<i64>,
        #[serde(default)]
        message_ids: Option<MessageIds>,
    },
    MarkDelivered {
        conversation_id: Uuid,
        seq: i64,
    },
    /// `status`, `status_text` (null clears it), or both.
    SetPresence {
        #[serde(default)]
        status: Option<PresenceStatus>,
        #[serde(default, deserialize_with = "crate::domain::nullable")]
        status_text: Option<Option<StatusText>>,
    },
    // ── the REST writes on a message, mirrored (the same service calls) ──
    React {
        message_id: Uuid,
        emoji: Emoji,
    },
    Unreact {
        message_id: Uuid,
        emoji: Emoji,
    },
    EditMessage {
        message_id: Uuid,
        body: MessageBody,
    },
    DeleteMessage {
        message_id: Uuid,
    },
    /// Delete for me (`DELETE /v1/messages/{id}/me`).
    HideMessage {
        message_id: Uuid,
    },
    Vote {
        message_id: Uuid,
        options: Ballot,
    },
    Unvote {
        message_id: Uuid,
    },
    ClosePoll {
        message_id: Uuid,
    },
    /// `PUT /v1/rooms/{id}/pins/{message_id}`; `room_id` or `conversation_id`.
    Pin {
        #[serde(alias = "room_id")]
        conversation_id: Uuid,
        message_id: Uuid,
    },
    Unpin {
        #[serde(alias = "room_id")]
        conversation_id: Uuid,
        message_id: Uuid,
    },
    AccessToken {
        token: String,
    },
    /// A struct variant, so that unknown fields are refused here too (a unit
    /// variant of an internally tagged enum ignores them).
    Ping {},
}

const TYPES: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "send_message",
    "typing_start",
    "typing_stop",
    "mark_read",
    "mark_delivered",
    "set_presence",
    "react",
    "unreact",
    "edit_message",
    "delete_message",
    "hide_message",
    "vote",
    "unvote",
    "close_poll",
    "pin",
    "unpin",
    "access_token",
    "ping",
];

/// A parsed frame: its `ref` (if any) and the command or what was wrong with it.
#[derive(Debug)]
pub struct Request {
    pub reference: Value,
    pub command: Result<Command, ApiError>,
}

pub fn parse(text: &str) -> Request {
    let mut value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            return Request {
                reference: Value::Null,
                command: Err(ApiError::bad_request(
                    "invalid_json",
                    format!("frame is not valid JSON: {e}"),
                )),
            }
        }
    };
    let Some(object) = value.as_object_mut() else {
        return Request {
            reference: Value::Null,
            command: Err(ApiError::bad_request(
                "invalid_frame",
                "a frame is a JSON object",
            )),
        };
    };
    // A ref is echoed back verbatim, so keep it small and simple.
    let reference = match object.remove("ref") {
        Some(r @ Value::Number(_)) => r,
        Some(Value::String(s)) if s.len() <= 128 => Value::String(s),
        Some(Value::Null) | None => Value::Null,
        Some(_) => {
            return Request {
                reference: Value::Null,
                command: Err(ApiError::bad_request(
                    "invalid_ref",
                    "ref must be a number or a string of at most 128 bytes",
                )),
            }
        }
    };
    let command = match object.get("type").and_then(Value::as_str) {
        None => Err(ApiError::bad_request(
            "invalid_frame",
            "a frame needs a string `type`",
        )),
        Some(t) if !TYPES.contains(&t) => Err(ApiError::bad_request(
            "unknown_type",
            format!("unknown frame type `{t}`"),
        )),
        Some(_) => shared_fields(object).and_then(|()| {
            serde_json::from_value(value)
                .map_err(|e| ApiError::bad_request("invalid_frame", e.to_string()))
        }),
    };
    Request { reference, command }
}

/// The fields a frame shares with the query strings of the other transports
/// are checked by their own type first, so a bad one has the same code
/// everywhere (`invalid_since`), not `invalid_frame`.
fn shared_fields(object: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    if let Some(since) = object.get("since").filter(|v| !v.is_null()) {
        Since::deserialize(since).map_err(|e| {
            ApiError::bad_request(
                crate::domain::invalid_field_code("since", "invalid_frame"),
                e.to_string(),
            )
        })?;
    }
    Ok(())
}

/// `{"type": "ack", "ref", ...fields}`
pub fn ack(reference: &Value, fields: Value) -> Value {
    let mut frame = json!({ "type": "ack", "ref": reference });
    if let (Some(frame), Value::Object(fields)) = (frame.as_object_mut(), fields) {
        frame.extend(fields);
    }
    frame
}

/// `{"type": "error", "ref", "code", "message"}` (plus `retry_after` when retrying helps).
pub fn error(reference: &Value, error: &ApiError) -> Value {
    error.log();
    let mut frame = json!({
        "type": "error", "ref": reference, "code": error.code(), "message": error.public_message(),
    });
    if let Some(secs) = error.retry_after() {
        frame["retry_after"] = json!(secs);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_ref() {
        let r = parse(r#"{"type":"subscribe","topic":"inbox","since":5,"ref":"a1"}"#);
        assert_eq!(r.reference, json!("a1"));
        assert!(matches!(
            r.command,
            Ok(Command::Subscribe { since: Some(s), .. }) if s.get() == 5
        ));
        let negative = parse(r#"{"type":"subscribe","topic":"inbox","since":-1}"#);
        assert_eq!(negative.command.unwrap_err().code(), "invalid_since");
        assert!(matches!(
            parse(r#"{"type":"ping"}"#).command,
            Ok(Command::Ping {})
        ));
        assert_eq!(
            parse(r#"{"type":"ping","extra":1}"#)
                .command
                .unwrap_err()
                .code(),
            "invalid_frame"
        );
    }

    #[test]
    fn the_frames_mirroring_rest_writes_parse() {
        let id = "7d3f1a52-0000-4000-8000-000000000001";
        let command = |text: String| parse(&text).command;
        assert!(matches!(
            command(format!(r#"{{"type":"react","message_id":"{id}","emoji":"👍"}}"#)),
            Ok(Command::React { emoji, .. }) if emoji.as_str() == "👍"
        ));
        assert!(matches!(
            command(format!(
                r#"{{"type":"pin","room_id":"{id}","message_id":"{id}"}}"#
            )),
            Ok(Command::Pin { .. })
        ));
        assert!(matches!(
            command(format!(r#"{{"type":"vote","message_id":"{id}","options":[0,2]}}"#)),
            Ok(Command::Vote { options, .. }) if options.options() == [0, 2]
        ));
        assert!(matches!(
            command(r#"{"type":"set_presence","status_text":null}"#.into()),
            Ok(Command::SetPresence {
                status: None,
                status_text: Some(None)
            })
        ));
        assert!(matches!(
            command(r#"{"type":"set_presence","status":"away"}"#.into()),
            Ok(Command::SetPresence {
                status: Some(_),
                status_text: None
            })
        ));
        assert!(matches!(
            command(format!(
                r#"{{"type":"mark_read","conversation_id":"{id}","message_ids":["{id}"]}}"#
            )),
            Ok(Command::MarkRead {
                seq: None,
                message_ids: Some(_),
                ..
            })
        ));
        let code = |text: String| parse(&text).command.unwrap_err().code();
        assert_eq!(
            code(format!(
                r#"{{"type":"react","message_id":"{id}","emoji":"a b"}}"#
            )),
            "invalid_frame"
        );
        assert_eq!(
            code(format!(
                r#"{{"type":"edit_message","message_id":"{id}","body":" "}}"#
            )),
            "invalid_frame"
        );
        assert_eq!(
            code(format!(
                r#"{{"type":"vote","message_id":"{id}","options":[]}}"#
            )),
            "invalid_frame"
        );
    }

    #[test]
    fn every_bad_frame_names_its_problem() {
        let code = |text: &str| parse(text).command.unwrap_err().code();
        assert_eq!(code("{nope"), "invalid_json");
        assert_eq!(code("[1,2]"), "invalid_frame");
        assert_eq!(code(r#"{"type":"dance"}"#), "unknown_type");
        assert_eq!(code(r#"{"topic":"inbox"}"#), "invalid_frame");
        assert_eq!(
            code(r#"{"type":"subscribe","topic":"inbox","extra":1}"#),
            "invalid_frame"
        );
        assert_eq!(
            code(
                r#"{"type":"send_message","conversation_id":"x","client_msg_id":"y","body":"hi"}"#
            ),
            "invalid_frame"
        );
        assert_eq!(code(r#"{"type":"ping","ref":{"a":1}}"#), "invalid_ref");
        let nested = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(code(&nested), "invalid_json");
    }
}
