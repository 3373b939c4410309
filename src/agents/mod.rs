//! The agents, one folder each, and the one registry of them ([`REGISTRY`]): each folder
//! has a type implementing [`Agent`] — its name, what it does, whether it needs a
//! repository, and the operator-side hooks and agent API endpoints it needs beyond what every
//! job gets. The operator's hooks ([`operator_side`]), the agent API's agent endpoints
//! ([`api_routes`]), the webhook's cross-field rules, `kubectl agent list` and the chart's
//! agent list are derived from it; the controller and the agent API name no agent.
//!
//! [`Host`] is what an agent needs from its surroundings (the agent API in a Pod, stand-ins
//! in tests).

use std::future::Future;
use std::sync::Arc;

use crate::agentapi::ApiState;
use crate::api::AgentKind;
use crate::api::environment::Environments;
use crate::controller::agent::{Agents, OperatorSide};
use crate::llm::gateway::CompletionRequest;

pub mod deployer;
pub mod doc_sync;
pub mod form;
pub mod generator;
pub mod migrator;
pub mod probe;
pub mod reviewer;
pub mod spec_writer;
pub mod test_gen;

/// Every agent of this build, in the order `kubectl agent list` shows them. Adding an agent
/// is its folder and one line here.
pub static REGISTRY: &[&dyn Agent] = &[
    &generator::Generator,
    &reviewer::Reviewer,
    &deployer::Deployer,
    &doc_sync::DocSync,
    &test_gen::TestGen,
    &migrator::Migrator,
    &spec_writer::SpecWriter,
    &probe::Probe,
];

/// The operator's configuration an agent may read (from the operator's flags).
#[derive(Clone, Default)]
pub struct Setup {
    /// The deployer's environments.
    pub environments: Arc<Environments>,
}

/// One agent: what it is, and what it needs from the operator beyond what every job gets.
pub trait Agent: Send + Sync {
    fn kind(&self) -> AgentKind;

    /// One line: what the agent does (`kubectl agent list`, the README's table).
    fn description(&self) -> &'static str;

    /// A job of this agent needs `spec.repository` (the webhook refuses one without).
    fn needs_repository(&self) -> bool {
        false
    }

    /// The agent's operator-side hooks (locks, approvals, Pod extras, rights for the job's
    /// life, exit-code meanings). By default: only the repository rule.
    fn operator(&self, _setup: &Setup) -> Arc<dyn OperatorSide> {
        Arc::new(Plain {
            repository: self.needs_repository(),
        })
    }

    /// The agent's `kubectl agent run NAME …` form (a clap subcommand named after the agent).
    fn run_form(&self) -> clap::Command;

    /// The parameter block (and job name prefix) of the form parsed into `m`.
    fn run_block(
        &self,
        m: &clap::ArgMatches,
        shared: form::Shared<'_>,
    ) -> Result<form::Block, String>;

    /// The agent's own endpoints of the agent API (each authorises its caller as the job).
    fn api_routes(&self, _setup: &Setup) -> Option<axum::Router<Arc<ApiState>>> {
        None
    }
}

/// The hooks of an agent that needs nothing but (maybe) a repository.
struct Plain {
    repository: bool,
}

impl OperatorSide for Plain {
    fn needs_repository(&self) -> bool {
        self.repository
    }
}

/// The registry's agent of `kind`.
pub fn agent(kind: AgentKind) -> Option<&'static dyn Agent> {
    REGISTRY.iter().copied().find(|a| a.kind() == kind)
}

/// The operator-side hooks of every agent, for the operator's configuration.
pub fn operator_side(environments: Arc<Environments>) -> Agents {
    let setup = Setup { environments };
    Agents::new(REGISTRY.iter().map(|a| (a.kind(), a.operator(&setup))))
}

/// The agents' own endpoints of the agent API.
pub fn api_routes(environments: Arc<Environments>) -> axum::Router<Arc<ApiState>> {
    let setup = Setup { environments };
    REGISTRY
        .iter()
        .filter_map(|a| a.api_routes(&setup))
        .fold(axum::Router::new(), axum::Router::merge)
}

/// What an agent needs from its surroundings (the agent API in a Pod; stand-ins in tests).
pub trait Host {
    fn progress(&self, line: &str) -> impl Future<Output = Result<(), String>> + Send;
    fn action(
        &self,
        kind: &str,
        target: &str,
        digest: Option<&str>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// One completion: `Ok(Ok(text))`, or `Ok(Err(why))` when LLM steps are skipped.
    fn llm(
        &self,
        req: &CompletionRequest,
    ) -> impl Future<Output = Result<Result<String, String>, String>> + Send;
    /// `go test -vet=off -cover PACKAGES` of the checkout at `root`: `(exit code, stdout)`, or
    /// `Ok(None)` when Go is not installed. Here (run locally, on the user's own checkout) in
    /// place; through the agent API in an isolated sandbox Pod (the code is a pull request's).
    fn go_test(
        &self,
        root: &std::path::Path,
        packages: &[String],
    ) -> impl Future<Output = Result<Option<(i32, String)>, String>> + Send {
        let (root, packages) = (root.to_path_buf(), packages.to_vec());
        async move { Ok(reviewer::sandbox::go_test(&root, &packages, None).await) }
    }
    /// A deploy's write, done by the operator (only the agent API offers it).
    fn deploy(
        &self,
        _op: &deployer::ops::DeployOp,
    ) -> impl Future<Output = Result<deployer::ops::DeployReply, String>> + Send {
        async { Err("deploys need the agent API".to_string()) }
    }
}
