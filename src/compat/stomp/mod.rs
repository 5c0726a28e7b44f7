//! STOMP over WebSocket and SockJS: Spring-style chat clients (`@stomp/stompjs`,
//! `Stomp.over(new SockJS(url))`) run on pgchat unchanged. One more thin
//! transport over the realtime session core; README's "STOMP and SockJS"
//! section is the profile (destinations, bodies, headers, resume).
//!
//! - [`frame`]: the STOMP 1.0/1.1/1.2 decoder and encoder;
//! - [`session`]: one STOMP connection over a `realtime::session::Session`,
//!   fed by any carrier through a [`session::Link`];
//! - [`destinations`], [`profile`]: what clients subscribe and send to, and
//!   the JSON bodies;
//! - [`ws`]: the WebSocket carrier (raw STOMP, and SockJS's websocket transport);
//! - `compat::sockjs`: the SockJS endpoints under the same path.

pub mod destinations;
pub mod frame;
pub mod profile;
pub mod session;
pub mod ws;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::compat::sockjs;
use crate::config::StompConfig;
use crate::realtime::RealtimeState;

/// What the STOMP and SockJS handlers need.
#[derive(Clone)]
pub struct StompState {
    pub realtime: RealtimeState,
    pub config: Arc<StompConfig>,
    /// The SockJS sessions of the xhr transports on this node.
    pub sockjs: Arc<sockjs::sessions::Sessions>,
}

/// The STOMP endpoint at `PGCHAT_STOMP_PATH` (raw WebSocket at the path and at
/// `{path}/websocket`) and SockJS under it.
pub fn router<S>(realtime: RealtimeState, config: &StompConfig) -> Router<S> {
    let path = config.stomp_path.trim_end_matches('/').to_owned();
    let state = StompState {
        realtime,
        config: Arc::new(config.clone()),
        sockjs: Arc::new(sockjs::sessions::Sessions::new(config.sockjs_max_sessions)),
    };
    Router::new()
        .route(&path, get(ws::endpoint))
        .route(&format!("{path}/websocket"), get(ws::endpoint))
        .merge(sockjs::routes(&path))
        .with_state(state)
}

/// `PGCHAT_STOMP_PATH`, checked at start-up (`/ws`, `/chat/stomp`): plain path
/// characters only, since it becomes a route pattern, and not under `/v1`,
/// whose routes it would shadow.
pub fn parse_path(value: &str) -> Result<String, String> {
    let path = value.trim_end_matches('/');
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
    if !path.starts_with('/') || path.len() < 2 || !plain || path.contains("//") {
        return Err(format!("`{value}` is not a path like /ws"));
    }
    if path == "/v1" || path.starts_with("/v1/") {
        return Err("the STOMP path must not be under /v1 (the REST API's)".into());
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_path;

    #[test]
    fn paths_are_plain_and_outside_the_api() {
        assert_eq!(parse_path("/ws").unwrap(), "/ws");
        assert_eq!(parse_path("/chat/stomp/").unwrap(), "/chat/stomp");
        for bad in ["ws", "/", "", "/v1", "/v1/stomp", "/a b", "/a//b", "/{x}"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }
}
