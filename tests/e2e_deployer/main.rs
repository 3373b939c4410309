//! The deployer end to end on the real control plane: real Deployments rolled out by the real
//! kube-controller-manager (the node stand-in marks application Pods Ready, keeps `:broken*`
//! tags in ImagePullBackOff, and runs build/smoke Pods to completion), through the operator
//! and an agent Pod that talks to the apiserver with its job's ServiceAccount token.
//! Smoke-test endpoints are local HTTP servers; Slack is a TEST DOUBLE.

#[path = "../common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use common::{Operator, is_terminal};
use devagents::agents::deployer::rollout::{self, Rollout};
use devagents::api::{AgentApproval, AgentJob, ApprovalPhase, Phase};
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::saas_doubles::{NotionDouble, SlackDouble};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

mod gitops;
mod locks_and_approvals;
mod rollouts;
mod security;

const REGISTRY: &str = "registry.local/shop";

/// An application Deployment at `version` (two replicas, a short progress deadline).
async fn app(client: &Client, ns: &str, name: &str, version: &str) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 2, "progressDeadlineSeconds": 4, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": format!("{REGISTRY}/{name}:{version}")}]}},
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    rolled_out(client, ns, name).await;
}

/// Wait until `name`'s rollout is complete (as kubectl rollout status judges it).
async fn rolled_out(client: &Client, ns: &str, name: &str) -> Deployment {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    common::wait_for(&api, name, 60, "rolled out", |d: Option<&Deployment>| {
        d.is_some_and(|d| matches!(rollout::status(d), Rollout::Done(_)))
    })
    .await
}

fn image_of(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap()
}

/// ReplicaSets of a Deployment: (revision, image), by revision.
async fn history(client: &Client, ns: &str, app: &str) -> Vec<(i64, String)> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let mut out: Vec<(i64, String)> = api
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|rs| {
            let rev = rs.annotations()["deployment.kubernetes.io/revision"]
                .parse()
                .unwrap();
            let image = rs.spec.unwrap().template.unwrap().spec.unwrap().containers[0]
                .image
                .clone()
                .unwrap();
            (rev, image)
        })
        .collect();
    out.sort();
    out
}

fn deploy_job(name: &str, env: &str, version: &str, extra: Value) -> AgentJob {
    let mut deployer = json!({"environment": env, "version": version});
    if let (Some(d), Value::Object(e)) = (deployer.as_object_mut(), extra) {
        d.extend(e);
    }
    serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": name},
        "spec": {"agent": "deployer", "timeoutSeconds": 300, "deployer": deployer}
    }))
    .unwrap()
}

/// Create `job` and wait until it has ended.
async fn run_to_end(jobs: &Api<AgentJob>, job: &AgentJob) -> AgentJob {
    jobs.create(&PostParams::default(), job).await.unwrap();
    common::wait_for(jobs, &job.name_any(), 120, "finished", is_terminal).await
}

/// An operator for `ns` with these environments (written to a file in `dir`).
fn operator(ns: &str, dir: &std::path::Path, envs: Value) -> Operator {
    let file = environments(dir, envs);
    Operator::start(ns, "op-a", &["--environments", &file])
}

/// Write the operator's environments file.
fn environments(dir: &std::path::Path, envs: Value) -> String {
    let path = dir.join("environments.yaml");
    std::fs::write(
        &path,
        serde_yaml::to_string(&json!({ "environments": envs })).unwrap(),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn services() -> Value {
    json!([
        {"name": "api", "image": format!("{REGISTRY}/api")},
        {"name": "rpc", "image": format!("{REGISTRY}/rpc")},
    ])
}

/// A local smoke-test endpoint: `/{service}/health` answers the status set for the service
/// (200 by default); while `gate` is closed, answers wait; every request is announced on `hits`.
#[derive(Clone)]
struct Smoke {
    status: Arc<Mutex<HashMap<String, u16>>>,
    gate: watch::Receiver<bool>,
    hits: tokio::sync::mpsc::UnboundedSender<String>,
}

async fn health(
    State(s): State<Smoke>,
    Path(service): Path<String>,
) -> (axum::http::StatusCode, String) {
    let _ = s.hits.send(service.clone());
    let mut gate = s.gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    let code = s
        .status
        .lock()
        .unwrap()
        .get(&service)
        .copied()
        .unwrap_or(200);
    (
        axum::http::StatusCode::from_u16(code).unwrap(),
        format!(
            "{{\"service\":\"{service}\",\"status\":\"{}\"}}",
            if code == 200 { "ok" } else { "down" }
        ),
    )
}

struct SmokeServer {
    served: devagents::testing::Served,
    status: Arc<Mutex<HashMap<String, u16>>>,
    gate: watch::Sender<bool>,
    hits: tokio::sync::mpsc::UnboundedReceiver<String>,
}

async fn smoke_server(open: bool) -> SmokeServer {
    let (gate_tx, gate_rx) = watch::channel(open);
    let (hits_tx, hits_rx) = tokio::sync::mpsc::unbounded_channel();
    let status = Arc::new(Mutex::new(HashMap::new()));
    let app = axum::Router::new()
        .route("/{service}/health", axum::routing::get(health))
        .with_state(Smoke {
            status: status.clone(),
            gate: gate_rx,
            hits: hits_tx,
        });
    SmokeServer {
        served: devagents::testing::serve(app).await.unwrap(),
        status,
        gate: gate_tx,
        hits: hits_rx,
    }
}

/// Whether `user` may `verb` `resource` (group `group`) in `ns`, asked as the admin.
async fn may(
    client: &Client,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
) -> bool {
    may_on(client, user, verb, group, resource, ns, "").await
}

/// The same for the object `name`.
async fn may_on(
    client: &Client,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
    name: &str,
) -> bool {
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let sar: SubjectAccessReview = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": ["system:serviceaccounts", "system:authenticated"],
                 "resourceAttributes": {"namespace": ns, "verb": verb, "group": group, "resource": resource, "name": name}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &sar)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}

fn data(j: &AgentJob) -> Value {
    j.status
        .as_ref()
        .unwrap()
        .result
        .as_ref()
        .unwrap()
        .data
        .clone()
        .unwrap()
}

/// A deploy held at its first smoke test: api and rpc at v1 in a new namespace, an operator
/// whose `staging` smoke-tests through `smoke` (gate closed), and the job `to-v2` created;
/// returns when api's smoke test is waiting.
struct Held {
    ns: String,
    app_ns: String,
    jobs: Api<AgentJob>,
    smoke: SmokeServer,
    op: Operator,
    _dir: tempfile::TempDir,
}

impl Held {
    /// Remove both namespaces.
    async fn end(self, client: &Client) {
        common::delete_namespace(client, &self.ns).await;
        common::delete_namespace(client, &self.app_ns).await;
    }
}

async fn held_deploy(client: &Client, prefix: &str) -> Held {
    let ns = common::namespace(client, &format!("e2e-deploy{prefix}")).await;
    let app_ns = common::namespace(client, &format!("e2e-shop{prefix}")).await;
    app(client, &app_ns, "api", "v1").await;
    app(client, &app_ns, "rpc", "v1").await;
    let mut smoke = smoke_server(false).await;
    let dir = tempfile::tempdir().unwrap();
    let op = operator(
        &ns,
        dir.path(),
        json!([{
            "name": "staging", "namespace": app_ns, "services": services(),
            "rolloutTimeoutSeconds": 60,
            "smokeTest": {"http": [{"url": format!("{}/{{service}}/health", smoke.served.url()),
                                     "bodyContains": "\"ok\"", "timeoutSeconds": 60, "retries": 1}]},
        }]),
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &deploy_job("to-v2", "staging", "v2", json!({})),
    )
    .await
    .unwrap();
    assert_eq!(smoke.hits.recv().await.as_deref(), Some("api"));
    Held {
        ns,
        app_ns,
        jobs,
        smoke,
        op,
        _dir: dir,
    }
}
