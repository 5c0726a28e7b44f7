//! The load scenarios. Each sets up its own users and conversations (named
//! after a fresh run id, so runs never collide) and reports a `Report`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{watch, Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::auth::Role;
use crate::bench::client::{self, stamp_of, stamped_body, Context, Ws};
use crate::bench::report::{round, Latencies, Report, Totals};
use crate::bench::{role_token, BenchArgs};

/// Frames one publisher may have in flight (the server answers them in order).
const WINDOW: usize = 64;

fn run_id() -> String {
    Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// Counters shared by the tasks of a run.
#[derive(Default)]
struct Tally {
    persisted: AtomicU64,
    deliveries: AtomicU64,
    errors: AtomicU64,
    /// Sends refused at once because the server's send queue was full.
    refused: AtomicU64,
    /// Error frames by code.
    error_codes: Mutex<std::collections::BTreeMap<String, u64>>,
    latencies: Mutex<Latencies>,
}

impl Tally {
    /// Counts an error frame by its code.
    async fn error(&self, code: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .error_codes
            .lock()
            .await
            .entry(code.to_owned())
            .or_default() += 1;
    }

    fn totals(&self) -> Totals {
        Totals {
            persisted: self.persisted.load(Ordering::Relaxed),
            deliveries: self.deliveries.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// The parts of a server frame the generator reads. Everything else is
/// skipped unparsed: the generator shares the machine with the server, and a
/// full `Value` per frame (50,000 frames a second in a fan-out) costs it more
/// than the server spends sending them.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<FrameMessage<'a>>,
    #[serde(default, borrow)]
    code: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct FrameMessage<'a> {
    #[serde(default, borrow)]
    body: Option<std::borrow::Cow<'a, str>>,
}

/// Reads a subscriber's socket until `stop`: counts deliveries, records latencies.
fn spawn_subscriber(
    mut ws: Ws,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut local = Latencies::default();
        loop {
            let frame = tokio::select! {
                _ = stop.changed() => break,
                frame = ws.next() => frame,
            };
            let Some(Ok(Message::Text(text))) = frame else {
                if matches!(frame, Some(Ok(_))) {
                    continue;
                }
                break;
            };
            let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                continue;
            };
            if frame.kind == "message_new" {
                tally.deliveries.fetch_add(1, Ordering::Relaxed);
                let body = frame.message.and_then(|m| m.body);
                if let Some(sent) = body.as_deref().and_then(stamp_of) {
                    local.record(client::now_micros().saturating_sub(sent));
                }
            }
        }
        tally.latencies.lock().await.merge(&local);
    })
}

/// Subscribes and waits for the ack.
async fn subscribe(ws: &mut Ws, topic: &str) -> anyhow::Result<()> {
    client::send(
        ws,
        &json!({ "type": "subscribe", "topic": topic, "ref": "s" }),
    )
    .await?;
    while let Some(frame) = ws.next().await {
        if let Message::Text(text) = frame? {
            let value: Value = serde_json::from_str(&text)?;
            match value["type"].as_str() {
                Some("ack") => return Ok(()),
                Some("error") => anyhow::bail!("subscribe {topic}: {value}"),
                _ => {}
            }
        }
    }
    anyhow::bail!("closed while subscribing to {topic}")
}

/// A publisher: sends stamped messages at `rate` per second (0: as fast as
/// the window allows) until `deadline`, then waits for the outstanding acks.
async fn publish(ws: Ws, conversation: Uuid, rate: f64, deadline: Instant, tally: Arc<Tally>) {
    let (mut sink, mut stream) = ws.split();
    let window = Arc::new(Semaphore::new(WINDOW));
    let sent = Arc::new(AtomicU64::new(0));
    let reader = {
        let (window, tally) = (window.clone(), tally.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                    continue;
                };
                match &*frame.kind {
                    "ack" => {
                        tally.persisted.fetch_add(1, Ordering::Relaxed);
                    }
                    "error" => tally.error(frame.code.as_deref().unwrap_or("?")).await,
                    _ => continue,
                };
                window.add_permits(1);
            }
        })
    };
    let mut tick = (rate > 0.0).then(|| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    while Instant::now() < deadline {
        if let Some(tick) = tick.as_mut() {
            tick.tick().await;
        }
        let Ok(permit) = window.acquire().await else {
            break;
        };
        permit.forget();
        let frame = json!({
            "type": "send_message", "conversation_id": conversation,
            "client_msg_id": Uuid::new_v4(), "body": stamped_body(),
        });
        if sink
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            tally.errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
        sent.fetch_add(1, Ordering::Relaxed);
    }
    // Every sent frame is answered: wait until the window is whole again.
    let _ = tokio::time::timeout(Duration::from_secs(10), window.acquire_many(WINDOW as u32)).await;
    let _ = sink.close().await;
    reader.abort();
}

/// R conversations × S subscribers, P publishers at `rate` messages per second.
pub async fn fan_out(ctx: &Context, args: &BenchArgs, rate: u64) -> anyhow::Result<Report> {
    let run = run_id();
    let rooms = args.rooms.max(1);
    let mut conversations = Vec::new();
    for r in 0..rooms {
        conversations.push(
            ctx.support_chat(&format!("bench-{run}-c{r}"), &format!("bench-{run}-a{r}"))
                .await?,
        );
    }
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = watch::channel(false);
    let mut readers = Vec::new();
    for (r, conversation) in conversations.iter().enumerate() {
        for s in 0..args.subscribers {
            let token = role_token(ctx, &format!("bench-{run}-s{r}x{s}"), Role::Admin);
            let mut ws = ctx
                .connect(&token)
                .await
                .context("connecting a subscriber")?;
            subscribe(&mut ws, &format!("conversation:{conversation}")).await?;
            readers.push(spawn_subscriber(ws, tally.clone(), stopped.clone()));
        }
    }
    let publishers = args.publishers.clamp(1, rooms * 2);
    let per_publisher = rate as f64 / publishers as f64;
    let mut sockets = Vec::new();
    for p in 0..publishers {
        let (who, role) = if p < rooms {
            ("c", Role::User)
        } else {
            ("a", Role::Agent)
        };
        let token = role_token(ctx, &format!("bench-{run}-{who}{}", p % rooms), role);
        sockets.push((ctx.connect(&token).await?, conversations[p % rooms]));
    }
    let before = ctx.sample().await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|(ws, conversation)| {
            tokio::spawn(publish(
                ws,
                conversation,
                per_publisher,
                deadline,
                tally.clone(),
            ))
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    // Let the last deliveries arrive.
    let expected = tally.persisted.load(Ordering::Relaxed) * args.subscribers as u64;
    let settle = Instant::now();
    while tally.deliveries.load(Ordering::Relaxed) < expected
        && settle.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = ctx.sample().await;
    stop.send_replace(true);
    for reader in readers {
        let _ = reader.await;
    }
    let mut report = Report::new("fan-out");
    report.set("rooms", rooms as u64);
    report.set("subscribers_per_room", args.subscribers as u64);
    report.set("publishers", publishers as u64);
    report.set("target_rate", rate);
    let latencies = tally.latencies.lock().await;
    report.load(elapsed, tally.totals(), &latencies, (before, after));
    report.set(
        "missing_deliveries",
        expected.saturating_sub(tally.deliveries.load(Ordering::Relaxed)),
    );
    report.set("error_codes", json!(*tally.error_codes.lock().await));
    Ok(report)
}

/// Customer/agent pairs answering each other: each hop's send → receive latency.
pub async fn support(ctx: &Context, args: &BenchArgs) -> anyhow::Result<Report> {
    let run = run_id();
    let tally = Arc::new(Tally::default());
    let mut pairs = Vec::new();
    for i in 0..args.pairs.max(1) {
        let (customer, agent) = (format!("bench-{run}-c{i}"), format!("bench-{run}-a{i}"));
        let conversation = ctx.support_chat(&customer, &agent).await?;
        let mut c = ctx.connect(&role_token(ctx, &customer, Role::User)).await?;
        let mut a = ctx.connect(&role_token(ctx, &agent, Role::Agent)).await?;
        subscribe(&mut c, &format!("conversation:{conversation}")).await?;
        subscribe(&mut a, &format!("conversation:{conversation}")).await?;
        pairs.push((c, a, conversation));
    }
    let before = ctx.sample().await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let tasks: Vec<_> = pairs
        .into_iter()
        .map(|(mut customer, mut agent, conversation)| {
            let tally = tally.clone();
            tokio::spawn(async move {
                let mut local = Latencies::default();
                let mut turn = 0usize;
                while Instant::now() < deadline {
                    turn += 1;
                    let (from, to) = if turn % 2 == 1 {
                        (&mut customer, &mut agent)
                    } else {
                        (&mut agent, &mut customer)
                    };
                    let client_msg_id = Uuid::new_v4();
                    let frame = json!({ "type": "send_message", "ref": turn.to_string(),
                                        "conversation_id": conversation,
                                        "client_msg_id": client_msg_id, "body": stamped_body() });
                    if client::send(from, &frame).await.is_err() {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    match answer(from, &turn.to_string()).await {
                        Some(Ok(())) => {}
                        // refused at once by a full send queue: the same turn again, shortly
                        Some(Err(code)) if code == "overloaded" => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                            turn -= 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        _ => {
                            tally.errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                    match hop(to, client_msg_id).await {
                        Some(latency) => {
                            local.record(latency);
                            tally.deliveries.fetch_add(1, Ordering::Relaxed);
                            tally.persisted.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            tally.errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                tally.latencies.lock().await.merge(&local);
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    let after = ctx.sample().await;
    let mut report = Report::new("support");
    report.set("pairs", args.pairs as u64);
    report.set("refused_overloaded", tally.refused.load(Ordering::Relaxed));
    let latencies = tally.latencies.lock().await;
    report.load(elapsed, tally.totals(), &latencies, (before, after));
    Ok(report)
}

/// Waits on `ws` for the message sent as `client_msg_id`: its send → receive
/// latency in microseconds.
async fn hop(ws: &mut Ws, client_msg_id: Uuid) -> Option<u64> {
    let id = client_msg_id.to_string();
    loop {
        let value = next_json(ws).await?;
        if value["type"] == "message_new" && value["message"]["client_msg_id"] == id.as_str() {
            let sent = value["message"]["body"].as_str().and_then(stamp_of)?;
            return Some(client::now_micros().saturating_sub(sent));
        }
    }
}

/// Waits on `ws` for the answer to the frame sent with `reference`: Ok for
/// an ack, the error code otherwise (None if the socket ends or stalls).
async fn answer(ws: &mut Ws, reference: &str) -> Option<Result<(), String>> {
    loop {
        let value = next_json(ws).await?;
        if value["ref"] == reference {
            return Some(match value["type"].as_str() {
                Some("ack") => Ok(()),
                _ => Err(value["code"].as_str().unwrap_or("error").to_owned()),
            });
        }
    }
}

/// The next JSON text frame (10 s at most).
async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).ok();
        }
    }
}

/// Opens idle connections (each a user of its own, answering pings) until the
/// count or the server memory budget is reached; reports RSS per connection.
pub async fn capacity(ctx: &Context, args: &BenchArgs) -> anyhow::Result<Report> {
    let run = run_id();
    let before = ctx.sample().await;
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let opened = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let budget = args.memory_mb as f64 * 1_048_576.0;
    let mut holders = Vec::with_capacity(args.connections);
    let mut peak = before.clone();
    for k in 0..args.connections {
        if k % 1000 == 999 {
            peak = ctx.sample().await;
            if peak.rss_bytes >= budget {
                break;
            }
        }
        let permit = gate.clone().acquire_owned().await?;
        let token = role_token(ctx, &format!("bench-{run}-i{k}"), Role::User);
        // 127.0.0.x: a fresh loopback address every 20,000 connections, for ports.
        let local = (ctx.addr.ip().is_loopback() && ctx.addr.is_ipv4()).then(|| {
            IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                (k / 20_000 / 250) as u8,
                (1 + (k / 20_000) % 250) as u8,
            ))
        });
        let (opened, failed, mut stopped) = (opened.clone(), failed.clone(), stopped.clone());
        let future = ctx.connect_from(&token, local);
        let ws = future.await;
        drop(permit);
        match ws {
            Ok(mut ws) => {
                opened.fetch_add(1, Ordering::Relaxed);
                holders.push(tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = stopped.changed() => break,
                            frame = ws.next() => if !matches!(frame, Some(Ok(_))) { break },
                        }
                    }
                }));
            }
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = ctx.sample().await;
    let elapsed = started.elapsed();
    stop.send_replace(true);
    for holder in holders {
        let _ = holder.await;
    }
    let count = opened.load(Ordering::Relaxed);
    let mut report = Report::new("capacity");
    report.set("connections", count);
    report.set("errors", failed.load(Ordering::Relaxed));
    report.set("seconds_to_open", round(elapsed.as_secs_f64()));
    report.set(
        "server_rss_mb_before",
        round(before.rss_bytes / 1_048_576.0),
    );
    report.set(
        "server_rss_mb",
        round(after.rss_bytes.max(peak.rss_bytes) / 1_048_576.0),
    );
    report.set(
        "rss_bytes_per_connection",
        round((after.rss_bytes - before.rss_bytes) / count.max(1) as f64),
    );
    report.set("persisted_per_s", 0);
    report.set("deliveries_per_s", 0);
    report.set("p50_ms", 0);
    report.set("p99_ms", 0);
    Ok(report)
}

/// Fan-out at rising rates until p99 passes the bound (or the server cannot
/// keep the rate); the highest rate that held is the result.
pub async fn ramp(ctx: &Context, args: &BenchArgs) -> anyhow::Result<Report> {
    let mut best: Option<Report> = None;
    let mut first: Option<Report> = None;
    let mut steps = Vec::new();
    let mut rate = args.rate.max(100);
    loop {
        let step = fan_out(ctx, args, rate).await?;
        first.get_or_insert_with(|| step.clone());
        let get = |k: &str| step.fields.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let (achieved, p99, errors) = (get("persisted_per_s"), get("p99_ms"), get("errors"));
        steps.push(
            json!({ "target": rate, "persisted_per_s": achieved, "p99_ms": p99, "errors": errors }),
        );
        let held = p99 <= args.p99_bound_ms && errors == 0.0 && achieved >= rate as f64 * 0.9;
        if !held || rate >= 1_000_000 {
            break;
        }
        best = Some(step);
        rate *= 2;
    }
    // no step held: the first step's figures, and nothing sustained
    let sustained = best
        .as_ref()
        .and_then(|r| r.fields.get("persisted_per_s").cloned())
        .unwrap_or(json!(0));
    let mut report = best.or(first).expect("at least one step ran");
    report.scenario = "ramp".into();
    report.set("highest_sustained_per_s", sustained);
    report.set("p99_bound_ms", args.p99_bound_ms);
    report.set("steps", Value::Array(steps));
    Ok(report)
}

/// A subscriber misses `backlog` messages, reconnects with its cursor, and is
/// timed until it has them all.
pub async fn resume(ctx: &Context, args: &BenchArgs) -> anyhow::Result<Report> {
    let run = run_id();
    let (customer, agent) = (format!("bench-{run}-c"), format!("bench-{run}-a"));
    let conversation = ctx.support_chat(&customer, &agent).await?;
    let topic = format!("conversation:{conversation}");
    let reader_token = role_token(ctx, &customer, Role::User);
    let mut ws = ctx.connect(&reader_token).await?;
    client::send(
        &mut ws,
        &json!({ "type": "subscribe", "topic": topic, "since": 0, "ref": "s" }),
    )
    .await?;
    let cursor = loop {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            anyhow::bail!("closed")
        };
        let value: Value = serde_json::from_str(&text)?;
        if value["type"] == "ack" {
            break value["cursor"].as_i64().context("a cursor")?;
        }
    };
    drop(ws);
    // The backlog, sent as fast as the server takes it (64 in flight).
    let writer = role_token(ctx, &agent, Role::Agent);
    let path = format!("/v1/conversations/{conversation}/messages");
    let fill_started = Instant::now();
    let results = futures::stream::iter(0..args.backlog)
        .map(|i| {
            let (writer, path) = (&writer, &path);
            async move {
                let body =
                    json!({ "body": format!("backlog {i}"), "client_msg_id": Uuid::new_v4() });
                ctx.post(writer, path, &body).await
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let fill_secs = fill_started.elapsed().as_secs_f64();
    let errors = results.iter().filter(|r| r.is_err()).count() as u64;

    let before = ctx.sample().await;
    let started = Instant::now();
    let mut ws = ctx.connect(&reader_token).await?;
    client::send(
        &mut ws,
        &json!({ "type": "subscribe", "topic": topic, "since": cursor, "ref": "s" }),
    )
    .await?;
    let mut received = 0usize;
    while received < args.backlog {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .ok()
            .flatten();
        let Some(Ok(Message::Text(text))) = frame else {
            break;
        };
        if text.contains("\"type\":\"message_new\"") {
            received += 1;
        }
    }
    let elapsed = started.elapsed();
    let after = ctx.sample().await;
    let mut report = Report::new("resume");
    report.set("backlog", args.backlog as u64);
    report.set("received", received as u64);
    report.set("resume_ms", round(elapsed.as_secs_f64() * 1000.0));
    report.set("backlog_fill_per_s", round(args.backlog as f64 / fill_secs));
    report.set("persisted_per_s", round(args.backlog as f64 / fill_secs));
    report.set(
        "deliveries_per_s",
        round(received as f64 / elapsed.as_secs_f64()),
    );
    report.set("p50_ms", 0);
    report.set("p99_ms", round(elapsed.as_secs_f64() * 1000.0));
    report.set("errors", errors + (args.backlog - received) as u64);
    report.set(
        "server_cpu_percent",
        round((after.cpu_seconds - before.cpu_seconds) / elapsed.as_secs_f64() * 100.0),
    );
    report.set("server_rss_mb", round(after.rss_bytes / 1_048_576.0));
    Ok(report)
}

/// A reconnect storm: `--connections` subscribers spread over `--rooms`
/// conversations are away while each conversation gets `--backlog` messages,
/// then all reconnect at once with their cursors. Reports the time until the
/// last has caught up, the server's peak RSS meanwhile, and the CPU
/// PostgreSQL spent (read from /proc: a PostgreSQL on the bench's machine).
pub async fn storm(ctx: &Context, args: &BenchArgs) -> anyhow::Result<Report> {
    let run = run_id();
    let rooms = args.rooms.max(1);
    let mut conversations = Vec::new();
    for r in 0..rooms {
        let conversation = ctx
            .support_chat(&format!("bench-{run}-c{r}"), &format!("bench-{run}-a{r}"))
            .await?;
        conversations.push(conversation);
    }
    // where each conversation stands before the backlog: every subscriber's cursor
    let reader = role_token(ctx, &format!("bench-{run}-reader"), Role::Admin);
    let mut ws = ctx.connect(&reader).await?;
    let mut cursors = Vec::new();
    for conversation in &conversations {
        let topic = format!("conversation:{conversation}");
        client::send(
            &mut ws,
            &json!({ "type": "subscribe", "topic": topic, "ref": "s" }),
        )
        .await?;
        cursors.push(ack_cursor(&mut ws).await?);
    }
    drop(ws);
    let path_of = |c: &Uuid| format!("/v1/conversations/{c}/messages");
    let writers: Vec<String> = (0..rooms)
        .map(|r| role_token(ctx, &format!("bench-{run}-a{r}"), Role::Agent))
        .collect();
    let fill_started = Instant::now();
    let fills =
        futures::stream::iter((0..args.backlog).flat_map(|i| (0..rooms).map(move |r| (i, r))))
            .map(|(i, r)| {
                let (token, path) = (&writers[r], path_of(&conversations[r]));
                async move {
                    let body =
                        json!({ "body": format!("missed {i}"), "client_msg_id": Uuid::new_v4() });
                    ctx.post(token, &path, &body).await
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
    let fill_secs = fill_started.elapsed().as_secs_f64();
    let errors = fills.iter().filter(|r| r.is_err()).count() as u64;

    let subscribers = args.connections.max(1);
    let tokens: Vec<String> = (0..subscribers)
        .map(|s| role_token(ctx, &format!("bench-{run}-s{s}"), Role::Admin))
        .collect();
    let pg_before = postgres_cpu_seconds();
    let before = ctx.sample().await;
    let (done, mut sampler_stop) = watch::channel(false);
    let sampler = {
        let ctx_base = ctx.base.clone();
        let http = ctx.http.clone();
        tokio::spawn(async move {
            let mut peak = 0f64;
            loop {
                if let Ok(response) = http.get(format!("{ctx_base}/metrics")).send().await {
                    let text = response.text().await.unwrap_or_default();
                    if let Some(rss) = text.lines().find_map(|l| {
                        l.strip_prefix("pgchat_process_resident_memory_bytes ")?
                            .trim()
                            .parse::<f64>()
                            .ok()
                    }) {
                        peak = peak.max(rss);
                    }
                }
                tokio::select! {
                    _ = sampler_stop.changed() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            peak
        })
    };
    let started = Instant::now();
    let backlog = args.backlog;
    let results = futures::future::join_all(tokens.iter().enumerate().map(|(s, token)| {
        let (conversation, cursor) = (conversations[s % rooms], cursors[s % rooms]);
        async move {
            let mut ws = ctx.connect(token).await?;
            let topic = format!("conversation:{conversation}");
            client::send(
                &mut ws,
                &json!({ "type": "subscribe", "topic": topic, "since": cursor, "ref": "s" }),
            )
            .await?;
            let mut received = 0usize;
            while received < backlog {
                let frame = tokio::time::timeout(Duration::from_secs(60), ws.next()).await;
                let Ok(Some(Ok(Message::Text(text)))) = frame else {
                    anyhow::bail!("socket ended after {received} of {backlog}");
                };
                if text.contains("\"type\":\"message_new\"") {
                    received += 1;
                }
            }
            Ok::<_, anyhow::Error>(started.elapsed())
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let pg_after = postgres_cpu_seconds();
    let after = ctx.sample().await;
    done.send_replace(true);
    let peak_rss = sampler.await.unwrap_or(0.0).max(after.rss_bytes);
    let caught_up: Vec<Duration> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let failed = (results.len() - caught_up.len()) as u64;
    let mut latencies = Latencies::default();
    for d in &caught_up {
        latencies.record(d.as_micros() as u64);
    }
    let mut report = Report::new("storm");
    report.set("subscribers", subscribers as u64);
    report.set("rooms", rooms as u64);
    report.set("missed_per_subscriber", backlog as u64);
    report.set("caught_up", caught_up.len() as u64);
    report.set("last_caught_up_ms", round(elapsed.as_secs_f64() * 1000.0));
    report.set(
        "persisted_per_s",
        round((backlog * rooms) as f64 / fill_secs),
    );
    report.set(
        "deliveries_per_s",
        round((caught_up.len() * backlog) as f64 / elapsed.as_secs_f64()),
    );
    report.set("p50_ms", round(latencies.percentile_ms(0.5)));
    report.set("p99_ms", round(latencies.percentile_ms(0.99)));
    report.set("errors", errors + failed);
    report.set(
        "server_cpu_percent",
        round((after.cpu_seconds - before.cpu_seconds) / elapsed.as_secs_f64() * 100.0),
    );
    report.set("server_peak_rss_mb", round(peak_rss / 1_048_576.0));
    if let (Some(a), Some(b)) = (pg_before, pg_after) {
        report.set("postgres_cpu_seconds", round(b - a));
        report.set(
            "postgres_cpu_percent",
            round((b - a) / elapsed.as_secs_f64() * 100.0),
        );
    }
    Ok(report)
}

/// Waits for a subscribe's ack and returns its cursor.
async fn ack_cursor(ws: &mut Ws) -> anyhow::Result<i64> {
    while let Some(frame) = ws.next().await {
        if let Message::Text(text) = frame? {
            let value: Value = serde_json::from_str(&text)?;
            match value["type"].as_str() {
                Some("ack") => return value["cursor"].as_i64().context("a cursor"),
                Some("error") => anyhow::bail!("subscribe: {value}"),
                _ => {}
            }
        }
    }
    anyhow::bail!("closed while subscribing")
}

/// CPU seconds used so far by the `postgres` processes of this machine (None
/// where /proc cannot tell).
fn postgres_cpu_seconds() -> Option<f64> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()?? as f64;
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid … utime(14) stime(15): fields after the comm's ')'
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += field(11) + field(12);
    }
    Some(total as f64 / ticks)
}
