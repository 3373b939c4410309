//! `POST /v1/jobs/{ns}/{name}/deploy`: the writes of a native deploy, done by the operator
//! (see [`super::ops`]). The job's ServiceAccount only reads in the
//! environment's namespace; whoever wears it can ask for nothing here but what the running,
//! admitted (and so approved) job itself would do: its environment's image at its version for
//! one of its services, putting back what ran before this job, its services' smoke-test and
//! build Pods as the environment defines them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::info;

use super::ops::{
    DeployOp, DeployReply, NOTHING_TO_PUT_BACK, PREVIOUS_ANNOTATION, PodKind, Previous, pod_name,
};
use super::{build, cluster, smoke};
use crate::agentapi::{
    ApiError, ApiState, Authorized, BODY_SMALL, delete_labelled_pod, forbidden, read_json,
};
use crate::api::environment::{Environment, Environments, Service};
use crate::api::{AgentJob, AgentKind, DeployMode, DeployerParams, Phase};
use crate::controller::pod::{LABEL_JOB_UID, MANAGED_BY, MANAGER};

fn conflict(msg: String) -> ApiError {
    ApiError(StatusCode::CONFLICT, msg)
}

/// The job's deploy parameters, environment and the requested service, if the job may ask.
fn scope<'a>(
    job: &'a AgentJob,
    envs: &'a Environments,
    service: &str,
) -> Result<(&'a DeployerParams, &'a Environment, Service), ApiError> {
    let (ns, name) = (job.namespace().unwrap_or_default(), job.name_any());
    let d = match (&job.spec.agent, &job.spec.deployer) {
        (AgentKind::Deployer, Some(d)) => d,
        _ => {
            return Err(forbidden(format!(
                "job {ns}/{name} is not a deployer: it may not deploy"
            )));
        }
    };
    if job.status.as_ref().and_then(|s| s.phase) != Some(Phase::Running) {
        return Err(conflict(format!("job {ns}/{name} is not running")));
    }
    if let Some(p) = super::operator::problem(job, envs) {
        return Err(forbidden(p));
    }
    let env = envs.resolve(&d.environment).map_err(forbidden)?;
    let svc = env
        .selected(&d.services)
        .map_err(forbidden)?
        .into_iter()
        .find(|x| x.name == service)
        .cloned()
        .ok_or_else(|| {
            forbidden(format!(
                "service {service:?} is not one job {ns}/{name} deploys to {:?}",
                env.name
            ))
        })?;
    Ok((d, env, svc))
}

/// The deployer's endpoint of the agent API, over the operator's environments.
pub fn routes(environments: Arc<Environments>) -> Router<Arc<ApiState>> {
    Router::new()
        .route(
            &format!(
                "{}{}",
                crate::contract::bodies::JOB_ROUTE,
                super::ops::ROUTE
            ),
            axum::routing::post(deploy),
        )
        .layer(Extension(environments))
}

async fn deploy(
    State(s): State<Arc<ApiState>>,
    Extension(envs): Extension<Arc<Environments>>,
    Authorized { job, ns, name }: Authorized,
    body: axum::body::Body,
) -> Result<axum::Json<DeployReply>, ApiError> {
    let op: DeployOp = read_json(body, BODY_SMALL).await?;
    let uid = job.uid().unwrap_or_default();
    let reply = match &op {
        DeployOp::SetImage { service } | DeployOp::Restore { service } => {
            let (d, env, svc) = scope(&job, &envs, service)?;
            if d.mode != DeployMode::Native {
                return Err(forbidden(
                    "a gitops deploy changes no Deployment itself".to_string(),
                ));
            }
            let api: Api<Deployment> = Api::namespaced(s.client.clone(), &env.namespace);
            let dep = cluster::find(&api, &svc).await.map_err(conflict)?;
            match op {
                DeployOp::SetImage { .. } => set_image(&api, &dep, &svc, d, &uid).await?,
                _ => {
                    let rs: Api<ReplicaSet> = Api::namespaced(s.client.clone(), &env.namespace);
                    restore(&api, &rs, &dep, &uid).await?
                }
            }
        }
        DeployOp::StartPod {
            kind,
            service,
            git_sha,
        } => {
            let (d, env, svc) = scope(&job, &envs, service)?;
            let spec = pod_spec(&job, d, env, &svc, *kind, git_sha.as_deref())?;
            let pod_name = pod_name(&name, *kind, &svc.name);
            let pod: Pod = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": pod_name, "labels": { MANAGED_BY: MANAGER, LABEL_JOB_UID: uid } },
                "spec": spec,
            }))
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            let pods: Api<Pod> = Api::namespaced(s.client.clone(), &env.namespace);
            match pods.create(&PostParams::default(), &pod).await {
                Ok(_) => {}
                // A retried request: the Pod is this job's if it carries its UID.
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    let live = pods.get(&pod_name).await?;
                    if live.labels().get(LABEL_JOB_UID) != Some(&uid) {
                        return Err(conflict(format!(
                            "pod {pod_name} exists and is not job {ns}/{name}'s"
                        )));
                    }
                }
                Err(e) => return Err(e.into()),
            }
            DeployReply {
                name: pod_name,
                ..DeployReply::default()
            }
        }
        DeployOp::DeletePod { kind, service } => {
            let (_, env, svc) = scope(&job, &envs, service)?;
            let pod_name = pod_name(&name, *kind, &svc.name);
            let pods: Api<Pod> = Api::namespaced(s.client.clone(), &env.namespace);
            delete_labelled_pod(&pods, &pod_name, LABEL_JOB_UID, &uid).await?;
            DeployReply {
                name: pod_name,
                ..DeployReply::default()
            }
        }
    };
    info!(job = %name, namespace = %ns, ?op, target = %reply.name, "deploy request done");
    Ok(axum::Json(reply))
}

/// Set the service's container to `<image>:<version>` and record what ran before (once per
/// job: a retried request, or a later attempt of the job, keeps the first record).
async fn set_image(
    api: &Api<Deployment>,
    dep: &Deployment,
    svc: &Service,
    d: &DeployerParams,
    uid: &str,
) -> Result<DeployReply, ApiError> {
    let (container, current) = cluster::container(dep, svc).map_err(conflict)?;
    let image = format!("{}:{}", svc.image, d.version);
    let name = dep.name_any();
    let earlier = previous(dep).filter(|p| p.job_uid == uid);
    if current == image && earlier.is_none() {
        // Nothing to change, nothing to put back.
        return Ok(DeployReply {
            name,
            container: Some(container),
            image: Some(image),
            revision: cluster::revision(dep),
        });
    }
    let record = earlier.unwrap_or(Previous {
        job_uid: uid.to_string(),
        container: container.clone(),
        image: current,
        revision: cluster::revision(dep),
    });
    let patch = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "annotations": {
            PREVIOUS_ANNOTATION: serde_json::to_string(&record).unwrap_or_default() } },
        "spec": { "template": { "spec": { "containers": [{ "name": container, "image": image }] } } },
    });
    let after = api
        .patch(
            &name,
            &PatchParams::apply(cluster::FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    Ok(DeployReply {
        name,
        container: Some(container),
        image: Some(image),
        revision: cluster::revision(&after),
    })
}

fn previous(dep: &Deployment) -> Option<Previous> {
    dep.annotations()
        .get(PREVIOUS_ANNOTATION)
        .and_then(|v| serde_json::from_str(v).ok())
}

/// Put back what ran before this job's `setImage`: that revision's pod template (like
/// `kubectl rollout undo --to-revision`), or the image when there was no revision.
async fn restore(
    api: &Api<Deployment>,
    rs: &Api<ReplicaSet>,
    dep: &Deployment,
    uid: &str,
) -> Result<DeployReply, ApiError> {
    let name = dep.name_any();
    let Some(p) = previous(dep).filter(|p| p.job_uid == uid) else {
        return Err(conflict(format!(
            "this job has not changed deployment {name:?}: {NOTHING_TO_PUT_BACK}"
        )));
    };
    match p.revision {
        Some(rev) => {
            let t = cluster::template_at(rs, dep, rev).await.map_err(conflict)?;
            cluster::restore(api, &name, &t).await.map_err(conflict)?;
        }
        None => {
            cluster::set_image(api, &name, &p.container, &p.image)
                .await
                .map_err(conflict)?;
        }
    }
    Ok(DeployReply {
        name,
        container: Some(p.container),
        image: Some(p.image),
        revision: p.revision,
    })
}

/// The smoke-test or build Pod's spec, from the environment (pure).
fn pod_spec(
    job: &AgentJob,
    d: &DeployerParams,
    env: &Environment,
    svc: &Service,
    kind: PodKind,
    git_sha: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    match kind {
        PodKind::Smoke => {
            let p = svc
                .smoke_test
                .as_ref()
                .or(env.smoke_test.as_ref())
                .and_then(|t| t.pod.as_ref())
                .ok_or_else(|| {
                    forbidden(format!(
                        "service {:?} of {:?} has no smoke-test Pod",
                        svc.name, env.name
                    ))
                })?;
            Ok(smoke::smoke_pod_spec(p, &svc.name, &d.version))
        }
        PodKind::Build => {
            let b = d.build.as_ref().filter(|b| b.enabled).ok_or_else(|| {
                forbidden("the job does not build (spec.deployer.build)".to_string())
            })?;
            let repo = job
                .spec
                .repository
                .as_ref()
                .ok_or_else(|| forbidden("a build needs spec.repository".to_string()))?;
            let sha = git_sha
                .filter(|s| s.len() == 40 && s.bytes().all(|c| c.is_ascii_hexdigit()))
                .ok_or_else(|| {
                    ApiError(
                        StatusCode::BAD_REQUEST,
                        "gitSha: a build needs the full 40-digit commit".into(),
                    )
                })?;
            let git_ref = b.git_ref.clone().unwrap_or_else(|| d.version.clone());
            let cfg = env.build.clone().unwrap_or_default();
            Ok(build::pod_spec(
                &cfg, svc, &repo.url, &git_ref, sha, &d.version,
            ))
        }
    }
}
