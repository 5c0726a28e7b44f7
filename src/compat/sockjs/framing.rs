//! SockJS framing (protocol 0.3): `o` opens a session, `h` is a heart-beat,
//! `a["…","…"]` carries messages, `c[code,"reason"]` closes. Clients send
//! JSON arrays of strings. Also the two fixed answers every SockJS server
//! gives: the greeting at the base URL and `/info`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc;

pub const OPEN: &str = "o";
pub const HEARTBEAT_FRAME: &str = "h";
pub const GO_AWAY: &str = "c[3000,\"Go away!\"]";
pub const ANOTHER_CONNECTION: &str = "c[2010,\"Another connection still open\"]";

/// How often an idle session is sent `h` (SockJS's default).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(25);

/// Most messages put into one `a[…]` frame.
const BATCH: usize = 64;

/// `first` and whatever else is already queued (up to a batch).
pub fn drain(first: String, queue: &mut mpsc::Receiver<String>) -> Vec<String> {
    let mut batch = vec![first];
    while batch.len() < BATCH {
        match queue.try_recv() {
            Ok(more) => batch.push(more),
            Err(_) => break,
        }
    }
    batch
}

/// `a[…]`: messages as one frame.
pub fn array(messages: &[String]) -> String {
    format!("a{}", json!(messages))
}

/// A client's frame: a JSON array of strings (or one string); `None` when broken.
pub fn decode(bytes: &[u8]) -> Option<Vec<String>> {
    match serde_json::from_slice::<serde_json::Value>(bytes).ok()? {
        serde_json::Value::String(one) => Some(vec![one]),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// `GET {path}`: what SockJS servers answer at their base URL.
pub fn greeting() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        "Welcome to SockJS!\n",
    )
        .into_response()
}

/// `GET {path}/info`: websocket allowed, no cookie needed, any origin.
pub async fn info() -> Response {
    let body = json!({
        "websocket": true,
        "origins": ["*:*"],
        "cookie_needed": false,
        "entropy": rand::random::<u32>(),
    });
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=UTF-8"),
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, no-transform, must-revalidate, max-age=0",
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_encode_and_decode() {
        assert_eq!(
            array(&["a\"b".into(), "\n".into()]),
            "a[\"a\\\"b\",\"\\n\"]"
        );
        assert_eq!(decode(b"[\"x\",\"y\"]"), Some(vec!["x".into(), "y".into()]));
        assert_eq!(decode(b"\"x\""), Some(vec!["x".into()]));
        assert_eq!(decode(b"[1]"), None);
        assert_eq!(decode(b"[\"x\""), None);
        assert_eq!(decode(b""), None);
    }
}
