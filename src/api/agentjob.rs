//! `AgentJob`: one run of one agent.
// kube's `printcolumn(...)` repeats `type_ = "string"` across columns; that is not a mistake.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{JSON, JSONSchemaProps};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::params::*;
use super::patterns;

/// The agents devagents knows. `probe` is the built-in diagnostic agent.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AgentKind {
    Generator,
    Reviewer,
    Deployer,
    DocSync,
    TestGen,
    Migrator,
    SpecWriter,
    Probe,
}

impl AgentKind {
    pub const ALL: [AgentKind; 8] = [
        AgentKind::Generator,
        AgentKind::Reviewer,
        AgentKind::Deployer,
        AgentKind::DocSync,
        AgentKind::TestGen,
        AgentKind::Migrator,
        AgentKind::SpecWriter,
        AgentKind::Probe,
    ];

    /// The name users type (`doc-sync`).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Generator => "generator",
            AgentKind::Reviewer => "reviewer",
            AgentKind::Deployer => "deployer",
            AgentKind::DocSync => "doc-sync",
            AgentKind::TestGen => "test-gen",
            AgentKind::Migrator => "migrator",
            AgentKind::SpecWriter => "spec-writer",
            AgentKind::Probe => "probe",
        }
    }

    /// The field of `spec` that holds this agent's parameters (`docSync`).
    pub fn params_field(self) -> &'static str {
        match self {
            AgentKind::Generator => "generator",
            AgentKind::Reviewer => "reviewer",
            AgentKind::Deployer => "deployer",
            AgentKind::DocSync => "docSync",
            AgentKind::TestGen => "testGen",
            AgentKind::Migrator => "migrator",
            AgentKind::SpecWriter => "specWriter",
            AgentKind::Probe => "probe",
        }
    }

    pub fn parse(s: &str) -> Option<AgentKind> {
        AgentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for AgentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Schema-level rules the apiserver enforces on `spec`, added to the generated CRD (kube's
/// structural rewriter would merge junctor properties, so they are applied afterwards):
/// exactly one agent block is set (a `oneOf` over the block names), and it is the block of
/// `spec.agent` (an `anyOf` pairing each agent with its block). Structural: only `required`
/// and `enum` inside the junctors.
pub(crate) fn one_agent_block_rules() -> JSONSchemaProps {
    let exactly_one = AgentKind::ALL
        .iter()
        .map(|k| JSONSchemaProps {
            required: Some(vec![k.params_field().to_string()]),
            ..Default::default()
        })
        .collect();
    let matches_agent = AgentKind::ALL
        .iter()
        .map(|k| JSONSchemaProps {
            required: Some(vec![k.params_field().to_string()]),
            properties: Some(
                [(
                    "agent".to_string(),
                    JSONSchemaProps {
                        enum_: Some(vec![JSON(k.as_str().into())]),
                        ..Default::default()
                    },
                )]
                .into(),
            ),
            ..Default::default()
        })
        .collect();
    JSONSchemaProps {
        all_of: Some(vec![
            JSONSchemaProps {
                one_of: Some(exactly_one),
                ..Default::default()
            },
            JSONSchemaProps {
                any_of: Some(matches_agent),
                ..Default::default()
            },
        ]),
        ..Default::default()
    }
}

/// Desired state of an AgentJob.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "devagents.io",
    version = "v1alpha1",
    kind = "AgentJob",
    plural = "agentjobs",
    singular = "agentjob",
    shortname = "aj",
    category = "devagents",
    namespaced,
    status = "AgentJobStatus",
    derive = "PartialEq",
    doc = "One run of one development agent, queued by priority, guarded by locks and approvals.",
    printcolumn(name = "Agent", type_ = "string", json_path = ".spec.agent"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Priority", type_ = "integer", json_path = ".spec.priority"),
    printcolumn(
        name = "Waiting",
        type_ = "string",
        json_path = ".status.waitingFor",
        priority = "1"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.reason",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AgentJobSpec {
    /// Which agent runs.
    pub agent: AgentKind,
    /// Higher runs first; ties go to the older job.
    #[serde(default = "default_priority")]
    #[schemars(range(min = 0, max = 1000))]
    pub priority: i32,
    /// Deadline of one attempt, enforced by the operator and as the Pod's activeDeadlineSeconds.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 10, max = 86400))]
    pub timeout_seconds: i64,
    /// Retries of retryable failures (Pod lost, evicted, never started, transient exit code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetryPolicy>,
    /// Delete the job this long after it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 31_536_000))]
    pub ttl_seconds_after_finished: Option<i64>,
    /// Set to true to stop the job: its Pod is deleted and it ends `Cancelled`.
    #[serde(default)]
    pub cancel: bool,
    /// The repository the agent works on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    /// Extra lock names; agents derive their own too (the deployer's `deploy/<ns>/<env>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(regex(pattern = patterns::LOCK), length(max = 200)))]
    pub locks: Vec<String>,
    /// Who must approve, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
    /// LLM budget of this job; when spent, LLM use stops (the job goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// Who created the job; stamped by the admission webhook from the request's userInfo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<RequestedBy>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<Box<GeneratorParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<Box<ReviewerParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployer: Option<Box<DeployerParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_sync: Option<Box<DocSyncParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_gen: Option<Box<TestGenParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrator: Option<Box<MigratorParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_writer: Option<Box<SpecWriterParams>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Box<ProbeParams>>,
}

fn default_priority() -> i32 {
    50
}
fn default_timeout() -> i64 {
    1800
}

impl AgentJobSpec {
    /// A spec for `agent` with defaults and no parameter block.
    pub fn new(agent: AgentKind) -> Self {
        AgentJobSpec {
            agent,
            priority: default_priority(),
            timeout_seconds: default_timeout(),
            retries: None,
            ttl_seconds_after_finished: None,
            cancel: false,
            repository: None,
            locks: Vec::new(),
            approval: None,
            budget: None,
            requested_by: None,
            generator: None,
            reviewer: None,
            deployer: None,
            doc_sync: None,
            test_gen: None,
            migrator: None,
            spec_writer: None,
            probe: None,
        }
    }

    /// The agents whose parameter blocks are set.
    pub fn blocks_present(&self) -> Vec<AgentKind> {
        let mut v = Vec::new();
        let present = [
            (AgentKind::Generator, self.generator.is_some()),
            (AgentKind::Reviewer, self.reviewer.is_some()),
            (AgentKind::Deployer, self.deployer.is_some()),
            (AgentKind::DocSync, self.doc_sync.is_some()),
            (AgentKind::TestGen, self.test_gen.is_some()),
            (AgentKind::Migrator, self.migrator.is_some()),
            (AgentKind::SpecWriter, self.spec_writer.is_some()),
            (AgentKind::Probe, self.probe.is_some()),
        ];
        for (k, p) in present {
            if p {
                v.push(k);
            }
        }
        v
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// How many retries after the first attempt.
    #[serde(default)]
    #[schemars(range(min = 0, max = 10))]
    pub limit: i32,
    /// First backoff; doubles each retry, capped at one hour.
    #[serde(default = "default_backoff")]
    #[schemars(range(min = 1, max = 3600))]
    pub backoff_seconds: i64,
}

fn default_backoff() -> i64 {
    10
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// Clone URL (https, ssh, or file:// for local repositories).
    #[schemars(regex(pattern = patterns::REPO_URL), length(max = 2048))]
    pub url: String,
    /// Branch the agent starts from and never pushes to.
    #[serde(default = "default_base_branch")]
    #[schemars(regex(pattern = patterns::BRANCH), length(max = 255))]
    pub base_branch: String,
    /// Secret with the git/GitHub token (key `token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::DNS_SUBDOMAIN), length(max = 253))]
    pub credentials_secret: Option<String>,
    /// Globs of the paths the agent may change; empty means the whole repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(regex(pattern = patterns::REL_PATH_GLOB), length(max = 512)))]
    pub allowed_paths: Vec<String>,
}

fn default_base_branch() -> String {
    "main".into()
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalMode {
    /// No approval.
    #[default]
    Auto,
    /// The job waits for an approval before its Pod starts.
    BeforeRun,
    /// The agent asks for approval of each risky action while it runs.
    BeforeActions,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicy {
    #[serde(default)]
    pub policy: ApprovalMode,
    /// Users and `group:<name>` entries allowed to decide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(regex(pattern = patterns::APPROVER), length(max = 256)))]
    pub approvers: Vec<String>,
    /// Approvals needed (quorum).
    #[serde(default = "default_required")]
    #[schemars(range(min = 1, max = 10))]
    pub required: i32,
    /// Undecided approvals expire (= rejected) after this long.
    #[serde(default = "default_approval_timeout")]
    #[schemars(range(min = 60, max = 604_800))]
    pub timeout_seconds: i64,
}

fn default_required() -> i32 {
    1
}
fn default_approval_timeout() -> i64 {
    86400
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// Maximum input + output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<i64>,
    /// Maximum cost in US dollars.
    #[serde(
        default,
        rename = "maxCostUSD",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0.0))]
    pub max_cost_usd: Option<f64>,
}

/// The identity that created the job, as the apiserver saw it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestedBy {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Where a job stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    #[default]
    Pending,
    Queued,
    WaitingForApproval,
    Running,
    Succeeded,
    Failed,
    RolledBack,
    Cancelled,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Succeeded | Phase::Failed | Phase::RolledBack | Phase::Cancelled
        )
    }
}

/// Observed state of an AgentJob; written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentJobStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Machine-readable reason of the current phase (`DeadlineExceeded`, `AgentFailed` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message of the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Why the job waits: `slot`, `lock:<name>`, `approval:<name>` or `backoff`; written when
    /// it changes. The queue position is not kept in status (every admission would move every
    /// waiting job): `kubectl agent queue` computes it on demand with the scheduler's planner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// UID of the ServiceAccount the operator made for this job, written with the first
    /// admission: the agent API accepts only tokens of that very ServiceAccount (one deleted
    /// and re-made by someone else, whatever its ownerReferences say, is not the job's).
    #[serde(
        default,
        rename = "serviceAccountUID",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 64))]
    pub service_account_uid: Option<String>,
    /// After a retryable failure: the next attempt is not admitted before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: most jobs in the operator's cache (queued, or finished and slimmed) have none,
    // and a box keeps them 112 bytes smaller. (A `//` comment: doc comments become the CRD's
    // descriptions, which come from the types.)
    pub result: Option<Box<JobResult>>,
    /// The audit trail: the last 100 actions the agent recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub actions: Vec<ActionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed like `result` (56 bytes less per job without one).
    pub llm: Option<Box<LlmUsage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Questions the agent waits on (spec-writer's clarifying questions): answer them with
    /// `kubectl agent answer JOB`, which writes `spec.specWriter.answers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub questions: Vec<crate::api::SpecQuestion>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1-based attempt number.
    pub attempt: i32,
    pub pod: String,
    /// The UID of the Pod the operator made for the attempt, pinned when it is recorded: a Pod
    /// of that name with another UID (the attempt's Pod deleted and another made in its
    /// place) is not the attempt's, and its end and result are not taken.
    #[serde(default, rename = "podUID", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub pod_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The small part of a result; large artifacts live in objects owned by the job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    pub summary: String,
    /// Agent-specific small data (PR URL, file list …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRef>,
}

/// A large artifact stored in ConfigMaps owned by the job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRef {
    pub name: String,
    /// ConfigMaps holding the chunks, in order.
    pub config_maps: Vec<String>,
    /// Size before compression, in bytes.
    pub size: i64,
    /// `sha256:<hex>` of the uncompressed bytes.
    pub digest: String,
    /// `gzip` (chunks are base64 binaryData).
    pub encoding: String,
}

/// One entry of the audit trail.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    /// file_create, file_modify, git_commit, git_push, pr_open, api_call, deploy_patch, rollback …
    #[serde(rename = "type")]
    #[schemars(length(max = 32))]
    pub type_: String,
    #[schemars(length(max = 1024))]
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub digest: Option<String>,
    #[serde(default)]
    pub requires_approval: bool,
    /// The AgentApproval that allowed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub approval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_at: Option<Time>,
}

/// LLM use of the job, accounted by the gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmUsage {
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Input tokens read from the provider's prompt cache (part of `inputTokens`).
    pub cached_tokens: i64,
    /// Input tokens written to the provider's prompt cache (part of `inputTokens`; billed at
    /// 1.25× the input price).
    #[serde(default)]
    pub cache_write_tokens: i64,
    #[serde(rename = "costUSD")]
    pub cost_usd: f64,
    /// LLM steps skipped (no provider configured, or budget spent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cached job pays for the agent blocks it does not use: they are boxed, so an
    /// AgentJob stays small in the operator's cache (RSS with 12,000 cached jobs, issue 15).
    #[test]
    fn a_cached_job_does_not_carry_every_agent_block_inline() {
        let spec = std::mem::size_of::<AgentJobSpec>();
        let job = std::mem::size_of::<AgentJob>();
        eprintln!(
            "AgentJobSpec {spec} B, AgentJob {job} B, status {} B, meta {} B, repository {} B, requestedBy {} B, approval {} B",
            std::mem::size_of::<AgentJobStatus>(),
            std::mem::size_of::<kube::api::ObjectMeta>(),
            std::mem::size_of::<Option<Repository>>(),
            std::mem::size_of::<Option<RequestedBy>>(),
            std::mem::size_of::<Option<ApprovalPolicy>>(),
        );
        assert!(spec <= 512, "AgentJobSpec is {spec} bytes");
        assert!(job <= 1280, "AgentJob is {job} bytes");
    }
}
