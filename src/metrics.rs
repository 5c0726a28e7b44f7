//! Prometheus metrics, one registry per server instance (tests run several in
//! one process). Counters are bumped where things happen (the listener, the
//! socket writer); gauges that live in the database are read on scrape.

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: IntGauge,
    /// New messages committed (seen by the listener, whatever wrote them).
    pub messages_persisted: IntCounter,
    /// Frames written to WebSocket clients.
    pub frames_delivered: IntCounter,
    /// Commit → dispatch to the hub, for new messages.
    pub dispatch_latency: Histogram,
    pub listener_reconnects: IntCounter,
    pub listener_up: IntGauge,
    pub slow_consumer_closes: IntCounter,
    pub notify_queue_usage: prometheus::Gauge,
    pub pool_size: IntGauge,
    pub pool_available: IntGauge,
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
                "commit to hub dispatch of new messages",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
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
        Self {
            connections: gauge("ws_connections", "open WebSocket connections"),
            messages_persisted: counter("messages_persisted_total", "new messages committed"),
            frames_delivered: counter(
                "frames_delivered_total",
                "frames written to WebSocket clients",
            ),
            dispatch_latency,
            listener_reconnects: counter(
                "listener_reconnects_total",
                "LISTEN connection re-establishments",
            ),
            listener_up: gauge("listener_up", "1 while the LISTEN connection is up"),
            slow_consumer_closes: counter(
                "slow_consumer_closes_total",
                "connections closed for not keeping up",
            ),
            notify_queue_usage,
            pool_size: gauge("db_pool_size", "connections in the request pool"),
            pool_available: gauge("db_pool_available", "idle connections in the request pool"),
            registry,
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
