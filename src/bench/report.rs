//! What a bench run measured, as a markdown table or one JSON line.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Send → receive latencies in microseconds.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"))
    }
}

impl Latencies {
    pub fn record(&mut self, micros: u64) {
        let _ = self.0.record(micros.clamp(1, 120_000_000));
    }

    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.0.add(&other.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.0.max() as f64 / 1000.0
    }
}

/// Server-side figures read from `/metrics` before and after.
#[derive(Clone, Debug, Default)]
pub struct ServerSample {
    pub cpu_seconds: f64,
    pub rss_bytes: f64,
    /// `dispatch_latency_seconds`: (upper bound in seconds, cumulative count).
    pub dispatch_buckets: Vec<(f64, f64)>,
}

/// The `q` quantile of what a cumulative Prometheus histogram counted between
/// two samples, as the upper bound of the bucket it falls in (in ms): coarse,
/// but the server's own share of the latency, apart from the load generator's.
fn bucket_quantile_ms(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let counted = |le: f64, sample: &[(f64, f64)]| {
        sample
            .iter()
            .find(|(bound, _)| *bound == le)
            .map_or(0.0, |(_, n)| *n)
    };
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, n)| (le, n - counted(le, before)))
        .collect();
    let total = deltas.last()?.1;
    if total <= 0.0 {
        return None;
    }
    deltas
        .iter()
        .find(|(_, n)| *n >= q * total)
        .map(|(le, _)| le * 1000.0)
}

/// What the clients counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub persisted: u64,
    pub deliveries: u64,
    pub errors: u64,
}

#[derive(Clone)]
pub struct Report {
    pub scenario: String,
    pub fields: Map<String, Value>,
}

impl Report {
    pub fn new(scenario: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            fields: Map::new(),
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_owned(), value.into());
    }

    /// The standard throughput and latency fields.
    pub fn load(
        &mut self,
        elapsed: Duration,
        totals: Totals,
        latencies: &Latencies,
        (before, after): (ServerSample, ServerSample),
    ) {
        let Totals {
            persisted,
            deliveries,
            errors,
        } = totals;
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.set("seconds", round(secs));
        self.set("persisted", persisted);
        self.set("persisted_per_s", round(persisted as f64 / secs));
        self.set("deliveries", deliveries);
        self.set("deliveries_per_s", round(deliveries as f64 / secs));
        self.set("errors", errors);
        self.set("latency_samples", latencies.len());
        self.set("p50_ms", round(latencies.percentile_ms(0.50)));
        self.set("p95_ms", round(latencies.percentile_ms(0.95)));
        self.set("p99_ms", round(latencies.percentile_ms(0.99)));
        self.set("max_ms", round(latencies.max_ms()));
        self.set(
            "server_cpu_percent",
            round((after.cpu_seconds - before.cpu_seconds) / secs * 100.0),
        );
        self.set("server_rss_mb", round(after.rss_bytes / 1_048_576.0));
        let dispatch = |q| {
            bucket_quantile_ms(&before.dispatch_buckets, &after.dispatch_buckets, q)
                .map_or(Value::Null, |ms| round(ms).into())
        };
        self.set("server_dispatch_p50_ms", dispatch(0.50));
        self.set("server_dispatch_p99_ms", dispatch(0.99));
    }

    pub fn attach_pgbench(&mut self, figures: Map<String, Value>) {
        let persisted = self.fields.get("persisted_per_s").and_then(Value::as_f64);
        let without = figures.get("pgbench_no_notify_tps").and_then(Value::as_f64);
        let with = figures.get("pgbench_notify_tps").and_then(Value::as_f64);
        let reference = figures
            .get("pgbench_minimal_insert_rows_per_s")
            .and_then(Value::as_f64);
        self.fields.extend(figures);
        if let (Some(ours), Some(reference)) = (persisted, reference) {
            self.set("ratio_vs_minimal_insert", round(ours / reference));
        }
        if let (Some(ours), Some(limit)) = (persisted, without) {
            self.set("efficiency_vs_pgbench_no_notify", round(ours / limit));
        }
        if let (Some(ours), Some(naive)) = (persisted, with) {
            self.set("ratio_vs_pgbench_notify", round(ours / naive));
        }
    }

    pub fn print(&self, as_json: bool) {
        let mut object = json!({ "scenario": self.scenario });
        object
            .as_object_mut()
            .expect("an object")
            .extend(self.fields.clone());
        if as_json {
            println!("{object}");
            return;
        }
        println!("| {} | value |\n|---|---|", self.scenario);
        for (key, value) in &self.fields {
            println!("| {key} | {value} |");
        }
    }
}

pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::bucket_quantile_ms;

    #[test]
    fn a_quantile_is_read_from_what_the_buckets_counted_between_two_samples() {
        let before = [(0.01, 90.0), (0.05, 100.0), (f64::INFINITY, 100.0)];
        // 100 more: 50 within 10 ms, 49 more within 50 ms, one slower.
        let after = [(0.01, 140.0), (0.05, 199.0), (f64::INFINITY, 200.0)];
        assert_eq!(bucket_quantile_ms(&before, &after, 0.5), Some(10.0));
        assert_eq!(bucket_quantile_ms(&before, &after, 0.99), Some(50.0));
        assert_eq!(
            bucket_quantile_ms(&before, &after, 1.0),
            Some(f64::INFINITY)
        );
        // Nothing counted in between: no figure rather than a made-up one.
        assert_eq!(bucket_quantile_ms(&after, &after, 0.5), None);
        assert_eq!(bucket_quantile_ms(&[], &[], 0.5), None);
    }
}
