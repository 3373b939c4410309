//! The deployer end to end on the real control plane: real Deployments rolled out by the real
//! kube-controller-manager (the node stand-in marks application Pods Ready, keeps `:broken*`
//! tags in ImagePullBackOff, and runs build/smoke Pods to completion), through the operator
//! and an agent Pod that talks to the apiserver with its job's ServiceAccount token.
//! Smoke-test endpoints are local HTTP servers; Slack is a TEST DOUBLE.

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

/// Security (issue 14, point 3): a token minted for the deployer's ServiceAccount while the
/// deploy runs (plain `edit` in the job's namespace may mint one) can change nothing in the
/// environment: the identity only reads there, and the operator, which writes on the
/// deployer's request, derives every target and image from the job and its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_the_deployers_identity_can_change_nothing_in_the_environment() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    // api is rolled out to v2 and its smoke test waits: now someone wears the job's identity.
    let held = held_deploy(&client, "-token").await;
    let (ns, app_ns) = (held.ns.clone(), held.app_ns.clone());
    let sa = devagents::controller::pod::service_account_name("to-v2");
    let token = common::token(&client, &ns, &sa, "https://kubernetes.default.svc").await;
    let intruder = common::token_client(&token).await;
    let deployments: Api<Deployment> = Api::namespaced(intruder.clone(), &app_ns);
    let evil = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "api", "image": "evil.example/api:latest"}]}}}});
    let e = deployments
        .patch("api", &PatchParams::default(), &Patch::Strategic(evil))
        .await
        .expect_err("the job's identity may not patch a Deployment");
    assert!(matches!(&e, kube::Error::Api(s) if s.code == 403), "{e:?}");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(intruder, &app_ns);
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "to-v2-smoke-api"},
        "spec": {"containers": [{"name": "x", "image": "evil.example/x"}]}}))
    .unwrap();
    let e = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect_err("the job's identity may not start a Pod");
    assert!(matches!(&e, kube::Error::Api(s) if s.code == 403), "{e:?}");

    // Through the operator: only what the job itself does.
    let agent_token = common::token(&client, &ns, &sa, "devagents.io").await;
    let http = common::http(&common::api_ca(&client, &ns).await);
    let url = format!("{}/v1/jobs/{ns}/to-v2/deploy", held.op.api_url);
    let ask = |body: Value| {
        let (http, url, t) = (http.clone(), url.clone(), agent_token.clone());
        async move { common::post_json(&http, &url, &t, &body).await }
    };
    let (code, body) =
        ask(json!({"op": "setImage", "service": "api", "image": "evil.example/api:latest"})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("unknown field `image`"), "{body}");
    let (code, body) = ask(json!({"op": "setImage", "service": "web"})).await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("web") && body.contains("is not one job"),
        "{body}"
    );
    let (code, body) = ask(json!({"op": "restore", "service": "rpc"})).await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("nothing to put back"), "{body}");
    let (code, body) = ask(json!({"op": "startPod", "kind": "smoke", "service": "api"})).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("has no smoke-test Pod"), "{body}");
    let (code, body) =
        ask(json!({"op": "startPod", "kind": "build", "service": "api", "gitSha": "a".repeat(40)}))
            .await;
    assert_eq!(code, 403, "{body}");
    // What the job does anyway: api at v2.
    let (code, body) = ask(json!({"op": "setImage", "service": "api"})).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&format!("{REGISTRY}/api:v2")), "{body}");

    held.smoke.gate.send(true).unwrap();
    let j = common::wait_for(&held.jobs, "to-v2", 120, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{:?}", st.message);
    let admin: Api<Deployment> = Api::namespaced(client.clone(), &app_ns);
    for svc in ["api", "rpc"] {
        let d = admin.get(svc).await.unwrap();
        let image = d.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        assert_eq!(image, format!("{REGISTRY}/{svc}:v2"));
    }
    held.end(&client).await;
}

/// A rollout changed by someone else while the deploy runs (anyone with rights in the
/// environment's namespace) is not reported as success: the operator compares the live
/// images with the ones the job was to roll out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_changed_by_someone_else_during_the_deploy_does_not_end_succeeded() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    // api is rolled out to v2 and its smoke test waits: now someone else sets another image.
    let held = held_deploy(&client, "-tamper").await;
    let intruder: Api<Deployment> = Api::namespaced(client.clone(), &held.app_ns);
    intruder
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "api", "image": "evil.example/api:latest"}]}}}})),
        )
        .await
        .unwrap();
    held.smoke.gate.send(true).unwrap();

    let j = common::wait_for(&held.jobs, "to-v2", 120, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(
        (st.phase, st.reason.as_deref()),
        (Some(Phase::Failed), Some("LiveImageMismatch")),
        "{:?}",
        st.message
    );
    let msg = st.message.unwrap_or_default();
    assert!(
        msg.contains(&format!(
            "api runs evil.example/api:latest, not {REGISTRY}/api:v2"
        )),
        "{msg}"
    );
    held.end(&client).await;
}

/// Acceptance 1, 2 and 5: v1 → v2 on two services; the job's identity may read Deployments in
/// the environment's namespace during the job (the operator writes them) and nothing
/// elsewhere, nothing afterwards; a
/// broken v3 stalls, ProgressDeadlineExceeded rolls it back, the job ends RolledBack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_roll_out_and_a_broken_version_rolls_back() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    // The smoke test holds the v2 deploy until the permission checks below are done.
    // During the job (its smoke test of api is waiting on us):
    let Held {
        ns,
        app_ns,
        jobs,
        smoke,
        op,
        _dir,
    } = held_deploy(&client, "").await;
    let user = format!(
        "system:serviceaccount:{ns}:{}",
        devagents::controller::pod::service_account_name("to-v2")
    );
    // The identity reads; the operator writes (on the deployer's request).
    for d in ["api", "rpc"] {
        assert!(!may_on(&client, &user, "patch", "apps", "deployments", &app_ns, d).await);
    }
    assert!(may(&client, &user, "get", "apps", "deployments", &app_ns).await);
    for (verb, group, resource, in_ns) in [
        ("patch", "apps", "deployments", ns.as_str()),
        ("patch", "apps", "deployments", "default"),
        ("patch", "apps", "deployments", app_ns.as_str()),
        ("update", "apps", "deployments", app_ns.as_str()),
        ("list", "apps", "replicasets", app_ns.as_str()),
        ("delete", "apps", "deployments", app_ns.as_str()),
        ("create", "apps", "deployments", app_ns.as_str()),
        ("get", "", "secrets", app_ns.as_str()),
        ("create", "", "pods", app_ns.as_str()),
        ("patch", "apps", "daemonsets", app_ns.as_str()),
        ("update", "devagents.io", "agentjobs", ns.as_str()),
    ] {
        assert!(
            !may(&client, &user, verb, group, resource, in_ns).await,
            "{verb} {resource} in {in_ns} must be denied"
        );
    }
    // The Role is bound now, in the environment's namespace.
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &app_ns);
    let binding = bindings
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|b| b.name_any().starts_with("devagents-deploy-to-v2-"))
        .expect("the job's RoleBinding exists during the job");
    smoke.gate.send(true).unwrap();

    let j = common::wait_for(&jobs, "to-v2", 120, "finished", is_terminal).await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    let d = data(&j);
    for (i, svc) in ["api", "rpc"].iter().enumerate() {
        let s = &d["services"][i];
        assert_eq!(s["name"], *svc);
        assert_eq!(s["fromImage"], format!("{REGISTRY}/{svc}:v1"));
        assert_eq!(s["toImage"], format!("{REGISTRY}/{svc}:v2"));
        assert_eq!(
            (s["fromRevision"].as_i64(), s["toRevision"].as_i64()),
            (Some(1), Some(2))
        );
        assert_eq!(s["state"], "RolledOut");
        assert_eq!(
            history(&client, &app_ns, svc).await,
            vec![
                (1, format!("{REGISTRY}/{svc}:v1")),
                (2, format!("{REGISTRY}/{svc}:v2"))
            ]
        );
    }
    assert_eq!(d["smokeTests"].as_array().unwrap().len(), 2);
    let patches: Vec<&str> = st
        .actions
        .iter()
        .filter(|a| a.type_ == "deploy_patch")
        .map(|a| a.target.as_str())
        .collect();
    assert_eq!(
        patches,
        vec![
            format!("deployment/{app_ns}/api#api"),
            format!("deployment/{app_ns}/rpc#rpc")
        ]
    );

    // Afterwards: the binding is gone and the identity can do nothing.
    common::wait_gone(&bindings, &binding.name_any(), &binding.uid().unwrap(), 30).await;
    assert!(!may(&client, &user, "get", "apps", "deployments", &app_ns).await);

    // A broken v3: api stalls, its progress deadline passes, the deployer rolls it back.
    let j = run_to_end(
        &jobs,
        &deploy_job("to-v3", "staging", "broken-v3", json!({})),
    )
    .await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::RolledBack), "{st:#?}");
    assert_eq!(st.reason.as_deref(), Some("RolledBack"));
    let msg = st.message.clone().unwrap();
    assert!(
        msg.contains("api: deployment \"api\" exceeded its progress deadline"),
        "{msg}"
    );
    let d = data(&j);
    assert_eq!(d["outcome"], "RolledBack");
    assert_eq!(d["services"][0]["state"], "RolledBack");
    assert_eq!(
        d["services"][1]["state"], "Pending",
        "rpc was never touched"
    );
    let api_now = rolled_out(&client, &app_ns, "api").await;
    assert_eq!(image_of(&api_now), format!("{REGISTRY}/api:v2"));
    let dep = devagents::agents::deployer::rollout::status(&api_now);
    assert!(matches!(dep, Rollout::Done(_)), "{dep:?}");
    assert_eq!(api_now.status.unwrap().available_replicas, Some(2));
    // kubectl rollout undo semantics: v2's ReplicaSet is current again, with a new revision.
    let h = history(&client, &app_ns, "api").await;
    assert_eq!(
        h.last().unwrap(),
        &(4, format!("{REGISTRY}/api:v2")),
        "{h:?}"
    );
    assert!(
        st.actions
            .iter()
            .any(|a| a.type_ == "rollback" && a.target == format!("deployment/{app_ns}/api#api"))
    );
    // Metrics: deploys by environment and outcome, rollout durations.
    let m = op.metrics().await;
    for line in [
        "devagents_deploys_total{environment=\"staging\",outcome=\"Succeeded\"} 1",
        "devagents_deploys_total{environment=\"staging\",outcome=\"RolledBack\"} 1",
        "devagents_deploy_rollout_seconds_count{environment=\"staging\"} 2",
    ] {
        assert!(m.contains(line), "{line} not in:\n{m}");
    }
    common::delete_namespace(&client, &ns).await;
    common::delete_namespace(&client, &app_ns).await;
}

/// Acceptance 3: a failing HTTP smoke test of service 2 of 2 rolls back both services; Slack
/// (test double) hears about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_smoke_test_of_the_second_service_rolls_back_both() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-deploy").await;
    let app_ns = common::namespace(&client, "e2e-shop").await;
    app(&client, &app_ns, "api", "v1").await;
    app(&client, &app_ns, "rpc", "v1").await;
    let smoke = smoke_server(true).await;
    smoke.status.lock().unwrap().insert("rpc".into(), 500);
    let slack = SlackDouble::start().await.unwrap();
    let notion = NotionDouble::start("secret_notione2edeployer0123456789")
        .await
        .unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "slack"}, "stringData": {"webhook-url": slack.webhook_url()}})).unwrap(),
        )
        .await
        .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "notion"}, "stringData": {"token": "secret_notione2edeployer0123456789"}})).unwrap(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _op = operator(
        &ns,
        dir.path(),
        json!([{
            "name": "staging", "namespace": app_ns, "services": services(),
            "smokeTest": {"http": [{"url": format!("{}/{{service}}/health", smoke.served.url()),
                                     "retries": 2, "intervalSeconds": 0}]},
            "notifications": {"slackSecret": "slack",
                              "notion": {"secret": "notion", "databaseId": "deploys", "apiUrl": notion.url}},
        }]),
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let j = run_to_end(&jobs, &deploy_job("to-v2", "staging", "v2", json!({}))).await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::RolledBack), "{st:#?}");
    let msg = st.message.clone().unwrap();
    assert!(msg.contains("rpc: smoke test failed: GET "), "{msg}");
    assert!(msg.contains("answered 500, expected 200"), "{msg}");
    let d = data(&j);
    assert_eq!(d["services"][0]["state"], "RolledBack");
    assert_eq!(d["services"][1]["state"], "RolledBack");
    for svc in ["api", "rpc"] {
        let now = rolled_out(&client, &app_ns, svc).await;
        assert_eq!(
            image_of(&now),
            format!("{REGISTRY}/{svc}:v1"),
            "{svc} is back on v1"
        );
    }
    // rpc rolled back before api (last changed, first restored).
    let rollbacks: Vec<&str> = st
        .actions
        .iter()
        .filter(|a| a.type_ == "rollback")
        .map(|a| a.target.as_str())
        .collect();
    assert_eq!(
        rollbacks,
        vec![
            format!("deployment/{app_ns}/rpc#rpc"),
            format!("deployment/{app_ns}/api#api")
        ]
    );
    let posted = slack.with(|s| s.messages.clone());
    assert_eq!(posted.len(), 1, "{posted:?}");
    let text = posted[0]["text"].as_str().unwrap();
    assert!(text.contains("rolled back v2 to staging"), "{text}");
    assert_eq!(d["notifications"][0], "slack: sent");
    let pages = notion.with(|s| s.pages.clone());
    assert_eq!(pages.len(), 1, "{pages:?}");
    let row = pages[0].1.to_string();
    assert!(row.contains("\"database_id\":\"deploys\""), "{row}");
    assert!(
        row.contains("RolledBack") && row.contains("rolled back v2 to staging"),
        "{row}"
    );
    assert!(
        !serde_json::to_string(&j)
            .unwrap()
            .contains("secret_notione2e")
    );
    common::delete_namespace(&client, &ns).await;
    common::delete_namespace(&client, &app_ns).await;
}

/// Acceptance 4: two deploys of one environment never overlap; production waits for an
/// approval pinned to its images, and another version voids it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_never_overlap_and_production_waits_for_an_approval_of_its_images() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-deploy").await;
    let app_ns = common::namespace(&client, "e2e-shop").await;
    let prod_ns = common::namespace(&client, "e2e-prod").await;
    app(&client, &app_ns, "api", "v1").await;
    app(&client, &prod_ns, "api", "v1").await;
    let mut smoke = smoke_server(false).await;
    let dir = tempfile::tempdir().unwrap();
    let _op = operator(
        &ns,
        dir.path(),
        json!([
            {"name": "staging", "namespace": app_ns, "services": [services()[0].clone()],
             "smokeTest": {"http": [{"url": format!("{}/{{service}}/health", smoke.served.url()), "timeoutSeconds": 60, "retries": 1}]}},
            {"name": "production", "namespace": prod_ns, "services": [services()[0].clone()], "approvers": ["alice"]},
        ]),
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &deploy_job("first", "staging", "v2", json!({})),
    )
    .await
    .unwrap();
    // The first deploy is in its smoke test (holding the environment's lock) ...
    assert_eq!(smoke.hits.recv().await.as_deref(), Some("api"));
    jobs.create(
        &PostParams::default(),
        &deploy_job("second", "staging", "v3", json!({})),
    )
    .await
    .unwrap();
    // ... so the second waits for the lock, and says so.
    let waiting = common::wait_for(
        &jobs,
        "second",
        60,
        "waiting for the lock",
        |j: Option<&AgentJob>| {
            j.and_then(|j| j.status.as_ref())
                .and_then(|s| s.waiting_for.as_deref())
                .is_some_and(|w| w.contains("deploy/"))
        },
    )
    .await;
    let w = waiting.status.clone().unwrap().waiting_for.unwrap();
    assert!(w.contains(&format!("deploy/{app_ns}/staging")), "{w}");
    assert!(
        waiting
            .status
            .as_ref()
            .is_none_or(|s| s.attempts.is_empty())
    );
    smoke.gate.send(true).unwrap();
    let first = common::wait_for(&jobs, "first", 120, "finished", is_terminal).await;
    let second = common::wait_for(&jobs, "second", 120, "finished", is_terminal).await;
    assert_eq!(common::phase(&first), Some(Phase::Succeeded));
    assert_eq!(common::phase(&second), Some(Phase::Succeeded));
    let first_done = first.status.unwrap().completed_at.unwrap().0;
    let second_start = second.status.clone().unwrap().attempts[0]
        .created_at
        .clone()
        .unwrap()
        .0;
    assert!(second_start >= first_done, "{second_start} < {first_done}");
    assert_eq!(
        image_of(&rolled_out(&client, &app_ns, "api").await),
        format!("{REGISTRY}/api:v3")
    );

    // Production: an approval pinned to the exact image.
    jobs.create(
        &PostParams::default(),
        &deploy_job("prod", "production", "v2", json!({})),
    )
    .await
    .unwrap();
    let a1 = common::waiting_approval(&jobs, "prod").await;
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    let a = common::wait_for(
        &approvals,
        &a1,
        60,
        "created",
        |a: Option<&AgentApproval>| a.is_some(),
    )
    .await;
    assert_eq!(a.spec.action, "deploy");
    assert!(
        a.spec
            .pins
            .iter()
            .any(|p| p.name == "imageApi" && p.value == format!("{REGISTRY}/api:v2")),
        "{:?}",
        a.spec.pins
    );
    assert_eq!(a.spec.approvers, vec!["alice".to_string()]);
    // Nothing happened in production yet.
    assert_eq!(
        image_of(&rolled_out(&client, &prod_ns, "api").await),
        format!("{REGISTRY}/api:v1")
    );
    // Changing the requested version voids that approval and asks for a new one.
    jobs.patch(
        "prod",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"deployer": {"version": "v3"}}})),
    )
    .await
    .unwrap();
    common::wait_for(
        &approvals,
        &a1,
        60,
        "voided",
        |a: Option<&AgentApproval>| {
            a.and_then(|a| a.status.as_ref()).and_then(|s| s.phase) == Some(ApprovalPhase::Voided)
        },
    )
    .await;
    let a2 = common::wait_for(
        &jobs,
        "prod",
        60,
        "waiting for a new approval",
        |j: Option<&AgentJob>| {
            j.and_then(|j| j.status.as_ref())
                .and_then(|s| s.waiting_for.as_deref())
                .is_some_and(|w| w.starts_with("approval:") && !w.ends_with(&a1))
        },
    )
    .await
    .status
    .unwrap()
    .waiting_for
    .unwrap()
    .trim_start_matches("approval:")
    .to_string();
    let a = common::wait_for(
        &approvals,
        &a2,
        60,
        "created",
        |a: Option<&AgentApproval>| a.is_some(),
    )
    .await;
    assert!(
        a.spec
            .pins
            .iter()
            .any(|p| p.value == format!("{REGISTRY}/api:v3"))
    );
    approvals
        .patch(
            &a2,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"decisions": [{"user": "alice", "decision": "Approve"}]}}),
            ),
        )
        .await
        .unwrap();
    let j = common::wait_for(&jobs, "prod", 120, "finished", is_terminal).await;
    assert_eq!(common::phase(&j), Some(Phase::Succeeded), "{:#?}", j.status);
    assert_eq!(
        image_of(&rolled_out(&client, &prod_ns, "api").await),
        format!("{REGISTRY}/api:v3")
    );
    for n in [&ns, &app_ns, &prod_ns] {
        common::delete_namespace(&client, n).await;
    }
}

/// Acceptance 6 and the image build: GitOps mode commits the tag to a real bare repository;
/// with a test that plays Argo CD's sync the job completes, without it the job times out.
/// A build Pod runs before a rollout; a failing build stops the job before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_commits_the_tag_and_waits_for_the_sync_and_builds_come_first() {
    const TOKEN: &str = "ghp_e2edeployertoken0123456789abcdef";
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-deploy").await;
    let app_ns = common::namespace(&client, "e2e-shop").await;
    app(&client, &app_ns, "api", "v1").await;
    let root = tempfile::tempdir().unwrap();
    let kustomization =
        format!("resources:\n- deployment.yaml\nimages:\n- name: {REGISTRY}/api\n  newTag: v1\n");
    let manifests = bare_repo_with(
        root.path(),
        "acme/manifests",
        "main",
        &[
            ("envs/staging/kustomization.yaml", kustomization.as_str()),
            ("envs/qa/kustomization.yaml", kustomization.as_str()),
        ],
    )
    .unwrap();
    let source = bare_repo_with(
        root.path(),
        "acme/shop",
        "main",
        &[("Dockerfile", "FROM scratch\n")],
    )
    .unwrap();
    git(&source, &["tag", "v2", "main"]).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    common::token_secret(&client, &ns, "git", TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let gitops = |env: &str, timeout: u64| {
        json!({"repository": server.url("acme/manifests"), "credentialsSecret": "git",
               "file": format!("envs/{env}/kustomization.yaml"), "syncTimeoutSeconds": timeout})
    };
    let _op = operator(
        &ns,
        dir.path(),
        json!([
            {"name": "staging", "namespace": app_ns, "services": [services()[0].clone()], "gitops": gitops("staging", 120)},
            {"name": "qa", "namespace": app_ns, "services": [services()[0].clone()], "gitops": gitops("qa", 3)},
            {"name": "build", "namespace": app_ns, "services": [services()[0].clone()]},
            {"name": "build-broken", "namespace": app_ns, "services": [services()[0].clone()],
             "build": {"builderImage": "gcr.io/kaniko-project/executor:broken"}},
            {"name": "smoke-ok", "namespace": app_ns, "services": [services()[0].clone()],
             "smokeTest": {"pod": {"image": "registry.local/devagents-smoke:ok", "args": ["--service={service}", "--version={version}"]}}},
            {"name": "smoke-bad", "namespace": app_ns, "services": [services()[0].clone()],
             "smokeTest": {"pod": {"image": "registry.local/devagents-smoke:broken"}}},
        ]),
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &deploy_job("gitops", "staging", "v2", json!({"mode": "gitops"})),
    )
    .await
    .unwrap();
    // Play Argo CD: once the job has committed, apply what the repository now says.
    let committed = common::wait_for(&jobs, "gitops", 120, "committed", |j: Option<&AgentJob>| {
        j.and_then(|j| j.status.as_ref())
            .is_some_and(|s| s.actions.iter().any(|a| a.type_ == "git_commit"))
    })
    .await;
    let sha = committed
        .status
        .unwrap()
        .actions
        .iter()
        .find(|a| a.type_ == "git_commit")
        .unwrap()
        .digest
        .clone()
        .unwrap();
    assert_eq!(git(&manifests, &["rev-parse", "main"]).unwrap(), sha);
    let text = git(
        &manifests,
        &["show", "main:envs/staging/kustomization.yaml"],
    )
    .unwrap();
    let k: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let tag = k["images"][0]["newTag"].as_str().unwrap().to_string();
    assert_eq!(tag, "v2");
    assert_eq!(
        git(&manifests, &["log", "-1", "--format=%an", "main"]).unwrap(),
        "devagents deployer"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &app_ns);
    deployments
        .patch("api", &PatchParams::apply("argocd-test-sync").force(), &Patch::Apply(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": format!("{REGISTRY}/api:{tag}")}]}}}
        })))
        .await
        .unwrap();
    let j = common::wait_for(&jobs, "gitops", 120, "finished", is_terminal).await;
    assert_eq!(common::phase(&j), Some(Phase::Succeeded), "{:#?}", j.status);
    assert_eq!(data(&j)["services"][0]["state"], "Synced");
    assert!(
        j.status
            .unwrap()
            .actions
            .iter()
            .all(|a| a.type_ != "deploy_patch"),
        "GitOps mode never patches"
    );

    // Without a sync: a clear timeout.
    let j = run_to_end(
        &jobs,
        &deploy_job("no-sync", "qa", "v3", json!({"mode": "gitops"})),
    )
    .await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    let msg = st.message.unwrap();
    assert!(
        msg.contains("did not match the manifests within 3s"),
        "{msg}"
    );
    assert!(
        git(&manifests, &["show", "main:envs/qa/kustomization.yaml"])
            .unwrap()
            .contains("newTag: v3")
    );

    // A build before the rollout: a build Pod tagging version, git SHA and latest.
    let repo =
        json!({"url": server.url("acme/shop"), "baseBranch": "main", "credentialsSecret": "git"});
    let mut job = deploy_job("built", "build", "v2", json!({"build": {"enabled": true}}));
    job.spec.repository = Some(serde_json::from_value(repo.clone()).unwrap());
    let j = run_to_end(&jobs, &job).await;
    assert_eq!(common::phase(&j), Some(Phase::Succeeded), "{:#?}", j.status);
    let b = &data(&j)["builds"][0];
    let tag_sha = git(&source, &["rev-parse", "v2^{commit}"]).unwrap();
    assert_eq!(b["gitSha"], tag_sha.as_str());
    assert_eq!(
        b["tags"],
        json!([
            format!("{REGISTRY}/api:v2"),
            format!("{REGISTRY}/api:{}", &tag_sha[..12]),
            format!("{REGISTRY}/api:latest")
        ])
    );
    // A failing build stops the job before anything is touched.
    let before = deployments.get("api").await.unwrap();
    let mut job = deploy_job(
        "build-fails",
        "build-broken",
        "v3",
        json!({"build": {"enabled": true, "gitRef": "v2"}}),
    );
    job.spec.repository = Some(serde_json::from_value(repo).unwrap());
    let j = run_to_end(&jobs, &job).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    let msg = st.message.unwrap();
    assert!(
        msg.contains("the image build of api failed, nothing was deployed"),
        "{msg}"
    );
    let after = deployments.get("api").await.unwrap();
    assert_eq!(after.metadata.generation, before.metadata.generation);
    assert!(st.actions.iter().all(|a| a.type_ != "deploy_patch"));

    // A smoke-test Pod run to completion: passing, then failing (which rolls back).
    let j = run_to_end(&jobs, &deploy_job("smoke-ok", "smoke-ok", "v6", json!({}))).await;
    assert_eq!(common::phase(&j), Some(Phase::Succeeded), "{:#?}", j.status);
    let t = &data(&j)["smokeTests"][0];
    assert_eq!(
        (t["passed"].as_bool(), t["check"].as_str()),
        (Some(true), Some("pod smoke-ok-smoke-api"))
    );
    let j = run_to_end(
        &jobs,
        &deploy_job("smoke-bad", "smoke-bad", "v7", json!({})),
    )
    .await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::RolledBack), "{st:#?}");
    let msg = st.message.unwrap();
    assert!(
        msg.contains("api: smoke test failed: pod smoke-bad-smoke-api exited with code 1"),
        "{msg}"
    );
    let now = deployments.get("api").await.unwrap();
    assert_eq!(
        now.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some(format!("{REGISTRY}/api:v6").as_str())
    );

    // An environment the operator does not know: a clear failure before anything runs.
    let j = run_to_end(&jobs, &deploy_job("nowhere", "prod-eu", "v1", json!({}))).await;
    let st = j.status.unwrap();
    assert_eq!(
        (st.phase, st.reason.as_deref()),
        (Some(Phase::Failed), Some("InvalidSpec"))
    );
    assert_eq!(
        st.message.as_deref(),
        Some(
            "spec.deployer.environment: \"prod-eu\" is not configured (configured: build, build-broken, qa, smoke-bad, smoke-ok, staging)"
        )
    );
    assert!(st.attempts.is_empty());
    common::delete_namespace(&client, &ns).await;
    common::delete_namespace(&client, &app_ns).await;
}
