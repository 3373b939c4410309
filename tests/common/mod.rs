//! Helpers for the e2e tests. They run against the real control plane that `just test`
//! starts (e2e/cluster-up.sh); KUBECONFIG points at it.
#![allow(dead_code)]

pub mod trace;

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

/// A client for the e2e control plane. Fails loudly when the suite was not started by
/// `just test` / `e2e/run-tests.sh` (no KUBECONFIG): these tests never skip.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: run the e2e tests through `just test` (e2e/run-tests.sh), which starts the control plane"
    );
    Client::try_default().await.expect("client from KUBECONFIG")
}

/// Wait for `cond` on `name`, failing the test after `secs` seconds.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    secs: u64,
    what: &str,
    cond: impl Condition<K>,
) -> K
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(
        Duration::from_secs(secs),
        await_condition(api.clone(), name, cond),
    )
    .await
    {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => panic!("{name}: deleted while waiting for {what}"),
        Ok(Err(e)) => panic!("{name}: watch failed while waiting for {what}: {e}"),
        Err(_) => {
            let now = api.get_opt(name).await.ok().flatten();
            panic!("{name}: not {what} after {secs}s; last seen: {now:#?}")
        }
    }
}

/// Install the CRDs from `crds/` (server-side apply, idempotent) and wait until Established.
/// Wait until the object with `uid` is gone.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, uid: &str, secs: u64)
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(
        Duration::from_secs(secs),
        await_condition(api.clone(), name, conditions::is_deleted(uid)),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("{name}: watch failed while waiting for deletion: {e}"),
        Err(_) => panic!("{name}: still there after {secs}s"),
    }
}

pub async fn ensure_crds(client: &Client) -> Vec<CustomResourceDefinition> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
    let mut names = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("crds/")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let crd: CustomResourceDefinition = serde_yaml::from_str(&text).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        api.patch(
            &name,
            &PatchParams::apply("devagents-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {}: {e}", path.display()));
        names.push(name);
    }
    let mut out = Vec::new();
    for name in names {
        out.push(
            wait_for(
                &api,
                &name,
                30,
                "Established",
                conditions::is_crd_established(),
            )
            .await,
        );
    }
    out
}

/// A fresh namespace for one test, ready for Pods (its `default` ServiceAccount has a token,
/// which the 1.20 ServiceAccount admission plugin requires).
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!("{prefix}-{}", &uuid_like()[..8]);
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name, "labels": { "devagents.io/e2e": "true" } }
    }))
    .unwrap();
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    wait_for(
        &sas,
        "default",
        60,
        "ready with a token",
        |sa: Option<&ServiceAccount>| {
            sa.and_then(|s| s.secrets.as_ref())
                .is_some_and(|s| !s.is_empty())
        },
    )
    .await;
    name
}

pub async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::background()).await;
}

/// Random lower-case hex, for unique names.
pub fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// The image name the node stand-in runs as local processes.
pub const AGENT_IMAGE: &str = "devagents-agent:e2e";

/// An `agent-operator run` process scoped to one test namespace; killed (SIGKILL) on drop.
pub struct Operator {
    pub child: std::process::Child,
    pub identity: String,
    pub metrics_port: u16,
    /// `https://127.0.0.1:<port>` of its agent API.
    pub api_url: String,
    pub api_port: u16,
}

impl Operator {
    /// Start an operator watching `ns` only (its leader and lock Leases live there too).
    pub fn start(ns: &str, identity: &str, extra: &[&str]) -> Operator {
        Self::start_with_api_port(ns, identity, free_port(), extra)
    }

    /// Replicas and restarts share the agent API port (SO_REUSEPORT), like a Service.
    pub fn start_with_api_port(
        ns: &str,
        identity: &str,
        api_port: u16,
        extra: &[&str],
    ) -> Operator {
        Self::start_on(None, ns, identity, api_port, extra)
    }

    /// With `kubeconfig`: against that cluster as its admin (a test's private control plane).
    pub fn start_on(
        kubeconfig: Option<&str>,
        ns: &str,
        identity: &str,
        api_port: u16,
        extra: &[&str],
    ) -> Operator {
        let port = free_port();
        let api_url = format!("https://127.0.0.1:{api_port}");
        let log_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_dir.join(format!("{ns}-{identity}.log")))
            .unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_agent-operator"));
        // Under `just test` the operator runs with the Helm chart's ServiceAccount token (its
        // RBAC, proven enough), with this namespace as its own namespace (a RoleBinding to the
        // chart's own-namespace role, as the chart makes in its release namespace). Registering
        // webhooks is a development shortcut outside the chart's RBAC: those keep the admin.
        if let Some(kc) = kubeconfig {
            cmd.env("KUBECONFIG", kc);
        } else if let (Ok(kc), Ok(role)) = (
            std::env::var("DEVAGENTS_OPERATOR_KUBECONFIG"),
            std::env::var("DEVAGENTS_OPERATOR_NAMESPACE_ROLE"),
        ) && !extra.contains(&"--register-webhooks")
        {
            bind_operator(ns, "devagents-operator-own-namespace", &role);
            // The deploy rights, as the chart binds them: in each environment's namespace.
            if let Some(file) = extra
                .iter()
                .position(|a| *a == "--environments")
                .and_then(|i| extra.get(i + 1))
            {
                let envs = devagents::api::environment::Environments::parse(
                    &std::fs::read_to_string(file).unwrap(),
                )
                .unwrap();
                let deploy_role = role.replace("-own-namespace", "-deploy");
                for name in envs.names() {
                    let env = envs.get(&name).unwrap();
                    bind_operator(&env.namespace, "devagents-operator-deploy", &deploy_role);
                }
            }
            cmd.env("KUBECONFIG", kc);
        }
        let child = cmd
            .args([
                "run",
                "--namespace",
                ns,
                "--watch-namespace",
                ns,
                "--agent-image",
                AGENT_IMAGE,
            ])
            .args([
                "--identity",
                identity,
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
            ])
            .args([
                "--agent-api-addr",
                &format!("127.0.0.1:{api_port}"),
                "--agent-api-url",
                &api_url,
            ])
            .args(extra)
            .env("RUST_LOG", "info,kube=warn,devagents=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start agent-operator");
        Operator {
            child,
            identity: identity.to_string(),
            metrics_port: port,
            api_url,
            api_port,
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// GET /metrics.
    pub async fn metrics(&self) -> String {
        let out = tokio::process::Command::new("curl")
            .args([
                "-fsS",
                &format!("http://127.0.0.1:{}/metrics", self.metrics_port),
            ])
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A RoleBinding `name` in `ns` of ClusterRole `role` to the chart's operator ServiceAccount.
fn bind_operator(ns: &str, name: &str, role: &str) {
    let out = std::process::Command::new(k8s_bin().join("kubectl"))
        .args(["-n", ns, "create", "rolebinding", name])
        .args(["--clusterrole", role])
        .args(["--serviceaccount", "devagents-system:devagents-operator"])
        .output()
        .expect("kubectl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("already exists"),
        "rolebinding: {err}"
    );
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A probe AgentJob.
pub fn probe_job(
    name: &str,
    priority: i32,
    probe: serde_json::Value,
    extra_spec: serde_json::Value,
) -> devagents::api::AgentJob {
    let mut spec = serde_json::json!({ "agent": "probe", "priority": priority, "probe": probe });
    if let (Some(s), serde_json::Value::Object(extra)) = (spec.as_object_mut(), extra_spec) {
        s.extend(extra);
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
        "metadata": { "name": name }, "spec": spec,
    }))
    .unwrap()
}

pub fn phase(j: &devagents::api::AgentJob) -> Option<devagents::api::Phase> {
    j.status.as_ref().and_then(|s| s.phase)
}

pub fn is_terminal(j: Option<&devagents::api::AgentJob>) -> bool {
    j.and_then(phase).is_some_and(|p| p.is_terminal())
}

/// A kubeconfig for one of the cluster's test users (alice, bob, carol, dave; see
/// e2e/cluster-up.sh), written next to the admin one.
pub fn user_kubeconfig(user: &str) -> std::path::PathBuf {
    let admin = std::path::PathBuf::from(std::env::var("KUBECONFIG").expect("KUBECONFIG"));
    let dir = admin.parent().unwrap().to_path_buf();
    let tokens =
        std::fs::read_to_string(dir.join("tokens.csv")).expect("tokens.csv beside the kubeconfig");
    let token = tokens
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.get(1) == Some(&user)).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| panic!("no token for {user}"));
    let mut kc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&admin).unwrap()).unwrap();
    kc["users"][0]["user"]["token"] = serde_yaml::Value::String(token);
    let path = dir.join(format!("kubeconfig-{user}"));
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    path
}

pub async fn user_client(user: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(user_kubeconfig(user)).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

/// Wait until the job waits for an approval; returns the AgentApproval's name.
pub async fn waiting_approval(jobs: &Api<devagents::api::AgentJob>, name: &str) -> String {
    let j = wait_for(
        jobs,
        name,
        60,
        "waiting for approval",
        |j: Option<&devagents::api::AgentJob>| {
            j.and_then(|j| j.status.as_ref())
                .is_some_and(|s| s.phase == Some(devagents::api::Phase::WaitingForApproval))
        },
    )
    .await;
    let ns = j.metadata.namespace.clone().unwrap_or_default();
    let w = j.status.unwrap().waiting_for.unwrap();
    let approval = w
        .strip_prefix("approval:")
        .expect("waitingFor approval:<name>")
        .to_string();
    // The scheduler may say so a moment before the job's reconcile has issued the approval.
    let client: Client = jobs.clone().into();
    let approvals: Api<devagents::api::AgentApproval> = Api::namespaced(client, &ns);
    wait_for(
        &approvals,
        &approval,
        60,
        "issued",
        |a: Option<&devagents::api::AgentApproval>| a.is_some(),
    )
    .await;
    approval
}

/// The Secret `name` with key `token`, as a job's `repository.credentialsSecret`.
pub async fn token_secret(client: &Client, ns: &str, name: &str, token: &str) {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(
                serde_json::json!({"metadata": {"name": name}, "stringData": {"token": token}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
}

/// The cached control-plane binaries (kubectl among them).
pub fn k8s_bin() -> std::path::PathBuf {
    std::env::var_os("K8S_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap())
                .join(".cache/devagents/k8s-1.20.2/bin")
        })
}

/// Run a program: (success, stdout + stderr).
pub fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The real kubectl against $KUBECONFIG.
pub fn kubectl(args: &[&str]) -> (bool, String) {
    run(k8s_bin().join("kubectl"), args)
}

/// The agent API's CA certificate, once the operator has published it.
pub async fn api_ca(client: &kube::Client, ns: &str) -> String {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = wait_for(
        &cms,
        devagents::agentapi::CA_CONFIGMAP,
        60,
        "published",
        |c: Option<&k8s_openapi::api::core::v1::ConfigMap>| c.is_some(),
    )
    .await;
    cm.data.unwrap()["ca.crt"].clone()
}

/// POST `body` as JSON to `url` with the bearer `token`: (status, body text).
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> (u16, String) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// An HTTPS client trusting only the agent API's CA.
pub fn http(ca: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

/// A token of ServiceAccount `sa` for `audience` (what an agent Pod, or anyone allowed to
/// mint one, holds).
pub async fn token(client: &kube::Client, ns: &str, sa: &str, audience: &str) -> String {
    token_bound(client, ns, sa, audience, None).await
}

/// A token of `sa` bound to the Pod `pod` (name, UID), as a kubelet mints one for a Pod.
pub async fn pod_token(
    client: &kube::Client,
    ns: &str,
    sa: &str,
    audience: &str,
    pod: (&str, &str),
) -> String {
    let bound = k8s_openapi::api::authentication::v1::BoundObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(pod.0.into()),
        uid: Some(pod.1.into()),
    };
    token_bound(client, ns, sa, audience, Some(bound)).await
}

async fn token_bound(
    client: &kube::Client,
    ns: &str,
    sa: &str,
    audience: &str,
    bound_object_ref: Option<k8s_openapi::api::authentication::v1::BoundObjectReference>,
) -> String {
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), ns);
    let req = k8s_openapi::api::authentication::v1::TokenRequest {
        spec: k8s_openapi::api::authentication::v1::TokenRequestSpec {
            audiences: vec![audience.into()],
            expiration_seconds: Some(600),
            bound_object_ref,
        },
        ..Default::default()
    };
    sas.create_token_request(sa, &kube::api::PostParams::default(), &req)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
}

/// Create a probe job that sleeps for minutes and wait until it runs (its agent token is
/// then valid: what attacks on the agent API need).
pub async fn running_probe(
    jobs: &Api<devagents::api::AgentJob>,
    name: &str,
) -> devagents::api::AgentJob {
    jobs.create(
        &kube::api::PostParams::default(),
        &probe_job(
            name,
            1,
            serde_json::json!({"sleepMs": 300000}),
            serde_json::json!({}),
        ),
    )
    .await
    .unwrap();
    wait_for(
        jobs,
        name,
        60,
        "Running",
        |j: Option<&devagents::api::AgentJob>| {
            j.and_then(phase) == Some(devagents::api::Phase::Running)
        },
    )
    .await
}

/// Wait until the admission webhooks an operator registered for `ns` (`--register-webhooks`)
/// answer: a server-side dry run of an AgentJob claiming another requester comes back
/// stamped with the real one (or refused), not as sent.
pub async fn webhooks_live(client: &Client, ns: &str) {
    let jobs: Api<devagents::api::AgentJob> = Api::namespaced(client.clone(), ns);
    let probe = probe_job(
        "webhook-probe",
        1,
        serde_json::json!({}),
        serde_json::json!({"requestedBy": {"username": "webhook-probe"}}),
    );
    let dry = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match jobs.create(&dry, &probe).await {
            Ok(j)
                if j.spec
                    .requested_by
                    .as_ref()
                    .is_some_and(|r| r.username != "webhook-probe") =>
            {
                return;
            }
            Err(kube::Error::Api(s)) if s.message.contains("requestedBy") => return,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhooks of {ns} did not answer within 60s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client of the test cluster that authenticates with `token` (a minted ServiceAccount
/// token: what anyone allowed to mint one holds).
pub async fn token_client(token: &str) -> Client {
    let mut kc: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(std::env::var("KUBECONFIG").expect("KUBECONFIG")).unwrap(),
    )
    .unwrap();
    kc["users"][0]["user"]["token"] = token.into();
    let cfg = kube::Config::from_custom_kubeconfig(
        serde_yaml::from_value(kc).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    Client::try_from(cfg).unwrap()
}

/// Cancel job `name` (`spec.cancel: true`): the end of a test that left it running.
pub async fn cancel(jobs: &Api<devagents::api::AgentJob>, name: &str) {
    jobs.patch(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"cancel": true}})),
    )
    .await
    .unwrap();
}

/// Wait until `identity` holds the operators' leader Lease in `ns`.
pub async fn wait_leader(client: &Client, ns: &str, identity: &str) {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), ns);
    wait_for(
        &leases,
        "devagents-operator-leader",
        60,
        "held",
        |l: Option<&k8s_openapi::api::coordination::v1::Lease>| {
            l.and_then(|l| l.spec.as_ref())
                .and_then(|s| s.holder_identity.as_deref())
                == Some(identity)
        },
    )
    .await;
}
