//! The bench's side of the protocol: REST setup calls, WebSocket connections,
//! and samples of the server's `/metrics`.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context as _};
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

use crate::auth::Role;
use crate::bench::report::ServerSample;
use crate::bench::role_token;

pub type Ws = WebSocketStream<TcpStream>;

pub struct Context {
    pub base: String,
    pub addr: SocketAddr,
    pub secret: String,
    pub http: reqwest::Client,
}

impl Context {
    pub fn new(url: &str, secret: String) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_owned();
        let authority = base
            .strip_prefix("http://")
            .context("--url must be http://host:port")?;
        let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)?
            .next()
            .context("resolving --url")?;
        Ok(Self {
            base,
            addr,
            secret,
            http: reqwest::Client::new(),
        })
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    /// A claimed support chat between `customer` and `agent`: its conversation id.
    pub async fn support_chat(&self, customer: &str, agent: &str) -> anyhow::Result<Uuid> {
        let customer = role_token(self, customer, Role::User);
        let agent = role_token(self, agent, Role::Agent);
        let session = self
            .post(
                &customer,
                "/v1/support/sessions",
                &json!({ "subject": "bench", "message": { "body": "hello", "client_msg_id": Uuid::new_v4() } }),
            )
            .await?;
        let id = session["id"].as_str().context("a session id")?;
        self.post(
            &agent,
            &format!("/v1/support/sessions/{id}/claim"),
            &json!({}),
        )
        .await?;
        // A first answer, so that later agent messages take the batched path.
        let conversation = session["conversation_id"]
            .as_str()
            .context("a conversation id")?;
        self.post(
            &agent,
            &format!("/v1/conversations/{conversation}/messages"),
            &json!({ "body": "hi", "client_msg_id": Uuid::new_v4() }),
        )
        .await?;
        Ok(conversation.parse()?)
    }

    pub async fn connect(&self, token: &str) -> anyhow::Result<Ws> {
        self.connect_from(token, None).await
    }

    /// Connects from a given local address (many loopback addresses give more ports).
    pub async fn connect_from(&self, token: &str, local: Option<IpAddr>) -> anyhow::Result<Ws> {
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = local {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{}/v1/ws?token={token}", self.addr);
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await?;
        Ok(ws)
    }

    /// CPU seconds and RSS of the server process.
    pub async fn sample(&self) -> ServerSample {
        let text = match self.http.get(format!("{}/metrics", self.base)).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let read = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // `pgchat_dispatch_latency_seconds_bucket{le="0.05"} 1234`; `+Inf` is infinite.
        let dispatch_buckets = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("pgchat_dispatch_latency_seconds_bucket{le=\"")?;
                let (le, count) = rest.split_once("\"} ")?;
                Some((le.parse::<f64>().ok()?, count.trim().parse::<f64>().ok()?))
            })
            .collect();
        ServerSample {
            cpu_seconds: read("pgchat_process_cpu_seconds_total "),
            rss_bytes: read("pgchat_process_resident_memory_bytes "),
            dispatch_buckets,
        }
    }
}

/// Sends a JSON frame.
pub async fn send(
    ws: &mut (impl SinkExt<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin),
    frame: &Value,
) -> anyhow::Result<()> {
    ws.send(Message::Text(frame.to_string().into())).await?;
    Ok(())
}

/// Microseconds since the Unix epoch: the send time carried in message bodies.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A body that carries its send time.
pub fn stamped_body() -> String {
    format!("b|{}", now_micros())
}

/// The send time in a stamped body, if it is one.
pub fn stamp_of(body: &str) -> Option<u64> {
    body.strip_prefix("b|")?.parse().ok()
}
