//! A WebSocket test client: typed helpers over a real socket, plus a second
//! server node (a real `pgchat serve` process) on the same database.

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{as_id, wait_for, TestApp};

/// How long any single expected frame may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while waiting for something else.
    pending: VecDeque<Value>,
    next_ref: u64,
    /// The close frame's code, once the server closed.
    pub closed: Option<u16>,
}

impl Ws {
    pub async fn connect(port: u16, token: &str) -> Ws {
        Ws::try_connect(port, token)
            .await
            .expect("websocket connect")
    }

    pub async fn try_connect(port: u16, token: &str) -> Option<Ws> {
        let url = format!("ws://127.0.0.1:{port}/v1/ws?token={token}");
        let (socket, _) = tokio_tungstenite::connect_async(url).await.ok()?;
        Some(Ws {
            socket,
            pending: VecDeque::new(),
            next_ref: 0,
            closed: None,
        })
    }

    /// The next frame, or None once the socket is gone (no panic: fault tests expect it).
    pub async fn next_frame(&mut self, patience: Duration) -> Option<Value> {
        match self.pending.pop_front() {
            Some(frame) => Some(frame),
            None => self.read(patience).await,
        }
    }

    /// Sends a frame; false if the socket is gone.
    pub async fn try_send(&mut self, frame: &Value) -> bool {
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_ok()
    }

    pub async fn send_raw(&mut self, frame: Message) {
        self.socket.send(frame).await.expect("websocket send");
    }

    /// The next JSON frame from the socket (not from `pending`); None once closed.
    async fn read(&mut self, patience: Duration) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(patience, self.socket.next())
                .await
                .ok()??;
            match frame {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"))
                }
                Ok(Message::Close(close)) => {
                    self.closed = Some(close.map_or(1005, |c| u16::from(c.code)));
                    return None;
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Sends a command and returns its answer (ack, error or pong), keeping other frames.
    pub async fn request(&mut self, mut command: Value) -> Value {
        self.next_ref += 1;
        let reference = format!("r{}", self.next_ref);
        command["ref"] = json!(reference);
        self.send_raw(Message::Text(command.to_string().into()))
            .await;
        loop {
            let frame = self
                .read(PATIENCE)
                .await
                .expect("an answer before the socket closed");
            if frame["ref"] == json!(reference) {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// Subscribes and returns the ack (asserting it is one); backfill frames stay in `pending`.
    pub async fn subscribe(&mut self, topic: &str, since: Option<i64>) -> Value {
        let mut command = json!({ "type": "subscribe", "topic": topic });
        if let Some(since) = since {
            command["since"] = json!(since);
        }
        let answer = self.request(command).await;
        assert_eq!(answer["type"], "ack", "subscribing to {topic}: {answer}");
        answer
    }

    /// The next event (from `pending` first).
    pub async fn event(&mut self) -> Value {
        match self.pending.pop_front() {
            Some(frame) => frame,
            None => self
                .read(PATIENCE)
                .await
                .expect("an event before the socket closed"),
        }
    }

    /// The next event of `kind`, skipping others.
    pub async fn event_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.event().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Every `message_new` until `n` have arrived.
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let frame = self.event().await;
            if frame["type"] == "message_new" {
                got.push(frame["message"].clone());
            }
        }
        got
    }

    /// Every frame up to and including the fence: the first that `is_fence`
    /// accepts. How a test shows that something did not arrive: the fence is
    /// a later event of the same ordered stream (a marker message sent after
    /// the step), so whatever the step made the server send came before it.
    /// Waiting a while instead would pass on a machine too slow to deliver.
    pub async fn until(
        &mut self,
        fence: &str,
        mut is_fence: impl FnMut(&Value) -> bool,
    ) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = match self.pending.pop_front() {
                Some(frame) => frame,
                None => self.read(PATIENCE).await.unwrap_or_else(|| {
                    panic!(
                        "the socket ended or stayed silent before {fence}; before it: {frames:?}"
                    )
                }),
            };
            let done = is_fence(&frame);
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// `until` the `message_new` of the message whose body is `body` (a marker).
    pub async fn until_message(&mut self, body: &str) -> Vec<Value> {
        self.until(&format!("the message {body:?}"), |f| {
            f["type"] == "message_new" && f["message"]["body"] == body
        })
        .await
    }

    /// Waits for the server to close; returns the close code.
    pub async fn closed_with(&mut self) -> u16 {
        while self.closed.is_none() {
            if self.read(PATIENCE).await.is_none() && self.closed.is_none() {
                return 0;
            }
        }
        self.closed.unwrap_or(0)
    }

    pub async fn close(mut self) {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }
}

/// A fence for a staff socket subscribed to `support:queue`: a session opened
/// now by a new customer, which every agent hears of while it waits. Returns
/// the socket's frames up to it: the listener dispatches in commit order, so
/// whatever an earlier step made the server send to this socket (on any of
/// its topics) came before.
pub async fn queue_fence(app: &TestApp, ws: &mut Ws) -> Vec<Value> {
    let customer = app.token(&format!("fence-{}", uuid::Uuid::new_v4().simple()), "user");
    let fence = app.open_session(&customer).await;
    ws.until("the fence session on support:queue", |f| {
        f["topic"] == "support:queue" && f["session"]["id"] == fence["id"]
    })
    .await
}

/// A fence for a customer's socket: a support session of their own,
/// subscribed to, and a marker sent in it. Returns the socket's frames up to
/// the marker (which fences every topic, as with `queue_fence`).
pub async fn session_fence(app: &TestApp, ws: &mut Ws, customer: &str) -> Vec<Value> {
    let session = app.open_session(customer).await;
    let conversation = &session["conversation_id"];
    ws.subscribe(&format!("conversation:{}", as_id(conversation)), None)
        .await;
    app.send(customer, conversation, "marker").await;
    ws.until_message("marker").await
}

/// A second `pgchat serve` process on the test's database: a real other node.
pub struct Node {
    pub port: u16,
    child: Child,
}

impl Node {
    pub async fn start(app: &TestApp, extra_env: &[(&str, &str)]) -> Node {
        Node::start_with(&conn_string(&app.db_config), &app.secret, extra_env).await
    }

    /// A node on any database (a private cluster, say).
    pub async fn start_with(database_url: &str, secret: &str, extra_env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_pgchat"));
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("PGCHAT_JWT_SECRET", secret)
            .env("PGCHAT_BIND", format!("127.0.0.1:{port}"))
            .env(
                "PGCHAT_DATA_DIR",
                std::env::temp_dir().join(format!("pgchat-node-{port}")),
            )
            .env("RUST_LOG", "warn")
            .env("PGCHAT_SEND_RATE", "0")
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("starting a second node");
        let node = Node { port, child };
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let http = reqwest::Client::new();
        wait_for("the second node to be ready", || async {
            http.get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        node
    }

    /// `http://127.0.0.1:<port>`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM: the graceful shutdown (stop accepting, close sockets with 1012,
    /// finish requests in flight, exit 0).
    pub fn terminate(&self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        kill(pid, Signal::SIGTERM).expect("sending SIGTERM");
    }

    /// The exit status, once the process has exited.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        let child = &mut self.child;
        wait_for("the node to exit", || {
            std::future::ready(child.try_wait().expect("the node's status"))
        })
        .await
    }

    /// kill -9: no goodbye, no cleanup.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}

/// A key=value connection string for a tokio-postgres config (TCP or Unix socket).
pub fn conn_string(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match &config.get_hosts()[0] {
        Host::Tcp(host) => host.clone(),
        Host::Unix(path) => path.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "host={host} port={port} user={} dbname={}",
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres")
    )
}
