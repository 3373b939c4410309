//! Pod status the way a kubelet reports it.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::{Result, chrono_now};

fn container_name(pod: &Pod) -> (String, String) {
    let c = pod.spec.as_ref().and_then(|s| s.containers.first());
    (
        c.map(|c| c.name.clone()).unwrap_or_default(),
        c.and_then(|c| c.image.clone()).unwrap_or_default(),
    )
}

fn conditions(now: &str, ready: bool, reason: Option<&str>) -> Value {
    let r = if ready { "True" } else { "False" };
    let mut ready_cond = json!({ "type": "Ready", "status": r, "lastTransitionTime": now });
    let mut cr_cond = json!({ "type": "ContainersReady", "status": r, "lastTransitionTime": now });
    if let Some(reason) = reason {
        ready_cond["reason"] = json!(reason);
        cr_cond["reason"] = json!(reason);
    }
    json!([
        { "type": "Initialized", "status": "True", "lastTransitionTime": now },
        ready_cond,
        cr_cond,
        { "type": "PodScheduled", "status": "True", "lastTransitionTime": now },
    ])
}

async fn patch(api: &Api<Pod>, pod: &Pod, status: Value) -> Result<()> {
    // Like a kubelet, keep trying while the apiserver is unreachable or failing (a restart):
    // a status that is never reported would leave the Pod "running" forever.
    let mut wait = std::time::Duration::from_millis(200);
    let mut tries = 0;
    loop {
        match api
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": &status })),
            )
            .await
        {
            Ok(_) => return Ok(()),
            // Deleted meanwhile: nothing to report.
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(kube::Error::Api(s)) if s.code < 500 && s.code != 429 => {
                return Err(kube::Error::Api(s).into());
            }
            Err(e) if tries >= 60 => return Err(e.into()),
            Err(e) => {
                tracing::warn!(pod = %pod.name_any(), error = %e, "pod status not reported; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(5));
                tries += 1;
            }
        }
    }
}

/// The container started: Running and Ready.
pub async fn report_running(api: &Api<Pod>, pod: &Pod, started_at: &str) -> Result<()> {
    let (name, image) = container_name(pod);
    patch(
        api,
        pod,
        json!({
            "phase": "Running",
            "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{ "ip": "127.0.0.1" }],
            "startTime": started_at,
            "conditions": conditions(started_at, true, None),
            "containerStatuses": [{
                "name": name, "image": image, "imageID": format!("devagents://{image}"),
                "containerID": format!("devagents://{}", pod.uid().unwrap_or_default()),
                "ready": true, "started": true, "restartCount": 0,
                "state": { "running": { "startedAt": started_at } }
            }]
        }),
    )
    .await
}

/// How a container ended.
pub struct Termination<'a> {
    pub started_at: &'a str,
    pub exit_code: i32,
    /// Container reason: `Completed`, `Error`, `DeadlineExceeded` …
    pub reason: &'a str,
    pub message: &'a str,
    /// Pod-level reason/message (set for DeadlineExceeded).
    pub pod_reason: Option<&'a str>,
    pub pod_message: Option<&'a str>,
}

pub async fn report_terminated(api: &Api<Pod>, pod: &Pod, t: Termination<'_>) -> Result<()> {
    let (name, image) = container_name(pod);
    let now = chrono_now();
    let phase = if t.exit_code == 0 && t.pod_reason.is_none() {
        "Succeeded"
    } else {
        "Failed"
    };
    let mut terminated = json!({
        "exitCode": t.exit_code, "reason": t.reason, "startedAt": t.started_at, "finishedAt": now,
        "containerID": format!("devagents://{}", pod.uid().unwrap_or_default()),
    });
    if !t.message.is_empty() {
        terminated["message"] = json!(t.message);
    }
    let mut status = json!({
        "phase": phase,
        "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
        "startTime": t.started_at,
        "conditions": conditions(&now, false, Some("PodCompleted")),
        "containerStatuses": [{
            "name": name, "image": image, "imageID": format!("devagents://{image}"),
            "containerID": format!("devagents://{}", pod.uid().unwrap_or_default()),
            "ready": false, "started": false, "restartCount": 0,
            "state": { "terminated": terminated }
        }]
    });
    if let Some(r) = t.pod_reason {
        status["reason"] = json!(r);
    }
    if let Some(m) = t.pod_message {
        status["message"] = json!(m);
    }
    patch(api, pod, status).await
}

/// The container cannot be created (missing Secret key, missing volume …).
pub async fn report_waiting(api: &Api<Pod>, pod: &Pod, reason: &str, message: &str) -> Result<()> {
    let (name, image) = container_name(pod);
    let now = chrono_now();
    patch(
        api,
        pod,
        json!({
            "phase": "Pending",
            "hostIP": "127.0.0.1",
            "startTime": now,
            "conditions": conditions(&now, false, Some("ContainersNotReady")),
            "containerStatuses": [{
                "name": name, "image": image, "imageID": "",
                "ready": false, "started": false, "restartCount": 0,
                "state": { "waiting": { "reason": reason, "message": message } }
            }]
        }),
    )
    .await
}

/// Application Pods (any non-agent image): Running + Ready, or stuck pulling a broken image.
pub async fn report_app_pod(api: &Api<Pod>, pod: &Pod, broken: bool) -> Result<()> {
    if broken {
        let (_, image) = container_name(pod);
        return report_waiting(
            api,
            pod,
            "ImagePullBackOff",
            &format!("Back-off pulling image \"{image}\""),
        )
        .await;
    }
    let now = chrono_now();
    let statuses: Vec<Value> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            json!({
                "name": c.name, "image": image, "imageID": format!("devagents://{image}"),
                "containerID": format!("devagents://{}-{}", pod.uid().unwrap_or_default(), c.name),
                "ready": true, "started": true, "restartCount": 0,
                "state": { "running": { "startedAt": now } }
            })
        })
        .collect();
    patch(
        api,
        pod,
        json!({
            "phase": "Running",
            "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{ "ip": "127.0.0.1" }],
            "startTime": now,
            "conditions": conditions(&now, true, None),
            "containerStatuses": statuses,
        }),
    )
    .await
}

/// A run-to-completion Pod (image build, smoke test): it ran and exited 0, or 1 when broken.
pub async fn report_completed(api: &Api<Pod>, pod: &Pod, broken: bool) -> Result<()> {
    let now = chrono_now();
    let (code, reason, message) = if broken {
        (
            1,
            "Error",
            "the stand-in's broken-image rule: this image exits 1",
        )
    } else {
        (0, "Completed", "")
    };
    report_terminated(
        api,
        pod,
        Termination {
            started_at: &now,
            exit_code: code,
            reason,
            message,
            pod_reason: None,
            pod_message: None,
        },
    )
    .await
}

/// An agent Pod whose process was lost when the stand-in restarted.
pub async fn report_lost(api: &Api<Pod>, pod: &Pod) -> Result<()> {
    let started = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_else(chrono_now);
    report_terminated(
        api,
        pod,
        Termination {
            started_at: &started,
            exit_code: 137,
            reason: "ContainerStatusUnknown",
            message: "The container could not be located when the node restarted",
            pod_reason: None,
            pod_message: None,
        },
    )
    .await
}
