//! Prometheus metrics, one registry per server instance (tests run several in
//! one process). Counters are bumped where things happen (the listener, the
//! socket writer); gauges that live in the database are read on scrape.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Open sockets of every socket transport (the JSON WebSocket, STOMP
    /// over a WebSocket or SockJS, Supabase's): what a graceful stop waits
    /// for, so their goodbyes go out before the process exits.
    pub connections: IntGauge,
    /// New messages committed (seen by the listener, whatever wrote them).
    pub messages_persisted: IntCounter,
    /// Frames written to WebSocket and SSE clients.
    pub frames_delivered: IntCounter,
    /// Commit → dispatch to the hub, for new messages.
    pub dispatch_latency: Histogram,
    pub listener_reconnects: IntCounter,
    pub listener_up: IntGauge,
    pub slow_consumer_closes: IntCounter,
    /// Open realtime sessions by transport (`ws`, `sse`, `poll`): what the
    /// per-user and per-address caps count.
    pub sessions: IntGaugeVec,
    pub notify_queue_usage: prometheus::Gauge,
    pub pool_size: IntGauge,
    pub pool_available: IntGauge,
    /// User + system CPU of this process (microsecond resolution, unlike a tick counter).
    pub process_cpu_seconds: prometheus::Gauge,
    pub process_resident_memory_bytes: IntGauge,
}

/// One socket counted in `ws_connections`; counted out when dropped, however
/// its carrier ends.
pub struct OpenSocket(IntGauge);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("pgchat".into()), None).expect("a valid prefix");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let float_gauge = |name: &str, help: &str| {
            let g = prometheus::Gauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let dispatch_latency = Histogram::with_opts(
            HistogramOpts::new(
                "dispatch_latency_seconds",
                "start of the inserting transaction to hub dispatch of new messages",
            )
            // Fine around 50 ms: `pgchat bench` reads its p99 from these buckets.
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1,
                0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(dispatch_latency.clone()))
            .expect("unique metric");
        let notify_queue_usage = prometheus::Gauge::new(
            "notify_queue_usage",
            "fraction of PostgreSQL's NOTIFY queue in use",
        )
        .expect("valid metric");
        registry
            .register(Box::new(notify_queue_usage.clone()))
            .expect("unique metric");
        let sessions = IntGaugeVec::new(
            Opts::new("realtime_sessions", "open realtime sessions by transport"),
            &["transport"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(sessions.clone()))
            .expect("unique metric");
        Self {
            sessions,
            connections: gauge(
                "ws_connections",
                "open sockets: WebSocket (JSON, STOMP, Supabase) and SockJS sessions",
            ),
            messages_persisted: counter("messages_persisted_total", "new messages committed"),
            frames_delivered: counter(
                "frames_delivered_total",
                "frames written to WebSocket and SSE clients",
            ),
            dispatch_latency,
            listener_reconnects: counter(
                "listener_reconnects_total",
                "LISTEN connection re-establishments",
            ),
            listener_up: gauge("listener_up", "1 while the LISTEN connection is up"),
            slow_consumer_closes: counter(
                "slow_consumer_closes_total",
                "sessions (WebSocket or SSE) evicted for not reading: queue full or write deadline missed",
            ),
            notify_queue_usage,
            pool_size: gauge("db_pool_size", "connections in the request pool"),
            pool_available: gauge("db_pool_available", "idle connections in the request pool"),
            process_cpu_seconds: float_gauge(
                "process_cpu_seconds_total",
                "user and system CPU seconds of the server",
            ),
            process_resident_memory_bytes: gauge(
                "process_resident_memory_bytes",
                "resident memory of the server",
            ),
            registry,
        }
    }

    /// Counts one socket in `ws_connections` until the returned guard drops.
    pub fn open_socket(&self) -> OpenSocket {
        self.connections.inc();
        OpenSocket(self.connections.clone())
    }

    /// Reads this process's CPU time and resident memory (Linux `/proc`).
    pub fn sample_process(&self) {
        use nix::sys::resource::{getrusage, UsageWho};
        if let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) {
            let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            self.process_cpu_seconds
                .set(seconds(usage.user_time()) + seconds(usage.system_time()));
        }
        // statm: size resident shared … (in pages)
        if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
            if let Some(pages) = statm
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<i64>().ok())
            {
                let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
                    .ok()
                    .flatten()
                    .unwrap_or(4096);
                self.process_resident_memory_bytes.set(pages * page);
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding metrics into memory");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
