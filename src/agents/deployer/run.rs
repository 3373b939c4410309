//! A deploy from start to end: resolve the environment's Deployments, build (optional), roll
//! each service out in order (or commit the tag in GitOps mode), smoke-test, roll back every
//! service this job changed when anything fails, notify, and report.

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

struct Deploy<'a, H: Host> {
    host: &'a H,
    params: &'a DeployerParams,
    setup: &'a Setup,
    deployments: Api<Deployment>,
    report: Report,
    started: Instant,
}

/// Run the deploy. The report says how it ended; `Verdict::RolledBack` means the previous
/// version runs again.
pub async fn run<H: Host>(host: &H, params: &DeployerParams, setup: &Setup) -> Report {
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

impl<H: Host> Deploy<'_, H> {
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

    async fn native(&mut self, services: &[Service]) -> Step {
        for (i, svc) in services.iter().enumerate() {
            let (dep_name, container, to_image, from_image) = {
                let r = &self.report.services[i];
                (
                    r.deployment.clone(),
                    r.container.clone(),
                    r.to_image.clone(),
                    r.from_image.clone(),
                )
            };
            let t0 = Instant::now();
            if from_image == to_image {
                self.report.services[i].state = "Unchanged".into();
                self.say(&format!("{}: already runs {to_image}", svc.name))
                    .await;
            } else {
                self.host
                    .action(
                        "deploy_patch",
                        &format!(
                            "deployment/{}/{dep_name}#{container}",
                            self.setup.env.namespace
                        ),
                        Some(&to_image),
                    )
                    .await
                    .map_err(|e| failed(format!("recording the patch in the audit trail: {e}")))?;
                self.report.services[i].state = "Failed".into();
                // The operator sets the image (the job's identity only reads here).
                let set = self
                    .host
                    .deploy(&DeployOp::SetImage {
                        service: svc.name.clone(),
                    })
                    .await;
                match set {
                    Ok(r) if r.image.as_deref() == Some(to_image.as_str()) => {}
                    Ok(r) => {
                        let e = format!(
                            "the operator set {}, not {to_image}",
                            r.image.unwrap_or_default()
                        );
                        return Err(self.roll_back(i, &format!("{}: {e}", svc.name)).await);
                    }
                    Err(e) => {
                        return Err(self.roll_back(i, &format!("{}: {e}", svc.name)).await);
                    }
                }
                self.say(&format!(
                    "{}: image set to {to_image}, watching the rollout",
                    svc.name
                ))
                .await;
                let outcome = {
                    let host = self.host;
                    let name = svc.name.clone();
                    let mut lines = Vec::new();
                    let o = cluster::wait_rollout(
                        &self.deployments,
                        &dep_name,
                        None,
                        self.rollout_wait(),
                        |l| lines.push(format!("{name}: {l}")),
                    )
                    .await;
                    for l in lines {
                        let _ = host.progress(&l).await;
                    }
                    o
                };
                match outcome {
                    Outcome::Done(dep) => {
                        let r = &mut self.report.services[i];
                        r.state = "RolledOut".into();
                        r.to_revision = cluster::revision(&dep);
                        r.rollout_seconds = t0.elapsed().as_secs_f64();
                        let line = format!(
                            "{}: rolled out (revision {}) in {:.1}s",
                            svc.name,
                            r.to_revision.unwrap_or_default(),
                            r.rollout_seconds
                        );
                        self.say(&line).await;
                    }
                    failed => {
                        let why = failed.reason(&dep_name);
                        self.report.services[i].detail = Some(why.clone());
                        return Err(self.roll_back(i, &format!("{}: {why}", svc.name)).await);
                    }
                }
            }
            let test = svc
                .smoke_test
                .as_ref()
                .or(self.setup.env.smoke_test.as_ref());
            if let Some(test) = test.cloned()
                && let Err(why) = self.smoke(svc, &test).await
            {
                self.report.services[i].detail = Some(why.clone());
                return Err(self
                    .roll_back(i, &format!("{}: smoke test failed: {why}", svc.name))
                    .await);
            }
        }
        Ok(())
    }

    /// Have the operator start the service's smoke-test or build Pod, wait for it to end
    /// (the job's identity may read exactly these Pods), and have it deleted.
    async fn run_pod(
        &self,
        kind: PodKind,
        svc: &Service,
        git_sha: Option<&str>,
        timeout: Duration,
    ) -> Result<(), String> {
        let started = self
            .host
            .deploy(&DeployOp::StartPod {
                kind,
                service: svc.name.clone(),
                git_sha: git_sha.map(str::to_string),
            })
            .await
            .map_err(|e| format!("start the {} pod of {}: {e}", kind.as_str(), svc.name))?;
        let pods: Api<Pod> = Api::namespaced(self.setup.client.clone(), &self.setup.env.namespace);
        let out = smoke::wait_pod(&pods, &started.name, timeout).await;
        let _ = self
            .host
            .deploy(&DeployOp::DeletePod {
                kind,
                service: svc.name.clone(),
            })
            .await;
        out
    }

    async fn smoke(
        &mut self,
        svc: &Service,
        test: &crate::api::environment::SmokeTest,
    ) -> Result<(), String> {
        for check in &test.http {
            self.say(&format!(
                "{}: smoke test GET {}",
                svc.name,
                smoke::expand(&check.url, &svc.name, &self.params.version)
            ))
            .await;
            let r = smoke::http(check, &svc.name, &self.params.version).await;
            let passed = r.passed;
            let detail = format!("{}: {}", r.check, r.detail);
            self.report.smoke_tests.push(r);
            if !passed {
                return Err(detail);
            }
        }
        if let Some(p) = &test.pod {
            let name = pod_name(&self.setup.job_name, PodKind::Smoke, &svc.name);
            self.say(&format!("{}: smoke-test pod {name}", svc.name))
                .await;
            let res = self
                .run_pod(
                    PodKind::Smoke,
                    svc,
                    None,
                    Duration::from_secs(p.timeout_seconds.unwrap_or(300)),
                )
                .await;
            self.report.smoke_tests.push(CheckResult {
                service: svc.name.clone(),
                check: format!("pod {name}"),
                passed: res.is_ok(),
                attempts: 1,
                detail: res.clone().err().unwrap_or_else(|| "ok".into()),
            });
            res?;
        }
        Ok(())
    }

    /// Roll back services `0..=failed` (this job's changes), last first, like `kubectl
    /// rollout undo --to-revision=<the revision before the job>`.
    async fn roll_back(&mut self, failed_index: usize, reason: &str) -> (Verdict, String) {
        self.say(&format!("{reason} — rolling back")).await;
        let timeout = self.setup.env.rollout_timeout();
        let mut problems = Vec::new();
        for i in (0..=failed_index).rev() {
            let r = self.report.services[i].clone();
            if r.state == "Unchanged" || r.state == "Pending" {
                continue;
            }
            // The operator puts back what it recorded before this job's change.
            let restored = self
                .host
                .deploy(&DeployOp::Restore {
                    service: r.name.clone(),
                })
                .await
                .map(|_| ());
            if restored
                .as_ref()
                .is_err_and(|e| e.contains(NOTHING_TO_PUT_BACK))
            {
                self.report.services[i].state = "Unchanged".into();
                continue;
            }
            if let Err(e) = self
                .host
                .action(
                    "rollback",
                    &format!(
                        "deployment/{}/{}#{}",
                        self.setup.env.namespace, r.deployment, r.container
                    ),
                    Some(&r.from_image),
                )
                .await
            {
                problems.push(format!(
                    "{}: rollback not recorded in the audit trail: {e}",
                    r.name
                ));
            }
            let outcome = match restored {
                Err(e) => Err(e),
                Ok(()) => {
                    match cluster::wait_rollout(
                        &self.deployments,
                        &r.deployment,
                        None,
                        timeout,
                        |_| {},
                    )
                    .await
                    {
                        Outcome::Done(_) => Ok(()),
                        failed => Err(failed.reason(&r.deployment)),
                    }
                }
            };
            let s = &mut self.report.services[i];
            match outcome {
                Ok(()) => {
                    s.state = "RolledBack".into();
                    self.say(&format!(
                        "{}: rolled back to {} (revision {})",
                        r.name,
                        r.from_image,
                        r.from_revision.unwrap_or_default()
                    ))
                    .await;
                }
                Err(e) => {
                    s.state = "RollbackFailed".into();
                    problems.push(format!("{}: rollback failed: {e}", r.name));
                }
            }
        }
        if problems.is_empty() {
            (Verdict::RolledBack, reason.to_string())
        } else {
            (
                Verdict::Failed,
                format!("{reason}; {}", problems.join("; ")),
            )
        }
    }

    async fn gitops(&mut self, services: &[Service]) -> Step {
        let env = &self.setup.env;
        let g = env.gitops.clone().ok_or_else(|| {
            failed(format!(
                "environment {:?} has no gitops configuration",
                env.name
            ))
        })?;
        let branch = g.branch.clone().unwrap_or_else(|| "main".into());
        let images: Vec<(String, String)> = services
            .iter()
            .map(|s| (s.image.clone(), s.name.clone()))
            .collect();
        let dir = self.setup.workdir.join("manifests");
        let opts = WorkspaceOptions {
            base_branch: branch.clone(),
            allowed_paths: AllowedPaths::new(std::slice::from_ref(&g.file))
                .map_err(|e| failed(e.to_string()))?,
            credentials: self.setup.gitops_credentials.clone(),
            identity: Identity::agent("deployer"),
        };
        let ws = {
            let (url, dir) = (g.repository.clone(), dir.clone());
            tokio::task::spawn_blocking(move || Workspace::clone(&url, &dir, opts))
                .await
                .map_err(|e| failed(e.to_string()))?
                .map_err(|e| failed(format!("clone {}: {e}", g.repository)))?
        };
        let path = ws.path().join(&g.file);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let new = gitops::set_tags(&g, &text, &images, &self.params.version).map_err(failed)?;
        let mut report = GitOpsReport {
            repository: g.repository.clone(),
            file: g.file.clone(),
            branch: branch.clone(),
            commit: None,
            pull_request: None,
        };
        let unchanged = serde_yaml::from_str::<serde_yaml::Value>(&text).ok()
            == serde_yaml::from_str::<serde_yaml::Value>(&new).ok();
        if unchanged {
            self.say(&format!("{} already names {}", g.file, self.params.version))
                .await;
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
            }
            std::fs::write(&path, new).map_err(|e| failed(format!("{}: {e}", g.file)))?;
            let msg = format!(
                "deploy {} to {}\n\n{}\n\nby devagents job {}",
                self.params.version,
                env.name,
                images
                    .iter()
                    .map(|(i, _)| format!("{i}:{}", self.params.version))
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.setup.job_name
            );
            match g.push {
                GitOpsPush::Direct => {
                    let sha = ws
                        .commit_all(&msg)
                        .and_then(|sha| ws.push_base_direct().map(|_| sha))
                        .map_err(|e| failed(format!("gitops commit: {e}")))?;
                    report.commit = Some(sha);
                }
                GitOpsPush::PullRequest => {
                    let head = format!("devagents/deploy-{}-{}", env.name, self.params.version);
                    ws.create_branch(&head)
                        .map_err(|e| failed(format!("gitops branch: {e}")))?;
                    let sha = ws
                        .commit_all(&msg)
                        .and_then(|sha| ws.push(&head).map(|_| sha))
                        .map_err(|e| failed(format!("gitops push: {e}")))?;
                    report.commit = Some(sha);
                    let (owner, name) = g
                        .github_repo
                        .as_deref()
                        .and_then(|r| r.split_once('/'))
                        .ok_or_else(|| {
                            failed("gitops.push: pull-request needs gitops.githubRepo (owner/name)")
                        })?;
                    let token = self
                        .setup
                        .gitops_credentials
                        .as_ref()
                        .map(|c| c.token.clone())
                        .unwrap_or_default();
                    let gh = crate::services::github::GitHub::new(
                        &self.setup.github_api,
                        &token,
                        owner,
                        name,
                    )
                    .map_err(|e| failed(e.to_string()))?;
                    let pr = gh
                        .create_pull(
                            &format!("Deploy {} to {}", self.params.version, env.name),
                            &head,
                            &branch,
                            &msg,
                        )
                        .await
                        .map_err(|e| failed(format!("gitops pull request: {e}")))?;
                    report.pull_request = Some(pr.html_url.clone());
                }
            }
            self.host
                .action(
                    "git_commit",
                    &format!("{}#{}", g.repository, g.file),
                    report.commit.as_deref(),
                )
                .await
                .map_err(|e| failed(format!("recording the commit in the audit trail: {e}")))?;
            self.say(&format!(
                "committed {} to {} ({}); waiting for the cluster to sync",
                g.file,
                g.repository,
                report.commit.as_deref().unwrap_or("")
            ))
            .await;
        }
        self.report.gitops = Some(report);
        let sync_secs = g.sync_timeout_seconds.unwrap_or(600).max(1);
        let deadline = Instant::now() + Duration::from_secs(sync_secs);
        for i in 0..self.report.services.len() {
            let r = self.report.services[i].clone();
            let left = deadline.saturating_duration_since(Instant::now());
            let t0 = Instant::now();
            match gitops::wait_synced(
                &self.deployments,
                &r.deployment,
                &r.container,
                &r.to_image,
                left,
                sync_secs,
            )
            .await
            {
                Ok(dep) => {
                    let s = &mut self.report.services[i];
                    s.state = "Synced".into();
                    s.to_revision = cluster::revision(&dep);
                    s.rollout_seconds = t0.elapsed().as_secs_f64();
                    self.say(&format!("{}: the cluster runs {}", r.name, r.to_image))
                        .await;
                }
                Err(why) => {
                    self.report.services[i].state = "Failed".into();
                    return Err(failed(format!("{}: {why}", r.name)));
                }
            }
        }
        Ok(())
    }

    async fn notify(&mut self) {
        let summary = self.report.summary();
        let details: Vec<String> = self
            .report
            .services
            .iter()
            .map(|s| {
                format!(
                    "{}: {} → {} ({})",
                    s.name, s.from_image, s.to_image, s.state
                )
            })
            .collect();
        if let Some(slack) = &self.setup.slack {
            let msg = crate::services::slack::Message {
                summary: format!(
                    "{} {summary}",
                    match self.report.outcome {
                        Verdict::Succeeded => ":white_check_mark:",
                        Verdict::RolledBack => ":leftwards_arrow_with_hook:",
                        Verdict::Failed => ":x:",
                    }
                ),
                details: details.clone(),
                link: None,
            };
            self.report
                .notifications
                .push(match slack.post(&msg).await {
                    Ok(()) => "slack: sent".into(),
                    Err(e) => format!("slack: {e}"),
                });
        }
        if let Some((notion, db)) = &self.setup.notion {
            use crate::services::notion::{bullet, title_property};
            let blocks: Vec<serde_json::Value> = details.iter().map(|d| bullet(d)).collect();
            let props = serde_json::json!({
                "Name": title_property(&summary),
                "Environment": { "rich_text": crate::services::notion::rich_text(&self.report.environment) },
                "Version": { "rich_text": crate::services::notion::rich_text(&self.report.version) },
                "Outcome": { "select": { "name": format!("{:?}", self.report.outcome) } },
            });
            self.report
                .notifications
                .push(match notion.create_row(db, props, &blocks).await {
                    Ok(p) => format!("notion: row {}", p.id),
                    Err(e) => format!("notion: {e}"),
                });
        }
    }
}
