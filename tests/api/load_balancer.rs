//! Three `pgchat serve` nodes behind a real nginx (the Debian package, started
//! here with a config of its own: WebSocket upgrade, SSE unbuffered, the
//! `X-Forwarded-For` chain), one of them killed with SIGKILL while messages
//! flow. Its clients reconnect through the balancer to the others, resume by
//! cursor, and every acknowledged message arrives exactly once, in order.
//! README's deployment section has the same nginx settings.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::helpers::{as_id, spawn_app, wait_for};
use crate::ws_client::Node;

/// nginx in the foreground (`daemon off`), with its files in a folder of its own.
struct Nginx {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Nginx {
    /// Starts nginx in front of `nodes` and waits until it answers through them.
    async fn start(nodes: &[u16]) -> Nginx {
        let binary = [
            "/usr/sbin/nginx",
            "/usr/local/sbin/nginx",
            "/usr/local/nginx/sbin/nginx",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("nginx is not installed: `apt-get install nginx` (scripts/test.sh does)");
        let dir = std::env::temp_dir().join(format!("pgchat-nginx-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let servers = nodes
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;\n"))
            .collect::<Vec<_>>()
            .concat();
        let d = dir.display();
        let config = format!(
            r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream pgchat {{
{servers}        keepalive 16;
        keepalive_timeout 10s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://pgchat;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 75s;
            proxy_send_timeout 75s;
            # Which node answered (the test's own need, not production's).
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"#
        );
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting nginx");
        let mut nginx = Nginx { port, dir, child };
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let (child, dir) = (&mut nginx.child, &nginx.dir);
        wait_for(&format!("nginx to answer on port {port}"), || {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}): {log}");
            }
            let ready = &ready;
            async move {
                reqwest::get(ready)
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        nginx
    }
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers (a SIGKILL would orphan
    /// them, still holding whatever files the test process handed down).
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        let _ = kill(pid, Signal::SIGTERM);
        // Drop cannot await (no wait_for): a bounded poll for the exit.
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one client saw: the messages in arrival order, the nodes it was
/// served by, and how long each reconnect took (socket lost → subscribed again).
#[derive(Default)]
struct Seen {
    messages: Vec<Value>,
    upstreams: Vec<String>,
    reconnects: Vec<Duration>,
}

type Shared = Arc<Mutex<Seen>>;

/// A WebSocket client through the balancer: subscribes with its cursor,
/// collects `prefix` messages until it has `want`, reconnects whenever its
/// socket ends.
async fn ws_client(lb: u16, token: String, topic: String, want: usize, seen: Shared) {
    let mut cursor = 0i64;
    let mut lost: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.lock().unwrap().messages.len() < want {
        assert!(Instant::now() < deadline, "the client gave up reconnecting");
        let url = format!("ws://127.0.0.1:{lb}/v1/ws?token={token}");
        let Ok((mut socket, response)) = tokio_tungstenite::connect_async(url).await else {
            tokio::time::sleep(Duration::from_millis(20)).await; // a retry's backoff
            continue;
        };
        let upstream = upstream_of(response.headers());
        let subscribe = json!({ "type": "subscribe", "topic": topic, "since": cursor, "ref": "s" });
        if socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .is_err()
        {
            continue;
        }
        while let Some(Ok(frame)) = socket.next().await {
            let Message::Text(text) = frame else { continue };
            let frame: Value = serde_json::from_str(&text).unwrap();
            let mut seen = seen.lock().unwrap();
            if frame["type"] == "ack" && frame["ref"] == "s" {
                seen.upstreams.push(upstream.clone());
                if let Some(lost) = lost.take() {
                    seen.reconnects.push(lost.elapsed());
                }
            }
            if let Some(cs) = frame["change_seq"].as_i64() {
                cursor = cursor.max(cs);
            }
            if frame["type"] == "message_new" {
                seen.messages.push(frame["message"].clone());
                if seen.messages.len() >= want {
                    return;
                }
            }
        }
        lost = Some(Instant::now());
    }
}

/// The same through Server-Sent Events: `Last-Event-ID` carries the cursor.
async fn sse_client(lb: u16, token: String, topic: String, want: usize, seen: Shared) {
    let http = reqwest::Client::new();
    let mut last_id: Option<String> = None;
    let mut lost: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.lock().unwrap().messages.len() < want {
        assert!(
            Instant::now() < deadline,
            "the SSE client gave up reconnecting"
        );
        let mut request = http
            .get(format!(
                "http://127.0.0.1:{lb}/v1/events?topic={topic}&since=0"
            ))
            .bearer_auth(&token);
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id);
        }
        let mut response = match request.send().await {
            Ok(response) if response.status().is_success() => response,
            _ => {
                tokio::time::sleep(Duration::from_millis(20)).await; // a retry's backoff
                continue;
            }
        };
        {
            let mut seen = seen.lock().unwrap();
            seen.upstreams.push(upstream_of(response.headers()));
            if let Some(lost) = lost.take() {
                seen.reconnects.push(lost.elapsed());
            }
        }
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let mut data = None;
                for line in event.lines() {
                    if let Some(id) = line.strip_prefix("id:") {
                        last_id = Some(id.trim().to_owned());
                    } else if let Some(json) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str::<Value>(json.trim()).unwrap());
                    }
                }
                if let Some(frame) = data.filter(|f| f["type"] == "message_new") {
                    let mut seen = seen.lock().unwrap();
                    seen.messages.push(frame["message"].clone());
                    if seen.messages.len() >= want {
                        return;
                    }
                }
            }
        }
        lost = Some(Instant::now());
    }
}

fn upstream_of(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("x-upstream")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_behind_nginx_loses_its_clients_to_the_others_and_no_message() {
    let app = spawn_app().await;
    let nodes = [
        Node::start(&app, &[]).await,
        Node::start(&app, &[]).await,
        Node::start(&app, &[]).await,
    ];
    let mut nodes: HashMap<String, Node> = nodes
        .into_iter()
        .map(|node| (format!("127.0.0.1:{}", node.port), node))
        .collect();
    let ports: Vec<u16> = nodes.values().map(|n| n.port).collect();
    let nginx = Nginx::start(&ports).await;
    let lb = format!("http://127.0.0.1:{}", nginx.port);
    let http = reqwest::Client::new();

    let customer = app.token("lb-customer", "user");
    let agent = app.token("lb-agent", "agent");
    let opened: Value = http
        .post(format!("{lb}/v1/support/sessions"))
        .bearer_auth(&customer)
        .json(&json!({ "subject": "lb", "message": { "body": "hello", "client_msg_id": Uuid::new_v4() } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = as_id(&opened["conversation_id"]).to_owned();
    let claimed = http
        .post(format!(
            "{lb}/v1/support/sessions/{}/claim",
            as_id(&opened["id"])
        ))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert!(claimed.status().is_success(), "claim: {}", claimed.status());
    let topic = format!("conversation:{conversation}");

    // The opening message and the claim's system message come first; then ours.
    const N: usize = 400;
    let before = app
        .count(&format!(
            "SELECT count(*) FROM chat_messages WHERE conversation_id = '{conversation}'"
        ))
        .await as usize;
    let want = before + N;
    let clients: Vec<(bool, Shared)> = (0..7).map(|i| (i == 6, Shared::default())).collect();
    let tasks: Vec<_> = clients
        .iter()
        .map(|(sse, seen)| {
            let (token, topic, seen) = (customer.clone(), topic.clone(), seen.clone());
            match sse {
                false => tokio::spawn(ws_client(nginx.port, token, topic, want, seen)),
                true => tokio::spawn(sse_client(nginx.port, token, topic, want, seen)),
            }
        })
        .collect();
    // Every client is subscribed (a fact each reports) before the first send.
    wait_for("every client subscribed", || async {
        clients
            .iter()
            .all(|(_, s)| !s.lock().unwrap().upstreams.is_empty())
    })
    .await;
    // The node with the most clients is the one to kill.
    let mut load: HashMap<String, usize> = HashMap::new();
    for (_, seen) in &clients {
        *load
            .entry(seen.lock().unwrap().upstreams[0].clone())
            .or_default() += 1;
    }
    let victim = load.iter().max_by_key(|(_, n)| **n).unwrap().0.clone();
    assert!(
        nodes.contains_key(&victim),
        "x-upstream {victim} is one of ours"
    );

    let mut acked = Vec::new();
    let mut failed_sends = 0;
    let mut killed_at = None;
    for i in 0..N {
        let body = json!({ "body": format!("failover-{i}"), "client_msg_id": Uuid::new_v4() });
        loop {
            let sent = http
                .post(format!("{lb}/v1/conversations/{conversation}/messages"))
                .bearer_auth(&agent)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => break,
                // The killed node's request in flight: retried with the same client_msg_id.
                _ => failed_sends += 1,
            }
        }
        acked.push(format!("failover-{i}"));
        if i == N / 3 {
            nodes.get_mut(&victim).unwrap().kill();
            killed_at = Some(Instant::now());
        }
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("every client got every message")
            .unwrap();
    }
    let failover = killed_at.unwrap().elapsed();

    let mut reconnects = Vec::new();
    for (sse, seen) in &clients {
        let seen = seen.lock().unwrap();
        let kind = if *sse { "SSE" } else { "WebSocket" };
        let ids: Vec<&str> = seen.messages.iter().map(|m| as_id(&m["id"])).collect();
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "{kind}: no duplicate");
        let seqs: Vec<i64> = seen
            .messages
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{kind}: in seq order");
        let bodies: HashSet<&str> = seen
            .messages
            .iter()
            .filter_map(|m| m["body"].as_str())
            .collect();
        let missing: Vec<&String> = acked
            .iter()
            .filter(|b| !bodies.contains(b.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{kind}: acked but never delivered: {missing:?}"
        );
        if seen.upstreams[0] == victim {
            assert_eq!(seen.reconnects.len(), 1, "{kind}: reconnected once");
            assert_ne!(
                seen.upstreams.last(),
                Some(&victim),
                "{kind}: to another node"
            );
            reconnects.extend(seen.reconnects.iter().copied());
        } else {
            assert!(
                seen.reconnects.is_empty(),
                "{kind}: clients of the other nodes stay"
            );
        }
    }
    assert!(!reconnects.is_empty(), "the killed node had clients");
    reconnects.sort();
    let stored = app
        .count("SELECT count(*) FROM chat_messages WHERE body LIKE 'failover-%'")
        .await;
    assert_eq!(
        stored as usize, N,
        "one row per message: retries were idempotent"
    );
    eprintln!(
        "load balancer failover: {N} messages × {} clients ({} on the killed node), \
         reconnect max {:?} (median {:?}), {failed_sends} sends retried, duplicates 0, missing 0, \
         all delivered {:?} after the kill",
        clients.len(),
        reconnects.len(),
        reconnects[reconnects.len() - 1],
        reconnects[reconnects.len() / 2],
        failover,
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}
