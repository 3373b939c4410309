//! `deployer`: native rollouts with smoke tests and automatic rollback, optional image builds,
//! and a GitOps mode.

pub mod api;
pub mod build;
pub mod cluster;
pub mod gitops;
pub mod operator;
pub mod ops;
pub mod rollout;
pub mod run;
pub mod smoke;

use std::sync::Arc;

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use super::{DynHost, Failed, Outcome, RunJob};
use crate::agentapi::ApiState;
use crate::api::AgentKind;
use crate::controller::agent::OperatorSide;

pub struct Deployer;

impl super::Agent for Deployer {
    fn kind(&self) -> AgentKind {
        AgentKind::Deployer
    }
    fn description(&self) -> &'static str {
        "native rollouts with smoke tests and automatic rollback"
    }
    fn operator(&self, setup: &super::Setup) -> Arc<dyn OperatorSide> {
        Arc::new(operator::Hooks {
            environments: setup.environments.clone(),
        })
    }
    /// The operator performs a native deploy's writes on the deployer's request.
    fn api_routes(&self, setup: &super::Setup) -> Option<axum::Router<Arc<ApiState>>> {
        Some(api::routes(setup.environments.clone()))
    }
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(
            self.kind().as_str(),
            "@deployer: roll a version out to an environment.",
        )
    }
    fn run_block(&self, m: &clap::ArgMatches, s: Shared<'_>) -> Result<Block, String> {
        form::parse::<Form>(m, s)
    }
    fn implemented(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, host: &'a dyn DynHost, job: &'a RunJob) -> BoxFuture<'a, Outcome> {
        Box::pin(entry(host, job))
    }
}

/// The deployer runs in its Pod only: the environment, the Kubernetes API token and the
/// notification Secrets are what the operator gave the Pod (see [`operator`]).
async fn entry(host: &dyn DynHost, job: &RunJob) -> Outcome {
    use crate::contract::{
        ENV_DEPLOY_ENVIRONMENT, GITOPS_DIR, NOTION_DIR, SLACK_DIR, container_path,
    };
    let Some(params) = &job.spec.deployer else {
        return Err(Failed::agent("the deployer needs spec.deployer"));
    };
    let env: crate::api::environment::Environment = match std::env::var(ENV_DEPLOY_ENVIRONMENT)
        .map(|v| serde_json::from_str(&v))
    {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return Err(Failed::usage(format!("{ENV_DEPLOY_ENVIRONMENT}: {e}"))),
        Err(_) => {
            return Err(Failed::agent(format!(
                "environment {:?} was not given to this Pod by the operator (the deployer runs only in its Pod, not locally)",
                params.environment
            )));
        }
    };
    let client = cluster::in_cluster_client().await.map_err(Failed::agent)?;
    let gitops_credentials =
        crate::services::git::Credentials::from_dir(&container_path(GITOPS_DIR))
            .map_err(|e| Failed::agent(e.to_string()))?;
    let notifications = env.notifications.clone().unwrap_or_default();
    let slack = notifications.slack_secret.as_ref().and_then(|_| {
        crate::services::slack::Slack::from_file(&container_path(&format!(
            "{SLACK_DIR}/webhook-url"
        )))
        .ok()
    });
    let notion = notifications.notion.as_ref().and_then(|n| {
        let token = std::fs::read_to_string(container_path(&format!("{NOTION_DIR}/token"))).ok()?;
        Some((
            crate::services::notion::Notion::new(
                n.api_url.as_deref().unwrap_or("https://api.notion.com"),
                token.trim(),
            ),
            n.database_id.clone(),
        ))
    });
    let setup = run::Setup {
        client,
        env,
        job_name: job.name.clone(),
        repository: job.spec.repository.clone(),
        credentials: job.credentials.clone(),
        gitops_credentials,
        github_api: job.github_api.clone(),
        slack,
        notion,
        workdir: job.workdir.clone(),
        // Keep a third of the job's time (at most 5 minutes) for rolling back.
        deadline: {
            let total = job.spec.timeout_seconds.max(1) as u64;
            let reserve = (total / 3).min(300);
            Some(std::time::Instant::now() + Duration::from_secs(total - reserve))
        },
    };
    let report = run::run(host, params, &setup).await;
    let summary = report.summary();
    host.result(&summary, serde_json::to_value(&report).ok(), &[])
        .await?;
    match report.outcome {
        run::Verdict::Succeeded => Ok(summary),
        run::Verdict::RolledBack => Err(Failed {
            exit_code: crate::contract::EXIT_ROLLED_BACK,
            message: summary,
        }),
        run::Verdict::Failed => Err(Failed::agent(summary)),
    }
}

/// `kubectl agent run deployer --env E --version V …`.
#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    /// The environment (operator configuration).
    #[arg(long = "env")]
    environment: String,
    /// The image tag to roll out.
    #[arg(long)]
    version: String,
    /// Only these services (repeatable; default: all, in the environment's order).
    #[arg(long = "service")]
    services: Vec<String>,
    /// Commit the tag to the environment's manifests instead of patching.
    #[arg(long)]
    gitops: bool,
    /// Build the images first (from --repo at the version's tag).
    #[arg(long)]
    build: bool,
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let mut d = json!({"environment": self.environment, "version": self.version});
        if !self.services.is_empty() {
            d["services"] = json!(self.services);
        }
        if self.gitops {
            d["mode"] = json!("gitops");
        }
        if self.build {
            d["build"] = json!({"enabled": true});
        }
        Ok(Block {
            name_prefix: format!(
                "deploy-{}-{}",
                form::slug(&self.environment),
                form::slug(&self.version)
            ),
            params: d,
        })
    }
}
