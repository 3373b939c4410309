//! `POST|GET|DELETE /v1/jobs/{ns}/{name}/sandbox`: a reviewer's pull-request tests in a Pod
//! that can reach nothing (see [`super::sandbox`]).
//!
//! The Pod: the job's own agent image running `agent-runner sandbox-test`; no ServiceAccount
//! token, no Secret, no environment from the job, no service links; non-root, read-only root
//! filesystem, no capabilities; the source mounted read-only from the job's own `source`
//! artifact ConfigMaps; an emptyDir for the build; a deadline. Its namespace gets the
//! NetworkPolicy [`NETWORK_POLICY`], which denies every Pod labelled
//! [`LABEL_SANDBOX`] all ingress and egress.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::sandbox::{
    LABEL_SANDBOX, NETWORK_POLICY, SOURCE_ARTIFACT, SOURCE_DIR, SandboxRequest, SandboxState,
    WORK_DIR, check_packages,
};
use crate::agentapi::results::LABEL_ARTIFACT;
use crate::agentapi::{
    ApiError, ApiState, Authorized, BODY_SMALL, delete_labelled_pod, forbidden, read_json,
};
use crate::api::{AgentJob, AgentKind, Phase};
use crate::controller::pod::{LABEL_JOB_UID, MANAGED_BY, MANAGER, bounded_name};

/// The reviewer's endpoint of the agent API.
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new().route(
        &format!(
            "{}{}",
            crate::contract::bodies::JOB_ROUTE,
            super::sandbox::ROUTE
        ),
        axum::routing::post(start).get(state).delete(remove),
    )
}

/// The label naming the job (UID) a sandbox Pod belongs to.
const SANDBOX_OF: &str = "devagents.io/sandbox-of";
/// A sandbox run may take this long.
const DEADLINE_SECONDS: i64 = 900;

fn bad(code: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError(code, msg.into())
}

/// The running reviewer job's sandbox Pod name (one per attempt).
fn sandbox_name(job: &AgentJob) -> Result<String, ApiError> {
    let (ns, name) = (job.namespace().unwrap_or_default(), job.name_any());
    if job.spec.agent != AgentKind::Reviewer {
        return Err(forbidden(format!(
            "job {ns}/{name} is not a reviewer: it has no sandbox"
        )));
    }
    let st = job.status.as_ref();
    if st.and_then(|s| s.phase) != Some(Phase::Running) {
        return Err(bad(
            StatusCode::CONFLICT,
            format!("job {ns}/{name} is not running"),
        ));
    }
    let attempt = st.map_or(0, |s| s.attempts.len());
    let uid: String = job
        .uid()
        .unwrap_or_default()
        .chars()
        .filter(|c| *c != '-')
        .take(12)
        .collect();
    Ok(bounded_name(
        &format!("devagents-sandbox-{uid}"),
        &format!("-{attempt}"),
        63,
    ))
}

/// The deny-all NetworkPolicy of sandbox Pods in `ns` (server-side apply: idempotent).
async fn isolate(s: &ApiState, ns: &str) -> Result<(), ApiError> {
    let api: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
        Api::namespaced(s.client.clone(), ns);
    let np = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": { "name": NETWORK_POLICY, "labels": { MANAGED_BY: MANAGER } },
        "spec": {
            "podSelector": { "matchLabels": { LABEL_SANDBOX: "true" } },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [], "egress": [],
        },
    });
    api.patch(
        NETWORK_POLICY,
        &PatchParams::apply(crate::contract::FIELD_MANAGER).force(),
        &Patch::Apply(np),
    )
    .await?;
    Ok(())
}

async fn start(
    State(s): State<Arc<ApiState>>,
    Authorized { job, ns, name }: Authorized,
    body: axum::body::Body,
) -> Result<axum::Json<SandboxState>, ApiError> {
    let pod_name = sandbox_name(&job)?;
    let req: SandboxRequest = read_json(body, BODY_SMALL).await?;
    check_packages(&req.packages).map_err(|e| bad(StatusCode::BAD_REQUEST, e))?;
    let uid = job.uid().unwrap_or_default();
    // The source must be this job's own `source` artifact, chunk by chunk.
    if req.source.name != SOURCE_ARTIFACT
        || req.source.config_maps.is_empty()
        || req.source.config_maps.len() > 512
        || req.source.encoding != "gzip"
    {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            format!("source: the job's {SOURCE_ARTIFACT:?} artifact (gzip) is expected"),
        ));
    }
    // One list of the job's own `source` chunks (by their labels), not a read per chunk.
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let ours: std::collections::HashSet<String> = cms
        .list(&ListParams::default().labels(&format!(
            "{LABEL_JOB_UID}={uid},{LABEL_ARTIFACT}={SOURCE_ARTIFACT}"
        )))
        .await?
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    if let Some(c) = req.source.config_maps.iter().find(|c| !ours.contains(*c)) {
        return Err(forbidden(format!(
            "configmap {c:?} is not a chunk of this job's source artifact"
        )));
    }
    // The image: the one the job's agent runs in.
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
    let attempt = job.status.as_ref().map_or(0, |st| st.attempts.len()) as i32;
    let agent_pod = pods
        .get_opt(&crate::controller::pod::pod_name(&name, attempt))
        .await?
        .ok_or_else(|| bad(StatusCode::CONFLICT, "the job's agent Pod is not there"))?;
    let image = agent_pod
        .spec
        .as_ref()
        .and_then(|sp| sp.containers.first())
        .and_then(|c| c.image.clone())
        .ok_or_else(|| bad(StatusCode::CONFLICT, "the job's agent Pod has no image"))?;
    isolate(&s, &ns).await?;
    let sources: Vec<serde_json::Value> = req
        .source
        .config_maps
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"configMap": {"name": c, "items": [{"key": "chunk", "path": format!("{i:04}")}]}}))
        .collect();
    let mut args = vec![
        "sandbox-test".to_string(),
        "--source".into(),
        SOURCE_DIR.into(),
        "--digest".into(),
        req.source.digest.clone(),
        "--work".into(),
        WORK_DIR.into(),
        "--".into(),
    ];
    args.extend(req.packages.iter().cloned());
    let owner = job.controller_owner_ref(&()).map(|o| vec![o]);
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "labels": { MANAGED_BY: MANAGER, LABEL_SANDBOX: "true", SANDBOX_OF: uid },
            "ownerReferences": owner,
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "securityContext": { "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                                 "seccompProfile": { "type": "RuntimeDefault" } },
            "containers": [{
                "name": "tests",
                "image": image,
                "command": ["agent-runner"],
                "args": args,
                "securityContext": { "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                     "capabilities": { "drop": ["ALL"] } },
                "resources": { "requests": { "cpu": "100m", "memory": "256Mi" },
                               "limits": { "cpu": "2", "memory": "1Gi", "ephemeral-storage": "2Gi" } },
                "volumeMounts": [
                    { "name": "source", "mountPath": SOURCE_DIR, "readOnly": true },
                    { "name": "work", "mountPath": WORK_DIR },
                ],
            }],
            "volumes": [
                { "name": "source", "projected": { "sources": sources } },
                { "name": "work", "emptyDir": { "sizeLimit": "2Gi" } },
            ],
        },
    }))
    .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match pods.create(&PostParams::default(), &pod).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let live = pods.get(&pod_name).await?;
            if live.labels().get(SANDBOX_OF) != Some(&uid) {
                return Err(bad(
                    StatusCode::CONFLICT,
                    format!("pod {pod_name} exists and is not this job's sandbox"),
                ));
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(axum::Json(SandboxState {
        pod: pod_name,
        phase: "Pending".into(),
        ..SandboxState::default()
    }))
}

async fn state(
    State(s): State<Arc<ApiState>>,
    Authorized { job, ns, .. }: Authorized,
) -> Result<axum::Json<SandboxState>, ApiError> {
    let pod_name = sandbox_name(&job)?;
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
    let uid = job.uid().unwrap_or_default();
    let pod = pods
        .get_opt(&pod_name)
        .await?
        .filter(|p| p.labels().get(SANDBOX_OF) == Some(&uid))
        .ok_or_else(|| bad(StatusCode::NOT_FOUND, format!("no sandbox {pod_name}")))?;
    let st = pod.status.unwrap_or_default();
    let term = st
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .find_map(|c| c.state.and_then(|s| s.terminated));
    Ok(axum::Json(SandboxState {
        pod: pod_name,
        phase: st.phase.unwrap_or_else(|| "Pending".into()),
        exit_code: term.as_ref().map(|t| t.exit_code),
        output: term.and_then(|t| t.message).unwrap_or_default(),
    }))
}

async fn remove(
    State(s): State<Arc<ApiState>>,
    Authorized { job, ns, .. }: Authorized,
) -> Result<StatusCode, ApiError> {
    let pod_name = sandbox_name(&job)?;
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), &ns);
    let uid = job.uid().unwrap_or_default();
    delete_labelled_pod(&pods, &pod_name, SANDBOX_OF, &uid).await?;
    Ok(StatusCode::NO_CONTENT)
}
