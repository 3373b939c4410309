//! The agent API: how agent Pods talk to the operator (HTTPS).
//!
//! Every request carries the Pod's projected ServiceAccount token (audience
//! [`AUDIENCE`]). The operator verifies it with a TokenReview and maps the ServiceAccount to
//! the job it belongs to (the per-job ServiceAccount `agent-<job>`, owned by that job), so a
//! token of job A can never read or write job B. No shared credential exists.
//!
//! Routes, all under `/v1/jobs/{namespace}/{name}`:
//! - `GET` — the job's input (name, uid, attempt count, spec);
//! - `POST /progress` `{"lines": [...]}` — progress lines (ConfigMap `<job>-progress`);
//! - `POST /actions` `{type, target, digest?, requiresApproval?, approval?}` — audit trail;
//! - `PUT /artifacts/{artifact}` raw body — a large result, chunked into owned ConfigMaps;
//! - `POST /result` `{summary, data?, artifacts?}` — the final result into `status.result`;
//! - `POST /approvals` `{action, description, pins}` — ask for an AgentApproval (one per
//!   action and exact pins); `GET /approvals/{name}` — its decision so far;
//! - `POST /deploy` — a native deploy's writes, done by the operator ([`deploy`]);
//! - `POST|GET|DELETE /sandbox` — a reviewer's pull-request tests in an isolated Pod
//!   ([`sandbox`]).

mod approvals;
mod auth;
pub mod forward;
mod jobs;
mod llm;
pub mod results;
mod tls;
pub mod webhook;

pub use approvals::*;
pub use auth::Authorized;
use auth::*;
pub(crate) use auth::{authorize, forbidden};
pub use jobs::*;
pub use llm::*;
pub use tls::*;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::api::{ActionRecord, AgentJob, AgentJobStatus, ArtifactRef};
use crate::contract::bodies::{ACTIONS, APPROVALS, ARTIFACTS, JOB_ROUTE, PROGRESS, RESULT};
use crate::controller::approval;
use crate::controller::pod::{MANAGED_BY, MANAGER, bounded_name, service_account_name};
use crate::services::redact::{redact, redact_after};

pub use crate::contract::{AUDIENCE, TOKEN_DIR};
/// The Secret (operator namespace) holding the shared self-signed serving certificate.
pub const TLS_SECRET: &str = "devagents-agent-api-tls";
/// The ConfigMap (operator namespace) that publishes the API's CA certificate.
pub use crate::contract::CA_CONFIGMAP;
pub use crate::controller::publish::publish_ca;
/// Progress kept per job (the tail).
const PROGRESS_MAX: usize = 256 * 1024;
/// Largest artifact accepted in one upload (before compression).
const ARTIFACT_MAX: u64 = 100 * 1024 * 1024;
/// Request bodies, per route. Bodies are read only after the token is verified (webhook
/// reviews, which come from the apiserver, are read a few at a time).
pub(crate) const BODY_SMALL: usize = 16 * 1024;
const BODY_PROGRESS: usize = PROGRESS_MAX;
/// Progress logs this replica remembers (so the next lines are one write): at most this many
/// jobs, each log at most this long (a longer one is read back before it is extended).
const PROGRESS_CACHE_JOBS: usize = 64;
const PROGRESS_CACHE_MAX: usize = 32 * 1024;
const BODY_RESULT: usize = 64 * 1024;
pub(crate) const BODY_LLM: usize = 4 * 1024 * 1024;
pub(crate) const BODY_WEBHOOK: usize = 3 * 1024 * 1024;
/// Webhook reviews read at once.
const WEBHOOK_CONCURRENCY: usize = 16;
/// A job's status is never written larger than this (etcd's object limit is 1.5 MiB; the
/// job must stay readable, patchable and deletable).
pub const STATUS_MAX: usize = 384 * 1024;
/// The audit trail keeps the last this many actions.
pub const ACTIONS_KEPT: usize = 100;

/// Limits on what one job's agent may store through the API.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Per-job artifact quota (stored bytes, artifacts).
    pub artifacts: results::Quota,
    /// Artifact uploads per job per minute.
    pub uploads_per_minute: usize,
    /// Artifact uploads in progress at once (all jobs).
    pub concurrent_uploads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            artifacts: results::Quota {
                max_bytes: 32 * 1024 * 1024,
                max_count: 16,
            },
            uploads_per_minute: 12,
            concurrent_uploads: 4,
        }
    }
}

pub struct ApiState {
    pub client: Client,
    /// The LLM gateway (None: no provider configured; LLM steps are skipped, and say so).
    pub llm: Option<Arc<crate::llm::gateway::Gateway>>,
    /// The agents' operator-side hooks (who decides their approvals, their cross-field
    /// rules).
    pub agents: crate::controller::agent::Agents,
    pub limits: Limits,
    /// sha256(token) → the ServiceAccount a successful TokenReview named, until it expires.
    reviews: Mutex<HashMap<[u8; 32], (Reviewed, Instant)>>,
    /// Job UID → the instants of its recent artifact uploads (the upload rate limit).
    uploads: Mutex<HashMap<String, std::collections::VecDeque<Instant>>>,
    upload_slots: tokio::sync::Semaphore,
    pub(crate) webhook_slots: tokio::sync::Semaphore,
    /// Job UID → its LLM turn (one call at a time per job).
    llm_turns: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// With several replicas: LLM calls are served by the leader ([`forward`]).
    pub peers: std::sync::OnceLock<Arc<forward::Peers>>,
    /// The controller's AgentJob cache once this replica leads.
    jobs: crate::controller::config::JobCache,
    /// Job UID → the progress ConfigMap as this replica last wrote it (resourceVersion, log),
    /// so an agent's next progress lines are one write, not a read and a write.
    progress_logs: Mutex<HashMap<String, (String, String)>>,
}

impl ApiState {
    pub fn new(
        client: Client,
        llm: Option<Arc<crate::llm::gateway::Gateway>>,
        agents: crate::controller::agent::Agents,
        limits: Limits,
        jobs: crate::controller::config::JobCache,
    ) -> Arc<ApiState> {
        Arc::new(ApiState {
            client,
            llm,
            agents,
            limits,
            reviews: Mutex::new(HashMap::new()),
            uploads: Mutex::new(HashMap::new()),
            upload_slots: tokio::sync::Semaphore::new(limits.concurrent_uploads.max(1)),
            webhook_slots: tokio::sync::Semaphore::new(WEBHOOK_CONCURRENCY),
            llm_turns: Mutex::new(HashMap::new()),
            peers: std::sync::OnceLock::new(),
            jobs,
            progress_logs: Mutex::new(HashMap::new()),
        })
    }
}

/// Read a JSON body of at most `limit` bytes.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    body: axum::body::Body,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over {limit} bytes (or was cut off)"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// The agent API and the webhooks; `agent_routes` are the agents' own endpoints (under
/// `/v1/jobs/{ns}/{name}/…`, each authorising its caller like the rest).
pub fn router(state: Arc<ApiState>, agent_routes: Router<Arc<ApiState>>) -> Router {
    Router::new()
        .route(JOB_ROUTE, get(job_input))
        .route(&format!("{JOB_ROUTE}{PROGRESS}"), post(progress))
        .route(&format!("{JOB_ROUTE}{ACTIONS}"), post(action))
        .route(
            &format!("{JOB_ROUTE}{ARTIFACTS}/{{artifact}}"),
            put(artifact),
        )
        .route(&format!("{JOB_ROUTE}{RESULT}"), post(result))
        .route(&format!("{JOB_ROUTE}{APPROVALS}"), post(request_approval))
        .route(
            &format!("{JOB_ROUTE}{APPROVALS}/{{approval}}"),
            get(approval_state),
        )
        .route("/v1/jobs/{ns}/{name}/llm", post(llm))
        .route("/v1/jobs/{ns}/{name}/llm/stream", post(llm_stream))
        .route("/webhooks/mutate", post(webhook::mutate))
        .route("/webhooks/validate", post(webhook::validate))
        .merge(agent_routes)
        // Handlers read their bodies themselves, after authentication, with their own limit.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// An API error as `{"error": "..."}` with its status code.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<kube::Error> for ApiError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) if s.code == 404 => ApiError(StatusCode::NOT_FOUND, s.message),
            other => ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("kubernetes API: {other}"),
            ),
        }
    }
}

/// Delete the Pod `name` if it carries `label` = `value` (and is still that very Pod: UID
/// precondition); gone already is fine.
pub(crate) async fn delete_labelled_pod(
    pods: &Api<k8s_openapi::api::core::v1::Pod>,
    name: &str,
    label: &str,
    value: &str,
) -> Result<(), ApiError> {
    let Some(p) = pods
        .get_opt(name)
        .await?
        .filter(|p| p.labels().get(label).map(String::as_str) == Some(value))
    else {
        return Ok(());
    };
    let dp = kube::api::DeleteParams {
        preconditions: p.uid().map(|u| kube::api::Preconditions {
            uid: Some(u),
            resource_version: None,
        }),
        ..kube::api::DeleteParams::default()
    };
    match pods.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Read-modify-write of the job's status (server-side apply with the resourceVersion as a
/// precondition; re-read and retry on conflicts with the controller).
pub(crate) async fn update_status(
    client: &Client,
    mut job: AgentJob,
    f: impl Fn(&mut AgentJobStatus),
) -> Result<AgentJob, ApiError> {
    let ns = job.namespace().unwrap_or_default();
    let api: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    for _ in 0..10 {
        let mut status = job.status.clone().unwrap_or_default();
        f(&mut status);
        let size = serde_json::to_vec(&status)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > STATUS_MAX {
            return Err(ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the job's status would be {size} bytes (limit {STATUS_MAX}); not written"),
            ));
        }
        match crate::controller::status::apply(&api, &job, &status).await {
            Ok(j) => return Ok(j),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                job = api.get(&job.name_any()).await?;
                not_ended(&job)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "status kept changing; retry".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_whole_lines() {
        assert_eq!(tail("a\nb\nc\n", 100), "a\nb\nc\n");
        assert_eq!(tail("aaaa\nbb\ncc\n", 6), "cc\n");
    }

    #[test]
    fn self_signed_cert_serves() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = Tls::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(tls.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        tls.server_config().unwrap();
    }
}
