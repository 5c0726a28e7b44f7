//! STOMP next to the JSON protocol, from Rust: a message crosses transports
//! both ways (REST and the JSON WebSocket to STOMP, STOMP to the JSON
//! WebSocket), and random bytes after CONNECT end in ERROR or nothing, never
//! a crash. The outside clients (`@stomp/stompjs`, `sockjs-client`) are in
//! `tests/stomp/`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{as_id, spawn_app};
use crate::ws_client::{Ws, PATIENCE};

/// A raw STOMP 1.2 client over a WebSocket.
struct Stomp {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    received: String,
}

impl Stomp {
    async fn connect(port: u16, token: &str) -> Stomp {
        let mut request = format!("ws://127.0.0.1:{port}/ws")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "v12.stomp".parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "v12.stomp",
            "the sub-protocol is chosen"
        );
        let mut stomp = Stomp {
            socket,
            received: String::new(),
        };
        stomp
            .send(&format!(
                "CONNECT\naccept-version:1.2\nheart-beat:0,0\nAuthorization:Bearer {token}\n\n\0"
            ))
            .await;
        let connected = stomp.frame().await.expect("CONNECTED");
        assert!(connected.starts_with("CONNECTED\n"), "{connected}");
        stomp
    }

    async fn send(&mut self, text: &str) -> bool {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .is_ok()
    }

    /// The next frame (heart-beats skipped), `None` once the socket closed.
    async fn frame(&mut self) -> Option<String> {
        loop {
            let trimmed = self.received.trim_start_matches(['\n', '\r']).len();
            self.received.drain(..self.received.len() - trimmed);
            if let Some(end) = self.received.find('\0') {
                let frame = self.received[..end].to_owned();
                self.received.drain(..=end);
                return Some(frame);
            }
            match tokio::time::timeout(PATIENCE, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => self.received.push_str(&text),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(_) => return None,
                Err(_) => panic!("no STOMP frame within {PATIENCE:?}"),
            }
        }
    }

    /// Subscribes with a receipt and waits for it.
    async fn subscribe(&mut self, id: &str, destination: &str) {
        self.send(&format!(
            "SUBSCRIBE\nid:{id}\ndestination:{destination}\nreceipt:{id}\n\n\0"
        ))
        .await;
        let receipt = self.frame().await.expect("RECEIPT");
        assert!(
            receipt.starts_with(&format!("RECEIPT\nreceipt-id:{id}")),
            "{receipt}"
        );
    }

    /// The JSON body of the next MESSAGE.
    async fn message(&mut self) -> Value {
        let frame = self.frame().await.expect("a MESSAGE");
        assert!(frame.starts_with("MESSAGE\n"), "{frame}");
        let (_, body) = frame.split_once("\n\n").unwrap();
        serde_json::from_str(body).unwrap()
    }
}

#[tokio::test]
async fn a_message_crosses_between_stomp_and_the_other_transports() {
    let app = spawn_app().await;
    let customer = app.token_named("alice", "user", "Alice A");
    let agent = app.token("ann", "agent");
    let session = app.open_session(&customer).await;
    let (status, _) = app
        .post(
            &agent,
            &format!("/v1/support/sessions/{}/claim", as_id(&session["id"])),
            &serde_json::json!({}),
        )
        .await;
    assert!(status.is_success());
    let conversation = &session["conversation_id"];

    let mut stomp = Stomp::connect(app.port, &customer).await;
    stomp
        .subscribe("0", &format!("/topic/chat/{}", as_id(&session["id"])))
        .await;
    let mut json = Ws::connect(app.port, &agent).await;
    json.subscribe(&format!("conversation:{}", as_id(conversation)), None)
        .await;

    // REST → STOMP
    app.send(&agent, conversation, "from REST").await;
    let message = stomp.message().await;
    assert_eq!(message["content"], "from REST");
    assert_eq!(message["senderId"], "ann");
    assert_eq!(message["chatId"], session["id"]);
    assert_eq!(
        json.event_of("message_new").await["message"]["body"],
        "from REST"
    );

    // STOMP → the JSON WebSocket, and to STOMP itself
    stomp
        .send(&format!(
            "SEND\ndestination:/app/chat/{}/send\ncontent-type:text/plain\nreceipt:s1\n\nfrom STOMP\0",
            as_id(&session["id"])
        ))
        .await;
    let receipt = stomp.frame().await.unwrap();
    assert!(receipt.starts_with("RECEIPT\nreceipt-id:s1"), "{receipt}");
    let echoed = stomp.message().await;
    assert_eq!(echoed["content"], "from STOMP");
    assert_eq!(echoed["senderFullName"], "Alice A");
    let seen = json.event_of("message_new").await;
    assert_eq!(seen["message"]["body"], "from STOMP");
    assert_eq!(seen["message"]["sender_id"], "alice");
}

#[tokio::test]
async fn random_bytes_after_connect_end_in_error_or_nothing_never_a_crash() {
    let app = spawn_app().await;
    let token = app.token("alice", "user");
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let alphabet: &[u8] = b"SENDUBCRIPT:\n\r\0\\abc-/ 0123456789content-length:receipt";
    for case in 0..40 {
        let mut stomp = Stomp::connect(app.port, &token).await;
        let length = rng.random_range(1..400);
        let noise: Vec<u8> = (0..length)
            .map(|_| {
                if rng.random_bool(0.8) {
                    alphabet[rng.random_range(0..alphabet.len())]
                } else {
                    rng.random()
                }
            })
            .collect();
        let _ = stomp.socket.send(Message::Binary(noise.into())).await;
        // Whatever it made of the noise, the server still answers a DISCONNECT
        // with its receipt, or has already said ERROR and closed.
        stomp.send("\0DISCONNECT\nreceipt:bye\n\n\0").await;
        loop {
            match stomp.frame().await {
                None => break,
                Some(frame) if frame.starts_with("ERROR\n") => {
                    assert_eq!(stomp.frame().await, None, "case {case}: closed after ERROR");
                    break;
                }
                Some(frame) if frame.starts_with("RECEIPT\n") => continue,
                Some(other) => panic!("case {case}: unexpected {other}"),
            }
        }
    }
    let healthy = reqwest::get(app.url("/healthz")).await.unwrap();
    assert!(healthy.status().is_success());
    let mut after = Stomp::connect(app.port, &token).await;
    after.send("DISCONNECT\nreceipt:last\n\n\0").await;
    let last = tokio::time::timeout(Duration::from_secs(10), after.frame())
        .await
        .unwrap()
        .unwrap();
    assert!(last.starts_with("RECEIPT\nreceipt-id:last"), "{last}");
}
