//! What the server counts for Prometheus (`/metrics`, the OpenMetrics text format, written
//! by `prometheus-client`): runs started and ended, run and step durations, queued runs,
//! log lines and bytes taken in, live event-stream clients, webhook calls by outcome, and
//! the size of the database and of the search index.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use conveyor_core::dto::RunSummary;
use conveyor_core::run::{StepState, Trigger};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The content type of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByTrigger {
    trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunEnd {
    status: String,
    trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByStatus {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByOutcome {
    outcome: String,
}

type Durations = Family<ByStatus, Histogram, fn() -> Histogram>;

/// Durations from a tenth of a second to about seven hours.
fn durations() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 18))
}

pub struct Metrics {
    registry: Registry,
    runs_started: Family<ByTrigger, Counter>,
    runs_ended: Family<RunEnd, Counter>,
    run_seconds: Durations,
    step_seconds: Durations,
    runs_queued: Gauge<i64, AtomicI64>,
    log_lines: Counter,
    log_bytes: Counter,
    sse_clients: Gauge<i64, AtomicI64>,
    webhook_calls: Family<ByOutcome, Counter>,
    database_bytes: Gauge<i64, AtomicI64>,
    search_index_bytes: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("conveyor"),
            runs_started: Family::default(),
            runs_ended: Family::default(),
            run_seconds: Family::new_with_constructor(durations),
            step_seconds: Family::new_with_constructor(durations),
            runs_queued: Gauge::default(),
            log_lines: Counter::default(),
            log_bytes: Counter::default(),
            sse_clients: Gauge::default(),
            webhook_calls: Family::default(),
            database_bytes: Gauge::default(),
            search_index_bytes: Gauge::default(),
        };
        let r = &mut metrics.registry;
        r.register(
            "runs_started",
            "Runs created, by how they started",
            metrics.runs_started.clone(),
        );
        r.register(
            "runs_ended",
            "Runs that ended, by final status and how they started",
            metrics.runs_ended.clone(),
        );
        r.register(
            "run_duration_seconds",
            "From a run's start to its end, by final status",
            metrics.run_seconds.clone(),
        );
        r.register(
            "step_duration_seconds",
            "From a step's start to its end, by final status",
            metrics.step_seconds.clone(),
        );
        r.register(
            "runs_queued",
            "Runs waiting for an earlier run of their pipeline",
            metrics.runs_queued.clone(),
        );
        r.register("log_lines", "Log lines taken in", metrics.log_lines.clone());
        r.register(
            "log_bytes",
            "Bytes of log text taken in",
            metrics.log_bytes.clone(),
        );
        r.register(
            "sse_clients",
            "Event streams open now (run pages, dashboards, followers)",
            metrics.sse_clients.clone(),
        );
        r.register(
            "webhook_calls",
            "Outgoing webhook calls, by outcome",
            metrics.webhook_calls.clone(),
        );
        r.register(
            "database_bytes",
            "Size of the SQLite database",
            metrics.database_bytes.clone(),
        );
        r.register(
            "search_index_bytes",
            "Size of the search index",
            metrics.search_index_bytes.clone(),
        );
        metrics
    }
}

/// An open event stream, counted while it lives.
pub struct Watching(Arc<Metrics>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.sse_clients.dec();
    }
}

impl Metrics {
    pub fn run_started(&self, trigger: Trigger) {
        self.runs_started
            .get_or_create(&ByTrigger {
                trigger: trigger.as_str().to_owned(),
            })
            .inc();
    }

    /// A run ended: its count, its duration and its steps'.
    pub fn run_ended(&self, run: &RunSummary, steps: &[StepState]) {
        let status = run.status.as_str().to_owned();
        self.runs_ended
            .get_or_create(&RunEnd {
                status: status.clone(),
                trigger: run.trigger.as_str().to_owned(),
            })
            .inc();
        if let Some(ms) = run.duration_ms() {
            self.run_seconds
                .get_or_create(&ByStatus { status })
                .observe(ms as f64 / 1000.0);
        }
        for step in steps {
            if let (Some(start), Some(end)) = (step.started_at, step.finished_at) {
                self.step_seconds
                    .get_or_create(&ByStatus {
                        status: step.status.as_str().to_owned(),
                    })
                    .observe((end - start).max(0) as f64 / 1000.0);
            }
        }
    }

    /// Log lines a run committed.
    pub fn lines(&self, lines: u64, bytes: u64) {
        self.log_lines.inc_by(lines);
        self.log_bytes.inc_by(bytes);
    }

    /// Counts an event stream until the returned value is dropped.
    pub fn watching(self: &Arc<Self>) -> Watching {
        self.sse_clients.inc();
        Watching(self.clone())
    }

    /// An outgoing webhook call ended: `delivered`, `failed` (an answer that is not 2xx),
    /// or `error` (no answer).
    pub fn webhook_call(&self, outcome: &str) {
        self.webhook_calls
            .get_or_create(&ByOutcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text Prometheus scrapes, with the gauges read at scrape time.
    pub fn render(&self, queued: i64, database_bytes: u64, search_index_bytes: u64) -> String {
        self.runs_queued.set(queued);
        self.database_bytes.set(database_bytes as i64);
        self.search_index_bytes.set(search_index_bytes as i64);
        let mut text = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %err, "could not write the metrics");
        }
        text
    }
}
