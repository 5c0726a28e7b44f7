//! The WebSocket carrier of STOMP connections: raw STOMP at `{path}` and
//! `{path}/websocket` (sub-protocols `v12.stomp`, `v11.stomp`, `v10.stomp`, or
//! none), and SockJS's websocket transport at `{path}/{server}/{session}/websocket`
//! (the same STOMP bytes inside SockJS framing: `o`, `h`, `a[…]`, `c[…]`).
//!
//! A pump moves bytes between the socket and the connection's [`Link`]; each
//! write to the socket has the session's write deadline, so a peer that stops
//! reading cannot hold the pump (the connection itself is evicted by the core).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use crate::compat::sockjs::framing;
use crate::compat::stomp::session::{self, Link};
use crate::compat::stomp::StompState;

/// Sub-protocols we accept, best first.
const PROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// Received messages waiting for the connection; frames waiting for the socket.
pub const INBOUND: usize = 64;
pub const OUTBOUND: usize = 256;

/// Per-connection read buffer (see `realtime::ws`).
const READ_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Raw,
    SockJs,
}

/// `GET {path}`, `GET {path}/websocket`: a STOMP WebSocket; without an upgrade,
/// SockJS's greeting (its clients probe the base URL).
pub async fn endpoint(
    State(state): State<StompState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => upgrade(state, peer.ip(), ws, Framing::Raw),
        Err(_) => framing::greeting(),
    }
}

/// Upgrades to a STOMP connection carried with `framing`.
pub fn upgrade(
    state: StompState,
    peer: IpAddr,
    ws: WebSocketUpgrade,
    framing: Framing,
) -> Response {
    let frame = state.realtime.realtime.config.ws_max_frame_bytes;
    let ws = match framing {
        Framing::Raw => ws.protocols(PROTOCOLS),
        Framing::SockJs => ws,
    };
    // SockJS quotes frames into JSON: room for the escapes.
    let max = match framing {
        Framing::Raw => frame,
        Framing::SockJs => 2 * frame + 16,
    };
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| carry(state, peer, socket, framing))
        .into_response()
}

async fn carry(state: StompState, peer: IpAddr, socket: WebSocket, framing: Framing) {
    // Counted until the pump has written the last frame and the close, so a
    // graceful stop waits for this socket's ERROR (`server_restarting`).
    let _open = state.realtime.realtime.metrics.open_socket();
    let patience = Duration::from_millis(state.realtime.realtime.config.write_timeout_ms.max(1));
    let (inbound_tx, inbound) = mpsc::channel(INBOUND);
    let (outbound, mut outbound_rx) = mpsc::channel::<String>(OUTBOUND);
    let connection = session::serve(state, peer, Link { inbound, outbound });
    let pump = async move {
        let (mut sink, mut stream) = socket.split();
        if framing == Framing::SockJs && !send_text(&mut sink, framing::OPEN.into(), patience).await
        {
            return;
        }
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + framing::HEARTBEAT,
            framing::HEARTBEAT,
        );
        loop {
            tokio::select! {
                frame = outbound_rx.recv() => match (frame, framing) {
                    (Some(frame), Framing::Raw) => {
                        if !send_text(&mut sink, frame, patience).await {
                            break;
                        }
                    }
                    (Some(first), Framing::SockJs) => {
                        let batch = framing::drain(first, &mut outbound_rx);
                        if !send_text(&mut sink, framing::array(&batch), patience).await {
                            break;
                        }
                    }
                    (None, framing) => {
                        if framing == Framing::SockJs {
                            send_text(&mut sink, framing::GO_AWAY.into(), patience).await;
                        }
                        let _ = tokio::time::timeout(patience, sink.send(Message::Close(None))).await;
                        break;
                    }
                },
                incoming = stream.next() => {
                    let data: Vec<Bytes> = match (incoming, framing) {
                        (Some(Ok(Message::Text(text))), Framing::Raw) => vec![Bytes::from(text)],
                        (Some(Ok(Message::Binary(bytes))), Framing::Raw) => vec![bytes],
                        (Some(Ok(Message::Text(text))), Framing::SockJs) => {
                            match framing::decode(text.as_bytes()) {
                                Some(messages) => messages.into_iter().map(Bytes::from).collect(),
                                None => break, // broken JSON: SockJS closes
                            }
                        }
                        (Some(Ok(Message::Ping(_) | Message::Pong(_))), _) => continue,
                        _ => break,
                    };
                    for bytes in data {
                        let sent = tokio::time::timeout(patience, inbound_tx.send(bytes)).await;
                        if !matches!(sent, Ok(Ok(()))) {
                            return;
                        }
                    }
                },
                _ = heartbeat.tick(), if framing == Framing::SockJs => {
                    if !send_text(&mut sink, framing::HEARTBEAT_FRAME.into(), patience).await {
                        break;
                    }
                }
            }
        }
    };
    tokio::join!(connection, pump);
}

type Sink = futures::stream::SplitSink<WebSocket, Message>;

/// One text message within the deadline; false: the peer is gone or stuck.
async fn send_text(sink: &mut Sink, text: String, patience: Duration) -> bool {
    let sent = tokio::time::timeout(patience, sink.send(Message::Text(Utf8Bytes::from(text))));
    matches!(sent.await, Ok(Ok(())))
}
