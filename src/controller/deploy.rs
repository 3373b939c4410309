//! The operator's side of the deployer: checking a job against the environments, and the
//! job-scoped permissions: a Role in the environment's namespace allowing
//! exactly what the rollout needs, bound to the job's ServiceAccount only while the job runs.
//! A namespaced object cannot be owned by a job in another namespace, so the operator removes
//! both when the job ends (and again when the job is deleted).

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::{Client, ResourceExt};

use super::pod::{LABEL_JOB_UID, MANAGED_BY, MANAGER, bounded_name, service_account_name};
use crate::api::environment::{Environment, Environments};
use crate::api::{AgentJob, AgentKind, DeployMode};

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
    if job.spec.agent != AgentKind::Deployer {
        return None;
    }
    envs.get(&job.spec.deployer.as_ref()?.environment)
}

/// Why a deployer job cannot run with the operator's environments (None: it can).
pub fn problem(job: &AgentJob, envs: &Environments) -> Option<String> {
    if job.spec.agent != AgentKind::Deployer {
        return None;
    }
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

/// What the rollout needs (pure): read Deployments and their ReplicaSets; patch exactly the
/// selected services' Deployments in native mode — by name, or for a service with a selector
/// the Deployment it matched when the rights were granted (`matched`), never "any"; run
/// build and smoke-test Pods only when the environment or the job uses them.
pub fn rules(job: &AgentJob, env: &Environment, matched: &[String]) -> Vec<PolicyRule> {
    let params = job.spec.deployer.clone().unwrap_or_default();
    let mut out = vec![
        rule("apps", &["deployments"], &["get", "list", "watch"], &[]),
        rule("apps", &["replicasets"], &["get", "list"], &[]),
    ];
    if params.mode == DeployMode::Native {
        let services = env.selected(&params.services).unwrap_or_default();
        let mut names: Vec<String> = services
            .iter()
            .filter(|s| s.selector.is_none())
            .map(|s| s.deployment.clone().unwrap_or_else(|| s.name.clone()))
            .chain(matched.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        // An empty resourceNames would mean every Deployment: then no patch right at all.
        if !names.is_empty() {
            out.push(rule("apps", &["deployments"], &["patch"], &names));
        }
    }
    let smoke_pod = env.smoke_test.as_ref().is_some_and(|t| t.pod.is_some())
        || env
            .services
            .iter()
            .any(|s| s.smoke_test.as_ref().is_some_and(|t| t.pod.is_some()));
    let build = params.build.as_ref().is_some_and(|b| b.enabled);
    if smoke_pod || build {
        out.push(rule(
            "",
            &["pods"],
            &["create", "get", "list", "watch", "delete"],
            &[],
        ));
        out.push(rule("", &["pods/log"], &["get"], &[]));
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

pub fn role(job: &AgentJob, env: &Environment, matched: &[String]) -> Role {
    Role {
        metadata: meta(job, env),
        rules: Some(rules(job, env, matched)),
    }
}

/// The Deployments the selected services with a selector match now (each must match one).
async fn matched(client: &Client, job: &AgentJob, env: &Environment) -> kube::Result<Vec<String>> {
    let params = job.spec.deployer.clone().unwrap_or_default();
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), &env.namespace);
    let mut out = Vec::new();
    for s in env.selected(&params.services).unwrap_or_default() {
        if let Some(sel) = &s.selector {
            let list = deployments
                .list(&kube::api::ListParams::default().labels(sel))
                .await?;
            if let [one] = &list.items[..] {
                out.push(one.name_any());
            }
        }
    }
    Ok(out)
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
    let matched = if job
        .spec
        .deployer
        .as_ref()
        .is_some_and(|d| d.mode == DeployMode::Native)
    {
        matched(client, job, env).await?
    } else {
        Vec::new()
    };
    let mut r = role(job, env, &matched);
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
        .filter(|d| job.spec.agent == AgentKind::Deployer && d.mode == DeployMode::Native)
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
        let live = match crate::agents::deployer::cluster::find(&api, svc).await {
            Ok(dep) => crate::agents::deployer::cluster::container(&dep, svc).map(|(_, i)| i),
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
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AgentJobSpec, DeployerParams};

    fn setup(mode: DeployMode) -> (AgentJob, Environments) {
        let envs = Environments::parse(
            "environments: [{name: staging, namespace: shop, services: [{name: api, image: r/api}, {name: rpc, deployment: shop-rpc, image: r/rpc}]}]",
        )
        .unwrap();
        let mut spec = AgentJobSpec::new(AgentKind::Deployer);
        spec.deployer = Some(DeployerParams {
            environment: "staging".into(),
            version: "v2".into(),
            mode,
            ..Default::default()
        });
        let mut job = AgentJob::new("ship", spec);
        job.metadata.namespace = Some("team".into());
        job.metadata.uid = Some("0123abcd-0000".into());
        (job, envs)
    }

    #[test]
    fn native_mode_may_patch_exactly_the_environments_deployments() {
        let (job, envs) = setup(DeployMode::Native);
        let env = environment(&job, &envs).unwrap();
        let r = rules(&job, env, &[]);
        let patch = r.iter().find(|r| r.verbs == ["patch"]).unwrap();
        assert_eq!(
            patch.resource_names.as_deref(),
            Some(&["api".to_string(), "shop-rpc".to_string()][..])
        );
        // No Pods, Secrets or anything else without a smoke Pod or a build.
        assert!(r.iter().all(|r| r.resources.as_ref().unwrap()[0] != "pods"));
        assert!(r.iter().all(|r| !r.verbs.iter().any(|v| v == "*")));
        let b = binding(&job, env);
        assert_eq!(b.metadata.namespace.as_deref(), Some("shop"));
        let s = &b.subjects.unwrap()[0];
        assert_eq!(s.namespace.as_deref(), Some("team"));
        assert_eq!(name(&job), "devagents-deploy-ship-0123abcd");
    }

    #[test]
    fn gitops_mode_only_reads() {
        let (job, envs) = setup(DeployMode::Gitops);
        let r = rules(&job, environment(&job, &envs).unwrap(), &[]);
        assert!(r.iter().all(|r| {
            r.verbs
                .iter()
                .all(|v| ["get", "list", "watch"].contains(&v.as_str()))
        }));
    }

    #[test]
    fn a_selector_service_may_patch_only_the_deployment_it_matched() {
        let envs = Environments::parse(
            "environments: [{name: staging, namespace: shop, services: [{name: api, selector: app=api, image: r/api}]}]",
        )
        .unwrap();
        let (mut job, _) = setup(DeployMode::Native);
        job.spec.deployer.as_mut().unwrap().environment = "staging".into();
        let env = environment(&job, &envs).unwrap();
        let r = rules(&job, env, &["api-v2".to_string()]);
        let patch = r.iter().find(|r| r.verbs == ["patch"]).unwrap();
        assert_eq!(
            patch.resource_names.as_deref(),
            Some(&["api-v2".to_string()][..])
        );
        // Nothing matched: no patch right at all (never every Deployment).
        let r = rules(&job, env, &[]);
        assert!(r.iter().all(|r| r.verbs != ["patch"]));
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
