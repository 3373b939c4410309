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

use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
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
