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
//!   action and exact pins); `GET /approvals/{name}` — its decision so far.

pub mod results;
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
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::api::{ActionRecord, AgentJob, AgentJobSpec, AgentJobStatus, ArtifactRef, JobResult};
use crate::controller::FIELD_MANAGER;
use crate::controller::pod::{MANAGED_BY, MANAGER, bounded_name, service_account_name};
use crate::services::redact::redact;

/// The audience of the agent Pods' projected tokens.
pub const AUDIENCE: &str = "devagents.io";
/// Where the projected token is mounted in agent Pods.
pub const TOKEN_DIR: &str = "/var/run/secrets/devagents.io";
/// The Secret (operator namespace) holding the shared self-signed serving certificate.
pub const TLS_SECRET: &str = "devagents-agent-api-tls";
/// The ConfigMap (operator namespace) that publishes the API's CA certificate.
pub const CA_CONFIGMAP: &str = "devagents-agent-api-ca";
/// Progress kept per job (the tail).
const PROGRESS_MAX: usize = 256 * 1024;
/// Largest artifact accepted in one upload.
const ARTIFACT_MAX: usize = 100 * 1024 * 1024;

/// The serving certificate and key.
#[derive(Clone)]
pub struct Tls {
    pub cert_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
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
    /// sha256(token) → (namespace, SA name, expiry) of a successful TokenReview.
    reviews: Mutex<HashMap<[u8; 32], (String, String, Instant)>>,
}

impl ApiState {
    pub fn new(client: Client, llm: Option<Arc<crate::llm::gateway::Gateway>>) -> Arc<ApiState> {
        Arc::new(ApiState {
            client,
            llm,
            reviews: Mutex::new(HashMap::new()),
        })
    }
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
        .route("/v1/jobs/{ns}/{name}/llm", post(llm))
        .route("/v1/jobs/{ns}/{name}/llm/stream", post(llm_stream))
        .route("/webhooks/mutate", post(webhook::mutate))
        .route("/webhooks/validate", post(webhook::validate))
        .layer(DefaultBodyLimit::max(ARTIFACT_MAX))
        .with_state(state)
}

/// An API error as `{"error": "..."}` with its status code.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

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
        .filter(|c| c.2 > Instant::now())
        .cloned();
    let (sa_ns, sa_name) = match cached {
        Some((n, s, _)) => (n, s),
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
            let user = st.user.and_then(|u| u.username).unwrap_or_default();
            let Some(rest) = user.strip_prefix("system:serviceaccount:") else {
                return Err(forbidden(format!("{user} is not a job's ServiceAccount")));
            };
            let (n, s) = rest.split_once(':').unwrap_or((rest, ""));
            let entry = (n.to_string(), s.to_string());
            let mut cache = state.reviews.lock().await;
            if cache.len() > 10_000 {
                cache.retain(|_, c| c.2 > Instant::now());
            }
            cache.insert(
                key,
                (
                    entry.0.clone(),
                    entry.1.clone(),
                    Instant::now() + Duration::from_secs(30),
                ),
            );
            entry
        }
    };
    if sa_ns != ns || sa_name != service_account_name(name) {
        return Err(forbidden(format!(
            "system:serviceaccount:{sa_ns}:{sa_name} may not act for job {ns}/{name}"
        )));
    }
    let jobs: Api<AgentJob> = Api::namespaced(state.client.clone(), ns);
    let job = jobs.get(name).await?;
    // The ServiceAccount must be this job's own (not a leftover of an older job of that name).
    let sas: Api<ServiceAccount> = Api::namespaced(state.client.clone(), ns);
    let sa = sas.get(&sa_name).await?;
    let owned = sa
        .owner_references()
        .iter()
        .any(|o| Some(&o.uid) == job.uid().as_ref() && o.kind == "AgentJob");
    if !owned {
        return Err(forbidden(format!(
            "serviceaccount {sa_name} does not belong to job {ns}/{name}"
        )));
    }
    if job.metadata.deletion_timestamp.is_some()
        || job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(|p| p.is_terminal())
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("job {ns}/{name} has ended"),
        ));
    }
    Ok(job)
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
            Err(kube::Error::Api(s)) if s.code == 409 => job = api.get(&job.name_any()).await?,
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
    axum::Json(body): axum::Json<ProgressBody>,
) -> Result<StatusCode, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let cm_name = progress_configmap(&name);
    let text: String = body
        .lines
        .iter()
        .map(|l| format!("{}\n", redact(l.trim_end())))
        .collect();
    for _ in 0..10 {
        match api.get_opt(&cm_name).await? {
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(cm_name.clone()),
                        owner_references: job.controller_owner_ref(&()).map(|o| vec![o]),
                        labels: Some([(MANAGED_BY.to_string(), MANAGER.to_string())].into()),
                        ..ObjectMeta::default()
                    },
                    data: Some([("log".to_string(), tail(&text, PROGRESS_MAX))].into()),
                    ..ConfigMap::default()
                };
                match api.create(&PostParams::default(), &cm).await {
                    Ok(_) => return Ok(StatusCode::NO_CONTENT),
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Some(mut cm) => {
                let data = cm.data.get_or_insert_with(Default::default);
                let prev = data.remove("log").unwrap_or_default();
                data.insert("log".into(), tail(&format!("{prev}{text}"), PROGRESS_MAX));
                match api.replace(&cm_name, &PostParams::default(), &cm).await {
                    Ok(_) => return Ok(StatusCode::NO_CONTENT),
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
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

async fn action(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<ActionBody>,
) -> Result<StatusCode, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    if !ACTION_TYPES.contains(&body.type_.as_str()) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("unknown action type {:?}", body.type_),
        ));
    }
    if body.target.is_empty() || body.target.len() > 1024 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "target must be 1..1024 characters".into(),
        ));
    }
    let record = ActionRecord {
        type_: body.type_,
        target: redact(&body.target).into_owned(),
        digest: body.digest,
        requires_approval: body.requires_approval,
        approval: body.approval,
        executed_at: Some(Time(Timestamp::now())),
    };
    update_status(&s.client, job, |st| {
        // Bounded: the audit trail keeps the last 200 actions in status.
        st.actions.push(record.clone());
        let n = st.actions.len();
        if n > 200 {
            st.actions.drain(..n - 200);
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn artifact(
    State(s): State<Arc<ApiState>>,
    Path((ns, name, artifact)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<ArtifactRef>, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    if !results::valid_name(&artifact) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("artifact name {artifact:?}: use a-z, 0-9 and -"),
        ));
    }
    let r = results::store(&s.client, &job, &artifact, &body)
        .await
        .map_err(|e| match e {
            results::ResultError::Kube(k) => ApiError::from(k),
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
    axum::Json(body): axum::Json<ResultBody>,
) -> Result<StatusCode, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
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
    axum::Json(body): axum::Json<ApprovalRequest>,
) -> Result<axum::Json<ApprovalState>, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
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
    let aname = crate::controller::approval::approval_name(&name, &body.action, &body.pins);
    let api: Api<crate::api::AgentApproval> = Api::namespaced(s.client.clone(), &ns);
    if let Some(a) = api.get_opt(&aname).await? {
        return Ok(axum::Json(approval_state_of(&a)));
    }
    let a = crate::controller::approval::build(
        &job,
        None,
        &aname,
        &body.action,
        &redact(&body.description),
        body.pins,
        Timestamp::now(),
    );
    match api.create(&PostParams::default(), &a).await {
        Ok(a) => Ok(axum::Json(approval_state_of(&a))),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            Ok(axum::Json(approval_state_of(&api.get(&aname).await?)))
        }
        Err(e) => Err(e.into()),
    }
}

async fn approval_state(
    State(s): State<Arc<ApiState>>,
    Path((ns, name, approval)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<axum::Json<ApprovalState>, ApiError> {
    let job = authorize(&s, &headers, &ns, &name).await?;
    let api: Api<crate::api::AgentApproval> = Api::namespaced(s.client.clone(), &ns);
    let a = api.get(&approval).await?;
    if a.spec.job_name != name || (a.spec.job_uid.is_some() && a.spec.job_uid != job.uid()) {
        return Err(forbidden(format!(
            "approval {approval} does not belong to job {ns}/{name}"
        )));
    }
    Ok(axum::Json(approval_state_of(&a)))
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

/// Authorize an LLM call of job `ns/name` and decide whether it may reach the provider:
/// `Err(answer)` when it is skipped (no provider configured, budget spent), recorded in the
/// job's status.
async fn llm_gate(
    s: &ApiState,
    headers: &HeaderMap,
    ns: &str,
    name: &str,
) -> Result<Result<(AgentJob, Arc<crate::llm::gateway::Gateway>), LlmAnswer>, ApiError> {
    let job = authorize(s, headers, ns, name).await?;
    let why = match s.llm.clone() {
        None => "no LLM provider is configured; LLM steps were skipped",
        Some(gw) => {
            // The job's budget stops LLM use, not the job.
            let used = job
                .status
                .as_ref()
                .and_then(|st| st.llm.clone())
                .unwrap_or_default();
            let tokens = used.input_tokens + used.output_tokens;
            let over = job.spec.budget.as_ref().is_some_and(|b| {
                b.max_tokens.is_some_and(|m| tokens >= m)
                    || b.max_cost_usd.is_some_and(|m| used.cost_usd >= m)
            });
            if !over {
                return Ok(Ok((job, gw)));
            }
            "the job's LLM budget is spent; LLM steps were skipped"
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
    axum::Json(req): axum::Json<crate::llm::gateway::CompletionRequest>,
) -> Result<axum::Json<LlmAnswer>, ApiError> {
    let (job, gw) = match llm_gate(&s, &headers, &ns, &name).await? {
        Ok(go) => go,
        Err(skipped) => return Ok(axum::Json(skipped)),
    };
    let c = gw
        .complete(&format!("{ns}/{name}"), job.spec.agent.as_str(), &req)
        .await
        .map_err(llm_error)?;
    account(&s.client, job, &c).await?;
    Ok(axum::Json(LlmAnswer {
        skipped: None,
        completion: Some(c),
    }))
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
    axum::Json(req): axum::Json<crate::llm::gateway::CompletionRequest>,
) -> Result<Response, ApiError> {
    let body = match llm_gate(&s, &headers, &ns, &name).await? {
        Err(skipped) => axum::body::Body::from(ndjson(&StreamLine::Done(skipped))),
        Ok((job, gw)) => {
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
