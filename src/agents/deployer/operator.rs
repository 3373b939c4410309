//! The operator's side of the deployer ([`Hooks`], its [`OperatorSide`]): checking a job
//! against the environments, the deploy lock of its environment, the approval an environment
//! requires (pinned to the exact images), the Pod's Kubernetes API token and notification
//! Secrets, and the job-scoped permissions: a Role in the environment's namespace allowing
//! exactly what the rollout needs, bound to the job's ServiceAccount only while the job runs.
//! A namespaced object cannot be owned by a job in another namespace, so the operator removes
//! both when the job ends (and again when the job is deleted).

use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::{Client, ResourceExt};

use super::ops::{self, PodKind};
use crate::api::environment::{Environment, Environments};
use crate::api::{AgentJob, DeployMode, Phase, Pin};
use crate::contract::{
    ENV_DEPLOY_ENVIRONMENT, GITOPS_DIR, KUBE_API_DIR, LABEL_JOB_UID, MANAGED_BY, MANAGER,
    NOTION_DIR, SLACK_DIR,
};
use crate::controller::agent::{ApprovalNeed, CheckFailed, OperatorSide};
use crate::controller::metrics::{DeployLabel, EnvironmentLabel, Metrics};
use crate::controller::pod::{self, bounded_name, service_account_name};
use k8s_openapi::api::core::v1::PodSpec;

/// The deployer's operator side, over the operator's environments.
pub struct Hooks {
    pub environments: Arc<Environments>,
}

impl OperatorSide for Hooks {
    fn problem(&self, job: &AgentJob) -> Option<String> {
        problem(job, &self.environments)
    }

    /// The deploy lock of the environment, keyed by the environment's target namespace, so
    /// deploys of one environment never overlap whichever namespace their jobs live in.
    fn locks(&self, job: &AgentJob) -> Vec<String> {
        let Some(d) = &job.spec.deployer else {
            return Vec::new();
        };
        let target = self
            .environments
            .get(&d.environment)
            .map(|e| e.namespace.clone())
            .unwrap_or_else(|| job.namespace().unwrap_or_default());
        vec![format!("deploy/{target}/{}", d.environment)]
    }

    /// An environment that requires approval is decided by its approvers (the job may raise
    /// the quorum, never change who decides), pinned to the exact images (`image<Service>`),
    /// so another version needs another approval.
    fn approval(&self, job: &AgentJob) -> Option<ApprovalNeed> {
        let d = job.spec.deployer.as_ref()?;
        let env = self.environments.get(&d.environment)?;
        if !env.requires_approval() {
            return None;
        }
        let images = env.images(&d.services, &d.version).unwrap_or_default();
        Some(ApprovalNeed {
            action: "deploy",
            description: format!(
                "deploy {} to {} ({})",
                d.version,
                env.name,
                images
                    .iter()
                    .map(|(_, i)| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            pins: images
                .into_iter()
                .map(|(service, image)| Pin {
                    name: image_pin(&service),
                    value: image,
                })
                .collect(),
            approvers: env.approvers.clone(),
            required: env.required_approvals.unwrap_or(1).max(1),
        })
    }

    fn pod(&self, job: &AgentJob, pod_spec: &mut PodSpec) {
        if let Some(env) = environment(job, &self.environments) {
            pod_extras(pod_spec, env);
        }
    }

    fn grant<'a>(
        &'a self,
        client: &'a Client,
        job: &'a AgentJob,
    ) -> BoxFuture<'a, kube::Result<()>> {
        async move {
            match environment(job, &self.environments) {
                Some(env) => grant(client, job, env).await,
                None => Ok(()),
            }
        }
        .boxed()
    }

    fn revoke<'a>(
        &'a self,
        client: &'a Client,
        job: &'a AgentJob,
    ) -> BoxFuture<'a, kube::Result<bool>> {
        async move {
            match environment(job, &self.environments) {
                Some(env) => revoke(client, job, env).await,
                None => Ok(false),
            }
        }
        .boxed()
    }

    fn check_success<'a>(
        &'a self,
        client: &'a Client,
        job: &'a AgentJob,
    ) -> BoxFuture<'a, kube::Result<Option<CheckFailed>>> {
        async move {
            Ok(live_mismatch(client, job, &self.environments)
                .await?
                .map(|message| CheckFailed {
                    reason: "LiveImageMismatch",
                    message,
                }))
        }
        .boxed()
    }

    fn rolls_back(&self) -> bool {
        true
    }

    fn finished(&self, job: &AgentJob, phase: Phase, metrics: &Metrics) {
        let Some(d) = job.spec.deployer.as_ref() else {
            return;
        };
        metrics
            .deploys
            .get_or_create(&DeployLabel {
                environment: d.environment.clone(),
                outcome: format!("{phase:?}"),
            })
            .inc();
        let seconds = job
            .status
            .as_ref()
            .and_then(|s| s.result.as_ref())
            .and_then(|r| r.data.as_ref())
            .and_then(|d| d.get("rolloutSeconds"))
            .and_then(|v| v.as_f64());
        if let Some(s) = seconds {
            metrics
                .deploy_duration
                .get_or_create(&EnvironmentLabel {
                    environment: d.environment.clone(),
                })
                .observe(s);
        }
    }
}

/// The pin naming a service's image (pin names are alphanumeric): `user-rpc` → `imageUserRpc`.
pub fn image_pin(service: &str) -> String {
    let mut out = String::from("image");
    for part in service.split('-').filter(|p| !p.is_empty()) {
        let mut c = part.chars();
        if let Some(f) = c.next() {
            out.extend(f.to_uppercase());
            out.push_str(c.as_str());
        }
    }
    out
}

pub const ANNOTATION_JOB_REF: &str = "devagents.io/job";

/// Name of the Role and RoleBinding of a job (unique per job UID).
pub fn name(job: &AgentJob) -> String {
    let uid = job.uid().unwrap_or_default().replace('-', "");
    let short: String = uid.chars().take(8).collect();
    bounded_name(
        &format!("devagents-deploy-{}", job.name_any()),
        &format!("-{short}"),
        63,
    )
}

/// The environment a deployer job works on (None for other jobs or an unknown environment).
pub fn environment<'a>(job: &AgentJob, envs: &'a Environments) -> Option<&'a Environment> {
    envs.get(&job.spec.deployer.as_ref()?.environment)
}

/// Why a deployer job cannot run with the operator's environments (None: it can).
pub fn problem(job: &AgentJob, envs: &Environments) -> Option<String> {
    let d = job.spec.deployer.as_ref()?;
    let env = match envs.resolve(&d.environment) {
        Ok(e) => e,
        Err(e) => return Some(e),
    };
    // Who may deploy here: the job's namespace, and its requester's groups.
    let ns = job.namespace().unwrap_or_default();
    if !env.allowed_namespaces.is_empty() && !env.allowed_namespaces.contains(&ns) {
        return Some(format!(
            "spec.deployer.environment: jobs of namespace {ns} may not deploy to {:?} (allowedNamespaces: {})",
            env.name,
            env.allowed_namespaces.join(", ")
        ));
    }
    let requester = job.spec.requested_by.as_ref();
    if !env.allowed_groups.is_empty()
        && !requester.is_some_and(|r| r.groups.iter().any(|g| env.allowed_groups.contains(g)))
    {
        return Some(format!(
            "spec.deployer.environment: {} may not deploy to {:?}: not in any of its allowedGroups ({})",
            requester.map_or("an unknown requester", |r| r.username.as_str()),
            env.name,
            env.allowed_groups.join(", ")
        ));
    }
    if let Err(e) = env.selected(&d.services) {
        return Some(e);
    }
    if d.mode == DeployMode::Gitops && env.gitops.is_none() {
        return Some(format!(
            "spec.deployer.mode: gitops, but environment {:?} has no gitops configuration",
            env.name
        ));
    }
    if d.build.as_ref().is_some_and(|b| b.enabled) && job.spec.repository.is_none() {
        return Some("spec.deployer.build needs spec.repository (the source to build)".into());
    }
    None
}

fn rule(group: &str, resources: &[&str], verbs: &[&str], names: &[String]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        resource_names: (!names.is_empty()).then(|| names.to_vec()),
        ..PolicyRule::default()
    }
}

/// What the deployer's own identity may do in the environment's namespace (pure): read
/// Deployments (to find them and follow their rollouts), and read exactly this job's
/// smoke-test and build Pods. Nothing else, and no write at all: the operator performs the
/// image changes, rollbacks and Pods on the deployer's request (`POST /deploy` of the agent
/// API), so a token minted for the job's ServiceAccount can change nothing there.
pub fn rules(job: &AgentJob, env: &Environment) -> Vec<PolicyRule> {
    let params = job.spec.deployer.clone().unwrap_or_default();
    let mut out = vec![rule(
        "apps",
        &["deployments"],
        &["get", "list", "watch"],
        &[],
    )];
    let services = env.selected(&params.services).unwrap_or_default();
    let build = params.build.as_ref().is_some_and(|b| b.enabled);
    let mut pods: Vec<String> = Vec::new();
    for s in services {
        let smoke_pod = s
            .smoke_test
            .as_ref()
            .or(env.smoke_test.as_ref())
            .is_some_and(|t| t.pod.is_some());
        if smoke_pod && params.mode == DeployMode::Native {
            pods.push(ops::pod_name(&job.name_any(), PodKind::Smoke, &s.name));
        }
        if build {
            pods.push(ops::pod_name(&job.name_any(), PodKind::Build, &s.name));
        }
    }
    // An empty resourceNames would mean every Pod: then no Pod right at all.
    if !pods.is_empty() {
        out.push(rule("", &["pods"], &["get", "list", "watch"], &pods));
    }
    out
}

fn meta(job: &AgentJob, env: &Environment) -> ObjectMeta {
    ObjectMeta {
        name: Some(name(job)),
        namespace: Some(env.namespace.clone()),
        labels: Some(
            [
                (MANAGED_BY.to_string(), MANAGER.to_string()),
                (LABEL_JOB_UID.to_string(), job.uid().unwrap_or_default()),
            ]
            .into(),
        ),
        annotations: Some(
            [(
                ANNOTATION_JOB_REF.to_string(),
                format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any()),
            )]
            .into(),
        ),
        ..ObjectMeta::default()
    }
}

pub fn role(job: &AgentJob, env: &Environment) -> Role {
    Role {
        metadata: meta(job, env),
        rules: Some(rules(job, env)),
    }
}

pub fn binding(job: &AgentJob, env: &Environment) -> RoleBinding {
    RoleBinding {
        metadata: meta(job, env),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name(job),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: service_account_name(&job.name_any()),
            namespace: job.namespace(),
            ..Subject::default()
        }]),
    }
}

/// Create (or update) the Role and its binding before the deployer's Pod starts.
pub async fn grant(client: &Client, job: &AgentJob, env: &Environment) -> kube::Result<()> {
    let pp = PatchParams::apply(MANAGER).force();
    let roles: Api<Role> = Api::namespaced(client.clone(), &env.namespace);
    let mut r = role(job, env);
    r.metadata.managed_fields = None;
    let mut v = serde_json::to_value(&r).unwrap_or_default();
    v["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
    v["kind"] = "Role".into();
    roles.patch(&name(job), &pp, &Patch::Apply(v)).await?;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &env.namespace);
    let mut v = serde_json::to_value(binding(job, env)).unwrap_or_default();
    v["apiVersion"] = "rbac.authorization.k8s.io/v1".into();
    v["kind"] = "RoleBinding".into();
    bindings.patch(&name(job), &pp, &Patch::Apply(v)).await?;
    Ok(())
}

/// After a native deploy reported success: do the environment's Deployments run exactly the
/// images the job was to roll out? (Anyone who wore the job's identity during the deploy
/// could have set another one.) `Some(what differs)` when they do not.
pub async fn live_mismatch(
    client: &Client,
    job: &AgentJob,
    envs: &Environments,
) -> kube::Result<Option<String>> {
    let Some(d) = job
        .spec
        .deployer
        .as_ref()
        .filter(|d| d.mode == DeployMode::Native)
    else {
        return Ok(None);
    };
    let Ok(env) = envs.resolve(&d.environment) else {
        return Ok(None);
    };
    let services = env.selected(&d.services).unwrap_or_default();
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), &env.namespace);
    let mut wrong = Vec::new();
    for (name, expected) in env.images(&d.services, &d.version).unwrap_or_default() {
        let Some(svc) = services.iter().find(|s| s.name == name) else {
            continue;
        };
        let live = match super::cluster::find(&api, svc).await {
            Ok(dep) => super::cluster::container(&dep, svc).map(|(_, i)| i),
            Err(e) => Err(e),
        };
        match live {
            Ok(image) if image == expected => {}
            Ok(image) => wrong.push(format!("{name} runs {image}, not {expected}")),
            Err(e) => wrong.push(e),
        }
    }
    Ok((!wrong.is_empty()).then(|| {
        format!(
            "the deploy reported success, but the live images differ: {}",
            wrong.join("; ")
        )
    }))
}

/// Remove the binding, then the Role; missing objects are fine.
pub async fn revoke(client: &Client, job: &AgentJob, env: &Environment) -> kube::Result<bool> {
    let mut removed = false;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &env.namespace);
    match bindings.delete(&name(job), &DeleteParams::default()).await {
        Ok(_) => removed = true,
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e),
    }
    let roles: Api<Role> = Api::namespaced(client.clone(), &env.namespace);
    match roles.delete(&name(job), &DeleteParams::default()).await {
        Ok(_) => removed = true,
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e),
    }
    // Smoke-test and build Pods the operator started for the job and the agent did not get
    // to delete (it was killed, or timed out).
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), &env.namespace);
    let uid = job.uid().unwrap_or_default();
    let list = pods
        .list(&kube::api::ListParams::default().labels(&format!("{LABEL_JOB_UID}={uid}")))
        .await?;
    let ours: Vec<String> = [PodKind::Smoke, PodKind::Build]
        .iter()
        .flat_map(|k| {
            env.services
                .iter()
                .map(|s| ops::pod_name(&job.name_any(), *k, &s.name))
        })
        .collect();
    for p in list.items.iter().filter(|p| ours.contains(&p.name_any())) {
        match pods.delete(&p.name_any(), &DeleteParams::default()).await {
            Ok(_) => removed = true,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The deployer alone talks to the Kubernetes API, with a token of its job's ServiceAccount
/// (which holds a Role in the environment's namespace only while the job runs).
fn pod_extras(spec: &mut PodSpec, env: &Environment) {
    use k8s_openapi::api::core::v1::{
        ConfigMapProjection, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
        ObjectFieldSelector, ProjectedVolumeSource, ServiceAccountTokenProjection, Volume,
        VolumeProjection,
    };
    // The standard in-cluster files: a token of the job's account, the cluster's CA, the
    // namespace.
    let mut volumes = vec![Volume {
        name: "kube-api-access".into(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(vec![
                VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        expiration_seconds: Some(3600),
                        path: "token".into(),
                        ..ServiceAccountTokenProjection::default()
                    }),
                    ..VolumeProjection::default()
                },
                VolumeProjection {
                    config_map: Some(ConfigMapProjection {
                        name: "kube-root-ca.crt".into(),
                        items: Some(vec![KeyToPath {
                            key: "ca.crt".into(),
                            path: "ca.crt".into(),
                            ..KeyToPath::default()
                        }]),
                        ..ConfigMapProjection::default()
                    }),
                    ..VolumeProjection::default()
                },
                VolumeProjection {
                    downward_api: Some(DownwardAPIProjection {
                        items: Some(vec![DownwardAPIVolumeFile {
                            path: "namespace".into(),
                            field_ref: Some(ObjectFieldSelector {
                                api_version: Some("v1".into()),
                                field_path: "metadata.namespace".into(),
                            }),
                            ..DownwardAPIVolumeFile::default()
                        }]),
                    }),
                    ..VolumeProjection::default()
                },
            ]),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    }];
    let mut mounts = vec![pod::mount("kube-api-access", KUBE_API_DIR, true)];
    let notifications = env.notifications.clone().unwrap_or_default();
    let secrets = [
        ("slack", notifications.slack_secret.clone(), SLACK_DIR),
        (
            "notion",
            notifications.notion.as_ref().map(|n| n.secret.clone()),
            NOTION_DIR,
        ),
        (
            "gitops",
            env.gitops
                .as_ref()
                .and_then(|g| g.credentials_secret.clone()),
            GITOPS_DIR,
        ),
    ];
    for (name, secret, dir) in secrets {
        if let Some(secret) = secret {
            volumes.push(pod::secret_volume(name, &secret, true));
            mounts.push(pod::mount(name, dir, true));
        }
    }
    spec.volumes.get_or_insert_with(Vec::new).extend(volumes);
    if let Some(c) = spec.containers.first_mut() {
        for m in mounts {
            pod::add_mount(c, m);
        }
        pod::add_env(
            c,
            pod::env(
                ENV_DEPLOY_ENVIRONMENT,
                serde_json::to_string(env).unwrap_or_default(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AgentJobSpec, AgentKind, DeployerParams};

    fn setup(mode: DeployMode) -> (AgentJob, Environments) {
        let envs = Environments::parse(
            "environments: [{name: staging, namespace: shop, services: [{name: api, image: r/api}, {name: rpc, deployment: shop-rpc, image: r/rpc}]}]",
        )
        .unwrap();
        let mut spec = AgentJobSpec::new(AgentKind::Deployer);
        spec.deployer = Some(Box::new(DeployerParams {
            environment: "staging".into(),
            version: "v2".into(),
            mode,
            ..Default::default()
        }));
        let mut job = AgentJob::new("ship", spec);
        job.metadata.namespace = Some("team".into());
        job.metadata.uid = Some("0123abcd-0000".into());
        (job, envs)
    }

    fn only_reads(r: &[PolicyRule]) -> bool {
        r.iter().all(|r| {
            r.verbs
                .iter()
                .all(|v| ["get", "list", "watch"].contains(&v.as_str()))
        })
    }

    #[test]
    fn native_mode_only_reads_deployments_the_operator_writes() {
        let (job, envs) = setup(DeployMode::Native);
        let env = environment(&job, &envs).unwrap();
        let r = rules(&job, env);
        assert!(only_reads(&r), "{r:?}");
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].resources.as_deref(),
            Some(&["deployments".to_string()][..])
        );
        // No Pods, ReplicaSets, Secrets or anything else without a smoke Pod or a build.
        assert!(r.iter().all(|r| r.resources.as_ref().unwrap()[0] != "pods"));
        let b = binding(&job, env);
        assert_eq!(b.metadata.namespace.as_deref(), Some("shop"));
        let s = &b.subjects.unwrap()[0];
        assert_eq!(s.namespace.as_deref(), Some("team"));
        assert_eq!(name(&job), "devagents-deploy-ship-0123abcd");
    }

    #[test]
    fn gitops_mode_only_reads() {
        let (job, envs) = setup(DeployMode::Gitops);
        assert!(only_reads(&rules(&job, environment(&job, &envs).unwrap())));
    }

    #[test]
    fn smoke_and_build_pods_are_readable_by_name_only() {
        let envs = Environments::parse(
            "environments: [{name: staging, namespace: shop, smokeTest: {pod: {image: curl}}, services: [{name: api, image: r/api}, {name: rpc, image: r/rpc, smokeTest: {http: [{url: 'http://rpc'}]}}]}]",
        )
        .unwrap();
        let (mut job, _) = setup(DeployMode::Native);
        job.spec.deployer.as_mut().unwrap().build = Some(crate::api::ImageBuild {
            enabled: true,
            ..Default::default()
        });
        let r = rules(&job, environment(&job, &envs).unwrap());
        assert!(only_reads(&r), "{r:?}");
        let pods = r
            .iter()
            .find(|r| r.resources.as_deref() == Some(&["pods".to_string()][..]))
            .unwrap();
        assert_eq!(
            pods.resource_names.as_deref(),
            Some(
                &[
                    "ship-smoke-api".to_string(),
                    "ship-build-api".to_string(),
                    "ship-build-rpc".to_string()
                ][..]
            )
        );
    }

    #[test]
    fn an_environment_may_be_closed_to_other_namespaces_and_groups() {
        let envs = Environments::parse(
            "environments: [{name: staging, namespace: shop, allowedNamespaces: [team], allowedGroups: [sre], services: [{name: api, image: r/api}]}]",
        )
        .unwrap();
        let (mut job, _) = setup(DeployMode::Native);
        job.spec.requested_by = Some(crate::api::RequestedBy {
            username: "alice".into(),
            uid: None,
            groups: vec!["devagents:users".into()],
        });
        let msg = problem(&job, &envs).unwrap();
        assert!(msg.contains("alice may not deploy to \"staging\""), "{msg}");
        job.spec
            .requested_by
            .as_mut()
            .unwrap()
            .groups
            .push("sre".into());
        assert_eq!(problem(&job, &envs), None);
        job.metadata.namespace = Some("other".into());
        let msg = problem(&job, &envs).unwrap();
        assert!(
            msg.contains("jobs of namespace other may not deploy"),
            "{msg}"
        );
    }
}
