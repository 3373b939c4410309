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
}
