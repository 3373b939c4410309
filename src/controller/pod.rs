//! The objects an attempt needs, built purely from the job and the config: the agent Pod and
//! the job's ServiceAccount.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::{Resource, ResourceExt};
use serde_json::json;

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

fn owner_reference(job: &AgentJob) -> serde_json::Value {
    json!({
        "apiVersion": AgentJob::api_version(&()),
        "kind": AgentJob::kind(&()),
        "name": job.name_any(),
        "uid": job.uid().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
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

/// The per-job ServiceAccount: owned by the job, no token automounted.
pub fn service_account(job: &AgentJob) -> ServiceAccount {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {
            "name": service_account_name(&job.name_any()),
            "namespace": job.namespace(),
            "labels": labels(job),
            "annotations": { ANNOTATION_JOB: job.name_any() },
            "ownerReferences": [owner_reference(job)],
        },
        "automountServiceAccountToken": false,
    }))
    .unwrap_or_default()
}

/// The agent Pod of `attempt`.
pub fn agent_pod(job: &AgentJob, attempt: i32, cfg: &Config) -> Pod {
    let name = job.name_any();
    let mut l = labels(job);
    l.insert(LABEL_ATTEMPT.into(), attempt.to_string());
    let spec_json = serde_json::to_string(&job.spec).unwrap_or_default();
    let r = &cfg.resources;
    let mut pod: serde_json::Value = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod_name(&name, attempt),
            "namespace": job.namespace(),
            "labels": l,
            "annotations": { ANNOTATION_JOB: name },
            "ownerReferences": [owner_reference(job)],
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": job.spec.timeout_seconds,
            "serviceAccountName": service_account_name(&name),
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": 10,
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": cfg.run_as_user,
                "runAsGroup": cfg.run_as_user,
                "fsGroup": cfg.run_as_user,
                "seccompProfile": { "type": "RuntimeDefault" },
            },
            "containers": [{
                "name": "agent",
                "image": cfg.agent_image,
                "imagePullPolicy": cfg.image_pull_policy,
                "command": ["agent-runner"],
                "args": ["run"],
                "env": [
                    { "name": ENV_JOB_NAME, "value": name },
                    { "name": ENV_JOB_NAMESPACE, "value": job.namespace() },
                    { "name": ENV_JOB_UID, "value": job.uid().unwrap_or_default() },
                    { "name": ENV_ATTEMPT, "value": attempt.to_string() },
                    { "name": ENV_JOB_SPEC, "value": spec_json },
                    { "name": "HOME", "value": "/tmp" },
                    { "name": ENV_GITHUB_API_URL, "value": cfg.github_api_url },
                ],
                "resources": {
                    "requests": { "cpu": r.cpu_request, "memory": r.memory_request },
                    "limits": { "cpu": r.cpu_limit, "memory": r.memory_limit },
                },
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "runAsNonRoot": true,
                    "privileged": false,
                    "capabilities": { "drop": ["ALL"] },
                },
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [
                    { "name": "tmp", "mountPath": "/tmp" },
                    { "name": "workspace", "mountPath": "/workspace" },
                ],
                "workingDir": "/workspace",
            }],
            "volumes": [
                { "name": "tmp", "emptyDir": { "sizeLimit": "1Gi" } },
                { "name": "workspace", "emptyDir": { "sizeLimit": "4Gi" } },
            ],
        }
    });
    if let Some(secret) = job
        .spec
        .repository
        .as_ref()
        .and_then(|r| r.credentials_secret.as_ref())
    {
        // The git/GitHub token the agent clones and pushes with: a read-only file, never an
        // environment variable (those end up in process listings and crash dumps).
        let spec = &mut pod["spec"];
        if let Some(v) = spec["volumes"].as_array_mut() {
            v.push(json!({ "name": "repository-credentials", "secret": {
                "secretName": secret, "defaultMode": 0o440 } }));
        }
        if let Some(m) = spec["containers"][0]["volumeMounts"].as_array_mut() {
            m.push(json!({ "name": "repository-credentials",
                "mountPath": crate::contract::CREDENTIALS_DIR, "readOnly": true }));
        }
    }
    if let Some(api) = &cfg.agent_api {
        // The job's identity towards the agent API: a projected token of its own
        // ServiceAccount, audience devagents.io, nothing else from the Kubernetes API.
        let spec = &mut pod["spec"];
        if let Some(v) = spec["volumes"].as_array_mut() {
            v.push(json!({ "name": "devagents-token", "projected": { "sources": [{ "serviceAccountToken": {
                "audience": crate::contract::AUDIENCE, "expirationSeconds": 3600, "path": "token" } }] } }));
        }
        let c = &mut spec["containers"][0];
        if let Some(m) = c["volumeMounts"].as_array_mut() {
            m.push(json!({ "name": "devagents-token", "mountPath": crate::contract::TOKEN_DIR, "readOnly": true }));
        }
        if let Some(e) = c["env"].as_array_mut() {
            e.push(json!({ "name": crate::contract::ENV_API_URL, "value": api.url }));
            e.push(json!({ "name": crate::contract::ENV_API_CA, "value": api.ca_pem }));
        }
    }
    cfg.agents.of(job.spec.agent).pod(job, &mut pod["spec"]);
    serde_json::from_value(pod).unwrap_or_default()
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
