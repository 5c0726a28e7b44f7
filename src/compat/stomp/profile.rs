//! pgchat's STOMP profile: the JSON bodies of MESSAGE and SEND frames, in the
//! shape Spring-style chat frontends use (`content`, `messageType`,
//! `senderId`, `senderFullName`, `attachmentUrl`, `timestamp`, `messageId`,
//! `chatId`). README's "STOMP and SockJS" section documents them.
//!
//! Outbound bodies are derived from pgchat's own event frames (the JSON the hub
//! serialized once for every transport), so a message reads the same over
//! STOMP as over the JSON WebSocket; the rest of its fields (`seq`,
//! `changeSeq`, `clientMsgId` …) are pgchat's additions.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::compat::stomp::destinations::Feed;
use crate::domain::{MessageBody, MessageKind};
use crate::error::ApiError;

/// A chat event for one feed: its body (without `chatId`, which depends on
/// the id the subscriber used) and pgchat's event name.
pub struct ChatEvent {
    pub feed: Feed,
    pub event: String,
    pub body: Map<String, Value>,
}

/// Translates a conversation topic's frame; `None` for events the profile
/// does not carry.
pub fn chat_event(frame: &Value) -> Option<ChatEvent> {
    let event = frame["type"].as_str()?.to_owned();
    let (feed, body) = match event.as_str() {
        "message_new" | "message_updated" | "message_deleted" | "reaction" | "message_pinned"
        | "message_unpinned" => (Feed::Messages, message(&frame["message"])),
        "typing" => (
            Feed::Typing,
            object(json!({
                "userId": frame["user_id"],
                "senderFullName": frame["name"],
                "typing": frame["typing"],
            })),
        ),
        "read" => (
            Feed::Read,
            object(json!({
                "userId": frame["user_id"],
                "lastReadSeq": frame["seq"],
                "changeSeq": frame["change_seq"],
            })),
        ),
        "member_joined" | "member_left" | "session_updated" => {
            let mut body = object(json!({
                "type": match event.as_str() {
                    "member_joined" => "JOIN",
                    "member_left" => "LEAVE",
                    _ => "SESSION",
                },
                "changeSeq": frame["change_seq"],
            }));
            if event == "session_updated" {
                body.insert("status".into(), frame["session"]["status"].clone());
                body.insert("agentId".into(), frame["session"]["agent_id"].clone());
            } else {
                body.insert("userId".into(), frame["user_id"].clone());
                body.insert("role".into(), frame["member"]["role"].clone());
            }
            (Feed::Presence, body)
        }
        _ => return None,
    };
    let mut body = body;
    body.insert("event".into(), json!(event));
    Some(ChatEvent { feed, event, body })
}

/// A pgchat message (wire row) in the profile's shape.
fn message(m: &Value) -> Map<String, Value> {
    let kind = m["kind"].as_str().unwrap_or("text").to_ascii_uppercase();
    object(json!({
        "messageId": m["id"],
        "conversationId": m["conversation_id"],
        "content": m["body"],
        "messageType": kind,
        "senderId": m["sender_id"],
        "senderFullName": m["sender_name"],
        "senderRole": m["sender_role"],
        "attachmentUrl": m["attachment"]["url"],
        "timestamp": m["created_at"],
        "editedAt": m["edited_at"],
        "deleted": !m["deleted_at"].is_null(),
        "internal": m["internal"],
        "replyTo": m["reply_to"],
        "reactions": m["reactions"],
        "seq": m["seq"],
        "changeSeq": m["change_seq"],
        "clientMsgId": m["client_msg_id"],
    }))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The body of a SEND to `/app/chat/{id}/send`. Fields a Spring frontend
/// also sends (`senderId`, `chatId`, `timestamp` …) are ignored: the sender is
/// the token's subject and the chat the destination's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    pub content: MessageBody,
    #[serde(default)]
    pub message_type: Option<String>,
    #[serde(default)]
    pub client_msg_id: Option<Uuid>,
    #[serde(default)]
    pub reply_to: Option<Uuid>,
    /// A completed pgchat upload (`POST /v1/attachments`).
    #[serde(default)]
    pub attachment_id: Option<Uuid>,
}

impl SendBody {
    /// JSON, or with `content-type: text/plain` the body is the content.
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Self, ApiError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("invalid_body", "the body must be UTF-8"))?;
        if content_type.is_some_and(|t| t.starts_with("text/plain")) {
            let content = MessageBody::try_from(text.to_owned())
                .map_err(|e| ApiError::bad_request("invalid_body", e))?;
            return Ok(Self {
                content,
                message_type: None,
                client_msg_id: None,
                reply_to: None,
                attachment_id: None,
            });
        }
        serde_json::from_str(text).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
    }

    pub fn kind(&self) -> Result<MessageKind, ApiError> {
        match &self.message_type {
            None => Ok(MessageKind::Text),
            Some(t) => t
                .to_ascii_lowercase()
                .parse()
                .map_err(|e: String| ApiError::bad_request("invalid_body", e)),
        }
    }
}

/// `{"typing": bool}` (or `isTyping`); an empty body means typing.
pub fn typing(body: &[u8]) -> Result<bool, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(true);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    match value
        .get("typing")
        .or_else(|| value.get("isTyping"))
        .map(Value::as_bool)
    {
        None => Ok(true),
        Some(Some(typing)) => Ok(typing),
        Some(None) => Err(ApiError::bad_request(
            "invalid_body",
            "typing is true or false",
        )),
    }
}

/// `{"seq": n}`: read up to that message; an empty body (or no `seq`) reads all.
pub fn read_seq(body: &[u8]) -> Result<i64, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(i64::MAX);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    match value.get("seq") {
        None | Some(Value::Null) => Ok(i64::MAX),
        Some(seq) => seq
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("invalid_seq", "seq is a message's seq")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_message_reads_in_the_profile_shape() {
        let frame = json!({
            "type": "message_new", "change_seq": 7,
            "message": {
                "id": "m1", "conversation_id": "c1", "seq": 3, "change_seq": 7,
                "sender_id": "alice", "sender_name": "Alice A", "sender_role": "user",
                "client_msg_id": "k", "kind": "image", "body": "hi", "internal": false,
                "attachment": {"url": "/v1/attachments/a1"}, "created_at": "2026-01-01T00:00:00Z",
                "edited_at": null, "deleted_at": null, "reactions": {}
            }
        });
        let event = chat_event(&frame).unwrap();
        assert_eq!(event.feed, Feed::Messages);
        let body = Value::Object(event.body);
        assert_eq!(body["content"], "hi");
        assert_eq!(body["messageType"], "IMAGE");
        assert_eq!(body["senderId"], "alice");
        assert_eq!(body["senderFullName"], "Alice A");
        assert_eq!(body["attachmentUrl"], "/v1/attachments/a1");
        assert_eq!(body["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(body["messageId"], "m1");
        assert_eq!(body["event"], "message_new");
        assert_eq!(body["deleted"], false);
    }

    #[test]
    fn typing_reads_and_other_events_go_to_their_feeds() {
        let typing = chat_event(&json!({"type": "typing", "user_id": "bob", "typing": true}));
        assert_eq!(typing.unwrap().feed, Feed::Typing);
        let read = chat_event(&json!({"type": "read", "user_id": "bob", "seq": 4}));
        assert_eq!(read.unwrap().feed, Feed::Read);
        let joined = chat_event(&json!({"type": "member_joined", "user_id": "bob"})).unwrap();
        assert_eq!(joined.feed, Feed::Presence);
        assert_eq!(joined.body["type"], "JOIN");
        assert!(chat_event(&json!({"type": "delivered"})).is_none());
    }

    #[test]
    fn send_bodies_parse() {
        let body = SendBody::parse(br#"{"content":"hi","senderId":"mallory"}"#, None).unwrap();
        assert_eq!(body.content.as_str(), "hi");
        assert_eq!(body.kind().unwrap(), MessageKind::Text);
        let plain = SendBody::parse(b"hello", Some("text/plain;charset=UTF-8")).unwrap();
        assert_eq!(plain.content.as_str(), "hello");
        assert!(SendBody::parse(br#"{"content":""}"#, None).is_err());
        assert!(SendBody::parse(b"hello", None).is_err());
        let typed = SendBody::parse(br#"{"content":"x","messageType":"FILE"}"#, None).unwrap();
        assert_eq!(typed.kind().unwrap(), MessageKind::File);
        assert!(typing(b"").unwrap());
        assert!(!typing(br#"{"isTyping":false}"#).unwrap());
        assert_eq!(read_seq(br#"{"seq":4}"#).unwrap(), 4);
        assert_eq!(read_seq(b"").unwrap(), i64::MAX);
    }
}
