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

mod deploy;
pub mod forward;
pub mod results;
mod sandbox;
pub mod webhook;

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
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::api::environment::Environments;
use crate::api::{ActionRecord, AgentJob, AgentJobSpec, AgentJobStatus, ArtifactRef, JobResult};
use crate::contract::FIELD_MANAGER;
use crate::controller::approval;
use crate::controller::pod::{MANAGED_BY, MANAGER, bounded_name, service_account_name};
use crate::services::redact::{redact, redact_after};

pub use crate::contract::{AUDIENCE, TOKEN_DIR};
/// The Secret (operator namespace) holding the shared self-signed serving certificate.
pub const TLS_SECRET: &str = "devagents-agent-api-tls";
/// The ConfigMap (operator namespace) that publishes the API's CA certificate.
pub const CA_CONFIGMAP: &str = "devagents-agent-api-ca";
/// Progress kept per job (the tail).
const PROGRESS_MAX: usize = 256 * 1024;
/// Largest artifact accepted in one upload (before compression).
const ARTIFACT_MAX: u64 = 100 * 1024 * 1024;
/// Request bodies, per route. Bodies are read only after the token is verified (webhook
/// reviews, which come from the apiserver, are read a few at a time).
const BODY_SMALL: usize = 16 * 1024;
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

/// The serving certificate and key.
#[derive(Clone)]
pub struct Tls {
    pub cert_pem: String,
    cert_der: Vec<u8>,
    pub(crate) key_der: Vec<u8>,
}

impl Tls {
    /// The serving key (DER): every replica holds the same one.
    pub fn key_der(&self) -> &[u8] {
        &self.key_der
    }
}

impl Tls {
    /// A self-signed certificate for local runs (the chart can mount one from a Secret).
    pub fn self_signed(names: &[String]) -> anyhow::Result<Tls> {
        let ck = rcgen::generate_simple_self_signed(names.to_vec())?;
        Ok(Tls {
            cert_pem: ck.cert.pem(),
            cert_der: ck.cert.der().to_vec(),
            key_der: ck.signing_key.serialize_der(),
        })
    }

    /// PEM certificate and PKCS#8 key files.
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<Tls> {
        Self::from_pem(
            &std::fs::read_to_string(cert)?,
            &std::fs::read_to_string(key)?,
        )
    }

    pub fn from_pem(cert_pem: &str, key_pem: &str) -> anyhow::Result<Tls> {
        use rustls::pki_types::pem::PemObject;
        let cert_der =
            rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())?.to_vec();
        let key_der = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?
            .secret_der()
            .to_vec();
        Ok(Tls {
            cert_pem: cert_pem.to_string(),
            cert_der,
            key_der,
        })
    }

    /// The self-signed certificate every replica (and every restart) shares: kept in the
    /// Secret [`TLS_SECRET`] of the operator's namespace, made by whoever comes first.
    pub async fn shared(client: &Client, namespace: &str, names: &[String]) -> anyhow::Result<Tls> {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), namespace);
        for _ in 0..3 {
            if let Some(sec) = api.get_opt(TLS_SECRET).await? {
                let data = sec.data.unwrap_or_default();
                let get = |k: &str| {
                    data.get(k)
                        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                        .unwrap_or_default()
                };
                return Self::from_pem(&get("tls.crt"), &get("tls.key"));
            }
            let ck = rcgen::generate_simple_self_signed(names.to_vec())?;
            let sec = json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": { "name": TLS_SECRET, "labels": { MANAGED_BY: MANAGER } },
                "stringData": { "tls.crt": ck.cert.pem(), "tls.key": ck.signing_key.serialize_pem() },
            });
            match api
                .create(&PostParams::default(), &serde_json::from_value(sec)?)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("could not read or create the agent API certificate Secret")
    }

    fn server_config(&self) -> anyhow::Result<rustls::ServerConfig> {
        let key = rustls::pki_types::PrivateKeyDer::try_from(self.key_der.clone())
            .map_err(anyhow::Error::msg)?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(
                self.cert_der.clone(),
            )],
            key,
        )?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

/// Serve `app` over TLS on `addr` until the process ends.
pub async fn serve_tls(addr: SocketAddr, tls: &Tls, app: Router) -> anyhow::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server_config()?));
    // SO_REUSEPORT: replicas on one host share the port (the kernel spreads connections), as
    // a Service spreads them over Pods; any replica can answer (handlers read the API live).
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    info!(%addr, "serving the agent API (https)");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
        });
    }
}

/// Publish the CA certificate for clients (tests, tools) in the operator's namespace.
pub async fn publish_ca(client: &Client, namespace: &str, cert_pem: &str) -> kube::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": CA_CONFIGMAP, "labels": { MANAGED_BY: MANAGER } },
        "data": { "ca.crt": cert_pem },
    });
    api.patch(
        CA_CONFIGMAP,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&cm),
    )
    .await?;
    Ok(())
}

pub struct ApiState {
    pub client: Client,
    /// The LLM gateway (None: no provider configured; LLM steps are skipped, and say so).
    pub llm: Option<Arc<crate::llm::gateway::Gateway>>,
    /// The deployer's environments (who decides a deploy's approvals).
    pub environments: Arc<Environments>,
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

/// The ServiceAccount behind a token: namespace, name and UID (a re-created account of the
/// same name has another UID, so a cached review never carries over to it).
#[derive(Clone, Debug)]
struct Reviewed {
    namespace: String,
    name: String,
    uid: String,
}

impl ApiState {
    pub fn new(
        client: Client,
        llm: Option<Arc<crate::llm::gateway::Gateway>>,
        environments: Arc<Environments>,
        limits: Limits,
        jobs: crate::controller::config::JobCache,
    ) -> Arc<ApiState> {
        Arc::new(ApiState {
            client,
            llm,
            environments,
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

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/v1/jobs/{ns}/{name}", get(job_input))
        .route("/v1/jobs/{ns}/{name}/progress", post(progress))
        .route("/v1/jobs/{ns}/{name}/actions", post(action))
        .route("/v1/jobs/{ns}/{name}/artifacts/{artifact}", put(artifact))
        .route("/v1/jobs/{ns}/{name}/result", post(result))
        .route("/v1/jobs/{ns}/{name}/approvals", post(request_approval))
        .route(
            "/v1/jobs/{ns}/{name}/approvals/{approval}",
            get(approval_state),
        )
        .route("/v1/jobs/{ns}/{name}/deploy", post(deploy::deploy))
        .route(
            "/v1/jobs/{ns}/{name}/sandbox",
            post(sandbox::start)
                .get(sandbox::state)
                .delete(sandbox::remove),
        )
        .route("/v1/jobs/{ns}/{name}/llm", post(llm))
        .route("/v1/jobs/{ns}/{name}/llm/stream", post(llm_stream))
        .route("/webhooks/mutate", post(webhook::mutate))
        .route("/webhooks/validate", post(webhook::validate))
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

fn unauthorized(msg: &str) -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, msg.into())
}
fn forbidden(msg: String) -> ApiError {
    ApiError(StatusCode::FORBIDDEN, msg)
}

/// Authenticate the bearer token and check it belongs to job `ns/name`; returns the job.
async fn authorize(
    state: &ApiState,
    headers: &HeaderMap,
    ns: &str,
    name: &str,
) -> Result<AgentJob, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("a bearer token is required"))?;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let cached = state
        .reviews
        .lock()
        .await
        .get(&key)
        .filter(|c| c.1 > Instant::now())
        .map(|c| c.0.clone());
    let who = match cached {
        Some(r) => r,
        None => {
            let reviews: Api<TokenReview> = Api::all(state.client.clone());
            let review = reviews
                .create(
                    &PostParams::default(),
                    &TokenReview {
                        spec: TokenReviewSpec {
                            token: Some(token.to_string()),
                            audiences: Some(vec![AUDIENCE.into()]),
                        },
                        ..TokenReview::default()
                    },
                )
                .await?;
            let st = review.status.unwrap_or_default();
            if st.authenticated != Some(true)
                || !st.audiences.iter().flatten().any(|a| a == AUDIENCE)
            {
                return Err(unauthorized(
                    "the token is not valid for audience devagents.io",
                ));
            }
            let user = st.user.unwrap_or_default();
            let username = user.username.unwrap_or_default();
            let Some(rest) = username.strip_prefix("system:serviceaccount:") else {
                return Err(forbidden(format!(
                    "{username} is not a job's ServiceAccount"
                )));
            };
            let (n, s) = rest.split_once(':').unwrap_or((rest, ""));
            let who = Reviewed {
                namespace: n.to_string(),
                name: s.to_string(),
                uid: user.uid.unwrap_or_default(),
            };
            let mut cache = state.reviews.lock().await;
            if cache.len() > 10_000 {
                cache.retain(|_, c| c.1 > Instant::now());
            }
            cache.insert(key, (who.clone(), Instant::now() + Duration::from_secs(30)));
            who
        }
    };
    let (sa_ns, sa_name) = (who.namespace.clone(), who.name.clone());
    if sa_ns != ns || sa_name != service_account_name(name) {
        return Err(forbidden(format!(
            "system:serviceaccount:{sa_ns}:{sa_name} may not act for job {ns}/{name}"
        )));
    }
    // The leader's cache first (an agent calls several times per attempt, and each GET costs
    // the apiserver); the apiserver when this replica has no cache or not this job, or when
    // the cache does not show the account yet (the admission's status write may be on its way).
    let pinned = |j: &AgentJob| {
        j.status
            .as_ref()
            .and_then(|s| s.service_account_uid.clone())
    };
    let job = match state.jobs.get(ns, name) {
        Some(j) if pinned(&j).is_some_and(|p| p == who.uid) => AgentJob::clone(&j),
        _ => {
            let jobs: Api<AgentJob> = Api::namespaced(state.client.clone(), ns);
            jobs.get(name).await?
        }
    };
    // The token must be of the very ServiceAccount the operator made for this job (its UID,
    // pinned in the job's status at admission): not of an earlier job's account of that name,
    // nor of one someone deleted and re-made (ownerReferences can be written by anyone who
    // may edit ServiceAccounts).
    match pinned(&job) {
        Some(p) if !who.uid.is_empty() && p == who.uid => {}
        Some(_) => {
            return Err(forbidden(format!(
                "the token is not of the serviceaccount the operator made for job {ns}/{name}"
            )));
        }
        None => {
            not_ended(&job)?;
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("job {ns}/{name} has not been admitted yet"),
            ));
        }
    }
    not_ended(&job)?;
    Ok(job)
}

/// An ended (or ending) job takes no more input from its agent.
fn not_ended(job: &AgentJob) -> Result<(), ApiError> {
    let ended = job.metadata.deletion_timestamp.is_some()
        || job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(|p| p.is_terminal());
    if ended {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "job {}/{} has ended",
                job.namespace().unwrap_or_default(),
                job.name_any()
            ),
        ));
    }
    Ok(())
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
async fn update_status(
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
        let patch = json!({
            "apiVersion": AgentJob::api_version(&()), "kind": AgentJob::kind(&()),
            "metadata": { "name": job.name_any(), "resourceVersion": job.resource_version() },
            "status": status,
        });
        match api
            .patch_status(
                &job.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
        {
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

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct JobInput {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub attempt: i32,
    pub spec: AgentJobSpec,
}

async fn job_input(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<axum::Json<JobInput>, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    let attempt = job
        .status
        .as_ref()
        .map(|st| st.attempts.len() as i32)
        .unwrap_or(0)
        .max(1);
    Ok(axum::Json(JobInput {
        name,
        namespace: ns,
        uid: job.uid().unwrap_or_default(),
        attempt,
        spec: job.spec,
    }))
}

#[derive(Deserialize)]
pub struct ProgressBody {
    pub lines: Vec<String>,
}

pub fn progress_configmap(job: &str) -> String {
    bounded_name(job, "-progress", 253)
}

async fn progress(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    let body: ProgressBody = read_json(body, BODY_PROGRESS).await?;
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let cm_name = progress_configmap(&name);
    // Redacted as one text, continuing the log (a private key may span lines and requests).
    let text: String = body
        .lines
        .iter()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    let uid = job.uid().unwrap_or_default();
    // What this replica wrote last (one write, no read), else a guess that there is none yet
    // (one create); a conflict means another writer: read, then write.
    let mut known: Option<(Option<String>, String)> =
        Some(match s.progress_logs.lock().await.remove(&uid) {
            Some((rv, log)) => (Some(rv), log),
            None => (None, String::new()),
        });
    for _ in 0..10 {
        let (rv, prev) = match known.take() {
            Some(k) => k,
            None => match api.get_opt(&cm_name).await? {
                None => (None, String::new()),
                Some(cm) => (
                    cm.resource_version(),
                    cm.data
                        .and_then(|mut d| d.remove("log"))
                        .unwrap_or_default(),
                ),
            },
        };
        let log = tail(
            &format!("{prev}{}", redact_after(&prev, &text)),
            PROGRESS_MAX,
        );
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(cm_name.clone()),
                resource_version: rv.clone(),
                owner_references: job.controller_owner_ref(&()).map(|o| vec![o]),
                labels: Some([(MANAGED_BY.to_string(), MANAGER.to_string())].into()),
                ..ObjectMeta::default()
            },
            data: Some([("log".to_string(), log.clone())].into()),
            ..ConfigMap::default()
        };
        let written = match rv {
            None => api.create(&PostParams::default(), &cm).await,
            Some(_) => api.replace(&cm_name, &PostParams::default(), &cm).await,
        };
        match written {
            Ok(cm) => {
                if log.len() <= PROGRESS_CACHE_MAX
                    && let Some(rv) = cm.resource_version()
                {
                    let mut logs = s.progress_logs.lock().await;
                    if logs.len() >= PROGRESS_CACHE_JOBS {
                        logs.clear();
                    }
                    logs.insert(uid, (rv, log));
                }
                return Ok(StatusCode::NO_CONTENT);
            }
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "progress kept changing; retry".into(),
    ))
}

/// The last `max` bytes of `s`, starting at a line boundary.
fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let cut = &s[start..];
    cut.find('\n')
        .map(|i| cut[i + 1..].to_string())
        .unwrap_or_else(|| cut.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionBody {
    #[serde(rename = "type")]
    pub type_: String,
    pub target: String,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub requires_approval: bool,
    #[serde(default)]
    pub approval: Option<String>,
}

const ACTION_TYPES: &[&str] = &[
    "file_create",
    "file_modify",
    "file_delete",
    "git_commit",
    "git_push",
    "pr_open",
    "pr_review",
    "api_call",
    "deploy_patch",
    "image_build",
    "rollback",
    "migration_apply",
    "notify",
];

/// Every field of an action is bounded (the audit trail lives in the job's status).
fn check_action(body: &ActionBody) -> Result<(), String> {
    if !ACTION_TYPES.contains(&body.type_.as_str()) {
        return Err(format!("type: unknown action type {:?}", body.type_));
    }
    if body.target.is_empty() || body.target.len() > 1024 {
        return Err("target must be 1..1024 bytes".into());
    }
    let token = |v: &str, max: usize| {
        !v.is_empty() && v.len() <= max && v.bytes().all(|b| b.is_ascii_graphic())
    };
    if body.digest.as_deref().is_some_and(|d| !token(d, 256)) {
        return Err("digest must be 1..256 printable characters without spaces".into());
    }
    if body.approval.as_deref().is_some_and(|a| {
        !token(a, 253)
            || !a
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    }) {
        return Err("approval must be an AgentApproval name (1..253 of a-z, 0-9, - and .)".into());
    }
    Ok(())
}

async fn action(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    let body: ActionBody = read_json(body, BODY_SMALL).await?;
    check_action(&body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let record = ActionRecord {
        type_: body.type_,
        target: redact(&body.target).into_owned(),
        digest: body.digest,
        requires_approval: body.requires_approval,
        approval: body.approval,
        executed_at: Some(Time(Timestamp::now())),
    };
    update_status(&s.client, job, |st| {
        // Bounded: the audit trail keeps the last ACTIONS_KEPT actions in status.
        st.actions.push(record.clone());
        let n = st.actions.len();
        if n > ACTIONS_KEPT {
            st.actions.drain(..n - ACTIONS_KEPT);
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn artifact(
    State(s): State<Arc<ApiState>>,
    Path((ns, name, artifact)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::Json<ArtifactRef>, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    if !results::valid_name(&artifact) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("artifact name {artifact:?}: use a-z, 0-9 and -"),
        ));
    }
    // The per-job upload rate.
    let uid = job.uid().unwrap_or_default();
    {
        let mut uploads = s.uploads.lock().await;
        let now = Instant::now();
        if uploads.len() > 10_000 {
            uploads.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
            });
        }
        let q = uploads.entry(uid).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            q.pop_front();
        }
        if q.len() >= s.limits.uploads_per_minute {
            return Err(ApiError(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "at most {} artifact uploads per minute per job",
                    s.limits.uploads_per_minute
                ),
            ));
        }
        q.push_back(now);
    }
    // A few uploads at a time; each streams (memory stays about one chunk per upload).
    let _slot = s
        .upload_slots
        .acquire()
        .await
        .map_err(|_| ApiError(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()))?;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ARTIFACT_MAX) {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an artifact is at most {ARTIFACT_MAX} bytes"),
        ));
    }
    let r = results::store(
        &s.client,
        &job,
        &artifact,
        body.into_data_stream(),
        ARTIFACT_MAX,
        s.limits.artifacts,
    )
    .await
    .map_err(|e| match e {
        results::ResultError::Kube(k) => ApiError::from(k),
        results::ResultError::TooLarge(m) => ApiError(StatusCode::PAYLOAD_TOO_LARGE, m),
        results::ResultError::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
        results::ResultError::Body(m) => ApiError(StatusCode::BAD_REQUEST, m),
        other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    })?;
    Ok(axum::Json(r))
}

#[derive(Deserialize)]
pub struct ResultBody {
    pub summary: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub artifacts: Vec<ArtifactRef>,
}

async fn result(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    let uid = job.uid();
    let body: ResultBody = read_json(body, BODY_RESULT).await?;
    if body.artifacts.len() > s.limits.artifacts.max_count {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {} artifacts", s.limits.artifacts.max_count),
        ));
    }
    let small = serde_json::to_vec(&body.data).map(|v| v.len()).unwrap_or(0);
    if small > 16 * 1024 {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "result data over 16 KiB: upload it as an artifact and reference it".into(),
        ));
    }
    let summary = crate::runner::truncate_message(&redact(&body.summary)).to_string();
    let mut data = body.data.clone();
    if let Some(d) = data.as_mut() {
        crate::services::redact::redact_json(d);
    }
    update_status(&s.client, job, |st| {
        st.result = Some(JobResult {
            summary: summary.clone(),
            data: data.clone(),
            artifacts: body.artifacts.clone(),
        });
    })
    .await?;
    if let Some(uid) = uid {
        s.progress_logs.lock().await.remove(&uid);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ApprovalRequest {
    pub action: String,
    #[serde(default)]
    pub description: String,
    pub pins: Vec<crate::api::Pin>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalState {
    pub name: String,
    pub phase: crate::api::ApprovalPhase,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub approved_by: Vec<String>,
}

fn approval_state_of(a: &crate::api::AgentApproval) -> ApprovalState {
    let st = a.status.clone().unwrap_or_default();
    ApprovalState {
        name: a.name_any(),
        phase: st.phase.unwrap_or_default(),
        message: st.message,
        approved_by: st.approved_by,
    }
}

async fn request_approval(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::Json<ApprovalState>, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    let body: ApprovalRequest = read_json(body, BODY_SMALL).await?;
    let action_ok = !body.action.is_empty()
        && body.action.len() <= 31
        && body
            .action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !action_ok || body.pins.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "an approval needs an action (a-z0-9_-) and at least one pin".into(),
        ));
    }
    let aname = approval::approval_name(&name, &body.action, &body.pins);
    let api: Api<crate::api::AgentApproval> = Api::namespaced(s.client.clone(), &ns);
    if let Some(a) = api.get_opt(&aname).await? {
        return issued(&a, &job, &s.environments);
    }
    let a = approval::build(
        &job,
        &s.environments,
        &aname,
        &body.action,
        &redact(&body.description),
        body.pins,
        Timestamp::now(),
    );
    match api.create(&PostParams::default(), &a).await {
        Ok(a) => Ok(axum::Json(approval_state_of(&a))),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            issued(&api.get(&aname).await?, &job, &s.environments)
        }
        Err(e) => Err(e.into()),
    }
}

/// The state of an approval the operator issued for `job`; any other is refused.
fn issued(
    a: &crate::api::AgentApproval,
    job: &AgentJob,
    envs: &Environments,
) -> Result<axum::Json<ApprovalState>, ApiError> {
    approval::verify(a, job, envs).map_err(|why| {
        forbidden(format!(
            "approval {} was not issued by the operator for job {}: {why}",
            a.name_any(),
            job.name_any()
        ))
    })?;
    Ok(axum::Json(approval_state_of(a)))
}

async fn approval_state(
    State(s): State<Arc<ApiState>>,
    Path((ns, name, approval)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<axum::Json<ApprovalState>, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    let api: Api<crate::api::AgentApproval> = Api::namespaced(s.client.clone(), &ns);
    issued(&api.get(&approval).await?, &job, &s.environments)
}

/// What an agent gets back from `POST /llm`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct LlmAnswer {
    /// Why no completion was made (no provider configured, budget spent).
    #[serde(default)]
    pub skipped: Option<String>,
    #[serde(default)]
    pub completion: Option<crate::llm::gateway::Completion>,
}

/// An LLM call that may go ahead: the job's turn is held until its tokens are accounted.
struct LlmGo {
    job: AgentJob,
    gw: Arc<crate::llm::gateway::Gateway>,
    req: crate::llm::gateway::CompletionRequest,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// A rough count of a request's input tokens (about four bytes a token), for reserving.
fn estimated_input_tokens(req: &crate::llm::gateway::CompletionRequest) -> i64 {
    let bytes = req.system.as_ref().map_or(0, String::len)
        + req.messages.iter().map(|m| m.content.len()).sum::<usize>();
    (bytes / 4) as i64 + 1
}

/// What a request may use of the job's token budget: `None` when nothing is left, else
/// the request with `max_tokens` cut to what remains after its estimated input.
pub fn reserve(
    req: &crate::llm::gateway::CompletionRequest,
    used: &crate::api::LlmUsage,
    budget: Option<&crate::api::Budget>,
) -> Option<crate::llm::gateway::CompletionRequest> {
    let mut req = req.clone();
    if let Some(b) = budget {
        if b.max_cost_usd.is_some_and(|m| used.cost_usd >= m) {
            return None;
        }
        if let Some(max) = b.max_tokens {
            let left = max - used.input_tokens - used.output_tokens - estimated_input_tokens(&req);
            if left < 1 {
                return None;
            }
            req.max_tokens = req.max_tokens.min(u32::try_from(left).unwrap_or(u32::MAX));
        }
    }
    Some(req)
}

/// Authorize an LLM call of job `ns/name` and decide whether it may reach the provider:
/// `Err(answer)` when it is skipped (no provider configured, budget spent), recorded in the
/// job's status. A job's calls take turns (its budget is checked and reserved against what
/// the previous call used, never against a stale count).
async fn llm_gate(
    s: &ApiState,
    headers: &HeaderMap,
    ns: &str,
    name: &str,
    body: axum::body::Body,
) -> Result<Result<LlmGo, LlmAnswer>, ApiError> {
    let job = authorize(s, headers, ns, name).await?;
    let req: crate::llm::gateway::CompletionRequest = read_json(body, BODY_LLM).await?;
    let turn = {
        let mut turns = s.llm_turns.lock().await;
        if turns.len() > 1_000 {
            turns.retain(|_, t| Arc::strong_count(t) > 1);
        }
        turns
            .entry(job.uid().unwrap_or_default())
            .or_default()
            .clone()
    }
    .lock_owned()
    .await;
    // Re-read after waiting for the turn: the previous call's tokens are in status now.
    let job: AgentJob = Api::namespaced(s.client.clone(), ns).get(name).await?;
    let why = match s.llm.clone() {
        None => "no LLM provider is configured; LLM steps were skipped",
        Some(gw) => {
            let used = job
                .status
                .as_ref()
                .and_then(|st| st.llm.clone())
                .unwrap_or_default();
            // The job's budget stops LLM use, not the job.
            match reserve(&req, &used, job.spec.budget.as_ref()) {
                Some(req) => {
                    return Ok(Ok(LlmGo {
                        job,
                        gw,
                        req,
                        _turn: turn,
                    }));
                }
                None => "the job's LLM budget is spent; LLM steps were skipped",
            }
        }
    };
    update_status(&s.client, job, move |st| {
        st.llm.get_or_insert_with(Default::default).skipped = Some(why.to_string());
    })
    .await?;
    Ok(Err(LlmAnswer {
        skipped: Some(why.into()),
        completion: None,
    }))
}

fn llm_error(e: crate::llm::gateway::LlmError) -> ApiError {
    match e {
        crate::llm::gateway::LlmError::Limit(l) => {
            ApiError(StatusCode::TOO_MANY_REQUESTS, l.to_string())
        }
        other => ApiError(StatusCode::BAD_GATEWAY, other.to_string()),
    }
}

/// Add a provider call's tokens and cost to the job's `status.llm`.
async fn account(
    client: &Client,
    job: AgentJob,
    c: &crate::llm::gateway::Completion,
) -> Result<(), ApiError> {
    if c.from_cache {
        return Ok(());
    }
    let c2 = c.clone();
    update_status(client, job, move |st| {
        let u = st.llm.get_or_insert_with(Default::default);
        u.requests += 1;
        u.input_tokens += c2.input_tokens as i64;
        u.output_tokens += c2.output_tokens as i64;
        u.cached_tokens += c2.cached_tokens as i64;
        u.cost_usd += c2.cost_usd;
    })
    .await
    .map(|_| ())
}

async fn llm(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    if let Some(p) = s.peers.get()
        && !p.serve_here(&headers)
    {
        return p
            .forward(&format!("/v1/jobs/{ns}/{name}/llm"), &headers, body)
            .await;
    }
    let go = match llm_gate(&s, &headers, &ns, &name, body).await? {
        Ok(go) => go,
        Err(skipped) => return Ok(axum::Json(skipped).into_response()),
    };
    let c = go
        .gw
        .complete(&format!("{ns}/{name}"), go.job.spec.agent.as_str(), &go.req)
        .await
        .map_err(llm_error)?;
    account(&s.client, go.job, &c).await?;
    Ok(axum::Json(LlmAnswer {
        skipped: None,
        completion: Some(c),
    })
    .into_response())
}

/// One line of the streaming answer (NDJSON): text deltas as they arrive, then either the
/// final answer or the error.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub enum StreamLine {
    Delta(String),
    Done(LlmAnswer),
    Error { status: u16, message: String },
}

fn ndjson(line: &StreamLine) -> Bytes {
    let mut v = serde_json::to_vec(line).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// `POST /llm/stream`: the provider's stream passed through as NDJSON lines.
async fn llm_stream(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    if let Some(p) = s.peers.get()
        && !p.serve_here(&headers)
    {
        return p
            .forward(&format!("/v1/jobs/{ns}/{name}/llm/stream"), &headers, body)
            .await;
    }
    let body = match llm_gate(&s, &headers, &ns, &name, body).await? {
        Err(skipped) => axum::body::Body::from(ndjson(&StreamLine::Done(skipped))),
        Ok(LlmGo {
            job,
            gw,
            req,
            _turn,
        }) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
            let client = s.client.clone();
            tokio::spawn(async move {
                let key = format!("{ns}/{name}");
                let agent = job.spec.agent.as_str();
                let r = gw
                    .stream(&key, agent, &req, |d| {
                        let _ = tx.send(ndjson(&StreamLine::Delta(d.to_string())));
                    })
                    .await;
                let last = match r {
                    Ok(c) => match account(&client, job, &c).await {
                        Ok(()) => StreamLine::Done(LlmAnswer {
                            skipped: None,
                            completion: Some(c),
                        }),
                        Err(ApiError(code, message)) => StreamLine::Error {
                            status: code.as_u16(),
                            message,
                        },
                    },
                    Err(e) => {
                        let ApiError(code, message) = llm_error(e);
                        StreamLine::Error {
                            status: code.as_u16(),
                            message,
                        }
                    }
                };
                let _ = tx.send(ndjson(&last));
                drop(_turn);
            });
            let lines = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
            });
            axum::body::Body::from_stream(lines)
        }
    };
    Ok(([("content-type", "application/x-ndjson")], body).into_response())
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
