//! The objects an attempt needs, built purely from the job and the config: the agent Pod and
//! the job's ServiceAccount.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, Pod, PodSecurityContext, PodSpec,
    ProjectedVolumeSource, ResourceRequirements, SeccompProfile, SecretVolumeSource,
    SecurityContext, ServiceAccount, ServiceAccountTokenProjection, Volume, VolumeMount,
    VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use super::config::Config;
use crate::api::AgentJob;

pub use crate::contract::{
    ANNOTATION_JOB, ENV_ATTEMPT, ENV_DEPLOY_ENVIRONMENT, ENV_GITHUB_API_URL, ENV_JOB_NAME,
    ENV_JOB_NAMESPACE, ENV_JOB_SPEC, ENV_JOB_UID, GITOPS_DIR, KUBE_API_DIR, LABEL_AGENT,
    LABEL_ATTEMPT, LABEL_JOB, LABEL_JOB_UID, MANAGED_BY, MANAGER, NOTION_DIR, SLACK_DIR,
    bounded_name, hex,
};

/// Deterministic pod name of an attempt: `<job>-<attempt>`.
pub fn pod_name(job: &str, attempt: i32) -> String {
    bounded_name(job, &format!("-{attempt}"), 253)
}

/// On a sealed agent Pod: the UID of the ServiceAccount it runs as (covered by the seal).
pub const ANNOTATION_SA_UID: &str = "devagents.io/service-account-uid";

/// Seal `pod`, attempt `attempt` of `job` run as the ServiceAccount with UID `sa_uid`.
pub fn seal(
    pod: &mut Pod,
    key: &super::config::SealKey,
    job: &AgentJob,
    attempt: i32,
    sa_uid: &str,
) {
    let seal = key.seal(&job.uid().unwrap_or_default(), attempt, sa_uid);
    let a = pod.annotations_mut();
    a.insert(ANNOTATION_SA_UID.into(), sa_uid.into());
    a.insert(crate::contract::ANNOTATION_SEAL.into(), seal);
}

/// The ServiceAccount UID of `pod` when the operator sealed it as attempt `attempt` of `job`;
/// `None` for a Pod someone else made under that name.
pub fn sealed_account(
    pod: &Pod,
    key: &super::config::SealKey,
    job: &AgentJob,
    attempt: i32,
) -> Option<String> {
    let a = pod.annotations();
    let sa_uid = a.get(ANNOTATION_SA_UID)?;
    let seal = a.get(crate::contract::ANNOTATION_SEAL)?;
    let owned = pod
        .owner_references()
        .iter()
        .any(|o| job.uid().is_some_and(|u| u == o.uid));
    (owned && key.verify(&job.uid()?, attempt, sa_uid, seal)).then(|| sa_uid.clone())
}

/// The job's own ServiceAccount.
pub fn service_account_name(job: &str) -> String {
    bounded_name(&format!("agent-{job}"), "", 253)
}

fn owner_reference(job: &AgentJob) -> Vec<OwnerReference> {
    job.controller_owner_ref(&()).into_iter().collect()
}

fn labels(job: &AgentJob) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(MANAGED_BY.into(), MANAGER.into());
    l.insert(LABEL_JOB_UID.into(), job.uid().unwrap_or_default());
    l.insert(LABEL_AGENT.into(), job.spec.agent.as_str().into());
    let name = job.name_any();
    if name.len() <= 63 {
        l.insert(LABEL_JOB.into(), name);
    }
    l
}

fn meta(job: &AgentJob, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: job.namespace(),
        labels: Some(labels),
        annotations: Some([(ANNOTATION_JOB.to_string(), job.name_any())].into()),
        owner_references: Some(owner_reference(job)),
        ..ObjectMeta::default()
    }
}

/// The per-job ServiceAccount: owned by the job, no token automounted.
pub fn service_account(job: &AgentJob) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(job, service_account_name(&job.name_any()), labels(job)),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// An environment variable with a value.
pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// A read-only mount of volume `name` at `path`.
pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// A volume of Secret `secret` (files readable by the Pod's group only).
pub fn secret_volume(name: &str, secret: &str, optional: bool) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            default_mode: Some(0o440),
            optional: optional.then_some(true),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Secret `secret` mounted read-only at `dir` in the agent container (optional: a missing
/// Secret shows as a missing file, which the agent reports, instead of a Pod that never
/// starts).
pub fn mount_secret(
    spec: &mut k8s_openapi::api::core::v1::PodSpec,
    name: &str,
    secret: &str,
    dir: &str,
) {
    spec.volumes
        .get_or_insert_with(Vec::new)
        .push(secret_volume(name, secret, true));
    if let Some(c) = spec.containers.first_mut() {
        add_mount(c, mount(name, dir, true));
    }
}

fn empty_dir(name: &str, size: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(size.into())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The agent Pod of `attempt`.
pub fn agent_pod(job: &AgentJob, attempt: i32, cfg: &Config) -> Pod {
    let name = job.name_any();
    let mut l = labels(job);
    l.insert(LABEL_ATTEMPT.into(), attempt.to_string());
    let spec_json = serde_json::to_string(&job.spec).unwrap_or_default();
    let r = &cfg.resources;
    let quantities = |cpu: &str, memory: &str| {
        Some(BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
        ]))
    };
    let mut container = Container {
        name: "agent".into(),
        image: Some(cfg.agent_image.clone()),
        image_pull_policy: Some(cfg.image_pull_policy.clone()),
        command: Some(vec!["agent-runner".into()]),
        args: Some(vec!["run".into()]),
        env: Some(vec![
            env(ENV_JOB_NAME, name.clone()),
            env(ENV_JOB_NAMESPACE, job.namespace().unwrap_or_default()),
            env(ENV_JOB_UID, job.uid().unwrap_or_default()),
            env(ENV_ATTEMPT, attempt.to_string()),
            env(ENV_JOB_SPEC, spec_json),
            env("HOME", "/tmp"),
            env(ENV_GITHUB_API_URL, cfg.github_api_url.clone()),
            env(
                crate::services::logging::ENV_LOG_FORMAT,
                cfg.log_format.as_str().to_string(),
            ),
        ]),
        resources: Some(ResourceRequirements {
            requests: quantities(&r.cpu_request, &r.memory_request),
            limits: quantities(&r.cpu_limit, &r.memory_limit),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        volume_mounts: Some(vec![
            mount("tmp", "/tmp", false),
            mount("workspace", "/workspace", false),
        ]),
        working_dir: Some("/workspace".into()),
        ..Container::default()
    };
    let mut volumes = vec![empty_dir("tmp", "1Gi"), empty_dir("workspace", "4Gi")];
    if let Some(secret) = job
        .spec
        .repository
        .as_ref()
        .and_then(|r| r.credentials_secret.as_ref())
    {
        // The git/GitHub token the agent clones and pushes with: a read-only file, never an
        // environment variable (those end up in process listings and crash dumps).
        volumes.push(secret_volume("repository-credentials", secret, false));
        add_mount(
            &mut container,
            mount(
                "repository-credentials",
                crate::contract::CREDENTIALS_DIR,
                true,
            ),
        );
    }
    if let Some(api) = &cfg.agent_api {
        // The job's identity towards the agent API: a projected token of its own
        // ServiceAccount, audience devagents.io, nothing else from the Kubernetes API.
        volumes.push(Volume {
            name: "devagents-token".into(),
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        audience: Some(crate::contract::AUDIENCE.into()),
                        expiration_seconds: Some(3600),
                        path: "token".into(),
                    }),
                    ..VolumeProjection::default()
                }]),
                ..ProjectedVolumeSource::default()
            }),
            ..Volume::default()
        });
        add_mount(
            &mut container,
            mount("devagents-token", crate::contract::TOKEN_DIR, true),
        );
        add_env(
            &mut container,
            env(crate::contract::ENV_API_URL, api.url.clone()),
        );
        add_env(
            &mut container,
            env(crate::contract::ENV_API_CA, api.ca_pem.clone()),
        );
    }
    let mut spec = PodSpec {
        restart_policy: Some("Never".into()),
        active_deadline_seconds: Some(job.spec.timeout_seconds),
        service_account_name: Some(service_account_name(&name)),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(10),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(cfg.run_as_user),
            run_as_group: Some(cfg.run_as_user),
            fs_group: Some(cfg.run_as_user),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    cfg.agents.of(job.spec.agent).pod(job, &mut spec);
    Pod {
        metadata: meta(job, pod_name(&name, attempt), l),
        spec: Some(spec),
        status: None,
    }
}

/// Add a mount to `c`.
pub fn add_mount(c: &mut Container, m: VolumeMount) {
    c.volume_mounts.get_or_insert_with(Vec::new).push(m);
}

/// Add an environment variable to `c`.
pub fn add_env(c: &mut Container, e: EnvVar) {
    c.env.get_or_insert_with(Vec::new).push(e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AgentJobSpec, AgentKind};

    fn job(name: &str) -> AgentJob {
        let mut spec = AgentJobSpec::new(AgentKind::Probe);
        spec.probe = Some(Box::default());
        spec.timeout_seconds = 120;
        let mut j = AgentJob::new(name, spec);
        j.metadata.namespace = Some("team".into());
        j.metadata.uid = Some("uid-1".into());
        j
    }

    #[test]
    fn only_a_pod_the_operator_sealed_for_the_attempt_is_its_pod() {
        let cfg = Config::default();
        let j = job("probe");
        let mut p = agent_pod(&j, 1, &cfg);
        assert_eq!(sealed_account(&p, &cfg.seal_key, &j, 1), None, "unsealed");
        seal(&mut p, &cfg.seal_key, &j, 1, "sa-1");
        assert_eq!(
            sealed_account(&p, &cfg.seal_key, &j, 1).as_deref(),
            Some("sa-1")
        );
        assert_eq!(
            sealed_account(&p, &cfg.seal_key, &j, 2),
            None,
            "another attempt"
        );
        // Someone copies the seal but names another account: not the operator's Pod.
        let mut forged = p.clone();
        forged
            .annotations_mut()
            .insert(ANNOTATION_SA_UID.into(), "forged".into());
        assert_eq!(sealed_account(&forged, &cfg.seal_key, &j, 1), None);
        // A re-created job of the same name: not its Pod.
        let mut again = j.clone();
        again.metadata.uid = Some("uid-2".into());
        assert_eq!(sealed_account(&p, &cfg.seal_key, &again, 1), None);
    }

    #[test]
    fn pod_is_locked_down_and_owned() {
        let p = agent_pod(&job("probe"), 2, &Config::default());
        assert_eq!(p.metadata.name.as_deref(), Some("probe-2"));
        let spec = p.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.active_deadline_seconds, Some(120));
        assert_eq!(spec.automount_service_account_token, Some(false));
        assert_eq!(spec.service_account_name.as_deref(), Some("agent-probe"));
        let c = &spec.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..])
        );
        assert_eq!(spec.security_context.unwrap().run_as_non_root, Some(true));
        let res = c.resources.as_ref().unwrap();
        assert_eq!(res.requests.as_ref().unwrap()["memory"].0, "100Mi");
        assert_eq!(res.limits.as_ref().unwrap()["memory"].0, "1Gi");
        let owner = &p.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("AgentJob", "uid-1", Some(true))
        );
        let env: BTreeMap<_, _> = c
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(env[ENV_ATTEMPT], "2");
        let spec_back: AgentJobSpec = serde_json::from_str(&env[ENV_JOB_SPEC]).unwrap();
        assert_eq!(spec_back.agent, AgentKind::Probe);
    }

    #[test]
    fn names_stay_within_limits_and_are_deterministic() {
        let long = "a".repeat(253);
        let n = pod_name(&long, 10);
        assert!(n.len() <= 253, "{}", n.len());
        assert!(n.ends_with("-10"));
        assert_eq!(n, pod_name(&long, 10));
        assert_ne!(pod_name(&long, 1), pod_name(&"b".repeat(253), 1));
        assert_eq!(pod_name("x", 1), "x-1");
        assert!(service_account_name(&long).len() <= 253);
    }

    #[test]
    fn agent_api_adds_the_projected_token_and_nothing_else() {
        let cfg = Config {
            agent_api: Some(crate::controller::config::AgentApi {
                url: "https://op:8443".into(),
                ca_pem: "PEM".into(),
            }),
            ..Config::default()
        };
        let p = agent_pod(&job("probe"), 1, &cfg);
        let spec = p.spec.unwrap();
        assert_eq!(spec.automount_service_account_token, Some(false));
        let vol = spec
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "devagents-token")
            .unwrap();
        let src = &vol.projected.unwrap().sources.unwrap()[0];
        let tok = src.service_account_token.as_ref().unwrap();
        assert_eq!(tok.audience.as_deref(), Some("devagents.io"));
        let c = &spec.containers[0];
        assert!(
            c.volume_mounts
                .iter()
                .flatten()
                .any(|m| m.mount_path == crate::contract::TOKEN_DIR)
        );
        assert!(
            c.env
                .iter()
                .flatten()
                .any(|e| e.name == "DEVAGENTS_API_URL")
        );
    }

    #[test]
    fn repository_credentials_are_a_read_only_secret_volume() {
        let mut j = job("gen");
        assert!(
            agent_pod(&j, 1, &Config::default())
                .spec
                .unwrap()
                .volumes
                .unwrap()
                .iter()
                .all(|v| v.secret.is_none())
        );
        j.spec.repository = Some(crate::api::Repository {
            url: "https://github.com/acme/core.git".into(),
            base_branch: "main".into(),
            credentials_secret: Some("github-token".into()),
            allowed_paths: vec![],
        });
        let spec = agent_pod(&j, 1, &Config::default()).spec.unwrap();
        let vol = spec
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "repository-credentials")
            .unwrap();
        assert_eq!(
            vol.secret.unwrap().secret_name.as_deref(),
            Some("github-token")
        );
        let m = spec.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == "repository-credentials")
            .unwrap()
            .clone();
        assert_eq!(m.mount_path, crate::contract::CREDENTIALS_DIR);
        assert_eq!(m.read_only, Some(true));
        assert!(
            spec.containers[0]
                .env
                .iter()
                .flatten()
                .all(|e| e.value_from.is_none()),
            "no secret in the environment"
        );
    }

    #[test]
    fn service_account_has_no_token() {
        let sa = service_account(&job("probe"));
        assert_eq!(sa.automount_service_account_token, Some(false));
        assert_eq!(sa.metadata.owner_references.unwrap()[0].name, "probe");
    }
}
