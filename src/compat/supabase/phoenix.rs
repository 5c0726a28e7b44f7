//! Phoenix channel frames as Supabase Realtime's clients speak them, both
//! serializers: `vsn=1.0.0` sends JSON objects `{join_ref, ref, topic, event,
//! payload}`; `vsn=2.0.0` (realtime-js' default since 2.91) sends JSON arrays
//! `[join_ref, ref, topic, event, payload]` and, for a broadcast pushed by the
//! client, a binary frame (kind 3, "user broadcast push"). The server answers
//! broadcasts of binary payloads with binary frames (kind 4, "user
//! broadcast"), the only kind realtime-js decodes; everything else is text.

use axum::extract::ws::{Message, Utf8Bytes};
use bytes::Bytes;
use serde_json::{json, Map, Value};

/// The serializer a socket asked for with `vsn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vsn {
    V1,
    V2,
}

impl Vsn {
    /// `vsn` of the socket URL; absent means 1.0.0 (Phoenix's default).
    pub fn parse(vsn: Option<&str>) -> Result<Self, String> {
        match vsn {
            None | Some("1.0.0") => Ok(Self::V1),
            Some("2.0.0") => Ok(Self::V2),
            Some(other) => Err(format!("unsupported vsn `{other}` (1.0.0 or 2.0.0)")),
        }
    }
}

/// A client frame.
#[derive(Debug, PartialEq)]
pub struct Incoming {
    pub join_ref: Option<String>,
    pub reference: Option<String>,
    pub topic: String,
    pub event: String,
    /// For a binary broadcast: `{type, event, meta?}` plus `payload` when JSON.
    pub payload: Value,
    /// The opaque payload of a binary broadcast push (encoding 0).
    pub binary: Option<Bytes>,
}

/// Kinds of binary frames (realtime-js' serializer).
const USER_BROADCAST_PUSH: u8 = 3;
const USER_BROADCAST: u8 = 4;
const BINARY_ENCODING: u8 = 0;
const JSON_ENCODING: u8 = 1;

/// A ref is echoed back verbatim: strings (realtime-js) or numbers, kept short.
fn reference(value: Option<Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 255 => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err("a ref is a string of at most 255 bytes or a number".into()),
    }
}

/// Parses a text frame of either serializer.
pub fn decode_text(vsn: Vsn, text: &str) -> Result<Incoming, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let (join_ref, r, topic, event, payload) = match (vsn, value) {
        (Vsn::V2, Value::Array(parts)) if parts.len() == 5 => {
            let mut parts = parts.into_iter();
            let mut next = || parts.next().unwrap_or(Value::Null);
            (next(), next(), next(), next(), next())
        }
        (Vsn::V1, Value::Object(mut map)) => (
            map.remove("join_ref").unwrap_or(Value::Null),
            map.remove("ref").unwrap_or(Value::Null),
            map.remove("topic").unwrap_or(Value::Null),
            map.remove("event").unwrap_or(Value::Null),
            map.remove("payload").unwrap_or(Value::Null),
        ),
        (Vsn::V2, _) => {
            return Err("a 2.0.0 frame is [join_ref, ref, topic, event, payload]".into())
        }
        (Vsn::V1, _) => {
            return Err("a 1.0.0 frame is {join_ref, ref, topic, event, payload}".into())
        }
    };
    let (Value::String(topic), Value::String(event)) = (topic, event) else {
        return Err("topic and event are strings".into());
    };
    if topic.len() > 255 || event.len() > 255 {
        return Err("topic and event are at most 255 bytes".into());
    }
    Ok(Incoming {
        join_ref: reference(Some(join_ref))?,
        reference: reference(Some(r))?,
        topic,
        event,
        payload: match payload {
            Value::Null => Value::Object(Map::new()),
            other => other,
        },
        binary: None,
    })
}

/// Parses a binary frame: only a user broadcast push is a client's to send.
pub fn decode_binary(data: &[u8]) -> Result<Incoming, String> {
    let short = || "a truncated binary frame".to_owned();
    let header = data.get(..7).ok_or_else(short)?;
    if header[0] != USER_BROADCAST_PUSH {
        return Err(format!(
            "binary frames of kind {} are not accepted",
            header[0]
        ));
    }
    let lengths = [header[1], header[2], header[3], header[4], header[5]].map(usize::from);
    let encoding = header[6];
    let mut at = 7;
    let mut fields = Vec::with_capacity(5);
    for len in lengths {
        let bytes = data.get(at..at + len).ok_or_else(short)?;
        fields.push(std::str::from_utf8(bytes).map_err(|_| "header fields are UTF-8".to_owned())?);
        at += len;
    }
    let body = &data[at..];
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let mut payload = json!({ "type": "broadcast", "event": fields[3] });
    if !fields[4].is_empty() {
        let meta: Value =
            serde_json::from_str(fields[4]).map_err(|_| "metadata is JSON".to_owned())?;
        payload["meta"] = meta;
    }
    let binary = match encoding {
        JSON_ENCODING => {
            payload["payload"] =
                serde_json::from_slice(body).map_err(|_| "the payload is not JSON".to_owned())?;
            None
        }
        BINARY_ENCODING => Some(Bytes::copy_from_slice(body)),
        other => return Err(format!("unknown payload encoding {other}")),
    };
    Ok(Incoming {
        join_ref: text(fields[0]),
        reference: text(fields[1]),
        topic: fields[2].to_owned(),
        event: "broadcast".into(),
        payload,
        binary,
    })
}

/// Encodes one server frame as text in the socket's serializer.
pub fn encode(
    vsn: Vsn,
    join_ref: Option<&str>,
    reference: Option<&str>,
    topic: &str,
    event: &str,
    payload: &Value,
) -> Message {
    let text = match vsn {
        Vsn::V1 => json!({
            "join_ref": join_ref, "ref": reference, "topic": topic, "event": event, "payload": payload,
        }),
        Vsn::V2 => json!([join_ref, reference, topic, event, payload]),
    };
    Message::Text(Utf8Bytes::from(text.to_string()))
}

/// A broadcast of an opaque (binary) payload, as realtime-js decodes it (kind 4).
pub fn encode_binary_broadcast(
    topic: &str,
    event: &str,
    meta: Option<&Value>,
    body: &[u8],
) -> Message {
    let meta = meta.map(Value::to_string).unwrap_or_default();
    let mut out = Vec::with_capacity(5 + topic.len() + event.len() + meta.len() + body.len());
    // lengths fit: topics and events are checked on the way in, metadata is ours
    out.extend([
        USER_BROADCAST,
        topic.len().min(255) as u8,
        event.len().min(255) as u8,
        meta.len().min(255) as u8,
        BINARY_ENCODING,
    ]);
    out.extend_from_slice(&topic.as_bytes()[..topic.len().min(255)]);
    out.extend_from_slice(&event.as_bytes()[..event.len().min(255)]);
    out.extend_from_slice(&meta.as_bytes()[..meta.len().min(255)]);
    out.extend_from_slice(body);
    Message::Binary(Bytes::from(out))
}

/// `phx_reply` payload: `{status, response}`.
pub fn reply(ok: bool, response: Value) -> Value {
    json!({ "status": if ok { "ok" } else { "error" }, "response": response })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_serializers_parse_the_same_frame() {
        let v1 = r#"{"join_ref":"1","ref":"2","topic":"realtime:a","event":"phx_join","payload":{"x":1}}"#;
        let v2 = r#"["1","2","realtime:a","phx_join",{"x":1}]"#;
        let a = decode_text(Vsn::V1, v1).unwrap();
        let b = decode_text(Vsn::V2, v2).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.join_ref.as_deref(), Some("1"));
        assert!(decode_text(Vsn::V2, v1).is_err());
        assert!(decode_text(Vsn::V1, v2).is_err());
        assert!(decode_text(Vsn::V2, r#"[null,null,1,"x",{}]"#).is_err());
        assert!(decode_text(Vsn::V2, "[").is_err());
        assert_eq!(Vsn::parse(None), Ok(Vsn::V1));
        assert!(Vsn::parse(Some("3.0.0")).is_err());
    }

    /// The frame realtime-js' serializer builds for `channel.send({type: 'broadcast', ...})`.
    fn push(encoding: u8, meta: &str, body: &[u8]) -> Vec<u8> {
        let (join_ref, r, topic, event) = ("1", "5", "realtime:room", "cursor");
        let mut out = vec![
            USER_BROADCAST_PUSH,
            join_ref.len() as u8,
            r.len() as u8,
            topic.len() as u8,
            event.len() as u8,
            meta.len() as u8,
            encoding,
        ];
        for part in [join_ref, r, topic, event, meta] {
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn binary_broadcast_pushes_decode() {
        let json_push = decode_binary(&push(JSON_ENCODING, "", br#"{"x":1}"#)).unwrap();
        assert_eq!(json_push.topic, "realtime:room");
        assert_eq!(json_push.reference.as_deref(), Some("5"));
        assert_eq!(
            json_push.payload,
            json!({"type": "broadcast", "event": "cursor", "payload": {"x": 1}})
        );
        let raw = decode_binary(&push(BINARY_ENCODING, r#"{"persist":true}"#, &[0, 1, 2])).unwrap();
        assert_eq!(raw.binary.as_deref(), Some(&[0u8, 1, 2][..]));
        assert_eq!(raw.payload["meta"], json!({"persist": true}));
        assert!(decode_binary(&[USER_BROADCAST_PUSH, 9, 0, 0, 0, 0, 1]).is_err());
        assert!(decode_binary(&[USER_BROADCAST, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(decode_binary(&push(JSON_ENCODING, "", b"{nope")).is_err());
    }
}
