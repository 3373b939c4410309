//! Acceptance (platform): the node stand-in plays the kubelet on the real control plane, and
//! Deployments really roll out (or really stall) through the real kube-controller-manager.

mod common;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::conditions;
use serde_json::json;

const AGENT_IMAGE: &str = "registry.local/devagents-agent:dev";

fn terminal(p: Option<&Pod>) -> bool {
    p.and_then(|p| p.status.as_ref())
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|ph| ph == "Succeeded" || ph == "Failed")
}

fn terminated(p: &Pod) -> k8s_openapi::api::core::v1::ContainerStateTerminated {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.clone())
        .unwrap_or_else(|| panic!("no terminated state: {p:#?}"))
}

fn agent_pod(name: &str, command: &[&str], extra: serde_json::Value) -> Pod {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "containers": [{ "name": "agent", "image": AGENT_IMAGE, "command": command }]
        }
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

#[tokio::test]
async fn agent_runner_version_pod_succeeds_with_exit_code_0() {
    let client = common::client().await;
    let ns = common::namespace(&client, "e2e-node-ok").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &agent_pod("version", &["agent-runner", "--version"], json!({})),
    )
    .await
    .unwrap();
    let pod = common::wait_for(&pods, "version", 60, "finished", terminal).await;
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    assert_eq!(
        pod.spec.as_ref().unwrap().node_name.as_deref(),
        Some("devagents-node"),
        "bound to the stand-in"
    );
    let t = terminated(&pod);
    assert_eq!(t.exit_code, 0);
    assert_eq!(t.reason.as_deref(), Some("Completed"));
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn failing_command_reports_its_exit_code_and_termination_message() {
    let client = common::client().await;
    let ns = common::namespace(&client, "e2e-node-fail").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = agent_pod(
        "exit3",
        &[
            "agent-runner",
            "probe",
            "--exit-code",
            "3",
            "--message",
            "entity Department exists; set overwrite",
        ],
        json!({}),
    );
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let pod = common::wait_for(&pods, "exit3", 60, "finished", terminal).await;
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Failed")
    );
    let t = terminated(&pod);
    assert_eq!(t.exit_code, 3);
    assert_eq!(
        t.message.as_deref(),
        Some("entity Department exists; set overwrite")
    );

    // FallbackToLogsOnError: no termination message written → the log tail is the message.
    let pod = agent_pod(
        "fallback",
        &[
            "sh",
            "-c",
            "echo starting; echo 'fatal: repository not found' >&2; exit 7",
        ],
        json!({"spec": {"containers": [{"name": "agent", "image": AGENT_IMAGE,
            "command": ["sh", "-c", "echo starting; echo 'fatal: repository not found' >&2; exit 7"],
            "terminationMessagePolicy": "FallbackToLogsOnError"}]}}),
    );
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let pod = common::wait_for(&pods, "fallback", 60, "finished", terminal).await;
    let t = terminated(&pod);
    assert_eq!(t.exit_code, 7);
    assert!(
        t.message
            .as_deref()
            .unwrap_or("")
            .contains("fatal: repository not found"),
        "{t:?}"
    );
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn active_deadline_ends_the_pod_failed_with_deadline_exceeded() {
    let client = common::client().await;
    let ns = common::namespace(&client, "e2e-node-deadline").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = agent_pod(
        "slow",
        &["agent-runner", "probe", "--sleep-ms", "600000"],
        json!({"spec": {"activeDeadlineSeconds": 2}}),
    );
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let pod = common::wait_for(&pods, "slow", 60, "finished", terminal).await;
    let st = pod.status.as_ref().unwrap();
    assert_eq!(st.phase.as_deref(), Some("Failed"));
    assert_eq!(st.reason.as_deref(), Some("DeadlineExceeded"));
    let started = st.start_time.as_ref().unwrap().0;
    let finished = terminated(&pod).finished_at.unwrap().0;
    let ran = finished.duration_since(started).as_secs_f64();
    assert!(
        (1.0..20.0).contains(&ran),
        "killed after {ran}s, deadline was 2s"
    );
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn env_and_volumes_are_materialised_and_the_projected_token_is_real() {
    let client = common::client().await;
    let ns = common::namespace(&client, "e2e-node-env").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "creds"}, "stringData": {"token": "s3cr3t", "user": "bot"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "settings"}, "data": {"model": "sonnet"}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "job-sa"}, "automountServiceAccountToken": false}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let script = r#"R="$DEVAGENTS_FS_ROOT"
printf '%s|%s|%s|%s|%s|%s|' "$TOKEN" "$MODEL" "$POD" "$NS" "$GREETING" "$(cat "$R/etc/creds/user")" > "$R/dev/termination-log"
cat "$R/var/run/secrets/devagents.io/token" >> "$R/dev/termination-log""#;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "env", "labels": {"app": "probe"}},
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": "job-sa",
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "agent", "image": AGENT_IMAGE, "command": ["sh", "-c", script],
                "env": [
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                    {"name": "MODEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "model"}}},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "GREETING", "value": "hello-$(POD)"}
                ],
                "volumeMounts": [
                    {"name": "creds", "mountPath": "/etc/creds", "readOnly": true},
                    {"name": "token", "mountPath": "/var/run/secrets/devagents.io", "readOnly": true}
                ]
            }],
            "volumes": [
                {"name": "creds", "secret": {"secretName": "creds"}},
                {"name": "token", "projected": {"sources": [{"serviceAccountToken": {
                    "audience": "devagents.io", "expirationSeconds": 3600, "path": "token"}}]}}
            ]
        }
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let pod = common::wait_for(&pods, "env", 60, "finished", terminal).await;
    let t = terminated(&pod);
    assert_eq!(t.exit_code, 0, "{t:?}");
    let msg = t.message.unwrap_or_default();
    let parts: Vec<&str> = msg.splitn(7, '|').collect();
    assert_eq!(
        &parts[..6],
        &["s3cr3t", "sonnet", "env", ns.as_str(), "hello-env", "bot"],
        "{msg}"
    );

    // The projected token is a real one for audience devagents.io, bound to the job's SA.
    let reviews: Api<TokenReview> = Api::all(client.clone());
    let review = reviews
        .create(
            &PostParams::default(),
            &TokenReview {
                spec: TokenReviewSpec {
                    token: Some(parts[6].trim().to_string()),
                    audiences: Some(vec!["devagents.io".into()]),
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let st = review.status.unwrap();
    assert_eq!(st.authenticated, Some(true), "{st:?}");
    assert_eq!(
        st.user.unwrap().username.as_deref(),
        Some(format!("system:serviceaccount:{ns}:job-sa").as_str())
    );
    common::delete_namespace(&client, &ns).await;
}

/// Agent processes of this pod (found by their per-pod root in the environment).
fn processes_of(uid: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| {
            kv.starts_with(b"DEVAGENTS_FS_ROOT=")
                && kv.windows(uid.len()).any(|w| w == uid.as_bytes())
        }) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test]
async fn deleting_a_pod_kills_its_process() {
    let client = common::client().await;
    let ns = common::namespace(&client, "e2e-node-delete").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = agent_pod(
        "sleeper",
        &["agent-runner", "probe", "--sleep-ms", "600000"],
        json!({}),
    );
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    common::wait_for(
        &pods,
        "sleeper",
        60,
        "running",
        conditions::is_pod_running(),
    )
    .await;
    assert_eq!(processes_of(&uid).len(), 1, "one process runs the pod");
    pods.delete("sleeper", &DeleteParams::default())
        .await
        .unwrap();
    common::wait_gone(&pods, "sleeper", &uid, 60).await;
    // The stand-in confirms the deletion only after the process group is gone.
    assert!(
        processes_of(&uid).is_empty(),
        "process still running after the pod was deleted"
    );
    common::delete_namespace(&client, &ns).await;
}

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 10,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"automountServiceAccountToken": false,
                         "containers": [{"name": "api", "image": image}]}
            }
        }
    }))
    .unwrap()
}

fn available(d: Option<&Deployment>) -> bool {
    d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
        s.available_replicas == Some(2)
            && s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Available" && c.status == "True")
    })
}

fn deadline_exceeded(d: Option<&Deployment>) -> bool {
    d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
        s.conditions.iter().flatten().any(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
    })
}

#[tokio::test]
async fn deployments_become_available_unless_their_image_is_broken() {
    let client = common::client().await;
    let ns = common::namespace(&client, "e2e-node-deploy").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deps.create(
        &PostParams::default(),
        &deployment("core-api", "ghcr.io/acme/core-api:v1.7.2"),
    )
    .await
    .unwrap();
    deps.create(
        &PostParams::default(),
        &deployment("core-rpc", "ghcr.io/acme/core-rpc:broken"),
    )
    .await
    .unwrap();

    let ok = common::wait_for(
        &deps,
        "core-api",
        90,
        "Available with 2 replicas",
        available,
    )
    .await;
    assert_eq!(ok.status.unwrap().ready_replicas, Some(2));

    // The real Deployment controller gives up on the broken one: ProgressDeadlineExceeded,
    // and it never had an available replica.
    let stalled = common::wait_for(
        &deps,
        "core-rpc",
        90,
        "ProgressDeadlineExceeded",
        deadline_exceeded,
    )
    .await;
    let st = stalled.status.unwrap();
    assert_eq!(st.available_replicas.unwrap_or(0), 0);
    assert!(!available(deps.get_opt("core-rpc").await.unwrap().as_ref()));
    let _ = Duration::from_secs(0);
    common::delete_namespace(&client, &ns).await;
}
