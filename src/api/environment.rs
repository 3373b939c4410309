//! Deploy environments: operator configuration (`agent-operator run --environments FILE`, the
//! Helm value `environments`), not a custom resource. The operator resolves a deployer job's
//! `spec.deployer.environment` against it, derives the lock, the approval pins and the
//! job-scoped Role from it, and hands the resolved entry to the agent Pod with the job input.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The environments file: `environments: [...]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentsFile {
    #[serde(default)]
    pub environments: Vec<Environment>,
}

/// One environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub name: String,
    /// Namespace of the environment's Deployments.
    pub namespace: String,
    /// The services, in rollout order.
    pub services: Vec<Service>,
    /// Whether a deploy waits for an AgentApproval pinned to its images (default: only the
    /// environment named `production`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_approval: Option<bool>,
    /// Who may approve (users, `group:<name>`); empty: anyone allowed to approve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Approvals needed (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_approvals: Option<i32>,
    /// The namespaces whose AgentJobs may deploy here (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_namespaces: Vec<String>,
    /// Only jobs requested by a member of one of these groups (as the apiserver saw the
    /// requester) may deploy here (empty: anyone who may create the job).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_groups: Vec<String>,
    /// How long one service's rollout may take before it counts as failed (default 600 s),
    /// on top of the Deployment's own progressDeadlineSeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_timeout_seconds: Option<u64>,
    /// Run after every service's rollout (a service's own smoke test replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke_test: Option<SmokeTest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,
    /// Deploy through the environment's manifests repository instead of patching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitOps>,
    /// How images are built when a job asks for a build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
}

impl Environment {
    pub fn requires_approval(&self) -> bool {
        self.require_approval.unwrap_or(self.name == "production")
    }

    pub fn rollout_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.rollout_timeout_seconds.unwrap_or(600).max(1))
    }

    /// The services a job deploys: the requested ones (in the environment's order), or all.
    pub fn selected(&self, wanted: &[String]) -> Result<Vec<&Service>, String> {
        if let Some(unknown) = wanted
            .iter()
            .find(|w| !self.services.iter().any(|s| &s.name == *w))
        {
            return Err(format!(
                "spec.deployer.services: environment {:?} has no service {unknown:?} (it has: {})",
                self.name,
                self.service_names().join(", ")
            ));
        }
        Ok(self
            .services
            .iter()
            .filter(|s| wanted.is_empty() || wanted.contains(&s.name))
            .collect())
    }

    pub fn service_names(&self) -> Vec<String> {
        self.services.iter().map(|s| s.name.clone()).collect()
    }

    /// The exact images a deploy of `version` rolls out, by service: what an approval pins.
    pub fn images(
        &self,
        wanted: &[String],
        version: &str,
    ) -> Result<Vec<(String, String)>, String> {
        Ok(self
            .selected(wanted)?
            .into_iter()
            .map(|s| (s.name.clone(), format!("{}:{version}", s.image)))
            .collect())
    }
}

/// One service of an environment: which Deployment and container carry its image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub name: String,
    /// The Deployment's name (default: the service's name) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// ... or a label selector that matches exactly one Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The container to update (default: the container named like the service, or the only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Image repository, without a tag: `registry.example.com/shop/api`.
    pub image: String,
    /// Dockerfile of the service for builds (default `Dockerfile`), relative to `buildContext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Build context directory inside the repository (default: the repository root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_context: Option<String>,
    /// Replaces the environment's smoke test for this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke_test: Option<SmokeTest>,
}

/// Checks after a rollout; any failure rolls the deploy back.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmokeTest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpCheck>,
    /// A Pod the deployer runs to completion in the environment's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<SmokePod>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpCheck {
    /// `{version}` and `{service}` are replaced.
    pub url: String,
    /// Expected status (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// The body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// Attempts before the check fails (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Pause between attempts (default 2 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
    /// Per-request timeout (default 5 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmokePod {
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Default 300 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

/// Where the deployer reports. Secrets are read from the job's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notifications {
    /// Secret with key `webhook-url`: a Slack incoming webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notion: Option<NotionTarget>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotionTarget {
    /// Secret with key `token`.
    pub secret: String,
    /// Database that gets one row per deploy: a database id (its one data source is used) or
    /// the id of one of its data sources (needed when it has several).
    pub database_id: String,
    /// Notion API base URL (default `https://api.notion.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// GitOps: the new tag is committed to the environment's manifests; Argo CD / Flux applies it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitOps {
    /// The manifests repository (https).
    pub repository: String,
    /// Branch the GitOps tool follows (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Secret (in the job's namespace) with `username` and `token` for the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// The file to change, e.g. `envs/staging/kustomization.yaml` or `envs/staging/values.yaml`.
    pub file: String,
    #[serde(default)]
    pub format: GitOpsFormat,
    /// For Helm values: the key of a service's tag, `{service}` replaced
    /// (default `{service}.image.tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    /// `direct` commits to the branch; `pull-request` pushes a branch and opens a PR.
    #[serde(default)]
    pub push: GitOpsPush,
    /// `owner/name` on GitHub, for `pull-request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_repo: Option<String>,
    /// How long to wait for the cluster to match (default 600 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_timeout_seconds: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GitOpsFormat {
    #[default]
    Kustomize,
    HelmValues,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GitOpsPush {
    #[default]
    Direct,
    PullRequest,
}

/// Image builds (Kaniko's executor by default), one build Pod per service in the
/// environment's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildConfig {
    /// Default `gcr.io/kaniko-project/executor:v1.23.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_image: Option<String>,
    /// Secret (in the environment's namespace) holding the registry's `config.json`,
    /// mounted at `/kaniko/.docker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret: Option<String>,
    /// Default 1800 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

pub const DEFAULT_BUILDER_IMAGE: &str = "gcr.io/kaniko-project/executor:v1.23.2";

/// Environments by name, checked once when the operator starts.
#[derive(Clone, Debug, Default)]
pub struct Environments(BTreeMap<String, Environment>);

impl Environments {
    pub fn parse(yaml: &str) -> Result<Environments, String> {
        let file: EnvironmentsFile =
            serde_yaml::from_str(yaml).map_err(|e| format!("environments: {e}"))?;
        Self::new(file.environments)
    }

    pub fn new(list: Vec<Environment>) -> Result<Environments, String> {
        let label = regex::Regex::new(super::patterns::DNS_LABEL).map_err(|e| e.to_string())?;
        let mut out = BTreeMap::new();
        for e in list {
            let at = format!("environments[{}]", e.name);
            if !label.is_match(&e.name) || !label.is_match(&e.namespace) {
                return Err(format!("{at}: name and namespace must be DNS labels"));
            }
            if e.services.is_empty() {
                return Err(format!("{at}.services: at least one service"));
            }
            for s in &e.services {
                if !label.is_match(&s.name) {
                    return Err(format!(
                        "{at}.services[{}]: name must be a DNS label",
                        s.name
                    ));
                }
                if s.deployment.is_some() && s.selector.is_some() {
                    return Err(format!(
                        "{at}.services[{}]: set deployment or selector, not both",
                        s.name
                    ));
                }
                if s.image.is_empty() || s.image.contains('@') || tag_of(&s.image).is_some() {
                    return Err(format!(
                        "{at}.services[{}].image: a repository without tag or digest",
                        s.name
                    ));
                }
            }
            if out.insert(e.name.clone(), e).is_some() {
                return Err(format!("{at}: defined twice"));
            }
        }
        Ok(Environments(out))
    }

    pub fn get(&self, name: &str) -> Option<&Environment> {
        self.0.get(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// The environment a job names, or the error that ends the job.
    pub fn resolve(&self, name: &str) -> Result<&Environment, String> {
        self.get(name).ok_or_else(|| {
            let known = self.names();
            format!(
                "spec.deployer.environment: {name:?} is not configured ({})",
                if known.is_empty() {
                    "the operator has no environments".to_string()
                } else {
                    format!("configured: {}", known.join(", "))
                }
            )
        })
    }
}

/// The tag of `repo[:tag]` (a `:` after the last `/`).
pub fn tag_of(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
environments:
  - name: staging
    namespace: shop-staging
    services:
      - { name: api, image: registry.local:5000/shop/api }
      - { name: rpc, deployment: shop-rpc, image: registry.local:5000/shop/rpc }
  - name: production
    namespace: shop
    services:
      - { name: api, image: registry.local:5000/shop/api }
"#;

    #[test]
    fn parses_resolves_and_pins_images() {
        let envs = Environments::parse(YAML).unwrap();
        let st = envs.resolve("staging").unwrap();
        assert!(!st.requires_approval());
        assert!(envs.resolve("production").unwrap().requires_approval());
        assert_eq!(
            st.images(&[], "v2").unwrap(),
            vec![
                ("api".into(), "registry.local:5000/shop/api:v2".into()),
                ("rpc".into(), "registry.local:5000/shop/rpc:v2".into())
            ]
        );
        assert_eq!(st.images(&["rpc".into()], "v2").unwrap().len(), 1);
        let e = st.images(&["web".into()], "v2").unwrap_err();
        assert!(e.contains("no service \"web\" (it has: api, rpc)"), "{e}");
        let e = envs.resolve("qa").unwrap_err();
        assert!(e.contains("configured: production, staging"), "{e}");
    }

    #[test]
    fn bad_configuration_names_the_field() {
        let e = Environments::parse(
            "environments: [{name: s, namespace: n, services: [{name: api, image: 'r/api:v1'}]}]",
        )
        .unwrap_err();
        assert!(e.contains("environments[s].services[api].image"), "{e}");
        let e = Environments::parse("environments: [{name: s, namespace: n, services: []}]")
            .unwrap_err();
        assert!(e.contains("at least one service"), "{e}");
        assert_eq!(tag_of("registry.local:5000/shop/api"), None);
        assert_eq!(tag_of("registry.local:5000/shop/api:v1"), Some("v1"));
    }
}
