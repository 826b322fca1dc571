//! Prometheus metrics at `/metrics`: requests and latencies per route (recorded by a
//! middleware), jobs per state (read from the store at scrape time, so every node reports the
//! shared queue), and this node's job runner outcomes.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use vestnik_engine::RunnerStats;

use crate::AppState;
use crate::error::ApiError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    jobs: Family<StateLabels, Gauge>,
}

impl Metrics {
    pub fn new(runner: Option<Arc<RunnerStats>>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let jobs = Family::<StateLabels, Gauge>::default();
        registry.register(
            "vestnik_http_requests",
            "HTTP requests served",
            requests.clone(),
        );
        registry.register(
            "vestnik_http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        registry.register(
            "vestnik_jobs",
            "Jobs in the shared queue, by state",
            jobs.clone(),
        );
        if let Some(stats) = runner {
            registry.register_collector(Box::new(RunnerCollector(stats)));
        }
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            jobs,
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

#[derive(Debug)]
struct RunnerCollector(Arc<RunnerStats>);

impl Collector for RunnerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        for (name, help, value) in [
            (
                "vestnik_jobs_completed",
                "Jobs this node finished",
                &s.completed,
            ),
            (
                "vestnik_jobs_retried",
                "Job attempts this node failed and scheduled again",
                &s.retried,
            ),
            ("vestnik_jobs_dead", "Jobs this node gave up on", &s.dead),
            (
                "vestnik_jobs_lost_leases",
                "Job outcomes discarded because the lease had expired",
                &s.lost_leases,
            ),
            (
                "vestnik_jobs_released",
                "Jobs handed back unfinished at shutdown",
                &s.released,
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value.load(Ordering::Relaxed)).encode(metric)?;
        }
        Ok(())
    }
}

/// Middleware: counts and times every request under its route pattern (not its raw path,
/// which would make one series per contact id).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(req).await;
    state.metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus/OpenMetrics text", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.store.job_counts().await {
        Ok(counts) => {
            for (job_state, n) in counts {
                state
                    .metrics
                    .jobs
                    .get_or_create(&StateLabels {
                        state: job_state.as_str().to_string(),
                    })
                    .set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count jobs for /metrics"),
    }
    match state.metrics.render() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}
