//! The Helm chart through real Helm v4 code (PyPI helm-python-sdk, e2e/helm.py): lint and
//! render with default and full values, the render accepted by the real apiserver, install,
//! upgrade and uninstall, and the operator's ServiceAccount denied what the chart does not
//! grant. (That the chart's RBAC is enough is proven by the whole e2e job suite: under
//! `just test` every test operator runs with the chart's ServiceAccount token.)

mod common;

use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams, PostParams};
use serde::Deserialize;
use serde_json::json;

/// May `client` do `verb` on `resource` in `ns` (a SelfSubjectAccessReview)?
async fn can(client: &kube::Client, verb: &str, group: &str, resource: &str, ns: &str) -> bool {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .is_some_and(|s| s.allowed)
}

fn helm(args: &[&str]) -> String {
    let cache = std::env::var("DEVAGENTS_CACHE")
        .unwrap_or_else(|_| format!("{}/.cache/devagents", std::env::var("HOME").unwrap()));
    let out = Command::new(PathBuf::from(cache).join("venv/bin/python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/helm.py"))
        .args(args)
        .output()
        .expect("the helm-python-sdk virtualenv (e2e/install-deps.sh)");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "helm.py {args:?}: {o}{e}");
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_lints_renders_installs_upgrades_and_uninstalls() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let out = helm(&["lint"]);
    assert!(
        out.contains("lint (default values): ok") && out.contains("lint (full values): ok"),
        "{out}"
    );

    let ns = format!("e2e-helm-{}", &common::uuid_like()[..8]);
    let dir = tempfile::tempdir().unwrap();
    // Full values render every optional part.
    let full = dir.path().join("full");
    helm(&["render", full.to_str().unwrap(), "full", &ns]);
    let all: String = std::fs::read_dir(&full)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    for kind in [
        "kind: ServiceMonitor",
        "kind: PrometheusRule",
        "kind: Certificate",
        "alert: HighJobFailureRate",
        "alert: QueueBacklog",
        "alert: AgentDown",
        "kind: NetworkPolicy",
        "kind: PodDisruptionBudget",
        "--llm-provider=anthropic",
        "--agent-limits=generator=1,reviewer=2,",
        "cert-manager.io/inject-ca-from",
        "--archive-database-url-file=/etc/devagents/archive/url",
        "--archive-retention=90d",
        "secretName: devagents-archive",
        "--log-format=text",
        "grafana_dashboard: \"1\"",
        "\"title\": \"devagents\"",
    ] {
        assert!(all.contains(kind), "{kind} missing from the full render");
    }
    // The default values, rendered for this cluster (Helm's dry run with its capabilities), are
    // accepted by the apiserver as they are (server-side dry run), webhooks with their CA
    // bundle included.
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
    )
    .await
    .unwrap();
    let manifest = dir.path().join("manifest.yaml");
    let out = helm(&[
        "install",
        "devagents",
        &ns,
        "default",
        "--dry-run",
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    assert!(out.contains("\"ValidatingWebhookConfiguration\""), "{out}");
    let (ok, out) = common::kubectl(&[
        "apply",
        "--dry-run=server",
        "-f",
        manifest.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("validatingwebhookconfiguration.admissionregistration.k8s.io/devagents-"),
        "{out}"
    );
    assert!(
        out.contains("deployment.apps/devagents-operator created (server dry run)"),
        "{out}"
    );
    assert!(
        out.contains("poddisruptionbudget.policy/devagents-operator created (server dry run)"),
        "{out}"
    );
    // Agent Pods get a NetworkPolicy by default: the operator's `--agent-egress` rules are
    // NetworkPolicy egress rules (DNS, HTTPS/SSH outside the private ranges).
    let rendered = std::fs::read_to_string(&manifest).unwrap();
    let args: Vec<String> = serde_yaml::Deserializer::from_str(&rendered)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .filter(|d| d["kind"] == "Deployment")
        .flat_map(|d| {
            serde_yaml::from_value::<Vec<String>>(
                d["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
            )
            .unwrap_or_default()
        })
        .collect();
    let arg = args
        .iter()
        .find_map(|a| a.strip_prefix("--agent-egress="))
        .expect("--agent-egress in the default render");
    let rules: Vec<k8s_openapi::api::networking::v1::NetworkPolicyEgressRule> =
        serde_json::from_str(arg).unwrap_or_else(|e| panic!("{arg}: {e}"));
    assert_eq!(rules.len(), 2, "{arg}");
    let public = &rules[1].to.as_ref().unwrap()[0].ip_block.as_ref().unwrap();
    assert!(
        public
            .except
            .as_ref()
            .unwrap()
            .contains(&"10.0.0.0/8".to_string())
    );

    // Install (no webhooks, no replicas: there is no container runtime here), upgrade, uninstall.
    let values = dir.path().join("values.json");
    std::fs::write(
        &values,
        r#"{"replicaCount": 0, "webhooks": {"enabled": false}}"#,
    )
    .unwrap();
    let out = helm(&["install", "devagents", &ns, values.to_str().unwrap()]);
    assert!(out.contains("\"status\": \"deployed\""), "{out}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let d = deployments.get("devagents-operator").await.unwrap();
    let args = d.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert!(args.contains(&"--max-running=4".to_string()), "{args:?}");
    // JSON logs by default; no archive unless its Secret is named.
    assert!(args.contains(&"--log-format=json".to_string()), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--archive")), "{args:?}");
    let pod = d.metadata.clone();
    assert!(pod.labels.unwrap().contains_key("helm.sh/chart"));

    // The operator's identity may do what it needs and nothing more.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let sa = common::wait_for(
        &sas,
        "devagents-operator",
        60,
        "with a token",
        |s: Option<&ServiceAccount>| {
            s.and_then(|s| s.secrets.as_ref())
                .is_some_and(|v| !v.is_empty())
        },
    )
    .await;
    let secret_name = sa.secrets.unwrap()[0].name.clone().unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let token = String::from_utf8(
        secrets.get(&secret_name).await.unwrap().data.unwrap()["token"]
            .0
            .clone(),
    )
    .unwrap();
    let op = common::token_client(&token).await;
    let jobs: Api<devagents::api::AgentJob> = Api::all(op.clone());
    jobs.list(&ListParams::default())
        .await
        .expect("AgentJobs everywhere");
    let denied = |r: Result<_, kube::Error>| matches!(r, Err(kube::Error::Api(s)) if s.code == 403);
    let sys_secrets: Api<Secret> = Api::namespaced(op.clone(), "kube-system");
    assert!(
        denied(sys_secrets.list(&ListParams::default()).await.map(|_| ())),
        "secrets elsewhere"
    );
    let own_secrets: Api<Secret> = Api::namespaced(op.clone(), &ns);
    assert!(
        own_secrets.get(&secret_name).await.is_ok(),
        "its own namespace's Secrets (agent API TLS)"
    );
    assert!(
        denied(own_secrets.list(&ListParams::default()).await.map(|_| ())),
        "no listing of them"
    );
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(op.clone());
    assert!(
        denied(nodes.list(&ListParams::default()).await.map(|_| ())),
        "nodes"
    );
    let op_nss: Api<Namespace> = Api::all(op.clone());
    assert!(
        denied(
            op_nss
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": format!("{ns}-x")}}))
                        .unwrap()
                )
                .await
                .map(|_| ())
        ),
        "namespaces"
    );
    let crs: Api<ClusterRole> = Api::all(op.clone());
    assert!(
        denied(crs.list(&ListParams::default()).await.map(|_| ())),
        "RBAC objects"
    );
    // The deployer's rights exist only in the environments' namespaces (none yet); job rights
    // everywhere by default.
    assert!(can(&op, "create", "", "pods", "kube-system").await);
    for (verb, group, resource) in [
        ("create", "rbac.authorization.k8s.io", "rolebindings"),
        ("patch", "apps", "deployments"),
    ] {
        for where_ in ["kube-system", ns.as_str()] {
            assert!(
                !can(&op, verb, group, resource, where_).await,
                "{verb} {resource} in {where_}"
            );
        }
    }

    // Jobs in one namespace, an environment in another: rights there and nowhere else.
    let shop = format!("{ns}-shop");
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": shop}})).unwrap(),
        )
        .await
        .unwrap();
    let upgrade = json!({"replicaCount": 0, "webhooks": {"enabled": false}, "limits": {"maxRunning": 8},
        "rbac": {"jobNamespaces": [ns]},
        "environments": [{"name": "staging", "namespace": shop,
                          "services": [{"name": "api", "image": "registry.example.com/shop/api"}]}]});
    std::fs::write(&values, upgrade.to_string()).unwrap();
    let out = helm(&["upgrade", "devagents", &ns, values.to_str().unwrap()]);
    assert!(out.contains("\"version\": 2"), "{out}");
    assert!(can(&op, "create", "", "pods", &ns).await);
    assert!(!can(&op, "create", "", "pods", "kube-system").await);
    assert!(
        can(
            &op,
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            &shop
        )
        .await
    );
    assert!(can(&op, "patch", "apps", "deployments", &shop).await);
    assert!(!can(&op, "patch", "apps", "deployments", &ns).await);
    assert!(
        !can(
            &op,
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "kube-system"
        )
        .await
    );
    let d = deployments.get("devagents-operator").await.unwrap();
    let args = d.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert!(args.contains(&"--max-running=8".to_string()), "{args:?}");
    // The agent API's certificate survives the upgrade (agent Pods keep trusting it).
    let ca = || async {
        secrets
            .get("devagents-operator-tls")
            .await
            .unwrap()
            .data
            .unwrap()["ca.crt"]
            .0
            .clone()
    };
    let before = ca().await;
    helm(&["upgrade", "devagents", &ns, values.to_str().unwrap()]);
    assert_eq!(ca().await, before);

    helm(&["uninstall", "devagents", &ns]);
    assert!(
        deployments
            .get_opt("devagents-operator")
            .await
            .unwrap()
            .is_none()
    );
    let crs: Api<ClusterRole> = Api::all(client.clone());
    assert!(
        crs.get_opt(&format!("devagents-{ns}-devagents"))
            .await
            .unwrap()
            .is_none()
    );
    common::delete_namespace(&client, &shop).await;
    common::delete_namespace(&client, &ns).await;
}
