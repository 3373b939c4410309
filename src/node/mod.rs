//! The node stand-in: plays the kubelet for the e2e tests and the demo (there is no kubelet
//! or container runtime on the machines this project is built on).
//!
//! It registers a Node, binds pending Pods to it, and then, per Pod:
//! - agent-image Pods: runs the container's command as a local process (the `agent-runner`
//!   built from this repository) with the Pod's args and env (`valueFrom` secretKeyRef,
//!   configMapKeyRef, fieldRef; `envFrom`), with Secret, ConfigMap, downward API, emptyDir and
//!   projected ServiceAccount-token volumes materialised into a per-pod root directory
//!   (tokens come from the TokenRequest API), reports Running, then the real exit code and
//!   termination message; enforces `activeDeadlineSeconds`; kills the process when the Pod
//!   is deleted;
//! - run-to-completion images (build and smoke-test Pods): Running, then Succeeded with exit
//!   code 0 — or Failed with exit code 1 when the image also matches the "broken" pattern;
//! - any other image: Running + Ready, except images matching the "broken" pattern, which
//!   stay in ImagePullBackOff and never become Ready (so a Deployment rollout really stalls).
//!
//! A Pod whose namespace's NetworkPolicies deny it all egress runs in a network namespace of
//! its own (`unshare -n`), so it reaches nothing, as under a real network plugin.
//!
//! The process sees the per-pod root in `DEVAGENTS_FS_ROOT`; the runner maps absolute
//! in-container paths through it (`runner::container_path`).

mod materialize;
mod netpol;
mod process;
mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use regex::Regex;
use serde_json::json;
use tokio::sync::{Mutex, oneshot};
use tracing::{info, warn};

/// Settings of the stand-in.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub node_name: String,
    /// Per-pod directories live here.
    pub work_dir: PathBuf,
    /// Where the agent binaries (`agent-runner`) are.
    pub agent_bin_dir: PathBuf,
    /// Images that are run as local processes.
    pub agent_image: Regex,
    /// Images that never become Ready.
    pub broken_image: Regex,
    /// Images that run to completion (build and smoke-test Pods): Succeeded with exit 0, or
    /// Failed with exit 1 when the image also matches `broken_image`.
    pub complete_image: Regex,
    /// The apiserver's address, given to agent processes as KUBERNETES_SERVICE_HOST/PORT
    /// (what the kubelet gives every container).
    pub api_server: Option<(String, u16)>,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("watch: {0}")]
    Watch(#[from] watcher::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

type Result<T, E = NodeError> = std::result::Result<T, E>;

/// Pods this node is handling, by UID: the sender stops the pod's process.
type Running = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

pub struct NodeStandIn {
    client: Client,
    cfg: Arc<NodeConfig>,
    running: Running,
}

impl NodeStandIn {
    pub fn new(client: Client, cfg: NodeConfig) -> Self {
        NodeStandIn {
            client,
            cfg: Arc::new(cfg),
            running: Arc::default(),
        }
    }

    /// Register (or refresh) the Node object and mark it Ready.
    pub async fn register(&self) -> Result<()> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let name = &self.cfg.node_name;
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": { "name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "devagents.io/node-stand-in": "true" } },
        }))
        .map_err(|e| NodeError::Config(e.to_string()))?;
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let now = chrono_now();
        let status = json!({ "status": {
            "capacity": { "cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "500Gi" },
            "allocatable": { "cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "500Gi" },
            "addresses": [ { "type": "InternalIP", "address": "127.0.0.1" }, { "type": "Hostname", "address": name } ],
            "conditions": [ { "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "devagents node stand-in is ready", "lastHeartbeatTime": now, "lastTransitionTime": now } ],
            "nodeInfo": { "architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2", "containerRuntimeVersion": "devagents://local-process",
                "bootID": "", "kernelVersion": "", "machineID": "", "osImage": "devagents node stand-in",
                "systemUUID": "" }
        }});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        info!(node = %name, "node registered");
        Ok(())
    }

    /// Watch Pods forever: bind the unscheduled ones, run the ones bound here.
    pub async fn run(self) -> Result<()> {
        self.register().await?;
        tokio::fs::create_dir_all(&self.cfg.work_dir).await?;
        let pods: Api<Pod> = Api::all(self.client.clone());
        let stream = watcher(pods, watcher::Config::default())
            .backoff(crate::controller::config::WatchBackoff::default())
            .applied_objects();
        futures::pin_mut!(stream);
        loop {
            match stream.try_next().await {
                Ok(Some(pod)) => {
                    if let Err(e) = self.on_pod(pod).await {
                        warn!(error = %e, "pod handling failed");
                    }
                }
                Ok(None) => return Ok(()),
                // The apiserver restarted or the watch expired: the watcher backs off and
                // re-lists; a kubelet keeps going, and so does the stand-in.
                Err(e) => warn!(error = %e, "pod watch failed; re-watching"),
            }
        }
    }

    async fn on_pod(&self, pod: Pod) -> Result<()> {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let uid = pod.uid().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let spec = match &pod.spec {
            Some(s) => s,
            None => return Ok(()),
        };
        let node_name = spec.node_name.clone().unwrap_or_default();

        if node_name.is_empty() {
            if pod.metadata.deletion_timestamp.is_some() {
                // Never bound, nothing runs: finish the deletion like a kubelet would.
                return force_delete(&api, &name, &uid).await;
            }
            return self.bind(&api, &name).await;
        }
        if node_name != self.cfg.node_name {
            return Ok(());
        }

        if pod.metadata.deletion_timestamp.is_some() {
            let stop = self.running.lock().await.remove(&uid);
            match stop {
                // The pod's task kills the process, reports, and force-deletes.
                Some(tx) => {
                    let _ = tx.send(());
                }
                None => force_delete(&api, &name, &uid).await?,
            }
            return Ok(());
        }

        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            return Ok(());
        }
        if self.running.lock().await.contains_key(&uid) {
            return Ok(());
        }
        let started_before = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| !cs.is_empty());

        let image = spec
            .containers
            .first()
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        if self.cfg.agent_image.is_match(&image) {
            if started_before {
                // A previous run of this stand-in started it; the process is gone with it.
                status::report_lost(&api, &pod).await?;
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            self.running.lock().await.insert(uid.clone(), tx);
            let ctx = process::PodRun {
                client: self.client.clone(),
                cfg: self.cfg.clone(),
                pod: pod.clone(),
                running: self.running.clone(),
            };
            tokio::spawn(ctx.run(rx));
        } else if self.cfg.complete_image.is_match(&image) {
            if !started_before {
                let broken = self.cfg.broken_image.is_match(&image);
                status::report_completed(&api, &pod, broken).await?;
            }
        } else if !started_before {
            let broken = self.cfg.broken_image.is_match(&image);
            status::report_app_pod(&api, &pod, broken).await?;
        }
        Ok(())
    }

    async fn bind(&self, api: &Api<Pod>, name: &str) -> Result<()> {
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": { "name": name },
            "target": { "apiVersion": "v1", "kind": "Node", "name": self.cfg.node_name },
        });
        match api
            .create_subresource::<_, serde_json::Value>(
                "binding",
                name,
                &PostParams::default(),
                &binding,
            )
            .await
        {
            Ok(_) => Ok(()),
            // Already bound (we saw an old version) or gone: the next event tells.
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stop every process this node runs (on shutdown).
    pub async fn stop_all(running: &Running) {
        let mut map = running.lock().await;
        for (_, tx) in map.drain() {
            let _ = tx.send(());
        }
    }

    pub fn running(&self) -> Running {
        self.running.clone()
    }
}

/// Delete with grace period 0, preconditioned on the UID (never a newer pod of the same name).
pub(crate) async fn force_delete(api: &Api<Pod>, name: &str, uid: &str) -> Result<()> {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(kube::api::Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// RFC 3339 "now" with second precision, as Kubernetes writes times.
pub(crate) fn chrono_now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Run until Ctrl-C / SIGTERM, then stop every agent process.
pub async fn serve(client: Client, cfg: NodeConfig) -> Result<()> {
    let node = NodeStandIn::new(client, cfg);
    let running = node.running();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let res = tokio::select! {
        r = node.run() => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    };
    NodeStandIn::stop_all(&running).await;
    // Give the pod tasks a moment to kill their process groups.
    for _ in 0..50 {
        if running.lock().await.is_empty() && process::live_children() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    res
}
