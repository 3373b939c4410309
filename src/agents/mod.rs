//! The agents, one folder each, and the one registry of them ([`REGISTRY`]): each folder
//! has a type implementing [`Agent`] — its name, what it does, whether it needs a
//! repository, and the operator-side hooks and agent API endpoints it needs beyond what every
//! job gets. The operator's hooks ([`operator_side`]), the agent API's agent endpoints
//! ([`api_routes`]), the webhook's cross-field rules, `kubectl agent list` and the chart's
//! agent list are derived from it; the controller and the agent API name no agent.
//!
//! [`Host`] is what an agent needs from its surroundings (the agent API in a Pod, stand-ins
//! in tests).

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::agentapi::ApiState;
use crate::api::AgentKind;
use crate::api::environment::Environments;
use crate::controller::agent::{Agents, OperatorSide};
use crate::services::git::Credentials;

pub mod deployer;
pub mod doc_sync;
pub mod form;
pub mod generator;
mod host;
pub mod migrator;
pub mod probe;
pub mod reviewer;
pub mod spec_writer;
pub mod step;
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

    /// This build runs the agent's jobs (the others end with "not available in this build").
    fn implemented(&self) -> bool {
        false
    }

    /// The agent's run needs the agent API (its result, its artifacts, the LLM); without one
    /// (an operator started with `--agent-api-addr off`) it does not start.
    fn needs_agent_api(&self) -> bool {
        true
    }

    /// The agent's run: one attempt of a job, through `host` (the agent API in the Pod, or
    /// the local host of `agent-runner local`).
    fn run<'a>(&'a self, _host: &'a dyn DynHost, job: &'a RunJob) -> BoxFuture<'a, Outcome> {
        let kind = job.spec.agent;
        Box::pin(async move {
            Err(Failed::agent(format!(
                "the {kind} agent is not available in this build of agent-runner"
            )))
        })
    }

    /// The agent's own endpoints of the agent API (each authorises its caller as the job).
    fn api_routes(&self, _setup: &Setup) -> Option<axum::Router<Arc<ApiState>>> {
        None
    }
}

/// One attempt of a job, as the agent runs it.
#[derive(Clone, Debug)]
pub struct RunJob {
    pub spec: crate::api::AgentJobSpec,
    pub name: String,
    pub uid: String,
    pub attempt: i32,
    /// An empty directory the agent may work in.
    pub workdir: PathBuf,
    /// The repository's credentials (`repository.credentialsSecret`), if any.
    pub credentials: Option<Credentials>,
    /// GitHub's REST API.
    pub github_api: String,
    /// Push branches, open pull requests, post reviews. Off (`agent-runner local --no-push`):
    /// branches stay local and reviews are printed, nothing leaves the machine but LLM calls.
    pub publish: bool,
    /// Work on these refs of the repository instead of a pull request (`agent-runner local
    /// --base … --head …`; the reviewer).
    pub refs: Option<Refs>,
}

/// A head ref and the base ref it is compared with.
#[derive(Clone, Debug, PartialEq)]
pub struct Refs {
    pub base: String,
    pub head: String,
}

impl RunJob {
    /// The first 8 hex digits of the job's UID (branch names unique per job).
    pub fn short_id(&self) -> String {
        self.uid.replace('-', "").chars().take(8).collect()
    }
}

/// How an attempt ended when it did not succeed: the exit code of the runner's contract
/// (`crate::contract::EXIT_*`) and the reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Failed {
    pub exit_code: i32,
    pub message: String,
}

impl Failed {
    /// The agent's own failure: final.
    pub fn agent(message: impl Into<String>) -> Failed {
        Failed {
            exit_code: crate::contract::EXIT_AGENT_FAILURE,
            message: message.into(),
        }
    }
    /// Worth another attempt (network, the agent API away).
    pub fn transient(message: impl Into<String>) -> Failed {
        Failed {
            exit_code: crate::contract::EXIT_TRANSIENT,
            message: message.into(),
        }
    }
    /// Started wrongly (a missing parameter block, no agent API where one is needed).
    pub fn usage(message: impl Into<String>) -> Failed {
        Failed {
            exit_code: crate::contract::EXIT_USAGE,
            message: message.into(),
        }
    }
    /// `transient` decides between the two.
    pub fn of(transient: bool, message: impl Into<String>) -> Failed {
        if transient {
            Failed::transient(message)
        } else {
            Failed::agent(message)
        }
    }
}

impl From<HostError> for Failed {
    fn from(e: HostError) -> Failed {
        Failed::of(e.transient, e.message)
    }
}

/// An attempt's one typed outcome: its summary, or how it failed.
pub type Outcome = Result<String, Failed>;

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
    Agents::new(
        REGISTRY.iter().map(|a| (a.kind(), a.operator(&setup))),
        REGISTRY
            .iter()
            .filter(|a| a.implemented())
            .map(|a| a.kind())
            .collect(),
    )
}

/// The agents' own endpoints of the agent API.
pub fn api_routes(environments: Arc<Environments>) -> axum::Router<Arc<ApiState>> {
    let setup = Setup { environments };
    REGISTRY
        .iter()
        .filter_map(|a| a.api_routes(&setup))
        .fold(axum::Router::new(), axum::Router::merge)
}

pub use host::{DynHost, Host, HostError, LlmText};
