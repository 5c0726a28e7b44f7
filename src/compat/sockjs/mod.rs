//! SockJS under the STOMP path, so `new SockJS(url)` works unchanged:
//!
//! - `GET {path}/info` — websocket allowed, no cookie needed;
//! - `GET {path}/{server}/{session}/websocket` — the websocket transport
//!   (`stomp::ws` with SockJS framing);
//! - `POST {path}/{server}/{session}/xhr_streaming` — one long response: a
//!   2 KiB prelude, `o`, then `a[…]` frames and `h` heart-beats, each on its
//!   line, until 128 KiB were sent (the client then opens the next one);
//! - `POST {path}/{server}/{session}/xhr` — polling: `o`, then one `a[…]` (or
//!   `h` after the heart-beat interval) per request;
//! - `POST {path}/{server}/{session}/xhr_send` — the client's frames, a JSON
//!   array of strings; 204.
//!
//! A second receiver while one is attached is told `c[2010,…]`; a session whose
//! STOMP connection ended answers `c[3000,"Go away!"]`. The iframe, htmlfile,
//! jsonp and eventsource transports are not served: clients fall back to the
//! ones above.

pub mod framing;
pub mod sessions;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::compat::stomp::ws::{self, Framing};
use crate::compat::stomp::StompState;
use sessions::Receiver;

/// An xhr_streaming response is closed after this many bytes (SockJS's
/// default), so intermediaries that buffer a response do not hold it forever.
const STREAM_LIMIT: usize = 128 * 1024;

/// Streaming clients need a first chunk before they read anything (old browsers).
const PRELUDE: usize = 2048;

const JAVASCRIPT: &str = "application/javascript; charset=UTF-8";

pub fn routes(path: &str) -> Router<StompState> {
    Router::new()
        .route(&format!("{path}/"), get(|| async { framing::greeting() }))
        .route(&format!("{path}/info"), get(framing::info))
        .route(
            &format!("{path}/{{server}}/{{session}}/websocket"),
            get(websocket),
        )
        .route(
            &format!("{path}/{{server}}/{{session}}/xhr_streaming"),
            post(xhr_streaming),
        )
        .route(&format!("{path}/{{server}}/{{session}}/xhr"), post(xhr))
        .route(
            &format!("{path}/{{server}}/{{session}}/xhr_send"),
            post(xhr_send),
        )
}

/// Server and session ids: non-empty, no dots, short.
fn valid(server: &str, session: &str) -> bool {
    [server, session]
        .iter()
        .all(|id| !id.is_empty() && id.len() <= 64 && !id.contains('.'))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}

fn javascript(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, JAVASCRIPT),
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, no-transform, must-revalidate, max-age=0",
            ),
        ],
        body,
    )
        .into_response()
}

async fn websocket(
    State(state): State<StompState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((server, session)): Path<(String, String)>,
    ws: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Response {
    if !valid(&server, &session) {
        return not_found();
    }
    match ws {
        Ok(ws) => ws::upgrade(state, peer.ip(), ws, Framing::SockJs),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "Can \"Upgrade\" only to \"WebSocket\".",
        )
            .into_response(),
    }
}

/// The session of a receiving request (opened now if new) and its frames;
/// or the answer when it cannot receive.
fn attach(
    state: &StompState,
    peer: SocketAddr,
    server: &str,
    session: &str,
) -> Result<(Receiver, bool, std::sync::Arc<sessions::Entry>), Box<Response>> {
    if !valid(server, session) {
        return Err(Box::new(not_found()));
    }
    let (entry, opened) = state
        .sockjs
        .open(session, state, peer.ip())
        .map_err(|e| Box::new(e.into_response()))?;
    match entry.receiver() {
        Some(receiver) => Ok((receiver, opened, entry)),
        None => Err(Box::new(javascript(format!(
            "{}\n",
            framing::ANOTHER_CONNECTION
        )))),
    }
}

/// `POST …/xhr`: `o` for a new session, else the next frames (waiting up to
/// the heart-beat interval, then `h`).
async fn xhr(
    State(state): State<StompState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((server, session)): Path<(String, String)>,
) -> Response {
    let (mut receiver, opened, entry) = match attach(&state, peer, &server, &session) {
        Ok(attached) => attached,
        Err(response) => return *response,
    };
    let body = if opened {
        framing::OPEN.to_owned()
    } else {
        match tokio::time::timeout(framing::HEARTBEAT, receiver.recv()).await {
            Ok(Some(first)) => framing::array(&framing::drain(first, &mut receiver)),
            Ok(None) => framing::GO_AWAY.to_owned(),
            Err(_) => framing::HEARTBEAT_FRAME.to_owned(),
        }
    };
    drop(receiver);
    entry.touch();
    javascript(format!("{body}\n"))
}

/// `POST …/xhr_streaming`: frames on one long response.
async fn xhr_streaming(
    State(state): State<StompState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((server, session)): Path<(String, String)>,
) -> Response {
    let (receiver, opened, entry) = match attach(&state, peer, &server, &session) {
        Ok(attached) => attached,
        Err(response) => return *response,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(8);
    let patience = Duration::from_millis(state.realtime.realtime.config.write_timeout_ms.max(1));
    tokio::spawn(async move {
        stream(receiver, opened, &tx, patience).await;
        entry.touch();
    });
    (
        [
            (header::CONTENT_TYPE, JAVASCRIPT),
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, no-transform, must-revalidate, max-age=0",
            ),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response()
}

/// Writes a streaming response until its byte budget is spent, the session
/// ends (`c[…]`) or the client leaves; the receiver is let go at the end.
async fn stream(
    mut receiver: Receiver,
    opened: bool,
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    patience: Duration,
) {
    let write = |text: String| async move {
        matches!(
            tokio::time::timeout(patience, tx.send(Ok(Bytes::from(text)))).await,
            Ok(Ok(()))
        )
    };
    let mut prelude = "h".repeat(PRELUDE);
    prelude.push('\n');
    if !write(prelude).await {
        return;
    }
    if opened && !write(format!("{}\n", framing::OPEN)).await {
        return;
    }
    let mut written = 0;
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + framing::HEARTBEAT,
        framing::HEARTBEAT,
    );
    while written < STREAM_LIMIT {
        let chunk = tokio::select! {
            frame = receiver.recv() => match frame {
                Some(first) => framing::array(&framing::drain(first, &mut receiver)),
                None => {
                    write(format!("{}\n", framing::GO_AWAY)).await;
                    return;
                }
            },
            _ = heartbeat.tick() => framing::HEARTBEAT_FRAME.to_owned(),
            () = tx.closed() => return,
        };
        written += chunk.len() + 1;
        if !write(format!("{chunk}\n")).await {
            return;
        }
    }
}

/// `POST …/xhr_send`: the client's frames into its session.
async fn xhr_send(
    State(state): State<StompState>,
    Path((server, session)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !valid(&server, &session) {
        return not_found();
    }
    let Some(inbound) = state.sockjs.get(&session).and_then(|e| e.inbound()) else {
        return not_found();
    };
    if body.is_empty() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Payload expected.").into_response();
    }
    let Some(messages) = framing::decode(&body) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Broken JSON encoding.").into_response();
    };
    let patience = Duration::from_millis(state.realtime.realtime.config.write_timeout_ms.max(1));
    for message in messages {
        let sent = tokio::time::timeout(patience, inbound.send(Bytes::from(message))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return not_found();
        }
    }
    (
        StatusCode::NO_CONTENT,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
    )
        .into_response()
}
