//! The deployer's Kubernetes API calls, done natively (no kubectl, no shell): find a service's
//! Deployment, set its image with server-side apply, follow the rollout as `kubectl rollout
//! status` does, and undo it as `kubectl rollout undo` does.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;

use super::rollout::{self, Rollout};
use crate::api::environment::Service;

/// The field manager of every change the deployer makes.
pub const FIELD_MANAGER: &str = "devagents-deployer";
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// A client for the Pod's own ServiceAccount token (the in-cluster files, mapped through the
/// node stand-in's root in tests).
pub async fn in_cluster_client() -> Result<Client, String> {
    use crate::contract::container_path;
    let dir = crate::contract::KUBE_API_DIR;
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .map_err(|_| "KUBERNETES_SERVICE_HOST is not set: not running in a Pod".to_string())?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let url: http::Uri = format!("https://{host}:{port}")
        .parse()
        .map_err(|e| format!("apiserver address: {e}"))?;
    let token_file = container_path(&format!("{dir}/token"));
    let ca = std::fs::read(container_path(&format!("{dir}/ca.crt")))
        .map_err(|e| format!("{dir}/ca.crt: {e}"))?;
    let certs = pem_certs(&ca)?;
    let mut cfg = kube::Config::new(url);
    cfg.root_cert = Some(certs);
    cfg.auth_info.token_file = Some(token_file.to_string_lossy().into_owned());
    cfg.default_namespace = std::fs::read_to_string(container_path(&format!("{dir}/namespace")))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "default".into());
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::try_from(cfg).map_err(|e| format!("kubernetes client: {e}"))
}

/// DER certificates of a PEM bundle.
fn pem_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine;
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            cur = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b) = cur.take() {
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .map_err(|e| format!("ca.crt: {e}"))?,
                );
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(line);
        }
    }
    if out.is_empty() {
        return Err("ca.crt holds no certificate".into());
    }
    Ok(out)
}

/// The Deployment of a service: by name, or the one Deployment its selector matches.
pub async fn find(api: &Api<Deployment>, svc: &Service) -> Result<Deployment, String> {
    if let Some(sel) = &svc.selector {
        let list = api
            .list(&ListParams::default().labels(sel))
            .await
            .map_err(|e| format!("list deployments {sel:?}: {e}"))?;
        return match list.items.len() {
            1 => Ok(list.items.into_iter().next().unwrap_or_default()),
            0 => Err(format!(
                "service {}: no Deployment matches {sel:?}",
                svc.name
            )),
            n => Err(format!(
                "service {}: {n} Deployments match {sel:?} ({}); the selector must match one",
                svc.name,
                list.items
                    .iter()
                    .map(|d| d.name_any())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    let name = svc.deployment.clone().unwrap_or_else(|| svc.name.clone());
    match api.get_opt(&name).await {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(format!(
            "service {}: Deployment {name:?} does not exist",
            svc.name
        )),
        Err(e) => Err(format!("get deployment {name:?}: {e}")),
    }
}

/// The container that carries the service's image, and its current image.
pub fn container(d: &Deployment, svc: &Service) -> Result<(String, String), String> {
    let containers = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let wanted = svc.container.as_deref();
    let c = match wanted {
        Some(w) => containers.iter().find(|c| c.name == w),
        None => containers
            .iter()
            .find(|c| c.name == svc.name)
            .or(if containers.len() == 1 {
                containers.first()
            } else {
                None
            }),
    };
    match c {
        Some(c) => Ok((c.name.clone(), c.image.clone().unwrap_or_default())),
        None => Err(format!(
            "service {}: Deployment {:?} has no container {:?} (it has: {})",
            svc.name,
            d.name_any(),
            wanted.unwrap_or(&svc.name),
            containers
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

pub fn revision(d: &Deployment) -> Option<i64> {
    d.annotations().get(REVISION).and_then(|r| r.parse().ok())
}

/// Set one container's image with server-side apply (the deployer's field manager, forced:
/// the deployer owns the image from now on).
pub async fn set_image(
    api: &Api<Deployment>,
    name: &str,
    container: &str,
    image: &str,
) -> Result<Deployment, String> {
    let patch = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name },
        "spec": { "template": { "spec": { "containers": [{ "name": container, "image": image }] } } },
    });
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
    .map_err(|e| format!("set image of deployment {name:?}: {e}"))
}

/// How a rollout ended.
#[derive(Debug)]
pub enum Outcome {
    Done(Box<Deployment>),
    Failed(String),
    /// Not finished within the time given; `last` is the state seen last.
    TimedOut {
        after: Duration,
        last: String,
    },
}

impl Outcome {
    /// Why a rollout that did not complete failed (empty for `Done`).
    pub fn reason(&self, name: &str) -> String {
        match self {
            Outcome::Done(_) => String::new(),
            Outcome::Failed(why) => why.clone(),
            Outcome::TimedOut { after, last } => format!(
                "deployment {name:?} did not finish its rollout within {}s ({last})",
                after.as_secs()
            ),
        }
    }
}

/// The image `container` of `d` runs.
fn image_of<'a>(d: &'a Deployment, container: &str) -> &'a str {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.iter().find(|c| c.name == container))
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

/// Follow `name` until its rollout is done or failed (judged like `kubectl rollout status`),
/// or until `timeout`. With `running: Some((container, image))` the rollout only counts once
/// that container runs that image (someone else — a GitOps tool — applies it). Progress lines
/// go to `progress` when the state changes.
pub async fn wait_rollout(
    api: &Api<Deployment>,
    name: &str,
    running: Option<(&str, &str)>,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> Outcome {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = Box::pin(
        watcher(api.clone(), cfg)
            .default_backoff()
            .applied_objects(),
    );
    let mut last = String::new();
    let watch = async {
        while let Some(ev) = stream.next().await {
            let d = match ev {
                Ok(d) => d,
                Err(e) => {
                    progress(&format!("watch of deployment {name:?}: {e}"));
                    continue;
                }
            };
            let state = match running {
                Some((container, image)) if image_of(&d, container) != image => Rollout::Waiting(
                    format!("deployment {name:?} still runs {}", image_of(&d, container)),
                ),
                _ => rollout::status(&d),
            };
            match state {
                Rollout::Done(_) => return Outcome::Done(Box::new(d)),
                Rollout::Failed(why) => return Outcome::Failed(why),
                Rollout::Waiting(msg) => {
                    if msg != last {
                        progress(&msg);
                        last = msg;
                    }
                }
            }
        }
        Outcome::Failed(format!("the watch of deployment {name:?} ended"))
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(o) => o,
        Err(_) => Outcome::TimedOut {
            after: timeout,
            last,
        },
    }
}

/// The pod template of the ReplicaSet at `revision` — what `kubectl rollout undo
/// --to-revision` restores (without the `pod-template-hash` label the controller adds).
pub async fn template_at(
    rs_api: &Api<ReplicaSet>,
    d: &Deployment,
    revision: i64,
) -> Result<PodTemplateSpec, String> {
    let uid = d.uid().unwrap_or_default();
    let sets = rs_api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("list replicasets: {e}"))?;
    let rs = sets
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .find(|rs| {
            rs.annotations()
                .get(REVISION)
                .and_then(|r| r.parse::<i64>().ok())
                == Some(revision)
        })
        .ok_or_else(|| {
            format!(
                "deployment {:?} has no ReplicaSet at revision {revision} to roll back to",
                d.name_any()
            )
        })?;
    let mut t = rs.spec.and_then(|s| s.template).unwrap_or_default();
    if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove("pod-template-hash");
    }
    Ok(t)
}

/// Restore `template` like `kubectl rollout undo` (a JSON patch replacing the whole pod
/// template).
pub async fn restore(
    api: &Api<Deployment>,
    name: &str,
    template: &PodTemplateSpec,
) -> Result<(), String> {
    let value = serde_json::to_value(template).map_err(|e| e.to_string())?;
    let patch: json_patch::Patch = serde_json::from_value(json!([
        { "op": "replace", "path": "/spec/template", "value": value }
    ]))
    .map_err(|e| e.to_string())?;
    api.patch(
        name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        },
        &Patch::<()>::Json(patch),
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("roll back deployment {name:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(containers: &[&str]) -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": "api", "annotations": { REVISION: "3" } },
            "spec": { "selector": {}, "template": { "spec": { "containers":
                containers.iter().map(|c| json!({ "name": c, "image": format!("r/{c}:v1") })).collect::<Vec<_>>()
            } } }
        }))
        .unwrap()
    }

    #[test]
    fn picks_the_container_by_name_or_the_only_one() {
        let svc = Service {
            name: "api".into(),
            image: "r/api".into(),
            ..Default::default()
        };
        assert_eq!(
            container(&deployment(&["main"]), &svc).unwrap(),
            ("main".into(), "r/main:v1".into())
        );
        assert_eq!(
            container(&deployment(&["sidecar", "api"]), &svc).unwrap().0,
            "api"
        );
        let e = container(&deployment(&["a", "b"]), &svc).unwrap_err();
        assert!(e.contains("has no container \"api\" (it has: a, b)"), "{e}");
        assert_eq!(revision(&deployment(&["a"])), Some(3));
    }

    #[test]
    fn pem_bundles_decode() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAwQF\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certs(pem).unwrap(), vec![vec![0, 1, 2], vec![3, 4, 5]]);
        assert!(pem_certs(b"nothing").is_err());
    }
}
