//! STOMP next to the JSON protocol, from Rust: a message crosses transports
//! both ways (REST and the JSON WebSocket to STOMP, STOMP to the JSON
//! WebSocket), random bytes after CONNECT end in ERROR or nothing, never
//! a crash; UNSUBSCRIBE by id, receipts on any frame, a UUID receipt as the
//! dedupe key; a stopping node counts STOMP and SockJS sockets among those it
//! waits for and tells them `server_restarting`. The outside clients (`@stomp/stompjs`, `sockjs-client`) are in
//! `tests/stomp/`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{as_id, metric_at, spawn_app, spawn_app_with, wait_for};
use crate::ws_client::{Node, Ws, PATIENCE};

/// A raw STOMP 1.2 client over a WebSocket.
struct Stomp {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    received: String,
}

impl Stomp {
    async fn connect(port: u16, token: &str) -> Stomp {
        Self::connect_at(port, "/ws", token).await
    }

    /// Connects to the STOMP endpoint at `path` (`PGCHAT_STOMP_PATH`).
    async fn connect_at(port: u16, path: &str, token: &str) -> Stomp {
        let mut request = format!("ws://127.0.0.1:{port}{path}")
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

#[tokio::test]
async fn unsubscribe_ends_that_subscription_only_and_every_frame_gets_its_receipt() {
    let app = spawn_app().await;
    let customer = app.token("alice", "user");
    let agent = app.token("ann", "agent");
    let session = app.open_session(&customer).await;
    // claimed first: the agent's "joined" notice is not part of what follows
    let (status, claimed) = app
        .session_action(&agent, &session["id"], "claim", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let topic = format!("/topic/chat/{}", as_id(&session["id"]));
    let mut stomp = Stomp::connect(app.port, &customer).await;
    stomp.subscribe("a", &topic).await;
    stomp.subscribe("b", &topic).await;
    stomp.send("UNSUBSCRIBE\nid:a\nreceipt:u1\n\n\0").await;
    let receipt = stomp.frame().await.unwrap();
    assert!(receipt.starts_with("RECEIPT\nreceipt-id:u1"), "{receipt}");
    stomp.send("ACK\nid:1\nreceipt:k1\n\n\0").await;
    let receipt = stomp.frame().await.unwrap();
    assert!(receipt.starts_with("RECEIPT\nreceipt-id:k1"), "{receipt}");

    app.send(&agent, &session["conversation_id"], "after").await;
    let message = stomp.frame().await.unwrap();
    assert!(message.contains("\nsubscription:b\n"), "{message}");
    // The fence: whatever else the message made comes before this receipt.
    stomp.send("DISCONNECT\nreceipt:bye\n\n\0").await;
    let next = stomp.frame().await.unwrap();
    assert!(
        next.starts_with("RECEIPT\nreceipt-id:bye"),
        "nothing for a: {next}"
    );
    assert_eq!(stomp.frame().await, None, "closed after DISCONNECT");
}

#[tokio::test]
async fn a_receipt_that_is_a_uuid_makes_a_resent_send_the_same_message() {
    let app = spawn_app().await;
    let customer = app.token("alice", "user");
    let session = app.open_session(&customer).await;
    let mut stomp = Stomp::connect(app.port, &customer).await;
    let receipt = uuid::Uuid::new_v4();
    let mut ids = Vec::new();
    for _ in 0..2 {
        stomp
            .send(&format!(
                "SEND\ndestination:/app/chat/{}/send\nreceipt:{receipt}\n\n{{\"content\":\"once\"}}\0",
                as_id(&session["id"])
            ))
            .await;
        let answer = stomp.frame().await.unwrap();
        assert!(answer.starts_with("RECEIPT\n"), "{answer}");
        let id = answer
            .lines()
            .find_map(|l| l.strip_prefix("x-message-id:"))
            .expect("the stored message's id")
            .to_owned();
        ids.push(id);
    }
    assert_eq!(ids[0], ids[1], "the retry is the same message");
    let stored = app
        .count(&format!(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = '{}' AND body = 'once'",
            as_id(&session["conversation_id"])
        ))
        .await;
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn a_stopping_node_counts_stomp_and_sockjs_sockets_and_tells_them_server_restarting() {
    let app = spawn_app().await;
    let mut node = Node::start(&app, &[]).await;
    let base = node.base();
    let token = app.token("alice", "user");
    let mut stomp = Stomp::connect(node.port, &token).await;
    // A SockJS session of the xhr transports, connected.
    let http = reqwest::Client::new();
    let xhr = format!("{base}/ws/000/{}", uuid::Uuid::new_v4());
    let poll = || http.post(format!("{xhr}/xhr")).send();
    assert_eq!(poll().await.unwrap().text().await.unwrap(), "o\n");
    let connect =
        format!("CONNECT\naccept-version:1.2\nheart-beat:0,0\nAuthorization:Bearer {token}\n\n\0");
    let sent = http
        .post(format!("{xhr}/xhr_send"))
        .body(serde_json::to_string(&[connect]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), reqwest::StatusCode::NO_CONTENT);
    let connected = poll().await.unwrap().text().await.unwrap();
    assert!(connected.starts_with("a[\"CONNECTED\\n"), "{connected}");
    // Both are the node's sockets, which a graceful stop waits for.
    wait_for(
        "the STOMP socket and the SockJS session counted",
        || async { metric_at(&base, "pgchat_ws_connections").await == 2.0 },
    )
    .await;
    // A receiving request is in flight when the node is told to stop: a
    // stream whose prelude came, so it holds the session's frames.
    let mut stream = http
        .post(format!("{xhr}/xhr_streaming"))
        .send()
        .await
        .unwrap();
    let mut received = String::new();
    while !received.contains('\n') {
        let chunk = stream.chunk().await.unwrap().expect("the prelude");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    node.terminate();

    let error = stomp.frame().await.expect("an ERROR before the close");
    assert!(error.starts_with("ERROR\n"), "{error}");
    assert!(
        error.contains("\nx-error-code:server_restarting\n"),
        "{error}"
    );
    assert_eq!(stomp.frame().await, None, "closed after ERROR");
    while let Some(chunk) = stream.chunk().await.unwrap() {
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        received.contains("x-error-code:server_restarting"),
        "{received}"
    );
    assert!(received.ends_with("c[3000,\"Go away!\"]\n"), "{received}");
    assert!(node.exited().await.success());
}

#[tokio::test]
async fn the_stomp_path_is_configurable_and_sockjs_follows_it() {
    let app = spawn_app_with(|config| config.stomp.stomp_path = "/chat/stomp".into()).await;
    let token = app.token("alice", "user");
    let mut stomp = Stomp::connect_at(app.port, "/chat/stomp", &token).await;
    stomp.send("DISCONNECT\nreceipt:bye\n\n\0").await;
    let receipt = stomp.frame().await.unwrap();
    assert!(receipt.starts_with("RECEIPT\nreceipt-id:bye"), "{receipt}");
    let info = reqwest::get(app.url("/chat/stomp/info")).await.unwrap();
    assert_eq!(info.status(), reqwest::StatusCode::OK);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["websocket"], true);
    let old = reqwest::get(app.url("/ws/info")).await.unwrap();
    assert_eq!(
        old.status(),
        reqwest::StatusCode::NOT_FOUND,
        "nothing left at /ws"
    );
}

#[tokio::test]
async fn an_idle_sockjs_poll_is_answered_with_a_heart_beat() {
    let app = spawn_app().await;
    let token = app.token("alice", "user");
    let http = reqwest::Client::new();
    let base = app.url(&format!("/ws/000/{}", uuid::Uuid::new_v4()));
    let session = format!("{base}/xhr");
    let open = http
        .post(&session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(open, "o\n");
    let connect =
        format!("CONNECT\naccept-version:1.2\nheart-beat:0,0\nAuthorization:Bearer {token}\n\n\0");
    http.post(format!("{base}/xhr_send"))
        .body(serde_json::to_string(&[connect]).unwrap())
        .send()
        .await
        .unwrap();
    let connected = http
        .post(&session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(connected.starts_with("a[\"CONNECTED"), "{connected}");
    // Nothing to send: after SockJS's heart-beat interval (25 s) the poll says `h`.
    let started = std::time::Instant::now();
    let beat = tokio::time::timeout(Duration::from_secs(40), http.post(&session).send())
        .await
        .expect("an answer within 40 s")
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(beat, "h\n");
    assert!(
        started.elapsed() >= Duration::from_secs(24),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn join_and_leave_over_stomp_change_the_membership() {
    let app = spawn_app().await;
    let owner = crate::chat_helpers::user(&app, "olive").await;
    let guest = crate::chat_helpers::user(&app, "gus").await;
    let lobby = crate::chat_helpers::room_of(&app, &owner, "public", "Lobby").await;
    let id = as_id(&lobby["id"]).to_owned();
    let mut stomp = Stomp::connect(app.port, &guest).await;
    for action in ["join", "leave"] {
        stomp
            .send(&format!(
                "SEND\ndestination:/app/chat/{id}/{action}\nreceipt:{action}\n\n\0"
            ))
            .await;
        let receipt = stomp.frame().await.unwrap();
        assert!(
            receipt.starts_with(&format!("RECEIPT\nreceipt-id:{action}")),
            "{receipt}"
        );
        let (status, _) = app.get(&guest, &format!("/v1/conversations/{id}")).await;
        let expected = match action {
            "join" => reqwest::StatusCode::OK,
            _ => reqwest::StatusCode::NOT_FOUND,
        };
        assert_eq!(status, expected, "after {action}");
    }
}
