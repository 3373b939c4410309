//! A deploy from start to end: resolve the environment's Deployments, build (optional), roll
//! each service out in order (or commit the tag in GitOps mode), smoke-test, roll back every
//! service this job changed when anything fails, notify, and report.

mod native;
mod notify;
mod rollback;
mod smoke_test;
mod via_gitops;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use serde::Serialize;

use super::cluster::{self, Outcome};
use super::ops::{DeployOp, NOTHING_TO_PUT_BACK, PodKind, pod_name};
use super::smoke::{self, CheckResult};
use super::{build, gitops};
use crate::agents::Host;
use crate::api::environment::{Environment, GitOpsPush, Service};
use crate::api::{DeployMode, DeployerParams, Repository};
use crate::services::git::{AllowedPaths, Credentials, Identity, Workspace, WorkspaceOptions};

/// What the deployer needs besides its parameters.
pub struct Setup {
    pub client: Client,
    pub env: Environment,
    pub job_name: String,
    /// The source repository (for builds) and its credentials.
    pub repository: Option<Repository>,
    pub credentials: Option<Credentials>,
    pub gitops_credentials: Option<Credentials>,
    pub github_api: String,
    pub slack: Option<crate::services::slack::Slack>,
    pub notion: Option<(crate::services::notion::Notion, String)>,
    pub workdir: PathBuf,
    /// When the job's own deadline (`timeoutSeconds`) ends, less the time a rollback needs.
    pub deadline: Option<Instant>,
}

/// How the deploy ended.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    RolledBack,
    Failed,
}

/// The job's result (`status.result.data`).
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub environment: String,
    pub namespace: String,
    pub version: String,
    pub mode: DeployMode,
    pub outcome: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub services: Vec<ServiceReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<BuildReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub smoke_tests: Vec<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitOpsReport>,
    /// When every rollout was confirmed (and smoke-tested), RFC 3339 with milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    pub rollout_seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<String>,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceReport {
    pub name: String,
    pub deployment: String,
    pub container: String,
    pub from_image: String,
    pub to_image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<i64>,
    /// Pending, Unchanged, RolledOut, Failed, RolledBack, RollbackFailed, Synced.
    pub state: String,
    pub rollout_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    pub service: String,
    pub pod: String,
    pub tags: Vec<String>,
    pub git_sha: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct GitOpsReport {
    pub repository: String,
    pub file: String,
    pub branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<String>,
}

impl Report {
    pub fn summary(&self) -> String {
        let what = format!(
            "{} to {} ({})",
            self.version,
            self.environment,
            self.services
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        match self.outcome {
            Verdict::Succeeded => format!("deployed {what} in {:.1}s", self.rollout_seconds),
            Verdict::RolledBack => format!(
                "rolled back {what}: {}",
                self.reason.clone().unwrap_or_default()
            ),
            Verdict::Failed => format!(
                "deploy of {what} failed: {}",
                self.reason.clone().unwrap_or_default()
            ),
        }
    }
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Millisecond)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

struct Deploy<'a, H: Host + ?Sized> {
    host: &'a H,
    params: &'a DeployerParams,
    setup: &'a Setup,
    deployments: Api<Deployment>,
    report: Report,
    started: Instant,
}

/// Run the deploy. The report says how it ended; `Verdict::RolledBack` means the previous
/// version runs again.
pub async fn run<H: Host + ?Sized>(host: &H, params: &DeployerParams, setup: &Setup) -> Report {
    let env = &setup.env;
    let mut d = Deploy {
        host,
        params,
        setup,
        deployments: Api::namespaced(setup.client.clone(), &env.namespace),
        report: Report {
            environment: env.name.clone(),
            namespace: env.namespace.clone(),
            version: params.version.clone(),
            mode: params.mode,
            outcome: Verdict::Failed,
            reason: None,
            services: Vec::new(),
            builds: Vec::new(),
            smoke_tests: Vec::new(),
            gitops: None,
            confirmed_at: None,
            rollout_seconds: 0.0,
            notifications: Vec::new(),
        },
        started: Instant::now(),
    };
    let verdict = d.deploy().await;
    d.report.rollout_seconds = d.started.elapsed().as_secs_f64();
    match verdict {
        Ok(()) => {
            d.report.outcome = Verdict::Succeeded;
            d.report.confirmed_at = Some(now_rfc3339());
        }
        Err((v, reason)) => {
            d.report.outcome = v;
            d.report.reason = Some(crate::services::redact::redact(&reason).into_owned());
        }
    }
    d.notify().await;
    d.report
}

type Step<T = ()> = Result<T, (Verdict, String)>;

fn failed(msg: impl Into<String>) -> (Verdict, String) {
    (Verdict::Failed, msg.into())
}

impl<H: Host + ?Sized> Deploy<'_, H> {
    async fn say(&self, line: &str) {
        let _ = self.host.progress(line).await;
    }

    async fn deploy(&mut self) -> Step {
        let env = &self.setup.env;
        let services: Vec<Service> = env
            .selected(&self.params.services)
            .map_err(failed)?
            .into_iter()
            .cloned()
            .collect();
        // Everything is looked up before anything is changed.
        for svc in &services {
            let dep = cluster::find(&self.deployments, svc)
                .await
                .map_err(failed)?;
            let (container, image) = cluster::container(&dep, svc).map_err(failed)?;
            self.report.services.push(ServiceReport {
                name: svc.name.clone(),
                deployment: kube::ResourceExt::name_any(&dep),
                container,
                from_image: image,
                to_image: format!("{}:{}", svc.image, self.params.version),
                from_revision: cluster::revision(&dep),
                state: "Pending".into(),
                ..ServiceReport::default()
            });
        }
        self.say(&format!(
            "deploying {} to {} ({}): {}",
            self.params.version,
            env.name,
            env.namespace,
            self.report
                .services
                .iter()
                .map(|s| format!("{} {} → {}", s.name, s.from_image, s.to_image))
                .collect::<Vec<_>>()
                .join("; ")
        ))
        .await;
        if self.params.build.as_ref().is_some_and(|b| b.enabled) {
            self.build(&services).await?;
        }
        match self.params.mode {
            DeployMode::Native => self.native(&services).await,
            DeployMode::Gitops => self.gitops(&services).await,
        }
    }

    async fn build(&mut self, services: &[Service]) -> Step {
        let env = &self.setup.env;
        let repo = self
            .setup
            .repository
            .as_ref()
            .ok_or_else(|| failed("a build needs spec.repository"))?;
        let b = self.params.build.clone().unwrap_or_default();
        let git_ref = b
            .git_ref
            .clone()
            .unwrap_or_else(|| self.params.version.clone());
        let sha = {
            let (url, creds, r) = (
                repo.url.clone(),
                self.setup.credentials.clone(),
                git_ref.clone(),
            );
            tokio::task::spawn_blocking(move || {
                crate::services::git::remote_sha(&url, creds.as_ref(), &r)
            })
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(format!("build: {e}")))?
        };
        let cfg = env.build.clone().unwrap_or_default();
        let timeout = Duration::from_secs(cfg.timeout_seconds.unwrap_or(1800));
        for svc in services {
            let name = pod_name(&self.setup.job_name, PodKind::Build, &svc.name);
            let tags = build::destinations(svc, &self.params.version, &sha);
            self.say(&format!(
                "building {} at {git_ref} ({sha:.12}) in pod {name}",
                svc.name
            ))
            .await;
            let _ = self
                .host
                .action(
                    "build",
                    &format!("pod/{}/{name}", env.namespace),
                    Some(&sha),
                )
                .await;
            let res = self.run_pod(PodKind::Build, svc, Some(&sha), timeout).await;
            self.report.builds.push(BuildReport {
                service: svc.name.clone(),
                pod: name,
                tags,
                git_sha: sha.clone(),
                passed: res.is_ok(),
                detail: res.as_ref().err().cloned(),
            });
            if let Err(e) = res {
                return Err(failed(format!(
                    "the image build of {} failed, nothing was deployed: {e}",
                    svc.name
                )));
            }
        }
        Ok(())
    }

    /// How long a forward rollout may wait: the environment's timeout, cut short by the job's
    /// own deadline (the rest is kept for a rollback).
    fn rollout_wait(&self) -> Duration {
        let t = self.setup.env.rollout_timeout();
        match self.setup.deadline {
            Some(d) => t.min(d.saturating_duration_since(Instant::now())),
            None => t,
        }
    }
}
