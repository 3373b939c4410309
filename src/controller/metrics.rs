//! Prometheus metrics (OpenMetrics text via prometheus-client) and the health endpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentPhase {
    pub agent: String,
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    pub verb: String,
    pub resource: String,
}

/// Why the scheduler was woken: `pod_ended`, `job_ended` (a job ended while its Pod was not
/// seen ending), `job_deleted`, `lease`, `approval`, `admission` (one failed or found a lock
/// taken), `queue` (a waiting job changed).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WakeLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub kind: String,
}

pub struct Metrics {
    pub registry: Registry,
    /// Jobs currently in each phase, by agent.
    pub jobs: Family<AgentPhase, Gauge>,
    /// Jobs that finished, by agent and final phase (rate → failure ratio alerts).
    pub jobs_finished: Family<AgentPhase, Counter>,
    pub job_duration: Family<AgentLabel, Histogram>,
    pub queue_depth: Gauge,
    pub running: Gauge,
    pub lock_wait: Histogram,
    /// AgentJob created → its first Pod created.
    pub dispatch_latency: Histogram,
    pub reconcile_errors: Family<ErrorLabel, Counter>,
    pub is_leader: Gauge,
    /// Every request this operator sent to the apiserver, by verb and resource
    /// (`pods`, `agentjobs/status` …): the write cost of a job lifecycle, measured.
    pub api_requests: Family<RequestLabel, Counter>,
    /// LLM gateway: provider latency (p50/p95/p99 from the buckets), tokens by kind, cost,
    /// cache hits, time spent waiting for the rate limit.
    pub llm_latency: Histogram,
    pub llm_tokens: Family<TokenLabel, Counter>,
    pub llm_cost_usd: Family<AgentLabel, Counter<f64, std::sync::atomic::AtomicU64>>,
    pub llm_cache_hits: Counter,
    /// Answers to requests whose prefix was marked for the provider's prompt cache, by what
    /// the provider reported: `read`, `write` or `miss`.
    pub llm_prompt_cache: Family<OutcomeLabel, Counter>,
    pub llm_rate_limit_wait: Histogram,
    /// Deploys by environment and outcome (Succeeded, RolledBack, Failed …).
    pub deploys: Family<DeployLabel, Counter>,
    /// A deploy's duration from its start to every rollout confirmed (or rolled back).
    pub deploy_duration: Family<EnvironmentLabel, Histogram>,
    /// Scheduler passes (a burst of events is coalesced into few passes) and their duration.
    pub scheduler_passes: Counter,
    pub scheduler_wakes: Family<WakeLabel, Counter>,
    pub scheduler_pass_seconds: Histogram,
    /// Status writes of waiting jobs (a new or changed `waitingFor`), never per position.
    pub queue_status_writes: Counter,
    /// Jobs written to the archive, and archive writes that failed (the job waits).
    pub archived: Counter,
    pub archive_errors: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeployLabel {
    pub environment: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvironmentLabel {
    pub environment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabel {
    pub agent: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabel {
    pub agent: String,
}

impl crate::llm::Observer for Metrics {
    fn rate_limit_wait(&self, seconds: f64) {
        self.llm_rate_limit_wait.observe(seconds);
    }

    fn cache_hit(&self) {
        self.llm_cache_hits.inc();
    }

    fn prompt_cache(&self, outcome: &str) {
        self.llm_prompt_cache
            .get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            })
            .inc();
    }

    fn answered(&self, agent: &str, seconds: f64, tokens: [(&str, u64); 4], cost_usd: f64) {
        self.llm_latency.observe(seconds);
        for (kind, n) in tokens {
            self.llm_tokens
                .get_or_create(&TokenLabel {
                    agent: agent.into(),
                    kind: kind.into(),
                })
                .inc_by(n);
        }
        self.llm_cost_usd
            .get_or_create(&AgentLabel {
                agent: agent.into(),
            })
            .inc_by(cost_usd);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("devagents");
        let jobs = Family::<AgentPhase, Gauge>::default();
        let jobs_finished = Family::<AgentPhase, Counter>::default();
        let job_duration = Family::<AgentLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.5, 2.0, 16))
        });
        let queue_depth = Gauge::default();
        let running = Gauge::default();
        let lock_wait = Histogram::new(exponential_buckets(0.01, 2.0, 20));
        let dispatch_latency = Histogram::new(exponential_buckets(0.001, 2.0, 20));
        let reconcile_errors = Family::<ErrorLabel, Counter>::default();
        let is_leader = Gauge::default();
        let api_requests = Family::<RequestLabel, Counter>::default();
        registry.register(
            "api_requests",
            "Requests sent to the Kubernetes API",
            api_requests.clone(),
        );
        registry.register("jobs", "AgentJobs by agent and phase", jobs.clone());
        registry.register(
            "jobs_finished",
            "AgentJobs that reached a final phase",
            jobs_finished.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Job duration from start to end",
            job_duration.clone(),
        );
        registry.register(
            "queue_depth",
            "AgentJobs waiting to be admitted",
            queue_depth.clone(),
        );
        registry.register("running_jobs", "AgentJobs holding a slot", running.clone());
        registry.register(
            "lock_wait_seconds",
            "Time from creation until a job's locks were taken",
            lock_wait.clone(),
        );
        registry.register(
            "dispatch_latency_seconds",
            "AgentJob created until its first Pod was created",
            dispatch_latency.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconcile errors by kind",
            reconcile_errors.clone(),
        );
        registry.register(
            "leader",
            "1 when this replica is the leader",
            is_leader.clone(),
        );
        let llm_latency = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        let llm_tokens = Family::<TokenLabel, Counter>::default();
        let llm_cost_usd =
            Family::<AgentLabel, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        let llm_cache_hits = Counter::default();
        let llm_prompt_cache = Family::<OutcomeLabel, Counter>::default();
        let llm_rate_limit_wait = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        registry.register(
            "llm_latency_seconds",
            "LLM provider call latency",
            llm_latency.clone(),
        );
        registry.register(
            "llm_tokens",
            "LLM tokens by agent and kind (input: all input tokens; cached: read from the provider's prompt cache; cache_write: written to it; output)",
            llm_tokens.clone(),
        );
        registry.register(
            "llm_cost_usd",
            "LLM cost in US dollars, by agent",
            llm_cost_usd.clone(),
        );
        registry.register(
            "llm_cache_hits",
            "LLM requests answered from the response cache",
            llm_cache_hits.clone(),
        );
        registry.register(
            "llm_prompt_cache",
            "Provider answers to requests with a prefix marked for prompt caching, by outcome (read, write, miss)",
            llm_prompt_cache.clone(),
        );
        registry.register(
            "llm_rate_limit_wait_seconds",
            "Time LLM requests waited for the rate limit",
            llm_rate_limit_wait.clone(),
        );
        let deploys = Family::<DeployLabel, Counter>::default();
        let deploy_duration = Family::<EnvironmentLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.5, 2.0, 14))
        });
        registry.register(
            "deploys",
            "Deployer jobs by environment and outcome",
            deploys.clone(),
        );
        registry.register(
            "deploy_rollout_seconds",
            "Deploy duration until every rollout was confirmed or rolled back, by environment",
            deploy_duration.clone(),
        );
        let scheduler_passes = Counter::default();
        let scheduler_pass_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        let queue_status_writes = Counter::default();
        let scheduler_wakes = Family::<WakeLabel, Counter>::default();
        registry.register(
            "scheduler_wakes",
            "What woke the scheduler, by reason (wake-ups during a pass share the next one)",
            scheduler_wakes.clone(),
        );
        registry.register(
            "scheduler_passes",
            "Admission passes of the scheduler",
            scheduler_passes.clone(),
        );
        registry.register(
            "scheduler_pass_seconds",
            "Duration of one admission pass",
            scheduler_pass_seconds.clone(),
        );
        registry.register(
            "queue_status_writes",
            "Status writes of waiting jobs (waitingFor changed)",
            queue_status_writes.clone(),
        );
        let archived = Counter::default();
        let archive_errors = Counter::default();
        registry.register(
            "archived_jobs",
            "Finished jobs written to the archive",
            archived.clone(),
        );
        registry.register(
            "archive_errors",
            "Archive writes that failed (the job is kept until it is archived)",
            archive_errors.clone(),
        );
        Metrics {
            archived,
            archive_errors,
            scheduler_passes,
            scheduler_wakes,
            scheduler_pass_seconds,
            queue_status_writes,
            deploys,
            deploy_duration,
            registry,
            jobs,
            jobs_finished,
            job_duration,
            queue_depth,
            running,
            lock_wait,
            dispatch_latency,
            reconcile_errors,
            is_leader,
            api_requests,
            llm_latency,
            llm_tokens,
            llm_cost_usd,
            llm_cache_hits,
            llm_prompt_cache,
            llm_rate_limit_wait,
        }
    }
}

/// The value of sample `name` (no labels) in OpenMetrics text; 0 when absent.
pub fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0.0)
}

/// `devagents_api_requests_total` by (verb, resource), writes only (GET and WATCH left out),
/// from this operator's OpenMetrics text: what benchmarks and tests count per job.
pub fn api_writes(text: &str) -> std::collections::BTreeMap<(String, String), f64> {
    let mut out = std::collections::BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("devagents_api_requests_total{"))
    {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let get = |k: &str| {
            labels
                .split(&format!("{k}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        let verb = get("verb");
        if matches!(verb.as_str(), "GET" | "WATCH") {
            continue;
        }
        *out.entry((verb, get("resource"))).or_default() += value.parse().unwrap_or(0.0);
    }
    out
}

/// `(verb, resource[/subresource])` of a Kubernetes API request path.
pub fn classify(method: &str, path: &str, query: Option<&str>) -> (String, String) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest: &[&str] = match segs.first() {
        Some(&"api") if segs.len() >= 2 => &segs[2..],
        Some(&"apis") if segs.len() >= 3 => &segs[3..],
        _ => &[],
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        &rest[2..]
    } else {
        rest
    };
    let resource = match rest {
        [] => "other".to_string(),
        [r] | [r, _] => r.to_string(),
        [r, _, sub, ..] => format!("{r}/{sub}"),
    };
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match method {
        "GET" if watch => "WATCH",
        m => m,
    };
    (verb.to_string(), resource)
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

/// Serve `/metrics`, `/healthz` and `/readyz` until the process ends.
pub async fn serve(addr: SocketAddr, state: HttpState) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving metrics and health");
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn request_paths_are_classified() {
        let c = |m, p, q| classify(m, p, q);
        assert_eq!(
            c("POST", "/api/v1/namespaces/a/pods", None),
            ("POST".into(), "pods".into())
        );
        assert_eq!(
            c("DELETE", "/api/v1/namespaces/a/pods/p-1", None),
            ("DELETE".into(), "pods".into())
        );
        assert_eq!(
            c(
                "PATCH",
                "/apis/devagents.io/v1alpha1/namespaces/a/agentjobs/j/status",
                Some("fieldManager=x")
            ),
            ("PATCH".into(), "agentjobs/status".into())
        );
        assert_eq!(
            c(
                "GET",
                "/apis/devagents.io/v1alpha1/agentjobs",
                Some("watch=true&timeoutSeconds=290")
            ),
            ("WATCH".into(), "agentjobs".into())
        );
        assert_eq!(
            c(
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
                None
            ),
            ("PUT".into(), "leases".into())
        );
        assert_eq!(c("GET", "/version", None), ("GET".into(), "other".into()));
    }
}
