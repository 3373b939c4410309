//! What an agent may ask of the operator, beside what every job gets: its own validation,
//! locks, approvals, Pod extras, rights for the job's life, a check of a reported success,
//! and what its exit codes mean. Each agent implements [`OperatorSide`] in its own folder
//! (`src/agents/<name>/operator.rs`); the binary hands the registry's implementations to the
//! operator as [`Agents`], so the controller and the agent API name no agent.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};
use kube::Client;

use crate::api::{AgentJob, AgentKind, Phase, Pin};

/// An approval an agent needs before its job runs (beside the job's own `approval` policy).
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalNeed {
    /// The action approved (`deploy`), part of the approval's name.
    pub action: &'static str,
    /// What the approvers see.
    pub description: String,
    /// What is approved besides the job's spec (e.g. the exact images).
    pub pins: Vec<Pin>,
    /// Who decides (empty: the job's own approvers); the job may raise the quorum, never
    /// change who decides.
    pub approvers: Vec<String>,
    /// How many must agree at least.
    pub required: i32,
}

/// The operator-side hooks of one agent. Every method has the answer of an agent that needs
/// nothing beyond what every job gets.
pub trait OperatorSide: Send + Sync {
    /// A job of this agent needs `spec.repository` (the webhook's cross-field rule).
    fn needs_repository(&self) -> bool {
        false
    }

    /// Why the job cannot run with the operator's configuration (None: it can). Checked
    /// before its first attempt; a job with a problem ends `Failed` / `InvalidSpec`.
    fn problem(&self, _job: &AgentJob) -> Option<String> {
        None
    }

    /// Lock keys of the agent's own, beside `spec.locks` (e.g. `deploy/<ns>/<environment>`).
    fn locks(&self, _job: &AgentJob) -> Vec<String> {
        Vec::new()
    }

    /// An approval the job needs before it runs.
    fn approval(&self, _job: &AgentJob) -> Option<ApprovalNeed> {
        None
    }

    /// Extras for the attempt's Pod spec (volumes, mounts, env), applied after the
    /// operator's own.
    fn pod(&self, _job: &AgentJob, _pod_spec: &mut k8s_openapi::api::core::v1::PodSpec) {}

    /// Rights the job's ServiceAccount holds while the job runs, granted before its Pod is
    /// created.
    fn grant<'a>(
        &'a self,
        _client: &'a Client,
        _job: &'a AgentJob,
    ) -> BoxFuture<'a, kube::Result<()>> {
        futures::future::ready(Ok(())).boxed()
    }

    /// Take back what [`OperatorSide::grant`] gave (and whatever the agent left behind);
    /// `true` when something was removed. Called when the job ends and when it is deleted.
    fn revoke<'a>(
        &'a self,
        _client: &'a Client,
        _job: &'a AgentJob,
    ) -> BoxFuture<'a, kube::Result<bool>> {
        futures::future::ready(Ok(false)).boxed()
    }

    /// After an attempt reported success: `Some(why)` when the cluster says otherwise (the
    /// job then ends `Failed` with `reason`).
    fn check_success<'a>(
        &'a self,
        _client: &'a Client,
        _job: &'a AgentJob,
    ) -> BoxFuture<'a, kube::Result<Option<CheckFailed>>> {
        futures::future::ready(Ok(None)).boxed()
    }

    /// The agent's exit code 3 means it restored the previous state: the job ends
    /// `RolledBack` (for other agents exit code 3 is a failure like any other).
    fn rolls_back(&self) -> bool {
        false
    }

    /// The job reached a final phase (the agent's own metrics).
    fn finished(&self, _job: &AgentJob, _phase: Phase, _metrics: &super::metrics::Metrics) {}
}

/// A success the cluster contradicts.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckFailed {
    pub reason: &'static str,
    pub message: String,
}

/// An agent whose jobs need nothing beyond what every job gets.
struct Plain;
impl OperatorSide for Plain {}

/// The operator-side hooks of every agent, by kind (an agent not listed gets the plain ones).
#[derive(Clone, Default)]
pub struct Agents {
    hooks: Arc<BTreeMap<AgentKind, Arc<dyn OperatorSide>>>,
    implemented: Arc<Vec<AgentKind>>,
}

impl Agents {
    /// The hooks of every agent, and the agents this build runs.
    pub fn new(
        entries: impl IntoIterator<Item = (AgentKind, Arc<dyn OperatorSide>)>,
        implemented: Vec<AgentKind>,
    ) -> Agents {
        Agents {
            hooks: Arc::new(entries.into_iter().collect()),
            implemented: Arc::new(implemented),
        }
    }

    /// The agents this build runs (the others end "not available in this build").
    pub fn implemented(&self) -> &[AgentKind] {
        &self.implemented
    }

    /// The hooks of `kind`.
    pub fn of(&self, kind: AgentKind) -> &dyn OperatorSide {
        match self.hooks.get(&kind) {
            Some(a) => a.as_ref(),
            None => &Plain,
        }
    }
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.hooks.keys()).finish()
    }
}
